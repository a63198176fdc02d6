#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# thin_check's writes (--clear-needs-check-flag, which LVM runs on every
# activation, and --auto-repair) free leaked metadata and data blocks in a
# transaction: new space maps in blocks that were free, the superblock
# last.  Checked block by block (nothing the old superblock reaches is
# rewritten, every count moves exactly as it should), then under
# whole-process faults (fault-lib.bash): every read, write and torn write
# failing in turn leaves the old metadata or the new, each passing our
# thin_check and 0.9.0's.  Freeing in place (before thin/leaks.c) failed
# the torn-write loop: a bitmap torn in half had a bad checksum.
set -u
: "${BIN:?}" "${PROGS:?}" "${TOP:?}"
[ -x /usr/sbin/thin_restore ] || { echo "no reference thin tools"; exit 77; }
. "$TOP/tests/cli/fault-lib.bash"
TC=$PROGS/thin_corrupt
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

. "$TOP/tests/cli/img-lib.bash"

"$PROGS/gen_thin_xml" --origins 2 --mappings 300 --seed 2 >src.xml || fail "gen"
truncate -s 4M src.img
/usr/sbin/thin_restore -i src.xml -o src.img >/dev/null || fail "reference restore"
last=$(( $("$TC" src.img where sb-data_nr_blocks) - 1 ))
# Leaks: two data blocks in the data map's one bitmap, a metadata block
# with a count of 1 and one with 2; NEEDS_CHECK set.
cp src.img lk.img
"$TC" lk.img set-data-count "$last" 1
"$TC" lk.img set-data-count $((last - 7)) 2
"$TC" lk.img set-meta-count 900 1
"$TC" lk.img set-meta-count 901 2
"$TC" lk.img set-sb flags 1
"$BIN/thin_check" lk.img >pre.out 2>&1
[ "$(grep -c 'leaked' pre.out)" = 4 ] || bad "expected 4 leaks reported: $(cat pre.out)"

for opt in --clear-needs-check-flag --auto-repair; do
	cp lk.img w.img
	"$TC" w.img counts meta >meta.before
	"$TC" w.img counts data >data.before
	old_sm="$("$TC" w.img where sb-meta_bitmap_root) $("$TC" w.img where meta-bitmap 0) $("$TC" w.img where sb-meta_ref_count_root) $("$TC" w.img where data-bitmap 0) $("$TC" w.img where sb-data_bitmap_root)"
	"$BIN/thin_check" $opt w.img >w.out 2>&1 || bad "$opt: exit $?: $(cat w.out)"
	grep -q '^  freed 2 leaked metadata blocks and 2 leaked data blocks$' w.out ||
		bad "$opt: no 'freed' line: $(cat w.out)"
	grep -q '^  cleared NEEDS_CHECK$' w.out || bad "$opt: no 'cleared NEEDS_CHECK'"
	# Every block written but the superblock was free before.
	for b in $(changed_blocks lk.img w.img); do
		[ "$b" = 0 ] && continue
		grep -q "^$b " meta.before && bad "$opt: block $b, in use before, was rewritten"
	done
	new_sm="$("$TC" w.img where sb-meta_bitmap_root) $("$TC" w.img where meta-bitmap 0) $("$TC" w.img where sb-meta_ref_count_root) $("$TC" w.img where data-bitmap 0) $("$TC" w.img where sb-data_bitmap_root)"
	for b in $new_sm; do
		case " $old_sm " in *" $b "*) bad "$opt: space-map block $b kept its place" ;; esac
	done
	# Data counts: the two leaks gone, every other count as it was.
	grep -v -E "^($last|$((last - 7))) " data.before >data.want
	"$TC" w.img counts data >data.after
	cmp -s data.want data.after || bad "$opt: data counts: $(diff data.want data.after | tr '\n' ' ')"
	# Metadata counts: the leaks and the old maps' blocks gone, the new
	# ones in, the rest as it was.
	{ grep -v -E "^($(echo 900 901 $old_sm | tr ' ' '|')) " meta.before
	  for b in $new_sm; do echo "$b 1"; done; } | sort -n >meta.want
	"$TC" w.img counts meta | sort -n >meta.after
	cmp -s meta.want meta.after || bad "$opt: metadata counts: $(diff meta.want meta.after | tr '\n' ' ')"
	[ "$("$TC" w.img where sb-flags)" = 0 ] || bad "$opt: flags $("$TC" w.img where sb-flags)"
	"$BIN/thin_check" w.img >w2.out 2>&1 || bad "$opt: the result fails: $(cat w2.out)"
	grep -q warning w2.out && bad "$opt: warnings remain: $(grep warning w2.out)"
	/usr/sbin/thin_check -q w.img || bad "$opt: 0.9.0 fails the result"
	cmp -s <("$BIN/thin_dump" w.img) <("$BIN/thin_dump" src.img) || bad "$opt: the mappings changed"
	cp w.img w.after
	"$BIN/thin_check" $opt w.img >/dev/null 2>&1 || bad "$opt: second run failed"
	cmp -s w.img w.after || bad "$opt: second run wrote"
done
[ $fails -eq 0 ] || exit 1

# Faults: the old state or the new, never a map that fails a check.  The
# old state must pass both checkers, and 0.9.0's fails a metadata leak, so
# here the leaks are data blocks only (the metadata map is rewritten all
# the same, to count the new data bitmap and index nodes).
cp src.img old.img
"$TC" old.img set-data-count "$last" 1
"$TC" old.img set-data-count $((last - 7)) 2
"$TC" old.img set-sb flags 1
FAULT_TOOL=thin_check
FAULT_CHECK=$BIN/thin_check FAULT_REF_CHECK=/usr/sbin/thin_check
FAULT_DUMP=$BIN/thin_dump
FAULT_REPORT="(  error: |thin_check: img: )"
fault_setup() { cp old.img img; }
FAULT_FILE=img FAULT_STATE_OF=img
CHECK=("$BIN/thin_check" --clear-needs-check-flag img)
fault_prepare "${CHECK[@]}"
for kind in read write torn; do
	fault_loop $kind "old new" "${CHECK[@]}"
done
exit 0
