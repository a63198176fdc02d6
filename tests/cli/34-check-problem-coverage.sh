#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Every cache_check problem ID (cache/problems.h) is documented in
# man/cache_check.8 and shown by a damage corpus case (its expect.check
# prints "[id]").  The exceptions are listed here with where they are
# tested instead, so a new ID without a case fails this test.
set -u
: "${TOP:?}"
elsewhere=" "
fails=0
ids=$(sed -n 's/^\s*X([A-Z_]*, [A-Z]*, "\([a-z-]*\)",.*/\1/p' "$TOP/cache/problems.h")
[ -n "$ids" ] || { echo "no IDs found in problems.h"; exit 1; }
for id in $ids; do
	grep -q "^\.B ${id//-/\\\\-}\$" "$TOP/man/cache_check.8" ||
		{ echo "FAIL: $id is not in man/cache_check.8"; fails=$((fails + 1)); }
	case $elsewhere in *" $id "*) continue ;; esac
	grep -lqF "[$id]" "$TOP"/tests/corpus/*/expect.check ||
		{ echo "FAIL: no corpus case shows $id"; fails=$((fails + 1)); }
done
echo "$(echo "$ids" | wc -w) problem IDs"
[ $fails -eq 0 ]
