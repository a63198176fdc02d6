// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * thin_hold: takes a metadata snapshot of a thin-pool image the way the
 * kernel's reserve_metadata_snap does (thin/THIN.md), for tests: copies
 * the superblock into a free block with its space-map roots zeroed,
 * counts one more reference to the copy's mapping and details roots and
 * one to the copy, and stores the copy's block in held_root.  Only images
 * whose two roots have counts below 2 (no overflow entry needed) are
 * handled, which is what thin_restore writes.
 *
 *   thin_hold IMG [FROM]   prints the copy's block: the first free one,
 *                          at or after FROM when given (the kernel's
 *                          allocator moves on rather than filling the
 *                          holes an earlier transaction left)
 *
 * Exit 0 on success, 2 on bad usage or an image it cannot handle.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/endian.h"
#include "pdata/bm.h"
#include "pdata/ondisk.h"
#include "thin/format.h"

static int fd;

static void rd(uint64_t b, void *buf)
{
	if (pread(fd, buf, PD_BLOCK_SIZE, (off_t)(b * PD_BLOCK_SIZE)) !=
	    PD_BLOCK_SIZE) {
		fprintf(stderr, "thin_hold: cannot read block %" PRIu64 "\n", b);
		exit(2);
	}
}

static void wr(uint64_t b, void *buf, uint32_t xor)
{
	store_le32(buf, pd_block_csum(buf, xor));
	if (pwrite(fd, buf, PD_BLOCK_SIZE, (off_t)(b * PD_BLOCK_SIZE)) !=
	    PD_BLOCK_SIZE) {
		fprintf(stderr, "thin_hold: cannot write block %" PRIu64 "\n", b);
		exit(2);
	}
}

static unsigned char sbb[PD_BLOCK_SIZE], ixb[PD_BLOCK_SIZE];
static unsigned char bmb[PD_SM_MAX_INDEX_ENTRIES][PD_BLOCK_SIZE];
static int dirty[PD_SM_MAX_INDEX_ENTRIES];

static unsigned get(uint64_t b)
{
	return pd_bitmap_get(bmb[b / PD_SM_ENTRIES_PER_BITMAP],
			     (uint32_t)(b % PD_SM_ENTRIES_PER_BITMAP));
}

static void inc(struct pd_index_block *ix, uint64_t b)
{
	unsigned i = (unsigned)(b / PD_SM_ENTRIES_PER_BITMAP);
	unsigned c = get(b);

	if (c >= 2) {
		fprintf(stderr, "thin_hold: block %" PRIu64 " has count %u\n",
			b, c);
		exit(2);
	}
	pd_bitmap_set(bmb[i], (uint32_t)(b % PD_SM_ENTRIES_PER_BITMAP), c + 1);
	dirty[i] = 1;
	if (!c)
		ix->entries[i].nr_free =
			cpu_to_le32(le32_to_cpu(ix->entries[i].nr_free) - 1);
}

int main(int argc, char **argv)
{
	struct thin_disk_sb *d = (void *)sbb;
	struct pd_index_block *ix = (void *)ixb;
	struct pd_sm_root smr;
	struct thin_sb sb;
	unsigned char copy[PD_BLOCK_SIZE];
	uint64_t nb, held = 0, from = 1;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: thin_hold IMG [FROM]\n");
		return 2;
	}
	if (argc == 3 && (from = strtoull(argv[2], NULL, 0)) < 1)
		from = 1;
	fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		perror(argv[1]);
		return 2;
	}
	rd(0, sbb);
	thin_sb_unpack(sbb, &sb);
	if (sb.held_root) {
		fprintf(stderr, "thin_hold: already held\n");
		return 2;
	}
	rd(sb.metadata_sm.bitmap_root, ixb);
	nb = (sb.metadata_sm.nr_blocks + PD_SM_ENTRIES_PER_BITMAP - 1) /
	     PD_SM_ENTRIES_PER_BITMAP;
	for (uint64_t i = 0; i < nb; i++)
		rd(le64_to_cpu(ix->entries[i].blocknr), bmb[i]);
	for (uint64_t b = from; b < sb.metadata_sm.nr_blocks; b++)
		if (!get(b)) {
			held = b;
			break;
		}
	if (!held) {
		fprintf(stderr, "thin_hold: no free block\n");
		return 2;
	}
	inc(ix, held);
	inc(ix, sb.mapping_root);
	inc(ix, sb.details_root);

	memcpy(copy, sbb, sizeof(copy));
	memset(copy + 64, 0, 2 * THIN_SM_ROOT_SIZE);
	store_le64(copy + 8, held);
	wr(held, copy, THIN_SB_CSUM_XOR);
	for (uint64_t i = 0; i < nb; i++)
		if (dirty[i])
			wr(le64_to_cpu(ix->entries[i].blocknr), bmb[i],
			   PD_CSUM_XOR_BITMAP);
	wr(sb.metadata_sm.bitmap_root, ixb, PD_CSUM_XOR_INDEX);
	sb.metadata_sm.nr_allocated++;
	pd_sm_root_pack(&sb.metadata_sm, &smr);
	memcpy(d->metadata_space_map_root, &smr, sizeof(smr));
	d->held_root = cpu_to_le64(held);
	wr(0, sbb, THIN_SB_CSUM_XOR);
	printf("%" PRIu64 "\n", held);
	return close(fd) ? 2 : 0;
}
