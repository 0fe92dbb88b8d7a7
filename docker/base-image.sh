#!/usr/bin/env bash
# Builds PgRaft's base images without any image registry: debootstrap a Debian 12 (bookworm, minbase) root from the
# Debian mirror apt already uses, install PostgreSQL 15 into it in a chroot, and `docker import` the result.
#
#   pgraft-base:TAG          bookworm + postgresql-15 + curl             (docker/Dockerfile builds on it)
#   pgraft-systemd-base:TAG  the same + systemd as PID 1                 (deploy/ tests: install.sh under real systemd)
#
# TAG is a hash of this script, so editing the recipe makes new images. The root file systems are cached as tarballs
# in $DOCKER_PGRAFT_IMAGE_CACHE (default /var/cache/pgraft-images): a rerun, even after the images were removed or dockerd was
# reset, imports them in seconds instead of debootstrapping again. Needs root, debootstrap and a running dockerd.
#
# Usage: docker/base-image.sh [--rebuild]     prints the two image names on its last two lines
# Environment: DOCKER_PGRAFT_DEBIAN_MIRROR (default: the first URIs of /etc/apt/sources.list.d/debian.sources, else
#              http://deb.debian.org/debian), DOCKER_PGRAFT_IMAGE_CACHE.
set -euo pipefail

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

script="$(readlink -f "$0")"
tag=$(sha256sum "$script" | cut -c1-12)
base_image="pgraft-base:$tag"
systemd_image="pgraft-systemd-base:$tag"
cache="${DOCKER_PGRAFT_IMAGE_CACHE:-/var/cache/pgraft-images}"
base_tar="$cache/pgraft-base-$tag.tar"
systemd_tar="$cache/pgraft-systemd-base-$tag.tar"

rebuild=false
case "${1:-}" in
  "") ;;
  --rebuild) rebuild=true ;;
  *) die "unknown argument '$1'; usage: docker/base-image.sh [--rebuild]" ;;
esac

docker info >/dev/null 2>&1 || die "dockerd is not reachable (docker info failed); start it (e.g. 'dockerd &' or 'systemctl start docker') and run this again"

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# Both images are there: nothing to do.
if ! $rebuild && have_image "$base_image" && have_image "$systemd_image"; then
  log "base images $base_image and $systemd_image are present"
  printf '%s\n%s\n' "$base_image" "$systemd_image"
  exit 0
fi

import() { # tarball image [docker import --change ...]
  local tarball="$1" image="$2"
  shift 2
  log "importing $tarball as $image"
  docker import "$@" "$tarball" "$image" >/dev/null
}

import_base() {
  import "$base_tar" "$base_image" --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]'
}

import_systemd() {
  # systemd wants to know it runs in a container. (docker import takes no STOPSIGNAL: run it with
  # --stop-signal SIGRTMIN+3, systemd's signal to shut down.)
  import "$systemd_tar" "$systemd_image" --change 'ENV container=docker' --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/lib/systemd/systemd"]'
}

[ "$(id -u)" -eq 0 ] || die "building the base images needs root (debootstrap, chroot, the cache in $cache); run it with sudo"

if ! $rebuild && [ -s "$base_tar" ] && [ -s "$systemd_tar" ]; then
  import_base
  import_systemd
  printf '%s\n%s\n' "$base_image" "$systemd_image"
  exit 0
fi

command -v debootstrap >/dev/null || die "debootstrap is not installed; run: apt-get install debootstrap"

mirror="${DOCKER_PGRAFT_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
mirror="${mirror:-http://deb.debian.org/debian}"

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
root="$work/root"
cleanup() {
  for m in dev/pts dev proc sys; do mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"; done
  rm -rf "$work"
}
trap cleanup EXIT

log "debootstrap bookworm (minbase) from $mirror into $root"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (log above); check that $mirror is reachable or set DOCKER_PGRAFT_DEBIAN_MIRROR"; }

# The image's apt sources: the host's when it has them (same mirror, updates and security), else the mirror alone.
if [ -r /etc/apt/sources.list.d/debian.sources ] && [ -z "${DOCKER_PGRAFT_DEBIAN_MIRROR:-}" ]; then
  cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/debian.sources"
  rm -f "$root/etc/apt/sources.list"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"

in_root() { chroot "$root" env DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"; }

# No service may start inside the chroot, and Debian's postgresql package must not create its own cluster:
# pgraft runs initdb itself, and a 'main' cluster would take port 5432 from the proxy.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
mkdir -p "$root/etc/postgresql-common/createcluster.d"
echo "create_main_cluster = false" > "$root/etc/postgresql-common/createcluster.d/pgraft.conf"
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' > "$root/etc/apt/apt.conf.d/99pgraft-no-recommends"
# Slim: no documentation (copyright notices stay), no translations, and no LLVM JIT for PostgreSQL: libLLVM and its
# libz3 are 130 of the image's MB, and without the llvmjit provider PostgreSQL's jit setting simply has no effect.
cat > "$root/etc/dpkg/dpkg.cfg.d/pgraft-slim" <<'CFG'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/lib/postgresql/*/lib/llvmjit*
path-exclude=/usr/lib/postgresql/*/lib/bitcode/*
path-exclude=/usr/lib/x86_64-linux-gnu/libLLVM-*
path-exclude=/usr/lib/x86_64-linux-gnu/libz3.so*
CFG
find "$root/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*

log "installing PostgreSQL 15 into the chroot"
{
  in_root apt-get update -qq
  in_root apt-get install -y -qq postgresql-15 postgresql-client-15 curl ca-certificates procps iproute2
} >"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log" >&2; die "installing PostgreSQL into the chroot failed (log above)"; }

tidy() {
  in_root apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/apt/* "$root"/var/log/dpkg.log \
    "$root"/tmp/* "$root"/root/.bash_history
  : > "$root/etc/resolv.conf"
  : > "$root/etc/machine-id"
}

snapshot() { # tarball
  for m in dev/pts dev proc sys; do umount -l "$root/$m"; done
  log "writing $1"
  tar --numeric-owner --xattrs -C "$root" -cf "$1.partial" .
  mv "$1.partial" "$1"
  mount --bind /dev "$root/dev"
  mount --bind /dev/pts "$root/dev/pts"
  mount -t proc proc "$root/proc"
  mount -t sysfs sysfs "$root/sys"
}

tidy
snapshot "$base_tar"

log "installing systemd into the chroot (the systemd test image)"
cp /etc/resolv.conf "$root/etc/resolv.conf"
{
  in_root apt-get update -qq
  in_root apt-get install -y -qq systemd systemd-sysv dbus
} >"$work/apt-systemd.log" 2>&1 || { tail -n 30 "$work/apt-systemd.log" >&2; die "installing systemd into the chroot failed (log above)"; }
# Only what a container needs: no gettys, no udev, no first-boot questions.
for unit in getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service \
  systemd-firstboot.service systemd-remount-fs.service systemd-logind.service sys-kernel-debug.mount \
  sys-kernel-tracing.mount dev-hugepages.mount systemd-journald-audit.socket; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
rm -f "$root/usr/sbin/policy-rc.d"
tidy
snapshot "$systemd_tar"

# Older tarballs of this recipe's earlier versions only take space.
find "$cache" -maxdepth 1 -name 'pgraft-*base-*.tar' ! -name "*-$tag.tar" -delete

import_base
import_systemd
# Images of this recipe's earlier versions: remove them unless a container still uses them.
for old in $(docker image ls --format '{{.Repository}}:{{.Tag}}' pgraft-base; docker image ls --format '{{.Repository}}:{{.Tag}}' pgraft-systemd-base); do
  case "$old" in *":$tag") ;; *) docker rmi "$old" >/dev/null 2>&1 || true ;; esac
done
printf '%s\n%s\n' "$base_image" "$systemd_image"
