#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Runs the functional tests: every executable tests/cli/*.sh and every
# tests/corpus/*/run and tests/thin-corpus/*/run (each case script).  BIN is the folder with the tools
# (the sanitizer build), PROGS the test programs.  Each test gets its own
# scratch folder in $TMP (TESTDIR) and passes by exiting 0; 77 means
# skipped.  Ends with "cli: N passed, N failed, N skipped".
set -u
: "${BIN:?BIN must name the folder holding the tools}"
: "${PROGS:=}"
top=$(cd "$(dirname "$0")/.." && pwd)
export BIN PROGS TOP="$top"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
only="${TESTS:-}"

pass=0 fail=0 skip=0 failed=""
work=$(mktemp -d "${TMPDIR:-/tmp}/dmct-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT

run_one() {
	local t=$1 name=$2
	local dir="$work/$name"
	mkdir -p "$dir"
	if [ -n "$only" ] && ! [[ "$name" == $only ]]; then
		return
	fi
	( cd "$dir" && TESTDIR="$dir" bash "$t" ) >"$dir.log" 2>&1
	local rc=$?
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
		echo "PASS $name"
	elif [ $rc -eq 77 ]; then
		skip=$((skip + 1))
		echo "SKIP $name: $(tail -n 1 "$dir.log")"
	else
		fail=$((fail + 1))
		failed="$failed $name"
		echo "FAIL $name (exit $rc)"
		sed 's/^/    /' "$dir.log" | tail -n 40
	fi
}

for t in "$top"/tests/cli/*.sh; do
	[ -e "$t" ] || continue
	run_one "$t" "cli/$(basename "$t" .sh)"
done
for t in "$top"/tests/corpus/*/run; do
	[ -e "$t" ] || continue
	run_one "$t" "corpus/$(basename "$(dirname "$t")")"
done
for t in "$top"/tests/thin-corpus/*/run; do
	[ -e "$t" ] || continue
	run_one "$t" "thin-corpus/$(basename "$(dirname "$t")")"
done
[ -n "$failed" ] && echo "failed:$failed"
echo "cli: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
