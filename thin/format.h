/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The dm-thin superblock, device details and mapping values (thin/THIN.md).
 *
 * The on-disk superblock is declared once here.  thin_sb_unpack() cannot
 * fail: it turns whatever bytes block 0 holds into host values, so that a
 * checker can look at every field of a damaged superblock.  thin_sb_check()
 * then reports every rule the values break, one callback per violation, in
 * the order of enum thin_sb_problem, and never stops at the first.
 */
#ifndef THIN_FORMAT_H
#define THIN_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "base/endian.h"
#include "pdata/bm.h"
#include "pdata/ondisk.h"
#include "pdata/sm.h"

#define THIN_SB_MAGIC 27022010u
#define THIN_SB_CSUM_XOR 160774u
#define THIN_SB_LOCATION 0u
#define THIN_VERSION 2u
#define THIN_MIN_VERSION 1u
#define THIN_SM_ROOT_SIZE 128u

#define THIN_SB_NEEDS_CHECK (1u << 0)
#define THIN_SB_KNOWN_FLAGS THIN_SB_NEEDS_CHECK

/* dm-thin.c's table rules for the data block size, in sectors. */
#define THIN_MIN_DATA_BLOCK_SIZE 128u
#define THIN_MAX_DATA_BLOCK_SIZE 2097152u

/* dm-thin.c's table rule: 128..2097152 sectors, a multiple of 128. */
static inline int thin_data_block_size_ok(uint64_t sectors)
{
	return sectors >= THIN_MIN_DATA_BLOCK_SIZE &&
	       sectors <= THIN_MAX_DATA_BLOCK_SIZE &&
	       sectors % THIN_MIN_DATA_BLOCK_SIZE == 0;
}

/* Bottom-level values: data block << 24 | time. */
#define THIN_TIME_BITS 24u
#define THIN_TIME_MASK ((1u << THIN_TIME_BITS) - 1)
#define THIN_MAX_DATA_BLOCK ((1ull << 40) - 1)

struct thin_disk_sb {
	le32 csum;				/* 0: crc32c(4..4095) ^ 160774 */
	le32 flags;				/* 4: THIN_SB_NEEDS_CHECK */
	le64 blocknr;				/* 8: self, 0 */
	uint8_t uuid[16];			/* 16: unused, zero */
	le64 magic;				/* 32 */
	le32 version;				/* 40 */
	le32 time;				/* 44: pool time */
	le64 trans_id;				/* 48 */
	le64 held_root;				/* 56: metadata snapshot, 0 = none */
	uint8_t data_space_map_root[THIN_SM_ROOT_SIZE];		/* 64 */
	uint8_t metadata_space_map_root[THIN_SM_ROOT_SIZE];	/* 192 */
	le64 data_mapping_root;			/* 320 */
	le64 device_details_root;		/* 328 */
	le32 data_block_size;			/* 336: sectors */
	le32 metadata_block_size;		/* 340: sectors, 8 */
	le64 metadata_nr_blocks;		/* 344 */
	le32 compat_flags;			/* 352 */
	le32 compat_ro_flags;			/* 356 */
	le32 incompat_flags;			/* 360 */
} __attribute__((packed));

_Static_assert(sizeof(struct thin_disk_sb) == 364, "thin superblock size");
_Static_assert(sizeof(struct thin_disk_sb) <= 512, "one sector: atomic");
_Static_assert(offsetof(struct thin_disk_sb, magic) == 32, "magic");
_Static_assert(offsetof(struct thin_disk_sb, time) == 44, "time");
_Static_assert(offsetof(struct thin_disk_sb, held_root) == 56, "held_root");
_Static_assert(offsetof(struct thin_disk_sb, data_space_map_root) == 64,
	       "data sm root");
_Static_assert(offsetof(struct thin_disk_sb, metadata_space_map_root) == 192,
	       "metadata sm root");
_Static_assert(offsetof(struct thin_disk_sb, data_mapping_root) == 320,
	       "mapping root");
_Static_assert(offsetof(struct thin_disk_sb, data_block_size) == 336, "dbs");
_Static_assert(offsetof(struct thin_disk_sb, metadata_nr_blocks) == 344,
	       "metadata_nr_blocks");
_Static_assert(offsetof(struct thin_disk_sb, incompat_flags) == 360,
	       "incompat");

/* Host-order superblock. */
struct thin_sb {
	uint32_t csum;
	uint32_t flags;
	uint64_t blocknr;
	uint8_t uuid[16];
	uint64_t magic;
	uint32_t version;
	uint32_t time;
	uint64_t trans_id;
	uint64_t held_root;
	struct pd_sm_root_cpu data_sm;
	struct pd_sm_root_cpu metadata_sm;
	uint64_t mapping_root;
	uint64_t details_root;
	uint32_t data_block_size;
	uint32_t metadata_block_size;
	uint64_t metadata_nr_blocks;
	uint32_t compat_flags;
	uint32_t compat_ro_flags;
	uint32_t incompat_flags;
};

/* Validator for block 0 (and a held superblock): location, checksum, magic. */
extern const struct pd_validator thin_sb_validator;

/* Cannot fail.  data is one 4096-byte block. */
void thin_sb_unpack(const void *data, struct thin_sb *sb);
/* Fills a zeroed 4096-byte block; the checksum is stamped at write time. */
void thin_sb_pack(const struct thin_sb *sb, void *data);

/* Superblock rules (each a separate problem for the checker). */
enum thin_sb_problem {
	THIN_SB_BAD_LOCATION,		/* blocknr != where it was read */
	THIN_SB_BAD_MAGIC,
	THIN_SB_BAD_CSUM,
	THIN_SB_BAD_VERSION,		/* not 1..2 */
	THIN_SB_BAD_FLAGS,		/* unknown flag bits */
	THIN_SB_METADATA_BLOCK_SIZE,	/* != 8 */
	THIN_SB_DATA_BLOCK_SIZE,	/* not 128..2097152, multiple of 128 */
	THIN_SB_COMPAT_FLAGS,
	THIN_SB_COMPAT_RO_FLAGS,	/* the kernel refuses read-write */
	THIN_SB_INCOMPAT_FLAGS,		/* the kernel refuses */
	THIN_SB_ROOT_RANGE,		/* a root is 0 or past the device */
	THIN_SB_SM_NR_BLOCKS,		/* metadata sm covers more than the device */
	THIN_SB_HELD_ROOT,		/* held root is the superblock or past the device */
	THIN_SB_NR_PROBLEMS
};

struct thin_sb_violation {
	enum thin_sb_problem problem;
	const char *field;	/* e.g. "data_mapping_root" */
	uint64_t found;
	uint64_t expected;	/* or the limit that was passed */
};

/*
 * Calls report once per violation, in the order of the enum.  location is
 * the block the superblock was read from (0, or a held root).  nr_dev_blocks
 * is the device size in blocks (0 = unknown, skip range checks).  With
 * held set the copy's space-map roots are not checked (the kernel zeroes
 * them in the copy) nor its held root.  Returns the number of violations,
 * or a non-zero value report returned.
 */
int thin_sb_check(const struct thin_sb *sb, const void *raw_block,
		  uint64_t location, uint64_t nr_dev_blocks, int held,
		  int (*report)(void *ctx, const struct thin_sb_violation *v),
		  void *ctx);

/* ---- device details (value of the details tree, key = dev id) ---- */

struct thin_disk_details {
	le64 mapped_blocks;		/* 0 */
	le64 transaction_id;		/* 8: the pool's when created */
	le32 creation_time;		/* 16 */
	le32 snapshotted_time;		/* 20 */
} __attribute__((packed));

_Static_assert(sizeof(struct thin_disk_details) == 24, "device details");

struct thin_details {
	uint64_t mapped_blocks;
	uint64_t transaction_id;
	uint32_t creation_time;
	uint32_t snapshotted_time;
};

static inline void thin_details_unpack(const void *raw, struct thin_details *d)
{
	const struct thin_disk_details *x = raw;

	d->mapped_blocks = le64_to_cpu(x->mapped_blocks);
	d->transaction_id = le64_to_cpu(x->transaction_id);
	d->creation_time = le32_to_cpu(x->creation_time);
	d->snapshotted_time = le32_to_cpu(x->snapshotted_time);
}

static inline void thin_details_pack(const struct thin_details *d, void *raw)
{
	struct thin_disk_details *x = raw;

	x->mapped_blocks = cpu_to_le64(d->mapped_blocks);
	x->transaction_id = cpu_to_le64(d->transaction_id);
	x->creation_time = cpu_to_le32(d->creation_time);
	x->snapshotted_time = cpu_to_le32(d->snapshotted_time);
}

/* ---- mapping values ---- */

static inline uint64_t thin_block_time_pack(uint64_t data_block, uint32_t time)
{
	return (data_block << THIN_TIME_BITS) | (time & THIN_TIME_MASK);
}

static inline uint64_t thin_block_time_block(uint64_t v)
{
	return v >> THIN_TIME_BITS;
}

static inline uint32_t thin_block_time_time(uint64_t v)
{
	return (uint32_t)(v & THIN_TIME_MASK);
}

#endif
