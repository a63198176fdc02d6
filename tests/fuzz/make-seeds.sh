#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Regenerates the committed seeds.  The image harnesses (check, dump,
# repair) share tests/fuzz/seeds/image/ (their seeds/NAME are symlinks to
# it): the image of every damage-corpus case (its build script run with
# tests/corpus/lib.sh and the reference cache_restore) and every image the
# kernel wrote in tests/kernel/fixtures/.  The XML harness's seeds,
# tests/fuzz/seeds/xml/: the kernel fixtures' dumps, every distinct XML the
# corpus cases restored; the hand-written forms there (form-*.xml, the
# grammar's corners) are left as they are.  Seeds are stored small: the trailing all-zero
# blocks are cut (the harnesses pad the device back to the size the space
# map claims, fuzz_lib.c) and at most FUZZ_MAX_BLOCKS blocks are kept.
# Each seed starts with the harnesses' mode byte, 0: re-checksum, default
# options.  Run by hand when the corpus grows:
#
#   make build/rel/progs/corrupt build/rel/progs/gen_xml build/rel/bin/cache_check
#   BIN=$PWD/build/rel/bin PROGS=$PWD/build/rel/progs tests/fuzz/make-seeds.sh

set -eu
: "${BIN:?}" "${PROGS:?}"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
export TOP
max_blocks=64
out="$TOP/tests/fuzz/seeds/image"
xout="$TOP/tests/fuzz/seeds/xml"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# shellcheck source=../corpus/lib.sh
. "$TOP/tests/corpus/lib.sh"

# seed SRC DST: an image seed from image file SRC.
seed() {
	python3 - "$max_blocks" "$1" "$2" <<'PY'
import gzip, sys
cap, src, dst = int(sys.argv[1]), sys.argv[2], sys.argv[3]
data = open(src, 'rb').read()[:cap * 4096]
blocks = [data[i:i + 4096] for i in range(0, len(data), 4096)]
while blocks and blocks[-1].count(0) == len(blocks[-1]):
    blocks.pop()
with open(dst + ".gz", "wb") as f:
    f.write(gzip.compress(b"\0" + b"".join(blocks), 9, mtime=0))
PY
}

mkdir -p "$out" "$xout"
for f in "$TOP"/tests/kernel/fixtures/*.meta.xz; do
	name=kernel-$(basename "$f" .meta.xz)
	xz -dc "$f" >"$scratch/k.img"
	seed "$scratch/k.img" "$out/$name"
	x=${f%.meta.xz}.xml.xz
	[ -f "$x" ] && xz -dc "$x" | gzip -9n >"$xout/$name.xml.gz"
done
# The check harness's write paths (--clear-needs-check-flag,
# --auto-repair) only run on an image with no fatal damage and something
# to write, which mutation alone seldom reaches: kernel images with
# NEEDS_CHECK set, or one leaked block, and the mode byte asking for it.
python3 - "$out" <<'PY'
import gzip, struct, sys
out = sys.argv[1]
for ver in ("v1", "v2"):
    src = gzip.open("%s/kernel-%s-clean.gz" % (out, ver)).read()
    for name, mode, needs_check, leak in (("needs-check", 0x02, 1, 0),
                                          ("leak", 0x04, 0, 1),
                                          ("leak-needs-check", 0x02, 1, 1)):
        img = bytearray(src[1:])
        if needs_check:
            flags = struct.unpack_from('<I', img, 4)[0] | 2
            struct.pack_into('<I', img, 4, flags)
        if leak:
            # block 100 counted 1 in the first bitmap; nr_allocated + 1
            nr_alloc, index = struct.unpack_from('<QQ', img, 64 + 8)
            bitmap = struct.unpack_from('<Q', img, index * 4096 + 16)[0]
            img[bitmap * 4096 + 16 + 100 // 4] |= 1 << (2 * (100 % 4) + 1)
            struct.pack_into('<Q', img, 64 + 8, nr_alloc + 1)
        with open("%s/write-%s-%s.gz" % (out, name, ver), "wb") as f:
            f.write(gzip.compress(bytes([mode]) + bytes(img), 9, mtime=0))
PY
for dir in "$TOP"/tests/corpus/*/; do
	name=$(basename "$dir")
	[ -f "$dir/build" ] || continue
	rm -rf "${scratch:?}"/* && cd "$scratch"
	if ! (corpus_build "$dir") >/dev/null 2>&1 || [ ! -f image ]; then
		echo "skipped $name: build failed" >&2
		continue
	fi
	seed image "$out/$name"
	if [ -f image.xml ]; then
		h=$(sha1sum image.xml | cut -c1-8)
		[ -f "$xout/corpus-$h.xml.gz" ] ||
			gzip -9n <image.xml >"$xout/corpus-$h.xml.gz"
	fi
done
