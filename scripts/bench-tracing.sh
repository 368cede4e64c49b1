#!/usr/bin/env bash
# Benchmark: what tracing costs. `rusa run` serving moodbot (in-memory store) driven by
# `serve-load` (crates/rusa-bench), once per tracing set-up:
#   off          no `tracing:` entry
#   otlp-http    batched OTLP/HTTP to a local receiver (`otlp-sink`, which only counts)
#   otlp-down    batched OTLP/gRPC to a closed port (the back end is down)
#   jaeger-udp   the Jaeger agent protocol to a UDP port where nothing listens
# and the wall time of one command line (`rusa train --force`, 5 runs each) with tracing off
# and on (the flush at exit included).
# Targets (shared/spec/performance.md): turns/s with tracing >= 0.90x of off, with the
# back end up and down. Prints figures; asserts nothing about time; exits 1 when a request
# failed or a server did not start.
#
# Usage: scripts/bench-tracing.sh [off] [otlp-http] [otlp-down] [jaeger-udp]   (default: all)
#   SERVE_LOAD_ARGS  serve-load flags (default: --starts 1 --turns 2000 --requests 20000)
#   BENCH_SKIP_CLI=1 leaves out the command-line timing
set -euo pipefail
cd "$(dirname "$0")/.."
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(off otlp-http otlp-down jaeger-udp)
read -ra extra <<<"${SERVE_LOAD_ARGS:---starts 1 --turns 2000 --requests 20000}"

cargo build --release -q -p rusa -p rusa-bench
target=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target/release/rusa
load=$target/release/serve-load
fixture=$PWD/../shared/fixtures/moodbot
export RUSA_TELEMETRY_ENABLED=false

work=$(mktemp -d)
sink_pid=
cleanup() {
  [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The OTLP/HTTP receiver: `otlp-sink` (crates/rusa-bench) counts requests and bytes and
# decodes nothing, so its own CPU takes as little as it can from the server's.
"$target/release/otlp-sink" >"$work/sink.port" &
sink_pid=$!
for _ in $(seq 100); do [ -s "$work/sink.port" ] && break; sleep 0.05; done
sink_port=$(head -n1 "$work/sink.port")
closed_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cp -r "$fixture" "$work/project"
chmod -R u+w "$work/project"
(cd "$work/project" && "$bin" train -q >/dev/null)

echo "rusa tracing benchmark, moodbot on 127.0.0.1, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "serve-load flags: ${extra[*]}"

printf '# no tracing\n' >"$work/endpoints-off.yml"
printf 'tracing:\n  type: otlp\n  endpoint: http://127.0.0.1:%s/v1/traces\n' "$sink_port" >"$work/endpoints-otlp-http.yml"
printf 'tracing:\n  type: otlp\n  endpoint: http://127.0.0.1:%s\n' "$closed_port" >"$work/endpoints-otlp-down.yml"
printf 'tracing:\n  type: jaeger\n  host: 127.0.0.1\n  port: %s\n' "$closed_port" >"$work/endpoints-jaeger-udp.yml"

status=0
for mode in "${modes[@]}"; do
  echo
  echo "load average before $mode: $(cut -d' ' -f1-3 /proc/loadavg)"
  if ! "$load" --rusa "$bin" --project "$work/project" --endpoints "$work/endpoints-$mode.yml" \
    --store "in-memory, tracing: $mode" --log "$work/server-$mode.log" "${extra[@]}"; then
    status=1
    tail -n 20 "$work/server-$mode.log" | sed 's/^/  /'
  fi
  grep -h "did not reach" "$work/server-$mode.log" | sed 's/^/  server: /' || true
done
echo
echo "OTLP sink received (requests bytes): $(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$sink_port/').read().decode())")"

[ -n "${BENCH_SKIP_CLI:-}" ] && exit $status
echo
echo "rusa train --force, wall time of 5 runs (ms), flush at exit included:"
for mode in off otlp-http otlp-down; do
  times=()
  for _ in 1 2 3 4 5; do
    start=$(date +%s%N)
    (cd "$work/project" && "$bin" train --force -q --endpoints "$work/endpoints-$mode.yml" >/dev/null 2>&1)
    times+=($((($(date +%s%N) - start) / 1000000)))
  done
  echo "  $mode: ${times[*]}"
done
exit $status
