#!/usr/bin/env bash
# Benchmark: `rusa run` serving moodbot on 127.0.0.1, once per tracker store (in memory,
# SQLite, PostgreSQL, Redis), driven by the load generator `serve-load` (crates/rusa-bench)
# with a bounded number of requests. Per store it prints: start until GET /status answers,
# one client's webhook turn (new sender each time), turns/s with 16 clients, a turn after
# 1,200 events of history against a new sender's, and the server's RSS after the load.
# Targets (shared/spec/performance.md): start <= 0.3 s, turn median <= 0.5 ms,
# >= 5,000 turns/s, long history within 1.2x, RSS <= 40 MiB after start and after 4,400
# requests (the RSS after the whole load is printed too). Prints figures; asserts nothing
# about time, but exits 1 when a request failed (or a server did not start or died).
# The 16 clients take turns round robin in 100 conversations each, so each turn carries the
# history of a dozen earlier ones; --senders-per-client changes that, and with it turns/s.
#
# Usage: scripts/bench-serve.sh [memory] [sqlite] [postgresql] [redis]   (default: all four)
#   SERVE_LOAD_ARGS  extra serve-load flags, e.g. "--requests 5000 --turns 500"
#                    (`serve-load --help` lists them)
#   BENCH_PROJECT    the project to serve instead of ../shared/fixtures/moodbot (its
#                    credentials.yml must open `rest`; pair it with --message in SERVE_LOAD_ARGS)
# PostgreSQL (127.0.0.1:5432, user postgres, trust) and Redis (127.0.0.1:6379) are used when
# they answer, and skipped with the reason otherwise (scripts/services.sh starts them). The
# PostgreSQL database and the Redis keys are the benchmark's own and are removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
stores=("$@")
[ ${#stores[@]} -gt 0 ] || stores=(memory sqlite postgresql redis)
for store in "${stores[@]}"; do
  case $store in
    memory | sqlite | postgresql | redis) ;;
    *)
      echo "bench-serve: unknown store '$store' (memory, sqlite, postgresql, redis)" >&2
      exit 2
      ;;
  esac
done
read -ra extra <<<"${SERVE_LOAD_ARGS:-}"

cargo build --release -q -p rusa -p rusa-bench
target=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target/release/rusa
load=$target/release/serve-load
fixture=${BENCH_PROJECT:-$PWD/../shared/fixtures/moodbot}
export RUSA_TELEMETRY_ENABLED=false

work=$(mktemp -d)
pg_db=rusa_bench_$$_$RANDOM
redis_prefix=rusabench$$x$RANDOM
pg_created=false
redis_used=false
cleanup() {
  if $pg_created; then
    psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -qAt \
      -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if $redis_used; then # only this run's keys: the server names them <key_prefix>:...
    redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "$redis_prefix:*" |
      xargs -r -n 500 redis-cli -h 127.0.0.1 -p 6379 del >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

cp -r "$fixture" "$work/project"
chmod -R u+w "$work/project"
(cd "$work/project" && "$bin" train -q >/dev/null)

echo "rusa run benchmark, $(basename "$fixture") on 127.0.0.1, $(date -u '+%Y-%m-%d %H:%M UTC')"
if commit=$(git rev-parse --short HEAD 2>/dev/null); then
  git diff --quiet HEAD -- crates Cargo.toml Cargo.lock || commit="$commit + uncommitted changes"
else
  commit="unknown (not a git checkout)"
fi
echo "commit: $commit"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -g | awk '/^Mem:/ { print $2 }') GiB"
echo "serve-load flags: ${SERVE_LOAD_ARGS:-(defaults)}"

status=0
failed=()
for store in "${stores[@]}"; do
  endpoints=$work/endpoints-$store.yml
  case $store in
    memory)
      title="in-memory (no tracker_store)"
      echo "# no tracker_store: conversations are kept in memory" >"$endpoints"
      ;;
    sqlite)
      title="SQLite (tracker_store type SQL, dialect sqlite)"
      printf 'tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: %s\n' "$work/tracker.db" >"$endpoints"
      ;;
    postgresql)
      title="PostgreSQL (tracker_store type SQL, dialect postgresql, 127.0.0.1:5432)"
      if ! psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -qAtw -c 'select 1' >/dev/null 2>&1; then
        echo
        echo "### $title: skipped, PostgreSQL does not answer on 127.0.0.1:5432 as user postgres (scripts/services.sh starts it)"
        continue
      fi
      pg_created=true # the server creates the database; cleanup drops it
      printf 'tracker_store:\n  type: SQL\n  dialect: postgresql\n  url: 127.0.0.1\n  port: 5432\n  username: postgres\n  db: %s\n' \
        "$pg_db" >"$endpoints"
      ;;
    redis)
      title="Redis (tracker_store type redis, 127.0.0.1:6379)"
      if [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" != PONG ]; then
        echo
        echo "### $title: skipped, Redis does not answer on 127.0.0.1:6379 (scripts/services.sh starts it)"
        continue
      fi
      redis_used=true
      printf 'tracker_store:\n  type: redis\n  url: 127.0.0.1\n  port: 6379\n  key_prefix: %s\n' \
        "$redis_prefix" >"$endpoints"
      ;;
  esac
  echo
  echo "load average before $store: $(cut -d' ' -f1-3 /proc/loadavg)"
  if ! "$load" --rusa "$bin" --project "$work/project" --endpoints "$endpoints" \
    --store "$title" --log "$work/server-$store.log" "${extra[@]}"; then
    status=1
    failed+=("$store")
    echo "the server's log ($store), last lines:"
    tail -n 20 "$work/server-$store.log" | sed 's/^/  /'
  fi
done

if [ $status -ne 0 ]; then
  echo
  echo "bench-serve: FAILED for: ${failed[*]} (failed requests, or a server that did not start or died)" >&2
fi
exit $status
