#!/usr/bin/env bash
# The packaging tests, on real dockerd, real systemd and real PostgreSQL (scripts/test.sh runs them after the .NET
# tests; CI runs scripts/test.sh):
#   (a) docker/: build the image from this tree, run the three-node compose cluster, write through a proxy, docker kill
#       the primary, write again through a survivor within a bound, see the killed node rejoin as a replica;
#   (b) deploy/: install.sh under systemd as PID 1 in three containers; is-active, /health, the watchdog restarting a
#       SIGSTOPped pgraft, systemctl stop taking PostgreSQL down with it (KillMode=control-group).
# Installs docker.io, docker-compose and debootstrap when missing; starts dockerd when it is not running (and stops
# the one it started). A dockerd that cannot start fails the stage, with its log.
# Usage: tests/Packaging/run.sh [compose|systemd]   (default: both)
# Environment: DOCKER_PGRAFT_IMAGE_CACHE (base image tarballs, default /var/cache/pgraft-images);
#              PGRAFT_PACKAGING_BINARY: test this published pgraft file instead of publishing one (quicker while
#              working on the scripts; CI always publishes).
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=tests/Packaging/lib.sh
source "$repo/tests/Packaging/lib.sh"
# shellcheck source=tests/Packaging/compose-test.sh
source "$repo/tests/Packaging/compose-test.sh"
# shellcheck source=tests/Packaging/systemd-test.sh
source "$repo/tests/Packaging/systemd-test.sh"

parts="${1:-compose systemd}"
started=$SECONDS
image="pgraft:packaging-test"
work=$(mktemp -d /tmp/pgraft-packaging.XXXXXX)
dockerd_pid=""

finish() {
  local status=$?
  if [ -n "$dockerd_pid" ]; then
    log "stopping the dockerd this stage started (pid $dockerd_pid)"
    kill -TERM "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
  fi
  rm -rf "$work"
  echo "packaging stage took $((SECONDS - started)) s"
  echo "packaging: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && [ "$status" -eq 0 ] && [ "$passed" -gt 0 ] && exit 0
  exit 1
}
trap finish EXIT

die() { fail "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "the packaging tests need root (dockerd, debootstrap, systemd containers); run them as root or with sudo"

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v psql >/dev/null || need+=(postgresql-client-15)
command -v curl >/dev/null || need+=(curl)
command -v ss >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >"$work/apt.log" 2>&1 \
    || { tail -n 20 "$work/apt.log"; die "could not install ${need[*]} with apt-get (output above)"; }
fi
if docker compose version >/dev/null 2>&1; then compose="docker compose"; else compose="docker-compose"; fi

# dockerd: use a running one, else start one in the background for this stage.
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: $work/dockerd.log)"
  dockerd >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  docker_up() { docker info >/dev/null 2>&1; }
  if ! wait_until 60 docker_up; then
    kill -0 "$dockerd_pid" 2>/dev/null || dockerd_pid=""
    tail -n 30 "$work/dockerd.log"
    die "dockerd did not start within 60 s (its log is above): the packaging tests need a working dockerd"
  fi
fi
pass "dockerd answers ($(docker version -f '{{.Server.Version}}' 2>/dev/null), $compose)"

log "base images (docker/base-image.sh; cached in ${DOCKER_PGRAFT_IMAGE_CACHE:-/var/cache/pgraft-images})"
images=$("$repo/docker/base-image.sh" 2>"$work/base-image.log") || { cat "$work/base-image.log"; die "docker/base-image.sh failed (output above)"; }
sed 's/^/    /' "$work/base-image.log"
systemd_image=$(sed -n 2p <<< "$images")
pass "base images built or reused: $(tr '\n' ' ' <<< "$images")"

if [ -n "${PGRAFT_PACKAGING_BINARY:-}" ]; then
  binary="$PGRAFT_PACKAGING_BINARY"
  [ -x "$binary" ] || die "PGRAFT_PACKAGING_BINARY '$binary' is not an executable file"
  log "testing the given pgraft file $binary (not publishing one)"
else
  log "publishing pgraft as one self-contained file"
  t=$SECONDS
  "$repo/deploy/publish-binary.sh" "$work/bin" || die "deploy/publish-binary.sh failed"
  binary="$work/bin/pgraft"
  pass "published the self-contained single-file pgraft ($(( $(stat -c %s "$binary") / 1000000 )) MB) in $((SECONDS - t)) s"
fi

cat > "$work/check.json" <<JSON
{ "NodeId": "node1", "DataDir": "/var/lib/pgraft", "ClusterSecretFile": "$work/check.secret",
  "Raft": { "Bind": "127.0.0.1:7432" }, "Api": { "Bind": "127.0.0.1:8008" },
  "Postgres": { "Bind": "127.0.0.1:5433", "SuperuserPasswordFile": "$work/check.secret", "ReplicationPasswordFile": "$work/check.secret" },
  "Proxy": { "ReadWriteBind": "127.0.0.1:5432", "ReadOnlyBind": "127.0.0.1:5434" },
  "Peers": [ { "Id": "node1", "Raft": "127.0.0.1:7432" } ] }
JSON
(umask 077; echo "0123456789abcdef0123456789abcdef" > "$work/check.secret")
# An empty environment: no dotnet on PATH, no DOTNET_ROOT, and none of this run's PGRAFT_* knobs (pgraft would read
# them as settings).
check "the published binary runs check-config with an empty environment (no .NET needed)" \
  grep -q "configuration is valid" <<< "$(env -i "$binary" check-config --config "$work/check.json" 2>&1)"

log "building $image"
"$repo/docker/build.sh" --binary "$binary" --image "$image" --no-secrets >"$work/build.log" 2>&1 \
  || { cat "$work/build.log"; die "docker/build.sh failed (output above)"; }
pass "docker/build.sh built $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%d MB", $1 / 1000000}')) with no network"

for part in $parts; do
  t=$SECONDS
  case "$part" in
    compose) compose_part ;;
    systemd) systemd_part ;;
    *) die "unknown part '$part': use compose or systemd" ;;
  esac
  log "$part part took $((SECONDS - t)) s"
done
docker rmi "$image" >/dev/null 2>&1 || true
