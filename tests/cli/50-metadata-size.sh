#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_metadata_size: every fixed point of FORMAT.md §8 (output, error
# lines, exit codes), agreement with the reference where it is right, and
# where we deliberately differ (0.9.0 crashes on --block-size 0 and wraps
# huge numbers), plus the 1.x units and --numeric-only.
set -u
T="$BIN/cache_metadata_size"
REF=/usr/sbin/cache_metadata_size
fails=0

# expect OUT ERR RC args...: exact stdout, exact stderr, exit code.
expect() {
	local want_out=$1 want_err=$2 want_rc=$3
	shift 3
	local out err rc
	out=$("$T" "$@" 2>err.txt)
	rc=$?
	err=$(cat err.txt)
	if [ "$out" != "$want_out" ] || [ "$err" != "$want_err" ] ||
	   [ "$rc" != "$want_rc" ]; then
		echo "FAIL: $* -> rc=$rc out='$out' err='$err'"
		echo "      wanted rc=$want_rc out='$want_out' err='$want_err'"
		fails=$((fails + 1))
	fi
}

# FORMAT.md §8's table.
expect "8192 sectors" "" 0 --nr-blocks 0
expect "8192 sectors" "" 0 --nr-blocks 1
expect "8192 sectors" "" 0 --nr-blocks 31
expect "8193 sectors" "" 0 --nr-blocks 32
expect "8246 sectors" "" 0 --nr-blocks 1000
expect "8254 sectors" "" 0 --nr-blocks 1000 --max-hint-width 8
expect "8238 sectors" "" 0 --nr-blocks 1000 --max-hint-width 0
expect "8244 sectors" "" 0 --nr-blocks 1000 --max-hint-width 3
expect "8248 sectors" "" 0 --nr-blocks 1000 --max-hint-width 5
expect "11776 sectors" "" 0 --nr-blocks 65536
expect "62879 sectors" "" 0 --nr-blocks 1000000
expect "6759734 sectors" "" 0 --nr-blocks 123456789
expect "9088 sectors" "" 0 --device-size 2097152 --block-size 128
expect "8192 sectors" "" 0 --device-size 1000 --block-size 64
# --nr-blocks= form, and a matching triple is not contradictory.
expect "8192 sectors" "" 0 --nr-blocks=7
expect "8193 sectors" "" 0 --nr-blocks 32 --device-size 4096 --block-size 128

# FORMAT.md §8's error lines, exit 1.
expect "" "If you specify --block-size you must also give --device-size." 1 \
	--block-size 128
expect "" "If you specify --device-size you must also give --block-size." 1 \
	--device-size 128
expect "" "If you specify --block-size you must also give --device-size." 1 \
	--nr-blocks 5 --block-size 128
expect "" "If you specify --device-size you must also give --block-size." 1 \
	--nr-blocks 5 --device-size 128
expect "" "Please specify either --device-size and --block-size, or --nr-blocks." 1
expect "" "Please specify either --device-size and --block-size, or --nr-blocks." 1 \
	--max-hint-width 4
expect "" "Contradictory arguments given, --nr-blocks doesn't match the --device-size and --block-size." 1 \
	--nr-blocks 1 --device-size 128 --block-size 64

# Where 0.9.0 is wrong: a floating point exception, and wrapped sums.
expect "" "block size must be a multiple of 32 KiB: --block-size 0 (the kernel takes 64 to 2097152 sectors, a multiple of 64)" 1 \
	--device-size 128 --block-size 0
expect "" "--nr-blocks must be at most 4294967295: 18446744073709551615" 1 \
	--nr-blocks 18446744073709551615
expect "" "Invalid number for --nr-blocks: '-1'" 1 --nr-blocks -1
expect "" "Invalid number for --nr-blocks: 'abc'" 1 --nr-blocks abc
expect "" "Invalid number for --nr-blocks: '0x10'" 1 --nr-blocks 0x10
expect "" "--max-hint-width must be at most 128: 1000" 1 \
	--nr-blocks 1000 --max-hint-width 1000
expect "" "Invalid size for --device-size: '10x' (a number of sectors, or a number with a unit such as 512k or 10g)" 1 \
	--device-size 10x --block-size 128

# 1.x units: lower-case binary, upper-case decimal, bare = sectors.
expect "17152 sectors" "" 0 --device-size 10g --block-size 64k
expect "16536 sectors" "" 0 --device-size 10G --block-size 128
expect "17152" "" 0 --device-size 10g --block-size 64k -n
expect "8.38 mebibytes" "" 0 --device-size 10g --block-size 64k -u m
expect "8781824 bytes" "" 0 --device-size 10g --block-size 64k --unit b
expect "4 mebibytes" "" 0 --nr-blocks 0 -u m
expect "4" "" 0 --nr-blocks 0 -u MiB --numeric-only
expect "4194.31 kilobytes" "" 0 --nr-blocks 0 -u K
expect "" "Invalid unit for --unit: 'q' (one of b, s, k, m, g, t, p, e, K, M, G, T, P, E)" 1 \
	--nr-blocks 0 -u q

# --exact: the conservative line unchanged, then the restore's count.
expect "8192 sectors
72 sectors exact (9 metadata blocks, v1 restore)" "" 0 --nr-blocks 16 --exact \
	--metadata-version 1
expect "8192 sectors
88 sectors exact (11 metadata blocks, v2 restore)" "" 0 --nr-blocks 16 --exact
expect "8192
88" "" 0 --nr-blocks 16 --exact --metadata-version 2 -n
expect "" "--metadata-version must be 1 or 2: 0" 1 \
	--nr-blocks 16 --exact --metadata-version 0

# -V prints the bare version; -h the usage, exit 0; bad options exit 1.
out=$("$T" -V) && [ "$out" = "1.0.0" ] || { echo "FAIL: -V gave '$out'"; fails=$((fails + 1)); }
"$T" -h >help.txt 2>&1 && grep -q -- '--nr-blocks' help.txt &&
	grep -q -- '--max-hint-width' help.txt ||
	{ echo "FAIL: -h"; fails=$((fails + 1)); }
"$T" --frobnicate >/dev/null 2>err.txt
rc=$?
[ $rc -eq 1 ] && grep -q -- '--frobnicate' err.txt ||
	{ echo "FAIL: bad option rc=$rc"; fails=$((fails + 1)); }

# Differential against the reference over a spread of inputs it gets right.
if [ -x "$REF" ]; then
	for n in 0 1 2 31 32 33 63 64 100 509 510 1000 4096 65535 65536 \
		 99999 1000000 4294967295; do
		for w in 0 1 3 4 8 16 128; do
			a=$("$T" --nr-blocks $n --max-hint-width $w)
			b=$("$REF" --nr-blocks $n --max-hint-width $w)
			[ "$a" = "$b" ] || { echo "FAIL: n=$n w=$w: '$a' vs ref '$b'"; fails=$((fails + 1)); }
		done
	done
	for ds in 1000 2097152 20971520 123456789; do
		for bs in 64 128 1024 2048; do
			a=$("$T" --device-size $ds --block-size $bs)
			b=$("$REF" --device-size $ds --block-size $bs)
			[ "$a" = "$b" ] || { echo "FAIL: ds=$ds bs=$bs: '$a' vs ref '$b'"; fails=$((fails + 1)); }
		done
	done
fi

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
