#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# thin_metadata_size against 0.9.0's over many inputs: every unit as input
# and output, the numeric forms, block sizes from 64 KiB to 1 GiB, pools to
# petabytes, 1 to a million thins, and every error line, same bytes and
# exit code.  Then where it differs on purpose: -V exits 0, and sizes past
# 64 bits are refused instead of wrapping.
set -u
: "${BIN:?}"
REF=/usr/sbin/thin_metadata_size
[ -x $REF ] || { echo "no reference tool"; exit 77; }
fails=0 n=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

same() {
	local ours theirs
	ours=$("$BIN/thin_metadata_size" "$@" 2>&1; echo "rc=$?")
	theirs=$($REF "$@" 2>&1; echo "rc=$?")
	n=$((n + 1))
	[ "$ours" = "$theirs" ] || bad "$*: ours '$ours', reference '$theirs'"
}

for b in 64k 128k 512k 1m 2m 64m 1g 128 256; do
	for s in 10g 1t 3T 200t 1p 7G; do
		for m in 1 10 1000 100000 1k; do
			same -b $b -s $s -m $m
		done
	done
done
for u in b s k K m M g G t T p P e E bytes sectors kib mega gibibytes tera; do
	same -b 64k -s 1t -m 1000 -u $u
	same -b 2m -s 100g -m 100000 -u $u -n
	same -b 2m -s 100g -m 3 -u $u -nshort
	same -b 2m -s 100g -m 3 -u $u --numeric-only=long
done
# Input units, long forms.
same -b 64kibibytes -s 1tebibytes -m 5
same -b 65536b -s 2147483648s -m 5
same --block-size=64k --pool-size=1t --max-thins=1000 --unit=g
# Errors.
same -s 1t -m 10
same -b 64k -m 10
same -b 64k -s 1t
same -b 96k -s 1t -m 1
same -b 64k -s 32k -m 1
same -b 64k -s 64k -m 1
same -b 64x -s 1t -m 1
same -b 64k -s 1t -m 1 -u q
same -b 64k -b 64k -s 1t -m 1
same -b 64k -s 1t -m 1 -n -n
same -b 64k -s 1t -m 1 -nfoo
same -b k -s 1t -m 1
echo "$n inputs compared"

# On purpose: -V prints the bare version and exits 0 (0.9.0: 1).
[ "$("$BIN/thin_metadata_size" -V)" = "$(sed -n 's/^VERSION := //p' "$TOP/Makefile")" ] ||
	bad "-V"
# Past 64 bits: refused, not wrapped.
out=$("$BIN/thin_metadata_size" -b 64k -s 99999999999999999999t -m 1 2>&1)
[ $? -eq 1 ] || bad "huge pool: not exit 1: $out"
grep -q 'too large' <<<"$out" || bad "huge pool: $out"
exit $((fails != 0))
