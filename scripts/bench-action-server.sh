#!/usr/bin/env bash
# Benchmark: the action server, rusa-sdk against Python's rasa-sdk, side by side in one run.
# `action-server-load` (crates/rusa-bench) starts each server itself — the
# `weatherbot-actions` example (rusa-sdk) and `python -m rasa_sdk` running an
# `action_forecast` that does what the Rust one does — and puts the same load on both:
# a ~20 KB `POST /webhook` (a 60-event tracker and a 20-slot, 30-intent, 30-response
# domain), one client sequentially, then 16 clients for 10 s. Per server it prints the
# start until GET /health answers, the RSS of the process tree after start and after the
# load, latency p50/p99, requests/s, server CPU per request, and the targets of
# shared/spec/performance.md (>= 20x rasa-sdk's requests/s, <= 15 MiB RSS, <= 50 ms start).
# Prints figures; asserts nothing about time; exits 1 when a request failed (not a 200 with
# the expected body) or a server did not start.
#
# rasa-sdk is installed into a virtual environment under the target directory
# (target/bench-venv, `pip install rasa-sdk==3.*`) on the first run and reused after.
#
# Usage: scripts/bench-action-server.sh [action-server-load flags]
#   e.g. --seconds 5 --requests 1000; --rasa-sdk-workers 2;
#        --server-cpus 1 --client-cpus 0 (pins with taskset; the client shares the cores
#        with the server otherwise)   (`action-server-load --help` lists them)
#   BENCH_VENV   the virtual environment to use instead of target/bench-venv
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -q -p weatherbot-actions -p rusa-bench
target=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
venv=${BENCH_VENV:-$target/bench-venv}
python=$venv/bin/python
if ! "$python" -c 'import rasa_sdk' 2>/dev/null; then
  echo "installing rasa-sdk 3.x into $venv"
  python3 -m venv "$venv"
  "$python" -m pip install --quiet --disable-pip-version-check 'rasa-sdk==3.*'
fi

echo "action server benchmark on 127.0.0.1, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- crates/rusa-sdk examples/weatherbot 2>/dev/null || echo ' (rusa-sdk or the example modified in the work tree)')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$target/release/action-server-load" \
  --rusa-sdk "$target/release/weatherbot-actions" --python "$python" "$@"
