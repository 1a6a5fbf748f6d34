#!/usr/bin/env bash
# One fuzz campaign: every target in turn on one core, SECONDS each (default
# 180), logs in fuzz-<target>.log here, then a table of executions and exec/s.
#   ./campaign.sh [SECONDS] [target...]
# Needs the nightly toolchain (cargo +nightly fuzz) and seeded corpora
# (./seed.sh). Runs under nice -n 19 without AddressSanitizer (-s none).
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:-180}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=($(cargo +nightly fuzz list))
fi
nice -n 19 cargo +nightly fuzz build -s none || exit 1
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "== $t: ${secs}s" >&2
  nice -n 19 cargo +nightly fuzz run -s none "$t" "corpus/$t" -- \
    -max_total_time="$secs" -max_len=4096 -timeout=30 -print_final_stats=1 \
    > "fuzz-$t.log" 2>&1
  echo "   exit $? (0: no crash)" >&2
done
printf '%-14s %8s %12s %8s %8s  %s\n' target seconds executions exec/s corpus result
for t in "${targets[@]}"; do
  log="fuzz-$t.log"
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  took=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | awk '{print $5}')
  eps=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$')
  files=$(ls "corpus/$t" | wc -l)
  if grep -q 'Done [0-9]* runs' "$log"; then res=ok; else res=$(grep -m1 -o 'panicked at [^ ]*\|deadly signal\|timeout\|out-of-memory' "$log" || echo see-log); fi
  printf '%-14s %8s %12s %8s %8s  %s\n' "$t" "${took:-?}" "${runs:-?}" "${eps:-?}" "$files" "$res"
done
