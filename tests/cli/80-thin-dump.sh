#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# thin_dump against the reference: images written by thin_restore 0.9.0
# from generated XML (0 to 100k mappings, one to many devices, snapshots
# sharing most data blocks), our dump byte-identical with 0.9.0's in both
# formats and with --skip-mappings and --dev-id; the first line is what LVM
# parses; and the errors: missing input, bad options, a zeroed superblock,
# a bad checksum, damage (exit 1, a file given to -o removed) and --repair.
set -u
: "${BIN:?}" "${PROGS:?}"
REF_RESTORE=/usr/sbin/thin_restore
REF_DUMP=/usr/sbin/thin_dump
[ -x $REF_RESTORE ] && [ -x $REF_DUMP ] || { echo "no reference tools"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# same NAME ARGS...: our dump and the reference's, same bytes and exit code.
same() {
	local img=$1 ours theirs ro rt
	shift
	ours=$("$BIN/thin_dump" "$@" "$img" 2>/dev/null; echo "rc=$?")
	theirs=$($REF_DUMP "$@" "$img" 2>/dev/null; echo "rc=$?")
	[ "$ours" = "$theirs" ] || {
		bad "$img $*: differs from the reference"
		diff <(echo "$theirs") <(echo "$ours") | head -n 8
	}
}

# case NAME SIZE_MB GEN_ARGS...
case_() {
	local name=$1 mb=$2
	shift 2
	"$PROGS/gen_thin_xml" "$@" >"$name.xml" || { bad "$name: gen failed"; return; }
	rm -f "$name.img"
	truncate -s "${mb}M" "$name.img"
	$REF_RESTORE -i "$name.xml" -o "$name.img" >/dev/null ||
		{ bad "$name: reference restore failed"; return; }
	same "$name.img"
	same "$name.img" -f human_readable
	same "$name.img" --skip-mappings
	same "$name.img" --dev-id 1
	same "$name.img" --dev-id 4
	same "$name.img" --dev-id 999
}

case_ empty 4 --origins 0
case_ nomap 4 --origins 3 --mappings 0
case_ one 4 --origins 1 --mappings 1
case_ small 4 --origins 2 --mappings 300 --seed 2
case_ snaps 8 --origins 2 --mappings 2000 --snapshots 3 --seed 3 --run 20
case_ many 16 --origins 200 --mappings 40 --seed 4 --run 3
case_ longrun 16 --origins 1 --mappings 50000 --run 100000 --seed 5
case_ big 64 --origins 2 --mappings 50000 --snapshots 2 --seed 6 --run 30

# Snapshots that share their origin's root (as the kernel's thin_snap
# leaves them before either is written): our dump replays the origin's
# runs for them rather than reading the tree again; the same bytes.
cp big.img shared.img
{ "$PROGS/thin_snap" shared.img 1 100 && "$PROGS/thin_snap" shared.img 4 101 &&
	"$PROGS/thin_snap" shared.img 7 102; } || bad "thin_snap failed"
same shared.img
same shared.img -f human_readable
same shared.img --dev-id 102
same shared.img --skip-mappings

# A held metadata snapshot (as reserve_metadata_snap leaves it): the
# normal dump, and -m / -mBLOCK / --metadata-snap=BLOCK on the copy.
cp snaps.img held.img
held=$("$PROGS/thin_hold" held.img) || bad "thin_hold failed"
same held.img
same held.img -m
same held.img -m -f human_readable
same held.img -m --skip-mappings
same held.img -m"$held"
same held.img --metadata-snap="$held" --dev-id 4
$REF_DUMP -m held.img | head -n 1 | grep -q 'nr_data_blocks="0"' ||
	bad "reference -m no longer prints the copy's zeroed data sm size"

# LVM reads the first line for the transaction id.
line=$("$BIN/thin_dump" snaps.img | head -n 1)
case $line in
*' transaction="1" '*) ;;
*) bad "first line: $line" ;;
esac

# -o writes the same bytes.
"$BIN/thin_dump" -o out.xml small.img || bad "-o failed"
$REF_DUMP small.img | cmp -s - out.xml || bad "-o output differs"

# -o over an existing longer file, emptied by the writer's thread before
# its first write: exactly the new bytes, past more than one buffer
# (big's dump is over 1 MiB) and within one (small's).
"$BIN/thin_dump" big.img >big.want || bad "big: dump failed"
[ "$(stat -c %s big.want)" -gt 1048576 ] || bad "big's dump is not over a buffer"
head -c 6000000 /dev/zero | tr '\0' Z >over.xml
"$BIN/thin_dump" -o over.xml big.img || bad "-o over a longer file failed"
cmp -s big.want over.xml || bad "-o over a longer file: not the dump alone"
"$BIN/thin_dump" -o over.xml small.img || bad "-o over big's dump failed"
$REF_DUMP small.img | cmp -s - over.xml || bad "-o over big's dump: differs"

# Errors: one line, exit 1, nothing on stdout.
err() {
	local want=$1 out
	shift
	out=$("$BIN/thin_dump" "$@" 2>err.txt)
	rc=$?
	[ $rc -eq 1 ] || bad "thin_dump $*: exit $rc, expected 1"
	[ -z "$out" ] || bad "thin_dump $*: wrote to stdout"
	grep -q -- "$want" err.txt || bad "thin_dump $*: no '$want' in: $(cat err.txt)"
}
err "No input file provided"
err "unknown format" -f custom small.img
err "couldn't parse <dev-id>" --dev-id x small.img
err "no current metadata snap" -m small.img
err "No such file" nonexistent.img

cp small.img zero.img
dd if=/dev/zero of=zero.img bs=4096 count=1 conv=notrunc status=none
err "all zeroes" zero.img
cp small.img csum.img
printf '\x01' | dd of=csum.img bs=1 seek=100 conv=notrunc status=none
err "bad checksum in superblock" csum.img
# A superblock that fails leaves an existing -o file as it was.
cp big.want keep.xml
"$BIN/thin_dump" -o keep.xml csum.img 2>/dev/null && bad "csum -o: exit 0"
cmp -s big.want keep.xml || bad "csum -o: the existing file changed"

# A damaged mapping root: exit 1, and a file -o created is removed.
cp small.img dmg.img
root=$(od -An -t u8 -j 320 -N 8 small.img | tr -d ' ')
printf '\x01' | dd of=dmg.img bs=1 seek=$((root * 4096 + 100)) conv=notrunc status=none
err "metadata contains errors" dmg.img
"$BIN/thin_dump" -o gone.xml dmg.img 2>/dev/null && bad "damaged: exit 0"
[ -e gone.xml ] && bad "damaged: -o file left behind"
# --repair: what can be read (here: the devices, without mappings), exit 0.
"$BIN/thin_dump" --repair dmg.img >rep.xml 2>rep.err || bad "--repair failed"
grep -q '<device dev_id="1"' rep.xml || bad "--repair dropped the devices"
grep -q "repair: skipped" rep.err || bad "--repair did not say what it skipped"

# --repair with one damaged leaf of device 1: device 4 whole, device 1
# without that leaf's mappings, and nothing invented.
cp small.img leaf.img
v=$(sed -n 's/.*origin_block="\([0-9]*\)".*/\1/p' small.xml | head -n 1)
"$PROGS/thin_corrupt" leaf.img flip "$("$PROGS/thin_corrupt" leaf.img where dev-leaf 1 "$v")" 300
"$BIN/thin_dump" leaf.img >/dev/null 2>&1 && bad "damaged leaf: plain dump passed"
"$BIN/thin_dump" --repair leaf.img >leaf.xml 2>/dev/null || bad "damaged leaf: --repair failed"
cmp -s <(sed -n '/dev_id="4"/,/<\/device>/p' leaf.xml) \
	<($REF_DUMP small.img | sed -n '/dev_id="4"/,/<\/device>/p') ||
	bad "damaged leaf of device 1: device 4 differs"
n1=$(sed -n '/dev_id="1"/,/<\/device>/p' leaf.xml | grep -c mapping)
n1ref=$($REF_DUMP small.img | sed -n '/dev_id="1"/,/<\/device>/p' | grep -c mapping)
[ "$n1" -lt "$n1ref" ] || bad "damaged leaf: device 1 kept $n1 of $n1ref lines"
# Every mapping kept is one the pool has (runs may split differently).
expand() {
	sed -n '/dev_id="1"/,/<\/device>/p' |
		awk -F'"' '/single_mapping/ { print $2, $4, $6 }
			/range_mapping/ { for (i = 0; i < $6; i++) print $2 + i, $4 + i, $8 }' |
		sort
}
[ "$(expand <leaf.xml | wc -l)" -gt 0 ] || bad "damaged leaf: device 1 lost everything"
comm -23 <(expand <leaf.xml) <($REF_DUMP small.img | expand) | grep -q . &&
	bad "damaged leaf: --repair invented mappings"

# -m on an argument that is not its value: the input, as 0.9.0 reads it.
"$BIN/thin_dump" -m small.img 2>&1 | grep -q "no current metadata snap" ||
	bad "-m took the input as its value"

exit $((fails != 0))
