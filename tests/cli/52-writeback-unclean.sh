#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_writeback after an unclean shutdown (CLEAN_SHUTDOWN clear): every
# valid block is copied whatever its dirty flag says, and afterwards the
# metadata says so exactly: all mappings clean, CLEAN_SHUTDOWN set, discard
# bits none.  --no-metadata-update copies but leaves the metadata byte for
# byte as it was, and opens it read-only.
set -u
. "$TOP/tests/cli/wb-lib.bash"
W="$BIN/cache_writeback"

for v in 1 2; do
	n=u$v
	"$PROGS/gen_xml" --nr-cache-blocks 500 --mapped 70 --dirty 30 \
		--block-size 16 --oblock-max 3000 --seed $((20 + v)) >$n.xml
	truncate -s 8M $n.meta
	/usr/sbin/cache_restore --metadata-version $v --omit-clean-shutdown \
		-i $n.xml -o $n.meta || fail "restore $n"
	[ "$(flags $n.meta)" = 0 ] || fail "$n: not unclean to start with"
	stamp $n 8192 0 0 3000
	valid_map $n.xml >$n.map
	nvalid=$(wc -l <$n.map)
	ndirty=$(dirty_map $n.xml | wc -l)
	[ "$nvalid" -gt "$ndirty" ] || fail "$n: need clean mappings too"

	out=$("$W" --metadata-device $n.meta --origin-device $n.origin \
		--fast-device $n.fast 2>err.txt)
	rc=$?
	[ $rc -eq 0 ] || fail "$n: rc $rc $(cat err.txt)"
	[ "$out" = "$nvalid/$nvalid blocks successfully copied." ] ||
		fail "$n: summary '$out' (valid $nvalid, dirty $ndirty)"
	grep -q "not shut down cleanly: copying every valid block ($nvalid)" \
		err.txt || fail "$n: no unclean notice: $(cat err.txt)"
	check_origin $n $n.map 8192 0 3000
	grep -q "^ok: $nvalid copied," check.out || fail "$n: $(cat check.out)"

	[ "$(flags $n.meta)" = 1 ] || fail "$n: CLEAN_SHUTDOWN not set"
	"$BIN/cache_dump" $n.meta >$n.after.xml || fail "$n: dump"
	sed 's/dirty="true"/dirty="false"/' $n.xml >$n.want.xml
	diff -u $n.want.xml $n.after.xml || fail "$n: metadata after writeback"
	both_checkers $n.meta
done

# --no-metadata-update: the data moves, the metadata does not change, and
# a read-only metadata file is enough.
n=nu
make_case $n 2 --nr-cache-blocks 256 --mapped 90 --dirty 50 --block-size 8 \
	--oblock-max 600 --seed 31
stamp $n 4096 0 0 600
dirty_map $n.xml >$n.map
cp $n.meta $n.before
chmod a-w $n.meta
out=$("$W" --metadata-device $n.meta --origin-device $n.origin \
	--fast-device $n.fast --no-metadata-update)
[ $? -eq 0 ] || fail "no-update rc"
nd=$(wc -l <$n.map)
[ "$out" = "$nd/$nd blocks successfully copied." ] || fail "no-update: '$out'"
cmp $n.meta $n.before || fail "--no-metadata-update changed the metadata"
check_origin $n $n.map 4096 0 600
# Without the flag a read-only metadata file is refused before any copy
# (root may write it anyway: nothing to learn then).
[ "$(id -u)" = 0 ] && exit 0
stamp $n 4096 0 0 600
"$W" --metadata-device $n.meta --origin-device $n.origin \
	--fast-device $n.fast >out.txt 2>err.txt && fail "wrote a read-only file"
grep -q "$n.meta" err.txt || fail "read-only: $(cat err.txt)"
: >empty.map
check_origin $n empty.map 4096 0 600
exit 0
