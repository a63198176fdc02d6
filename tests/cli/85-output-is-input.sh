#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_repair, cache_restore and cache_dump -o refuse an output that is
# their input, under any name: the same path, a symlink, a hard link,
# /proc/self/fd/N, /dev/fd/N, a bind mount (where one can be made), and a
# second node of the same block device (compared by st_rdev, before the
# input is opened, so the refusal shows even for a device with no driver).
# Each time: exit 1, one line "TOOL: OUTPUT: the output is the input
# (INPUT); refusing to overwrite it", and the input's bytes unchanged.
set -u
: "${BIN:?}" "${PROGS:?}" "${TOP:?}"
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$PROGS/gen_xml" --nr-cache-blocks 64 --mapped 50 >in.xml || exit 1
truncate -s 4M meta
/usr/sbin/cache_restore -i in.xml -o meta || exit 1
cp meta meta.orig
cp in.xml in.xml.orig
ln -s meta meta.link
ln meta meta.hard
ln -s in.xml in.link
ln in.xml in.hard

# refused NAME INPUT OUTPUT CMD...: exit 1 and the one line.
refused() {
	local name=$1 in=$2 out=$3 tool
	shift 3
	tool=$(basename "$1")
	"$@" >out.txt 2>err.txt 3<meta 4<in.xml
	local rc=$?
	[ $rc -eq 1 ] || bad "$name: exit $rc: $(cat err.txt)"
	[ "$(cat err.txt)" = "$tool: $out: the output is the input ($in); refusing to overwrite it" ] ||
		bad "$name: stderr: $(cat err.txt)"
	cmp -s meta meta.orig || bad "$name: the metadata changed"
	cmp -s in.xml in.xml.orig || bad "$name: the XML changed"
	cp meta.orig meta
}

for o in meta meta.link meta.hard ./meta /proc/self/fd/3 /dev/fd/3; do
	refused "repair -o $o" meta $o "$BIN/cache_repair" -i meta -o $o
	refused "repair -i $o" $o meta "$BIN/cache_repair" -i $o -o meta
	refused "dump -o $o" meta $o "$BIN/cache_dump" -o $o meta
	refused "repair --xml $o" meta $o "$BIN/cache_repair" -i meta --xml $o
done
for o in in.xml in.link in.hard /proc/self/fd/4 /dev/fd/4; do
	refused "restore -o $o" in.xml $o "$BIN/cache_restore" -i in.xml -o $o
done
refused "restore -i - <meta" - meta "$BIN/cache_restore" -i - -o meta <meta

# A bind mount of the folder: the same file under another mount.
mkdir -p bind
if mount --bind . bind 2>/dev/null; then
	trap 'umount bind 2>/dev/null' EXIT
	refused "repair -o bind/meta" meta bind/meta "$BIN/cache_repair" -i meta -o bind/meta
	umount bind
else
	echo "bind mount part skipped: mount --bind is not allowed here"
fi

# Two nodes of one block device (a loop minor no driver backs).
if mknod blkA b 7 239 2>/dev/null && mknod blkB b 7 239; then
	refused "repair, two nodes" blkA blkB "$BIN/cache_repair" -i blkA -o blkB
	refused "restore, two nodes" blkA blkB "$BIN/cache_restore" -i blkA -o blkB
	rm -f blkA blkB
else
	echo "block device part skipped: mknod is not allowed here"
fi

# Not a blanket refusal: another file is written.
truncate -s 4M other
"$BIN/cache_repair" -i meta.link -o other >/dev/null 2>err.txt ||
	bad "repair to another file: $(cat err.txt)"
"$BIN/cache_restore" -i in.link -o other 2>err.txt || bad "restore to another file: $(cat err.txt)"
[ $fails -eq 0 ]
