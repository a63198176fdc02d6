#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_repair cross-checks the superblock's fields against the structures
# (issue 12, findings 1, 2 and 9): each case damages one checksum-valid
# superblock field that a structure also records, and the repair must
# recover exactly the source (mappings, dirty bits and hints, compared line
# by line with the source XML), say in its report which side won and why,
# and write an output both checkers pass and a second repair leaves as it
# is, byte for byte.  On the code before the cross-check every damage case
# but 12 (a guard: there the superblock already won) lost mappings or
# dirty state, or wrote an output the reference checker rejects.
set -u
# fail exits the case's subshell; every case runs, the count decides.
fail() { echo "FAIL: $*"; exit 1; }
N=5000
"$PROGS/gen_xml" --nr-cache-blocks $N --mapped 60 --dirty 30 --seed 5 \
	--oblock-max 40000 >src.xml
total=$(grep -c '<mapping ' src.xml)
dirty=$(grep -c 'dirty="true"' src.xml)
truncate -s 4M v2.img v1.img
/usr/sbin/cache_restore --metadata-version 2 -i src.xml -o v2.img || fail restore
/usr/sbin/cache_restore --metadata-version 1 -i src.xml -o v1.img || fail restore
C() { "$PROGS/corrupt" "$@"; }
version() { od -An -tu4 -j40 -N4 "$1" | tr -d ' '; }

# repair NAME IMG: repairs IMG into NAME.out, dumps it to NAME.xml; both
# checkers must pass the output.
repair() {
	rm -f "$1.out"
	truncate -s 4M "$1.out"
	"$BIN/cache_repair" -i "$2" -o "$1.out" >"$1.report" 2>&1 ||
		fail "$1: repair failed: $(cat "$1.report")"
	"$BIN/cache_check" -q "$1.out" || fail "$1: our check fails the output"
	/usr/sbin/cache_check -q "$1.out" ||
		fail "$1: 0.9.0 check fails the output"
	"$BIN/cache_dump" "$1.out" >"$1.xml" || fail "$1: dump"
	# The second-run rule: the repaired image repairs to the same bytes.
	rm -f "$1.again"
	truncate -s 4M "$1.again"
	"$BIN/cache_repair" -i "$1.out" -o "$1.again" >/dev/null 2>&1 ||
		fail "$1: repairing the output failed"
	cmp -s "$1.out" "$1.again" || fail "$1: a second repair changed the output"
}
# same NAME [WANT]: the recovered metadata is exactly WANT (default src.xml).
same() {
	diff -u "${2:-src.xml}" "$1.xml" >"$1.diff" ||
		fail "$1: recovered set differs ($(grep -c '^[-+] *<mapping' "$1.diff") mapping lines): $(head -8 "$1.diff")"
}
says() {
	grep -qF -- "$2" "$1.report" || fail "$1: report lacks '$2': $(cat "$1.report")"
}

# 1. Finding 1: cache_blocks zeroed in a checksum-valid superblock.  The
#    mapping and hint arrays agree on N: they win, every mapping is kept
#    with its dirty state.
case_1() {
	cp v2.img nr0.img
	C nr0.img set-sb cache_blocks 0 || fail corrupt
	repair nr0 nr0.img
	same nr0
	says nr0 "cache blocks: $N (structures: the mapping and hint arrays hold $N entries; the superblock said 0)"
	says nr0 "dirty: $dirty (0 marked"
}

# 2. ... and a count the arrays do not confirm: cache_blocks one more than
#    the arrays hold.  The structures agree: they win.
case_2() {
	cp v2.img nr1.img
	C nr1.img set-sb cache_blocks $((N + 1)) || fail corrupt
	repair nr1 nr1.img
	same nr1
	says nr1 "the superblock said $((N + 1))"
}

# 3. Finding 1, the other way round: a device cut after its superblock.
#    Nothing contradicts the count: it is kept (the output holds it), and
#    every mapping is reported lost.
case_3() {
	head -c 4096 v2.img >cut.img
	repair cut cut.img
	grep -q "nr_cache_blocks=\"$N\"" cut.xml || fail "cut: count not kept: $(head -1 cut.xml)"
	[ "$(grep -c '<mapping ' cut.xml)" = 0 ] || fail "cut: mappings from nowhere"
	says cut "mappings not recovered ($N)"
}

# 4. Finding 9: only policy_hint_size wrong (7, with the variable-hint-size
#    bit, so that both readers take it).  The hint array's value size wins;
#    the mappings come from the tree with their clean state.
case_4() {
	cp v2.img hint.img
	C hint.img set-sb incompat_flags 1 || fail corrupt
	C hint.img set-sb policy_hint_size 7 || fail corrupt
	repair hint hint.img
	same hint
	says hint "hint width: 4 (structures: the hint array's values are 4 bytes; the superblock said 7)"
	says hint "($total from the trees, 0 by scanning)"
}

# 5. ... and with no hint array to say otherwise (hint_root 0): the width is
#    a default, the mappings are still read from the tree, clean state kept.
case_5() {
	cp hint.img nohint.img
	C nohint.img set-sb hint_root 0 || fail corrupt
	repair nohint nohint.img
	grep -v '<hint ' src.xml | sed '/<hints>/,/<\/hints>/d' >nohint.want
	grep -v '<hint ' nohint.xml | sed '/<hints>/,/<\/hints>/d' >nohint.got
	diff -u nohint.want nohint.got >nohint.diff ||
		fail "nohint: mappings differ: $(head -8 nohint.diff)"
	says nohint "($total from the trees, 0 by scanning)"
}

# 6. Finding 2: a v2 image labelled version 1, dirty root intact.  Read as
#    v1 every dirty block looks clean; the bitset at the dirty root wins.
case_6() {
	cp v2.img lab1.img
	C lab1.img set-sb version 1 || fail corrupt
	repair lab1 lab1.img
	same lab1
	[ "$(version lab1.out)" = 2 ] || fail "lab1: version $(version lab1.out)"
	says lab1 "metadata version: 2 (structures: a dirty bitset of the cache's length is at dirty_root"
}

# 7. ... and with the dirty root cleared too, as a v1 superblock has it: the
#    bitset is still allocated in the space map, referenced by nothing.
case_7() {
	cp lab1.img lab0.img
	C lab0.img set-sb dirty_root 0 || fail corrupt
	repair lab0 lab0.img
	same lab0
	[ "$(version lab0.out)" = 2 ] || fail "lab0: version $(version lab0.out)"
	says lab0 "an unreferenced dirty bitset of the cache's length is at block"
	says lab0 "dirty bitset: found unreferenced at block"
}

# 8. A v2 superblock whose dirty root was lost: the same search, the dirty
#    state kept instead of every mapping assumed dirty.
case_8() {
	cp v2.img dr0.img
	C dr0.img set-sb dirty_root 0 || fail corrupt
	repair dr0 dr0.img
	same dr0
	says dr0 "dirty: $dirty (0 marked"
}

# 9. A v1 image labelled version 2 (no dirty root): the mappings' v1 dirty
#    flags say v1; the dirty state is kept, the output is v1.
case_9() {
	cp v1.img lab2.img
	C lab2.img set-sb version 2 || fail corrupt
	repair lab2 lab2.img
	same lab2
	[ "$(version lab2.out)" = 1 ] || fail "lab2: version $(version lab2.out)"
	says lab2 "metadata version: 1 (structures: $dirty mapping(s) carry the v1 dirty flag"
}

# 10. The discard geometry against the discard bitset: a count the bitset
#     cannot hold is dropped with its bits (a hint; the kernel sets a new
#     geometry at the next load), and the report says why.
case_10() {
	sed 's|</superblock>|  <discards discard_block_size="128" discard_nr_blocks="40000">\n    <discard dbegin="10" dend="20"/>\n  </discards>\n</superblock>|' \
		src.xml >disc.xml
	truncate -s 4M disc.img
	"$BIN/cache_restore" -i disc.xml -o disc.img || fail "restore with discards"
	C disc.img set-sb discard_nr_blocks 60000 || fail corrupt
	repair disc disc.img
	same disc
	says disc "discard geometry: none (structures: the discard bitset holds 625 words; the superblock's 60000 blocks need 938: geometry and bits dropped)"
}

# 11. Intact images: nothing said, nothing changed.
case_11() {
	repair v2 v2.img
	same v2
	repair v1 v1.img
	same v1
	! grep -q 'structures' v2.report v1.report || fail "intact: $(cat v2.report v1.report)"
}

# 12. The structures disagree: the hint array's last block says it holds
#     fewer entries than the mapping array.  The superblock agrees with the
#     mapping array and breaks the tie; the hints of that block are lost
#     (written as 0), nothing else.
hints_lost_from() {
	awk -v a="$1" '/<hint / {
		match($0, /cache_block="[0-9]+"/)
		c = substr($0, RSTART + 13, RLENGTH - 14) + 0
		if (c >= a)
			sub(/data="[^"]*"/, "data=\"AAAAAA==\"")
	} { print }' src.xml
}
case_12() {
	cp v2.img tie.img
	C tie.img set-u32 "$(C tie.img where hint-block 4)" 8 900 --resum array ||
		fail corrupt
	repair tie tie.img
	hints_lost_from 4072 >tie.want
	same tie tie.want
	says tie "cache blocks: $N (superblock: the superblock agrees with the mapping array; the hint array holds 4972)"
}

# 13. ... and with the superblock's count zeroed: nothing breaks the tie,
#     the mapping array (it holds the data) wins.
case_13() {
	cp v2.img tie0.img
	C tie0.img set-u32 "$(C tie0.img where hint-block 4)" 8 900 --resum array ||
		fail corrupt
	C tie0.img set-sb cache_blocks 0 || fail corrupt
	repair tie0 tie0.img
	hints_lost_from 4072 >tie0.want
	same tie0 tie0.want
	says tie0 "cache blocks: $N (structures: the mapping array holds $N entries (the hint array 4972); the superblock said 0)"
}

# 14. The count zeroed and only the dirty bitset left to contradict it
#     (mapping and hint roots cleared): it gives the count to within 64,
#     so the scan finds the arrays and the count; every mapping comes back
#     (dirty: found by the scan).
case_14() {
	cp v2.img dbs.img
	C dbs.img set-sb cache_blocks 0 || fail corrupt
	C dbs.img set-sb mapping_root 0 || fail corrupt
	C dbs.img set-sb hint_root 0 || fail corrupt
	repair dbs dbs.img
	sed 's/dirty="false"/dirty="true"/' src.xml >dbs.want
	same dbs dbs.want
	says dbs "the dirty bitset holds 79 words, for 4993 to 5056 cache blocks; the superblock said 0: left to the scan"
}

# 15. A version outside 1..2 in a checksum-valid superblock: the structures
#     settle the version (the dirty bitset for v2, the mappings' v1 dirty
#     flags for v1), and the checksum vouches for the clean-shutdown flag,
#     so the clean state is not lost with the version.
case_15() {
	cp v2.img ver2.img
	C ver2.img set-sb version 3 || fail corrupt
	repair ver2 ver2.img
	same ver2
	[ "$(version ver2.out)" = 2 ] || fail "ver2: version $(version ver2.out)"
	says ver2 "metadata version: 2 (structures: a dirty bitset of the cache's length is at dirty_root"
	says ver2 "flags: clean (damaged superblock: the checksum is right and only the version is wrong"
	cp v1.img ver1.img
	C ver1.img set-sb version 3 || fail corrupt
	repair ver1 ver1.img
	same ver1
	[ "$(version ver1.out)" = 1 ] || fail "ver1: version $(version ver1.out)"
	says ver1 "metadata version: 1 (structures: $dirty mapping(s) carry the v1 dirty flag and there is no dirty root; the superblock said 3)"
}

# 16. Nothing to take the count from (block 0 and everything else zeroed):
#     a count of 0 would be no guess but an empty cache (which 0.9.0's
#     checker rejects).  Exit 1, the option to give named, the output
#     untouched.
case_16() {
	truncate -s 4M blank.img
	head -c 4194304 /dev/urandom >blank.out 2>/dev/null ||
		fail "no /dev/urandom"
	cp blank.out blank.before
	"$BIN/cache_repair" -i blank.img -o blank.out --block-size 128 \
		>blank.report 2>blank.err
	rc=$?
	[ $rc -eq 1 ] || fail "blank: exit $rc: $(cat blank.report)"
	[ "$(cat blank.err)" = "cache_repair: blank.img: the superblock is all zeroes and no mapping array was found: the number of cache blocks cannot be recovered: give it with --nr-cache-blocks" ] ||
		fail "blank: message: $(cat blank.err)"
	cmp -s blank.out blank.before || fail "blank: the output was written"
}

failed=0
for c in case_1 case_2 case_3 case_4 case_5 case_6 case_7 case_8 case_9 case_10 case_11 \
	 case_12 case_13 case_14 case_15 case_16; do
	( $c ) || failed=$((failed + 1))
done
[ $failed -eq 0 ] || fail "$failed case(s) failed"
echo ok
