#!/usr/bin/env bash
# Benchmark: `data split nlu` and `data convert nlu` on BANKING77 (10,003 examples) and
# `visualize` on the largest fixture with stories, each beside how long loading the same
# project takes (in one process, release build). Prints figures; asserts nothing.
# Usage: scripts/bench-data-tools.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
cargo build --release -q -p rusa-bench --bin data-tools
"${CARGO_TARGET_DIR:-target}/release/data-tools" --fixtures "$PWD/../shared/fixtures" --runs "$runs"
