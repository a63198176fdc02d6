#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_writeback and the metadata, on images from our own cache_restore:
#  1. unclean shutdown with discards: every discard bit cleared, flags 1;
#  2. unclean shutdown with blocks that fail: those are marked dirty
#     explicitly (their clean flags meant nothing), the rest clean;
#  3. metadata too full for the transaction: "Unable to update metadata",
#     exit 1, the copy done, the old metadata intact and still passing;
#  4. damaged metadata: refused before anything is copied, pointing at
#     cache_repair;
#  5. argument errors: one line each, exit 1.
set -u
. "$TOP/tests/cli/wb-lib.bash"
W="$BIN/cache_writeback"
R="$BIN/cache_restore"

# 1.
cat >d.xml <<'EOF'
<superblock uuid="" block_size="8" nr_cache_blocks="16" policy="smq" hint_width="4">
  <mappings>
    <mapping cache_block="0" origin_block="5" dirty="false"/>
    <mapping cache_block="1" origin_block="100" dirty="true"/>
    <mapping cache_block="7" origin_block="6" dirty="false"/>
  </mappings>
  <hints>
    <hint cache_block="0" data="AQIDBA=="/>
    <hint cache_block="1" data="BQYHCA=="/>
    <hint cache_block="7" data="AAAAAA=="/>
  </hints>
  <discards discard_block_size="16" discard_nr_blocks="1000">
    <discard dbegin="3" dend="70"/>
    <discard dbegin="900" dend="1000"/>
  </discards>
</superblock>
EOF
for v in 1 2; do
	truncate -s 1M d$v.meta
	"$R" -q --metadata-version $v --omit-clean-shutdown -i d.xml -o d$v.meta ||
		fail "restore d$v"
	cp d.xml d$v.xml
	stamp d$v 4096 0 0 200
	out=$("$W" -q --metadata-device d$v.meta --origin-device d$v.origin \
		--fast-device d$v.fast)
	[ $? -eq 0 ] && [ -z "$out" ] || fail "d$v: rc or output with -q: '$out'"
	valid_map d.xml >d.map
	check_origin d$v d.map 4096 0 200
	[ "$(flags d$v.meta)" = 1 ] || fail "d$v: flags $(flags d$v.meta)"
	"$BIN/cache_dump" d$v.meta >d$v.after.xml || fail "d$v: dump"
	sed -e 's/dirty="true"/dirty="false"/' -e '/<discard /d' d.xml >d.want.xml
	diff -u d.want.xml d$v.after.xml || fail "d$v: metadata"
	both_checkers d$v.meta
done

# 2. Unclean, fast device short: cache blocks 150 and up fail, and are
#    dirty afterwards whatever the XML said; the others are clean.
for v in 1 2; do
	n=uf$v
	"$PROGS/gen_xml" --nr-cache-blocks 200 --mapped 90 --dirty 30 \
		--block-size 8 --oblock-max 900 --seed $((60 + v)) >$n.xml
	truncate -s 2M $n.meta
	"$R" -q --metadata-version $v --omit-clean-shutdown -i $n.xml \
		-o $n.meta || fail "restore $n"
	stamp $n 4096 0 0 900
	truncate -s $((150 * 4096)) $n.fast
	"$W" --metadata-device $n.meta --origin-device $n.origin \
		--fast-device $n.fast >out.txt 2>err.txt
	[ $? -eq 1 ] || fail "$n: rc"
	valid_map $n.xml | awk '$1 < 150' >$n.okmap
	check_origin $n $n.okmap 4096 0 900
	[ "$(flags $n.meta)" = 1 ] || fail "$n: flags $(flags $n.meta)"
	"$BIN/cache_dump" $n.meta >$n.after.xml || fail "$n: dump"
	awk '/<mapping / { match($0, /cache_block="[0-9]+"/);
		c = substr($0, RSTART + 13, RLENGTH - 14) + 0;
		if (c >= 150) sub(/dirty="false"/, "dirty=\"true\"");
		else sub(/dirty="true"/, "dirty=\"false\"") }
		{ print }' $n.xml >$n.want.xml
	diff -u $n.want.xml $n.after.xml || fail "$n: metadata"
	grep -q 'dirty="true"' $n.after.xml || fail "$n: nothing failed?"
	both_checkers $n.meta
done

# 3. A metadata device restored into exactly the space it needs has no
#    free block to shadow into: the copy happens, the update fails, and
#    the metadata is what it was.
n=full
"$PROGS/gen_xml" --nr-cache-blocks 3000 --mapped 80 --dirty 50 --block-size 8 \
	--oblock-max 9000 --seed 71 >$n.xml
sectors=$("$BIN/cache_metadata_size" --nr-blocks 3000 --exact -n | sed -n 2p)
truncate -s $((sectors * 512)) $n.meta
"$R" -q -i $n.xml -o $n.meta || fail "restore $n"
cp $n.meta $n.before
stamp $n 4096 0 0 9000
dirty_map $n.xml >$n.map
nd=$(wc -l <$n.map)
"$W" --metadata-device $n.meta --origin-device $n.origin \
	--fast-device $n.fast >out.txt 2>err.txt
[ $? -eq 1 ] || fail "$n: rc"
[ "$(cat out.txt)" = "$nd/$nd blocks successfully copied." ] ||
	fail "$n: $(cat out.txt)"
grep -q "^cache_writeback: Unable to update metadata: .*; the copied blocks are still marked dirty" \
	err.txt || fail "$n: $(cat err.txt)"
cmp -s $n.meta $n.before || fail "$n: a failed update changed the metadata"
check_origin $n $n.map 4096 0 9000
both_checkers $n.meta

# 4. A mapping array block with a bad checksum: refused, nothing copied.
n=bad
make_case $n 1 --nr-cache-blocks 2000 --mapped 80 --dirty 50 --block-size 8 \
	--oblock-max 6000 --seed 81
stamp $n 4096 0 0 6000
blk=$("$PROGS/corrupt" $n.meta where mapping-block 1) || fail "corrupt where"
"$PROGS/corrupt" $n.meta flip "$blk" 100 || fail "corrupt flip"
cp $n.meta $n.before
"$W" --metadata-device $n.meta --origin-device $n.origin \
	--fast-device $n.fast >out.txt 2>err.txt
[ $? -eq 1 ] || fail "$n: rc"
[ ! -s out.txt ] || fail "$n: output $(cat out.txt)"
grep -q "^cache_writeback: $n.meta: the metadata has errors (.*); nothing was copied: run cache_check for details and cache_repair to fix them$" \
	err.txt || fail "$n: $(cat err.txt)"
: >empty.map
check_origin $n empty.map 4096 0 6000
cmp -s $n.meta $n.before || fail "$n: metadata written"

# 5. Arguments.
expect_err() {
	local want=$1
	shift
	"$W" "$@" >out.txt 2>err.txt
	local rc=$?
	[ $rc -eq 1 ] || fail "$*: rc $rc"
	[ "$(cat err.txt)" = "$want" ] || fail "$*: '$(cat err.txt)', wanted '$want'"
	[ ! -s out.txt ] || fail "$*: stdout $(cat out.txt)"
}
D=(--metadata-device bad.meta --origin-device bad.origin --fast-device bad.fast)
expect_err "No metadata device provided." --origin-device o --fast-device f
expect_err "No origin device provided." --metadata-device m --fast-device f
expect_err "No fast device provided." --metadata-device m --origin-device o
expect_err "cache_writeback: offsets must be page aligned (a multiple of 8 sectors): --fast-device-offset 4" \
	"${D[@]}" --fast-device-offset 4
expect_err "cache_writeback: offsets must be page aligned (a multiple of 8 sectors): --origin-device-offset 12" \
	"${D[@]}" --origin-device-offset 12
expect_err "cache_writeback: --buffer-size-meg must be at least 1" \
	"${D[@]}" --buffer-size-meg 0
expect_err "cache_writeback: invalid number for --retry-count: 'x'" \
	"${D[@]}" --retry-count x
expect_err "cache_writeback: --retry-count must be at most 1000: 1001" \
	"${D[@]}" --retry-count 1001
expect_err "cache_writeback: invalid number for --fast-device-offset: '-8'" \
	"${D[@]}" --fast-device-offset -8
expect_err "cache_writeback: unexpected argument: extra" "${D[@]}" extra
make_case ok 1 --nr-cache-blocks 16 --mapped 50 --dirty 50 --block-size 8 \
	--oblock-max 64 --seed 1
expect_err "cache_writeback: nosuch: No such file or directory" \
	--metadata-device ok.meta --origin-device nosuch --fast-device ok.meta
[ "$("$W" -V)" = "1.0.0" ] || fail "-V"
"$W" --help | grep -q -- '--list-failed-blocks' || fail "--help"
exit 0
