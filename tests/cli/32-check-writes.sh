#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The only writes cache_check makes: --clear-needs-check-flag clears
# NEEDS_CHECK when the check passes (and frees leaked blocks, as LVM runs
# it on every activation), --auto-repair frees leaks and clears NEEDS_CHECK.
# Each is checked byte for byte: clearing the flag changes only the
# superblock's flags and checksum; a leak repair writes a new space map into
# blocks that were free, leaves every block the old superblock reaches as it
# was, and changes the superblock only in flags, space-map root and
# checksum; a failing check writes nothing at all.
set -u
: "${BIN:?}" "${PROGS:?}" "${TOP:?}"
[ -x /usr/sbin/cache_restore ] || { echo "no reference cache_restore"; exit 77; }
CHECK=$BIN/cache_check
C=$PROGS/corrupt
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

. "$TOP/tests/cli/img-lib.bash"

"$PROGS/gen_xml" --nr-cache-blocks 3000 --mapped 70 >a.xml
truncate -s 8M v2.img
/usr/sbin/cache_restore --metadata-version 2 -i a.xml -o v2.img
truncate -s 8M v1.img
/usr/sbin/cache_restore -i a.xml -o v1.img

# 1. v2, no leak, NEEDS_CHECK set: only the flags and the checksum change
cp v2.img nc.img
"$C" nc.img set-sb flags 3
cp nc.img nc.before
"$CHECK" --clear-needs-check-flag nc.img >nc.out 2>&1 || bad "clear on v2 failed: $(cat nc.out)"
grep -q '^  cleared NEEDS_CHECK$' nc.out || bad "no 'cleared NEEDS_CHECK' line"
[ "$(changed_blocks nc.before nc.img)" = "0" ] || bad "clear changed blocks $(changed_blocks nc.before nc.img)"
for o in $(changed_bytes nc.before nc.img 0); do
	[ "$o" -lt 8 ] || bad "clear changed superblock byte $o"
done
[ "$(le32_at nc.img 4)" = 1 ] || bad "flags now $(le32_at nc.img 4), expected 1"
"$CHECK" nc.img >nc2.out 2>&1 || bad "image no longer checks"
grep -q needs-check nc2.out && bad "NEEDS_CHECK still reported"
/usr/sbin/cache_check -q nc.img || bad "the reference rejects the result"
# nothing left to do: a second run writes nothing
cp nc.img nc.after
"$CHECK" --clear-needs-check-flag nc.img >/dev/null 2>&1 || bad "second clear failed"
cmp -s nc.img nc.after || bad "second clear wrote"

# 2. damaged, NEEDS_CHECK set: the check fails and writes nothing
cp v2.img dm.img
"$C" dm.img set-sb flags 3
"$C" dm.img flip "$("$C" dm.img where mapping-block 1)" 200
cp dm.img dm.before
"$CHECK" --clear-needs-check-flag dm.img >dm.out 2>&1 && bad "clear on a damaged image passed"
cmp -s dm.img dm.before || bad "clear on a damaged image wrote"
"$CHECK" --auto-repair dm.img >dm2.out 2>&1 && bad "auto-repair on a damaged image passed"
cmp -s dm.img dm.before || bad "auto-repair on a damaged image wrote"
grep -q "not writing anything" dm2.out || bad "auto-repair did not say why it wrote nothing"

# 3. v1 (0.9.0 leaks block 6) with NEEDS_CHECK: --clear-needs-check-flag
#    frees the leak and clears the flag, in a transaction: a new index,
#    bitmap and ref-count root in blocks that were free, the superblock last
cp v1.img lk.img
"$C" lk.img set-sb flags 3
cp lk.img lk.before
old_sm="$("$C" lk.img where index) $("$C" lk.img where bitmap 0) $("$C" lk.img where ref-count-root)"
alloc=$(le64_at lk.img 72)
"$C" lk.before sm-counts >counts.before
"$CHECK" --clear-needs-check-flag lk.img >lk.out 2>&1 || bad "clear on v1 failed: $(cat lk.out)"
grep -q '^  freed 1 leaked block$' lk.out || bad "no 'freed 1 leaked block' line: $(cat lk.out)"
new_sm="$("$C" lk.img where index) $("$C" lk.img where bitmap 0) $("$C" lk.img where ref-count-root)"
changed=$(changed_blocks lk.before lk.img)
[ "$changed" = "0 $(echo "$new_sm" | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//')" ] ||
	bad "leak repair changed blocks '$changed', expected 0 and the new space map's '$new_sm'"
for b in $new_sm; do
	grep -q "^$b " counts.before && bad "new space-map block $b was in use before"
	case " $old_sm " in *" $b "*) bad "block $b of the old space map was rewritten" ;; esac
done
for o in $(changed_bytes lk.before lk.img 0); do
	case $o in [0-7] | 6[4-9] | [7-9][0-9] | 1[0-8][0-9] | 19[01]) ;;
	*) bad "superblock byte $o changed" ;; esac
done
[ "$(le64_at lk.img 72)" = $((alloc - 1)) ] || bad "nr_allocated $(le64_at lk.img 72), expected $((alloc - 1))"
# the counts: block 6 and the old space map freed, the new one in use,
# every other count as it was
{ grep -v -E "^($(echo 6 $old_sm | tr ' ' '|')) " counts.before
  for b in $new_sm; do echo "$b 1"; done; } | sort -n >counts.want
"$C" lk.img sm-counts | sort -n >counts.after
cmp -s counts.want counts.after ||
	bad "space-map counts after the repair: $(diff counts.want counts.after | tr '\n' ' ')"
"$CHECK" lk.img >lk2.out 2>&1 || bad "repaired image fails"
grep -q warning lk2.out && bad "warnings after the repair: $(grep warning lk2.out)"
/usr/sbin/cache_check -q lk.img || bad "the reference rejects the repaired image"
/usr/sbin/cache_dump lk.before >d1.xml 2>/dev/null
/usr/sbin/cache_dump lk.img >d2.xml 2>/dev/null
cmp -s d1.xml d2.xml || bad "the repaired image dumps differently"

# 4. --auto-repair without NEEDS_CHECK: the leak goes, the flags stay
cp v1.img ar.img
"$C" ar.img set-bitmap-count 40 1
cp ar.img ar.before
"$CHECK" --auto-repair ar.img >ar.out 2>&1 || bad "auto-repair failed: $(cat ar.out)"
grep -q '^  freed 2 leaked blocks$' ar.out || bad "no 'freed 2 leaked blocks': $(cat ar.out)"
grep -q 'cleared' ar.out && bad "auto-repair claims to clear a flag that was clear"
[ "$(le32_at ar.img 4)" = 1 ] || bad "flags changed to $(le32_at ar.img 4)"
"$CHECK" ar.img >ar2.out 2>&1 || bad "auto-repaired image fails"
grep -q warning ar2.out && bad "warnings after auto-repair: $(grep warning ar2.out)"
cp ar.img ar.after
"$CHECK" --auto-repair ar.img >/dev/null 2>&1 || bad "second auto-repair failed"
cmp -s ar.img ar.after || bad "second auto-repair wrote"

# 5. warnings that are not leaks are left alone: the v2 dirty-unmapped bits
cp v2.img du.img
"$CHECK" --auto-repair du.img >/dev/null 2>&1 || bad "auto-repair on v2 failed"
cmp -s du.img v2.img || bad "auto-repair touched the dirty bitset"

[ $fails -eq 0 ]
