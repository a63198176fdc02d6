#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Issue 12 finding 4: a stream whose reader goes away early is not a
# success.  Every tool that writes a stream (cache_dump's XML on stdout or
# to -o FIFO, cache_repair's report and --xml, cache_metadata_size's
# size, cache_writeback's summary, every tool's --help and -V) is killed
# by SIGPIPE with nothing on stderr, as 0.9.0's tools are (checked against
# /usr/sbin where 0.9.0 has the same command); cache_repair leaves its
# output untouched.  A full disk on stdout (/dev/full) is exit 1 with one
# line, where 0.9.0 exits 0.
#
# The closed pipe is made without a race: a FIFO opened read-write (so
# opening its write end does not block), its write end kept, and the
# read-write descriptor closed, so the pipe has no reader at all before the
# tool starts.
set -u
: "${BIN:?}" "${PROGS:?}"
REF=/usr/sbin
[ -x $REF/cache_restore ] || { echo "no reference cache_restore"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$PROGS/gen_xml" --nr-cache-blocks 20000 --mapped 90 --dirty 10 >src.xml
truncate -s 8M good.img
$REF/cache_restore -i src.xml -o good.img || { echo "restore failed"; exit 1; }
truncate -s 8M out.img

mkfifo fifo
exec 3<>fifo 4>fifo 3<&-

# closed DIR TOOL ARGS...: DIR/TOOL writing into the reader-less pipe is
# killed by SIGPIPE (status 141), with an empty stderr.
closed() {
	local dir=$1 rc
	shift
	"$dir/$@" >&4 2>err.txt
	rc=$?
	[ $rc -eq 141 ] || bad "$dir/$*: exit $rc, not 141 (SIGPIPE)"
	[ -s err.txt ] && bad "$dir/$*: stderr '$(head -n 3 err.txt)'"
}

for t in cache_check cache_dump cache_restore cache_repair \
	 cache_metadata_size cache_writeback; do
	for d in "$BIN" $REF; do
		closed "$d" $t --help
		closed "$d" $t -V
	done
done
for d in "$BIN" $REF; do
	closed "$d" cache_dump good.img
	closed "$d" cache_dump -o - good.img
	closed "$d" cache_metadata_size --nr-blocks 100
	closed "$d" cache_metadata_size --device-size 1000000 --block-size 128
done
closed "$BIN" cache_dump --repair good.img
closed "$BIN" cache_metadata_size --nr-blocks 100 --exact

# cache_repair: the report and --xml - come before the output is written;
# a closed pipe leaves the output as it was.
for args in "-i good.img -o out.img" "-q -i good.img --xml -" \
	    "-q -i good.img -o out.img --xml -"; do
	cp out.img before.img
	closed "$BIN" cache_repair $args
	cmp -s out.img before.img || bad "cache_repair $args: output written"
done

# cache_writeback's summary line.
"$PROGS/gen_xml" --nr-cache-blocks 100 --mapped 50 --dirty 50 \
	--oblock-max 1000 >wb.xml
truncate -s 4M wb.img
truncate -s 64M fast.img origin.img
$REF/cache_restore -i wb.xml -o wb.img || { echo "restore failed"; exit 1; }
closed "$BIN" cache_writeback --metadata-device wb.img \
	--origin-device origin.img --fast-device fast.img --no-metadata-update

# A FIFO named by -o (and --xml) whose reader exits after 10 bytes: the
# dump is ~1.5 MB, far more than a pipe holds, so the writer meets EPIPE.
fifo_reader() {
	local dir=$1 rc
	shift
	rm -f ofifo
	mkfifo ofifo
	head -c 10 ofifo >head.txt &
	"$dir/$@" 2>err.txt
	rc=$?
	wait
	[ $rc -eq 141 ] || bad "$dir/$* (FIFO): exit $rc, not 141 (SIGPIPE)"
	[ -s err.txt ] && bad "$dir/$* (FIFO): stderr '$(head -n 3 err.txt)'"
	[ "$(cat head.txt)" = "<superbloc" ] || bad "$dir/$* (FIFO): reader got '$(cat head.txt)'"
	[ -p ofifo ] || bad "$dir/$* (FIFO): the FIFO was removed"
}
fifo_reader "$BIN" cache_dump -o ofifo good.img
fifo_reader $REF cache_dump -o ofifo good.img
cp out.img before.img
fifo_reader "$BIN" cache_repair -q -i good.img -o out.img --xml ofifo
cmp -s out.img before.img || bad "cache_repair --xml FIFO: output written"

# A full disk on stdout: one line, exit 1.
full() {
	local want=$1 rc
	shift
	"$BIN/$@" >/dev/full 2>err.txt
	rc=$?
	[ $rc -eq 1 ] || bad "$* >/dev/full: exit $rc, not 1"
	[ "$(cat err.txt)" = "$want" ] || bad "$* >/dev/full: stderr '$(cat err.txt)', not '$want'"
}
nospc="standard output: cannot write: No space left on device"
full "cache_metadata_size: $nospc" cache_metadata_size --nr-blocks 100
full "cache_check: $nospc" cache_check --help
full "cache_dump: $nospc" cache_dump -V
full "cache_dump: $nospc" cache_dump good.img

exec 4>&-
[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "every stream ends by SIGPIPE when its reader goes away"
