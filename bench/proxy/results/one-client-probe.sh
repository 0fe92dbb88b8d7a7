#!/usr/bin/env bash
# ad-hoc: 1-client -S against haproxy and pgraft variants, counting context switches and migrations of the forwarder
set -euo pipefail
PGBIN=/usr/lib/postgresql/15/bin
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
WORK=$(mktemp -d /tmp/pgraft-proxy-probe.XXXXXX); chown postgres "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/data" -A trust -U postgres --no-sync >/dev/null
printf "port = 26600\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '$WORK'\nsynchronous_commit = off\n" >>"$WORK/data/postgresql.conf"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/pg.log" -w start >/dev/null
"$PGBIN/pgbench" -i -s 10 -q -h 127.0.0.1 -p 26600 -U postgres postgres >/dev/null 2>&1
printf "global\n  nbthread 2\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\nlisten pg\n  bind 127.0.0.1:26601\n  server pg 127.0.0.1:26600\n" >"$WORK/h.cfg"
haproxy -f "$WORK/h.cfg" -db >/dev/null 2>&1 & PIDS+=($!); declare -A PID=([haproxy]=$! ) PORT=([haproxy]=26601 [direct]=26600)
DLL=$ROOT/bench/proxy/ProxyHost/bin/Release/net10.0/PgRaft.ProxyHost.dll
i=0
for v in "epoll:" "nopin:--pin-threads false" "pinall:--pin-min-connections 1" "epoll1:--epoll-threads 1"; do
  name=${v%%:*}; port=$((26610 + i)); i=$((i+1))
  dotnet "$DLL" --listen 127.0.0.1:$port --target 127.0.0.1:26600 ${v#*:} </dev/null >/dev/null 2>&1 & PIDS+=($!); PID[$name]=$!; PORT[$name]=$port
done
sleep 2
for t in direct haproxy epoll nopin pinall epoll1; do "$PGBIN/pgbench" -n -S -T 2 -c 1 -h 127.0.0.1 -p ${PORT[$t]} -U postgres postgres >/dev/null 2>&1; done
cs() { [ -z "${1:-}" ] && { echo "0 0"; return; }; cat /proc/$1/task/*/status | awk '/^voluntary_ctxt/ {v+=$2} /^nonvoluntary_ctxt/ {n+=$2} END {print v, n}'; }
for round in 1 2 3; do
  for t in $(printf '%s\n' direct haproxy epoll nopin pinall epoll1 | shuf); do
    read -r v0 n0 < <(cs "${PID[$t]:-}")
    c0=$( [ -n "${PID[$t]:-}" ] && awk '{print $14+$15}' /proc/${PID[$t]}/stat || echo 0)
    out=$("$PGBIN/pgbench" -n -S -T 5 -c 1 -h 127.0.0.1 -p ${PORT[$t]} -U postgres postgres 2>&1)
    read -r v1 n1 < <(cs "${PID[$t]:-}")
    c1=$( [ -n "${PID[$t]:-}" ] && awk '{print $14+$15}' /proc/${PID[$t]}/stat || echo 0)
    tx=$(echo "$out" | awk '/actually processed/ {split($NF,a,"/"); print a[1]}')
    awk -v r=$round -v t=$t -v tx=$tx -v v=$((v1-v0)) -v n=$((n1-n0)) -v c=$((c1-c0)) -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {printf "%s %-8s tps=%6.0f vol/tx=%.2f invol/tx=%.3f cpu_us/tx=%.1f load=%s\n", r, t, tx/5, v/tx, n/tx, c*1e4/tx, l}'
  done
done
