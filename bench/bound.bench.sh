#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_replay bound on a text MSR trace of 2 million 4 KiB I/Os (zipf 0.9
# over 16 GiB, 64 KiB cache blocks, on tmpfs): the exact LRU curve for every
# cache size from one pass (--no-opt; target: at least 2 million trace I/Os
# per second on one core), then with Belady's OPT at four sizes (a pass
# each).  CPU seconds (user + sys, medians of 3: on this shared machine the
# wall clock mostly measures other load) and peak memory.  Asserts nothing.
set -eu
. "$TOP/bench/lib.sh"
dir=/dev/shm
[ -d "$dir" ] && [ -w "$dir" ] || dir=$BENCH_DIR
work=$(mktemp -d "$dir/dmct-bound.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
IOS=2000000
"$BIN/cache_replay" trace gen --pattern zipf --ios $IOS --origin-size 16g \
	--theta 0.9 --trace-format msr --seed 1 -o z.csv

# cpu RUNS CMD...: "CPU_SECONDS PEAK_KIB", medians.
cpu() {
	local runs=$1 i c=() m=()
	shift
	for ((i = 0; i < runs; i++)); do
		/usr/bin/time -f '%U %S %M' -o .t "$@" >/dev/null 2>&1 || true
		read -r u s k <.t
		c+=("$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.3f", u + s }')")
		m+=("$k")
	done
	echo "$(printf '%s\n' "${c[@]}" | sort -g | sed -n 2p)" \
		"$(printf '%s\n' "${m[@]}" | sort -g | sed -n 2p)"
}
rate() { awk -v n=$IOS -v s="$1" 'BEGIN { printf "%.2f", n / s / 1e6 }'; }
read -r p pk < <(cpu 3 "$BIN/cache_replay" trace stat --trace z.csv)
read -r l lk < <(cpu 3 "$BIN/cache_replay" bound --trace z.csv --block-size 128 --no-opt)
read -r o ok < <(cpu 3 "$BIN/cache_replay" bound --trace z.csv --block-size 128 \
	--cache-size 1%,5%,10%,25%)
echo "bound: $IOS MSR lines ($(du -h z.csv | cut -f1)), 64 KiB blocks"
echo "bound: parsing alone (trace stat) $p s CPU = $(rate "$p") M I/Os/s, $pk KiB"
echo "bound: exact LRU curve, every size $l s CPU = $(rate "$l") M I/Os/s, $lk KiB"
echo "bound: with OPT at 4 sizes $o s CPU = $(rate "$o") M I/Os/s, $ok KiB"
