#!/usr/bin/env bash
# Prints, for each fixture project in shared/fixtures, what rusa answers: the exit code of
# `rusa data validate`, with its error and warning counts, and the result of `rusa train`
# (exit code, then "trained" or the first line of the error). Every project is copied into
# a temporary directory first, so no model or cache is written into the fixtures.
# banking77 and hwu64 are NLU data sets, not projects (no domain, no config); they are
# left out. Rasa 3.6.21's verdict on each project is exit 0 for both commands.
#
# Usage: scripts/fixture-verdicts.sh [FIXTURES_DIR]
#   RUSA   the rusa binary to use (default: the debug build, built first)
set -euo pipefail
cd "$(dirname "$0")/.."

fixtures=${1:-../shared/fixtures}
if [[ ! -d $fixtures ]]; then
  fixtures=/work/shared/fixtures
fi
if [[ -z ${RUSA:-} ]]; then
  cargo build -q -p rusa
  target=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  RUSA=$target/debug/rusa
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export RUSA_TELEMETRY_ENABLED=false

printf '| project | data validate | errors | warnings | train |\n|---|---|---|---|---|\n'
for domain in $(find "$fixtures" -maxdepth 3 -name domain.yml | sort); do
  project=$(dirname "$domain")
  name=${project#"$fixtures"/}
  copy=$work/$(echo "$name" | tr / _)
  cp -r "$project" "$copy"
  rm -rf "$copy/models" "$copy/.rusa"
  set +e
  validate_out=$(cd "$copy" && "$RUSA" data validate 2>&1)
  validate_code=$?
  train_out=$(cd "$copy" && "$RUSA" train --quiet 2>&1)
  train_code=$?
  set -e
  summary=$(printf '%s\n' "$validate_out" | grep -E '^[0-9]+ errors?, [0-9]+ warnings?$' | tail -1 || true)
  errors=$(printf '%s' "$summary" | sed -E 's/^([0-9]+) error.*/\1/')
  warnings=$(printf '%s' "$summary" | sed -E 's/.*, ([0-9]+) warning.*/\1/')
  if [[ $train_code -eq 0 ]]; then
    train="exit 0, trained"
  else
    train="exit $train_code: $(printf '%s\n' "$train_out" | grep -m1 '^error:' | cut -c1-100 || true)"
  fi
  printf '| %s | exit %s | %s | %s | %s |\n' "$name" "$validate_code" "${errors:-0}" "${warnings:-0}" "$train"
done
