#!/usr/bin/env bash
# Benchmark: pgbench direct vs through the PgRaft proxy vs through HAProxy (TCP mode), same run.
# Usage: bench/proxy/run.sh            (DURATION=15 CLIENTS="1 8 32" WORKLOADS="select select-connect tpcb")
#        VARIANTS="pooled splice" bench/proxy/run.sh   to measure several PgRaft forwarding modes side by side.
#        ROUNDS=5 DURATION=5 WORKLOADS=select CLIENTS=8 VARIANTS="epoll epoll+spin20" bench/proxy/run.sh
#          interleaved: each cell runs every target ROUNDS times in a shuffled order per round; prints medians.
#        HAPROXIES="default splice" adds HAProxy configurations (default: the first is the reference for the ratios).
#        PROBES=sockmap adds the in-kernel forwarding probe (sockmap-probe/: needs root and gcc).
#        SSLMODE=disable runs pgbench with PGSSLMODE=disable for every target (libpq's default, prefer, opens each
#          connection with an SSLRequest, answered N: this server has no TLS).
# Ports: 26500-26999 on 127.0.0.1. Needs root or the postgres user; installs haproxy with apt-get if missing.
set -euo pipefail

ROUNDS=${ROUNDS:-0}
HAPROXIES=${HAPROXIES:-"default"}
DURATION=${DURATION:-$([ "$ROUNDS" -gt 0 ] && echo 5 || echo 15)}
CLIENTS=${CLIENTS:-"1 8 32"}
WORKLOADS=${WORKLOADS:-"select select-connect tpcb"}
VARIANTS=${VARIANTS:-"epoll"}
PROBES=${PROBES:-""}
SSLMODE=${SSLMODE:-""}
[ -n "$SSLMODE" ] && export PGSSLMODE=$SSLMODE
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

echo "# $(date -u '+%F %T') UTC, $(nproc) cores; load at start: $(cut -d' ' -f1-3 /proc/loadavg); pgbench sslmode: ${SSLMODE:-libpq default (prefer)}"
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

# HAProxy as a user would run it on this box: one process, one thread per CPU (what 2.6 picks by itself;
# written out here), TCP mode. Extra configurations for comparison: "splice" (option splice-auto: kernel
# splicing where HAProxy judges it worth it), "busy" (busy-polling: the threads spin instead of sleeping),
# "pin" (cpu-map: thread i bound to CPU i), "unix" (to PostgreSQL's Unix socket instead of loopback TCP).
declare -A PID_OF=([direct]="")
TARGETS=("direct:$PG_PORT")
haproxy_port=$HAPROXY_PORT
for config in $HAPROXIES; do
  name=$([ "$config" = default ] && echo haproxy || echo "haproxy-$config")
  extra_global="" extra_listen="" server="127.0.0.1:$PG_PORT"
  case $config in
    default) ;;
    splice) extra_listen="  option splice-auto" ;;
    busy) extra_global="  busy-polling" ;;
    pin) extra_global="  cpu-map auto:1/1-$(nproc) 0-$(($(nproc) - 1))" ;;
    unix) server="$WORK/.s.PGSQL.$PG_PORT" ;;
    *) echo "unknown HAProxy configuration $config (default, splice, busy, pin, unix)" >&2; exit 2 ;;
  esac
  cat >"$WORK/$name.cfg" <<CFG
global
  maxconn 4000
  nbthread $(nproc)
$extra_global
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
listen pg
  bind 127.0.0.1:$haproxy_port
  server pg $server
$extra_listen
CFG
  haproxy -f "$WORK/$name.cfg" -db >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  PID_OF[$name]=$!
  TARGETS+=("$name:$haproxy_port")
  haproxy_port=$((haproxy_port + 1))
done

dotnet build -c Release "$ROOT/bench/proxy/ProxyHost" -v q -nologo >/dev/null
HOST_DLL="$ROOT/bench/proxy/ProxyHost/bin/Release/net10.0/PgRaft.ProxyHost.dll"
port=$FIRST_PROXY_PORT
for variant in $VARIANTS; do
  # A variant is a forwarding mode (pooled, splice, epoll = the default thread count, epollN = N epoll threads) and
  # options joined by "+": inline (the runtime's socket completions run on its epoll thread), nopgo (no tiered PGO),
  # spinN (busy-poll N µs before sleeping), pin / nopin (CPU affinity per loop thread while it serves 2+ connections), pinall (pinned from 1 connection), niceN (loop thread nice, e.g. nice-5),
  # unix (reach PostgreSQL through its Unix socket: the node's LocalPostgresSocketPath).
  IFS=+ read -r mode opts <<<"$variant"
  args=(--mode "${mode%%[0-9]*}")
  [[ $mode =~ ^epoll([0-9]+)$ ]] && args+=(--epoll-threads "${BASH_REMATCH[1]}")
  envs=(DOTNET_gcServer=0)
  for opt in ${opts//+/ }; do
    case $opt in
      inline) envs+=(DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1) ;;
      nopgo) envs+=(DOTNET_TieredPGO=0) ;;
      spin*) args+=(--busy-poll-us "${opt#spin}") ;;
      pin) args+=(--pin-threads true) ;;
      pinall) args+=(--pin-threads true --pin-min-connections 1) ;;
      nopin) args+=(--pin-threads false) ;;
      nice*) args+=(--thread-nice "${opt#nice}") ;;
      unix) args+=(--local-socket "$WORK/.s.PGSQL.$PG_PORT") ;;
      *) echo "unknown variant option $opt in $variant" >&2; exit 2 ;;
    esac
  done
  env "${envs[@]}" dotnet "$HOST_DLL" --listen 127.0.0.1:$port --target 127.0.0.1:$PG_PORT "${args[@]}" </dev/null >"$WORK/proxy-$variant.log" 2>&1 &
  PIDS+=($!)
  PID_OF[pgraft-$variant]=$!
  TARGETS+=("pgraft-$variant:$port")
  port=$((port + 1))
done

# PROBES="sockmap": the in-kernel forwarding probe (sockmap-probe/, a BPF sk_skb redirect; root only), the floor of
# what any TCP-terminating forwarder costs on this kernel. A measurement, not a PgRaft forwarding mode.
for probe in $PROBES; do
  case $probe in
    sockmap)
      gcc -O2 -Wall -Wextra -o "$WORK/sockmap-probe" "$ROOT/bench/proxy/sockmap-probe/sockmap-probe.c"
      "$WORK/sockmap-probe" $port $PG_PORT </dev/null >"$WORK/sockmap-probe.log" 2>&1 &
      PIDS+=($!)
      PID_OF[sockmap-probe]=$!
      TARGETS+=("sockmap-probe:$port")
      port=$((port + 1))
      ;;
    *) echo "unknown probe $probe (sockmap)" >&2; exit 2 ;;
  esac
done
sleep 2
for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "a forwarder exited at start:" >&2; cat "$WORK"/*.log >&2; exit 1; }; done

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

machine_ticks() { # -> "busy idle" clock ticks of the whole machine since boot (all CPUs)
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat
}

measure() { # workload clients target -> "tps latency_ms cpu_us_per_tx machine_busy_us_per_tx machine_idle_percent"
  local name=${3%%:*} before after tps lat tx busy0 idle0 busy1 idle1
  before=$(cpu_ticks "${PID_OF[$name]}")
  read -r busy0 idle0 < <(machine_ticks)
  read -r tps lat tx < <(run_pgbench "$1" "$2" "${3#*:}")
  read -r busy1 idle1 < <(machine_ticks)
  after=$(cpu_ticks "${PID_OF[$name]}")
  awk -v t=$((after - before)) -v k="$TICKS" -v n="$tx" -v tps="$tps" -v lat="$lat" -v b=$((busy1 - busy0)) -v i=$((idle1 - idle0)) \
    'BEGIN { printf "%s %s %.1f %.1f %.1f\n", tps, lat, (n > 0 ? t * 1e6 / k / n : 0), (n > 0 ? b * 1e6 / k / n : 0), (b + i > 0 ? 100 * i / (b + i) : 0) }'
}

if [ "$ROUNDS" -gt 0 ]; then
  # Interleaved: every round runs each target once, in a fresh random order, so slow drifts in the
  # machine's load hit every target alike; ratios are taken within a round, then the median over rounds.
  REFERENCE=${TARGETS[1]%%:*}
  echo "# interleaved: $ROUNDS rounds × ${DURATION} s per target; ratios within each round against direct and $REFERENCE"
  RESULTS="$WORK/rounds.txt"
  : >"$RESULTS"
  for workload in $WORKLOADS; do
    for clients in $CLIENTS; do
      loads=()
      for round in $(seq "$ROUNDS"); do
        loads+=("$(cut -d' ' -f1 /proc/loadavg)")
        for target in $(printf '%s\n' "${TARGETS[@]}" | shuf); do
          echo "$workload $clients $round ${target%%:*} $(measure "$workload" "$clients" "$target")" >>"$RESULTS"
        done
      done
      echo "# $workload × $clients: load per round ${loads[*]}"
    done
  done
  echo
  # CPU µs/tx: the forwarding process only; machine µs/tx: every CPU of the machine (PostgreSQL, pgbench, the
  # forwarder, and anything else running), per transaction; idle: share of the machine's CPU time left idle.
  echo "| workload | clients | target | median tps | tps range | median ms | × direct | × $REFERENCE | CPU µs/tx | machine µs/tx | idle % |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  awk -v ref="$REFERENCE" -v order="${TARGETS[*]}" '
    function median(list,   n, a, i, j, t) {
      n = split(list, a, " ")
      for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { key = $1 " " $2; cell[key] = 1; if (!(key in seen)) { seen[key] = 1; cells[++ncells] = key }
      tps[key, $3, $4] = $5; lat[key, $3, $4] = $6; cpu[key, $3, $4] = $7; mach[key, $3, $4] = $8; idle[key, $3, $4] = $9; rounds[key, $3] = 1; names[$4] = 1 }
    END {
      nt = split(order, t, " ")
      for (c = 1; c <= ncells; c++) {
        key = cells[c]
        for (i = 1; i <= nt; i++) {
          name = t[i]; sub(/:.*/, "", name)
          lt = ""; ll = ""; lc = ""; ld = ""; lr = ""; lm = ""; li = ""; lo = 1e18; hi = 0
          for (rk in rounds) {
            split(rk, p, SUBSEP); if (p[1] != key) continue; r = p[2]
            v = tps[key, r, name]; lt = lt " " v; ll = ll " " lat[key, r, name]; lc = lc " " cpu[key, r, name]; lm = lm " " mach[key, r, name]; li = li " " idle[key, r, name]
            if (v < lo) lo = v; if (v > hi) hi = v
            if (tps[key, r, "direct"] > 0) ld = ld " " v / tps[key, r, "direct"]
            if (tps[key, r, ref] > 0) lr = lr " " v / tps[key, r, ref]
          }
          printf "| %s | %s | %s | %.0f | %d–%d | %.3f | %.2f | %.2f | %s | %.1f | %.1f |\n", key == "" ? "" : substr(key, 1, index(key, " ") - 1), substr(key, index(key, " ") + 1), name, median(lt), lo, hi, median(ll), median(ld), median(lr), name == "direct" ? "–" : sprintf("%.1f", median(lc)), median(lm), median(li)
        }
      }
    }' "$RESULTS"
  echo
  echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi

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
