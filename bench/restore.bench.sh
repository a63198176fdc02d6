#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_restore of 1M cache blocks (all mapped, half dirty, hints; about
# 120 MB of XML): ours against /usr/sbin/cache_restore, v1 and v2, and
# against expat alone parsing the same file with no handlers (expat_parse),
# the floor of any expat-based reader.  The images are checked once,
# untimed (our dump must give the XML back), so a fast wrong restore cannot
# pass.  Targets: within 1.3x of the bare parse, at least 3x faster than
# 0.9.0, no more memory than 0.9.0.  Prints medians (5 runs of ours and of
# the parse, 3 of 0.9.0), peak memory and the ratios; asserts nothing.
set -eu
. "$TOP/bench/lib.sh"
cd "$BENCH_DIR"
N=1000000
"$PROGS/gen_xml" --nr-cache-blocks $N --mapped 100 --dirty 50 --seed 1 >restore.xml
rm -f restore.img ref.img
truncate -s 64M restore.img
truncate -s 64M ref.img
for v in 1 2; do
	"$BIN/cache_restore" -i restore.xml -o restore.img --metadata-version $v
	"$BIN/cache_dump" restore.img | cmp -s - restore.xml ||
		echo "restore v$v: WARNING: our dump of our restore differs from the XML"
done

read -r parse parse_kib < <(time_cmd 5 "$PROGS/expat_parse" restore.xml)
echo "expat alone, 1M cache blocks: ${parse}s (${parse_kib} KiB)"
for v in 1 2; do
	read -r ours ours_kib < <(time_cmd 5 "$BIN/cache_restore" -i restore.xml \
		-o restore.img --metadata-version $v)
	read -r ref ref_kib < <(time_cmd 3 /usr/sbin/cache_restore -i restore.xml \
		-o ref.img --metadata-version $v)
	echo "restore v$v 1M cache blocks: ours ${ours}s (${ours_kib} KiB), 0.9.0 ${ref}s (${ref_kib} KiB): $(ratio "$ref" "$ours")x faster, $(ratio "$ours" "$parse")x the bare parse"
done
