#!/usr/bin/env bash
# Runs the unit suite 3 times in a row while every core is kept busy, to prove that no test depends
# on an idle machine: each waits for the event it tests, and each real deadline has a margin.
set -euo pipefail
cd "$(dirname "$0")/.."

burners=()
trap 'kill "${burners[@]}" 2>/dev/null || true' EXIT
for _ in $(seq "$(nproc)"); do
    yes >/dev/null &
    burners+=($!)
done
for run in 1 2 3; do
    echo "== unit suite, run $run of 3, with $(nproc) busy loops beside it"
    npx mocha </dev/null
done
