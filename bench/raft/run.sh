#!/usr/bin/env bash
# Raft commit latency and throughput: three nodes on loopback (ports from 27900), FileRaftStorage with fsync, TCP.
# Usage: bench/raft/run.sh [sequential-commits=2000] [concurrent-seconds=10] [data-dir (kept)]
set -euo pipefail
cd "$(dirname "$0")"
dotnet run -c Release --project RaftBench.csproj -- "$@"
