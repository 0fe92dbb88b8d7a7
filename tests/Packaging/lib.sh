# Helpers shared by the packaging test parts (sourced by run.sh): counters, checks and bounded waits.
# Every check prints one line, PASS or FAIL, saying what it checked.

passed=0
failed=0

pass() { passed=$((passed + 1)); printf 'PASS: %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL: %s\n' "$*"; }
log() { printf '==> %s\n' "$*"; }

# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
  local description="$1"
  shift
  if "$@"; then pass "$description"; else fail "$description"; return 1; fi
}

# wait_until SECONDS COMMAND...: polls every 0.5 s; sets waited to the seconds it took (one decimal).
waited=0
wait_until() {
  local limit="$1" start now
  shift
  start=$(date +%s%N)
  while :; do
    if "$@"; then break; fi
    now=$(date +%s%N)
    if [ $(((now - start) / 1000000)) -ge $((limit * 1000)) ]; then
      waited=$(awk -v ns=$((now - start)) 'BEGIN {printf "%.1f", ns / 1e9}')
      return 1
    fi
    sleep 0.5
  done
  now=$(date +%s%N)
  waited=$(awk -v ns=$((now - start)) 'BEGIN {printf "%.1f", ns / 1e9}')
}

# http_status URL: the HTTP status code, or 000 when nothing answers.
http_status() { curl -s -m 2 -o /dev/null -w '%{http_code}' "$1" 2>/dev/null || true; }

# output_has PATTERN COMMAND...: the command fails and its output contains PATTERN (a fixed string).
refuses_with() {
  local pattern="$1" out status=0
  shift
  out=$("$@" 2>&1) || status=$?
  if [ "$status" -ne 0 ] && grep -qF -- "$pattern" <<< "$out"; then return 0; fi
  printf '  exit %s, output: %s\n' "$status" "$(head -c 400 <<< "$out")"
  return 1
}
