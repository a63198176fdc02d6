#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_dump on v1 metadata written by the reference cache_restore: our dump
# must be byte-identical to the reference cache_dump's and to the XML the
# image was restored from (gen_xml writes cache_dump's exact layout), with
# exit 0 and nothing on stderr.  Covers no mappings, one cache block, full,
# partly mapped, all dirty, array-block edges (509/510/1018/1019 entries),
# origin blocks up to 2^48 - 1, other policies and block sizes, and a
# 300,000-block cache whose mapping btree has an internal root.  An empty
# cache (0 blocks), which 0.9.0 cannot dump, is checked against its exact
# expected text instead.
set -u
: "${BIN:?}" "${PROGS:?}"
REF_RESTORE=/usr/sbin/cache_restore
REF_DUMP=/usr/sbin/cache_dump
[ -x $REF_RESTORE ] && [ -x $REF_DUMP ] || { echo "no reference tools"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# restore XML IMG [restore args]: a sparse image big enough for the XML.
restore() {
	local xml=$1 img=$2 nr
	shift 2
	nr=$(sed -n 's/.*nr_cache_blocks="\([0-9]*\)".*/\1/p;q' "$xml")
	rm -f "$img"
	truncate -s $((4 * 1024 * 1024 + nr * 40)) "$img"
	$REF_RESTORE -i "$xml" -o "$img" "$@" ||
		{ bad "reference restore of $xml failed"; return 1; }
}

# same NAME: dumps NAME.img with both tools, compares with NAME.xml.
same() {
	local name=$1 rc
	"$BIN/cache_dump" "$name.img" >"$name.ours" 2>"$name.err"
	rc=$?
	[ $rc -eq 0 ] || { bad "$name: exit $rc: $(head -n 2 "$name.err")"; return; }
	[ -s "$name.err" ] && bad "$name: stderr not empty: $(head -n 2 "$name.err")"
	$REF_DUMP "$name.img" >"$name.ref" 2>/dev/null ||
		bad "$name: the reference dump failed"
	cmp -s "$name.ref" "$name.ours" || {
		bad "$name: differs from the reference dump"
		diff "$name.ref" "$name.ours" | head -n 6
	}
	cmp -s "$name.xml" "$name.ours" || {
		bad "$name: differs from the restored XML"
		diff "$name.xml" "$name.ours" | head -n 6
	}
}

# gen NAME GEN_XML_ARGS...: generate, restore (v1), compare.
gen() {
	local name=$1
	shift
	"$PROGS/gen_xml" "$@" >"$name.xml" || { bad "$name: gen_xml failed"; return; }
	restore "$name.xml" "$name.img" && same "$name"
}

gen none --nr-cache-blocks 16 --mapped 0
gen one --nr-cache-blocks 1 --mapped 100 --dirty 100
gen full --nr-cache-blocks 4096 --mapped 100 --dirty 0
gen partly --nr-cache-blocks 5000 --mapped 37 --seed 7
gen alldirty --nr-cache-blocks 3000 --mapped 100 --dirty 100 --seed 3
for n in 509 510 1018 1019; do
	gen "edge$n" --nr-cache-blocks $n --mapped 60 --seed $n
done
gen far --nr-cache-blocks 2000 --mapped 90 --oblock-max 281474976710655
gen mq --nr-cache-blocks 700 --mapped 50 --policy mq --block-size 64
gen cleaner --nr-cache-blocks 100 --mapped 80 --policy cleaner --block-size 2097152
gen big --nr-cache-blocks 300000 --mapped 80 --dirty 30 --seed 11

# The extremes of the origin block range, hand-written.
cat >edges.xml <<'EOF'
<superblock uuid="" block_size="128" nr_cache_blocks="4" policy="smq" hint_width="4">
  <mappings>
    <mapping cache_block="0" origin_block="0" dirty="true"/>
    <mapping cache_block="1" origin_block="281474976710655" dirty="false"/>
    <mapping cache_block="3" origin_block="281474976710654" dirty="true"/>
  </mappings>
  <hints>
    <hint cache_block="0" data="AAAAAA=="/>
    <hint cache_block="1" data="/////w=="/>
    <hint cache_block="3" data="AQIDBA=="/>
  </hints>
</superblock>
EOF
restore edges.xml edges.img && same edges

# The multi-level case must really be multi-level: the mapping root of a
# 300,000-block cache is an internal node (flags 1 at offset 4).
if [ -e big.img ]; then
	root=$(od -A n -t u8 -j 192 -N 8 big.img | tr -d ' ')
	flags=$(od -A n -t u4 -j $((root * 4096 + 4)) -N 4 big.img | tr -d ' ')
	[ "$flags" = 1 ] || bad "big: mapping root $root is not internal (flags $flags)"
fi

# 0 cache blocks: 0.9.0 fails to dump it (FORMAT.md §7.3); we print the
# empty document.
cat >zero.xml <<'EOF'
<superblock uuid="" block_size="128" nr_cache_blocks="0" policy="smq" hint_width="4">
  <mappings>
  </mappings>
  <hints>
  </hints>
</superblock>
EOF
if restore zero.xml zero.img; then
	"$BIN/cache_dump" zero.img >zero.ours 2>zero.err ||
		bad "zero: exit $?: $(head -n 2 zero.err)"
	cmp -s zero.xml zero.ours || { bad "zero: wrong dump"; diff zero.xml zero.ours; }
fi

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all v1 dumps identical"
