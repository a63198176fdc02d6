#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Issue 12 finding 6: the messages people search for.  For each phrase of
# the reference that scripts and answers quote, the same mistake makes our
# tool print that phrase (leading its message, after "TOOL: PATH: "), and
# the reference (0.9.0, /usr/sbin) prints it too, so the phrase is really
# the reference's.  Exact lines are in tests/messages/; this test is the
# list of phrases.
set -u
: "${BIN:?}" "${PROGS:?}"
REF=/usr/sbin
[ -x $REF/cache_restore ] || { echo "no reference tools"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$PROGS/gen_xml" --nr-cache-blocks 100 --mapped 50 >good.xml
truncate -s 4M good.img out.img
$REF/cache_restore -i good.xml -o good.img || { echo "restore failed"; exit 1; }
cp good.img csum.img
"$PROGS/corrupt" csum.img flip 0 100
head -c 100 good.img >short.img
truncate -s 8192 tiny.img
mkdir adir

# phrase PHRASE REF|- TOOL ARGS...: ours leads a message with PHRASE
# (case as given); with REF, 0.9.0 prints it as well (any case: its
# cache_repair says "no input file provided").
phrase() {
	local p=$1 ref=$2 t=$3 prefix
	shift 3
	"$BIN/$t" "$@" </dev/null >/dev/null 2>ours.txt
	prefix="^(.*: )?(  error: )?"
	grep -qE "$prefix$(sed 's/[.?()/]/\\&/g' <<<"$p")" ours.txt ||
		bad "$t $*: no line leads with '$p': $(head -n 1 ours.txt)"
	if [ "$ref" = REF ]; then
		$REF/$t "$@" </dev/null >/dev/null 2>ref.txt
		grep -qiF "$p" ref.txt || bad "reference $t $*: does not say '$p'"
	fi
}

p="No input file provided"
phrase "$p" REF cache_check
phrase "$p" REF cache_dump
phrase "$p" REF cache_restore -o out.img
phrase "$p" REF cache_repair -o out.img
p="Not a block device or regular file"
phrase "$p" REF cache_check adir
phrase "$p" REF cache_check /dev/null
phrase "$p" - cache_dump adir
phrase "$p" - cache_dump /dev/null
phrase "$p" - cache_repair -i adir -o out.img
phrase "$p" - cache_repair -i good.img -o /dev/null
phrase "$p" - cache_restore -i good.xml -o /dev/null
phrase "$p" - cache_writeback --metadata-device adir --origin-device out.img --fast-device out.img
p="Metadata device/file too small.  Is this binary metadata?"
phrase "$p" REF cache_check short.img
phrase "$p" - cache_dump short.img
phrase "$p" - cache_repair -i short.img -o out.img
phrase "$p" - cache_writeback --metadata-device short.img --origin-device out.img --fast-device out.img
p="bad checksum in superblock"
phrase "$p" REF cache_check csum.img
phrase "$p" REF cache_dump csum.img
phrase "$p" REF cache_writeback --metadata-device csum.img --origin-device out.img --fast-device out.img
p="Output file too small"
phrase "$p" REF cache_restore -i good.xml -o tiny.img
phrase "$p" REF cache_repair -i good.img -o tiny.img
p="Couldn't stat file"
phrase "$p" REF cache_restore -i nope.xml -o out.img
p="Output file does not exist"
phrase "$p" REF cache_restore -i good.xml -o nope.img
phrase "$p" REF cache_repair -i good.img -o nope.img
p="Bad metadata version"
phrase "$p" REF cache_restore -i good.xml -o out.img --metadata-version 3

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "every searched-for phrase leads our message"
