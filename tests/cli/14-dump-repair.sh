#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_dump on damaged metadata.  Without --repair: 0.9.0's two-line
# message, exit 1 and no XML at all (0.9.0 prints a truncated document).
# With --repair: exit 0 and exactly the source XML minus what the damage
# took: a mapping array block (509 cache blocks), a hint array block (1018
# hints), a btree leaf of a multi-level mapping tree (every array block
# under it), a hint root out of range (all hints); a v2 dirty bitset block
# that cannot be read makes its 32,576 cache blocks dirty, never clean.
# The repair summary on stderr is exact, and -q silences it.
#
# Also the <discards> section, which 0.9.0 can neither restore nor dump:
# the superblock is pointed at the v2 dirty bitset as a discard bitset (the
# reference restore sets the bits of unmapped and dirty blocks, and of the
# padding, which must be ignored), and the expected ranges are worked out
# from the source XML.
set -u
: "${BIN:?}" "${PROGS:?}"
T="$BIN/cache_dump"
CORRUPT="$PROGS/corrupt"
REF_RESTORE=/usr/sbin/cache_restore
[ -x $REF_RESTORE ] || { echo "no reference cache_restore"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

errmsg='metadata contains errors (run cache_check for details).
perhaps you wanted to run with --repair ?'

make_img() {	# make_img NAME VERSION GEN_XML_ARGS...
	local name=$1 v=$2 nr
	shift 2
	"$PROGS/gen_xml" "$@" >"$name.xml"
	nr=$(sed -n 's/.*nr_cache_blocks="\([0-9]*\)".*/\1/p;q' "$name.xml")
	truncate -s $((4 * 1024 * 1024 + nr * 40)) "$name.img"
	$REF_RESTORE -i "$name.xml" -o "$name.img" --metadata-version "$v" ||
		bad "$name: restore failed"
}

# Lines of mappings and hints with cache_block in [lo, hi) removed.
drop_range() {	# drop_range LO HI <in >out
	awk -v lo="$1" -v hi="$2" '
		/<(mapping|hint) cache_block="/ {
			split($0, a, "\""); c = a[2] + 0
			if (c >= lo && c < hi) next
		}
		{ print }'
}

# damaged NAME IMG WANT_XML 'SUMMARY' ['STDERR' ['NOTE']]: both modes on a
# damaged image; STDERR is what the dump without --repair says (0.9.0's
# message when empty), NOTE the lines --repair prints before its summary.
damaged() {
	local name=$1 img=$2 want=$3 summary=$4 plain=${5:-$errmsg} note=${6:-} rc
	"$T" "$img" >"$name.plain" 2>"$name.plain.err"
	rc=$?
	[ $rc -eq 1 ] || bad "$name: exit $rc without --repair"
	[ "$(cat "$name.plain.err")" = "$plain" ] ||
		bad "$name: stderr without --repair: '$(cat "$name.plain.err")'"
	[ -s "$name.plain" ] && bad "$name: XML printed without --repair"

	"$T" --repair "$img" >"$name.rep" 2>"$name.rep.err"
	rc=$?
	[ $rc -eq 0 ] || bad "$name: exit $rc with --repair: $(cat "$name.rep.err")"
	cmp -s "$want" "$name.rep" || {
		bad "$name: --repair output is not the expected XML"
		diff "$want" "$name.rep" | head -n 6
	}
	[ "$(cat "$name.rep.err")" = "${note:+$note
}cache_dump: repair: skipped $summary" ] ||
		bad "$name: repair summary '$(cat "$name.rep.err")'"
	"$T" --repair -q "$img" 2>"$name.q.err" | cmp -s - "$want" ||
		bad "$name: --repair -q output differs"
	[ -s "$name.q.err" ] && bad "$name: --repair -q stderr '$(cat "$name.q.err")'"
}

# ---- v1, 3000 cache blocks: 6 mapping array blocks, 3 hint array blocks.
make_img a 1 --nr-cache-blocks 3000 --mapped 60 --seed 2

cp a.img map1.img
"$CORRUPT" map1.img flip "$("$CORRUPT" map1.img where mapping-block 1)" 100
drop_range 509 1018 <a.xml >map1.want
damaged map1 map1.img map1.want "1 damaged range(s): 509 mapping(s) and 0 hint(s) lost, 0 unreadable dirty bit(s) reported dirty, 0 discard bit(s) lost"
# The damage really removed mappings.
[ "$(grep -c '<mapping ' map1.want)" -lt "$(grep -c '<mapping ' a.xml)" ] ||
	bad "map1: no mapping in the damaged range"

cp a.img hint1.img
"$CORRUPT" hint1.img flip "$("$CORRUPT" hint1.img where hint-block 1)" 2000
awk '/<hint cache_block="/ { split($0, a, "\""); c = a[2] + 0
	if (c >= 1018 && c < 2036) next } { print }' a.xml >hint1.want
damaged hint1 hint1.img hint1.want "1 damaged range(s): 0 mapping(s) and 1018 hint(s) lost, 0 unreadable dirty bit(s) reported dirty, 0 discard bit(s) lost"

# The last mapping block is partial (3000 - 5 * 509 = 455 entries).
cp a.img last.img
"$CORRUPT" last.img flip "$("$CORRUPT" last.img where mapping-block 5)" 8
drop_range 2545 3000 <a.xml >last.want
damaged last last.img last.want "1 damaged range(s): 455 mapping(s) and 0 hint(s) lost, 0 unreadable dirty bit(s) reported dirty, 0 discard bit(s) lost"

# Two structures at once.
cp map1.img two.img
"$CORRUPT" two.img flip "$("$CORRUPT" two.img where hint-block 1)" 2000
drop_range 509 1018 <hint1.want >two.want
damaged two two.img two.want "2 damaged range(s): 509 mapping(s) and 1018 hint(s) lost, 0 unreadable dirty bit(s) reported dirty, 0 discard bit(s) lost"

# A hint root past the end of the device: all hints gone.
cp a.img hroot.img
"$CORRUPT" hroot.img set-sb hint_root 999999
awk '!/<hint cache_block="/' a.xml >hroot.want
"$T" --repair hroot.img >hroot.rep 2>hroot.err || bad "hroot: exit $?"
cmp -s hroot.want hroot.rep || bad "hroot: --repair output is not the expected XML"
[ "$(cat hroot.err)" = "cache_dump: repair: skipped 1 damaged range(s): 0 mapping(s) and 3000 hint(s) lost, 0 unreadable dirty bit(s) reported dirty, 0 discard bit(s) lost" ] ||
	bad "hroot: summary '$(cat hroot.err)'"

# ---- a multi-level mapping tree: a damaged leaf loses its array blocks.
make_img b 1 --nr-cache-blocks 300000 --mapped 50 --seed 9
leaf=$("$CORRUPT" b.img where mapping-leaf 0)
keys=$(od -A n -t u4 -j $((leaf * 4096 + 16)) -N 4 b.img | tr -d ' ')
cp b.img leaf.img
"$CORRUPT" leaf.img flip "$leaf" 1000
drop_range 0 $((keys * 509)) <b.xml >leaf.want
damaged leaf leaf.img leaf.want "1 damaged range(s): $((keys * 509)) mapping(s) and 0 hint(s) lost, 0 unreadable dirty bit(s) reported dirty, 0 discard bit(s) lost"

# ---- v2: an unreadable dirty bitset block makes its blocks dirty.
make_img c 2 --nr-cache-blocks 40000 --mapped 50 --dirty 30 --seed 4
cp c.img dirty0.img
"$CORRUPT" dirty0.img flip "$("$CORRUPT" dirty0.img where dirty-block 0)" 300
awk '/<mapping cache_block="/ { split($0, a, "\"")
	if (a[2] + 0 < 32576) sub(/dirty="false"/, "dirty=\"true\"") } { print }' c.xml >dirty0.want
damaged dirty0 dirty0.img dirty0.want "1 damaged range(s): 0 mapping(s) and 0 hint(s) lost, 32576 unreadable dirty bit(s) reported dirty, 0 discard bit(s) lost"
cmp -s c.xml dirty0.want && bad "dirty0: no clean mapping in the damaged range"

# ---- discards, through the v2 dirty bitset (1000 bits: padding in use).
make_img d 2 --nr-cache-blocks 1000 --mapped 70 --dirty 40 --seed 6
"$CORRUPT" d.img set-sb discard_root "$("$CORRUPT" d.img where dirty-root)"
# 1024-sector discard blocks: 8000 cache blocks of origin, past every
# origin block gen_xml maps (< 4001).
"$CORRUPT" d.img set-sb discard_block_size 1024
"$CORRUPT" d.img set-sb discard_nr_blocks 1000
# Set bits: unmapped blocks and dirty mapped ones.
awk -v n=1000 '
	/<mapping cache_block="/ { split($0, a, "\""); m[a[2] + 0] = 1
		if ($0 ~ /dirty="true"/) d[a[2] + 0] = 1 }
	/<\/superblock>/ {
		print "  <discards discard_block_size=\"1024\" discard_nr_blocks=\"" n "\">"
		for (c = 0; c < n; c++) {
			set = !(c in m) || (c in d)
			if (set && start < 0) start = c
			if (!set && start >= 0) { print "    <discard dbegin=\"" start "\" dend=\"" c "\"/>"; start = -1 }
		}
		if (start >= 0) print "    <discard dbegin=\"" start "\" dend=\"" n "\"/>"
		print "  </discards>"
	}
	BEGIN { start = -1 }
	{ print }' d.xml >d.want
"$T" d.img >d.ours 2>d.err || bad "discards: exit $?"
cmp -s d.want d.ours || { bad "discards: output is not the expected XML"; diff d.want d.ours | head; }
[ -s d.err ] && bad "discards: stderr '$(cat d.err)'"
grep -q '<discard dbegin=' d.want || bad "discards: no discard range expected"

# A discard count without a block size: a superblock rule without --repair;
# --repair drops the section.
cp d.img dgeo.img
"$CORRUPT" dgeo.img set-sb discard_block_size 0
damaged dgeo dgeo.img d.xml "1 damaged range(s): 0 mapping(s) and 0 hint(s) lost, 0 unreadable dirty bit(s) reported dirty, 1000 discard bit(s) lost" \
	"cache_dump: dgeo.img: superblock is invalid: discard_block_size is 0 (run cache_check for details, or --repair to dump what can be read)"

# A discard geometry too small for the mappings (2000 cache blocks of
# origin, mappings up to 4000): the kernel and the restore refuse that, so
# it is damage; --repair keeps the mappings and leaves the discards out.
cp d.img dsmall.img
"$CORRUPT" dsmall.img set-sb discard_block_size 256
damaged dsmall dsmall.img d.xml "1 damaged range(s): 0 mapping(s) and 0 hint(s) lost, 0 unreadable dirty bit(s) reported dirty, 1000 discard bit(s) lost" "" \
	"cache_dump: repair: a mapping is past the origin size the discard geometry gives; the discards are left out (the kernel sets a new geometry on its next load)"

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all damage cases as expected"
