#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_writeback copies exactly the dirty blocks, v1 and v2, with and
# without device offsets, small and multi-page blocks, and a buffer small
# enough to force many batches: every origin block is compared byte for
# byte with what it must hold, the metadata must then say exactly those
# blocks are clean (our dump against the source XML) and pass both
# checkers, and a second run finds nothing to do.  0.9.0 copies nothing on
# v2 and segfaults before updating v1 metadata.
set -u
. "$TOP/tests/cli/wb-lib.bash"
W="$BIN/cache_writeback"

# run_case NAME VERSION BLOCK_SECTORS FAST_OFF_SECTORS ORIGIN_OFF_SECTORS
#          BUFFER_MEG NR ORIGIN_BLOCKS SEED
run_case() {
	local name=$1 v=$2 bs=$3 foff=$4 ooff=$5 meg=$6 nr=$7 ob=$8 seed=$9
	local bb=$((bs * 512)) offargs=() ndirty out

	make_case "$name" "$v" --nr-cache-blocks "$nr" --mapped 80 --dirty 45 \
		--block-size "$bs" --oblock-max "$ob" --seed "$seed"
	stamp "$name" $bb $((foff * 512)) $((ooff * 512)) "$ob"
	dirty_map "$name.xml" >"$name.map"
	ndirty=$(wc -l <"$name.map")
	[ "$ndirty" -gt 0 ] || fail "$name: no dirty blocks generated"
	[ "$foff" = 0 ] || offargs+=(--fast-device-offset "$foff")
	[ "$ooff" = 0 ] || offargs+=(--origin-device-offset "$ooff")

	out=$("$W" --metadata-device "$name.meta" --origin-device "$name.origin" \
		--fast-device "$name.fast" --buffer-size-meg "$meg" \
		"${offargs[@]}" 2>err.txt)
	rc=$?
	[ $rc -eq 0 ] || fail "$name: rc $rc: $out $(cat err.txt)"
	[ "$out" = "$ndirty/$ndirty blocks successfully copied." ] ||
		fail "$name: summary '$out'"
	[ ! -s err.txt ] || fail "$name: stderr: $(cat err.txt)"

	check_origin "$name" "$name.map" $bb $((ooff * 512)) "$ob"
	grep -q "^ok: $ndirty copied," check.out || fail "$name: $(cat check.out)"

	# Exactly the copied blocks are clean now: everything else as before.
	"$BIN/cache_dump" "$name.meta" >"$name.after.xml" || fail "$name: dump"
	sed 's/dirty="true"/dirty="false"/' "$name.xml" >"$name.want.xml"
	diff -u "$name.want.xml" "$name.after.xml" ||
		fail "$name: metadata after writeback"
	[ "$(flags "$name.meta")" = 1 ] || fail "$name: flags $(flags "$name.meta")"
	both_checkers "$name.meta"

	# A second run has nothing to copy and changes nothing.
	cp "$name.meta" "$name.meta2"
	out=$("$W" --metadata-device "$name.meta" --origin-device "$name.origin" \
		--fast-device "$name.fast" "${offargs[@]}")
	[ $? -eq 0 ] && [ "$out" = "0/0 blocks successfully copied." ] ||
		fail "$name: second run '$out'"
	cmp -s "$name.meta" "$name.meta2" || fail "$name: second run wrote"
	check_origin "$name" "$name.map" $bb $((ooff * 512)) "$ob"
}

#        name  v bs  foff ooff meg nr   origin seed
run_case a1    1 8   0    0    1   300  1500   1
run_case a2    2 8   0    0    1   300  1500   2
run_case b1    1 8   64   128  1   300  1500   3
run_case b2    2 8   2048 8    1   300  1500   4
# 64 KiB blocks and a 1 MiB buffer: 8 blocks a batch, many batches.
run_case c1    1 128 0    0    1   200  400    5
run_case c2    2 128 8    0    1   200  400    6
# Blocks (4 MiB) larger than half the buffer: copied in parts.
run_case d1    1 8192 0   8    2   12   40     7
run_case d2    2 8192 16  0    2   12   40     8
# Many adjacent origin blocks: merged writes across a full mapping.
run_case e2    2 8   0    0    64  4000 4001   9
exit 0
