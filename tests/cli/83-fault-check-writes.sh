#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_check's two write paths, --clear-needs-check-flag (what LVM runs
# on every activation) and --auto-repair, under whole-process faults
# (fault-lib.bash): every read, every write and every torn write failing in
# turn.  The image has NEEDS_CHECK set and leaked blocks both low and past
# the middle of the space map's bitmap block (block 9000: its entry lies
# in the block's second half, so a write torn in half changes it or not
# separately from the checksum at the start).  After any failure the image
# is the old one or the new one (leaks freed, NEEDS_CHECK clear), never a
# space map that fails a check.
#
# The leaks are freed in a transaction (a new space map in free blocks, the
# superblock last), so a torn write leaves the old metadata whole.  Before
# that (freeing in place) a write torn in half left "space map bitmap 3:
# bad checksum", fatal, and this test failed on "torn 1".
set -u
. "$TOP/tests/cli/fault-lib.bash"
FAULT_TOOL=cache_check
# The report names the failed read ("... I/O error [block-io]") or the
# last line the failed write ("cache_check: img: ...: I/O error").
FAULT_REPORT="(  error: |cache_check: img: )"

"$PROGS/gen_xml" --nr-cache-blocks 300 --mapped 60 --dirty 30 >src.xml ||
	fail "gen_xml"
truncate -s 40M src.img
/usr/sbin/cache_restore --metadata-version 2 -i src.xml -o src.img ||
	fail "reference restore"
for b in 40 41 9000; do
	"$PROGS/corrupt" src.img set-bitmap-count $b 1 || fail "corrupt"
done
"$PROGS/corrupt" src.img set-sb flags 3 || fail "corrupt"
cp src.img old.img

fault_setup() { cp old.img img; }
FAULT_FILE=img FAULT_STATE_OF=img
for opt in --clear-needs-check-flag --auto-repair; do
	CHECK=("$BIN/cache_check" "$opt" img)
	fault_prepare "${CHECK[@]}"
	for kind in read write torn; do
		fault_loop $kind "old new" "${CHECK[@]}"
	done
done
exit 0
