#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_repair's front end: help and version, every usage error with its
# message and exit code, LVM's extra empty argument, and the promise that a
# bad input never touches the output (which must exist beforehand).
set -u
R="$BIN/cache_repair"
fail() { echo "FAIL: $*"; exit 1; }

# expect CODE MESSAGE-PATTERN -- ARGS...: exit code and the stderr line.
expect() {
	local code=$1 pat=$2
	shift 3
	"$R" "$@" >out.txt 2>err.txt
	local rc=$?
	[ $rc -eq "$code" ] || fail "$* exited $rc, not $code: $(cat err.txt)"
	grep -q -- "$pat" err.txt || fail "$*: no '$pat' in: $(cat err.txt)"
}

"$R" -V >v.txt || fail "-V"
grep -qx '[0-9]*\.[0-9]*\.[0-9]*' v.txt || fail "-V prints $(cat v.txt)"
"$R" --help >h.txt || fail "--help"
for o in --input --output --xml --block-size --nr-cache-blocks --policy \
	--metadata-version --hint-width --quiet; do
	grep -q -- "$o" h.txt || fail "--help lacks $o"
done

"$PROGS/gen_xml" --nr-cache-blocks 1000 --mapped 60 --seed 4 >src.xml
truncate -s 4M in.img
/usr/sbin/cache_restore -i src.xml -o in.img || fail "reference restore"
# The output is stamped so that any write to it shows.
head -c 4194304 /dev/urandom >out.img
cp out.img out.orig

expect 1 "No input file provided (-i)" -- -o out.img
expect 1 "No output file provided (-o, or --xml)" -- -i in.img
expect 1 "unexpected argument: junk" -- -i in.img -o out.img junk
expect 1 "missing.img" -- -i missing.img -o out.img
expect 1 "Output file does not exist" -- -i in.img -o nothere.img
[ -e nothere.img ] && fail "created the output"
expect 1 "the output is the input" -- -i in.img -o in.img
expect 1 "--block-size: not a number" -- -i in.img -o out.img --block-size x
expect 1 "--block-size: must not be 0" -- -i in.img -o out.img --block-size 0
expect 1 "--hint-width: must be a multiple of 4" -- -i in.img -o out.img \
	--hint-width 6
expect 1 "--metadata-version: must be 1 or 2" -- -i in.img -o out.img \
	--metadata-version 3
expect 1 "--policy: a name of 1 to 15" -- -i in.img -o out.img \
	--policy 0123456789abcdef
# A zeroed superblock without --block-size: refused, output untouched.
cp in.img zero.img
dd if=/dev/zero of=zero.img bs=4096 count=1 conv=notrunc 2>/dev/null
expect 1 "give it with --block-size" -- -i zero.img -o out.img
# An input too short to hold a superblock.
head -c 100 /dev/zero >short.img
expect 1 "short.img" -- -i short.img -o out.img
cmp -s out.img out.orig || fail "a failed repair wrote to the output"

# LVM: cache_repair -i IN -o OUT "" works, quietly with -q.
"$R" -q -i in.img -o out.img "" >q.txt 2>&1 || fail "repair with \"\": $(cat q.txt)"
[ -s q.txt ] && fail "-q printed: $(cat q.txt)"
"$BIN/cache_dump" out.img >dump.xml || fail "dump of the output"
diff -u src.xml dump.xml || fail "output differs from the source"
echo ok
