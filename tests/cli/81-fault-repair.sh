#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_repair under whole-process faults (fault-lib.bash).  The input is
# damaged (a mapping array block with a bad checksum), the output holds
# other, valid metadata.  Every write to the output failing or torn in
# turn: the output holds its old bytes, a zeroed block 0 (the repair
# writes through the restore, which zeroes it first), or the new metadata.
# Every read of the input failing in turn (and staying unreadable): either
# the repair fails with one line and the output keeps its old bytes, or it
# salvages around the block and what it writes passes both checkers.
set -u
. "$TOP/tests/cli/fault-lib.bash"
FAULT_TOOL=cache_repair

"$PROGS/gen_xml" --nr-cache-blocks 1200 --mapped 60 --dirty 30 \
	--hint-width 4 >in.xml || fail "gen_xml"
truncate -s 2M in.img
/usr/sbin/cache_restore --metadata-version 2 -i in.xml -o in.img ||
	fail "reference restore"
"$PROGS/corrupt" in.img flip "$("$PROGS/corrupt" in.img where mapping-block 1)" 100 ||
	fail "corrupt"
"$PROGS/gen_xml" --nr-cache-blocks 40 --mapped 50 --seed 7 >old.src.xml
truncate -s 2M old.img
/usr/sbin/cache_restore -i old.src.xml -o old.img || fail "reference restore"

fault_setup() { cp old.img out.img; }
FAULT_STATE_OF=out.img
REPAIR=("$BIN/cache_repair" -q -i in.img -o out.img)

fault_prepare "${REPAIR[@]}"
FAULT_FILE=out.img
fault_loop write "old zero new" "${REPAIR[@]}"
[ "$FAULT_COUNT" -ge 10 ] || fail "only $FAULT_COUNT writes: the shim saw too few"
fault_loop torn "old zero new" "${REPAIR[@]}"
fault_loop read "old zero new" "${REPAIR[@]}"

FAULT_FILE=in.img FAULT_SALVAGE=1
# An unreadable superblock is reported as "unreadable" (and a way on).
FAULT_MSG="I/O error|Input/output error|superblock is unreadable"
fault_loop read "old" "${REPAIR[@]}"
[ "$FAULT_COUNT" -ge 5 ] || fail "only $FAULT_COUNT reads of the input"
echo "input reads: ${FAULT_SALVAGED:-0} salvaged around"
exit 0
