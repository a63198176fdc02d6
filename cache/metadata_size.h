/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * How big a cache metadata device must be.
 *
 * Two answers.  cache_msize_conservative() is the formula every release of
 * the reference tools prints (FORMAT.md §8): 4 MiB of transaction overhead
 * plus 16 bytes per mapping plus (hint width + 8) bytes per hint, each term
 * rounded down to sectors on its own.  It leaves room for the kernel to
 * shadow blocks while it runs, which is what a device to be used live needs.
 *
 * cache_msize_exact() counts, from the on-disk layout rules, the blocks a
 * fresh restore of N cache blocks allocates: array blocks of 509 mappings
 * (4072 / value size per block in general) under btrees of at most 252
 * entries per node, the hint array, the v2 dirty bitset, the discard bitset,
 * the space map's index, bitmaps and overflow root, and the superblock.
 * It is the smallest device a restore fits in, not a size to run on.
 *
 * Size strings ("10G", "512k", "2048") follow the 1.x tools: a decimal
 * number with an optional unit; lower-case letters are binary multiples
 * (k = KiB), upper-case ones decimal (K = kB), "s" a 512-byte sector and
 * "b" a byte.  A bare number is in sectors.
 *
 * Typical use:
 *
 *	uint64_t sectors;
 *	if (cache_msize_conservative(nr, 4, &sectors) < 0)
 *		... too large ...
 *
 *	struct cache_msize_layout l = { .version = 2, .hint_width = 4,
 *					.nr_cache_blocks = nr };
 *	struct cache_msize_exact e;
 *	cache_msize_exact(&l, &e);	(e.total blocks of 4 KiB)
 *
 * All functions return 0 or a negative errno and never print.
 */
#ifndef CACHE_METADATA_SIZE_H
#define CACHE_METADATA_SIZE_H

#include <stdint.h>

/* The reference formula's fixed part: 4 MiB in sectors. */
#define CACHE_MSIZE_OVERHEAD_SECTORS 8192u
/* cache_blocks is a le32 in the superblock. */
#define CACHE_MSIZE_MAX_NR_BLOCKS 0xffffffffull

/*
 * 8192 + floor(N * 16 / 512) + floor(N * (W + 8) / 512) sectors.
 * -ERANGE when the answer does not fit in 64 bits.
 */
int cache_msize_conservative(uint64_t nr_blocks, uint32_t hint_width,
			     uint64_t *sectors);

struct cache_msize_layout {
	uint32_t version;		/* 1, or 2 for the dirty bitset */
	uint32_t hint_width;		/* bytes per hint; 0 = no hint array */
	uint64_t nr_cache_blocks;
	uint64_t discard_nr_blocks;	/* bits in the discard bitset */
};

/* Block counts (4 KiB metadata blocks) per structure. */
struct cache_msize_exact {
	uint64_t superblock;		/* 1 */
	uint64_t space_map;		/* index + bitmaps + overflow root */
	uint64_t mapping;		/* btree nodes + array blocks */
	uint64_t hints;
	uint64_t discard;
	uint64_t dirty;			/* v2 only */
	uint64_t total;
	/* 0 when total exceeds the 4,161,600 blocks a space map can cover. */
	int fits;
};

/*
 * -EINVAL for a version other than 1 or 2, a hint width over 128, or more
 * than CACHE_MSIZE_MAX_NR_BLOCKS cache blocks.
 */
int cache_msize_exact(const struct cache_msize_layout *l,
		      struct cache_msize_exact *out);

/*
 * The cache block sizes the kernel's dm-cache target accepts: 64 to
 * 2097152 sectors (32 KiB to 1 GiB), a multiple of 64.  It also refuses to
 * load metadata whose data block size differs from its table line's, so
 * metadata with any other block size can never be used.
 */
#define CACHE_MIN_BLOCK_SECTORS 64u
#define CACHE_MAX_BLOCK_SECTORS 2097152u

/*
 * NULL when the kernel can use cache blocks of that many sectors, else the
 * reason, in the newer reference tools' words ("block size must be a
 * multiple of 32 KiB", "maximum block size is 1 GiB"), for a message.
 */
const char *cache_block_size_problem(uint64_t sectors);

/* Nodes of a bottom-up btree over nr_keys keys (an empty tree is 1 node). */
uint64_t cache_msize_btree_nodes(uint64_t nr_keys, uint32_t max_entries);
/* Array blocks plus btree nodes of a dm-array of nr_entries values. */
uint64_t cache_msize_array_blocks(uint64_t nr_entries, uint32_t value_size);

/* ---- size strings and output units ---- */

struct cache_size_unit {
	const char *name;	/* "sector", "kibibyte", ... (output: + "s") */
	uint64_t bytes;
};

/*
 * Accepts a letter ("s", "k", "G"), a short name ("KiB", "MB") or a long
 * name ("sector", "gibibyte").  -EINVAL for anything else.
 */
int cache_size_unit_parse(const char *s, const struct cache_size_unit **out);

/*
 * A decimal number with an optional unit; a bare number is in
 * default_unit_bytes.  -EINVAL for a malformed string, -ERANGE when the
 * number of bytes does not fit in 64 bits.
 */
int cache_size_parse(const char *s, uint64_t default_unit_bytes,
		     uint64_t *bytes);

/* A plain decimal u64 (digits only, an optional '+'). -EINVAL / -ERANGE. */
int cache_size_parse_u64(const char *s, uint64_t *out);

/*
 * sectors expressed in unit: the integer part and hundredths, rounded up
 * so that a size is never understated.  *exact says there is no fraction.
 */
void cache_size_in_unit(uint64_t sectors, const struct cache_size_unit *unit,
			uint64_t *whole, unsigned *hundredths, int *exact);

#endif
