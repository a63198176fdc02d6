/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The dm-cache superblock and mapping values (FORMAT.md §2, §6).
 *
 * The on-disk superblock is declared once here.  cache_sb_unpack() cannot
 * fail: it turns whatever bytes block 0 holds into host values.
 * cache_sb_check() then reports every rule the values break, one callback
 * per violation, and never stops at the first.  The v1/v2 dirty rule lives
 * in cache_mapping_dirty() and nowhere else.
 */
#ifndef CACHE_FORMAT_H
#define CACHE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "base/bitmap.h"
#include "base/endian.h"
#include "pdata/bm.h"
#include "pdata/ondisk.h"
#include "pdata/sm.h"

#define CACHE_SB_MAGIC 1623043u
#define CACHE_SB_CSUM_XOR 9031977u
#define CACHE_SB_LOCATION 0u
#define CACHE_MIN_VERSION 1u
#define CACHE_MAX_VERSION 2u
#define CACHE_POLICY_NAME_SIZE 16u
#define CACHE_SM_ROOT_SIZE 128u

#define CACHE_SB_CLEAN_SHUTDOWN (1u << 0)
#define CACHE_SB_NEEDS_CHECK (1u << 1)
#define CACHE_SB_KNOWN_FLAGS (CACHE_SB_CLEAN_SHUTDOWN | CACHE_SB_NEEDS_CHECK)

/* 0.9.0's incompat bit: policy_hint_size is to be read from disk. */
#define CACHE_INCOMPAT_VARIABLE_HINT_SIZE (1u << 0)

#define CACHE_M_VALID (1u << 0)
#define CACHE_M_DIRTY (1u << 1)	/* v1 only */
#define CACHE_M_FLAGS_MASK 0xffffu
#define CACHE_MAX_OBLOCK ((1ull << 48) - 1)

#define CACHE_DEFAULT_HINT_SIZE 4u
#define CACHE_MAX_HINT_SIZE 128u

struct cache_disk_sb {
	le32 csum;				/* 0 */
	le32 flags;				/* 4 */
	le64 blocknr;				/* 8 */
	uint8_t uuid[16];			/* 16 */
	le64 magic;				/* 32 */
	le32 version;				/* 40 */
	char policy_name[CACHE_POLICY_NAME_SIZE];	/* 44 */
	le32 policy_hint_size;			/* 60 */
	uint8_t metadata_space_map_root[CACHE_SM_ROOT_SIZE];	/* 64 */
	le64 mapping_root;			/* 192 */
	le64 hint_root;				/* 200 */
	le64 discard_root;			/* 208 */
	le64 discard_block_size;		/* 216: sectors */
	le64 discard_nr_blocks;			/* 224 */
	le32 data_block_size;			/* 232: sectors */
	le32 metadata_block_size;		/* 236: sectors, 8 */
	le32 cache_blocks;			/* 240 */
	le32 compat_flags;			/* 244 */
	le32 compat_ro_flags;			/* 248 */
	le32 incompat_flags;			/* 252 */
	le32 read_hits;				/* 256 */
	le32 read_misses;			/* 260 */
	le32 write_hits;			/* 264 */
	le32 write_misses;			/* 268 */
	le32 policy_version[3];			/* 272 */
	le64 dirty_root;			/* 284: v2 only */
} __attribute__((packed));

_Static_assert(sizeof(struct cache_disk_sb) == 292, "cache superblock size");
_Static_assert(offsetof(struct cache_disk_sb, metadata_space_map_root) == 64,
	       "sm root");
_Static_assert(offsetof(struct cache_disk_sb, mapping_root) == 192, "mapping");
_Static_assert(offsetof(struct cache_disk_sb, data_block_size) == 232, "dbs");
_Static_assert(offsetof(struct cache_disk_sb, policy_version) == 272, "pver");
_Static_assert(offsetof(struct cache_disk_sb, dirty_root) == 284, "dirty");

/* Host-order superblock. */
struct cache_sb {
	uint32_t csum;
	uint32_t flags;
	uint64_t blocknr;
	uint8_t uuid[16];
	uint64_t magic;
	uint32_t version;
	char policy_name[CACHE_POLICY_NAME_SIZE + 1];	/* always terminated */
	int policy_name_terminated;	/* a NUL within the 16 bytes on disk */
	uint32_t policy_hint_size;	/* as stored */
	struct pd_sm_root_cpu sm_root;
	uint64_t mapping_root;
	uint64_t hint_root;
	uint64_t discard_root;
	uint64_t discard_block_size;
	uint64_t discard_nr_blocks;
	uint32_t data_block_size;
	uint32_t metadata_block_size;
	uint32_t cache_blocks;
	uint32_t compat_flags;
	uint32_t compat_ro_flags;
	uint32_t incompat_flags;
	uint32_t read_hits, read_misses, write_hits, write_misses;
	uint32_t policy_version[3];
	uint64_t dirty_root;
};

/* Validator for block 0: location, magic, checksum; no other rule. */
extern const struct pd_validator cache_sb_validator;

/* Cannot fail. data is one 4096-byte block. */
void cache_sb_unpack(const void *data, struct cache_sb *sb);
/* Fills a zeroed 4096-byte block; the checksum is stamped at write time. */
void cache_sb_pack(const struct cache_sb *sb, void *data);

/*
 * The effective hint width: policy_hint_size when incompat bit 0 is set or
 * the field is non-zero; 4 when it is 0 and the bit is clear (0.9.0 writes
 * 0 for 4, and so does the kernel before the first clean shutdown).
 */
uint32_t cache_sb_hint_width(const struct cache_sb *sb);

/* Superblock rules (each a separate problem for the checker). */
enum cache_sb_problem {
	CACHE_SB_BAD_LOCATION,		/* blocknr != 0 */
	CACHE_SB_BAD_MAGIC,
	CACHE_SB_BAD_CSUM,
	CACHE_SB_BAD_VERSION,		/* not 1..2 */
	CACHE_SB_BAD_FLAGS,		/* unknown flag bits */
	CACHE_SB_POLICY_NAME,		/* no NUL within 16 bytes */
	CACHE_SB_HINT_SIZE,		/* not a multiple of 4, or > 128 */
	CACHE_SB_METADATA_BLOCK_SIZE,	/* != 8 */
	CACHE_SB_COMPAT_FLAGS,
	CACHE_SB_COMPAT_RO_FLAGS,
	CACHE_SB_INCOMPAT_FLAGS,	/* the kernel refuses any */
	CACHE_SB_ROOT_RANGE,		/* a root past the device */
	CACHE_SB_DIRTY_ROOT,		/* v2 without a dirty root */
	CACHE_SB_SM_NR_BLOCKS,		/* sm covers more than the device */
	CACHE_SB_DATA_BLOCK_SIZE,	/* 0 */
	CACHE_SB_DISCARD_GEOMETRY,	/* nr_blocks without a block size */
	CACHE_SB_NR_PROBLEMS
};

struct cache_sb_violation {
	enum cache_sb_problem problem;
	const char *field;	/* e.g. "mapping_root" */
	uint64_t found;
	uint64_t expected;	/* or the limit that was passed */
};

/*
 * Calls report once per violation, in the order of the enum.  nr_dev_blocks
 * is the device size in blocks (0 = unknown, skip range checks).  Returns
 * the number of violations, or a non-zero value report returned.
 */
int cache_sb_check(const struct cache_sb *sb, const void *raw_block,
		   uint64_t nr_dev_blocks,
		   int (*report)(void *ctx, const struct cache_sb_violation *v),
		   void *ctx);

/* ---- mapping values ---- */

static inline uint64_t cache_mapping_pack(uint64_t oblock, uint32_t flags)
{
	return (oblock << 16) | (flags & CACHE_M_FLAGS_MASK);
}

static inline uint64_t cache_mapping_oblock(uint64_t value)
{
	return value >> 16;
}

static inline uint32_t cache_mapping_flags(uint64_t value)
{
	return (uint32_t)(value & CACHE_M_FLAGS_MASK);
}

/*
 * The one place the dirty rule lives.  v1: the M_DIRTY flag of the mapping
 * value.  v2: bit cblock of the dirty bitset.  A bit whose block could not
 * be read (set in dirty_lost) counts as dirty: a wrongly dirty block costs a
 * copy, a wrongly clean one loses data.  dirty_bits and dirty_lost may be
 * NULL in v1 (and dirty_lost when nothing was lost).
 */
static inline int cache_mapping_dirty(uint32_t version, uint64_t value,
				      const struct base_bitmap *dirty_bits,
				      const struct base_bitmap *dirty_lost,
				      uint64_t cblock)
{
	if (version < 2)
		return (cache_mapping_flags(value) & CACHE_M_DIRTY) != 0;
	if (dirty_lost && cblock < dirty_lost->nr_bits &&
	    base_bitmap_test(dirty_lost, cblock))
		return 1;
	return dirty_bits && cblock < dirty_bits->nr_bits &&
	       base_bitmap_test(dirty_bits, cblock);
}

#endif
