#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_restore's memory is proportional to the metadata, not to the XML:
#  1. a 1 GiB XML document (100,000 cache blocks, then blank lines up to
#     1 GiB), streamed through a pipe into -i - (no 1 GiB file on disk);
#  2. 1,000,000 mapped cache blocks (115 MB of XML) through a FIFO;
#  3. known failure (xml/reader.c): one 16 MiB comment.  Expat keeps a
#     token until its end, so memory grows with the longest token (a
#     comment, an attribute value, blanks inside a tag) and, with expat
#     2.5's re-parsing of a partial token on every buffer, time grows with
#     its square: 128 MiB took 63 s and 257 MiB of RSS, 1 GiB would take
#     over an hour.  The reader should refuse a token longer than any
#     legitimate one (a few KiB) with one line.  Asserted to still fail,
#     so that its fix shows.
# Peak RSS (/usr/bin/time %M) must stay under
#	8 MiB + 16 bytes x nr_cache_blocks
# (hint width 4: the restore keeps 8 bytes of mapping and 4 of hint per
# cache block, and a few bits; 16 leaves room for allocator slack).  Both
# outputs must dump as their input without the padding.  The release
# build runs this (BIN's sibling rel/bin, which check-cli builds): under
# ASan the 1 GiB parse alone takes twice as long, and ASan's shadow
# memory would blur the bound.  Takes about 15 s.
set -u
: "${BIN:?}" "${PROGS:?}" "${TOP:?}"
fail() { echo "FAIL: $*"; exit 1; }
REL=${REL_BIN:-${BIN%/san/bin}/rel/bin}
[ -x "$REL/cache_restore" ] || { echo "no release build at $REL"; exit 77; }
[ -x /usr/bin/time ] || { echo "no /usr/bin/time"; exit 77; }
GIB=1073741824

# bound NR: the RSS limit in KiB.
bound() { echo $(((8 * 1048576 + 16 * $1) / 1024)); }

# 1.
nr=100000
"$PROGS/gen_xml" --nr-cache-blocks $nr --mapped 90 --dirty 20 >small.xml
truncate -s 16M a.meta
set -o pipefail
"$PROGS/gen_xml" --nr-cache-blocks $nr --mapped 90 --dirty 20 --pad-to $GIB |
	tee >(wc -c >size.txt) |
	/usr/bin/time -f %M -o rss1.txt "$REL/cache_restore" -i - -o a.meta ||
	fail "1 GiB: restore failed"
set +o pipefail
[ "$(cat size.txt)" = $GIB ] || fail "1 GiB: the input was $(cat size.txt) bytes"
rss=$(tail -n 1 rss1.txt)
echo "1 GiB of XML, $nr cache blocks: peak RSS $rss KiB (bound $(bound $nr))"
[ "$rss" -le "$(bound $nr)" ] || fail "1 GiB: peak RSS $rss KiB over $(bound $nr)"
"$REL/cache_dump" a.meta >a.xml || fail "dump a"
cmp -s a.xml small.xml || fail "1 GiB: the restored metadata is not the input's"

# 2.
nr=1000000
"$PROGS/gen_xml" --nr-cache-blocks $nr --mapped 100 --dirty 20 >big.xml
truncate -s 64M b.meta
mkfifo in.fifo
cat big.xml >in.fifo &
/usr/bin/time -f %M -o rss2.txt "$REL/cache_restore" -i in.fifo -o b.meta ||
	fail "1M blocks: restore failed"
wait
rss=$(tail -n 1 rss2.txt)
echo "$(stat -c %s big.xml) bytes of XML, $nr cache blocks: peak RSS $rss KiB (bound $(bound $nr))"
[ "$rss" -le "$(bound $nr)" ] || fail "1M blocks: peak RSS $rss KiB over $(bound $nr)"
"$REL/cache_dump" b.meta | cmp -s - big.xml || fail "1M blocks: not the input's metadata"

# 3.
nr=10
{
	echo "<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\"$nr\" policy=\"smq\" hint_width=\"4\">"
	printf '<!--'
	head -c 16777216 /dev/zero | tr '\0' ' '
	printf -- '-->\n</superblock>\n'
} >comment.xml
/usr/bin/time -f %M -o rss3.txt "$REL/cache_restore" -i comment.xml -o a.meta \
	>/dev/null 2>err3.txt
rss=$(tail -n 1 rss3.txt)
echo "a 16 MiB comment: peak RSS $rss KiB (bound $(bound $nr))"
if [ "$rss" -le "$(bound $nr)" ]; then
	fail "the 16 MiB comment stays under the bound: the known failure is fixed, update this test"
fi
echo "known failure: a 16 MiB comment takes $rss KiB"
exit 0
