#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# thin_repair's memory does not grow with the mappings (issue 13): a pool
# of 1,000,000 mappings (four origins, runs of about 50) and two snapshots
# that share their origins' trees, repaired
#  1. sound: the walk from the superblock, no scan;
#  2. with a leaf of the first origin damaged (its snapshot's too: they
#     share it): the scan, and the range patched in (or reported lost);
#  3. with the top level of the mapping tree lost: the scan and the
#     rebuild from the top-level tree it finds.
# Peak RSS (/usr/bin/time %M, the release build: ASan's shadow memory
# would blur it) must stay under 16 MiB each time; holding the mappings
# (16 bytes each) took 34 MiB for the first and 39 MiB for the second.
# Each output must dump as the sound pool's repair does, but for the
# reported damage.  Takes a few seconds.
set -u
: "${BIN:?}" "${PROGS:?}" "${TOP:?}"
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
REL=${REL_BIN:-${BIN%/san/bin}/rel/bin}
[ -x "$REL/thin_repair" ] || { echo "no release build at $REL"; exit 77; }
[ -x /usr/bin/time ] || { echo "no /usr/bin/time"; exit 77; }
LIMIT=16384	# KiB

"$PROGS/gen_thin_xml" --origins 4 --mappings 250000 --run 50 --seed 3 \
	>pool.xml || { echo "FAIL: gen_thin_xml"; exit 1; }
truncate -s 128M pool.img
"$REL/thin_restore" -q -i pool.xml -o pool.img ||
	{ echo "FAIL: thin_restore"; exit 1; }
"$PROGS/thin_snap" pool.img 1 100 && "$PROGS/thin_snap" pool.img 4 101 ||
	{ echo "FAIL: thin_snap"; exit 1; }
rm -f pool.xml

# repair NAME IMG: repairs IMG into NAME.out, NAME.log the report; checks
# the exit code and the peak RSS.
repair() {
	local name=$1 img=$2 rss
	truncate -s 128M "$name.out"
	/usr/bin/time -f %M -o "$name.rss" "$REL/thin_repair" -i "$img" \
		-o "$name.out" >"$name.log" 2>"$name.err" ||
		bad "$name: thin_repair failed: $(head -c 300 "$name.err")"
	rss=$(tail -n 1 "$name.rss")
	echo "$name: peak RSS $rss KiB"
	[ "${rss:-0}" -le $LIMIT ] || bad "$name: peak RSS $rss KiB over $LIMIT"
}

repair sound pool.img
grep -qx "repaired: transaction 1, 6 device(s), 1500000 mapping(s)" sound.log ||
	bad "sound: $(tail -n 1 sound.log)"
"$REL/thin_dump" sound.out >sound.xml || bad "sound: no dump"
[ "$(grep -c single_mapping sound.xml)$(grep -c range_mapping sound.xml)" != 00 ] ||
	bad "sound: no mappings dumped"

cp pool.img leaf.img
blk=$("$PROGS/thin_corrupt" leaf.img where dev-leaf 1 100000) &&
	"$PROGS/thin_corrupt" leaf.img flip "$blk" 100 || bad "leaf: damage"
repair leaf leaf.img
grep -Eq "^device 1: virtual blocks [0-9]+-[0-9]+ (lost|\(a damaged node\) patched)" leaf.log ||
	bad "leaf: the damaged range is not reported: $(head -n 3 leaf.log)"
"$REL/thin_dump" leaf.out >leaf.xml || bad "leaf: no dump"
# Devices 4, 7 and 101 (which shares 4's tree) are untouched.
for d in 4 7 101; do
	sed -n "/<device dev_id=\"$d\"/,/<\/device>/p" sound.xml >a.dev
	sed -n "/<device dev_id=\"$d\"/,/<\/device>/p" leaf.xml >b.dev
	[ -s a.dev ] && cmp -s a.dev b.dev || bad "leaf: device $d changed"
done

cp pool.img top.img
"$PROGS/thin_corrupt" top.img set-sb mapping_root 0 || bad "top: damage"
repair top top.img
"$REL/thin_dump" top.out >top.xml || bad "top: no dump"
cmp -s sound.xml top.xml || bad "top: the rebuilt pool differs from the sound one's repair"

rm -f ./*.img ./*.out ./*.xml
[ $fails -eq 0 ] || exit 1
echo "thin_repair memory: 3 repairs of 1,500,000 mappings under $LIMIT KiB"
