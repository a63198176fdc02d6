#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Issue 12 finding 7: cache block sizes the kernel cannot use (not a
# multiple of 64 sectors, or outside 64..2097152).  cache_metadata_size
# refuses them with the newer reference's words, exit 1; cache_restore
# restores them and warns (one line, exit 0); cache_check warns after its
# passes (one line, exit unchanged; nothing with -q or
# --ignore-non-fatal-errors).  Sizes the kernel takes give no line at all.
set -u
: "${BIN:?}" "${PROGS:?}"
REF=/usr/sbin
[ -x $REF/cache_restore ] || { echo "no reference cache_restore"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

range="(the kernel takes 64 to 2097152 sectors, a multiple of 64)"
multiple="block size must be a multiple of 32 KiB"
maximum="maximum block size is 1 GiB"

# ---- cache_metadata_size ----
msize() {
	local bs=$1 want=$2 out rc
	out=$("$BIN/cache_metadata_size" --device-size 100g --block-size "$bs" 2>err.txt)
	rc=$?
	if [ -z "$want" ]; then
		[ $rc -eq 0 ] && [ -n "$out" ] && [ ! -s err.txt ] ||
			bad "metadata_size --block-size $bs: rc=$rc out='$out' err='$(cat err.txt)'"
	else
		[ $rc -eq 1 ] && [ -z "$out" ] &&
		[ "$(cat err.txt)" = "$want: --block-size $bs $range" ] ||
			bad "metadata_size --block-size $bs: rc=$rc out='$out' err='$(cat err.txt)'"
	fi
}
for bs in 64 128 192 4096 2097088 2097152 32k 64k 1m 1g 65536b; do
	msize $bs ""
done
for bs in 0 1 32 63 65 100 96 2097151 2097153 16k 48k 1000b 32767b; do
	msize $bs "$multiple"
done
for bs in 2097216 4194304 2g 4294967232; do
	msize $bs "$maximum"
done
# 0.9.0 printed a size for them (or crashed, for 0).
[ "$($REF/cache_metadata_size --device-size 1000000 --block-size 100)" = "8738 sectors" ] ||
	bad "reference: not what this test says it does"

# ---- cache_restore and cache_check ----
# image BS: bs.img restored from XML with block_size BS (by our restore,
# whose stderr is kept in restore-BS.err).
image() {
	"$PROGS/gen_xml" --nr-cache-blocks 64 --mapped 50 --block-size "$1" >"bs$1.xml"
	truncate -s 4M "bs$1.img"
	"$BIN/cache_restore" -i "bs$1.xml" -o "bs$1.img" 2>"restore-$1.err"
	echo $?
}
warning() {
	echo "$1: warning: the cache block size is $2 sectors: $3 $range and cannot use this metadata"
}
for bs in 64 128 2097152; do
	rc=$(image $bs)
	[ "$rc" = 0 ] && [ ! -s restore-$bs.err ] ||
		bad "restore block size $bs: rc=$rc err='$(cat restore-$bs.err)'"
	"$BIN/cache_check" bs$bs.img >out.txt 2>err.txt || bad "check block size $bs: exit $?"
	grep -q warning err.txt && bad "check block size $bs: '$(cat err.txt)'"
done
for bs in 100 32 65 4194304; do
	why=$multiple
	[ $bs -gt 2097152 ] && why=$maximum
	rc=$(image $bs)
	[ "$rc" = 0 ] || bad "restore block size $bs: exit $rc"
	[ "$(cat restore-$bs.err)" = "$(warning cache_restore $bs "$why")" ] ||
		bad "restore block size $bs: stderr '$(cat restore-$bs.err)'"
	# The metadata is what the XML says: the dump gives it back.
	"$BIN/cache_dump" bs$bs.img | cmp -s - bs$bs.xml || bad "dump of block size $bs differs"

	"$BIN/cache_check" bs$bs.img >out.txt 2>err.txt
	rc=$?
	[ $rc -eq 0 ] || bad "check block size $bs: exit $rc"
	[ "$(tail -n 1 err.txt)" = "$(warning cache_check $bs "$why")" ] ||
		bad "check block size $bs: last line '$(tail -n 1 err.txt)'"
	[ "$(grep -c warning err.txt)" = 1 ] || bad "check block size $bs: '$(cat err.txt)'"
	"$BIN/cache_check" -q bs$bs.img >out.txt 2>err.txt || bad "check -q block size $bs: exit $?"
	[ -s err.txt ] && bad "check -q block size $bs: '$(cat err.txt)'"
	"$BIN/cache_check" --ignore-non-fatal-errors bs$bs.img >out.txt 2>err.txt ||
		bad "check --ignore-non-fatal-errors block size $bs: exit $?"
	grep -q warning err.txt && bad "check --ignore-non-fatal-errors block size $bs: '$(cat err.txt)'"
	# The reference restore writes the same superblock: the same warning.
	truncate -s 4M ref$bs.img
	$REF/cache_restore -i bs$bs.xml -o ref$bs.img || bad "reference restore $bs"
	"$BIN/cache_check" ref$bs.img 2>&1 >/dev/null | tail -n 1 >ref.txt
	[ "$(cat ref.txt)" = "$(warning cache_check $bs "$why")" ] ||
		bad "check of the reference's block size $bs: '$(cat ref.txt)'"
done
# A fatal check keeps exit 1 and still warns.
cp bs100.img dam.img
"$PROGS/corrupt" dam.img set-sb cache_blocks 70 || bad "corrupt"
"$BIN/cache_check" dam.img >out.txt 2>err.txt
rc=$?
[ $rc -eq 1 ] || bad "damaged block size 100: exit $rc"
[ "$(tail -n 1 err.txt)" = "$(warning cache_check 100 "$multiple")" ] ||
	bad "damaged block size 100: last line '$(tail -n 1 err.txt)'"

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "block sizes as the kernel takes them"
