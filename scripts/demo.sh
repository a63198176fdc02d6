#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# make demo: the tools at work on the bundled sample, kernel-written v2
# metadata (sample/README.md).
#
# Each step is a function demo_NAME, run by `step NAME TOOL` at the bottom.
# A step whose tool is still the "not implemented yet" placeholder is
# skipped, not failed, so steps can be added before their tool is done: to
# add one, write demo_NAME (return non-zero on failure) and append its
# `step` line.  Steps share $work; $meta is a fresh copy of the sample.
# Exit status: 0 when no step failed.
set -eu
: "${BIN:?BIN must name the folder holding the tools}"
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/dmct-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
meta=$work/sample.meta
gzip -dc "$top/sample/sample.meta.gz" >"$meta"

# say CMD...: show a command the way a user would type it.
say() {
	echo "\$ $*" | sed "s|$work/||g; s|$BIN/||g"
}

implemented() {
	! "$BIN/$1" --version 2>&1 | grep -q 'not implemented yet'
}

failed=0
step() {
	echo
	echo "== $1 ($2)"
	if ! implemented "$2"; then
		echo "   skipped: $2 is not implemented yet"
		return 0
	fi
	if "demo_$1"; then
		:
	else
		echo "   FAILED"
		failed=$((failed + 1))
	fi
}

count() {	# count PATTERN FILE
	grep -c -- "$1" "$2" || true
}

demo_dump() {
	xml=$work/sample.xml
	say cache_dump -o sample.xml sample.meta
	"$BIN/cache_dump" -o "$xml" "$meta" || return 1
	head -n 4 "$xml"
	echo "    ..."
	grep -A 2 '<discards' "$xml"
	tail -n 1 "$xml"
	echo "   $(count '<mapping ' "$xml") mappings, $(count 'dirty="true"' "$xml") dirty" \
		"(read from the v2 dirty bitset; 0.9.0 prints them all clean)," \
		"$(count '<hint ' "$xml") hints, $(count '<discard ' "$xml") discarded range(s)"
	if cmp -s "$xml" "$top/sample/sample.xml"; then
		echo "   identical to sample/sample.xml"
	else
		echo "   differs from sample/sample.xml:"
		diff "$top/sample/sample.xml" "$xml" | head -n 5
		return 1
	fi
}

demo_check() {
	say cache_check sample.meta
	"$BIN/cache_check" "$meta" 2>&1 | sed 's/^/   /' || return 1
	echo "   exit 0: the kernel-written metadata is clean"
}

demo_restore() {
	restored=$work/restored.meta
	truncate -s 8M "$restored"
	say cache_restore -i sample.xml -o restored.meta
	"$BIN/cache_restore" -i "$work/sample.xml" -o "$restored" || return 1
	say cache_check -q restored.meta
	"$BIN/cache_check" -q "$restored" || return 1
	say cache_dump restored.meta
	"$BIN/cache_dump" -o "$work/restored.xml" "$restored" || return 1
	cmp -s "$work/sample.xml" "$work/restored.xml" || {
		echo "   the dump of the restored metadata differs"
		return 1
	}
	echo "   restore -> check -> dump gives back sample.xml byte for byte"
}

demo_repair() {
	damaged=$work/damaged.meta
	repaired=$work/repaired.meta
	cp "$meta" "$damaged"
	truncate -s 8M "$repaired"
	# Zero the superblock: 0.9.0's cache_repair recovers nothing from this.
	say "dd if=/dev/zero of=damaged.meta bs=4096 count=1 conv=notrunc"
	dd if=/dev/zero of="$damaged" bs=4096 count=1 conv=notrunc 2>/dev/null
	say cache_check -q damaged.meta
	if "$BIN/cache_check" -q "$damaged"; then
		echo "   the damage went unnoticed"
		return 1
	fi
	echo "   exit 1: damage found"
	say cache_repair --block-size 64 -i damaged.meta -o repaired.meta
	"$BIN/cache_repair" --block-size 64 -i "$damaged" -o "$repaired" 2>&1 |
		sed 's/^/   /'
	say cache_check -q repaired.meta
	"$BIN/cache_check" -q "$repaired" || return 1
	"$BIN/cache_dump" -q -o "$work/repaired.xml" "$repaired" || return 1
	echo "   $(count '<mapping ' "$work/repaired.xml") of" \
		"$(count '<mapping ' "$work/sample.xml") mappings recovered," \
		"$(count 'dirty="true"' "$work/repaired.xml") dirty (a scanned" \
		"mapping's dirty state is unknown, so it is kept dirty)"
}

demo_replay() {
	# The sample's geometry: 1024 cache blocks of 32 KiB, an origin of
	# 8192 x 32 KiB.  The images start as zeroes, so the shadow (which
	# gets every write) starts equal to the origin.
	cp "$meta" "$work/replay.meta"
	truncate -s 32M "$work/cache.img"
	truncate -s 256M "$work/origin.img"
	truncate -s 256M "$work/shadow.img"
	gzip -dc "$top/sample/trace.log.gz" >"$work/trace.log"
	say cache_replay trace stat --trace trace.log
	"$BIN/cache_replay" trace stat --trace "$work/trace.log" |
		sed -n 's/^/   /; /^   \(format\|ios\|reads\|writes\|footprint\):/p'
	say cache_replay replay --metadata replay.meta --cache cache.img \
		--origin origin.img --trace trace.log --shadow shadow.img --verify
	status=$("$BIN/cache_replay" replay --metadata "$work/replay.meta" \
		--cache "$work/cache.img" --origin "$work/origin.img" \
		--trace "$work/trace.log" --shadow "$work/shadow.img" \
		--verify) || return 1
	echo "   $status"
	say cache_check replay.meta
	"$BIN/cache_check" -q "$work/replay.meta" || return 1
	"$BIN/cache_dump" -o "$work/replay.xml" "$work/replay.meta" || return 1
	echo "   exit 0; the metadata now has" \
		"$(count '<mapping ' "$work/replay.xml") mappings," \
		"$(count 'dirty="true"' "$work/replay.xml") dirty, smq hints" \
		"(the sample's $(count '<mapping ' "$work/sample.xml") warm-started" \
		"the policy); every read matched the shadow"
}

step dump cache_dump
step check cache_check
step restore cache_restore
step repair cache_repair
step replay cache_replay

echo
if [ "$failed" -ne 0 ]; then
	echo "demo: $failed step(s) failed"
	exit 1
fi
echo "demo: done"
