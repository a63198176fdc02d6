#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_restore refuses bad XML: exit 1, exactly one line on stderr naming
# the file, line and column and what was wrong, nothing on stdout, and the
# output byte for byte as it was (it holds a valid earlier restore, which
# must survive: the whole input is checked before the first write).  Also
# an origin block mapped twice, a DOCTYPE (billion laughs), errors at the
# very end of a big file, and a too-small output, whose message gives the
# size needed.
set -u
: "${BIN:?}" "${PROGS:?}"
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

truncate -s 1M out.img
"$PROGS/gen_xml" --nr-cache-blocks 64 >good.xml
"$BIN/cache_restore" -i good.xml -o out.img || { echo "setup failed"; exit 1; }
cp out.img before.img

SB='<superblock uuid="" block_size="128" nr_cache_blocks="16" policy="smq" hint_width="4">'

# refuse NAME EXPECTED-STDERR-LINE: restores NAME.xml (already written).
refuse() {
	local name=$1 want=$2 rc
	"$BIN/cache_restore" -i "$name.xml" -o out.img >"$name.out" 2>"$name.err"
	rc=$?
	[ $rc -eq 1 ] || bad "$name: exit $rc, not 1"
	[ -s "$name.out" ] && bad "$name: wrote to stdout"
	[ "$(cat "$name.err")" = "$want" ] ||
		bad "$name: stderr is '$(cat "$name.err")', not '$want'"
	cmp -s out.img before.img || {
		bad "$name: the output was written"
		cp before.img out.img
	}
}

# t NAME XML EXPECTED-MESSAGE (after "cache_restore: NAME.xml: ")
t() {
	printf '%s' "$2" >"$1.xml"
	refuse "$1" "cache_restore: $1.xml: $3"
}

t empty '' 'line 1, column 1: malformed XML: no element found'
t garbage 'hello' 'line 1, column 1: malformed XML: syntax error'
t unclosed "$SB
  <mappings>
" 'line 3, column 1: malformed XML: no element found'
t mismatched "$SB
  <mappings>
  </hints>" 'line 3, column 5: malformed XML: mismatched tag'
t unknown "$SB
  <mappingz/>" 'line 2, column 3: unknown element <mappingz>'
t wrongplace "$SB
  <hints>
    <mapping cache_block=\"0\" origin_block=\"1\" dirty=\"true\"/>" \
	'line 3, column 5: <mapping> is not allowed inside <hints>'
t order "$SB
  <hints/>
  <mappings/>" 'line 3, column 3: <mappings> must come before <hints> and <discards>'
t noattr "$SB
  <mappings>
    <mapping cache_block=\"0\" origin_block=\"1\"/>" \
	'line 3, column 5: <mapping>: missing attribute dirty'
t extraattr "$SB
  <mappings>
    <mapping cache_block=\"0\" origin_block=\"1\" dirty=\"true\" foo=\"1\"/>" \
	'line 3, column 5: <mapping>: unknown attribute foo'
t negative "$SB
  <mappings>
    <mapping cache_block=\"-1\" origin_block=\"1\" dirty=\"true\"/>" \
	'line 3, column 5: <mapping>: cache_block "-1" is not a decimal number'
t cblockrange "$SB
  <mappings>
    <mapping cache_block=\"16\" origin_block=\"1\" dirty=\"true\"/>" \
	'line 3, column 5: <mapping>: cache_block 16 is out of range (nr_cache_blocks is 16)'
t oblockrange "$SB
  <mappings>
    <mapping cache_block=\"1\" origin_block=\"281474976710656\" dirty=\"true\"/>" \
	'line 3, column 5: <mapping>: origin_block 281474976710656 is out of range (the maximum is 281474976710655)'
t boolean "$SB
  <mappings>
    <mapping cache_block=\"1\" origin_block=\"2\" dirty=\"yes\"/>" \
	'line 3, column 5: <mapping>: dirty "yes" is not "true" or "false"'
t twice "$SB
  <mappings>
    <mapping cache_block=\"1\" origin_block=\"2\" dirty=\"true\"/>
    <mapping cache_block=\"1\" origin_block=\"3\" dirty=\"true\"/>" \
	'line 4, column 5: <mapping>: cache block 1 is mapped twice'
t origintwice "$SB
  <mappings>
    <mapping cache_block=\"1\" origin_block=\"2\" dirty=\"true\"/>
    <mapping cache_block=\"7\" origin_block=\"2\" dirty=\"false\"/>
  </mappings>
</superblock>" \
	'line 5, column 3: origin block 2 is mapped by cache blocks 1 and 7'
t base64 "$SB
  <hints>
    <hint cache_block=\"1\" data=\"AA!A\"/>" \
	'line 3, column 5: <hint>: data "AA!A" is not valid base64'
t hintlen "$SB
  <hints>
    <hint cache_block=\"1\" data=\"AAAAAAA=\"/>" \
	'line 3, column 5: <hint>: data decodes to 5 bytes, but hint_width is 4'
t hintwidth '<superblock uuid="" block_size="128" nr_cache_blocks="16" policy="smq" hint_width="5"/>' \
	'line 1, column 1: <superblock>: hint_width 5 is not 0 or a multiple of 4 from 4 to 128'
t policy '<superblock uuid="" block_size="128" nr_cache_blocks="16" policy="a_policy_name_too_long" hint_width="4"/>' \
	'line 1, column 1: <superblock>: policy "a_policy_name_too_long" is longer than 15 bytes'
t text "$SB
  <mappings>
    oops" 'line 3, column 1: unexpected text "oops" inside <mappings>'
t doctype '<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
]>
<superblock uuid="&lol2;" block_size="128" nr_cache_blocks="16" policy="smq" hint_width="4"/>' \
	'line 2, column 16: DOCTYPE declarations are not allowed (no DTD, no entities)'
t discard "$SB
  <discards discard_block_size=\"128\" discard_nr_blocks=\"10\">
    <discard dbegin=\"5\" dend=\"11\"/>" \
	'line 3, column 5: <discard>: dend 11 is past discard_nr_blocks 10'
t pastorigin "$SB
  <mappings>
    <mapping cache_block=\"3\" origin_block=\"10\" dirty=\"true\"/>
  </mappings>
  <discards discard_block_size=\"128\" discard_nr_blocks=\"10\"/>" \
	'line 5, column 3: cache block 3 maps origin block 10, past the 10 blocks the discard geometry gives the origin'

# A big valid file with one error in its last line: still nothing written.
"$PROGS/gen_xml" --nr-cache-blocks 50000 --hint-width 4 >big.xml
sed '$s|</superblock>|<bad/></superblock>|' big.xml >late.xml
lines=$(wc -l <late.xml)
refuse late "cache_restore: late.xml: line $lines, column 1: unknown element <bad>"

# Too small: the message gives the size, and that size works.
truncate -s 40K small.img
cp small.img small.before
"$PROGS/gen_xml" --nr-cache-blocks 16 >s16.xml
"$BIN/cache_restore" -i s16.xml -o small.img 2>small.err
rc=$?
[ $rc -eq 1 ] || bad "small: exit $rc"
[ "$(cat small.err)" = "cache_restore: small.img: Output file too small: the output holds 10 blocks of 4 KiB but this metadata needs 11 (45056 bytes)" ] ||
	bad "small: stderr '$(cat small.err)'"
cmp -s small.img small.before || bad "small: the output was written"
truncate -s 45056 small.img
"$BIN/cache_restore" -i s16.xml -o small.img || bad "small: 11 blocks did not do"
"$BIN/cache_dump" small.img | cmp -s - s16.xml || bad "small: dump differs"

[ $fails -eq 0 ]
