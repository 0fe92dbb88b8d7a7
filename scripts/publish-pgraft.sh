#!/usr/bin/env bash
# Publishes the pgraft program into $1: Release, framework-dependent, ReadyToRun (precompiled), so a node's first
# failover or switchover, and every fencing guard it starts, does not wait for the JIT. Used by the demo and the benchmarks.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: scripts/publish-pgraft.sh OUTPUT_DIR" >&2; exit 2; }
cd "$(dirname "$0")/.."
dotnet publish src/Node/PgRaft.Node.csproj -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
  -o "$1" -nologo -clp:ErrorsOnly >/dev/null
