#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Seeded random damage never crashes or hangs thin_check or thin_dump:
# bytes of random metadata blocks of a pool with shared snapshots and a held
# metadata snapshot are overwritten, the block's checksum re-stamped half of
# the time (so the damage reaches past the validators), and each tool must
# exit 0 or 1 (the sanitizer build turns a memory error into another code)
# within a time limit.  A damaged image that thin_check passes must dump.
set -u
: "${BIN:?}" "${PROGS:?}"
REF_RESTORE=/usr/sbin/thin_restore
[ -x $REF_RESTORE ] || { echo "no reference thin_restore"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$PROGS/gen_thin_xml" --origins 3 --mappings 2000 --seed 7 --run 10 >pool.xml
truncate -s 4M pool.img
$REF_RESTORE -i pool.xml -o pool.img >/dev/null || { bad "restore"; exit 1; }
"$PROGS/thin_snap" pool.img 1 100 || bad "thin_snap"
"$PROGS/thin_hold" pool.img >/dev/null || bad "thin_hold"
nr=$(od -An -t u8 -j 200 -N 8 pool.img | tr -d ' ')	# blocks in use, about

RANDOM=1234
for i in $(seq 1 120); do
	cp pool.img d.img
	blk=$((RANDOM % (nr + 2)))
	for j in 1 2 3; do
		off=$((RANDOM % 4096))
		printf "\\x$(printf %02x $((RANDOM % 256)))" |
			dd of=d.img bs=1 seek=$((blk * 4096 + off)) conv=notrunc status=none
	done
	if [ $((i % 2)) -eq 0 ] && [ "$blk" -gt 0 ]; then
		# Re-stamp, most often as a btree node (most blocks are).
		vs=(btree btree bitmap index)
		"$PROGS/thin_corrupt" d.img set-u32 "$blk" 4 \
			"$(od -An -t u4 -j $((blk * 4096 + 4)) -N 4 d.img | tr -d ' ')" \
			"${vs[$((RANDOM % 4))]}"
	elif [ $((i % 2)) -eq 0 ]; then
		"$PROGS/thin_corrupt" d.img set-sb flags "$(od -An -t u4 -j 4 -N 4 d.img | tr -d ' ')"
	fi
	timeout 60 "$BIN/thin_check" d.img >c.out 2>&1
	rc=$?
	[ $rc -le 1 ] || { bad "case $i (block $blk): thin_check exit $rc"; tail -n 5 c.out; }
	timeout 60 "$BIN/thin_dump" --repair d.img >/dev/null 2>d.err
	r2=$?
	[ $r2 -le 1 ] || { bad "case $i (block $blk): thin_dump --repair exit $r2"; tail -n 5 d.err; }
	if [ $rc -eq 0 ]; then
		timeout 60 "$BIN/thin_dump" d.img >/dev/null 2>d.err ||
			{ bad "case $i (block $blk): checks clean but does not dump"; cat d.err; }
	fi
done
exit $((fails != 0))
