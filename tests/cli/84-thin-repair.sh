#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# thin_repair (issue 13).  A pool from gen_thin_xml (two origins and a
# snapshot of the first, 6000 mappings, our thin_restore), then each
# damage the reference cannot repair, with what /usr/sbin/thin_repair
# (0.9.0) does on the very same input shown beside ours:
#   top-level root zeroed   ours: every mapping back, dump identical;
#                           0.9.0: an empty pool, exit 0
#   details root zeroed     ours: identical except each device's
#                           transaction/creation_time/snap_time (lost with
#                           the details: rebuilt as the superblock's
#                           transaction, 0, the pool time); 0.9.0: empty
#   superblock zeroed       ours: identical except the superblock's
#                           nr_data_blocks (inferred: highest mapped block
#                           + 1) and, with the three override options,
#                           identical; 0.9.0: fails
#   one leaf zeroed after a second transaction (tests/progs/thin_shadow
#   rewrote blocks 300-309 and 1500-1509 of device 4 with time 4)
#                           ours: the leaf's range from the older tree, so
#                           300-309 have their old time and 1500-1509 keep
#                           the new one, each block compared; reported;
#                           0.9.0: the leaf's 126 mappings dropped
#   a device's root node zeroed
#                           ours: its orphan leaves taken back, identical;
#                           0.9.0: the device kept with no mappings
#   superblock, top level and details lost after the second transaction
#                           ours: every mapping of the current one (device
#                           4's newer tree preferred to the one the older
#                           top level names)
#   two mappings claiming one data block with different times: the newer
#   keeps it, reported
#   all three lost on one transaction: orphans adopted under new ids,
#                           every mapping back; 0.9.0: fails
#   a metadata snapshot held, then a discard and a deletion (tests/progs/
#   thin_hold, thin_discard), the mapping root, both roots, the top
#   level's block or the superblock lost: the current pool back, never the
#   snapshot's older trees (each left aside reported)
# Every output passes our thin_check and 0.9.0's.  Then an empty pool from
# non-empty evidence is refused, bad input is one line and exit 1, LVM's
# form works, and seeded random damage never crashes.
set -u
: "${BIN:?}" "${PROGS:?}"
REF=/usr/sbin
[ -x $REF/thin_repair ] && [ -x $REF/thin_check ] && [ -x $REF/thin_dump ] ||
	{ echo "no reference tools"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# Both checkers pass IMG.
checks_ok() {
	"$BIN/thin_check" -q "$2" || { bad "$1: our thin_check fails the output"; "$BIN/thin_check" "$2" 2>&1 | head -5; }
	$REF/thin_check -q "$2" || bad "$1: reference thin_check fails the output"
}
# Mappings in a dump, one line per block: "dev vblock dblock time".
blocks() {
	awk '/<device /{match($0,/dev_id="[0-9]+"/); d=substr($0,RSTART+8,RLENGTH-9)}
	     /single_mapping/{split($0,a,"\""); print d, a[2], a[4], a[6]}
	     /range_mapping/{split($0,a,"\""); for(i=0;i<a[6];i++) print d, a[2]+i, a[4]+i, a[8]}' "$1"
}
nmap() { blocks "$1" | wc -l; }
# The reference on the same input: its exit code and mappings kept.
reference() {
	local name=$1 img=$2
	rm -f "$name.ref"; truncate -s 8M "$name.ref"
	$REF/thin_repair -i "$img" -o "$name.ref" >"$name.ref.log" 2>&1
	local rc=$?
	if [ $rc -eq 0 ] && $REF/thin_dump "$name.ref" >"$name.ref.dump" 2>/dev/null; then
		echo "$name: reference: exit 0, $(nmap "$name.ref.dump") mappings"
	else
		echo "$name: reference: exit $rc: $(head -c 200 "$name.ref.log" | tr '\n' ' ')"
		: >"$name.ref.dump"
	fi
}
# repair NAME IMG [OPTS]: ours, into NAME.out; its report in NAME.log.
repair() {
	local name=$1 img=$2
	shift 2
	rm -f "$name.out"; truncate -s 8M "$name.out"
	"$BIN/thin_repair" -i "$img" -o "$name.out" "$@" >"$name.log" 2>&1 ||
		{ bad "$name: our repair failed"; cat "$name.log"; return 1; }
	checks_ok "$name" "$name.out"
	"$BIN/thin_dump" "$name.out" >"$name.dump" || bad "$name: cannot dump"
	sed 's/^/    /' "$name.log"
}
zero() { dd if=/dev/zero of="$1" bs=4096 seek="$2" count=1 conv=notrunc status=none; }
sbf() { "$PROGS/thin_corrupt" "$1" where "sb-$2"; }

"$PROGS/gen_thin_xml" --origins 2 --mappings 2000 --snapshots 1 --seed 3 \
	--run 20 --transaction 5 >pool.xml || exit 1
truncate -s 8M src.img
"$BIN/thin_restore" -i pool.xml -o src.img || exit 1
"$BIN/thin_dump" src.img >src.dump || exit 1
[ "$(nmap src.dump)" -eq 6000 ] || bad "source: not 6000 mappings"

# A clean pool: the same pool back, both checkers pass it.
repair clean src.img && cmp -s src.dump clean.dump || bad "clean: dump differs"
grep -qx 'transaction id 5 (the superblock.s)' clean.log || bad "clean: transaction not reported"

# Top-level root lost.
cp src.img top.img; zero top.img "$(sbf src.img mapping_root)"
reference top top.img
[ "$(nmap top.ref.dump)" -eq 0 ] || bad "top: the reference recovered mappings (the test expects 0.9.0 not to)"
if repair top top.img; then
	cmp -s src.dump top.dump || { bad "top: dump differs from the source"; diff src.dump top.dump | head; }
	[ "$(grep -c 'adopted the unreferenced mapping tree' top.log)" -eq 3 ] ||
		bad "top: three adoptions not reported"
fi

# Details root lost: the fields the details alone held differ, and only those.
cp src.img det.img; zero det.img "$(sbf src.img details_root)"
reference det det.img
[ "$(nmap det.ref.dump)" -eq 0 ] || bad "det: the reference recovered mappings"
norm() { sed -E 's/ transaction="[0-9]+" creation_time="[0-9]+" snap_time="[0-9]+">/>/' "$1"; }
if repair det det.img; then
	diff <(norm src.dump) <(norm det.dump) >/dev/null ||
		{ bad "det: differs beyond the details' own fields"; diff src.dump det.dump | head; }
	[ "$(grep -c 'details lost: rebuilt (mapped_blocks 2000, transaction 5' det.log)" -eq 3 ] ||
		bad "det: rebuilt details not reported"
	grep 'dev_id=' det.dump | grep -vc 'transaction="5" creation_time="0" snap_time="3"' | grep -qx 0 ||
		bad "det: rebuilt details not the superblock's transaction, 0, pool time"
fi

# Superblock zeroed.
cp src.img sb.img; zero sb.img 0
reference sb sb.img
[ "$(nmap sb.ref.dump)" -eq 0 ] || bad "sb: the reference recovered mappings"
# The transaction is inferred as the newest device's (2 here: a lower
# bound, nothing else on disk holds it), nr_data_blocks as the highest
# mapped block + 1: both reported, and right with the overrides.
nosb() { sed -E '1s/ transaction="[0-9]+"//; 1s/ nr_data_blocks="[0-9]+"//' "$1"; }
if repair sb sb.img; then
	diff <(nosb src.dump) <(nosb sb.dump) >/dev/null ||
		{ bad "sb: differs beyond transaction and nr_data_blocks"; diff src.dump sb.dump | head; }
	want=$(sed -nE 's/.* transaction="([0-9]+)".*/\1/p' src.dump | sed 1d | sort -n | tail -n 1)
	grep -q "^transaction id $want inferred" sb.log || bad "sb: inferred transaction ($want) not reported"
	head -n 1 sb.dump | grep -q " transaction=\"$want\"" || bad "sb: transaction not the newest device's"
	grep -q '^nr_data_blocks unknown' sb.log || bad "sb: nr_data_blocks not reported"
fi
nr=$(head -n 1 src.dump | sed -E 's/.*nr_data_blocks="([0-9]+)".*/\1/')
if repair sb2 sb.img --transaction-id 5 --data-block-size 128 --nr-data-blocks "$nr"; then
	cmp -s src.dump sb2.dump || { bad "sb2: with the overrides, dump differs"; diff src.dump sb2.dump | head; }
fi

# One damaged leaf, filled from the previous transaction's copy.
cp src.img sh.img
leaf=$("$PROGS/thin_shadow" sh.img 4 300 310 1500 1510) || bad "thin_shadow failed"
"$BIN/thin_check" -q sh.img && $REF/thin_check -q sh.img || bad "shadowed pool does not check"
"$BIN/thin_dump" sh.img >sh.dump
[ "$(blocks sh.dump | awk '$1==4 && $4==4' | wc -l)" -ge 10 ] || bad "thin_shadow rewrote too little"
# the leaf must hold 300 but not 1500 (so one range is lost, one kept)
[ "$("$PROGS/thin_corrupt" sh.img where dev-leaf 4 300)" = "$leaf" ] || bad "thin_shadow's leaf is not 300's"
v2=$(blocks sh.dump | awk '$1==4 && $2>=1500 && $4==4 {print $2; exit}')
[ "$("$PROGS/thin_corrupt" sh.img where dev-leaf 4 "$v2")" != "$leaf" ] || bad "300 and $v2 share a leaf"
zero sh.img "$leaf"
reference leaf sh.img
[ "$(nmap leaf.ref.dump)" -lt 6000 ] || bad "leaf: the reference recovered every mapping"
if repair leaf sh.img; then
	# expected: the old transaction's blocks 300-309 of device 4, the new one's elsewhere
	awk 'NR==FNR { if ($1==4 && $2>=300 && $2<310) old[$2]=$0; next }
	     { if ($1==4 && $2>=300 && $2<310) { if ($2 in old) print old[$2]; next } print }' \
		<(blocks src.dump) <(blocks sh.dump) >want.blocks
	blocks leaf.dump >got.blocks
	cmp -s want.blocks got.blocks || { bad "leaf: blocks differ from old 300-309 + new elsewhere"; diff want.blocks got.blocks | head; }
	[ "$(awk '$1==4 && $2>=1500 && $2<1510 && $4==4' got.blocks | wc -l)" -ge 1 ] ||
		bad "leaf: the undamaged new range was rolled back"
	grep -Eq '^device 4: virtual blocks [0-9]+-[0-9]+ \(a damaged node\) patched from the older tree at block [0-9]+: [0-9]+ mapping' leaf.log ||
		bad "leaf: patched range not reported"
	diff <(sed 1d sh.dump | grep -v mapping) <(sed 1d leaf.dump | grep -v mapping) >/dev/null ||
		bad "leaf: devices' details differ"
	head -n 1 leaf.dump | grep -q 'time="4" transaction="6"' || bad "leaf: not the newer superblock"
fi

# A device's root (an internal node) zeroed, no older copy: its leaves are
# orphan subtrees within the lost range, taken back one by one.  0.9.0
# keeps the device with no mappings.
cp src.img droot.img
zero droot.img "$("$PROGS/thin_corrupt" src.img where dev-root 4)"
reference droot droot.img
[ "$(nmap droot.ref.dump)" -eq 4000 ] || bad "droot: the reference kept other than the two other devices"
if repair droot droot.img; then
	cmp -s src.dump droot.dump || { bad "droot: dump differs from the source"; diff src.dump droot.dump | head; }
	# one line per child of the lost root (its nr_entries, at byte 16)
	kids=$(od -An -t u4 -j $(( $("$PROGS/thin_corrupt" src.img where dev-root 4) * 4096 + 16 )) -N 4 src.img | tr -d ' ')
	[ "$(grep -c '^device 4: virtual blocks [0-9]*-[0-9]* (in a damaged node.s range) from the orphan subtree' droot.log)" -eq "$kids" ] ||
		bad "droot: not all $kids subtrees reported"
fi
# The same with the superblock lost too: the top level, which names the
# lost root, is still told from a mapping leaf (its keys would fall in
# device 4's lost range).
zero droot.img 0
if repair droot2 droot.img --transaction-id 5 --nr-data-blocks "$(head -n 1 src.dump | sed -E 's/.*nr_data_blocks="([0-9]+)".*/\1/')"; then
	cmp -s src.dump droot2.dump || { bad "droot2: dump differs from the source"; diff src.dump droot2.dump | head; }
fi

# Everything lost after the second transaction (superblock, its top level
# and details): the older top level found names device 4's older tree,
# and the newer unreferenced tree is taken instead; every mapping is the
# current transaction's.  The details differ only in their own fields.
cp src.img all.img
"$PROGS/thin_shadow" all.img 4 300 310 1500 1510 >/dev/null
"$BIN/thin_dump" all.img >all.src.dump
zero all.img "$(sbf all.img mapping_root)"
zero all.img "$(sbf all.img details_root)"
zero all.img 0
reference all all.img
if repair all all.img; then
	diff <(norm all.src.dump | sed 1d) <(norm all.dump | sed 1d) >/dev/null ||
		{ bad "all: mappings differ from the current transaction's"; diff all.src.dump all.dump | head; }
	grep -q '^device 4: the unreferenced tree at block [0-9]* is newer' all.log ||
		bad "all: the newer tree of device 4 not reported"
fi

# No device set at all (superblock, top level and details of the
# single-transaction pool lost, and no older copy of them): the orphan
# trees are adopted under new ids, newest first; the snapshot's shares
# most of its origin's mappings but has some of its own, so it is adopted
# too, and the sharing reported.  Every mapping is back (ids aside).
cp src.img orph.img
zero orph.img "$(sbf src.img mapping_root)"
zero orph.img "$(sbf src.img details_root)"
zero orph.img 0
reference orph orph.img
if repair orph orph.img; then
	[ "$(grep -c '^adopted the unreferenced mapping tree at block' orph.log)" -eq 3 ] ||
		bad "orph: not three adoptions reported"
	grep -Eq '^device [0-9]+: [0-9]+ of its mappings are also device [0-9]+.s' orph.log ||
		bad "orph: the shared mappings not reported"
	cmp -s <(blocks src.dump | awk '{print $2, $3, $4}' | sort) \
		<(blocks orph.dump | awk '{print $2, $3, $4}' | sort) ||
		bad "orph: the adopted mappings are not the source's"
fi

# A metadata snapshot held (tests/progs/thin_hold), then one more
# transaction (tests/progs/thin_discard): device 4's blocks 100-149 are
# discarded (mapped_blocks 2000 -> 1986) and device 7 deleted, with no new
# time.  The snapshot's superblock copy keeps the older top level, details
# and device 4's older tree: an older state, as complete as the current
# one, with more devices, and the same times.  Whatever is lost of the
# current superblock's, the current pool must come back, never the
# snapshot's (the older code took its top level: the discarded mappings
# back, mapped_blocks "corrected" to 2000, exit 0).
cp src.img held.img
{ "$PROGS/thin_hold" held.img && "$PROGS/thin_discard" -d 7 held.img 4 100 150; } >/dev/null ||
	bad "held: thin_hold/thin_discard failed"
"$BIN/thin_dump" held.img >held.src.dump
[ "$(nmap held.src.dump)" -eq 3986 ] || bad "held: the discard did not leave 3986 mappings"
grep -q 'dev_id="7"' held.src.dump && bad "held: device 7 not deleted"
"$BIN/thin_dump" -m held.img | grep -q 'dev_id="7"' || bad "held: the snapshot lost device 7"
# held_same NAME: the repair gave exactly the current pool.
held_same() {
	cmp -s held.src.dump "$1.dump" || { bad "$1: not the current pool"; diff held.src.dump "$1.dump" | head -5; }
	grep -q "^scan: a metadata snapshot's superblock copy at block [0-9]* (transaction 5," "$1.log" ||
		bad "$1: the snapshot's copy not reported"
}
# the superblock's mapping root pointer zeroed: the current top level is
# an orphan, the snapshot's is as good a candidate by every other measure
cp held.img heldtop.img; "$PROGS/thin_corrupt" heldtop.img set-sb mapping_root 0
reference heldtop heldtop.img
if repair heldtop heldtop.img; then
	held_same heldtop
	grep -q "^mapping tree top level: the metadata snapshot's tree at block [0-9]* (transaction 5, an older state) left aside" heldtop.log ||
		bad "heldtop: the snapshot's top level left aside, not reported"
	grep -q 'mapped_blocks corrected' heldtop.log && bad "heldtop: mapped_blocks corrected"
fi
# both root pointers zeroed
cp heldtop.img heldboth.img; "$PROGS/thin_corrupt" heldboth.img set-sb details_root 0
if repair heldboth heldboth.img; then
	held_same heldboth
	grep -q "^device details: the metadata snapshot's tree at block [0-9]* (transaction 5, an older state) left aside" heldboth.log ||
		bad "heldboth: the snapshot's details left aside, not reported"
fi
# the current top level's block itself zeroed: the snapshot's is the only
# one left, and names device 4's older tree; its current tree, an orphan,
# holds what its details claim and is taken instead
cp held.img heldblk.img; zero heldblk.img "$(sbf held.img mapping_root)"
if repair heldblk heldblk.img; then
	held_same heldblk
	grep -q "^mapping tree top level: the tree at block [0-9]* is a metadata snapshot's (transaction 5): the pool as it was then" heldblk.log ||
		bad "heldblk: taking the snapshot's top level not reported"
	grep -q '^device 4: the unreferenced tree at block [0-9]* holds the 1986 mappings its details claim (the other 2000)' heldblk.log ||
		bad "heldblk: device 4's current tree not reported"
fi
# the superblock zeroed: the copy is the only superblock left; it gives the
# block size and a lower bound of the transaction (reported), never its trees
cp held.img heldsb.img; zero heldsb.img 0
reference heldsb heldsb.img
if repair heldsb heldsb.img; then
	diff <(nosb held.src.dump) <(nosb heldsb.dump) >/dev/null ||
		{ bad "heldsb: mappings or devices differ from the current pool"; diff held.src.dump heldsb.dump | head -5; }
	grep -q '^transaction id 5 inferred (superblock lost): the metadata snapshot.s copy at block' heldsb.log ||
		bad "heldsb: the copy's transaction not reported"
fi
# The same with an older transaction before the snapshot (device 1's
# blocks 0-9 discarded): its trees, left behind, have device 7 too and
# the highest transaction id; only the metadata space maps written since
# the copy (they count it) tell them older than the snapshot's
# (allocating onwards, as the kernel does, so that they survive)
cp src.img held2.img
{ "$PROGS/thin_discard" held2.img 1 0 10 && "$PROGS/thin_hold" held2.img 1000 &&
	"$PROGS/thin_discard" -f 1001 -d 7 held2.img 4 100 150; } >/dev/null || bad "held2: setup failed"
"$BIN/thin_dump" held2.img >held2.src.dump
zero held2.img 0
if repair held2sb held2.img; then
	diff <(nosb held2.src.dump) <(nosb held2sb.dump) >/dev/null ||
		{ bad "held2sb: mappings or devices differ from the current pool"; diff held2.src.dump held2sb.dump | head -5; }
	grep -q '^scan: [0-9]* metadata space map(s) written since the snapshot.s copy' held2sb.log ||
		bad "held2sb: the space maps' dating not reported"
fi

# No data block handed out twice: device 4's block 1 made to map the block
# device 1 (and its snapshot 7) wrote at time 3, with time 1, and its block
# 2 the block they wrote at time 1 (data block 0), with time 3.  Different
# times cannot be a snapshot's sharing: the newer claim keeps each block.
b13=$(blocks src.dump | awk '$1==1 && $4==3 {print $2, $3; exit}')
cp src.img own.img
"$PROGS/thin_corrupt" own.img set-mapping 4 1 "${b13#* }" 1 &&
	"$PROGS/thin_corrupt" own.img set-mapping 4 2 0 3 || bad "own: set-mapping failed"
if repair own own.img; then
	grep -qx "data block ${b13#* }: mapped by device 4 block 1 (time 1) and device 1 block ${b13% *} (time 3): kept the newer, device 1's" own.log ||
		bad "own: the older claim on ${b13#* } not reported"
	grep -qx "data block 0: mapped by device 1 block 1 (time 1) and device 4 block 2 (time 3): kept the newer, device 4's" own.log ||
		bad "own: the older claim on data block 0 not reported"
	# every data block has one time, and one device but for snapshot sharing
	[ "$(blocks own.dump | awk '{print $3, $4}' | sort -u | awk '{print $1}' | uniq -d | wc -l)" -eq 0 ] ||
		bad "own: a data block still mapped with two times"
	blocks own.dump | awk '$1==4 && ($2==1 || $2==2)' | grep -qx '4 2 0 3' || bad "own: device 4 lost its newer claim"
	blocks own.dump | awk '$1==4 && $2==1' | grep -q . && bad "own: device 4 kept the older claim"
	grep -q '^device 4: mapped_blocks corrected from 2000 to 1999$' own.log || bad "own: mapped_blocks correction not reported"
fi

# The same through a snapshot that shares its origin's root (thin_snap:
# device 9 of device 4; the repair reads the tree once, for both): device
# 4's block 1 made to map the block device 1 wrote at time 3, with time 1,
# in the leaf both share.  Both older claims are dropped, each device's
# own; every other mapping of both stays.
cp src.img snapown.img
"$PROGS/thin_snap" snapown.img 4 9 && "$PROGS/thin_corrupt" snapown.img set-mapping 4 1 "${b13#* }" 1 ||
	bad "snapown: thin_snap/set-mapping failed"
if repair snapown snapown.img; then
	[ "$(grep -c "^data block ${b13#* }: mapped by device [49] block 1 (time 1) and device 1 block ${b13% *} (time 3): kept the newer, device 1's" snapown.log)" -eq 2 ] ||
		bad "snapown: the two older claims not reported"
	grep -q '^device 4: mapped_blocks corrected from 2000 to 1999$' snapown.log &&
		grep -q '^device 9: mapped_blocks corrected from 2000 to 1999$' snapown.log ||
		bad "snapown: mapped_blocks of 4 and 9 not corrected"
	blocks snapown.dump | awk '($1==4 || $1==9) && $2==1' | grep -q . && bad "snapown: an older claim kept"
	cmp -s <(blocks src.dump | awk '$1==4 && $2!=1 {$1=""; print}') \
		<(blocks snapown.dump | awk '$1==9 {$1=""; print}') ||
		bad "snapown: device 9 is not device 4's other mappings"
	cmp -s <(blocks src.dump | awk '$1==4 && $2!=1') <(blocks snapown.dump | awk '$1==4') ||
		bad "snapown: device 4 lost other mappings"
fi

# An empty pool from non-empty evidence: the top level and every device
# tree (single leaves) zeroed, the details still claiming 6000 blocks.
"$PROGS/gen_thin_xml" --origins 3 --mappings 50 --seed 9 >e.xml
rm -f e.img e.out; truncate -s 8M e.img
"$BIN/thin_restore" -i e.xml -o e.img || exit 1
for d in $(sed -nE 's/.*dev_id="([0-9]+)".*/\1/p' e.xml); do
	b=$("$PROGS/thin_corrupt" e.img where dev-root "$d") && zero e.img "$b" || bad "empty: no root of $d"
done
zero e.img "$(sbf e.img mapping_root)"
reference empty e.img
truncate -s 8M e.out
"$BIN/thin_repair" -i e.img -o e.out >e.log 2>e.err
rc=$?
[ $rc -eq 1 ] || bad "empty: exit $rc, not 1"
[ "$(wc -l <e.err)" -eq 1 ] && grep -q 'refusing to write an empty pool' e.err ||
	{ bad "empty: not one refusal line"; cat e.err; }
cmp -s e.out <(head -c 8M /dev/zero) || bad "empty: the output was written"

# LVM's form: an empty argument passed through, then the first line.
truncate -s 8M lvm.out
"$BIN/thin_repair" "" -i top.img -o lvm.out >/dev/null || bad "lvm: empty argument refused"
"$BIN/thin_dump" lvm.out | head -n 1 | grep -q 'transaction="5"' || bad "lvm: first line"

# Bad input: one line, exit 1, and nothing written.
rm -f small.out o.out; truncate -s 64K small.out
truncate -s 8M o.out
one_line() {
	local name=$1 want=$2
	shift 2
	"$BIN/thin_repair" "$@" >/dev/null 2>err
	local rc=$?
	[ $rc -eq 1 ] || bad "$name: exit $rc"
	[ "$(wc -l <err)" -eq 1 ] || { bad "$name: not one line"; cat err; }
	grep -q -- "$want" err || { bad "$name: message"; cat err; }
}
one_line no-input 'No input file provided' -o o.out
one_line no-output 'No output file provided' -i src.img
one_line missing 'nope.img' -i nope.img -o o.out
one_line small 'Output file too small' -i src.img -o small.out
one_line same 'the output is the input' -i src.img -o src.img
ln -sf src.img link.img
one_line same-link 'the output is the input' -i src.img -o link.img
one_line stray 'unexpected argument: x' x -i src.img -o o.out
one_line no-out-file 'does not exist' -i src.img -o absent.out
one_line bad-dbs 'data-block-size' -i src.img -o o.out --data-block-size 100
cmp -s small.out <(head -c 64K /dev/zero) || bad "small: the output was written"
"$BIN/thin_repair" -V | grep -Eqx '[0-9]+\.[0-9]+\.[0-9]+' || bad "-V not a bare version"
"$BIN/thin_repair" -h | grep -q -- '--nr-data-blocks' || bad "-h"

# Seeded random damage: exit 0 or 1, never a signal; a 0 passes both checks.
RANDOM=84
for i in $(seq 1 30); do
	cp sh.img r.img
	for k in 1 2 3; do
		blk=$((RANDOM % 48)); off=$((RANDOM % 4096))
		printf "\\x$(printf %02x $((RANDOM % 256)))" |
			dd of=r.img bs=1 seek=$((blk * 4096 + off)) conv=notrunc status=none
		[ $((i % 2)) -eq 0 ] && [ "$blk" -gt 0 ] &&
			"$PROGS/thin_corrupt" r.img set-u32 "$blk" 4 \
				"$(od -An -t u4 -j $((blk * 4096 + 4)) -N 4 r.img | tr -d ' ')" btree
	done
	[ $((i % 5)) -eq 0 ] && zero r.img 0
	rm -f r.out; truncate -s 8M r.out
	timeout 120 "$BIN/thin_repair" -q -i r.img -o r.out >r.log 2>r.err
	rc=$?
	grep -l -e 'runtime error' -e 'Sanitizer' r.log r.err && { bad "random $i: sanitizer"; continue; }
	[ $rc -le 1 ] || { bad "random $i: exit $rc"; tail -n 5 r.err; continue; }
	[ $rc -eq 1 ] && { [ "$(wc -l <r.err)" -eq 1 ] || { bad "random $i: not one line"; cat r.err; }; continue; }
	"$BIN/thin_check" -q r.out || bad "random $i: our check fails the output"
	$REF/thin_check -q r.out || bad "random $i: reference check fails the output"
done
exit $((fails != 0))
