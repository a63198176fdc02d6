#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Every cache_check problem ID (cache/problems.h) is documented in
# man/cache_check.8 and shown by a damage corpus case (its expect.check
# prints "[id]"); the same for thin_check (thin/problems.h,
# man/thin_check.8, tests/thin-corpus).  The exceptions are listed here with where they are
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
echo "$(echo "$ids" | wc -w) cache_check problem IDs"
ids=$(sed -n 's/^\s*X([A-Z_]*, [A-Z]*, "\([a-z-]*\)",.*/\1/p' "$TOP/thin/problems.h")
[ -n "$ids" ] || { echo "no IDs found in thin/problems.h"; exit 1; }
for id in $ids; do
	# the page lists them in running text: .BR sb\-magic ,
	grep -Eq "^\.BR? ${id//-/\\\\-}( [,;.]|\$)" "$TOP/man/thin_check.8" ||
		{ echo "FAIL: $id is not in man/thin_check.8"; fails=$((fails + 1)); }
	grep -lqF "[$id]" "$TOP"/tests/thin-corpus/*/expect.check ||
		{ echo "FAIL: no thin corpus case shows $id"; fails=$((fails + 1)); }
done
echo "$(echo "$ids" | wc -w) thin_check problem IDs"
[ $fails -eq 0 ]
