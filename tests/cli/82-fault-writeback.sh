#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_writeback under whole-process faults on the metadata device
# (fault-lib.bash), v1 and v2: every read, every write and every torn
# write failing in turn.  The metadata is updated by a shadowing
# transaction with the superblock last, so after any failure it holds the
# old dirty state or the new one (every copied block clean), never a mix,
# and both pass the checkers.  (Write errors on the origin are
# tests/cli/53's.)
set -u
. "$TOP/tests/cli/fault-lib.bash"
. "$TOP/tests/cli/wb-lib.bash"
FAULT_TOOL=cache_writeback

for v in 1 2; do
	make_case wb$v $v --nr-cache-blocks 48 --mapped 70 --dirty 50 \
		--block-size 8 --oblock-max 200 --seed $((v + 3))
	stamp wb$v 4096 0 0 200
	cp wb$v.meta old.img
	cp wb$v.origin origin.orig
	[ -n "$(dirty_map wb$v.xml)" ] || fail "v$v: no dirty blocks"
	fault_setup() { cp old.img meta.img; cp origin.orig wb.origin; }
	FAULT_FILE=meta.img FAULT_STATE_OF=meta.img
	WB=("$BIN/cache_writeback" --metadata-device meta.img
	    --origin-device wb.origin --fast-device wb$v.fast)
	fault_prepare "${WB[@]}"
	grep -q 'dirty="true"' new.xml && fail "v$v: dirty blocks left"
	for kind in read write torn; do
		fault_loop $kind "old new" "${WB[@]}"
		[ "$FAULT_COUNT" -ge 3 ] || fail "v$v $kind: only $FAULT_COUNT"
	done
done
exit 0
