#!/usr/bin/env bash
# Instructions per byte moved on the bulk scenario, for sockstack and
# smoltcp each alone under callgrind, plus each one's top functions.
#
#   bench/callgrind.sh [--only sockstack|smoltcp] [--size MIB] [--top N]
#   bench/callgrind.sh --conn [--only sockstack|smoltcp] [--top N]
#
# `--conn` measures the `conn-rate` scenario instead (`--quick`: 20k
# connections, each open, 1 byte each way, close) and reports instructions
# per connection, counted inside `ss_rate` / `smol_rate` only.
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
mode=bulk
while [ $# -gt 0 ]; do
    case "$1" in
        --only) only="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        --top) top="$2"; shift 2 ;;
        --conn) mode=conn; shift ;;
        *) echo "usage: $0 [--conn] [--only sockstack|smoltcp] [--size MIB] [--top N]" >&2; exit 2 ;;
    esac
done
command -v valgrind >/dev/null || { echo "valgrind not installed (apt-get install valgrind)" >&2; exit 1; }

cargo build --release -q -p sockstack-bench
bin=target/release/sockstack-bench
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if [ "$mode" = conn ]; then
    # bench/src/conns.rs: `--quick` opens 20k connections.
    units=20000
    unit=connection
    fmt="%.0f"
    args="--quick --runs 1 conn-rate"
else
    units=$((2 * size * 1024 * 1024))
    unit=byte
    fmt="%.2f"
    args="--size $size --runs 1 bulk"
fi

for stack in $only; do
    case "$stack/$mode" in
        sockstack/bulk) fn='*bulk::ss_bulk' ;;
        smoltcp/bulk) fn='*bulk::smol_bulk' ;;
        sockstack/conn) fn='*conns::ss_rate' ;;
        smoltcp/conn) fn='*conns::smol_rate' ;;
        *) echo "unknown stack $stack" >&2; exit 2 ;;
    esac
    # No trailing `*`: callgrind toggles collection at every entry to a
    # matching function, so a closure of the scenario left out of line
    # (`ss_rate::{{closure}}`) would switch counting off for its calls.
    file="$out/callgrind.$stack"
    # callgrind counts one instruction per byte for `rep movsb` and `rep
    # stosb`, which glibc's memcpy and memset use above ~2 KiB on CPUs with
    # fast string moves: the same copy or fill then reads as 16-32x more
    # instructions than glibc's vector loop. Keep glibc on its vector loops
    # for every size, for both stacks, so the count reflects the work done
    # (the tunables change only which loop copies or fills). Without the
    # memset one, smoltcp's zeroed 4 KiB socket buffers (calloc) counted
    # ~15,500 phantom instructions per connection.
    # shellcheck disable=SC2086 # $args is a word list
    GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=4294967295:glibc.cpu.x86_rep_stosb_threshold=4294967295 \
    valgrind --tool=callgrind --callgrind-out-file="$file" --toggle-collect="$fn" \
        "$bin" --only "$stack" $args >/dev/null 2>"$out/log.$stack"
    ir=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
    echo "== $stack: $ir instructions for $units ${unit}s: $(awk -v i="$ir" -v b="$units" -v f="$fmt" 'BEGIN { printf f, i / b }') instructions/$unit"
    callgrind_annotate --threshold=100 "$file" 2>/dev/null \
        | awk '/file:function/ {go = 1; next} go && NF && !/^-/' \
        | head -n "$top" \
        | awk -v b="$units" -v f="$fmt" -v u="${unit:0:1}" '{ n = $1; gsub(",", "", n); printf "  " f "/%s  %s\n", n / b, u, $0 }' \
        | sed 's|/root/.cargo/registry/src/[^/]*/||; s|/rustc/[0-9a-f]*/||'
done
