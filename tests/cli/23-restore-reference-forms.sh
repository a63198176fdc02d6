#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_restore reads the XML forms the reference tools write or read, not
# only its own: leaves straight under <superblock> (0.9.0 reads them, and
# its test suite writes them), <hint> without <hints>, attributes in any
# order, '+' and leading zeros, single quotes, CR LF, any white space, an
# XML declaration and comments, <mapping ...></mapping>, the newer tools'
# layout (no newline at the end).  For each, our restore then our dump
# must print exactly what the reference restore then the reference dump
# print.  <discards> without a geometry (0.9.0's form, which 0.9.0 itself
# cannot restore) gets the geometry the kernel would choose for the
# smallest origin the input fits (man cache_restore).  The forms refused on
# purpose (0.9.0 ignores them silently; see the man page) exit 1 with one
# line.
set -u
: "${BIN:?}"
REF_RESTORE=/usr/sbin/cache_restore
REF_DUMP=/usr/sbin/cache_dump
[ -x $REF_RESTORE ] && [ -x $REF_DUMP ] || { echo "no reference tools"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

SB='<superblock uuid="" block_size="128" nr_cache_blocks="16" policy="smq" hint_width="4">'

# same NAME: NAME.xml through both restores and dumps, v1.
same() {
	local n=$1
	rm -f "$n.ours.img" "$n.ref.img"
	truncate -s 4M "$n.ours.img" "$n.ref.img"
	"$BIN/cache_restore" -i "$n.xml" -o "$n.ours.img" --metadata-version 1 \
		2>"$n.err" || { bad "$n: our restore failed: $(cat "$n.err")"; return; }
	[ -s "$n.err" ] && bad "$n: our restore wrote on stderr: $(cat "$n.err")"
	$REF_RESTORE -i "$n.xml" -o "$n.ref.img" 2>/dev/null ||
		{ bad "$n: the reference restore fails it (test is wrong)"; return; }
	"$BIN/cache_dump" "$n.ours.img" >"$n.ours.dump" 2>&1 ||
		bad "$n: our dump failed"
	$REF_DUMP "$n.ref.img" >"$n.ref.dump" 2>&1 || bad "$n: reference dump failed"
	cmp -s "$n.ref.dump" "$n.ours.dump" ||
		{ bad "$n: dumps differ"; diff "$n.ref.dump" "$n.ours.dump" | head; }
	# and the reference dump of our image, too
	$REF_DUMP "$n.ours.img" >"$n.x.dump" 2>&1 &&
		cmp -s "$n.ref.dump" "$n.x.dump" ||
		bad "$n: the reference dump of our image differs"
}

# --- leaves without containers (0.9.0's test fixtures are written so)
printf '%s\n' "$SB" \
	'  <mapping cache_block="0" origin_block="5" dirty="false"/>' \
	'  <mapping cache_block="1" origin_block="100" dirty="true"/>' \
	'  <mapping cache_block="15" origin_block="7" dirty="true"/>' \
	'</superblock>' >bare-mappings.xml
same bare-mappings
printf '%s\n' "$SB" \
	'  <mapping cache_block="0" origin_block="5" dirty="false"/>' \
	'  <mapping cache_block="2" origin_block="6" dirty="true"/>' \
	'  <hint cache_block="0" data="AQIDBA=="/>' \
	'  <hint cache_block="2" data="/////w=="/>' \
	'</superblock>' >bare-both.xml
same bare-both
printf '%s\n' "$SB" \
	'  <mapping cache_block="0" origin_block="5" dirty="false"/>' \
	'  <hints>' \
	'    <hint cache_block="0" data="AQIDBA=="/>' \
	'  </hints>' \
	'</superblock>' >bare-then-wrapped.xml
same bare-then-wrapped
printf '%s\n' "$SB" \
	'  <mappings>' \
	'    <mapping cache_block="3" origin_block="5" dirty="true"/>' \
	'  </mappings>' \
	'  <hint cache_block="3" data="AQIDBA=="/>' \
	'</superblock>' >wrapped-then-bare.xml
same wrapped-then-bare

# --- the newer tools' layout: quick-xml, a newline before each element
printf '%s\n  <mappings>\n    <mapping cache_block="1" origin_block="9" dirty="true"/>\n  </mappings>\n  <hints>\n    <hint cache_block="1" data="BwAAAA=="/>\n  </hints>\n</superblock>' \
	"$SB" >newer-layout.xml
same newer-layout

# --- lexical freedom XML and both references allow
printf '%s\r\n' '<?xml version="1.0" encoding="UTF-8"?>' '<!-- by hand -->' \
	"<superblock hint_width='4' policy='smq' nr_cache_blocks=\"+016\"" \
	"    block_size = \"0128\"   uuid=\"\" >" \
	'<mappings><mapping dirty="true"' \
	'	origin_block="+7" cache_block="015"></mapping>' \
	'<mapping origin_block="0008" dirty="false" cache_block="2" /></mappings>' \
	'<hints><hint data="AQIDBA==" cache_block="15"/></hints>' \
	'</superblock>' >lexical.xml
same lexical

# --- <discards> without a geometry: the kernel's choice
# 100 origin blocks of 128 sectors, ranges up to 40: 128-sector discard
# blocks, 100 of them (the origin's 100 blocks fit in 2^14).
printf '%s\n' "$SB" \
	'  <mapping cache_block="0" origin_block="99" dirty="false"/>' \
	'  <discards>' \
	'    <discard dbegin="0" dend="3"/>' \
	'    <discard dbegin="10" dend="40"/>' \
	'  </discards>' \
	'</superblock>' >discards.xml
cat >discards.want <<EOF
$SB
  <mappings>
    <mapping cache_block="0" origin_block="99" dirty="false"/>
  </mappings>
  <hints>
    <hint cache_block="0" data="AAAAAA=="/>
  </hints>
  <discards discard_block_size="128" discard_nr_blocks="100">
    <discard dbegin="0" dend="3"/>
    <discard dbegin="10" dend="40"/>
  </discards>
</superblock>
EOF
# An origin of 50000 blocks: doubled twice (12500 blocks of 512 sectors);
# bare <discard> elements are a <discards> without a geometry too.
printf '%s\n' "$SB" \
	'  <mapping cache_block="0" origin_block="49999" dirty="false"/>' \
	'  <discard dbegin="5" dend="6"/>' \
	'</superblock>' >discards-big.xml
cat >discards-big.want <<EOF
$SB
  <mappings>
    <mapping cache_block="0" origin_block="49999" dirty="false"/>
  </mappings>
  <hints>
    <hint cache_block="0" data="AAAAAA=="/>
  </hints>
  <discards discard_block_size="512" discard_nr_blocks="12500">
    <discard dbegin="5" dend="6"/>
  </discards>
</superblock>
EOF
# No mapping: the ranges alone size the origin.
printf '%s\n' "$SB" '  <discards>' '    <discard dbegin="7" dend="9"/>' \
	'  </discards>' '</superblock>' >discards-only.xml
cat >discards-only.want <<EOF
$SB
  <mappings>
  </mappings>
  <hints>
  </hints>
  <discards discard_block_size="128" discard_nr_blocks="9">
    <discard dbegin="7" dend="9"/>
  </discards>
</superblock>
EOF
# Nothing to size it by: no geometry, as 0.9.0 writes.
printf '%s\n' "$SB" '  <discards>' '  </discards>' '</superblock>' >discards-empty.xml
printf '%s\n' "$SB" '  <mappings>' '  </mappings>' '  <hints>' '  </hints>' \
	'</superblock>' >discards-empty.want
for n in discards discards-big discards-only discards-empty; do
	rm -f "$n.img"
	truncate -s 4M "$n.img"
	"$BIN/cache_restore" -i "$n.xml" -o "$n.img" 2>"$n.err" ||
		{ bad "$n: our restore failed: $(cat "$n.err")"; continue; }
	"$BIN/cache_dump" "$n.img" >"$n.dump" 2>&1 || bad "$n: our dump failed"
	cmp -s "$n.want" "$n.dump" || { bad "$n: dump"; diff "$n.want" "$n.dump"; }
	"$BIN/cache_check" -q "$n.img" || bad "$n: our check fails it"
	# the dump restores to the same image
	rm -f "$n.2.img"
	truncate -s 4M "$n.2.img"
	"$BIN/cache_restore" -i "$n.dump" -o "$n.2.img" &&
		cmp -s "$n.img" "$n.2.img" || bad "$n: the dump does not restore to the same image"
done
$REF_RESTORE -i discards.xml -o discards.img >/dev/null 2>&1 &&
	echo "note: the reference now restores discards"

# --- refused on purpose: exit 1, one line
refuse() {
	local n=$1 rc
	printf '%s\n' "$SB" "$2" '</superblock>' >"$n.xml"
	rm -f "$n.img"
	truncate -s 4M "$n.img"
	"$BIN/cache_restore" -i "$n.xml" -o "$n.img" 2>"$n.err"
	rc=$?
	[ $rc -eq 1 ] || bad "$n: exit $rc, not 1"
	[ "$(wc -l <"$n.err")" -eq 1 ] || bad "$n: stderr: $(cat "$n.err")"
	grep -q "$3" "$n.err" || bad "$n: stderr '$(cat "$n.err")' lacks '$3'"
}
refuse unknown-attr '<mapping cache_block="0" origin_block="5" dirty="false" x="1"/>' \
	'unknown attribute x'
refuse hints-first '<hint cache_block="0" data="AQIDBA=="/>
<mapping cache_block="0" origin_block="5" dirty="false"/>' \
	'<mapping> must come before the hints and discards'
refuse split-run '<mapping cache_block="0" origin_block="5" dirty="false"/>
<hint cache_block="0" data="AQIDBA=="/>
<mapping cache_block="1" origin_block="6" dirty="false"/>' \
	'<mapping> after the mappings ended'
refuse twice '<mapping cache_block="0" origin_block="5" dirty="false"/>
<mapping cache_block="0" origin_block="6" dirty="false"/>' \
	'cache block 0 is mapped twice'
refuse long-hint '<mapping cache_block="0" origin_block="5" dirty="false"/>
<hint cache_block="0" data="AQIDBAUG"/>' 'data decodes to 6 bytes'
refuse negative '<mapping cache_block="0" origin_block="-5" dirty="false"/>' \
	'is not a decimal number'

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all reference forms ok"
