#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_writeback when blocks cannot be copied: a fast device too short to
# hold some cache blocks, an origin too short for some origin blocks, and
# real write errors from the kernel (RLIMIT_FSIZE makes every write at or
# past the limit fail with EFBIG, whatever the file's size).  Each time:
# exit 1, the failed blocks listed with their origin block and the error,
# the summary counts them, the blocks that could be copied were copied and
# the others left alone on the origin, and the metadata marks exactly the
# copied blocks clean and keeps the failed ones dirty, passing both
# checkers.  Read errors from the device itself are injected through the
# copier's fault engine in tests/unit/writeback_t.c.
set -u
. "$TOP/tests/cli/wb-lib.bash"
W="$BIN/cache_writeback"

# expect_partial NAME MAP_OK FAILED_LIST VERSION: after a failed run.
expect_after() {
	local n=$1 okmap=$2 failed=$3
	check_origin $n $okmap 4096 0 "$4"
	# The dump: copied blocks clean, failed ones still dirty.
	"$BIN/cache_dump" $n.meta >$n.after.xml || fail "$n: dump"
	awk -v F="$failed" 'BEGIN { n = split(F, a, " "); for (i = 1; i <= n; i++) bad[a[i]] = 1 }
		/<mapping / { match($0, /cache_block="[0-9]+"/);
			c = substr($0, RSTART + 13, RLENGTH - 14);
			if (!(c in bad)) sub(/dirty="true"/, "dirty=\"false\"") }
		{ print }' $n.xml >$n.want.xml
	diff -u $n.want.xml $n.after.xml || fail "$n: metadata after the run"
	both_checkers $n.meta
}

# 1. The fast device ends before the last 20 cache blocks.
for v in 1 2; do
	n=short$v
	make_case $n $v --nr-cache-blocks 200 --mapped 100 --dirty 50 \
		--block-size 8 --oblock-max 800 --seed $((40 + v))
	stamp $n 4096 0 0 800
	truncate -s $((180 * 4096)) $n.fast
	dirty_map $n.xml >$n.map
	awk '$1 < 180' $n.map >$n.okmap
	failed=$(awk '$1 >= 180 { printf "%s ", $1 }' $n.map)
	nd=$(wc -l <$n.map)
	nok=$(wc -l <$n.okmap)
	nf=$((nd - nok))
	[ $nf -gt 0 ] || fail "$n: nothing past the end"
	"$W" --metadata-device $n.meta --origin-device $n.origin \
		--fast-device $n.fast --list-failed-blocks >out.txt 2>err.txt
	rc=$?
	[ $rc -eq 1 ] || fail "$n: rc $rc"
	awk '$1 >= 180 { printf "cache block %s (origin block %s): past the end of the fast device\n", $1, $2 }' \
		$n.map >want.txt
	echo "$nok/$nd blocks successfully copied." >>want.txt
	echo "$nf blocks were not copied" >>want.txt
	diff -u want.txt out.txt || fail "$n: output"
	expect_after $n $n.okmap "$failed" 800
done

# Without --list-failed-blocks, a hint on stderr instead of the list.
n=short1
make_case $n 1 --nr-cache-blocks 200 --mapped 100 --dirty 50 --block-size 8 \
	--oblock-max 800 --seed 41
stamp $n 4096 0 0 800
truncate -s $((180 * 4096)) $n.fast
"$W" --metadata-device $n.meta --origin-device $n.origin \
	--fast-device $n.fast >out.txt 2>err.txt && fail "short1: rc 0"
grep -q '^cache block' out.txt && fail "listed without --list-failed-blocks"
grep -q 'not copied and left dirty (--list-failed-blocks lists them)' err.txt ||
	fail "no hint: $(cat err.txt)"

# 2. The origin ends before origin block 300.
n=oshort
make_case $n 2 --nr-cache-blocks 200 --mapped 100 --dirty 60 --block-size 8 \
	--oblock-max 800 --seed 43
stamp $n 4096 0 0 800
truncate -s $((300 * 4096)) $n.origin
dirty_map $n.xml >$n.map
awk '$2 < 300' $n.map >$n.okmap
failed=$(awk '$2 >= 300 { printf "%s ", $1 }' $n.map)
[ -n "$failed" ] || fail "oshort: nothing past the end"
"$W" --metadata-device $n.meta --origin-device $n.origin \
	--fast-device $n.fast --list-failed-blocks >out.txt 2>err.txt
[ $? -eq 1 ] || fail "oshort: rc"
grep -c 'past the end of the origin device$' out.txt |
	grep -qx "$(echo $failed | wc -w)" || fail "oshort: $(cat out.txt)"
"$PROGS/wb_stamp" check $n.origin --block-bytes 4096 --blocks 300 --seed 22 \
	--fast-seed 11 --map $n.okmap >check.out || fail "oshort: $(head -3 check.out)"
"$BIN/cache_dump" $n.meta >$n.after.xml
for c in $failed; do
	grep -q "cache_block=\"$c\" .* dirty=\"true\"" $n.after.xml ||
		fail "oshort: block $c not left dirty"
done
[ "$(grep -c 'dirty="true"' $n.after.xml)" = "$(echo $failed | wc -w)" ] ||
	fail "oshort: wrong dirty count"
both_checkers $n.meta

# 3. Write errors: writes at or past 1500 * 4 KiB fail with EFBIG (the
#    kernel's, through RLIMIT_FSIZE; SIGXFSZ ignored).  The metadata (4 MiB)
#    lies below the limit.  Retries do not help: still failed, still dirty.
for v in 1 2; do
	n=efbig$v
	"$PROGS/gen_xml" --nr-cache-blocks 400 --mapped 100 --dirty 60 \
		--block-size 8 --oblock-max 4000 --seed $((50 + v)) >$n.xml
	truncate -s 4M $n.meta
	/usr/sbin/cache_restore --metadata-version $v -i $n.xml -o $n.meta ||
		fail "restore $n"
	stamp $n 4096 0 0 4000
	dirty_map $n.xml >$n.map
	awk '$2 < 1500' $n.map >$n.okmap
	failed=$(awk '$2 >= 1500 { printf "%s ", $1 }' $n.map)
	nf=$(echo $failed | wc -w)
	[ $nf -gt 0 ] || fail "$n: no block past the limit"
	(
		trap '' XFSZ
		ulimit -f $((1500 * 4))
		exec "$W" --metadata-device $n.meta --origin-device $n.origin \
			--fast-device $n.fast --list-failed-blocks \
			--retry-count 2 >out.txt 2>err.txt
	)
	rc=$?
	[ $rc -eq 1 ] || fail "$n: rc $rc $(cat err.txt)"
	awk '$2 >= 1500 { printf "cache block %s (origin block %s): write error: File too large\n", $1, $2 }' \
		$n.map >want.txt
	grep '^cache block' out.txt | diff -u want.txt - || fail "$n: list"
	grep -qx "$nf blocks were not copied" out.txt || fail "$n: summary"
	# Blocks below the limit copied; at or past it, untouched.
	expect_after $n $n.okmap "$failed" 4000
done
exit 0
