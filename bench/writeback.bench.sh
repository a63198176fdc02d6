#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_writeback of 1 GiB of dirty blocks (16384 blocks of 64 KiB, all
# dirty, origin blocks spread with gaps) between image files on tmpfs
# (/dev/shm): ours against /usr/sbin/cache_writeback on the same v1 image.
# Both run with --no-metadata-update, so every run copies the same data
# (0.9.0 would segfault in its metadata update anyway, and on v2 it copies
# nothing, so only v1 gives it something to time).  The origin is checked
# block by block once, untimed, so a fast wrong copy cannot pass.  Then one
# timed run of ours with the metadata update (v2), for the full cost.
# Target: at least 1 GiB/s.  Prints medians (5 runs ours, 3 of 0.9.0) and
# throughput; asserts nothing.
set -eu
. "$TOP/bench/lib.sh"
dir=/dev/shm
[ -d "$dir" ] && [ -w "$dir" ] || dir=$BENCH_DIR
work=$(mktemp -d "$dir/dmct-wb.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

N=16384		# cache blocks
BS=128		# sectors: 64 KiB
OB=20000	# origin blocks
BB=$((BS * 512))
"$PROGS/gen_xml" --nr-cache-blocks $N --mapped 100 --dirty 100 \
	--block-size $BS --oblock-max $OB --seed 1 >wb.xml
for v in 1 2; do
	truncate -s 16M "wb$v.meta"
	/usr/sbin/cache_restore --metadata-version $v -i wb.xml -o "wb$v.meta"
done
"$PROGS/wb_stamp" fill fast --block-bytes $BB --blocks $N --seed 11
"$PROGS/wb_stamp" fill origin --block-bytes $BB --blocks $OB --seed 22
sed -n 's/.*cache_block="\([0-9]*\)" origin_block="\([0-9]*\)" dirty="true".*/\1 \2/p' \
	wb.xml >wb.map
gib=$(awk -v n="$(wc -l <wb.map)" -v b=$BB 'BEGIN { printf "%.2f", n * b / 2^30 }')

args=(--origin-device origin --fast-device fast --no-metadata-update -q)
"$BIN/cache_writeback" --metadata-device wb1.meta "${args[@]}" ||
	echo "writeback: WARNING: our run failed"
"$PROGS/wb_stamp" check origin --block-bytes $BB --blocks $OB --seed 22 \
	--fast-seed 11 --map wb.map >/dev/null ||
	echo "writeback: WARNING: the origin does not hold what it should"

rate() { awk -v g="$gib" -v s="$1" 'BEGIN { if (s == 0) s = 0.01; printf "%.2f", g / s }'; }
# cpu_cmd RUNS CMD...: median user+sys seconds.  On a loaded machine the
# wall clock mostly measures the other load; CPU time is what the copy
# itself costs (it is CPU-bound on tmpfs).
cpu_cmd() {
	local runs=$1 i
	shift
	for ((i = 0; i < runs; i++)); do
		/usr/bin/time -f '%U %S' -o "$BENCH_DIR/.cpu" "$@" >/dev/null 2>&1 || true
		awk '{ printf "%.2f\n", $1 + $2 }' "$BENCH_DIR/.cpu"
	done | sort -g | sed -n "$(((runs + 1) / 2))p"
}
ref_args=(--metadata-device wb1.meta --origin-device origin --fast-device fast
	--no-metadata-update)
read -r ours ours_kib < <(time_cmd 5 "$BIN/cache_writeback" \
	--metadata-device wb1.meta "${args[@]}")
read -r ref ref_kib < <(time_cmd 3 /usr/sbin/cache_writeback "${ref_args[@]}")
ours_cpu=$(cpu_cmd 5 "$BIN/cache_writeback" --metadata-device wb1.meta "${args[@]}")
ref_cpu=$(cpu_cmd 3 /usr/sbin/cache_writeback "${ref_args[@]}")
echo "writeback v1 ${gib} GiB, 64 KiB blocks, tmpfs, copy only: ours ${ours}s ($(rate "$ours") GiB/s, ${ours_kib} KiB), 0.9.0 ${ref}s ($(rate "$ref") GiB/s, ${ref_kib} KiB): $(ratio "$ref" "$ours")x faster"
echo "writeback v1 CPU (user+sys): ours ${ours_cpu}s ($(rate "$ours_cpu") GiB/s), 0.9.0 ${ref_cpu}s ($(rate "$ref_cpu") GiB/s): $(ratio "$ref_cpu" "$ours_cpu")x less"

cp wb2.meta wb2.run
read -r full full_kib < <(time_cmd 1 "$BIN/cache_writeback" \
	--metadata-device wb2.run --origin-device origin --fast-device fast -q)
"$BIN/cache_check" -q wb2.run || echo "writeback: WARNING: metadata fails check"
echo "writeback v2 ${gib} GiB with metadata update: ours ${full}s ($(rate "$full") GiB/s, ${full_kib} KiB); 0.9.0 copies nothing on v2"
