/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Live dm-cache metadata: the kernel's dm-cache-metadata operations in
 * userspace, over the transaction manager, for a program that runs a cache
 * model on image files (cache_replay) and must leave metadata the kernel,
 * our tools and the reference tools accept.
 *
 * The model is the kernel's: every change goes into one open transaction,
 * copy-on-write, and cache_live_commit() makes it durable by writing the
 * superblock last (space map, every block, flush, superblock, flush).  A
 * crash or a failed write at any point leaves the device holding exactly
 * the previous commit.  Two writes are made in place on the superblock,
 * as the kernel makes them, changing only its flags: opening clears
 * CLEAN_SHUTDOWN (so a crash after the open is never mistaken for a clean
 * state), and cache_live_set_needs_check().
 *
 * What the kernel does, and so what this does (seed 000, FORMAT.md §2, §13):
 *   - format (an all-zero block 0 and CACHE_LIVE_MAY_FORMAT): empty mapping
 *     array, empty discard bitset, v2 an empty dirty bitset, no hint array,
 *     cache_blocks 0, discard geometry 0/0, no policy, flags 0.  The caller
 *     then sizes it: cache_live_resize(), cache_live_discard_resize().  Size
 *     the device with cache_msize_conservative() (cache/metadata_size.h).
 *   - insert writes the mapping with M_VALID only: in v1 that clears
 *     M_DIRTY.  Remove writes 0.  Neither touches the v2 dirty bitset.
 *   - dirty state: the kernel writes it only at a clean shutdown, wholesale
 *     (cache_live_set_dirty_bits()); cache_live_set_dirty() changes one
 *     block for callers that keep it current.  v1: M_DIRTY of the mapping;
 *     v2: the dirty bitset.
 *   - hints: cache_live_save_hints() records the policy's name, version and
 *     hint size and re-creates the hint array over every cache block.
 *   - commit writes the hit/miss counters given with cache_live_set_stats(),
 *     and sets CLEAN_SHUTDOWN when asked (a clean close is
 *     cache_live_commit(cl, 1) then cache_live_close()), clears it
 *     otherwise.
 *   - loading: when the device was not cleanly shut down (CLEAN_SHUTDOWN
 *     clear when opened) every valid mapping is reported dirty, hints are
 *     not offered and every discard bit reads clear.  Hints are offered
 *     only to the same policy name and major version with the same hint
 *     size (the kernel's policy_unchanged()).
 *
 * Typical use (a replay):
 *
 *	struct cache_live_opts o = { .data_block_size = 128, .version = 2,
 *				     .flags = CACHE_LIVE_MAY_FORMAT };
 *	r = cache_live_open(io, &o, &cl);
 *	r = cache_live_resize(cl, nr_cache_blocks);
 *	r = cache_live_discard_resize(cl, dbs, nr_dblocks);
 *	r = cache_live_load_mappings(cl, &smq, policy_load, policy);
 *	per I/O: cache_live_insert / cache_live_remove / cache_live_set_discard
 *	every second, on FLUSH, before a demotion completes:
 *		cache_live_set_stats(cl, &st); r = cache_live_commit(cl, 0);
 *	at the end: cache_live_set_dirty_bits(cl, &dirty);
 *		cache_live_save_hints(cl, &smq, get_hint, policy);
 *		cache_live_set_stats(cl, &st); cache_live_commit(cl, 1);
 *	cache_live_close(cl);
 *	on an error: cache_live_abort(cl) (back to the last commit), or close.
 *
 * Cost: insert, remove, lookup, set_dirty and set_discard are O(log n)
 * block accesses through a block cache (the first change to an array block
 * in a transaction copies it; later ones are in place).  Resize is
 * O(blocks added or removed * log n).  Commit writes the blocks changed
 * plus the whole space map (O(metadata device)).  Loading, save_hints and
 * set_dirty_bits are O(n), as in the kernel; loading holds a bit per cache
 * block (v2) and 4 bytes per cache block (hints) while it runs.
 *
 * Errors: 0 or a negative errno; nothing prints.  -EINVAL for an argument
 * out of range (a cache block >= the cache size, an origin block past 2^48,
 * a discard block past the bitset, a bad policy name): the transaction
 * carries on.  Any other error (-EIO and the device's errors, -ENOSPC
 * metadata full, -EUCLEAN damaged metadata, -ENOMEM) leaves the
 * transaction dead: every later call but close, abort and the getters
 * returns -ESTALE until cache_live_abort() re-reads the last commit.
 * Opening: -ENODATA block 0 is all zeroes and formatting was not allowed,
 * -EINVAL a version other than 1 or 2, incompat or compat_ro feature flags,
 * or a data block size other than opts->data_block_size; -EILSEQ,
 * -ENOTBLK block 0 is not a cache superblock; -EUCLEAN a damaged space map
 * or a missing root.
 *
 * Not thread-safe: one caller at a time.
 */
#ifndef CACHE_LIVE_H
#define CACHE_LIVE_H

#include <stdint.h>

#include "base/bitmap.h"
#include "cache/format.h"
#include "pdata/io.h"

struct cache_live;

enum cache_live_open_flags {
	/* Format block 0 when it is all zeroes (else -ENODATA). */
	CACHE_LIVE_MAY_FORMAT = 1 << 0,
};

struct cache_live_opts {
	/* Cache block size in sectors; an existing device must agree. */
	uint32_t data_block_size;
	/* 1 or 2, for a format only (0 = 2); an open keeps the device's. */
	uint32_t version;
	unsigned flags;			/* enum cache_live_open_flags */
	/* Metadata blocks kept in memory; 0 = 1024 (4 MiB), at least 16. */
	unsigned cache_blocks;
};

/* A policy's identity, as the superblock records it. */
struct cache_live_policy {
	char name[CACHE_POLICY_NAME_SIZE];	/* NUL-terminated, 1..15 chars */
	uint32_t version[3];
	uint32_t hint_size;			/* bytes: 0 or 4 */
};

struct cache_live_stats {
	uint32_t read_hits, read_misses, write_hits, write_misses;
};

/*
 * Opens the metadata on io (not owned; must stay open until close), or
 * formats it (see the flags), and clears CLEAN_SHUTDOWN on disk.
 */
int cache_live_open(struct pd_io *io, const struct cache_live_opts *o,
		    struct cache_live **out);
/* Accepts NULL.  Writes nothing: changes since the last commit are lost. */
void cache_live_close(struct cache_live *cl);
/*
 * Drops the transaction and re-reads the last commit from the device, as
 * the kernel's dm_cache_metadata_abort; clears the dead state.  On failure
 * the handle stays dead; close it.
 */
int cache_live_abort(struct cache_live *cl);

/* ---- what the metadata says now (in this transaction) ---- */

uint32_t cache_live_version(const struct cache_live *cl);
uint32_t cache_live_data_block_size(const struct cache_live *cl);
uint64_t cache_live_nr_cache_blocks(const struct cache_live *cl);
uint64_t cache_live_discard_block_size(const struct cache_live *cl);
uint64_t cache_live_discard_nr_blocks(const struct cache_live *cl);
/* Open found an all-zero block 0 and formatted it. */
int cache_live_formatted(const struct cache_live *cl);
/* CLEAN_SHUTDOWN was set when opened (a fresh format counts as clean). */
int cache_live_clean_when_opened(const struct cache_live *cl);
int cache_live_needs_check(const struct cache_live *cl);
/* Something changed since the last commit. */
int cache_live_changed(const struct cache_live *cl);
/* The policy recorded by the last save_hints (or read at open). */
void cache_live_get_policy(const struct cache_live *cl,
			   struct cache_live_policy *p);
/* Metadata blocks in use and in all (the status line's used/total). */
void cache_live_metadata_usage(const struct cache_live *cl, uint64_t *used,
			       uint64_t *total);
void cache_live_get_stats(const struct cache_live *cl,
			  struct cache_live_stats *s);

/* ---- changes, in the open transaction ---- */

/*
 * New number of cache blocks (the mapping array, the v2 dirty bitset, and
 * the hint array when there is one, at its stored width, new hints 0: the
 * kernel leaves that one to the next save_hints; resizing it too keeps
 * every commit consistent for checkers).
 * Shrinking is refused (-EINVAL, nothing changed) when a block to be
 * dropped is dirty: v1 valid with M_DIRTY, v2 its dirty bit set.  At most
 * 2^32 - 1.
 */
int cache_live_resize(struct cache_live *cl, uint64_t nr_cache_blocks);

int cache_live_insert(struct cache_live *cl, uint64_t cblock, uint64_t oblock);
int cache_live_remove(struct cache_live *cl, uint64_t cblock);
/*
 * Sets or clears the stored dirty state of one block (v1 M_DIRTY, v2 its
 * bit); nothing is written when it is already so.  Allowed on an unmapped
 * block, as the kernel allows it: callers keep dirty bits for mapped blocks
 * only, which is what checkers expect.
 */
int cache_live_set_dirty(struct cache_live *cl, uint64_t cblock, int dirty);
/*
 * The kernel's dm_cache_set_dirty_bits: bits->nr_bits must equal the cache
 * size.  v1 changes only the mappings whose flag differs (one walk plus
 * O(log n) per change); v2 re-creates the dirty bitset.
 */
int cache_live_set_dirty_bits(struct cache_live *cl,
			      const struct base_bitmap *bits);

/*
 * Records the policy (name, version; hint size unless 0) and, when its
 * hint size is 4, re-creates the hint array with get_hint(ctx, cblock) for
 * every cache block, unmapped ones included.  A hint size of 0 records the
 * name and version only and keeps the old hints, as the kernel does.
 * -EINVAL for an empty or 16-character name or another hint size.
 */
typedef uint32_t (*cache_live_hint_fn)(void *ctx, uint64_t cblock);
int cache_live_save_hints(struct cache_live *cl,
			  const struct cache_live_policy *policy,
			  cache_live_hint_fn get_hint, void *ctx);

/*
 * New discard geometry: the bitset grows with clear bits or shrinks, and
 * the block size is recorded.  dblock_size is in sectors.
 */
int cache_live_discard_resize(struct cache_live *cl, uint64_t dblock_size,
			      uint64_t nr_dblocks);
int cache_live_set_discard(struct cache_live *cl, uint64_t dblock,
			   int discarded);

/* Kept in memory; written by every commit. */
void cache_live_set_stats(struct cache_live *cl,
			  const struct cache_live_stats *s);

/*
 * Commits: space map, every changed block, flush, superblock (the counters,
 * the policy, CLEAN_SHUTDOWN set when clean_shutdown, else clear), flush.
 * A new transaction starts when it returns 0.
 */
int cache_live_commit(struct cache_live *cl, int clean_shutdown);

/*
 * Sets (on != 0) or clears NEEDS_CHECK at once, by rewriting only the
 * flags of the committed superblock in place (the kernel sets it this way
 * when a metadata operation fails; the tools clear it), and keeps it for
 * later commits.  Allowed on a dead transaction, as in the kernel.
 */
int cache_live_set_needs_check(struct cache_live *cl, int on);

/* ---- reading ---- */

/*
 * One cache block as stored now: *valid, *oblock (0 when unmapped) and its
 * stored dirty state (not the "not clean when opened" rule).  Any pointer
 * may be NULL.
 */
int cache_live_lookup(struct cache_live *cl, uint64_t cblock, int *valid,
		      uint64_t *oblock, int *dirty);

/*
 * Every valid mapping in cache-block order, as the kernel loads them into
 * the policy: dirty per the rule above, and the hint when hint_valid (the
 * device was clean when opened, policy is not NULL and matches the stored
 * name, major version and hint size 4, and a hint array exists).  fn
 * returning non-zero stops the walk; that value is returned.  Damaged
 * metadata is -EUCLEAN (the kernel sets NEEDS_CHECK then; so may the
 * caller).
 */
typedef int (*cache_live_mapping_fn)(void *ctx, uint64_t cblock,
				     uint64_t oblock, int dirty, uint32_t hint,
				     int hint_valid);
int cache_live_load_mappings(struct cache_live *cl,
			     const struct cache_live_policy *policy,
			     cache_live_mapping_fn fn, void *ctx);

/*
 * Every discard block in order with its bit (all clear when the device was
 * not clean when opened).  fn as above.
 */
typedef int (*cache_live_discard_fn)(void *ctx, uint64_t dblock_size,
				     uint64_t dblock, int discarded);
int cache_live_load_discards(struct cache_live *cl, cache_live_discard_fn fn,
			     void *ctx);

#endif
