#!/usr/bin/env bash
# Write outage after kill -9 of the primary's node (pgraft, guard and PostgreSQL), and during a planned switchover,
# as a client sees it: it connects through a surviving node's proxy port and inserts a row every 20 ms.
# Usage: bench/failover/run.sh            (RUNS=5 by default; ports 29011-29053; data under a temp folder;
#        KEEP_LOGS=1 keeps the folder with every node's log; LOG_LEVEL=Debug for the sentinel's every wait;
#        ONLY=crash or ONLY=switchover runs just that kind;
#        BOOTSTRAP_JSON='{ "InitdbArgs": ["--wal-segsize=4"] }' sets the nodes' Bootstrap section)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${RUNS:-5}
work=$(mktemp -d /tmp/pgraft-failover-bench.XXXXXX)
chmod 755 "$work"
nodes=(1 2 3)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  sleep 2
  if [ -n "${KEEP_LOGS:-}" ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "building pgraft (Release)"
scripts/publish-pgraft.sh "$work/bin"
dotnet build bench/failover/Writer/PgRaft.FailoverWriter.csproj -c Release -o "$work/writer" -nologo -clp:ErrorsOnly >/dev/null
(umask 077; openssl rand -hex 24 > "$work/cluster.secret"; openssl rand -hex 16 > "$work/su.password"; openssl rand -hex 16 > "$work/repl.password")
peers=$(for n in "${nodes[@]}"; do printf '{ "Id": "node%s", "Raft": "127.0.0.1:2901%s" },' "$n" "$n"; done)
peers=${peers%,}
bootstrap_json=""
[ -z "${BOOTSTRAP_JSON:-}" ] || bootstrap_json=$'\n'"  \"Bootstrap\": $BOOTSTRAP_JSON,"
for n in "${nodes[@]}"; do
  mkdir -p "$work/node$n"; chmod 755 "$work/node$n"
  cat > "$work/node$n/pgraft.json" <<JSON
{ "NodeId": "node$n", "DataDir": "$work/node$n/data", "ClusterSecretFile": "$work/cluster.secret",
  "Raft": { "Bind": "127.0.0.1:2901$n" }, "Api": { "Bind": "127.0.0.1:2902$n" },
  "Postgres": { "Bind": "127.0.0.1:2903$n", "SuperuserPasswordFile": "$work/su.password", "ReplicationPasswordFile": "$work/repl.password" },
  "Proxy": { "ReadWriteBind": "127.0.0.1:2904$n", "ReadOnlyBind": "127.0.0.1:2905$n" },
  "Logging": { "Level": "${LOG_LEVEL:-Information}" },$bootstrap_json
  "Peers": [ $peers ] }
JSON
done

start_node() { "$work/bin/pgraft" run --config "$work/node$1/pgraft.json" >>"$work/node$1/pgraft.log" 2>&1 & pids[$1]=$!; }
ok() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:2902$1/$2" 2>/dev/null)" = 200 ]; }
sync_committed() { curl -s "http://127.0.0.1:2902$1/cluster" | grep -q '"sync":{"standbys":\["'; }
wait_healthy() {
  local deadline=$((SECONDS + 180)) p r
  while :; do
    p=""; r=0
    for n in "${nodes[@]}"; do ok "$n" primary && p=$n; ok "$n" replica && r=$((r + 1)); done
    if [ -n "$p" ] && [ "$r" -eq 2 ] && sync_committed "$p"; then echo "$p"; return; fi
    [ $SECONDS -lt $deadline ] || { echo "cluster not healthy within 180 s; logs in $work" >&2; trap - EXIT; exit 1; }
    sleep 0.5
  done
}

for n in "${nodes[@]}"; do start_node "$n"; done
export PGPASSWORD; PGPASSWORD=$(cat "$work/su.password")
primary=$(wait_healthy)
# Through the proxy; retried, since on a busy machine the first primary may still be settling (e.g. refenced once).
for attempt in $(seq 1 60); do
  psql -q -h 127.0.0.1 -p 29041 -U postgres -c "create table if not exists bench (id bigserial primary key, at timestamptz default now())" >/dev/null 2>&1 && break
  [ "$attempt" -lt 60 ] || { echo "could not create the bench table through the proxy; logs in $work" >&2; trap - EXIT; exit 1; }
  sleep 1
done

# Inserts every 20 ms over one connection through $1's proxy (reconnecting after any error) until $2 exists;
# logs the wall-clock ms of every acknowledged insert.
writer() { "$work/writer/PgRaft.FailoverWriter" 127.0.0.1 "$1" "$2" 120 > "$3" 2>> "$work/writer.log"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# Waits (up to 10 s) until the writer has had an insert acknowledged within the last 200 ms, so an outage is
# measured from a working client, then prints the moment of the fault.
writer_flowing() {
  local deadline=$((SECONDS + 10)) last
  while [ $SECONDS -lt $deadline ]; do
    last=$(grep -v end "$1" 2>/dev/null | tail -1)
    [ -n "$last" ] && [ $(( $(now_ms) - last )) -lt 200 ] && break
    sleep 0.05
  done
  now_ms
}
# The write outage after the fault at $2 (ms): the longest time without an acknowledged insert, counting the gaps that
# end after the fault (the first starts at the last insert before it) up to the writer's "end <ms>" line.
outage() { awk -v mark="$2" '{ t = ($1 == "end") ? $2 : $1 } have && t > mark { g = t - prev; if (g > max) max = g } { prev = t; have = 1 } END { printf "%.2f", max / 1000 }' "$1"; }

crash=(); switch=()
only=${ONLY:-}
case "$only" in ''|crash|switchover) ;; *) echo "ONLY must be crash or switchover (is '$only')" >&2; exit 2;; esac
for i in $(seq 1 "$runs"); do
  if [ "$only" != switchover ]; then
  primary=$(wait_healthy)
  entry=$(for n in "${nodes[@]}"; do [ "$n" != "$primary" ] && echo "$n" && break; done)
  writer "2904$entry" "$work/stop" "$work/acks" & wpid=$!
  sleep 2
  mark=$(writer_flowing "$work/acks")
  # The whole node at once: pgraft, its fencing guard and PostgreSQL (every process whose command line names the node's folder).
  pkill -KILL -f "$work/node$primary/" || true
  until ok "$entry" primary || { for n in "${nodes[@]}"; do [ "$n" != "$primary" ] && ok "$n" primary && break; done; }; do sleep 0.1; done
  sleep 2; touch "$work/stop"; wait "$wpid"; rm -f "$work/stop"
  crash+=("$(outage "$work/acks" "$mark")")
  echo "crash run $i: node$primary killed, write outage ${crash[-1]} s"
  start_node "$primary"
  fi

  if [ "$only" != crash ]; then
  primary=$(wait_healthy)
  entry=$(for n in "${nodes[@]}"; do [ "$n" != "$primary" ] && echo "$n" && break; done)
  writer "2904$entry" "$work/stop" "$work/acks" & wpid=$!
  sleep 2
  mark=$(writer_flowing "$work/acks")
  "$work/bin/pgraft" switchover --config "$work/node$entry/pgraft.json" --to "node$entry" >/dev/null
  sleep 2; touch "$work/stop"; wait "$wpid"; rm -f "$work/stop"
  switch+=("$(outage "$work/acks" "$mark")")
  echo "switchover run $i: node$primary -> node$entry, write outage ${switch[-1]} s"
  fi
done

summary() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "median %.2f s, max %.2f s over %d runs", m, a[NR], NR }'; }
echo
[ ${#crash[@]} -eq 0 ] || echo "kill -9 of the primary's node: $(summary "${crash[@]}")"
[ ${#switch[@]} -eq 0 ] || echo "planned switchover:            $(summary "${switch[@]}")"
echo "(load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores)"
