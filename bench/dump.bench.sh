#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_dump of 1M cache blocks (all mapped, half dirty, hints), restored
# by the reference cache_restore: ours against /usr/sbin/cache_dump on the
# same image, v1 and v2 (0.9.0's v2 output is wrong on dirty, only its time
# counts).  The outputs are compared once, untimed, so a fast wrong dump
# cannot pass.  Target: at least 20x faster than 0.9.0.  Prints medians
# (5 runs of ours, 3 of 0.9.0), peak memory and the ratio; asserts nothing.
set -eu
. "$TOP/bench/lib.sh"
cd "$BENCH_DIR"
N=1000000
"$PROGS/gen_xml" --nr-cache-blocks $N --mapped 100 --dirty 50 --seed 1 >dump.xml
for v in 1 2; do
	rm -f "dump$v.img"
	truncate -s 64M "dump$v.img"
	/usr/sbin/cache_restore -i dump.xml -o "dump$v.img" --metadata-version $v
	"$BIN/cache_dump" "dump$v.img" | cmp -s - dump.xml ||
		echo "dump v$v: WARNING: our output differs from the restored XML"
done

for v in 1 2; do
	read -r ours ours_kib < <(time_cmd 5 "$BIN/cache_dump" "dump$v.img")
	read -r ref ref_kib < <(time_cmd 3 /usr/sbin/cache_dump "dump$v.img")
	echo "dump v$v 1M cache blocks: ours ${ours}s (${ours_kib} KiB), 0.9.0 ${ref}s (${ref_kib} KiB): $(ratio "$ref" "$ours")x faster"
done
