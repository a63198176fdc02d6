#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Where cache_dump's XML goes: -o FILE and --output=FILE write what stdout
# gets; an existing longer file is truncated; -o - is stdout; a path that
# cannot be created fails with exit 1 before anything is read (0.9.0 exits
# 0); -o naming the input is refused and the input left alone; a failed
# dump leaves an existing file untouched and removes a file it created; a
# full device fails with exit 1; a reader that closes the pipe early ends
# the dump by SIGPIPE with nothing on stderr, as 0.9.0's (exit status 141
# in the shell; tests/cli/80-closed-pipe.sh does every tool).
set -u
: "${BIN:?}" "${PROGS:?}"
T="$BIN/cache_dump"
REF_RESTORE=/usr/sbin/cache_restore
[ -x $REF_RESTORE ] || { echo "no reference cache_restore"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$PROGS/gen_xml" --nr-cache-blocks 20000 --mapped 90 >src.xml
truncate -s 8M good.img
$REF_RESTORE -i src.xml -o good.img || { echo "restore failed"; exit 1; }
truncate -s 1M zero.img

"$T" -o out.xml good.img 2>err.txt || bad "-o: exit $?"
[ -s err.txt ] && bad "-o: stderr '$(cat err.txt)'"
cmp -s src.xml out.xml || bad "-o: file differs from the source XML"
"$T" --output=out2.xml good.img || bad "--output=: exit $?"
cmp -s src.xml out2.xml || bad "--output=: file differs"
"$T" -o - good.img >out3.xml || bad "-o -: exit $?"
cmp -s src.xml out3.xml || bad "-o -: stdout differs"
[ -e ./- ] && bad "-o -: created a file named '-'"

# A longer existing file is truncated to the dump.
head -c 5000000 /dev/zero | tr '\0' 'x' >long.xml
"$T" -o long.xml good.img || bad "-o existing: exit $?"
cmp -s src.xml long.xml || bad "-o existing: not truncated to the dump"

# Paths that cannot be created.
"$T" -o good.img/x.xml good.img >out.txt 2>err.txt
rc=$?
[ $rc -eq 1 ] || bad "-o under a file: exit $rc"
[ "$(cat err.txt)" = "cache_dump: good.img/x.xml: cannot open for writing: Not a directory" ] ||
	bad "-o under a file: stderr '$(cat err.txt)'"
"$T" -o nodir/x.xml good.img >out.txt 2>err.txt
rc=$?
[ $rc -eq 1 ] || bad "-o in a missing directory: exit $rc"
[ "$(cat err.txt)" = "cache_dump: nodir/x.xml: cannot open for writing: No such file or directory" ] ||
	bad "-o in a missing directory: stderr '$(cat err.txt)'"

# The input itself, also through another name.
cp good.img keep.img
ln -s good.img alias.img
for o in good.img alias.img ./good.img; do
	"$T" -o $o good.img >out.txt 2>err.txt
	rc=$?
	[ $rc -eq 1 ] || bad "-o $o (the input): exit $rc"
	[ "$(cat err.txt)" = "cache_dump: $o: the output is the input (good.img); refusing to overwrite it" ] ||
		bad "-o $o (the input): stderr '$(cat err.txt)'"
	cmp -s keep.img good.img || bad "-o $o (the input): the input changed"
done

# A failed dump: an existing file keeps its bytes, a new one disappears.
echo "precious" >old.xml
"$T" -o old.xml zero.img 2>/dev/null && bad "zeroed input with -o: exit 0"
[ "$(cat old.xml)" = precious ] || bad "failed dump changed the existing output file"
"$T" -o new.xml zero.img 2>/dev/null && bad "zeroed input with -o new: exit 0"
[ -e new.xml ] && bad "failed dump left the output file it created"

# A full device.
if [ -w /dev/full ]; then
	"$T" -o /dev/full good.img >out.txt 2>err.txt
	rc=$?
	[ $rc -eq 1 ] || bad "-o /dev/full: exit $rc"
	[ "$(cat err.txt)" = "cache_dump: /dev/full: cannot write: No space left on device" ] ||
		bad "-o /dev/full: stderr '$(cat err.txt)'"
	[ -c /dev/full ] || bad "/dev/full is gone"
	"$T" good.img >/dev/full 2>err.txt
	rc=$?
	[ $rc -eq 1 ] || bad "stdout /dev/full: exit $rc"
	[ "$(cat err.txt)" = "cache_dump: standard output: cannot write: No space left on device" ] ||
		bad "stdout /dev/full: stderr '$(cat err.txt)'"
fi

# The reader goes away after one line (the dump is ~1.5 MB, far more than
# a pipe holds): killed by SIGPIPE, nothing on stderr.
first=$("$T" good.img 2>err.txt | head -n 1; echo "rc=${PIPESTATUS[0]}")
[ "$first" = "$(head -n 1 src.xml)
rc=141" ] || bad "closed pipe: got '$first'"
[ -s err.txt ] && bad "closed pipe: stderr '$(cat err.txt)'"

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all output cases as expected"
