#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_dump on v2 metadata (dirty state in a separate bitset) written by
# the reference cache_restore --metadata-version 2: our dump must give back
# exactly the XML the image was restored from.  The reference dump is no
# oracle here: 0.9.0 ignores the dirty bitset and prints every mapping clean
# (FORMAT.md §7.3), which this test also confirms, so that it notices if the
# images ever stop exercising the bitset.  0.9.0's v2 restore sets the dirty
# bits of unmapped blocks too; only valid mappings are printed, so those
# bits must not show.  Also: the note on stderr for an image without
# CLEAN_SHUTDOWN (v1 and v2), silenced by -q, with the XML unchanged.
set -u
: "${BIN:?}" "${PROGS:?}"
REF_RESTORE=/usr/sbin/cache_restore
REF_DUMP=/usr/sbin/cache_dump
[ -x $REF_RESTORE ] && [ -x $REF_DUMP ] || { echo "no reference tools"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

restore() {
	local xml=$1 img=$2 nr
	shift 2
	nr=$(sed -n 's/.*nr_cache_blocks="\([0-9]*\)".*/\1/p;q' "$xml")
	rm -f "$img"
	truncate -s $((4 * 1024 * 1024 + nr * 40)) "$img"
	$REF_RESTORE -i "$xml" -o "$img" "$@" ||
		{ bad "reference restore of $xml failed"; return 1; }
}

# v2 NAME GEN_XML_ARGS...: generate, restore as v2, dump, compare.
v2() {
	local name=$1 rc
	shift
	"$PROGS/gen_xml" "$@" >"$name.xml" || { bad "$name: gen_xml failed"; return; }
	restore "$name.xml" "$name.img" --metadata-version 2 || return
	"$BIN/cache_dump" "$name.img" >"$name.ours" 2>"$name.err"
	rc=$?
	[ $rc -eq 0 ] || { bad "$name: exit $rc: $(head -n 2 "$name.err")"; return; }
	[ -s "$name.err" ] && bad "$name: stderr not empty: $(head -n 2 "$name.err")"
	cmp -s "$name.xml" "$name.ours" || {
		bad "$name: differs from the restored XML"
		diff "$name.xml" "$name.ours" | head -n 6
	}
}

v2 none --nr-cache-blocks 16 --mapped 0
v2 one --nr-cache-blocks 1 --mapped 100 --dirty 100
v2 full --nr-cache-blocks 4096 --mapped 100 --dirty 0
v2 partly --nr-cache-blocks 5000 --mapped 37 --seed 7
v2 alldirty --nr-cache-blocks 3000 --mapped 100 --dirty 100 --seed 3
v2 far --nr-cache-blocks 2000 --mapped 90 --oblock-max 281474976710655
# 40,000 bits: the dirty bitset spans two array blocks (509 * 64 = 32,576).
v2 twoblocks --nr-cache-blocks 40000 --mapped 50 --dirty 50 --seed 5
v2 big --nr-cache-blocks 300000 --mapped 80 --dirty 30 --seed 11

# The images do exercise the bitset: the source has dirty mappings and
# 0.9.0 prints none of them.
if [ -e partly.img ]; then
	want=$(grep -c 'dirty="true"' partly.xml)
	[ "$want" -gt 0 ] || bad "partly: the source has no dirty mappings"
	$REF_DUMP partly.img >partly.ref 2>/dev/null
	got=$(grep -c 'dirty="true"' partly.ref)
	[ "$got" -eq 0 ] || bad "partly: 0.9.0 printed $got dirty mappings; the premise changed"
fi

# Without CLEAN_SHUTDOWN: one note on stderr, the XML as on disk, -q quiet.
note='cache_dump: note: the metadata was not shut down cleanly: the kernel treats every mapping as dirty on its next load (the dirty flags above are as stored)'
for v in 1 2; do
	"$PROGS/gen_xml" --nr-cache-blocks 600 --mapped 50 --seed $v >unclean$v.xml
	restore unclean$v.xml unclean$v.img --metadata-version $v --omit-clean-shutdown || continue
	"$BIN/cache_dump" unclean$v.img >unclean$v.ours 2>unclean$v.err ||
		bad "unclean v$v: exit $?"
	cmp -s unclean$v.xml unclean$v.ours || bad "unclean v$v: XML differs from the source"
	[ "$(cat unclean$v.err)" = "$note" ] ||
		bad "unclean v$v: stderr is '$(cat unclean$v.err)'"
	"$BIN/cache_dump" -q unclean$v.img >unclean$v.q 2>unclean$v.qerr ||
		bad "unclean v$v -q: exit $?"
	[ -s unclean$v.qerr ] && bad "unclean v$v -q: stderr '$(cat unclean$v.qerr)'"
	cmp -s unclean$v.xml unclean$v.q || bad "unclean v$v -q: XML differs"
done

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all v2 dumps match their source"
