#!/usr/bin/env bash
# Starts a local three-node PgRaft cluster on this machine (ports and data under .pgraft-demo/),
# waits until it is healthy, prints how to connect and how to cause a failover, and stops it all on Ctrl-C.
# Usage: scripts/demo.sh [--fresh]   (--fresh moves an earlier demo's data aside first)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
demo="$root/.pgraft-demo"
nodes=(1 2 3)

log() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 \
  || die "PostgreSQL is not installed; run: sudo apt-get install postgresql-15 (or scripts/test.sh, which installs it)"
command -v dotnet >/dev/null || die "the .NET 10 SDK is not installed (dotnet not on PATH)"
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' OS user (PostgreSQL refuses to run as root); install postgresql-15 or create it"
fi

if [ "${1:-}" = "--fresh" ] && [ -d "$demo" ]; then
  aside="$demo.$(date +%Y%m%dT%H%M%S)"
  log "moving the earlier demo aside to $aside"
  mv "$demo" "$aside"
fi

mkdir -p "$demo"
chmod 755 "$demo"
log "building pgraft (Release)"
scripts/publish-pgraft.sh "$demo/bin"

secret_file() {
  local path="$1"
  if [ ! -s "$path" ]; then
    (umask 077; openssl rand -hex 24 > "$path")
  fi
}
secret_file "$demo/cluster.secret"
secret_file "$demo/superuser.password"
secret_file "$demo/replication.password"

peers=""
for n in "${nodes[@]}"; do
  peers+="${peers:+,}{ \"Id\": \"node$n\", \"Raft\": \"127.0.0.1:1743$n\" }"
done

for n in "${nodes[@]}"; do
  dir="$demo/node$n"
  mkdir -p "$dir"
  chmod 755 "$dir"
  cat > "$dir/pgraft.json" <<JSON
{
  "NodeId": "node$n",
  "DataDir": "$dir/data",
  "ClusterSecretFile": "$demo/cluster.secret",
  "Raft": { "Bind": "127.0.0.1:1743$n" },
  "Api": { "Bind": "127.0.0.1:1800$n" },
  "Postgres": {
    "Bind": "127.0.0.1:1545$n",
    "SuperuserPasswordFile": "$demo/superuser.password",
    "ReplicationPasswordFile": "$demo/replication.password"
  },
  "Proxy": { "ReadWriteBind": "127.0.0.1:1543$n", "ReadOnlyBind": "127.0.0.1:1544$n" },
  "Peers": [ $peers ],
  "Logging": { "Level": "Information" }
}
JSON
done

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo
  log "stopping the demo cluster"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  log "stopped; data stays in $demo (run with --fresh to start over)"
}
trap stop_all INT TERM EXIT

for n in "${nodes[@]}"; do
  dir="$demo/node$n"
  "$demo/bin/pgraft" run --config "$dir/pgraft.json" >>"$dir/pgraft.log" 2>&1 &
  pids+=($!)
  echo $! > "$dir/pgraft.pid"
done
log "started node1..node3 (logs: $demo/node*/pgraft.log); waiting for a primary and two standbys"

export PGPASSFILE="$demo/.pgpass"
(umask 077; : > "$PGPASSFILE"; for n in "${nodes[@]}"; do echo "127.0.0.1:1543$n:*:postgres:$(cat "$demo/superuser.password")" >> "$PGPASSFILE"; echo "127.0.0.1:1544$n:*:postgres:$(cat "$demo/superuser.password")" >> "$PGPASSFILE"; done)
status_of() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:1800$1/$2" 2>/dev/null || echo 000; }
deadline=$((SECONDS + 180))
while :; do
  primaries=0; replicas=0; primary=""
  for n in "${nodes[@]}"; do
    [ "$(status_of "$n" primary)" = 200 ] && primaries=$((primaries + 1)) && primary=$n
    [ "$(status_of "$n" replica)" = 200 ] && replicas=$((replicas + 1))
  done
  [ "$primaries" -eq 1 ] && [ "$replicas" -eq 2 ] && break
  for i in "${!pids[@]}"; do
    kill -0 "${pids[$i]}" 2>/dev/null || { tail -n 30 "$demo/node$((i + 1))/pgraft.log" >&2; die "node$((i + 1)) exited; its log is above"; }
  done
  [ $SECONDS -lt $deadline ] || die "the cluster did not become healthy within 180 s; see $demo/node*/pgraft.log"
  sleep 1
done

cat <<TXT

PgRaft demo cluster is up: node$primary is primary, the other two stream from it.

  Connect through any node's proxy (read-write 1543N, read-only 1544N):
    PGPASSFILE=$PGPASSFILE psql -h 127.0.0.1 -p 15431 -U postgres
    PGPASSFILE=$PGPASSFILE psql -h 127.0.0.1 -p 15442 -U postgres -c 'select pg_is_in_recovery()'

  Health endpoints (Patroni-style): curl -i http://127.0.0.1:1800N/primary  (or /replica, /health, /cluster, /metrics)
  Dashboard: http://127.0.0.1:18001/ in a browser

  Operate it (any node's config works):
    $demo/bin/pgraft list --config $demo/node1/pgraft.json
    $demo/bin/pgraft switchover --config $demo/node1/pgraft.json
    $demo/bin/pgraft edit-config --config $demo/node1/pgraft.json --pg work_mem=16MB --force

  Cause a failover: kill -9 the primary's pgraft (its fencing guard then stops PostgreSQL at once):
    kill -9 \$(cat $demo/node$primary/pgraft.pid)
  then watch the others promote a standby: tail -f $demo/node*/pgraft.log

Press Ctrl-C to stop the cluster.
TXT
wait
