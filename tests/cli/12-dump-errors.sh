#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_dump on bad input and bad usage: the exact stderr line, exit 1,
# nothing on stdout, never a crash (the tools are the sanitizer build).
# Inputs: none, missing, a directory, shorter than a block, XML (small and
# large), a zeroed superblock, a bad checksum, a foreign magic, junk, an
# unknown version, a wrong self block number, other superblock rules (fatal
# or only noted), more cache blocks than the device can hold.  Usage: an
# unknown option, two inputs, -h and -V.
set -u
: "${BIN:?}" "${PROGS:?}"
T="$BIN/cache_dump"
CORRUPT="$PROGS/corrupt"
REF_RESTORE=/usr/sbin/cache_restore
[ -x $REF_RESTORE ] || { echo "no reference cache_restore"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect_err RC 'STDERR' ARGS...: exact stderr and exit code, empty stdout.
expect_err() {
	local want_rc=$1 want_err=$2 rc
	shift 2
	"$T" "$@" >out.txt 2>err.txt
	rc=$?
	if [ $rc -ne "$want_rc" ] || [ "$(cat err.txt)" != "$want_err" ]; then
		bad "cache_dump $*: rc=$rc stderr='$(cat err.txt)'"
		echo "      wanted rc=$want_rc stderr='$want_err'"
	fi
	[ -s out.txt ] && bad "cache_dump $*: stdout not empty: $(head -c 100 out.txt)"
}

"$PROGS/gen_xml" --nr-cache-blocks 100 --mapped 50 >src.xml
truncate -s 4M good.img
$REF_RESTORE -i src.xml -o good.img || { echo "restore failed"; exit 1; }

# sb NAME FIELD VALUE: a copy of good.img with a superblock field set
# (re-checksummed).
sb() {
	cp good.img "$1.img"
	"$CORRUPT" "$1.img" set-sb "$2" "$3" || bad "corrupt set-sb $2 $3 failed"
}

# ---- usage ----
"$T" >out.txt 2>err.txt
rc=$?
[ $rc -eq 1 ] || bad "no input: exit $rc"
[ "$(head -n 1 err.txt)" = "cache_dump: No input file provided." ] ||
	bad "no input: stderr '$(head -n 1 err.txt)'"
grep -q '^Usage: cache_dump' err.txt || bad "no input: no usage line"
"$T" --bogus good.img >out.txt 2>err.txt
rc=$?
[ $rc -eq 1 ] || bad "--bogus: exit $rc"
[ "$(head -n 1 err.txt)" = "cache_dump: --bogus: unknown option" ] ||
	bad "--bogus: stderr '$(head -n 1 err.txt)'"
expect_err 1 "cache_dump: Unexpected argument: good.img" good.img good.img

"$T" -h >help.txt 2>err.txt || bad "-h: exit $?"
[ -s err.txt ] && bad "-h: stderr not empty"
head -n 1 help.txt | grep -q '^Usage: cache_dump \[OPTIONS\] {device|file}$' ||
	bad "-h: first line '$(head -n 1 help.txt)'"
for o in -o, --output=FILE --repair -q, --quiet -h, --help -V, --version; do
	grep -q -- "$o" help.txt || bad "-h: $o not listed"
done
"$T" --help | cmp -s - help.txt || bad "--help differs from -h"
v=$("$T" -V) || bad "-V: exit $?"
[[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || bad "-V printed '$v'"
[ "$("$T" --version)" = "$v" ] || bad "--version differs from -V"

# ---- inputs that are not metadata ----
expect_err 1 "cache_dump: nope.img: Couldn't stat path: No such file or directory" nope.img
mkdir adir
expect_err 1 "cache_dump: adir: Not a block device or regular file (a directory)" adir
head -c 100 good.img >short.img
expect_err 1 "cache_dump: short.img: Metadata device/file too small.  Is this binary metadata? (100 bytes; the superblock alone takes 4096)" short.img
: >empty.img
expect_err 1 "cache_dump: empty.img: Metadata device/file too small.  Is this binary metadata? (0 bytes; the superblock alone takes 4096)" empty.img
xmlmsg="This looks like XML.  cache_dump only takes binary metadata (cache_restore turns XML into metadata)"
expect_err 1 "cache_dump: src.xml: $xmlmsg" src.xml
"$PROGS/gen_xml" --nr-cache-blocks 2000 --mapped 100 >big.xml
expect_err 1 "cache_dump: big.xml: $xmlmsg" big.xml
{ printf '\xef\xbb\xbf<?xml version="1.0"?>\n'; cat src.xml; } >bom.xml
expect_err 1 "cache_dump: bom.xml: $xmlmsg" bom.xml

truncate -s 1M zero.img
expect_err 1 "cache_dump: zero.img: no superblock: block 0 is all zeroes (never formatted, or wiped by a failed restore)" zero.img

cp good.img csum.img
"$CORRUPT" csum.img flip 0 100
expect_err 1 "cache_dump: csum.img: bad checksum in superblock" csum.img
# --repair cannot save a superblock either.
expect_err 1 "cache_dump: csum.img: bad checksum in superblock" --repair csum.img

sb magic magic 1234
expect_err 1 "cache_dump: magic.img: not dm-cache metadata (superblock magic is 1234, not 1623043)" magic.img
head -c 8192 /dev/urandom >junk.img
printf 'JUNKJUNK' | dd of=junk.img bs=1 seek=32 conv=notrunc 2>/dev/null
expect_err 1 "cache_dump: junk.img: not dm-cache metadata (superblock magic is $(od -A n -t u8 -j 32 -N 8 junk.img | tr -d ' '), not 1623043)" junk.img

sb version version 3
expect_err 1 "cache_dump: version.img: unsupported metadata version 3 (versions 1 and 2 exist)" version.img
expect_err 1 "cache_dump: version.img: unsupported metadata version 3 (versions 1 and 2 exist)" --repair version.img
sb version0 version 0
expect_err 1 "cache_dump: version0.img: unsupported metadata version 0 (versions 1 and 2 exist)" version0.img
sb location blocknr 5
expect_err 1 "cache_dump: location.img: bad superblock: it says it is block 5, not block 0" location.img
sb geometry cache_blocks 4000000000
expect_err 1 "cache_dump: geometry.img: superblock is invalid: 4000000000 cache blocks cannot fit in this metadata device" geometry.img

# Rules that change how the metadata is read are fatal without --repair.
tail="(run cache_check for details, or --repair to dump what can be read)"
sb incompat incompat_flags 2
expect_err 1 "cache_dump: incompat.img: superblock is invalid: incompat_flags is 2 $tail" incompat.img
sb hintroot hint_root 999999
expect_err 1 "cache_dump: hintroot.img: superblock is invalid: hint_root is 999999 $tail" hintroot.img
sb hintsize policy_hint_size 6
expect_err 1 "cache_dump: hintsize.img: superblock is invalid: policy_hint_size is 6 $tail" hintsize.img

# Rules that do not: the dump is the source XML, plus a note (none with -q).
# 0.9.0's dump ignores them all.
note() {
	local name=$1 field=$2 value=$3 want=${4:-src.xml}
	sb "$name" "$field" "$value"
	"$T" "$name.img" >"$name.xml" 2>"$name.err" || bad "$name: exit $?"
	cmp -s "$want" "$name.xml" || bad "$name: dump differs from $want"
	[ "$(cat "$name.err")" = "cache_dump: note: superblock $field is $value (1 rule(s) broken that do not affect the dump; run cache_check)" ] ||
		bad "$name: stderr '$(cat "$name.err")'"
	"$T" -q "$name.img" 2>"$name.qerr" >/dev/null || bad "$name -q: exit $?"
	[ -s "$name.qerr" ] && bad "$name -q: stderr '$(cat "$name.qerr")'"
}
note flags flags 5
note mbs metadata_block_size 16
note compat compat_flags 1
note compatro compat_ro_flags 8
# Printed, a block size of 0 would be XML no restore takes (cli/16 has
# what --repair makes of it).
sb dbs data_block_size 0
expect_err 1 "cache_dump: dbs.img: superblock is invalid: data_block_size is 0 $tail" dbs.img

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all error cases as expected"
