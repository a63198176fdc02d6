# SPDX-License-Identifier: GPL-3.0-or-later
#
# Byte-level looks at metadata images, for the tests that check exactly
# which blocks and bytes a writer changed; sourced, not run.

# changed_blocks A B: the 4 KiB blocks that differ, space separated
changed_blocks() {
	cmp -l "$1" "$2" | awk '{ b = int(($1 - 1) / 4096); if (b != last) { printf "%s%d", sep, b; sep = " "; last = b } }
		BEGIN { last = -1 }'
}
# changed_bytes A B BLOCK: byte offsets (0-based) that differ in BLOCK
changed_bytes() {
	cmp -l "$1" "$2" | awk -v blk="$3" '{ o = $1 - 1; if (int(o / 4096) == blk) { printf "%s%d", sep, o % 4096; sep = " " } }'
}
le32_at() { od -A n -t u4 -j "$2" -N 4 "$1" | tr -d ' '; }
le64_at() { od -A n -t u8 -j "$2" -N 8 "$1" | tr -d ' '; }
