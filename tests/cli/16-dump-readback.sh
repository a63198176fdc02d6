#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# What cache_dump (and cache_repair --xml) write with exit 0, cache_restore
# reads back to the same metadata (issue 12 finding 8):
# - uuid and policy bytes of every value 0..255 (16 images: 16 uuid bytes
#   and 15 policy bytes each): the XML is well-formed (expat), and dump ->
#   restore -> dump gives the same XML and the same 32 superblock bytes;
#   cache_repair --xml keeps the uuid bytes too;
# - hint_width="0": restore -> dump -> restore -> dump is the same XML, and
#   no hint array is written (hint_root 0), either time;
# - fields no restore can write (block size 0, a 16-byte policy name with
#   no NUL, hint width 6): without --repair one line and exit 1, no XML;
#   with --repair an exact "repair:" note, XML our restore takes, and that
#   restore dumps as the same XML;
# - an origin block mapped twice, which the restore refuses: the same,
#   0.9.0's "metadata contains errors" without --repair.
set -u
: "${BIN:?}" "${PROGS:?}"
CORRUPT="$PROGS/corrupt"
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# sbbytes IMG OFFSET LEN: hex of superblock bytes
sbbytes() { od -An -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n'; }

# le64 B0 .. B7: the little-endian u64 of 8 byte values, in hex
le64() {
	local v=0 i
	for ((i = 7; i >= 0; i--)); do
		v=$(((v << 8) | ${@:i+1:1}))
	done
	printf '0x%x' "$v"
}

# roundtrip NAME IMG: dump, check well-formed, restore, dump again: same
# XML and the same uuid and policy bytes.  Leaves NAME.xml.
roundtrip() {
	local name=$1 img=$2
	"$BIN/cache_dump" "$img" >"$name.xml" 2>"$name.err" ||
		{ bad "$name: dump exit $?: $(head -n 2 "$name.err")"; return; }
	"$PROGS/expat_parse" "$name.xml" >/dev/null 2>"$name.expat" ||
		bad "$name: the dump is not well-formed XML: $(cat "$name.expat")"
	truncate -s 4M "$name.r"
	"$BIN/cache_restore" -i "$name.xml" -o "$name.r" 2>"$name.rerr" ||
		{ bad "$name: restore exit $?: $(cat "$name.rerr")"; return; }
	"$BIN/cache_dump" "$name.r" >"$name.r.xml" 2>/dev/null ||
		bad "$name: dump of the restore failed"
	cmp -s "$name.xml" "$name.r.xml" ||
		{ bad "$name: dump -> restore -> dump differs:"; diff "$name.xml" "$name.r.xml" | head -n 4; }
	[ "$(sbbytes "$img" 16 16)" = "$(sbbytes "$name.r" 16 16)" ] ||
		bad "$name: uuid bytes $(sbbytes "$img" 16 16) came back as $(sbbytes "$name.r" 16 16)"
	[ "$(sbbytes "$img" 44 16)" = "$(sbbytes "$name.r" 44 16)" ] ||
		bad "$name: policy bytes $(sbbytes "$img" 44 16) came back as $(sbbytes "$name.r" 44 16)"
}

"$PROGS/gen_xml" --nr-cache-blocks 64 --mapped 50 --dirty 30 >src.xml
truncate -s 4M base.img
"$BIN/cache_restore" -i src.xml -o base.img || { echo "restore failed"; exit 1; }

# ---- every byte value in the uuid and the policy ----
for ((k = 0; k < 16; k++)); do
	u=() p=()
	for ((i = 0; i < 16; i++)); do u+=($((k * 16 + i))); done
	# 15 non-NUL bytes and the NUL: 1..255 over the 16 images (then 1..)
	for ((i = 0; i < 15; i++)); do p+=($((1 + (k * 15 + i) % 255))); done
	p+=(0)
	img=bytes$k.img
	cp base.img "$img"
	"$CORRUPT" "$img" set-u64 0 16 "$(le64 "${u[@]:0:8}")" --resum sb &&
		"$CORRUPT" "$img" set-u64 0 24 "$(le64 "${u[@]:8:8}")" --resum sb &&
		"$CORRUPT" "$img" set-u64 0 44 "$(le64 "${p[@]:0:8}")" --resum sb &&
		"$CORRUPT" "$img" set-u64 0 52 "$(le64 "${p[@]:8:8}")" --resum sb ||
		{ bad "bytes$k: corrupt failed"; continue; }
	roundtrip "bytes$k" "$img"
done
# The escapes are exact: 0x00 inside the uuid, 0x01, 0x7f, a lone 0x80.
grep -q '^<superblock uuid="&#xF700;&#xF701;&#xF702;' bytes0.xml ||
	bad "bytes0: uuid not escaped as U+F7HH: $(head -c 120 bytes0.xml)"
grep -q ' policy="yz{|}~&#xF77F;&#xF780;&#xF781;&#xF782;&#xF783;&#xF784;&#xF785;&#xF786;&#xF787;" ' bytes8.xml ||
	bad "bytes8: policy not escaped as U+F7HH: $(head -c 200 bytes8.xml)"

# cache_repair --xml writes the same uuid escapes, and they read back.
"$BIN/cache_repair" -i bytes8.img --xml rep8.xml >/dev/null 2>&1 ||
	bad "cache_repair --xml bytes8.img: exit $?"
"$PROGS/expat_parse" rep8.xml >/dev/null 2>&1 || bad "cache_repair --xml: not well-formed"
truncate -s 4M rep8.r
"$BIN/cache_restore" -i rep8.xml -o rep8.r 2>rep8.err || bad "restore of cache_repair --xml: $(cat rep8.err)"
[ "$(sbbytes bytes8.img 16 16)" = "$(sbbytes rep8.r 16 16)" ] ||
	bad "cache_repair --xml: uuid bytes $(sbbytes bytes8.img 16 16) came back as $(sbbytes rep8.r 16 16)"

# ---- hint_width 0 ----
"$PROGS/gen_xml" --nr-cache-blocks 64 --mapped 50 --hint-width 4 |
	sed -e '1s/hint_width="4"/hint_width="0"/' -e '/<hint /d' >hw0.xml
truncate -s 4M hw0.img
"$BIN/cache_restore" -i hw0.xml -o hw0.img || bad "hw0: restore failed"
[ "$("$CORRUPT" hw0.img where hint-root 2>&1)" = 0 ] ||
	bad "hw0: restore of hint_width 0 wrote a hint array: $("$CORRUPT" hw0.img where hint-root 2>&1)"
roundtrip hw0.d hw0.img
cmp -s hw0.xml hw0.d.xml || { bad "hw0: the dump differs from the restored XML:"; diff hw0.xml hw0.d.xml | head -n 4; }
[ "$("$CORRUPT" hw0.d.r where hint-root 2>&1)" = 0 ] ||
	bad "hw0: the second restore wrote a hint array"

# ---- fields no restore can write ----
tail="(run cache_check for details, or --repair to dump what can be read)"
# fixed NAME 'ERROR' 'NOTE' SED: corrupted copy NAME.img must fail to dump
# with ERROR, and dump --repair as src.xml edited by SED, NOTE its stderr
fixed() {
	local name=$1 err=$2 note=$3 edit=$4
	"$BIN/cache_dump" "$name.img" >"$name.plain" 2>"$name.perr"
	rc=$?
	[ $rc -eq 1 ] || bad "$name: dump without --repair: exit $rc, want 1"
	[ "$(cat "$name.perr")" = "cache_dump: $name.img: superblock is invalid: $err" ] ||
		bad "$name: stderr '$(cat "$name.perr")'"
	[ -s "$name.plain" ] && bad "$name: XML without --repair"
	"$BIN/cache_dump" --repair "$name.img" >"$name.xml" 2>"$name.err" ||
		bad "$name: --repair exit $?"
	[ "$(cat "$name.err")" = "$note" ] ||
		bad "$name: --repair stderr '$(cat "$name.err")'"
	sed "$edit" src.xml >"$name.want"
	cmp -s "$name.want" "$name.xml" ||
		{ bad "$name: --repair XML differs:"; diff "$name.want" "$name.xml" | head -n 4; }
	truncate -s 4M "$name.r"
	"$BIN/cache_restore" -i "$name.xml" -o "$name.r" 2>"$name.rerr" ||
		{ bad "$name: our restore refuses the --repair XML: $(cat "$name.rerr")"; return; }
	"$BIN/cache_dump" "$name.r" 2>/dev/null | cmp -s - "$name.xml" ||
		bad "$name: the restored --repair XML dumps differently"
}

cp base.img bs0.img
"$CORRUPT" bs0.img set-sb data_block_size 0
fixed bs0 "data_block_size is 0 $tail" \
	"cache_dump: repair: superblock block_size is 0; printed as 128, a guess: put the cache's real block size in the XML before restoring (the kernel refuses metadata whose block size differs from its table's)" \
	'1s/block_size="[0-9]*"/block_size="128"/'

cp base.img pol16.img
"$CORRUPT" pol16.img set-sb policy_name 0123456789abcdef
fixed pol16 "the policy name has no NUL in its 16 bytes (run cache_check for details, or --repair to dump it cut to 15)" \
	"cache_dump: repair: superblock policy name has no NUL in its 16 bytes; printed cut to its first 15" \
	'1s/policy="[^"]*"/policy="0123456789abcde"/'

cp base.img hs6.img
"$CORRUPT" hs6.img set-sb policy_hint_size 6
fixed hs6 "policy_hint_size is 6 $tail" \
	"cache_dump: repair: superblock hint width 6 is not 0 or a multiple of 4 up to 128; its hints are dropped and hint_width is printed as 0
cache_dump: repair: skipped 1 damaged range(s): 0 mapping(s) and 64 hint(s) lost, 0 unreadable dirty bit(s) reported dirty, 0 discard bit(s) lost" \
	'1s/hint_width="4"/hint_width="0"/; /<hint /d'

# An origin block mapped by two cache blocks (the restore refuses it):
# damage without --repair; with it the second (clean) mapping and its hint
# are left out.
read -r c1 o1 c2 _ < <(sed -n 's/.*<mapping cache_block="\([0-9]*\)" origin_block="\([0-9]*\)".*/\1 \2/p' src.xml |
	head -n 2 | tr '\n' ' ')
cp base.img dup.img
"$CORRUPT" dup.img set-map "$c2" $(((o1 << 16) | 1)) || bad "dup: corrupt set-map failed"
"$BIN/cache_dump" dup.img >dup.plain 2>dup.perr
rc=$?
[ $rc -eq 1 ] || bad "dup: dump without --repair: exit $rc, want 1"
[ "$(cat dup.perr)" = "metadata contains errors (run cache_check for details).
perhaps you wanted to run with --repair ?" ] || bad "dup: stderr '$(cat dup.perr)'"
[ -s dup.plain ] && bad "dup: XML without --repair"
"$BIN/cache_dump" --repair dup.img >dup.xml 2>dup.err || bad "dup: --repair exit $?"
[ "$(cat dup.err)" = "cache_dump: repair: 1 mapping(s) of an origin block another cache block maps too left out (the dirty one kept, else the lower cache block)" ] ||
	bad "dup: --repair stderr '$(cat dup.err)'"
grep -v "cache_block=\"$c2\" " src.xml | cmp -s - dup.xml ||
	{ bad "dup (cache blocks $c1 and $c2): --repair XML differs:"; grep -v "cache_block=\"$c2\" " src.xml | diff - dup.xml | head -n 4; }
truncate -s 4M dup.r
"$BIN/cache_restore" -i dup.xml -o dup.r 2>dup.rerr || bad "dup: our restore refuses the --repair XML: $(cat dup.rerr)"
"$BIN/cache_dump" dup.r 2>/dev/null | cmp -s - dup.xml || bad "dup: the restored --repair XML dumps differently"

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all dumps read back"
