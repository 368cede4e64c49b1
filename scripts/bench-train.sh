#!/usr/bin/env bash
# Benchmark: `rusa train` on the moodbot fixture — cold (empty cache), unchanged retrain,
# and cold training at 1x, 10x and 100x moodbot's data (examples and stories replicated
# with distinct wording), with peak RSS. Prints figures; asserts nothing.
# Targets (shared/spec/performance.md): cold <= 0.5 s and <= 100 MiB; unchanged <= 0.1 s.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p rusa
bin=$PWD/target/release/rusa
fixture=$PWD/../shared/fixtures/moodbot
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export RUSA_TELEMETRY_ENABLED=false

seconds() { # runs a command, prints its wall time in seconds
  local start=$EPOCHREALTIME
  "$@" >/dev/null
  echo "$EPOCHREALTIME - $start" | bc -l
}

rss() { # peak RSS in MiB of a command
  /usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -n 1 | awk '{ printf "%.1f", $1 / 1024 }'
}

make_project() { # make_project DIR FACTOR
  cp -r "$fixture" "$1"
  chmod -R u+w "$1"
  python3 - "$1" "$2" <<'PY'
import sys, re, pathlib
root, factor = pathlib.Path(sys.argv[1]), int(sys.argv[2])
nlu = root / "data" / "nlu.yml"
out = []
for line in nlu.read_text().splitlines():
    out.append(line)
    m = re.match(r"^(\s+)- (.+)$", line)
    if m and factor > 1:
        out.extend(f"{m.group(1)}- {m.group(2)} variant{k}" for k in range(1, factor))
nlu.write_text("\n".join(out) + "\n")
stories = root / "data" / "stories.yml"
text = stories.read_text()
head, body = text.split("stories:", 1)
stories.write_text(head + "stories:" + "".join(body.replace("- story: ", f"- story: copy{k} ") for k in range(factor)))
PY
}

for factor in 1 10 100; do
  dir=$work/x$factor
  make_project "$dir" "$factor"
  cd "$dir"
  cold=$(seconds "$bin" train -q)
  rm -rf models .rusa
  mem=$(rss "$bin" train -q)
  unchanged=$(seconds "$bin" train -q)
  examples=$(grep -c '^    - ' data/nlu.yml)
  printf 'moodbot x%-3s (%5d examples): cold train %.3f s, peak RSS %s MiB, unchanged retrain %.3f s\n' \
    "$factor" "$examples" "$cold" "$mem" "$unchanged"
  cd - >/dev/null
done
