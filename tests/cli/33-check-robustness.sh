#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Garbage never crashes or hangs cache_check: random fields of random
# metadata blocks are overwritten and re-checksummed (so the damage gets
# past the validators and reaches the structural checks), or bytes are
# flipped; every run must end within the time limit with exit 0 or 1 and
# no sanitizer report.  Deterministic: the seed is fixed.
set -u
: "${BIN:?}" "${PROGS:?}" "${TOP:?}"
[ -x /usr/sbin/cache_restore ] || { echo "no reference cache_restore"; exit 77; }
C=$PROGS/corrupt
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
RANDOM=4242

"$PROGS/gen_xml" --nr-cache-blocks 130000 --mapped 20 >a.xml
for ver in 1 2; do
	truncate -s 8M base$ver.img
	/usr/sbin/cache_restore --metadata-version $ver -i a.xml -o base$ver.img
done
nblocks=$(($(stat -c %s base1.img) / 4096))
# blocks in use (a restore allocates from the front)
used=$(($(od -A n -t u8 -j 72 -N 8 base1.img) + 2))

for i in $(seq 1 60); do
	ver=$((RANDOM % 2 + 1))
	cp base$ver.img f.img
	blk=$((RANDOM % used))
	case $((RANDOM % 4)) in
	0)	"$C" f.img flip $blk $((RANDOM % 4096)) $((RANDOM % 255 + 1)) ;;
	1)	vs=(btree array bitmap index sb)
		val=$((RANDOM % 5))
		[ $blk -eq 0 ] && val=4
		"$C" f.img set-u32 $blk $(((RANDOM % 64) * 4)) $((RANDOM * RANDOM)) --resum ${vs[$val]} ;;
	2)	vs=(btree array btree btree sb)
		val=$((RANDOM % 5))
		[ $blk -eq 0 ] && val=4
		"$C" f.img set-u64 $blk $((16 + (RANDOM % 250) * 8)) $((RANDOM % (nblocks + 10))) --resum ${vs[$val]} ;;
	3)	"$C" f.img set-bitmap-count $blk $((RANDOM % 4)) ;;
	esac
	timeout 20 "$BIN/cache_check" f.img >out 2>&1
	rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
		bad "case $i (v$ver block $blk): exit $rc"
		tail -n 20 out
		cp f.img "crash-$i.img"
	fi
	grep -q 'runtime error\|AddressSanitizer' out && bad "case $i: sanitizer: $(grep -m1 'runtime error\|AddressSanitizer' out)"
done
[ $fails -eq 0 ]
