#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_replay's commits under faults (issue 12: "the replay engine's
# commits"): the metadata image fails its Nth write, its Nth write is torn
# (half a block, then the process dies, as in a power cut), or its Nth read
# fails, for every N until a run meets no fault.  After each failure the
# replay exited non-zero with one line naming the I/O error (a torn run
# died where the shim killed it), and the metadata is exactly one of the
# states the run commits on its way (the state after commit k for some k,
# which --crash-at k leaves), or the clean end state, or, from fresh
# metadata, the format's own commit (0 cache blocks) or a device whose
# block 0 is still zero; any state with a superblock passes our
# cache_check, and 0.9.0's too (which refuses empty caches: not those).  Run from fresh metadata
# (the format's writes included) and from existing metadata.
set -u
: "${BIN:?}" "${PROGS:?}"
. "$TOP/tests/cli/fault-lib.bash"
T="$BIN/cache_replay"
FAULT_TOOL=cache_replay

# Five phases of full-block writes and reads, each ending in a sync (a
# commit), one virtual second apart; trace OFFSET shifts every block (the
# run over existing metadata needs blocks the first run did not cache).
trace() {
	echo 'fio version 3 iolog'
	for p in 0 1 2 3 4; do
		for i in 0 1 2 3 4 5; do
			b=$((($1 + p * 7 + i * 3) % 100))
			echo "$((p * 1000000 + i * 10)) f write $((b * 65536)) 65536"
			echo "$((p * 1000000 + i * 10 + 5)) f read $((((b + 20) % 128) * 65536)) 4096"
		done
		echo "$((p * 1000000 + 100)) f sync 0 0"
	done
}
trace 0 >t0.log
trace 50 >t50.log
TRACE=t0.log
truncate -s 4M cache.img
truncate -s 8M origin.img

fresh() { rm -f meta.img; truncate -s 4M meta.img; }
run() { "$T" replay --metadata meta.img --cache cache.img --origin origin.img \
	--trace $TRACE --block-size 128 "$@" >/dev/null; }

# The committed states: after commit k (--crash-at k), and the end.
states() {
	local k=1 label=$1
	rm -f state.*.xml
	while :; do
		$2
		run --crash-at $k 2>crash.err || fail "$label: --crash-at $k failed"
		grep -q "stopped after commit $k" crash.err || break
		"$BIN/cache_dump" meta.img >state.$k.xml 2>/dev/null ||
			fail "$label: cannot dump commit $k"
		k=$((k + 1))
	done
	$2
	run || fail "$label: the run without faults failed"
	"$BIN/cache_dump" meta.img >state.end.xml || fail "$label: cannot dump the end"
	echo "$label: $((k - 1)) commits before the end"
	[ $k -gt 3 ] || fail "$label: only $((k - 1)) commits: the trace does not commit"
}

# judge LABEL KIND N: the metadata after a failed run.
judge() {
	local s
	if cmp -s -n 4096 meta.img /dev/zero; then
		[ "$4" = fresh ] || fail "$1 $2 $3: block 0 zeroed on existing metadata"
		return
	fi
	"$BIN/cache_check" -q meta.img || fail "$1 $2 $3: our cache_check fails"
	"$BIN/cache_dump" meta.img >now.xml 2>/dev/null || fail "$1 $2 $3: cannot dump"
	# The format's own commit: an empty cache of 0 blocks (the replay
	# sizes it in its first transaction).  0.9.0's check refuses every
	# empty cache (tests/cli/31), so only ours judges it.
	if [ "$4" = fresh ] && head -n 1 now.xml | grep -q 'nr_cache_blocks="0"' &&
		[ "$(grep -c '<mapping ' now.xml)" = 0 ]; then
		return
	fi
	/usr/sbin/cache_check -q meta.img || fail "$1 $2 $3: 0.9.0's cache_check fails"
	for s in state.*.xml base.xml; do
		[ -f "$s" ] && cmp -s now.xml "$s" && return
	done
	fail "$1 $2 $3: the metadata is no committed state ($(cat fault.log))"
}

# loop LABEL KIND SETUP FRESH: every N until a run meets no fault.
loop() {
	local label=$1 kind=$2 setup=$3 n=1 rc faults=0
	while :; do
		$setup
		FAULT_FILE=meta.img fault_run "$kind" "$n" "$T" replay \
			--metadata meta.img --cache cache.img --origin origin.img \
			--trace $TRACE --block-size 128 -q
		rc=$?
		if [ ! -e hit ]; then
			[ $rc -eq 0 ] || fail "$label $kind $n: no fault, exit $rc: $(cat err.txt)"
			"$BIN/cache_dump" meta.img | cmp -s - state.end.xml ||
				fail "$label $kind $n: no fault, yet not the end state"
			break
		fi
		faults=$((faults + 1))
		if [ "$kind" = torn ]; then
			[ $rc -eq $FAULT_EXIT ] || fail "$label torn $n: exit $rc: $(cat err.txt)"
		else
			[ $rc -eq 1 ] || fail "$label $kind $n: exit $rc, not 1: $(cat err.txt)"
			[ "$(wc -l <err.txt)" -eq 1 ] ||
				fail "$label $kind $n: stderr is not one line: $(cat err.txt)"
			grep -Eq '^cache_replay: .*(I/O error|Input/output error)' err.txt ||
				fail "$label $kind $n: stderr does not name the I/O error: $(cat err.txt)"
		fi
		judge "$label" "$kind" "$n" "$4"
		n=$((n + 1))
	done
	echo "$label $kind: $faults faults, each left a committed state"
	# Reads go through a block cache: a fresh run reads little back.
	[ $faults -ge 1 ] || fail "$label $kind: no fault met"
}

# Fresh metadata: the format's writes fail too.
rm -f base.xml
states fresh fresh
for kind in write torn read; do
	loop fresh "$kind" fresh fresh
done

# Existing metadata: a first run's clean end is the base.
fresh
run || fail "the base run failed"
cp meta.img base.img
"$BIN/cache_dump" base.img >base.xml
restore_base() { cp base.img meta.img; }
TRACE=t50.log
states existing restore_base
for kind in write torn read; do
	loop existing "$kind" restore_base existing
done
exit 0
