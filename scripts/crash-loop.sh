#!/usr/bin/env bash
# Kills, crash loops and concurrency (issue 17; SECURITY.md, "Kills, crash
# loops and concurrency"): runs tests/it/crash.rs with its figures printed.
#
#   scripts/crash-loop.sh            # the CI sizes: 50 kills, 6 processes for 12 s
#   scripts/crash-loop.sh --long     # release checklist: 1000 kills, 8 processes for 120 s
#   scripts/crash-loop.sh --kills N --seconds S --processes P [--seed X]
#
# --seed replays a crash loop (each run prints its CUSTODIA_CRASH_SEED).
# The strace kill tests need strace (and ptrace allowed). Extra cargo
# arguments (e.g. --release) go after `--`.
set -euo pipefail
cd "$(dirname "$0")/.."

kills=50
seconds=12
processes=6
seed=""
cargo_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --long) kills=1000; seconds=120; processes=8 ;;
    --kills) kills="$2"; shift ;;
    --seconds) seconds="$2"; shift ;;
    --processes) processes="$2"; shift ;;
    --seed) seed="$2"; shift ;;
    --) shift; cargo_args=("$@"); break ;;
    *) echo "usage: $0 [--long] [--kills N] [--seconds S] [--processes P] [--seed X] [-- CARGO_ARGS]" >&2; exit 2 ;;
  esac
  shift
done

export CUSTODIA_CRASH_KILLS="$kills"
export CUSTODIA_CONCURRENCY_SECS="$seconds"
export CUSTODIA_CONCURRENCY_PROCESSES="$processes"
if [ -n "$seed" ]; then
  export CUSTODIA_CRASH_SEED="$seed"
fi
echo "== crash loop: $kills kills; concurrency: $processes processes for $seconds s"
# One test at a time, so the concurrency test has the machine to itself.
exec "${CARGO:-cargo}" test "${cargo_args[@]}" --test it crash:: -- --nocapture --test-threads=1
