#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_replay replay with data, on image files on tmpfs (/dev/shm): a 4 KiB
# random 70/30 read/write trace over a 1 GiB origin and a 256 MiB cache of
# 64 KiB blocks, side by side with fio replaying the same trace on the bare
# origin file (psync, no stalls: the I/O alone, no cache model).  Prints
# trace I/Os per second for both and the ratio (target: at least 150
# thousand per second for ours, on one core), the bytes the replay moved,
# and the memory per cache block: peak RSS at 64 Ki and at 1 Mi cache
# blocks, less the smq hotspot table (24 bytes an entry, max(C/4, 1024)
# entries), divided by the blocks added (target: at most 32 bytes).
# Asserts nothing.
set -eu
. "$TOP/bench/lib.sh"
dir=/dev/shm
[ -d "$dir" ] && [ -w "$dir" ] || dir=$BENCH_DIR
work=$(mktemp -d "$dir/dmct-replay.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

IOS=${REPLAY_IOS:-500000}
fio --name=j --ioengine=null --size=1G --rw=randrw --rwmixread=70 --bs=4k \
	--number_ios="$IOS" --randseed=3 --write_iolog=t.log >/dev/null 2>&1
"$BIN/cache_replay" trace convert --trace t.log --to native -o t.nat

fresh() {
	rm -f meta cache
	truncate -s 16M meta
	truncate -s 256M cache
}
truncate -s 1G origin
fresh
# Once untimed: the tmpfs pages of the images exist from then on, and the
# statistics give the bytes moved.
"$BIN/cache_replay" replay --metadata meta --cache cache --origin origin \
	--trace t.nat --block-size 128 --stats stats.csv --stats-interval 3600 \
	>status.txt
moved=$(awk -F, 'NR > 1 { p += $13; w += $14 } END {
	printf "%.1f MiB promoted, %.1f MiB written back", p / 2^20, w / 2^20 }' stats.csv)

ours=()
for i in 1 2 3; do
	fresh
	read -r s k < <(time_cmd 1 "$BIN/cache_replay" replay --metadata meta \
		--cache cache --origin origin --trace t.nat --block-size 128 -q)
	ours+=("$s")
done
s=$(printf '%s\n' "${ours[@]}" | sort -g | sed -n 2p)
read -r fs fk < <(time_cmd 3 fio --name=r --read_iolog=t.log \
	--replay_redirect="$work/origin" --replay_no_stall=1 --ioengine=psync \
	--output=/dev/null)
rate() { awk -v n="$IOS" -v s="$1" 'BEGIN { printf "%.0f", n / s }'; }
echo "replay: $IOS trace I/Os (4 KiB random, 70% reads), 64 KiB blocks, 4096-block cache, tmpfs"
echo "replay: ours $s s = $(rate "$s") I/Os/s; fio on the bare origin $fs s = $(rate "$fs") I/Os/s; ours/fio time $(ratio "$s" "$fs")"
echo "replay: moved $moved"
echo "replay: status $(cat status.txt)"

# Memory per cache block.
head -n 1001 t.log >small.log
peak() {
	rm -f m c
	truncate -s 1G m
	truncate -s $(($1 * 65536)) c
	read -r _ k < <(time_cmd 1 "$BIN/cache_replay" replay --metadata m \
		--cache c --origin origin --trace small.log --block-size 128 -q)
	echo "$k"
}
k1=$(peak 65536)
k2=$(peak 1048576)
awk -v a="$k1" -v b="$k2" 'BEGIN {
	hot = (262144 - 16384) * 24;
	printf "replay: peak RSS %d KiB at 64Ki blocks, %d KiB at 1Mi: %.1f bytes a block (hotspot table excluded; %.1f with it)\n",
		a, b, ((b - a) * 1024 - hot) / 983040, (b - a) * 1024 / 983040 }'
