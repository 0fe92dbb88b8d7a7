#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks, builds PgRaft with warnings as errors and runs every test.
# Usage: scripts/test.sh [extra dotnet test arguments, e.g. --filter FullyQualifiedName~Raft]
# Environment: PGRAFT_SIM_SCHEDULES (simulator schedules), PGRAFT_SIM_SEED (replay one seed),
#              PGRAFT_TEST_CONFIGURATION (default Release), PGRAFT_PACKAGING_TESTS; see the README for the rest.
# After the .NET tests comes the packaging stage (tests/Packaging/run.sh: docker-compose cluster and systemd units on
# real dockerd and systemd; needs root or sudo). It runs unless test arguments narrow the run, or PGRAFT_PACKAGING_TESTS=0;
# PGRAFT_PACKAGING_TESTS=1 runs it even then.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

need_packages=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need_packages+=(postgresql-15 postgresql-client-15)
command -v setpriv >/dev/null || need_packages+=(util-linux)
command -v ip >/dev/null || need_packages+=(iproute2)
command -v iptables >/dev/null || need_packages+=(iptables)  # tests/Jepsen-style: network partitions
command -v openssl >/dev/null || need_packages+=(openssl)
# The dashboard's end-to-end test renders it in a real headless browser.
[ -x /usr/bin/chromium ] || need_packages+=(chromium)
command -v runuser >/dev/null || need_packages+=(util-linux)
if [ ${#need_packages[@]} -gt 0 ]; then
  log "installing ${need_packages[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${need_packages[@]}"
fi
# Debian's postgresql package starts a cluster on 5432; our tests use their own ports, but keep the machine quiet.
if [ "$(id -u)" -eq 0 ] && command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q online; then
  log "stopping the distribution's own PostgreSQL clusters (tests start their own)"
  pg_lsclusters -h | awk '$4 == "online" {print $1, $2}' | while read -r v c; do pg_ctlcluster "$v" "$c" stop || true; done
fi
id postgres >/dev/null 2>&1 || { log "creating the postgres OS user"; as_root useradd --system --home /var/lib/postgresql --shell /bin/bash postgres; }
command -v dotnet >/dev/null || { echo "error: the .NET 10 SDK is not installed (dotnet not on PATH); install it, then run this again" >&2; exit 1; }

configuration="${PGRAFT_TEST_CONFIGURATION:-Release}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log "building (configuration $configuration, warnings are errors)"
dotnet build PgRaft.sln -c "$configuration" -nologo -clp:ErrorsOnly

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
log "testing"
status=0
# One test project at a time: the real-process tests share two cores and must not starve each other.
dotnet test PgRaft.sln -c "$configuration" --no-build -m:1 --logger "console;verbosity=normal" \
  --results-directory "$results" "$@" 2>&1 | tee "$results/output.txt" || status=$?

# grep finds nothing when no test failed; that is not an error.
passed=$( { grep -Eo 'Passed: +[0-9]+' "$results/output.txt" || true; } | awk '{s+=$2} END {print s+0}')
failed=$( { grep -Eo 'Failed: +[0-9]+' "$results/output.txt" || true; } | awk '{s+=$2} END {print s+0}')
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then
  echo "error: no test ran" >&2
  status=1
fi
packaging="${PGRAFT_PACKAGING_TESTS:-auto}"
if [ "$packaging" = 1 ] || { [ "$packaging" = auto ] && [ $# -eq 0 ]; }; then
  log "packaging stage (docker/, deploy/)"
  package_status=0
  as_root bash tests/Packaging/run.sh 2>&1 | tee "$results/packaging.txt" || package_status=$?
  if [ "$package_status" -ne 0 ]; then
    echo "error: the packaging stage failed; its FAIL: lines above say which check" >&2
    status=1
  fi
  line=$(grep -E '^packaging: [0-9]+ passed, [0-9]+ failed' "$results/packaging.txt" | tail -n 1 || true)
  passed=$((passed + $(awk '{print $2}' <<< "${line:-packaging: 0 passed}")))
  failed=$((failed + $(awk '{print $4}' <<< "${line:-packaging: 0 passed, 0 failed}")))
else
  log "packaging stage skipped (test arguments given, or PGRAFT_PACKAGING_TESTS=$packaging)"
fi

echo "tests: $passed passed, $failed failed"
exit "$status"
