#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_metadata_size --exact against what our cache_restore really
# allocates: for v1 and v2, several cache sizes (empty, one array block,
# several, a two-level btree) and hint widths, the XML from gen_xml is
# restored into a file of exactly the size --exact prints.  The restore
# must fit, the space map's nr_allocated (superblock offset 72) must be
# within 1% of the figure (it is in fact equal), and one block less must
# not be enough.
set -u
fail() { echo "FAIL: $*"; exit 1; }
S="$BIN/cache_metadata_size"
R="$BIN/cache_restore"

try() {
	local v=$1 n=$2 w=$3 mapped=$4 sectors blocks alloc
	"$PROGS/gen_xml" --nr-cache-blocks "$n" --mapped "$mapped" --dirty 40 \
		--hint-width "$w" --seed "$n" >x.xml || fail "gen_xml"
	sectors=$("$S" --nr-blocks "$n" --max-hint-width "$w" --exact \
		--metadata-version "$v" -n | sed -n 2p)
	blocks=$((sectors / 8))
	[ $((blocks * 8)) -eq "$sectors" ] || fail "not whole blocks: $sectors"
	rm -f x.img small.img
	truncate -s $((blocks * 4096)) x.img
	"$R" -q --metadata-version "$v" -i x.xml -o x.img ||
		fail "v$v n=$n w=$w: restore does not fit in $blocks blocks"
	alloc=$(od -An -tu8 -j72 -N8 x.img | tr -d ' ')
	# Within 1%: 100 * |alloc - blocks| <= blocks.
	d=$((alloc > blocks ? alloc - blocks : blocks - alloc))
	[ $((100 * d)) -le "$blocks" ] ||
		fail "v$v n=$n w=$w: --exact says $blocks, restore allocated $alloc"
	truncate -s $(((blocks - 1) * 4096)) small.img
	if "$R" -q --metadata-version "$v" -i x.xml -o small.img 2>/dev/null; then
		fail "v$v n=$n w=$w: fits in $((blocks - 1)) blocks too"
	fi
	echo "v$v n=$n w=$w: exact $blocks, allocated $alloc"
}

for v in 1 2; do
	for n in 0 1 509 510 1000 100000; do
		try $v $n 4 60
	done
	# 300,000 blocks: 590 mapping blocks under a two-level btree.
	try $v 300000 4 0
	try $v 50000 0 60
	try $v 50000 8 60
	try $v 20000 128 30
done
exit 0
