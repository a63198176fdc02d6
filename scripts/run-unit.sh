#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Runs each cmocka unit-test binary given, and ends with one summary line
# "unit: N passed, N failed" counting binaries.  Exits 1 if any failed.
set -u
pass=0
fail=0
failed=""
for t in "$@"; do
	if "$t" >"$t.log" 2>&1; then
		pass=$((pass + 1))
		grep -E '^\[  PASSED  \]' "$t.log" | sed "s|^|$(basename "$t"): |"
	else
		fail=$((fail + 1))
		failed="$failed $(basename "$t")"
		cat "$t.log"
	fi
done
[ -n "$failed" ] && echo "failed unit tests:$failed"
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
