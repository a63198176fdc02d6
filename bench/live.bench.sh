#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Live metadata (cache/live.h) under a replay-like load: 1M random changes
# (insert into a free cache block, else remove or toggle dirty) over a
# 1M-block cache, committing every 10000 changes (about one commit per
# virtual second of a busy replay), then hints and a clean shutdown; on
# tmpfs, v1 and v2.  Prints the median wall time, changes per second and
# peak RSS; the image is checked once by our and 0.9.0's cache_check.
# No reference tool does this, so there is no ratio.  Asserts nothing.
set -eu
. "$TOP/bench/lib.sh"
dir=/dev/shm
[ -d "$dir" ] && [ -w "$dir" ] || dir=$BENCH_DIR
work=$(mktemp -d "$dir/dmct-live.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

N=1048576
OPS=1000000
sectors=$("$BIN/cache_metadata_size" --nr-blocks $N --max-hint-width 4 | awk '{print $1}')
for v in 1 2; do
	fresh() { rm -f live.meta; truncate -s $((sectors * 512)) live.meta; }
	fresh
	"$PROGS/live_meta" churn live.meta $v $N $OPS 10000 >/dev/null
	"$BIN/cache_check" -q live.meta || echo "live v$v: WARNING: our cache_check fails"
	/usr/sbin/cache_check live.meta >/dev/null 2>&1 ||
		echo "live v$v: WARNING: 0.9.0 cache_check fails"
	r=$(time_cmd 3 bash -c "rm -f live.meta; truncate -s $((sectors * 512)) live.meta; \
		'$PROGS/live_meta' churn live.meta $v $N $OPS 10000")
	read -r s k <<<"$r"
	echo "live v$v: $OPS changes, 101 commits: ${s}s, $(awk -v s="$s" -v n=$OPS 'BEGIN { printf "%.0f", n / s }') changes/s, ${k} KiB"
done
