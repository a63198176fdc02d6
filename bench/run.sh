#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# make bench: runs every bench/*.bench.sh, each of which times one of our
# tools against the reference one (/usr/sbin/...) on the same input in the
# same run and prints the ratio.  Timings are medians of several runs of
# /usr/bin/time; nothing here asserts on time.
set -eu
: "${BIN:?}" "${PROGS:?}"
top=$(cd "$(dirname "$0")/.." && pwd)
export BIN PROGS TOP="$top"
export BENCH_DIR="${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/dmct-bench.XXXXXX")}"
mkdir -p "$BENCH_DIR"
only="${BENCH:-*}"
for b in "$top"/bench/$only.bench.sh; do
	[ -e "$b" ] || continue
	echo "== $(basename "$b" .bench.sh)"
	bash "$b"
done
