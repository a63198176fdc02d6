#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# thin_restore against the reference (issue 13).  XML from gen_thin_xml
# (0 to 100k mappings, one to 200 devices, snapshots sharing most of their
# origin's data blocks), and the reference dump of it (ranges merged), are
# restored by ours; both thin_checks pass the result (ours recounts the
# data space map, so a shared block's count must be right) and both
# thin_dumps print exactly the reference's dump of the reference's restore
# of the same XML, which is also the second input byte for byte.  Then:
# a failed restore leaves block 0 zeroed over old metadata (never a
# superblock over half-written trees), a too-small output, and the
# refusals (each message exactly: tests/messages/thin.cases has the rest).
set -u
: "${BIN:?}" "${PROGS:?}"
REF_RESTORE=/usr/sbin/thin_restore
REF_DUMP=/usr/sbin/thin_dump
REF_CHECK=/usr/sbin/thin_check
[ -x $REF_RESTORE ] && [ -x $REF_DUMP ] && [ -x $REF_CHECK ] ||
	{ echo "no reference tools"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# ours_ok NAME IMG WANT: both checks pass IMG, both dumps print WANT.
ours_ok() {
	local name=$1 img=$2 want=$3
	$REF_CHECK -q "$img" || bad "$name: reference thin_check failed"
	"$BIN/thin_check" -q "$img" || {
		bad "$name: our thin_check failed"
		"$BIN/thin_check" "$img" 2>&1 | head -n 8
	}
	# not even a warning (0.9.0's own restore gets sm-nr-allocated)
	"$BIN/thin_check" "$img" 2>&1 | grep -e warning -e error &&
		bad "$name: our thin_check finds something"
	$REF_DUMP "$img" >"$name.ref-dump" 2>&1 || bad "$name: reference dump failed"
	"$BIN/thin_dump" "$img" >"$name.our-dump" 2>&1 || bad "$name: our dump failed"
	cmp -s "$want" "$name.ref-dump" || {
		bad "$name: reference dump of our restore differs"
		diff "$want" "$name.ref-dump" | head -n 6
	}
	cmp -s "$want" "$name.our-dump" || bad "$name: our dump of our restore differs"
}

# case NAME SIZE_MB GEN_ARGS...
case_() {
	local name=$1 mb=$2
	shift 2
	"$PROGS/gen_thin_xml" "$@" >"$name.xml" || { bad "$name: gen failed"; return; }
	rm -f "$name.ref.img" "$name.img" "$name.2.img"
	truncate -s "${mb}M" "$name.ref.img" "$name.img" "$name.2.img"
	$REF_RESTORE -i "$name.xml" -o "$name.ref.img" >/dev/null ||
		{ bad "$name: reference restore failed"; return; }
	$REF_DUMP "$name.ref.img" >"$name.canon.xml" ||
		{ bad "$name: reference dump failed"; return; }
	# the reference's restore, our dump
	"$BIN/thin_dump" "$name.ref.img" | cmp -s - "$name.canon.xml" ||
		bad "$name: our dump of the reference restore differs"
	# our restore of the generated XML (single mappings only)
	"$BIN/thin_restore" -q -i "$name.xml" -o "$name.img" ||
		{ bad "$name: our restore failed"; return; }
	ours_ok "$name" "$name.img" "$name.canon.xml"
	# our restore of the dump (ranges): the dumps give back the input
	"$BIN/thin_restore" -i "$name.canon.xml" -o "$name.2.img" ||
		{ bad "$name: our restore of the dump failed"; return; }
	ours_ok "$name.2" "$name.2.img" "$name.canon.xml"
}

case_ empty 4 --origins 0
case_ nomap 4 --origins 3 --mappings 0
case_ one 4 --origins 1 --mappings 1
case_ small 4 --origins 2 --mappings 300 --seed 2
case_ snaps 8 --origins 2 --mappings 2000 --snapshots 3 --seed 3 --run 20
case_ many 16 --origins 200 --mappings 40 --seed 4 --run 3
case_ big 64 --origins 2 --mappings 100000 --snapshots 3 --seed 6 --run 30

# Shared data blocks: snapshots map most of their origin's blocks, so the
# data space map must hold counts of 2 and more (the overflow tree past 2).
grep -c 'data_block="0"' snaps.xml | grep -qx 4 ||
	bad "snaps.xml: block 0 not mapped by the origin and its 3 snapshots"

# The newer tools' shared leaves: <def> once, <ref> from two devices,
# restored as if the def's mappings were written out at each ref.
cat >defref.xml <<'XML'
<superblock uuid="" time="2" transaction="1" version="2" data_block_size="128" nr_data_blocks="100" metadata_snap="0">
  <def name="7">
    <range_mapping origin_begin="0" data_begin="10" length="5" time="0"/>
    <single_mapping origin_block="6" data_block="20" time="1"/>
  </def>
  <device dev_id="1" mapped_blocks="7" transaction="0" creation_time="0" snap_time="2">
    <ref name="7"/>
    <single_mapping origin_block="8" data_block="30" time="2"/>
  </device>
  <device dev_id="2" mapped_blocks="6" transaction="1" creation_time="2" snap_time="2">
    <ref name="7"/>
  </device>
</superblock>
XML
cat >defref.want <<'XML'
<superblock uuid="" time="2" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="100">
  <device dev_id="1" mapped_blocks="7" transaction="0" creation_time="0" snap_time="2">
    <range_mapping origin_begin="0" data_begin="10" length="5" time="0"/>
    <single_mapping origin_block="6" data_block="20" time="1"/>
    <single_mapping origin_block="8" data_block="30" time="2"/>
  </device>
  <device dev_id="2" mapped_blocks="6" transaction="1" creation_time="2" snap_time="2">
    <range_mapping origin_begin="0" data_begin="10" length="5" time="0"/>
    <single_mapping origin_block="6" data_block="20" time="1"/>
  </device>
</superblock>
XML
rm -f defref.img; truncate -s 4M defref.img
"$BIN/thin_restore" -i defref.xml -o defref.img || bad "def/ref restore failed"
ours_ok defref defref.img defref.want

# Devices in any order: the trees are keyed, the dump is in id order.
awk '/<device /{d++} d && !/<\/superblock>/{print > ("dev" d ".part")}' small.canon.xml
{ head -n 1 small.canon.xml; cat dev2.part dev1.part; echo '</superblock>'; } >reversed.xml
[ "$(grep -c '<device ' reversed.xml)" = 2 ] && ! cmp -s reversed.xml small.canon.xml ||
	bad "reversed.xml: not the two devices swapped"
rm -f reversed.img; truncate -s 4M reversed.img
"$BIN/thin_restore" -i reversed.xml -o reversed.img || bad "reversed restore failed"
ours_ok reversed reversed.img small.canon.xml

# Attributes in any order (the reader tries the usual order first): every
# mapping's and device's attributes reversed, the same pool.
sed -E 's/<single_mapping origin_block="([0-9]+)" data_block="([0-9]+)" time="([0-9]+)"/<single_mapping time="\3" data_block="\2" origin_block="\1"/
	s/<range_mapping origin_begin="([0-9]+)" data_begin="([0-9]+)" length="([0-9]+)" time="([0-9]+)"/<range_mapping time="\4" length="\3" data_begin="\2" origin_begin="\1"/
	s/<device dev_id="([0-9]+)" mapped_blocks="([0-9]+)"/<device mapped_blocks="\2" dev_id="\1"/' \
	small.canon.xml >shuffled.xml
grep -q '<single_mapping time=' shuffled.xml && grep -q '<range_mapping time=' shuffled.xml &&
	grep -q '<device mapped_blocks=' shuffled.xml || bad "shuffled.xml: attributes not reordered"
rm -f shuffled.img; truncate -s 4M shuffled.img
"$BIN/thin_restore" -i shuffled.xml -o shuffled.img || bad "shuffled restore failed"
ours_ok shuffled shuffled.img small.canon.xml

# Standard input, and the options that override the superblock.
"$BIN/thin_restore" -i - -o small.img <small.canon.xml || bad "stdin restore failed"
cmp -s <("$BIN/thin_dump" small.img) small.canon.xml || bad "stdin restore differs"
"$BIN/thin_restore" -i small.canon.xml -o small.img --transaction-id 77 \
	--data-block-size 256 --nr-data-blocks 4000 || bad "override restore failed"
head -n 1 small.canon.xml |
	sed 's/transaction="[0-9]*"/transaction="77"/; s/data_block_size="[0-9]*"/data_block_size="256"/; s/nr_data_blocks="[0-9]*"/nr_data_blocks="4000"/' >want.head
"$BIN/thin_dump" small.img | head -n 1 | cmp -s - want.head ||
	bad "--transaction-id/--data-block-size/--nr-data-blocks not applied"
$REF_CHECK -q small.img || bad "override restore: reference check failed"

# A failed restore over old metadata: exit 1, one line, block 0 zeroed.
cp small.img over.img
sed 's/data_block="5"/data_block="999999"/' small.xml >past.xml
out=$("$BIN/thin_restore" -i past.xml -o over.img 2>&1); rc=$?
[ $rc = 1 ] || bad "past nr_data_blocks: exit $rc"
[ "$(echo "$out" | wc -l)" = 1 ] || bad "past nr_data_blocks: not one line: $out"
case $out in
*"device 1: data block 999999 is past the pool's nr_data_blocks"*) ;;
*) bad "past nr_data_blocks: message: $out" ;;
esac
cmp -s -n 4096 over.img /dev/zero || bad "a failed restore left block 0 non-zero"
$REF_DUMP over.img >/dev/null 2>&1 && bad "a failed restore left a dumpable superblock"

# Too small for the metadata.
rm -f tiny.img; truncate -s 64K tiny.img
out=$("$BIN/thin_restore" -i big.canon.xml -o tiny.img 2>&1); rc=$?
[ $rc = 1 ] || bad "tiny output: exit $rc"
case $out in
"thin_restore: tiny.img: "*) ;;
*) bad "tiny output: message: $out" ;;
esac
cmp -s -n 4096 tiny.img /dev/zero || bad "tiny output: block 0 non-zero"

# The refusals.
refuse() {
	local name=$1 want=$2 xml=$3 out rc
	printf '%s\n' "$xml" >"$name.bad.xml"
	cp small.img "$name.bad.img"
	out=$("$BIN/thin_restore" -i "$name.bad.xml" -o "$name.bad.img" 2>&1); rc=$?
	[ $rc = 1 ] || bad "$name: exit $rc"
	[ "$out" = "thin_restore: $name.bad.xml: $want" ] ||
		bad "$name: got '$out', want 'thin_restore: $name.bad.xml: $want'"
	"$BIN/thin_check" -q "$name.bad.img" 2>/dev/null && bad "$name: left valid metadata"
}
SB='<superblock uuid="" time="2" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="100">'
D1='<device dev_id="1" mapped_blocks="2" transaction="0" creation_time="0" snap_time="0">'
refuse dup "line 4, column 1: device 1 is given twice" \
	"$SB
$D1<single_mapping origin_block=\"0\" data_block=\"0\" time=\"0\"/><single_mapping origin_block=\"1\" data_block=\"1\" time=\"0\"/>
</device>
$D1
</device></superblock>"
refuse overlap "line 2, column 154: device 1: virtual block 3 overlaps or comes before the previous mapping (each device's mappings must be in increasing order, without overlaps)" \
	"$SB
$D1<range_mapping origin_begin=\"2\" data_begin=\"0\" length=\"2\" time=\"0\"/><single_mapping origin_block=\"3\" data_block=\"9\" time=\"0\"/>
</device></superblock>"
refuse range-past "line 2, column 86: device 1: data block 100 is past the pool's nr_data_blocks 100" \
	"$SB
$D1<range_mapping origin_begin=\"0\" data_begin=\"99\" length=\"2\" time=\"0\"/>
</device></superblock>"
refuse number "line 2, column 86: <single_mapping>: data_block \"1x\" is not a decimal number" \
	"$SB
$D1<single_mapping origin_block=\"0\" data_block=\"1x\" time=\"0\"/>
</device></superblock>"
refuse mapped "line 3, column 1: device 1: mapped_blocks is 2 but its mappings cover 1 blocks" \
	"$SB
$D1<single_mapping origin_block=\"0\" data_block=\"1\" time=\"0\"/>
</device></superblock>"
refuse time "line 2, column 86: device 1: mapping time 3 is after the pool's time 2 (the kernel would take a shared block for a private one)" \
	"$SB
$D1<single_mapping origin_block=\"0\" data_block=\"1\" time=\"3\"/>
</device></superblock>"
refuse unknown-attr "line 2, column 86: <single_mapping>: unknown attribute colour" \
	"$SB
$D1<single_mapping origin_block=\"0\" data_block=\"1\" time=\"0\" colour=\"red\"/>
</device></superblock>"
refuse missing-attr "line 2, column 86: <single_mapping>: missing attribute time" \
	"$SB
$D1<single_mapping data_block=\"1\" origin_block=\"0\"/>
</device></superblock>"

[ $fails = 0 ]
