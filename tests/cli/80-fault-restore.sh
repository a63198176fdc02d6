#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_restore under whole-process faults (fault-lib.bash): every write to
# the output failing in turn, every write torn (half a block, then the
# process dies), every read of the XML input failing.  The output starts
# as other, valid metadata.  A restore zeroes block 0 (and flushes) before
# anything else, so after a failure the output holds the old bytes (the
# zeroing itself failed), an unformatted device (block 0 zeroed; the
# message says so), or the new metadata (only a failed last flush: the
# message then says it is written but may not be durable).  Never the old
# superblock over a half-written tree.  A failed read of the input leaves
# the output untouched.
set -u
. "$TOP/tests/cli/fault-lib.bash"
FAULT_TOOL=cache_restore

"$PROGS/gen_xml" --nr-cache-blocks 600 --mapped 60 --dirty 30 \
	--hint-width 8 >new.src.xml || fail "gen_xml"
"$PROGS/gen_xml" --nr-cache-blocks 40 --mapped 50 --seed 7 >old.src.xml ||
	fail "gen_xml"
truncate -s 1M old.img
/usr/sbin/cache_restore -i old.src.xml -o old.img || fail "reference restore"

fault_setup() { cp old.img out.img; }
FAULT_FILE=out.img FAULT_STATE_OF=out.img
RESTORE=("$BIN/cache_restore" -i new.src.xml -o out.img)

# The message must say what is on the device.
restore_message() {
	case $3 in
	old) grep -q "is left zeroed" err.txt &&
		{ echo "FAIL: $1 $2: says zeroed, device untouched: $(cat err.txt)"; return 1; } ;;
	zero) [ "$1" = torn ] || grep -q "block 0 is left zeroed" err.txt ||
		{ echo "FAIL: $1 $2: block 0 zeroed, message: $(cat err.txt)"; return 1; } ;;
	new) grep -q "is left zeroed" err.txt &&
		{ echo "FAIL: $1 $2: says zeroed, metadata written: $(cat err.txt)"; return 1; } ;;
	esac
	return 0
}
FAULT_ON_FAIL=restore_message

fault_prepare "${RESTORE[@]}"
fault_loop write "old zero new" "${RESTORE[@]}"
[ "$FAULT_COUNT" -ge 10 ] || fail "only $FAULT_COUNT writes: the shim saw too few"
fault_loop torn "old zero new" "${RESTORE[@]}"
fault_loop read "old" "${RESTORE[@]}"
[ "$FAULT_COUNT" -eq 0 ] || fail "the restore read its output $FAULT_COUNT times"

# The XML input failing: the output is never touched.
FAULT_FILE=new.src.xml
fault_loop read "old" "${RESTORE[@]}"
[ "$FAULT_COUNT" -ge 1 ] || fail "no read of the input was failed"
exit 0
