#!/usr/bin/env bash
# Benchmark: pgbench direct vs through the PgRaft proxy vs through HAProxy (TCP mode), same run.
# Usage: bench/proxy/run.sh            (DURATION=15 CLIENTS="1 8 32" WORKLOADS="select select-connect tpcb")
#        VARIANTS="pooled splice" bench/proxy/run.sh   to measure several PgRaft forwarding modes side by side.
# Ports: 26500-26999 on 127.0.0.1. Needs root or the postgres user; installs haproxy with apt-get if missing.
set -euo pipefail

DURATION=${DURATION:-15}
CLIENTS=${CLIENTS:-"1 8 32"}
WORKLOADS=${WORKLOADS:-"select select-connect tpcb"}
VARIANTS=${VARIANTS:-"epoll"}
SCALE=${SCALE:-10}
PGBIN=/usr/lib/postgresql/15/bin
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PG_PORT=26500
HAPROXY_PORT=26501
FIRST_PROXY_PORT=26510

command -v haproxy >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; }

WORK=$(mktemp -d /tmp/pgraft-proxy-bench.XXXXXX)
PIDS=()
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  as_postgres "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] && chown postgres "$WORK"

echo "# $(date -u '+%F %T') UTC, $(nproc) cores; load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
as_postgres "$PGBIN/initdb" -D "$WORK/data" -A trust -U postgres --no-sync >/dev/null
cat >>"$WORK/data/postgresql.conf" <<CONF
port = $PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK'
max_connections = 200
shared_buffers = 128MB
synchronous_commit = off
CONF
as_postgres "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/pg.log" -w start >/dev/null
"$PGBIN/pgbench" -i -s "$SCALE" -q -h 127.0.0.1 -p $PG_PORT -U postgres postgres >/dev/null 2>&1

cat >"$WORK/haproxy.cfg" <<CFG
global
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
listen pg
  bind 127.0.0.1:$HAPROXY_PORT
  server pg 127.0.0.1:$PG_PORT
CFG
haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
PIDS+=($!)
declare -A PID_OF=([direct]="" [haproxy]=$!)

dotnet build -c Release "$ROOT/bench/proxy/ProxyHost" -v q -nologo >/dev/null
HOST_DLL="$ROOT/bench/proxy/ProxyHost/bin/Release/net10.0/PgRaft.ProxyHost.dll"
TARGETS=("direct:$PG_PORT" "haproxy:$HAPROXY_PORT")
port=$FIRST_PROXY_PORT
for variant in $VARIANTS; do
  # A variant is a forwarding mode (pooled, splice, epoll = the default thread count, epollN = N epoll threads), optionally with
  # "+inline" (the runtime's socket completions run on its epoll thread) and/or "+nopgo" (no tiered PGO).
  mode=${variant%%+*}
  threads=()
  if [[ $mode =~ ^epoll([0-9]+)$ ]]; then threads=(--epoll-threads "${BASH_REMATCH[1]}"); mode=epoll; fi
  envs=(DOTNET_gcServer=0)
  [[ $variant == *+inline* ]] && envs+=(DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1)
  [[ $variant == *+nopgo* ]] && envs+=(DOTNET_TieredPGO=0)
  env "${envs[@]}" dotnet "$HOST_DLL" --listen 127.0.0.1:$port --target 127.0.0.1:$PG_PORT --mode "$mode" "${threads[@]}" </dev/null >"$WORK/proxy-$variant.log" 2>&1 &
  PIDS+=($!)
  PID_OF[pgraft-$variant]=$!
  TARGETS+=("pgraft-$variant:$port")
  port=$((port + 1))
done
sleep 2

cpu_ticks() { # pid -> utime+stime of the process and its threads, in clock ticks
  [ -n "$1" ] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0
}

run_pgbench() { # workload clients port -> "tps latency_ms transactions"
  local args=(-n -T "$DURATION" -c "$2" -j $(( $2 < 2 ? $2 : 2 )) -h 127.0.0.1 -p "$3" -U postgres)
  case $1 in
    select) args+=(-S) ;;
    select-connect) args+=(-S -C) ;;
    tpcb) ;;
  esac
  "$PGBIN/pgbench" "${args[@]}" postgres 2>&1 | awk '/^latency average/ {lat=$4} /^tps/ {tps=$3} /actually processed/ {split($NF, n, "/"); tx=n[1]} END {printf "%.0f %.3f %d\n", tps, lat, tx}'
}
TICKS=$(getconf CLK_TCK)

# Warm-up: JIT, connection paths, caches.
for target in "${TARGETS[@]}"; do DURATION=3 run_pgbench select 8 "${target#*:}" >/dev/null; done

printf '\n| workload | clients | load | %s |\n' "$(for t in "${TARGETS[@]}"; do printf '%s tps (ms) | ' "${t%%:*}"; done | sed 's/ | $//')"
printf '| --- | --- | --- |%s\n' "$(for t in "${TARGETS[@]}"; do printf ' --- |'; done)"
SUMMARY=()
for workload in $WORKLOADS; do
  for clients in $CLIENTS; do
    declare -A TPS=() LAT=() CPU=()
    load=$(cut -d' ' -f1 /proc/loadavg)
    row="| $workload | $clients | $load |"
    for target in "${TARGETS[@]}"; do
      name=${target%%:*}
      before=$(cpu_ticks "${PID_OF[$name]}")
      read -r tps lat tx < <(run_pgbench "$workload" "$clients" "${target#*:}")
      after=$(cpu_ticks "${PID_OF[$name]}")
      TPS[$name]=$tps
      LAT[$name]=$lat
      # CPU the forwarding process spent per transaction: robust against other load on the machine.
      CPU[$name]=$(awk -v t=$((after - before)) -v k="$TICKS" -v n="$tx" 'BEGIN { printf "%.1f", (n > 0 ? t * 1e6 / k / n : 0) }')
      row+=" $tps ($lat) |"
    done
    echo "$row"
    for target in "${TARGETS[@]:2}"; do
      name=${target%%:*}
      SUMMARY+=("$(awk -v w="$workload" -v c="$clients" -v n="$name" -v d="${TPS[direct]}" -v p="${TPS[$name]}" -v h="${TPS[haproxy]}" \
        -v dl="${LAT[direct]}" -v pl="${LAT[$name]}" -v hl="${LAT[haproxy]}" -v pc="${CPU[$name]}" -v hc="${CPU[haproxy]}" \
        'BEGIN { printf "| %s | %s | %s | %.2f | %.2f | %.2f | %+.3f | %+.3f | %s | %s |", w, c, n, p/d, h/d, p/h, pl-dl, hl-dl, pc, hc }')")
    done
  done
done

echo
echo "| workload | clients | variant | pgraft/direct | haproxy/direct | pgraft/haproxy | pgraft added latency (ms) | haproxy added latency (ms) | pgraft CPU µs/tx | haproxy CPU µs/tx |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${SUMMARY[@]}"
echo
echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
