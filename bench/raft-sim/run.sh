#!/usr/bin/env bash
# Runs many seeded Raft simulator schedules (Release build) and prints schedules per second.
# Usage: bench/raft-sim/run.sh [schedules]   (default 10000; PGRAFT_SIM_SEED is ignored here)
set -euo pipefail
cd "$(dirname "$0")/../.."
schedules="${1:-10000}"
unset PGRAFT_SIM_SEED
dotnet build tests/Raft.Tests -c Release -v quiet -nologo >/dev/null
# The sweep gets ~60% of PGRAFT_SIM_SCHEDULES (the FsCheck property the rest); run only the sweep and scale up.
total=$(( (schedules * 2000 + 1199) / 1200 ))
PGRAFT_SIM_SCHEDULES="$total" dotnet test tests/Raft.Tests -c Release --no-build \
  --filter "FullyQualifiedName~SimulationTests.Seeded_schedules" \
  --logger "console;verbosity=detailed" 2>&1 | grep -E "schedules/s|Passed!|Failed!|failed" || true
