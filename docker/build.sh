#!/usr/bin/env bash
# Builds the pgraft container image with no image registry, and the compose cluster's secrets:
#   1. the Debian 12 + PostgreSQL 15 base image (docker/base-image.sh: debootstrap, cached),
#   2. pgraft published as one self-contained file (deploy/publish-binary.sh),
#   3. the image ${DOCKER_PGRAFT_IMAGE:-pgraft:latest} from docker/Dockerfile (no network needed),
#   4. docker/secrets/* (docker/make-secrets.sh; existing secrets are kept).
# Needs root the first time (debootstrap), the .NET 10 SDK and a running dockerd.
# Usage: docker/build.sh [--binary PATH] [--image NAME] [--no-secrets]
#   --binary PATH   an already published pgraft file instead of step 2
#   --image NAME    the image to build (default: $DOCKER_PGRAFT_IMAGE, else pgraft:latest; docker-compose.yml reads DOCKER_PGRAFT_IMAGE)
#   --no-secrets    skip step 4
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

binary=""
image="${DOCKER_PGRAFT_IMAGE:-pgraft:latest}"
secrets=true
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) [ $# -ge 2 ] || die "--binary needs the path of a published pgraft file"; binary="$2"; shift 2 ;;
    --image) [ $# -ge 2 ] || die "--image needs a name such as pgraft:latest"; image="$2"; shift 2 ;;
    --no-secrets) secrets=false; shift ;;
    *) die "unknown argument '$1'; usage: docker/build.sh [--binary PATH] [--image NAME] [--no-secrets]" ;;
  esac
done

docker info >/dev/null 2>&1 || die "dockerd is not reachable (docker info failed); start it (systemctl start docker, or dockerd &) and run this again"
base=$(docker/base-image.sh | sed -n 1p)

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
if [ -n "$binary" ]; then
  [ -x "$binary" ] || die "--binary '$binary' is not an executable file"
  cp "$binary" "$context/pgraft"
else
  log "publishing pgraft (self-contained, single file)"
  deploy/publish-binary.sh "$context"
fi
cp docker/entrypoint.sh "$context/entrypoint.sh"

log "building $image on $base"
# The legacy builder (no buildx here) needs no network and works with every dockerd.
DOCKER_BUILDKIT=0 docker build --build-arg "BASE_IMAGE=$base" -t "$image" -f docker/Dockerfile "$context" >"$context/build.log" 2>&1 \
  || { tail -n 30 "$context/build.log" >&2; die "docker build failed (output above)"; }
log "built $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%d MB", $1 / 1000000}'))"

$secrets || exit 0
docker/make-secrets.sh >&2
cat >&2 <<TXT

Next:  cd docker && docker-compose up -d          (or: docker compose up -d)
       curl -s http://127.0.0.1:24081/cluster     (node N's API is on 2408N, its proxies on 2432N and 2434N)
TXT
