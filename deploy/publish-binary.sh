#!/usr/bin/env bash
# Publishes pgraft as ONE self-contained file (no .NET runtime needed on the target): OUTPUT_DIR/pgraft.
# ReadyToRun (precompiled), so a node's first failover and every fencing guard (`pgraft guard`, the same file run
# again) start without waiting for the JIT. Not trimmed: the trimmer reports the configuration binder's reflection,
# and the warnings are errors here. Used by docker/build.sh and the packaging tests; copy the file to a server for
# deploy/install.sh.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: deploy/publish-binary.sh OUTPUT_DIR" >&2; exit 2; }
out="$1"
cd "$(dirname "$0")/.."
command -v dotnet >/dev/null || { echo "error: the .NET 10 SDK is not installed (dotnet not on PATH)" >&2; exit 1; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
dotnet publish src/Node/PgRaft.Node.csproj -c Release -r linux-x64 --self-contained true \
  -p:PublishSingleFile=true -p:PublishReadyToRun=true -p:DebugType=none \
  -o "$staging" -nologo -clp:ErrorsOnly >/dev/null
mkdir -p "$out"
install -m 0755 "$staging/pgraft" "$out/pgraft"
