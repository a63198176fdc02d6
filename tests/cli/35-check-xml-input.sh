#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_check given an XML file (cache_dump's output, where the metadata
# belongs) says so in one line, cache_dump's own words, and exits 1; -q
# exits 1 silently.  Binary garbage still gets the superblock findings,
# and metadata is checked as ever.
set -u
: "${BIN:?}" "${PROGS:?}"
CHECK=$BIN/cache_check
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
msg() { echo "cache_check: $1: This looks like XML.  cache_check only takes binary metadata (cache_restore turns XML into metadata)"; }

# expect_xml FILE: the one line, exit 1, nothing on stdout; -q silent
expect_xml() {
	"$CHECK" "$1" >out 2>err
	rc=$?
	[ $rc -eq 1 ] || bad "$1: exit $rc, expected 1"
	[ -s out ] && bad "$1: stdout: $(cat out)"
	[ "$(cat err)" = "$(msg "$1")" ] || bad "$1: stderr: $(cat err)"
	"$CHECK" -q "$1" >out 2>&1
	rc=$?
	[ $rc -eq 1 ] || bad "$1 -q: exit $rc, expected 1"
	[ -s out ] && bad "$1 -q printed: $(cat out)"
}

"$PROGS/gen_xml" --nr-cache-blocks 2000 --mapped 50 >big.xml	# > 4 KiB
expect_xml big.xml
printf '<superblock uuid="" block_size="64" nr_cache_blocks="0" policy="smq" hint_width="4">\n</superblock>\n' >small.xml
expect_xml small.xml		# < 4 KiB: no superblock to read at all
{ printf '\xef\xbb\xbf<?xml version="1.0"?>\n'; cat big.xml; } >bom.xml
expect_xml bom.xml
{ printf '\n  <!-- a comment -->\n'; cat big.xml; } >comment.xml
expect_xml comment.xml

# Not XML: the superblock findings as before.
yes garbage | head -c 8192 >garbage.img
"$CHECK" garbage.img >out 2>&1
grep -q 'looks like XML' out && bad "garbage.img taken for XML"
grep -q '\[sb-magic\]' out || bad "garbage.img: no sb-magic: $(cat out)"

# With --clear-needs-check-flag the file is still refused, and untouched.
cp big.xml keep.xml
"$CHECK" --clear-needs-check-flag keep.xml >out 2>err
[ $? -eq 1 ] || bad "--clear-needs-check-flag on XML: exit not 1"
cmp -s big.xml keep.xml || bad "--clear-needs-check-flag changed the XML file"

[ $fails -eq 0 ]
