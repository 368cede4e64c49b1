#!/usr/bin/env bash
# Benchmark: wall time and peak memory of `rusa data validate` on the moodbot fixture.
# Target (docs/performance): at most 50 ms wall time; Rasa 3.6 takes 4.3 s here.
# Usage: scripts/bench-validate.sh [RUNS]   (prints figures; asserts nothing)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-50}
cargo build --release -q -p rusa
bin=$PWD/target/release/rusa
project=$PWD/../shared/fixtures/moodbot
cd "$project"
export RUSA_TELEMETRY_ENABLED=false

"$bin" data validate >/dev/null   # warm the page cache
times=()
for _ in $(seq "$runs"); do
  start=$EPOCHREALTIME
  "$bin" data validate >/dev/null
  end=$EPOCHREALTIME
  times+=("$(echo "($end - $start) * 1000" | bc -l)")
done
printf '%s\n' "${times[@]}" | sort -g | awk -v n="$runs" '
  { t[NR] = $1 }
  END { printf "rusa data validate, moodbot, %d runs: min %.2f ms, median %.2f ms, max %.2f ms\n", n, t[1], t[int((n + 1) / 2)], t[n] }'
if [ -x /usr/bin/time ]; then
  /usr/bin/time -f "peak RSS: %M KiB" "$bin" data validate >/dev/null
fi
