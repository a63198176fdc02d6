#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Issue 12 finding 6: every option the reference tool's --help lists is
# listed by ours, and accepted.  The reference's option names are parsed
# from /usr/sbin/TOOL --help (its "{-q|--quiet}" and "--metadata-device
# <dev>" lines), so an option the reference gains is caught too; a help
# that lists nothing is a failure of this test, not a pass.
set -u
: "${BIN:?}"
REF=/usr/sbin
[ -x $REF/cache_check ] || { echo "no reference tools"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

for t in cache_check cache_dump cache_restore cache_repair \
	 cache_metadata_size cache_writeback; do
	$REF/$t --help >ref.txt 2>&1
	# Everything that looks like an option, after the Usage line.
	opts=$(sed 1d ref.txt | grep -oE -- '(^|[{| 	])--?[A-Za-z][A-Za-z-]*' |
		sed 's/^[{| 	]*//' | sort -u)
	n=$(echo "$opts" | grep -c .)
	[ "$n" -ge 3 ] || { bad "$t: parsed only $n options from the reference's help"; continue; }
	"$BIN/$t" --help >ours.txt 2>err.txt || bad "$t --help: exit $?"
	for o in $opts; do
		grep -qE -- "(^|[ ,[|{])$o([]=, |}]|\$)" ours.txt ||
			bad "$t: the reference lists $o, our --help does not"
		# Accepted: popt's own "unknown option" never comes back.
		"$BIN/$t" "$o" </dev/null >/dev/null 2>err.txt
		grep -q 'unknown option' err.txt && bad "$t: $o is refused as unknown"
	done
	echo "$t: $(echo $opts)"
done

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "every reference option is in our help"
