#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# v2 dirty state through repair: an intact v2 image comes out as v2 with
# every dirty bit (0.9.0 writes v1 and drops them all); a lost dirty-bitset
# block makes exactly the mapped blocks it covered dirty, never clean; an
# unclean input stays unclean and every mapping is reported dirty.
set -u
fail() { echo "FAIL: $*"; exit 1; }
N=40000		# two dirty-bitset blocks: words 0-508 and 509-624
"$PROGS/gen_xml" --nr-cache-blocks $N --mapped 70 --dirty 20 --seed 7 >src.xml
truncate -s 8M v2.img
/usr/sbin/cache_restore --metadata-version 2 -i src.xml -o v2.img || fail restore
C() { "$PROGS/corrupt" "$@"; }
version() { od -An -tu4 -j40 -N4 "$1" | tr -d ' '; }
flags() { od -An -tu4 -j4 -N4 "$1" | tr -d ' '; }

repair() {
	rm -f out.img
	truncate -s 8M out.img
	"$BIN/cache_repair" -i "$1" -o out.img >report.txt 2>&1 ||
		fail "repair of $1: $(cat report.txt)"
	"$BIN/cache_check" -q out.img || fail "$1: our check fails the output"
	/usr/sbin/cache_check -q out.img || fail "$1: 0.9.0 check fails it"
	"$BIN/cache_dump" out.img >out.xml || fail "dump"
}

# 1. Intact: same version, same dump, dirty bits and all.
repair v2.img
[ "$(version out.img)" = 2 ] || fail "version $(version out.img), not 2"
[ "$(flags out.img)" = 1 ] || fail "clean shutdown flag lost"
diff -u src.xml out.xml || fail "intact v2 repair changed the metadata"
grep -q 'dirty: '"$(grep -c 'dirty="true"' src.xml)"' (0 marked' report.txt ||
	fail "report: $(cat report.txt)"

# 2. The second dirty-bitset block lost: cache blocks 509*64 = 32576 and up
#    are dirty if mapped; the others keep their bits.
cp v2.img d.img
C d.img flip "$(C d.img where dirty-block 1)" 100 || fail corrupt
repair d.img
awk '/<mapping / {
	match($0, /cache_block="[0-9]+"/)
	c = substr($0, RSTART + 13, RLENGTH - 14) + 0
	if (c >= 32576)
		gsub(/dirty="false"/, "dirty=\"true\"")
     } { print }' src.xml >want.xml
diff -u want.xml out.xml >diff.txt || fail "lost dirty block: $(head -5 diff.txt)"
assumed=$(awk '/<mapping / {
	match($0, /cache_block="[0-9]+"/)
	c = substr($0, RSTART + 13, RLENGTH - 14) + 0
	if (c >= 32576) n++ } END { print n + 0 }' src.xml)
# Every mapped block the lost block covered, dirty or not, was unknown.
[ "$assumed" -gt 0 ] || fail "test needs mappings past 32576"
grep -q "($assumed marked dirty" report.txt || fail "report: $(cat report.txt)"

# 3. Not shut down cleanly: the output is not clean either, and says every
#    mapping is dirty.
cp v2.img u.img
C u.img set-sb flags 0 || fail corrupt
repair u.img
[ "$(flags out.img)" = 0 ] || fail "unclean input gave flags $(flags out.img)"
sed 's/dirty="false"/dirty="true"/' src.xml >want.xml
diff -u want.xml out.xml >diff.txt || fail "unclean: $(head -5 diff.txt)"
grep -q 'without the clean-shutdown flag' report.txt || fail "no note"

# 4. v1 stays v1, byte-for-byte the same XML.
truncate -s 8M v1.img
/usr/sbin/cache_restore --metadata-version 1 -i src.xml -o v1.img || fail restore
repair v1.img
[ "$(version out.img)" = 1 ] || fail "v1 became $(version out.img)"
diff -u src.xml out.xml || fail "intact v1 repair changed the metadata"
echo ok
