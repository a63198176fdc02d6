#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_check: ours against 0.9.0 on the same images, fully mapped caches
# of 1M and 4M blocks, then ours alone on 40M blocks (10% mapped, to keep
# the XML small), which must stay under a second with the metadata in the
# page cache.  Images are written by our cache_restore (the reference's
# restore takes minutes at these sizes) and, if ours fails, the reference.
# Prints "SECONDS PEAK_KIB" per tool and the ratio; asserts nothing.
set -u
: "${BIN:?}" "${PROGS:?}" "${BENCH_DIR:?}"
. "$TOP/bench/lib.sh"
cd "$BENCH_DIR" || exit 1
REF=/usr/sbin/cache_check

make_image() { # NR MAPPED IMAGE
	local nr=$1 mapped=$2 img=$3 sectors
	[ -s "$img" ] && return 0
	"$PROGS/gen_xml" --nr-cache-blocks "$nr" --mapped "$mapped" >"$img.xml"
	sectors=$(/usr/sbin/cache_metadata_size --nr-blocks "$nr" | cut -d' ' -f1)
	truncate -s $((sectors * 512)) "$img"
	"$BIN/cache_restore" -i "$img.xml" -o "$img" 2>/dev/null ||
		/usr/sbin/cache_restore -i "$img.xml" -o "$img"
	rm -f "$img.xml"
}

for nr in 1000000 4000000; do
	img=check-$nr.img
	make_image $nr 100 $img
	cat "$img" >/dev/null	# into the page cache
	ours=$(time_cmd 5 "$BIN/cache_check" -q $img)
	if [ -x $REF ]; then
		ref=$(time_cmd 1 $REF -q $img)
		echo "check $nr blocks: ours $ours, 0.9.0 $ref, ${ref%% *}/${ours%% *} = $(ratio "${ref%% *}" "${ours%% *}")x faster"
	else
		echo "check $nr blocks: ours $ours (no reference to compare)"
	fi
	rm -f "$img"
done

img=check-40M.img
make_image 40000000 10 $img
cat "$img" >/dev/null
ours=$(time_cmd 5 "$BIN/cache_check" -q $img)
# CPU time too: on a shared, loaded machine the wall clock mostly measures
# the other processes.
/usr/bin/time -f '%U %S' -o cpu.time "$BIN/cache_check" -q $img
cpu=$(awk '{ printf "%.2f", $1 + $2 }' cpu.time)
echo "check 40000000 blocks (10% mapped): ours $ours, cpu ${cpu}s (target: under 1 s)"
rm -f "$img"
