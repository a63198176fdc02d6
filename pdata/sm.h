/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The metadata space map: the reference count of every metadata block,
 * kept on disk as an index block, 2-bit bitmaps and an overflow btree for
 * counts of 3 or more (FORMAT.md §4).
 *
 * Read side (sm_read.c): pd_sm_read() decodes the whole map into a flat
 * array of counts, reporting damage (a bad index or bitmap block, a broken
 * overflow tree, an overflow entry without a bitmap 3 or a 3 without an
 * entry) through a callback and marking the blocks whose counts it could
 * not learn.  Every block the space map itself occupies (index, bitmaps,
 * overflow nodes) is passed to own_block_ref, so that a checker can count
 * those references like any other.
 *
 * Write side (sm_write.c, used by the transaction manager): see tm.h.
 */
#ifndef PDATA_SM_H
#define PDATA_SM_H

#include <stdint.h>

#include "base/bitmap.h"
#include "base/refcount.h"
#include "pdata/bm.h"
#include "pdata/btree.h"
#include "pdata/ondisk.h"

struct pd_sm_root_cpu {
	uint64_t nr_blocks;
	uint64_t nr_allocated;
	uint64_t bitmap_root;
	uint64_t ref_count_root;
};

void pd_sm_root_unpack(const struct pd_sm_root *disk, struct pd_sm_root_cpu *cpu);
void pd_sm_root_pack(const struct pd_sm_root_cpu *cpu, struct pd_sm_root *disk);

enum pd_sm_problem {
	PD_SM_NR_BLOCKS,	/* nr_blocks beyond the device or the format */
	PD_SM_INDEX,		/* the index block failed its validator */
	PD_SM_INDEX_ENTRY,	/* an entry's bitmap pointer is 0 or out of range */
	PD_SM_BITMAP,		/* a bitmap block failed its validator */
	PD_SM_OVERFLOW,		/* the overflow btree is damaged: see btree */
	PD_SM_OVERFLOW_MISSING,	/* bitmap says 3+, no overflow entry */
	PD_SM_OVERFLOW_EXTRA,	/* overflow entry, bitmap entry not 3 */
	PD_SM_OVERFLOW_LOW,	/* overflow entry holds a count below 3 */
};

const char *pd_sm_problem_name(enum pd_sm_problem p);

struct pd_sm_damage {
	enum pd_sm_problem problem;
	/* Blocks whose counts are unknown: [block_begin, block_end). */
	uint64_t block_begin, block_end;
	struct pd_fault fault;
	struct pd_btree_damage btree;	/* for PD_SM_OVERFLOW */
};

struct pd_sm_read_ops {
	int (*damage)(void *ctx, const struct pd_sm_damage *d);
	/* The index block, each bitmap, each overflow-tree node reference. */
	int (*own_block_ref)(void *ctx, uint64_t block);
};

/*
 * counts gets a malloc'd array of root->nr_blocks counts (the caller frees
 * it); unknown is initialised to nr_blocks bits, set where the count could
 * not be read (those counts are 0).  nr_blocks is capped at what the device
 * and the format allow, with a PD_SM_NR_BLOCKS damage report.  Returns 0,
 * -ENOMEM or a callback's value; on an error *counts is NULL and unknown is
 * released.
 *
 * own_block_ref is called before each read, for every pointer followed: the
 * index block (unless bitmap_root is 0), each bitmap whose index entry is
 * neither 0 nor past the device, and every overflow-tree node pointer (as
 * pd_btree_walk's node_ref: before the range check).  Damage is reported in
 * this order: nr_blocks, index, bitmaps in block order, overflow tree in key
 * order, then missing overflow entries.
 */
int pd_sm_read(struct pd_bm *bm, const struct pd_sm_root_cpu *root,
	       const struct pd_sm_read_ops *ops, void *ctx, uint32_t **counts,
	       uint64_t *nr_counts, struct base_bitmap *unknown);

/*
 * The same for a "disk" space map (dm-thin's data space map): its
 * bitmap_root is a btree (value 16 bytes: struct pd_index_entry, key = the
 * bitmap's index) rather than one index block, so it can cover any number
 * of blocks; nr_blocks is capped at 16,320 per device block (each bitmap
 * needs a block).  Damage to the index tree is PD_SM_INDEX with d->btree
 * filled, for the blocks the lost entries covered; a missing key is
 * PD_SM_INDEX_ENTRY.  own_block_ref also sees every index-tree node.  The
 * bitmaps and counts are otherwise exactly those of the metadata map.
 */
int pd_sm_read_disk(struct pd_bm *bm, const struct pd_sm_root_cpu *root,
		    const struct pd_sm_read_ops *ops, void *ctx,
		    uint32_t **counts, uint64_t *nr_counts,
		    struct base_bitmap *unknown);

/*
 * The same two, into two-bit counts (base/refcount.h: the bitmaps' words
 * as they are, the overflow tree's counts in its map) rather than 32 bits
 * a block; counts->nr is the number of blocks covered.  counts is
 * initialised here and released on an error.
 */
int pd_sm_read_rc(struct pd_bm *bm, const struct pd_sm_root_cpu *root,
		  const struct pd_sm_read_ops *ops, void *ctx,
		  struct base_refcount *counts, struct base_bitmap *unknown);
int pd_sm_read_disk_rc(struct pd_bm *bm, const struct pd_sm_root_cpu *root,
		       const struct pd_sm_read_ops *ops, void *ctx,
		       struct base_refcount *counts,
		       struct base_bitmap *unknown);

/*
 * pd_sm_read_disk_rc keeping counts only in the chunks of blocks
 * (base/refcount.h) where keep has a count: elsewhere a count reads 0, or
 * its overflow count where its bitmap said 3 (and counts's chunk flags
 * say nothing about the bitmaps there).  For a checker that can only find
 * a block referenced more than counted (some references were never
 * counted): the counts of blocks it never saw are of no use, and a data
 * map's counts are a page per 16,384 blocks.  Damage reports, own-block
 * references and unknown are those of pd_sm_read_disk_rc, messages'
 * counts included (a bitmap is read again for one it did not keep); it
 * may also return a read error then.
 */
int pd_sm_read_disk_rc_only(struct pd_bm *bm, const struct pd_sm_root_cpu *root,
			    const struct base_refcount *keep,
			    const struct pd_sm_read_ops *ops, void *ctx,
			    struct base_refcount *counts,
			    struct base_bitmap *unknown);

/*
 * pd_sm_read_disk_rc compared, word by word as each bitmap is read, with
 * ref (a checker's counts of the same blocks, which must not change
 * during the read): counts stores only the words (32 blocks) that differ
 * from ref's or hold a 3, and differs (initialised here, a bit per word,
 * released on an error) marks them; every other word of a bitmap that
 * was read equals ref's.  *in_use gets the blocks in use, as
 * base_refcount_nonzero would count them in pd_sm_read_disk_rc's counts
 * (blocks whose counts were lost are not in use).  Damage reports, own
 * references and unknown are pd_sm_read_disk_rc's.  For a complete check
 * of a sound pool nothing is stored at all.
 */
int pd_sm_read_disk_rc_diff(struct pd_bm *bm, const struct pd_sm_root_cpu *root,
			    const struct base_refcount *ref,
			    const struct pd_sm_read_ops *ops, void *ctx,
			    struct base_refcount *counts,
			    struct base_bitmap *differs, uint64_t *in_use,
			    struct base_bitmap *unknown);

/*
 * Writes a disk space map (dm-thin's data space map: bitmaps, an index
 * btree, an overflow btree for counts of 3 and more) for counts[0..nr),
 * in blocks allocated from tm, and fills root.  The counts are of another
 * device's blocks, so they do not include the map's own blocks.
 */
struct pd_tm;
int pd_sm_write_disk(struct pd_tm *tm, const uint32_t *counts, uint64_t nr,
		     struct pd_sm_root_cpu *root);
/* The same from two-bit counts (counts->nr blocks): the same blocks. */
int pd_sm_write_disk_rc(struct pd_tm *tm, const struct base_refcount *counts,
			struct pd_sm_root_cpu *root);

#endif
