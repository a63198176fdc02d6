#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_check's options, messages and exit codes: -V prints the bare
# version (LVM parses it), -q prints nothing, the --skip-* and
# --super-block-only options skip exactly their structures, warnings never
# fail the check, bad input gives one line and exit 1, and a check without
# a writing option leaves the device byte for byte as it was.
set -u
: "${BIN:?}" "${PROGS:?}" "${TOP:?}"
[ -x /usr/sbin/cache_restore ] || { echo "no reference cache_restore"; exit 77; }
CHECK=$BIN/cache_check
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect RC OUTFILE CMD...: run, capture stdout+stderr, check the exit code
expect() {
	local want=$1 out=$2
	shift 2
	"$@" >"$out" 2>&1
	local rc=$?
	[ $rc -eq "$want" ] || bad "$* exited $rc, expected $want: $(head -c 300 "$out")"
}

"$PROGS/gen_xml" --nr-cache-blocks 100 --mapped 50 >a.xml
truncate -s 4M v2.img
/usr/sbin/cache_restore --metadata-version 2 -i a.xml -o v2.img
truncate -s 4M v1.img
/usr/sbin/cache_restore -i a.xml -o v1.img

# -V / --version: the bare version on stdout, nothing else
for v in -V --version; do
	"$CHECK" $v >ver.out 2>ver.err || bad "$v failed"
	grep -Eqx '[0-9]+\.[0-9]+\.[0-9]+' ver.out || bad "$v printed '$(cat ver.out)'"
	[ -s ver.err ] && bad "$v wrote to stderr"
done

# -h lists every option
expect 0 help.out "$CHECK" -h
for o in --quiet --super-block-only --skip-mappings --skip-hints \
	--skip-discards --clear-needs-check-flag --auto-repair \
	--ignore-non-fatal-errors --help --version; do
	grep -q -- "$o" help.out || bad "-h does not list $o"
done

# usage errors: exit 1 and a message naming the problem
expect 1 noarg.out "$CHECK"
grep -q '^cache_check: No input file provided\.$' noarg.out || bad "no-argument message: $(head -n 1 noarg.out)"
expect 1 badopt.out "$CHECK" --no-such-option v1.img
grep -q -- '--no-such-option' badopt.out || bad "unknown option not named"
expect 1 two.out "$CHECK" v1.img v2.img
grep -q "only one device" two.out || bad "two devices accepted"

# bad input: one line, exit 1
expect 1 nofile.out "$CHECK" no-such-file
[ "$(cat nofile.out)" = "cache_check: no-such-file: No such file or directory" ] || bad "missing file: $(cat nofile.out)"
mkdir adir
expect 1 dir.out "$CHECK" adir
[ "$(cat dir.out)" = "cache_check: adir: Not a block device or regular file (a directory)" ] || bad "directory: $(cat dir.out)"
expect 1 null.out "$CHECK" /dev/null
[ "$(cat null.out)" = "cache_check: /dev/null: Not a block device or regular file" ] || bad "/dev/null: $(cat null.out)"
: >empty.img
expect 1 empty.out "$CHECK" empty.img
grep -q '^  error: Metadata device/file too small.  Is this binary metadata? (the device holds 0 bytes, less than one 4096-byte block) \[sb-unreadable\]$' empty.out || bad "empty file: $(cat empty.out)"
head -c 1048576 /dev/urandom >garbage.img
expect 1 garbage.out "$CHECK" garbage.img
grep -q '\[sb-magic\]' garbage.out || bad "garbage: $(cat garbage.out)"

# the full output of a v2 image from 0.9.0: its dirty bits on unmapped
# blocks are a warning, stdout stays empty, exit 0
"$CHECK" v2.img >v2.stdout 2>v2.stderr || bad "v2 image fails"
[ -s v2.stdout ] && bad "stdout not empty: $(cat v2.stdout)"
n_unmapped=$(grep -c 'dirty="' a.xml)
n_unmapped=$((100 - n_unmapped))
first=$(sed -n 's/.*<mapping cache_block="\([0-9]*\)".*/\1/p' a.xml |
	awk 'BEGIN { i = 0 } { if ($1 != i) { print i; found = 1; exit } i++ }
	     END { if (!found) print i }' | head -n 1)
cat >v2.want <<EOW
examining superblock
examining mapping array
examining dirty bitset
  warning: dirty bitset: $n_unmapped unmapped cache blocks are marked dirty (the first is $first) [dirty-unmapped]
examining hint array
examining discard bitset
examining space map
EOW
diff -u v2.want v2.stderr || bad "v2 output differs"

# --ignore-non-fatal-errors: the warning goes, the verdict stays
expect 0 ign.out "$CHECK" --ignore-non-fatal-errors v2.img
grep -q warning ign.out && bad "--ignore-non-fatal-errors still warns"

# -q: nothing at all, same exit codes
expect 0 q.out "$CHECK" -q v1.img
[ -s q.out ] && bad "-q printed on a good image"
cp v1.img dmg.img
"$PROGS/corrupt" dmg.img flip "$("$PROGS/corrupt" dmg.img where mapping-block 0)" 100
expect 1 q2.out "$CHECK" --quiet dmg.img
[ -s q2.out ] && bad "-q printed on a bad image"

# --skip-mappings skips the damaged mapping array, nothing else
expect 1 dmg.out "$CHECK" dmg.img
grep -q '^examining mapping array$' dmg.out || bad "no mapping pass"
expect 0 skipm.out "$CHECK" --skip-mappings dmg.img
grep -q 'mapping array' skipm.out && bad "--skip-mappings still examines the mappings"
grep -q '^examining hint array$' skipm.out || bad "--skip-mappings skipped the hints"

# --skip-hints
cp v1.img hint.img
"$PROGS/corrupt" hint.img flip "$("$PROGS/corrupt" hint.img where hint-block 0)" 100
expect 1 hint.out "$CHECK" hint.img
expect 0 skiph.out "$CHECK" --skip-hints hint.img
grep -q 'hint array' skiph.out && bad "--skip-hints still examines the hints"

# --skip-discards
cp v1.img disc.img
"$PROGS/corrupt" disc.img flip "$("$PROGS/corrupt" disc.img where discard-root)" 100
expect 1 disc.out "$CHECK" disc.img
expect 0 skipd.out "$CHECK" --skip-discards disc.img
grep -q 'discard' skipd.out && bad "--skip-discards still examines the discards"

# --super-block-only: only the superblock, so the damage goes unseen
expect 0 sbo.out "$CHECK" --super-block-only dmg.img
[ "$(cat sbo.out)" = "examining superblock" ] || bad "--super-block-only printed: $(cat sbo.out)"
cp v1.img sbbad.img
"$PROGS/corrupt" sbbad.img flip 0 300
expect 1 sbo2.out "$CHECK" --super-block-only sbbad.img

# a check without --clear-needs-check-flag/--auto-repair writes nothing,
# even when there is something it could fix
"$PROGS/corrupt" v1.img set-sb flags 3
cp v1.img v1.before
expect 0 ro.out "$CHECK" v1.img
cmp -s v1.img v1.before || bad "a plain check changed the image"
grep -q '\[sb-needs-check\]' ro.out || bad "NEEDS_CHECK not reported"
grep -q '\[sm-leak\]' ro.out || bad "v1 leak not reported"

[ $fails -eq 0 ]
