#!/usr/bin/env bash
# Soak: the reliability suite (crates/rusa-server/tests/reliability.rs) and the SIGKILL test
# (crates/rusa/tests/serving.rs) at larger counts than CI runs them, in release builds, and a
# table of what was tried, refused or closed as it should be, and what failed.
#
# Usage: scripts/soak.sh [SCALE]   (default 20; CI runs the same probes at 1)
# SCALE multiplies: the bad-request corpus (run SCALE times on every store: memory, SQLite,
# and PostgreSQL on 127.0.0.1:5432 when it answers), the silent, trickling and slow-body
# connections (20 x SCALE against a server with 1 s timeouts), and the turns answered before
# the SIGKILL (240 x SCALE). The JWT matrix is a fixed set of cases.
# Exits 1 when any probe failed; the failures are printed above the table.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-20}
case $scale in
  '' | *[!0-9]* | 0)
    echo "soak: SCALE must be a positive whole number, not '$scale'" >&2
    exit 2
    ;;
esac
log=$(mktemp)
trap 'rm -f "$log"' EXIT

status=0
echo "soak: scale $scale (release build; this takes a few minutes the first time)"
RUSA_SOAK_SCALE=$scale cargo test --release --quiet -p rusa-server --test reliability \
  -- --nocapture --test-threads=1 >>"$log" 2>&1 || status=1
RUSA_SOAK_SCALE=$scale cargo test --release --quiet -p rusa --test serving \
  every_answered_turn_survives_sigkill_under_load_with_sqlite \
  -- --nocapture >>"$log" 2>&1 || status=1

if [ $status -ne 0 ]; then
  grep -E "panicked|FAILED|failures:|assertion" "$log" | head -40 >&2 || true
fi

echo
printf '%-44s %10s %12s %9s\n' probe tried "as expected" failures
# Lines the tests print: "<probe>: tried N, <what> M, failures K".
# (The quiet test runner's progress dots may precede them on the same line.)
grep -oE '(bad requests on|jwt matrix|slow connections).*' "$log" |
  sed -E 's/^(.*): tried ([0-9]+), [^0-9]*([0-9]+), failures ([0-9]+).*/\1|\2|\3|\4/' |
  while IFS='|' read -r probe tried ok failed; do
    printf '%-44s %10s %12s %9s\n' "$probe" "$tried" "$ok" "$failed"
  done
grep -oE 'SIGKILL under load.*' "$log" |
  sed -E 's/^SIGKILL under load \(sqlite\): answered ([0-9]+), missing after restart ([0-9]+).*/\1|\2/' |
  while IFS='|' read -r answered missing; do
    printf '%-44s %10s %12s %9s\n' "SIGKILL under load, answered turns kept" "$answered" \
      "$((answered - missing))" "$missing"
  done
exit $status
