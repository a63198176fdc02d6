# SPDX-License-Identifier: GPL-3.0-or-later
#
# The fixtures the message corpus (tests/messages/*.cases) runs against,
# made in the current folder by tests/cli/83-messages.sh.  Images come from
# the reference cache_restore, damaged with tests/progs/corrupt; every name
# here is one a case may use.
: "${PROGS:?}"
REF_RESTORE=${REF_RESTORE:-/usr/sbin/cache_restore}
CORRUPT="$PROGS/corrupt"

set -e
"$PROGS/gen_xml" --nr-cache-blocks 100 --mapped 50 --dirty 20 >good.xml
truncate -s 4M good.img out.img
"$REF_RESTORE" -i good.xml -o good.img
cp good.img input.img
# sb NAME FIELD VALUE: good.img with a superblock field set, re-checksummed.
sb() { cp good.img "$1.img"; "$CORRUPT" "$1.img" set-sb "$2" "$3"; }
sb magic magic 1234
sb version version 3
sb location blocknr 5
sb geometry cache_blocks 4000000000
sb incompat incompat_flags 2
sb compat compat_flags 1
sb notclean flags 0
# A mapping array block with a stale checksum: damage the dump refuses
# without --repair.
cp good.img damaged.img
"$CORRUPT" damaged.img flip "$("$CORRUPT" damaged.img where mapping-block 0)" 100
cp good.img csum.img
"$CORRUPT" csum.img flip 0 100
head -c 100 good.img >short.img
: >empty.img
truncate -s 1M zero.img
truncate -s 8192 tiny.img
mkdir adir
printf '<superblock' >bad.xml
"$PROGS/gen_xml" --nr-cache-blocks 100 --mapped 50 --block-size 100 >bs100.xml
truncate -s 4M bs100.img
"$REF_RESTORE" -i bs100.xml -o bs100.img
# cache_writeback's data devices: 100 blocks of 64 KiB each side.
truncate -s 8M fast.img origin.img
# A path stat(2) takes and open(2) refuses (ENXIO), for every user.
python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")'
# xr [SB-ATTRS] BODY: restores <superblock SB-ATTRS>BODY</superblock> (by
# default 10 cache blocks of 128 sectors, smq, hint width 4) from x.xml,
# the document on lines 1 to 3.
cat >xr <<'XR'
#!/bin/bash
sb='uuid="" block_size="128" nr_cache_blocks="10" policy="smq" hint_width="4"'
[ $# -ge 2 ] && { sb=$1; shift; }
printf '<superblock %s>\n%s\n</superblock>\n' "$sb" "$1" >x.xml
exec cache_restore -i x.xml -o out.img
XR
chmod +x xr
# A pipe with no reader: "exec 3<>fifo 4>fifo 3<&-", then write to fd 4.
mkfifo fifo
# Thin pools (thin.cases): from the reference thin_restore, damaged with
# tests/progs/thin_corrupt.
"$PROGS/gen_thin_xml" --origins 2 --mappings 300 --seed 2 --run 20 >tgood.xml
truncate -s 4M tgood.img
/usr/sbin/thin_restore -i tgood.xml -o tgood.img >/dev/null
tc() { cp tgood.img "$1.img"; shift; "$PROGS/thin_corrupt" "$@"; }
v=$(sed -n 's/.*origin_block="\([0-9]*\)".*/\1/p' tgood.xml | head -n 1)
tc tdamaged tdamaged.img flip "$("$PROGS/thin_corrupt" tgood.img where dev-leaf 1 "$v")" 200
tc tcsum tcsum.img flip 0 100
# thin_restore (thin.cases): an output, and XML each refusal needs.
truncate -s 4M trest.img
truncate -s 64K ttiny.img
truncate -s 44K tshort.img
tsb() { echo "<superblock uuid=\"\" time=\"2\" transaction=\"1\" flags=\"0\" version=\"${2:-2}\" data_block_size=\"128\" nr_data_blocks=\"${1:-100}\">"; }
tdev() { echo "<device dev_id=\"${1:-1}\" mapped_blocks=\"${2:-1}\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">"; }
{ tsb; tdev; echo '<single_mapping origin_block="0" data_block="0" time="0"/>'; echo '</device>'; tdev; echo '</device></superblock>'; } >trdup.xml
{ tsb; tdev 1 3; echo '<range_mapping origin_begin="2" data_begin="0" length="2" time="0"/>'; echo '<single_mapping origin_block="3" data_block="9" time="0"/>'; echo '</device></superblock>'; } >troverlap.xml
{ tsb; tdev 1 2; echo '<range_mapping origin_begin="0" data_begin="99" length="2" time="0"/>'; echo '</device></superblock>'; } >trpast.xml
{ tsb; tdev 1 2; echo '<range_mapping origin_begin="18446744073709551615" data_begin="0" length="2" time="0"/>'; echo '</device></superblock>'; } >trwrap.xml
{ tsb; tdev 1 2; echo '<single_mapping origin_block="0" data_block="1" time="0"/>'; echo '</device></superblock>'; } >trmapped.xml
{ tsb; tdev; echo '<single_mapping origin_block="0" data_block="1" time="3"/>'; echo '</device></superblock>'; } >trtime.xml
{ tsb; tdev; echo '<range_mapping origin_begin="0" data_begin="1" length="0" time="0"/>'; echo '</device></superblock>'; } >trlen0.xml
{ tsb; tdev; echo '<single_mapping origin_block="0" data_block="x" time="0"/>'; echo '</device></superblock>'; } >trnumber.xml
{ tsb 100 3; echo '</superblock>'; } >trversion.xml
sed 's/data_block_size="128"/data_block_size="64"/' tgood.xml >trdbs.xml
{ tsb 1099511627776; echo '</superblock>'; } >trhuge.xml
{ tsb; tdev 16777216; echo '</device></superblock>'; } >trdevid.xml
{ tsb; echo '<def name="1"></def>'; echo '<def name="1"></def></superblock>'; } >trdef.xml
{ tsb; tdev; echo '<ref name="9"/></device></superblock>'; } >trref.xml
{ tsb; echo '<shared/></superblock>'; } >trunknown.xml
cp tgood.img theld.img
theld=$("$PROGS/thin_hold" theld.img)
cp theld.img tbadsnap.img
"$PROGS/thin_corrupt" tbadsnap.img flip "$theld" 100
# Twelve leaked data blocks: ten findings and "... and 2 more".
cp tgood.img tleaks.img
nd=$("$PROGS/thin_corrupt" tleaks.img where sb-data_nr_blocks)
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
	"$PROGS/thin_corrupt" tleaks.img set-data-count $((nd - i)) 1
done
set +e
