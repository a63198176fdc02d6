#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# thin_restore writes what snapshots share shared (issue 13, THIN.md §9):
# an origin of 50k mappings and four snapshots of it, each with 45 changes
# 1000 mappings apart (a block rewritten, a key inserted, a key removed,
# in turn), as 0.9.0's XML and as the newer <def>/<ref> form.
#
# - Sharing: the metadata used is less than half of what the five trees
#   take written apart (each device restored alone, same leaf packing), and
#   the snapshots add what their changes say: each change unshares at least
#   the leaf it falls in (changes are 1000 keys apart, so no two share one)
#   and at most two (the boundaries resynchronise within a leaf), plus the
#   snapshot's three internal nodes.  Fails without the dedup.
# - The result is right: both thin_checks pass it (ours recounts the data
#   space map by the kernel's rule, a shared leaf's data blocks counted
#   once, so a count per mapping fails it), and both thin_dumps print the
#   reference's dump of the reference's restore of the same XML.
# - Both XML forms, and the dump's ranges, restore to the same image.
# - A snapshot never written (the origin's mappings again) is the origin's
#   tree: it costs no metadata block, and both checkers pass the shared
#   root (as the kernel's create_snap leaves it).
set -u
: "${BIN:?}" "${PROGS:?}"
REF_RESTORE=/usr/sbin/thin_restore
REF_DUMP=/usr/sbin/thin_dump
REF_CHECK=/usr/sbin/thin_check
[ -x $REF_RESTORE ] && [ -x $REF_DUMP ] && [ -x $REF_CHECK ] ||
	{ echo "no reference tools"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

SNAPS=4 CHANGES=45 NR_BLOCKS=4096	# 16 MiB images

# The origin and S snapshots of it with C changes each (see above), as
# 0.9.0's XML, or (DEFREF=1) with the first 5000 mappings, which no
# snapshot changes, in a <def> every device <ref>s.
cat >snaps.awk <<'EOF'
function map(out, vv, dd, tt) {
	if (out)
		printf "    <single_mapping origin_block=\"%d\" data_block=\"%d\" time=\"%d\"/>\n", vv, dd, tt
	return 1
}
# One device: returns its mapped blocks, prints it when out.
function device(out, s,    i, j, c, ins, cnt, nd) {
	nd = next_d
	if (out && DEFREF)
		print "    <ref name=\"0\"/>"
	for (i = 1; i <= n; i++) {
		j = i - 5000 - s * 37
		c = s > 0 && j >= 0 && j % 1000 == 0 && j / 1000 < C ? j / 1000 % 3 + 1 : 0
		if (c == 3)
			continue	# removed
		if (DEFREF && i <= 5000)
			cnt++
		else if (c == 1)
			cnt += map(out, v[i], nd++, 3)	# rewritten
		else
			cnt += map(out, v[i], d[i], t[i])
		if (c == 2)
			ins = 1
		if (ins && i < n && v[i + 1] > v[i] + 1) {
			cnt += map(out, v[i] + 1, nd++, 3)	# inserted
			ins = 0
		}
	}
	if (out)
		next_d = nd
	return cnt
}
NR == 1 {
	hdr = $0
	match(hdr, /nr_data_blocks="[0-9]+"/)
	next_d = substr(hdr, RSTART + 16, RLENGTH - 17) + 0
	sub(/nr_data_blocks="[0-9]+"/, "nr_data_blocks=\"" next_d + 1000 "\"", hdr)
	next
}
/<single_mapping/ {
	n++
	split($0, a, "\"")
	v[n] = a[2]; d[n] = a[4]; t[n] = a[6]
}
END {
	print hdr
	if (DEFREF) {
		print "  <def name=\"0\">"
		for (i = 1; i <= 5000; i++)
			map(1, v[i], d[i], t[i])
		print "  </def>"
	}
	for (s = 0; s <= S; s++) {
		printf "  <device dev_id=\"%d\" mapped_blocks=\"%d\" transaction=\"1\" creation_time=\"%d\" snap_time=\"3\">\n", s + 1, device(0, s), s ? 3 : 0
		device(1, s)
		print "  </device>"
	}
	print "</superblock>"
}
EOF

# used IMG: sets $n to the metadata blocks in use, by our thin_check
# (which must pass IMG).
used() {
	local free
	free=$("$BIN/thin_check" "$1" 2>/dev/null) ||
		bad "$1: our thin_check failed"
	free=$(echo "$free" | sed -n 's/^METADATA_FREE_BLOCKS=//p')
	n=$((NR_BLOCKS - ${free:-$NR_BLOCKS}))
}

# restore XML IMG: ours, into a fresh 16 MiB image.
restore() {
	rm -f "$2"
	truncate -s $((NR_BLOCKS * 4))K "$2"
	"$BIN/thin_restore" -q -i "$1" -o "$2" || bad "$1: our restore failed"
}

"$PROGS/gen_thin_xml" --origins 1 --mappings 50000 --run 50 --seed 7 \
	--time 3 >origin.xml || { bad "gen failed"; exit 1; }
awk -v S=$SNAPS -v C=$CHANGES -f snaps.awk origin.xml >plain.xml
awk -v S=$SNAPS -v C=$CHANGES -v DEFREF=1 -f snaps.awk origin.xml >defref.xml
awk -v S=0 -f snaps.awk origin.xml >alone1.xml
[ "$(grep -c '<single_mapping' plain.xml)" = $((5 * 50000)) ] &&
	[ "$(grep -c '<ref name="0"/>' defref.xml)" = 5 ] &&
	[ "$(grep -c 'time="3"/>' plain.xml)" -gt "$(grep -c 'time="3"/>' alone1.xml)" ] ||
	bad "the generated XML is not what this test means"

# The reference's restore and dump of the same XML: what both dumps must print.
rm -f ref.img; truncate -s $((NR_BLOCKS * 4))K ref.img
$REF_RESTORE -i plain.xml -o ref.img >/dev/null || bad "reference restore failed"
$REF_DUMP ref.img >canon.xml || bad "reference dump failed"

restore plain.xml shared.img
$REF_CHECK -q shared.img || bad "reference thin_check fails our restore"
out=$("$BIN/thin_check" shared.img 2>&1) || bad "our thin_check fails our restore"
echo "$out" | grep -e warning -e error && bad "our thin_check finds something"
$REF_DUMP shared.img | cmp -s - canon.xml || bad "reference dump of our restore differs"
"$BIN/thin_dump" shared.img | cmp -s - canon.xml || bad "our dump of our restore differs"

# Every device written apart: the same trees without sharing.
restore alone1.xml alone1.img
empty=$(head -n 1 plain.xml; echo '</superblock>')
echo "$empty" >empty.xml
restore empty.xml empty.img
used empty.img
nempty=$n unshared=$n
for dev in 1 2 3 4 5; do
	{ head -n 1 plain.xml
	  sed -n "/<device dev_id=\"$dev\"/,/<\/device>/p" plain.xml
	  echo '</superblock>'; } >dev$dev.xml
	restore dev$dev.xml dev$dev.img
	used dev$dev.img
	unshared=$((unshared + n - nempty))
done
used shared.img
shared=$n
used alone1.img
origin=$n
snaps=$((shared - origin))
echo "metadata blocks used: shared $shared, unshared $unshared;" \
	"origin alone $origin, the $SNAPS snapshots add $snaps"
[ $((2 * shared)) -lt "$unshared" ] ||
	bad "shared restore uses $shared blocks, not under half of $unshared"
lo=$((SNAPS * (CHANGES + 3))) hi=$((SNAPS * (2 * CHANGES + 3)))
[ $snaps -ge $lo ] && [ $snaps -le $hi ] ||
	bad "the snapshots add $snaps blocks, not $lo..$hi as their changes say"

# The <def>/<ref> form and the dump's ranges restore to the same image.
restore defref.xml defref.img
cmp -s defref.img shared.img || bad "the <def>/<ref> form restores differently"
restore canon.xml canon.img
cmp -s canon.img shared.img || bad "the reference's dump restores differently"

# A sixth device equal to the origin: the same tree, root and all.
{ sed '$d' plain.xml
  sed -n '/<device dev_id="1"/,/<\/device>/p' plain.xml | sed 's/dev_id="1"/dev_id="6"/'
  echo '</superblock>'; } >copy.xml
[ "$(grep -c '<device ' copy.xml)" = 6 ] || bad "copy.xml: not six devices"
restore copy.xml copy.img
used copy.img
[ $n = $shared ] || bad "an unchanged snapshot costs $((n - shared)) blocks, not 0"
$REF_CHECK -q copy.img || bad "copy: reference thin_check fails"
out=$("$BIN/thin_check" copy.img 2>&1) || bad "copy: our thin_check fails"
echo "$out" | grep -e warning -e error && bad "copy: our thin_check finds something"
rm -f copy.ref.img; truncate -s $((NR_BLOCKS * 4))K copy.ref.img
$REF_RESTORE -i copy.xml -o copy.ref.img >/dev/null || bad "copy: reference restore failed"
$REF_DUMP copy.ref.img >copy.canon.xml || bad "copy: reference dump failed"
$REF_DUMP copy.img | cmp -s - copy.canon.xml || bad "copy: reference dump differs"
"$BIN/thin_dump" copy.img | cmp -s - copy.canon.xml || bad "copy: our dump differs"

[ $fails = 0 ]
