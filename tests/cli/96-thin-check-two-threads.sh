#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# thin_check reads the leaves on two threads on big pools where it has two
# CPUs (thin/check_par.c), and must say exactly what it says alone:
# same stdout, stderr and exit code, on a sound pool and on damage that
# only a leaf shows (the kind the second thread meets first), at leaves
# spread over the tree so that both threads' groups are hit.
# THIN_CHECK_THREADS=2 makes it use two threads on this small pool, =1 one;
# taskset to one CPU must also mean one.
#
# The pool: two origins of 30,000 mappings in runs of 7 and a snapshot
# sharing the first origin's tree, so the trees have hundreds of leaves,
# which the two threads take 64 at a time (each tree's first leaf stays with
# the walk).  Cases: sound; a mapping
# after the pool time; a data block past the data device; a stale checksum
# in a leaf; a data block counted wrong in the space map; mapped_blocks
# wrong; two mappings sharing a data block; and the leak freeing of
# --clear-needs-check-flag, whose image must come out the same.
#
# Needs two CPUs; with strace, also shows that the second thread is
# started with THIN_CHECK_THREADS=2 and not with 1, on one CPU or, by
# default, on a pool this small.
set -u
: "${BIN:?}" "${PROGS:?}"
[ "$(nproc)" -ge 2 ] || { echo "one CPU: nothing to compare"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$PROGS/gen_thin_xml" --origins 2 --mappings 30000 --run 7 --seed 5 \
	--time 3 >pool.xml || { echo "gen_thin_xml failed"; exit 1; }
rm -f pool.img
truncate -s 16M pool.img
"$BIN/thin_restore" -q -i pool.xml -o pool.img || { echo "restore failed"; exit 1; }
"$PROGS/thin_snap" pool.img 1 100 || { echo "thin_snap failed"; exit 1; }


# compare NAME ARGS...: thin_check ARGS on a copy of case.img, with two
# threads and with one; the outputs, exit codes and resulting images must
# agree.
compare() {
	local name=$1 rc2 rc1
	shift
	cp case.img two.img && cp case.img one.img
	THIN_CHECK_THREADS=2 "$BIN/thin_check" "$@" two.img >two.out 2>two.err
	rc2=$?
	THIN_CHECK_THREADS=1 "$BIN/thin_check" "$@" one.img >one.out 2>one.err
	rc1=$?
	[ $rc2 -eq $rc1 ] || bad "$name: exit $rc2 on two CPUs, $rc1 on one"
	cmp -s two.out one.out || bad "$name: stdout differs: $(diff one.out two.out | head -5)"
	cmp -s two.err one.err || bad "$name: stderr differs: $(diff one.err two.err | head -5)"
	cmp -s two.img one.img || bad "$name: the images differ after the check"
	echo "$name: exit $rc2, $(wc -l <two.out) lines"
}

# leaf_of DEV VBLOCK: the leaf holding that mapping.
leaf_of() { "$PROGS/thin_corrupt" case.img where dev-leaf "$1" "$2"; }

cp pool.img case.img
compare sound
grep -q '^TRANSACTION_ID=' two.out || bad "sound: no summary: $(cat two.out two.err)"

# Virtual blocks spread over device 4's tree (gen_thin_xml's keys are
# increasing from 0 in runs), so that leaves in both threads' groups are hit.
vblocks=$("$BIN/thin_dump" pool.img | awk -F'"' '/<device dev_id="4"/ { on = 1; next }
	on && /range_mapping|single_mapping/ { n++; if (n % 600 == 300) print $2 }
	/<\/device>/ { on = 0 }' | head -6)
[ -n "$vblocks" ] || { echo "no mappings found"; exit 1; }

for v in $vblocks; do
	cp pool.img case.img
	"$PROGS/thin_corrupt" case.img set-mapping 4 "$v" 7 99 >/dev/null ||
		bad "set-mapping 4 $v failed"
	compare "time after the pool's at $v"

	cp pool.img case.img
	"$PROGS/thin_corrupt" case.img set-mapping 4 "$v" 99999999 1 >/dev/null
	compare "data block past the device at $v"

	cp pool.img case.img
	leaf=$(leaf_of 4 "$v")
	"$PROGS/thin_corrupt" case.img flip "$leaf" 100 >/dev/null
	compare "stale checksum in leaf $leaf ($v)"
done

v=$(echo "$vblocks" | sed -n 3p)
cp pool.img case.img
"$PROGS/thin_corrupt" case.img set-mapping 4 "$v" 5 1 >/dev/null
compare "a data block mapped twice"
cp pool.img case.img
"$PROGS/thin_corrupt" case.img set-data-count 5 2 >/dev/null
compare "a data count wrong in the space map"
cp pool.img case.img
"$PROGS/thin_corrupt" case.img set-details 4 mapped_blocks 12 >/dev/null
compare "mapped_blocks wrong"
# A leak: the first free data block counted in use, freed by the check.
cp pool.img case.img
free_db=$("$PROGS/thin_corrupt" case.img counts data |
	awk '$1 != n { print n; done = 1; exit } { n++ } END { if (!done) print n }')
"$PROGS/thin_corrupt" case.img set-data-count "$free_db" 1 >/dev/null ||
	bad "set-data-count $free_db failed"
compare "a leaked data block ($free_db), freed" --clear-needs-check-flag
grep -q 'freed' two.out two.err || bad "the leak was not freed: $(cat two.out two.err)"

# The second thread runs when asked for, and not when one is asked for,
# nor on one CPU, nor by default on a pool this small.
if command -v strace >/dev/null; then
	cp pool.img case.img
	trace() {
		strace -f -e trace=clone,clone3 -o "$1" "${@:2}" \
			"$BIN/thin_check" -q case.img >/dev/null 2>&1
	}
	trace two.trace env THIN_CHECK_THREADS=2
	trace one.trace env THIN_CHECK_THREADS=1
	trace auto.trace env
	traces="one auto"
	if command -v taskset >/dev/null; then
		cpu=$(taskset -cp $$ | sed 's/.*: //; s/[,-].*//')
		trace cpu.trace taskset -c "$cpu" env THIN_CHECK_THREADS=2
		traces="$traces cpu"
	fi
	# Threads only: a sanitizer's tracer is a clone without CLONE_THREAD.
	grep -q 'CLONE_THREAD' two.trace || bad "no second thread with THIN_CHECK_THREADS=2"
	for t in $traces; do
		! grep -q 'CLONE_THREAD' $t.trace || bad "a second thread ($t)"
	done
fi

[ $fails -eq 0 ] || exit 1
echo "thin_check on two threads says what it says on one"
