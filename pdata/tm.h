/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The transaction manager: allocation, reference counts and copy-on-write
 * for metadata blocks, with the superblock as the single commit point, in
 * the kernel's model (FORMAT.md §4.9).
 *
 * The reference count of every metadata block lives in core while the
 * transaction runs (one u32 per block, so memory is bounded by the device
 * size).  Blocks reachable from the last committed superblock are never
 * written in place: pd_tm_shadow() copies them to a new block, and a block
 * whose count drops to 0 in this transaction stays unusable until the next
 * commit, because the old superblock still points at it.  So a crash at any
 * point leaves the old state intact; the superblock, written last, switches
 * to the new one.
 *
 * Typical use, bulk build of a fresh device (cache_restore):
 *
 *	pd_bm_create(io, 1024, &bm);
 *	pd_tm_create(bm, &tm);
 *	pd_array_builder_create(tm, 8, &ab); ... pd_array_builder_finish(...);
 *	r = pd_tm_commit(tm, fill_superblock, &ctx, &cache_sb_validator);
 *	pd_tm_destroy(tm); pd_bm_destroy(bm);
 *
 * In-place update of existing metadata (cache_writeback):
 *
 *	pd_tm_open(bm, &sb.sm_root, &tm);
 *	pd_array_set(tm, &sb.mapping_root, 8, sb.cache_blocks, cblock, &v);
 *	r = pd_tm_commit(tm, fill_superblock, &sb, &cache_sb_validator);
 *
 * pd_tm_commit() writes the space map (sm_write.c: a new index block, new
 * bitmaps and a new overflow tree, the old ones released), then every dirty
 * block, flushes, and only then has the callback fill the zeroed superblock
 * (block PD_TM_SB_LOCATION) given the new space-map root, writes it and
 * flushes again.  The metadata space map follows the kernel's nr_free
 * convention: every bitmap, the last one included, counts 16320 slots, so
 * nr_free = 16320 - entries in use; none_free_before is the first free
 * entry.  A new transaction begins when commit returns 0.
 *
 * Errors: 0 or a negative errno.  -ENOSPC no free block, -EUCLEAN a count
 * would go below 0 or above UINT32_MAX, or the space map being opened is
 * damaged, -EINVAL a block number outside the space map, -ENOMEM, and the
 * block manager's errors (-EIO, -EILSEQ, -ENOTBLK ...).  After any error
 * from a function that changes counts or blocks the transaction is dead:
 * destroy the manager without committing; the device still holds the last
 * committed state.  Nothing here prints.
 */
#ifndef PDATA_TM_H
#define PDATA_TM_H

#include <stdint.h>

#include "pdata/bm.h"
#include "pdata/sm.h"

/* Where the superblock lives; the allocator never hands it out. */
#define PD_TM_SB_LOCATION 0u

struct pd_tm;

/*
 * A fresh device: every block free except the superblock's.  The space map
 * covers the device's whole blocks, capped at PD_SM_MAX_METADATA_BLOCKS
 * (see pd_tm_nr_blocks).  Nothing is written until commit; a caller that
 * overwrites old metadata may zero the old superblock first so that a crash
 * mid-way leaves "unformatted" rather than a superblock over new blocks.
 * The manager does not own bm.
 */
int pd_tm_create(struct pd_bm *bm, struct pd_tm **out);

/*
 * Existing metadata: counts come from the on-disk space map at root (read
 * with pd_sm_read); the blocks it occupies are released at the next commit.
 * -EUCLEAN when the space map is damaged or its nr_blocks exceeds the
 * device or the format: it cannot be trusted to allocate from.
 */
int pd_tm_open(struct pd_bm *bm, const struct pd_sm_root_cpu *root,
	       struct pd_tm **out);

/* Accepts NULL.  Writes nothing: uncommitted work is dropped. */
void pd_tm_destroy(struct pd_tm *tm);

struct pd_bm *pd_tm_bm(struct pd_tm *tm);
/* Blocks the space map covers. */
uint64_t pd_tm_nr_blocks(const struct pd_tm *tm);
/* Blocks whose count is above 0 right now. */
uint64_t pd_tm_nr_allocated(const struct pd_tm *tm);
/* 0 for a block out of range. */
uint32_t pd_tm_ref_count(const struct pd_tm *tm, uint64_t block);

/*
 * Allocates a block (count 1) without locking it: for callers that fill it
 * later with pd_bm_write_lock_zero().  Blocks come in increasing order from
 * a moving cursor, so a bulk build writes sequentially.
 */
int pd_tm_alloc(struct pd_tm *tm, uint64_t *block);
/* Allocates a block and returns it zeroed and write-locked with v. */
int pd_tm_new_block(struct pd_tm *tm, const struct pd_validator *v,
		    struct pd_block **out);

/* pd_bm_read_lock() on the manager's block manager. */
int pd_tm_read_lock(struct pd_tm *tm, uint64_t block,
		    const struct pd_validator *v, struct pd_block **out,
		    struct pd_fault *f);

/*
 * Makes block writable for this transaction.  A block allocated in this
 * transaction with count 1 is write-locked in place.  Otherwise it is copied
 * to a new block (returned write-locked; pd_block_nr() tells where) and the
 * original's count drops by one; *inc_children is then set when the
 * original was shared (count > 1), and the caller must pd_tm_inc() every
 * block the copy points to, since the copy is a new parent of each.  f may
 * be NULL.
 */
int pd_tm_shadow(struct pd_tm *tm, uint64_t block,
		 const struct pd_validator *v, struct pd_block **out,
		 int *inc_children, struct pd_fault *f);

int pd_tm_inc(struct pd_tm *tm, uint64_t block);
/* At 0 the block is free, reusable in this transaction only if it was
 * allocated in it. */
int pd_tm_dec(struct pd_tm *tm, uint64_t block);
/*
 * Drops block's count to 0 whatever it was: for a checker that has proved
 * nothing references it (a leak).  Like pd_tm_dec, the block stays unusable
 * until the commit.  -EINVAL out of range.
 */
int pd_tm_release(struct pd_tm *tm, uint64_t block);

/*
 * Fills the superblock: sb is a zeroed, write-locked 4096-byte block at
 * PD_TM_SB_LOCATION; root is the new metadata space-map root to store in it.
 * The validator given to pd_tm_commit stamps blocknr and checksum when the
 * block is written.  A non-zero return aborts the commit before the
 * superblock is written, and is returned.
 */
typedef int (*pd_tm_fill_sb_fn)(void *ctx, void *sb,
				const struct pd_sm_root_cpu *root);

int pd_tm_commit(struct pd_tm *tm, pd_tm_fill_sb_fn fill, void *ctx,
		 const struct pd_validator *sb_validator);

/* ---- internal to pdata: tm.c calls it, sm_write.c implements it ---- */

/*
 * Allocates (from tm) and writes a complete metadata space map for tm's
 * counts: index block, bitmaps and overflow btree.  The space map's own
 * blocks are allocated first, so they are included in the counts written.
 * Fills root.
 */
int pd_sm_write(struct pd_tm *tm, struct pd_sm_root_cpu *root);
/* The counts array (pd_tm_nr_blocks entries), for the space-map writer. */
const uint32_t *pd_tm_counts(const struct pd_tm *tm);

#endif
