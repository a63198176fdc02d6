/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * On-disk layout of the persistent-data structures: btree nodes, array
 * blocks, the metadata space map (root, index block, bitmaps) and the
 * checksum constants.  Each structure is declared once, here, with its byte
 * offsets checked at compile time.  Values are little-endian (base/endian.h).
 * See FORMAT.md §1-§5.
 */
#ifndef PDATA_ONDISK_H
#define PDATA_ONDISK_H

#include <stddef.h>
#include <stdint.h>

#include "base/endian.h"

#define PD_BLOCK_SIZE 4096u
#define PD_BLOCK_SHIFT 12
#define PD_SECTORS_PER_BLOCK 8u

/* XORed into the crc32c of bytes 4..4095 of each block type. */
#define PD_CSUM_XOR_BTREE 121107u
#define PD_CSUM_XOR_BITMAP 240779u
#define PD_CSUM_XOR_INDEX 160478u
#define PD_CSUM_XOR_ARRAY 595846735u

/* ---- btree node (FORMAT.md §3) ---- */

#define PD_BTREE_INTERNAL 1u
#define PD_BTREE_LEAF 2u

struct pd_node_header {
	le32 csum;		/* 0 */
	le32 flags;		/* 4: PD_BTREE_INTERNAL or PD_BTREE_LEAF */
	le64 blocknr;		/* 8: self */
	le32 nr_entries;	/* 16 */
	le32 max_entries;	/* 20 */
	le32 value_size;	/* 24: bytes per value */
	le32 padding;		/* 28 */
} __attribute__((packed));

_Static_assert(sizeof(struct pd_node_header) == 32, "node header");
_Static_assert(offsetof(struct pd_node_header, blocknr) == 8, "node blocknr");
_Static_assert(offsetof(struct pd_node_header, value_size) == 24, "node vs");

/* Keys start right after the header; values after max_entries keys. */
#define PD_NODE_KEYS_OFFSET 32u

/*
 * A node's values: after max_entries keys.  The caller has range-checked
 * max_entries (the btree validator, or its own check).
 */
static inline const unsigned char *pd_node_values(const void *node)
{
	const struct pd_node_header *h = node;

	return (const unsigned char *)node + PD_NODE_KEYS_OFFSET +
	       8 * (size_t)le32_to_cpu(h->max_entries);
}

/* 3 * floor(floor((4096 - 32) / (8 + value_size)) / 3) */
static inline uint32_t pd_btree_max_entries(uint32_t value_size)
{
	uint32_t n = (PD_BLOCK_SIZE - PD_NODE_KEYS_OFFSET) / (8 + value_size);

	return n - n % 3;
}

/* ---- array block (FORMAT.md §5.1): note blocknr sits at offset 16 ---- */

struct pd_array_header {
	le32 csum;		/* 0 */
	le32 max_entries;	/* 4 */
	le32 nr_entries;	/* 8 */
	le32 value_size;	/* 12 */
	le64 blocknr;		/* 16: self */
} __attribute__((packed));

_Static_assert(sizeof(struct pd_array_header) == 24, "array header");
_Static_assert(offsetof(struct pd_array_header, blocknr) == 16, "array blocknr");

static inline uint32_t pd_array_entries_per_block(uint32_t value_size)
{
	return (PD_BLOCK_SIZE - (uint32_t)sizeof(struct pd_array_header)) /
	       value_size;
}

/* ---- metadata space map (FORMAT.md §4) ---- */

#define PD_SM_ENTRIES_PER_BITMAP 16320u
#define PD_SM_MAX_INDEX_ENTRIES 255u
#define PD_SM_MAX_METADATA_BLOCKS \
	((uint64_t)PD_SM_ENTRIES_PER_BITMAP * PD_SM_MAX_INDEX_ENTRIES)

/* Stored in the 128-byte space-map root area of a superblock. */
struct pd_sm_root {
	le64 nr_blocks;		/* 0: blocks covered */
	le64 nr_allocated;	/* 8: blocks with count > 0 */
	le64 bitmap_root;	/* 16: metadata index block */
	le64 ref_count_root;	/* 24: overflow btree (value_size 4) */
} __attribute__((packed));

_Static_assert(sizeof(struct pd_sm_root) == 32, "sm root");

struct pd_index_entry {
	le64 blocknr;		/* 0: bitmap block */
	le32 nr_free;		/* 8: advisory */
	le32 none_free_before;	/* 12: advisory */
} __attribute__((packed));

_Static_assert(sizeof(struct pd_index_entry) == 16, "index entry");

struct pd_index_block {
	le32 csum;		/* 0 */
	le32 padding;		/* 4 */
	le64 blocknr;		/* 8: self */
	struct pd_index_entry entries[PD_SM_MAX_INDEX_ENTRIES]; /* 16 */
} __attribute__((packed));

_Static_assert(sizeof(struct pd_index_block) == PD_BLOCK_SIZE, "index block");

struct pd_bitmap_header {
	le32 csum;		/* 0 */
	le32 not_used;		/* 4 */
	le64 blocknr;		/* 8: self */
} __attribute__((packed));

_Static_assert(sizeof(struct pd_bitmap_header) == 16, "bitmap header");

/*
 * Entry j of a bitmap: byte 16 + j/4, shift s = 2*(j%4).  The even bit
 * carries 2, the odd bit carries 1, so four entries of count 1 are 0xAA.
 */
static inline unsigned pd_bitmap_get(const void *block, uint32_t j)
{
	const unsigned char *b = (const unsigned char *)block + 16 + j / 4;
	unsigned s = 2 * (j % 4);

	return 2 * ((*b >> s) & 1) + ((*b >> (s + 1)) & 1);
}

static inline void pd_bitmap_set(void *block, uint32_t j, unsigned count)
{
	unsigned char *b = (unsigned char *)block + 16 + j / 4;
	unsigned s = 2 * (j % 4);

	if (count > 3)
		count = 3;
	*b &= (unsigned char)~(3u << s);
	*b |= (unsigned char)((((count >> 1) & 1) << s) |
			      ((count & 1) << (s + 1)));
}

#endif
