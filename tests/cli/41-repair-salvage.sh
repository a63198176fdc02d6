#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Damage that makes 0.9.0's cache_repair recover nothing: a zeroed
# superblock, a damaged mapping root (the top interior node of a two-level
# tree), and that plus a lost leaf.  Ours must recover exactly every
# mapping whose leaf survived, each marked dirty (found by the scan, so its
# dirty state is not trusted), with every hint; and its output must pass
# both checkers.  The recovered set is compared line by line with the
# source XML.
set -u
fail() { echo "FAIL: $*"; exit 1; }
N=200000
"$PROGS/gen_xml" --nr-cache-blocks $N --mapped 60 --dirty 30 --seed 11 >src.xml
truncate -s 16M base.img
/usr/sbin/cache_restore -i src.xml -o base.img || fail "reference restore"
C() { "$PROGS/corrupt" "$@"; }

# expected FIRST END: the source, dirty everywhere, without the mappings
# and hints of cache blocks [FIRST, END).
expected() {
	awk -v a="$1" -v b="$2" '
		/<mapping |<hint / {
			match($0, /cache_block="[0-9]+"/)
			c = substr($0, RSTART + 13, RLENGTH - 14) + 0
			if (c >= a && c < b)
				next
		}
		{ gsub(/dirty="false"/, "dirty=\"true\""); print }' src.xml
}

# repair_case NAME FIRST END [repair options]: ours recovers all but
# [FIRST, END), the output checks clean; 0.9.0 recovers nothing.
repair_case() {
	local name=$1 a=$2 b=$3
	shift 3
	rm -f out.img ref.img
	truncate -s 16M out.img ref.img
	"$BIN/cache_repair" -i "$name.img" -o out.img "$@" >"$name.report" 2>&1 ||
		fail "$name: repair failed: $(cat "$name.report")"
	"$BIN/cache_dump" out.img >"$name.xml" || fail "$name: dump"
	expected "$a" "$b" >"$name.want"
	diff -q "$name.want" "$name.xml" >/dev/null ||
		fail "$name: recovered set differs: $(diff "$name.want" "$name.xml" | head -5)"
	"$BIN/cache_check" -q out.img || fail "$name: our check fails the output"
	/usr/sbin/cache_check -q out.img || fail "$name: 0.9.0 check fails the output"
	local got
	got=$(grep -c '<mapping ' "$name.xml")
	# 0.9.0 on the same input: nothing (it fails, or writes no mapping).
	local ref=0
	if /usr/sbin/cache_repair -i "$name.img" -o ref.img >/dev/null 2>&1; then
		ref=$(/usr/sbin/cache_dump ref.img 2>/dev/null | grep -c '<mapping ')
	fi
	[ "$ref" -eq 0 ] || fail "$name: 0.9.0 recovered $ref mappings: case too easy"
	echo "$name: ours $got mappings, 0.9.0 $ref, source $(grep -c '<mapping ' src.xml)"
}

# 1. The superblock zeroed: the block size must be given.
cp base.img sb.img
dd if=/dev/zero of=sb.img bs=4096 count=1 conv=notrunc 2>/dev/null
repair_case sb 0 0 --block-size 128
grep -q 'cache blocks: 200000 (scan, guessed)' sb.report ||
	fail "sb: cache blocks not guessed from the scan: $(cat sb.report)"
grep -q 'block size: 128 (command line)' sb.report || fail "sb: block size"

# 2. The mapping root, an interior node over three leaves, damaged.
cp base.img root.img
root=$(C root.img where mapping-root)
C root.img flip "$root" 200 || fail corrupt
repair_case root 0 0
grep -q "mappings: $(grep -c '<mapping ' src.xml) recovered (0 from the trees" \
	root.report || fail "root: report: $(cat root.report)"

# 3. The root and the leaf holding array blocks 126.. damaged: exactly the
#    cache blocks of that leaf are lost, and reported as such.
cp root.img leaf.img
leaf=$(C base.img where mapping-leaf 126)
C leaf.img flip "$leaf" 100 || fail corrupt
first=$((126 * 509)) end=$((252 * 509))
repair_case leaf $first $end
grep -q "cache blocks $first-$((end - 1))" leaf.report ||
	fail "leaf: lost range not reported: $(cat leaf.report)"
echo ok
