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
printf "port = 26700\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '$WORK'\nsynchronous_commit = off\n" >>"$WORK/data/postgresql.conf"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/pg.log" -w start >/dev/null
"$PGBIN/pgbench" -i -s 10 -q -h 127.0.0.1 -p 26700 -U postgres postgres >/dev/null 2>&1
printf "global\n  nbthread 2\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\nlisten pg\n  bind 127.0.0.1:26701\n  server pg 127.0.0.1:26700\n" >"$WORK/h.cfg"
haproxy -f "$WORK/h.cfg" -db >/dev/null 2>&1 & PIDS+=($!); declare -A PID=([haproxy]=$! ) PORT=([haproxy]=26701 [direct]=26700)
DLL=$ROOT/bench/proxy/ProxyHost/bin/Release/net10.0/PgRaft.ProxyHost.dll
i=0
for v in "epoll:"; do
  name=${v%%:*}; port=$((26710 + i)); i=$((i+1))
  dotnet "$DLL" --listen 127.0.0.1:$port --target 127.0.0.1:26700 ${v#*:} </dev/null >/dev/null 2>&1 & PIDS+=($!); PID[$name]=$!; PORT[$name]=$port
done
sleep 2
for t in direct haproxy epoll; do "$PGBIN/pgbench" -n -S -T 2 -c 8 -j 2 -h 127.0.0.1 -p ${PORT[$t]} -U postgres postgres >/dev/null 2>&1; done
ut() { [ -z "${1:-}" ] && { echo "0 0"; return; }; awk '{print $14, $15}' /proc/$1/stat; }
mach() { awk '/^cpu / {print $2+$3, $4+$7+$8}' /proc/stat; }
for round in 1 2 3 4; do
  for t in $(printf '%s\n' direct haproxy epoll | shuf); do
    read -r u0 s0 < <(ut "${PID[$t]:-}"); read -r mu0 ms0 < <(mach)
    out=$("$PGBIN/pgbench" -n -S -T 5 -c 8 -j 2 -h 127.0.0.1 -p ${PORT[$t]} -U postgres postgres 2>&1)
    read -r u1 s1 < <(ut "${PID[$t]:-}"); read -r mu1 ms1 < <(mach)
    tx=$(echo "$out" | awk '/actually processed/ {split($NF,a,"/"); print a[1]}')
    awk -v r=$round -v t=$t -v tx=$tx -v u=$((u1-u0)) -v s=$((s1-s0)) -v mu=$((mu1-mu0)) -v ms=$((ms1-ms0)) -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {printf "%s %-8s tps=%6.0f fwd_user_us/tx=%.1f fwd_sys_us/tx=%.1f machine_user_us/tx=%.1f machine_sys_us/tx=%.1f load=%s\n", r, t, tx/5, u*1e4/tx, s*1e4/tx, mu*1e4/tx, ms*1e4/tx, l}'
  done
done
