#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_replay simulate on a text MSR trace (3 million I/Os by default,
# SIM_IOS to change it: 4-64 KiB, 70% reads, a hot eighth of a 64 GiB
# origin taking 80% of them), one configuration, one job: trace I/Os per
# second for smq (target: at least 3 million) and lru (at least 8
# million), by the wall clock and by CPU time (user + system: the machine
# is shared, and the wall clock shows the neighbours), with the peak RSS
# beside each, and the trace reader alone (trace convert to native on
# /dev/null) and the model alone (the same trace in native format) for
# scale.  Then the peak RSS of lru over the first third of
# the trace and over all of it (memory does not grow with the trace), and
# a sweep of 8 configurations (smq and arc at four cache sizes) with
# --jobs 1 and --jobs 2: the times, the speed-up (target: at least 1.8)
# and whether the two CSVs are identical, and from the CPU times the
# speed-up two free cores would give; the load average before and after
# the single-job runs.  Asserts nothing.
set -eu
. "$TOP/bench/lib.sh"
work=$(mktemp -d "$BENCH_DIR/dmct-simulate.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

IOS=${SIM_IOS:-3000000}
# Numbers past 2^31 are printed with %.0f (exact below 2^53), and the
# 18-digit FILETIME timestamp as a fixed head and the ticks since: mawk's
# %d stops at 2147483647, which made every timestamp and four offsets in
# five that one number (a trace of 10-digit times hitting one block).
awk -v n="$IOS" 'BEGIN {
	srand(7); t = 0
	for (i = 0; i < n; i++) {
		t += 100 + int(rand() * 2000)
		if (rand() < 0.8) b = int(rand() * 2097152); else b = int(rand() * 16777216)
		r = rand(); s = r < 0.6 ? 4096 : r < 0.8 ? 8192 : r < 0.95 ? 16384 : 65536
		printf "128166%012.0f,hm,0,%s,%.0f,%d,%d\n", t, rand() < 0.7 ? "Read" : "Write", b * 4096, s, 100 + int(rand() * 9000)
	}
}' >t.msr
head -n $((IOS / 3)) t.msr >third.msr

# cpu_run RUNS CMD...: "WALL CPU KIB", medians of RUNS runs.
cpu_run() {
	local runs=$1 i
	shift
	for ((i = 0; i < runs; i++)); do
		/usr/bin/time -f '%e %U %S %M' -o .t "$@" >/dev/null 2>&1 || true
		awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' .t
	done >.runs
	echo "$(cut -d' ' -f1 .runs | sort -g | sed -n "$(((runs + 1) / 2))p")" \
		"$(cut -d' ' -f2 .runs | sort -g | sed -n "$(((runs + 1) / 2))p")" \
		"$(cut -d' ' -f3 .runs | sort -g | sed -n "$(((runs + 1) / 2))p")"
}
mrate() { awk -v n="$IOS" -v s="$1" 'BEGIN { if (s <= 0) s = 0.01; printf "%.2f", n / s / 1e6 }'; }

SIM=("$BIN/cache_replay" simulate --block-size 64 --origin-size 64G --jobs 1)
echo "simulate: $IOS trace I/Os, text MSR ($(du -m t.msr | cut -f1) MiB), 32 KiB blocks, 1 GiB cache, one job"
# The figures below depend on what else runs: say how busy it was.
echo "simulate: load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs before the runs"
read -r w c k < <(cpu_run 3 "$BIN/cache_replay" trace convert --trace t.msr --to native -o /dev/null)
echo "simulate: reader alone (trace convert to native): $w s wall, $c s CPU = $(mrate "$c") M I/Os/s CPU; peak RSS $k KiB"
for p in smq lru; do
	read -r w c k < <(cpu_run 3 "${SIM[@]}" --trace t.msr --cache-size 1G --policy $p)
	want=3; [ $p = lru ] && want=8
	echo "simulate: $p: $w s wall = $(mrate "$w") M I/Os/s; $c s CPU = $(mrate "$c") M I/Os/s (target $want); peak RSS $k KiB"
done
# The model alone: the same trace in the native binary format, whose
# reader costs next to nothing.
"$BIN/cache_replay" trace convert --trace t.msr --to native -o t.nat
for p in smq lru; do
	read -r w c k < <(cpu_run 3 "${SIM[@]}" --trace t.nat --cache-size 1G --policy $p)
	echo "simulate: $p on the native trace: $w s wall = $(mrate "$w") M I/Os/s; $c s CPU = $(mrate "$c") M I/Os/s; peak RSS $k KiB"
done
read -r _ _ k1 < <(cpu_run 1 "${SIM[@]}" --trace third.msr --cache-size 1G --policy lru)
read -r _ _ k3 < <(cpu_run 1 "${SIM[@]}" --trace t.msr --cache-size 1G --policy lru)
echo "simulate: lru peak RSS over $((IOS / 3)) I/Os $k1 KiB, over $IOS I/Os $k3 KiB"
echo "simulate: load average $(cut -d' ' -f1-3 /proc/loadavg) after the single-job runs"

SWEEP=("$BIN/cache_replay" simulate --trace t.msr --block-size 64 --origin-size 64G
	--cache-size 256M,1G,4G,16G --policy smq,arc)
read -r w1 c1 k1 < <(cpu_run 3 "${SWEEP[@]}" --jobs 1)
read -r w2 c2 k2 < <(cpu_run 3 "${SWEEP[@]}" --jobs 2)
"${SWEEP[@]}" --jobs 1 --csv j1.csv
"${SWEEP[@]}" --jobs 2 --csv j2.csv
same=no; cmp -s j1.csv j2.csv && same=yes
echo "simulate: sweep of 8 configurations (smq, arc x 256M..16G): --jobs 1 $w1 s (peak RSS $k1 KiB), --jobs 2 $w2 s: speed-up $(ratio "$w1" "$w2") (target 1.8); same CSV: $same"
# On a shared machine the wall clock says how many cores were free; the
# CPU times say what two free cores would give (the jobs' shares are
# alike, each parses the trace once).
echo "simulate: sweep CPU: --jobs 1 $c1 s, --jobs 2 $c2 s in all: $(awk -v a="$c1" -v b="$c2" 'BEGIN { printf "%.2f", a / (b / 2) }') on two free cores"
