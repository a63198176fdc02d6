# SPDX-License-Identifier: GPL-3.0-or-later
#
# Shared by the cache_writeback tests (tests/cli/5[1-9]-*.sh); sourced, not
# run (the runner only runs *.sh).  Builds a metadata image from gen_xml
# output with the reference cache_restore, stamps the fast and origin images
# with wb_stamp, and checks the outcome block by block.

fail() { echo "FAIL: $*"; exit 1; }
flags() { od -An -tu4 -j4 -N4 "$1" | tr -d ' '; }

# make_case NAME VERSION XMLARGS... : NAME.xml, NAME.meta (clean shutdown).
make_case() {
	local name=$1 version=$2
	shift 2
	"$PROGS/gen_xml" "$@" >"$name.xml" || fail "gen_xml $*"
	rm -f "$name.meta"
	truncate -s 8M "$name.meta"
	/usr/sbin/cache_restore --metadata-version "$version" \
		-i "$name.xml" -o "$name.meta" || fail "restore $name"
}

# xml_attr FILE ATTR: the superblock attribute's value.
xml_attr() {
	sed -n "s/.*<superblock.* $2=\"\\([^\"]*\\)\".*/\\1/p" "$1"
}

# dirty_map XML > MAP: "cblock oblock" of the dirty mappings.
dirty_map() {
	sed -n 's/.*cache_block="\([0-9]*\)" origin_block="\([0-9]*\)" dirty="true".*/\1 \2/p' "$1"
}

# valid_map XML > MAP: every mapping.
valid_map() {
	sed -n 's/.*cache_block="\([0-9]*\)" origin_block="\([0-9]*\)" dirty=.*/\1 \2/p' "$1"
}

# stamp NAME BLOCK_BYTES FAST_OFF_BYTES ORIGIN_OFF_BYTES ORIGIN_BLOCKS
stamp() {
	local name=$1 bb=$2 foff=$3 ooff=$4 oblocks=$5
	local nr
	nr=$(xml_attr "$name.xml" nr_cache_blocks)
	rm -f "$name.fast" "$name.origin"
	"$PROGS/wb_stamp" fill "$name.fast" --block-bytes "$bb" --blocks "$nr" \
		--seed 11 --offset "$foff" || fail "stamp fast"
	"$PROGS/wb_stamp" fill "$name.origin" --block-bytes "$bb" \
		--blocks "$oblocks" --seed 22 --offset "$ooff" ||
		fail "stamp origin"
}

# check_origin NAME MAP BLOCK_BYTES ORIGIN_OFF_BYTES ORIGIN_BLOCKS
check_origin() {
	"$PROGS/wb_stamp" check "$1.origin" --block-bytes "$3" --blocks "$5" \
		--seed 22 --fast-seed 11 --map "$2" --offset "$4" >check.out ||
		fail "$1: origin contents wrong: $(head -5 check.out)"
}

# both_checkers META: our cache_check and 0.9.0's pass it.
both_checkers() {
	"$BIN/cache_check" -q "$1" || fail "$1: our cache_check fails it"
	/usr/sbin/cache_check -q "$1" || fail "$1: 0.9.0 cache_check fails it"
}
