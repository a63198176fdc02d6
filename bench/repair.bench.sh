#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_repair of 1M cache blocks (60% mapped, v1 so that 0.9.0 keeps the
# dirty flags too): ours against /usr/sbin/cache_repair on the same intact
# image, and ours on the same image with its superblock zeroed (the full
# scan path, which 0.9.0 cannot do at all).  Target: at least 20x faster
# than 0.9.0.  Prints medians of 3 runs and the ratio; asserts nothing.
set -eu
. "$TOP/bench/lib.sh"
# The images live in memory when /dev/shm exists, so that both tools are
# timed on the same page-cached input and neither pays for a disk's
# flushes (ours flushes before and after writing the superblock).
work="$BENCH_DIR"
[ -d /dev/shm ] && [ -w /dev/shm ] && work=$(mktemp -d /dev/shm/dmct-repair.XXXXXX)
trap '[ "$work" != "$BENCH_DIR" ] && rm -rf "$work"' EXIT
cd "$work"
N=1000000
"$PROGS/gen_xml" --nr-cache-blocks $N --mapped 60 --dirty 30 --seed 1 >rep.xml
rm -f rep.img out.img zero.img
truncate -s 64M rep.img out.img
/usr/sbin/cache_restore -i rep.xml -o rep.img
cp rep.img zero.img
dd if=/dev/zero of=zero.img bs=4096 count=1 conv=notrunc 2>/dev/null

read -r ours ours_kib < <(time_cmd 3 "$BIN/cache_repair" -q -i rep.img -o out.img)
read -r ref ref_kib < <(time_cmd 3 /usr/sbin/cache_repair -i rep.img -o out.img)
read -r scan scan_kib < <(time_cmd 3 "$BIN/cache_repair" -q -i zero.img \
	-o out.img --block-size 128)
echo "repair 1M cache blocks: ours ${ours}s (${ours_kib} KiB), 0.9.0 ${ref}s (${ref_kib} KiB): $(ratio "$ref" "$ours")x faster"
echo "repair 1M cache blocks, superblock zeroed (scan): ours ${scan}s (${scan_kib} KiB); 0.9.0 cannot"
