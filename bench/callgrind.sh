#!/usr/bin/env bash
# Instructions per byte moved on the bulk scenario, for sockstack and
# smoltcp each alone under callgrind, plus each one's top functions.
#
#   bench/callgrind.sh [--only sockstack|smoltcp] [--size MIB] [--top N]
#
# Runs `sockstack-bench --only STACK --size MIB --runs 1 bulk` (both buffer
# sizes, so 2 x MIB bytes move) and counts instructions only inside the
# bulk function of that stack (--toggle-collect), so setup and the
# process start are not charged.
set -eu
cd "$(dirname "$0")/.."

only="sockstack smoltcp"
size=16
top=15
while [ $# -gt 0 ]; do
    case "$1" in
        --only) only="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        --top) top="$2"; shift 2 ;;
        *) echo "usage: $0 [--only sockstack|smoltcp] [--size MIB] [--top N]" >&2; exit 2 ;;
    esac
done
command -v valgrind >/dev/null || { echo "valgrind not installed (apt-get install valgrind)" >&2; exit 1; }

cargo build --release -q -p sockstack-bench
bin=target/release/sockstack-bench
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bytes=$((2 * size * 1024 * 1024))

for stack in $only; do
    case "$stack" in
        sockstack) fn='*bulk::ss_bulk*' ;;
        smoltcp) fn='*bulk::smol_bulk*' ;;
        *) echo "unknown stack $stack" >&2; exit 2 ;;
    esac
    file="$out/callgrind.$stack"
    valgrind --tool=callgrind --callgrind-out-file="$file" --toggle-collect="$fn" \
        "$bin" --only "$stack" --size "$size" --runs 1 bulk >/dev/null 2>"$out/log.$stack"
    ir=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
    echo "== $stack: $ir instructions for $bytes bytes: $(awk -v i="$ir" -v b="$bytes" 'BEGIN { printf "%.2f", i / b }') instructions/byte"
    callgrind_annotate --threshold=100 "$file" 2>/dev/null \
        | awk '/file:function/ {go = 1; next} go && NF && !/^-/' \
        | head -n "$top" \
        | awk -v b="$bytes" '{ n = $1; gsub(",", "", n); printf "  %5.2f/B  %s\n", n / b, $0 }' \
        | sed 's|/root/.cargo/registry/src/[^/]*/||; s|/rustc/[0-9a-f]*/||'
done
