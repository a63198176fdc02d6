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

step dump cache_dump

echo
if [ "$failed" -ne 0 ]; then
	echo "demo: $failed step(s) failed"
	exit 1
fi
echo "demo: done"
