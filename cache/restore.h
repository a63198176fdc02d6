/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The restore: turns emitter events (cache/emit.h) into fresh dm-cache
 * metadata on a device.
 *
 * It works in two steps, so that nothing is written unless the whole input
 * was good:
 *
 *  1. Staging.  The emitter callbacks check each event and keep its value
 *     in memory: the mapping values in an array indexed by cache block,
 *     the hints in one of hint_width bytes per cache block, the discard
 *     bits in a bitmap.  That is 8 + hint_width bytes per cache block plus
 *     a bit per discard block: the same size as the arrays to be written,
 *     so bounded by the device, which begin_superblock has already checked
 *     is big enough.  Input in any cache-block order costs the same as
 *     sorted input.  end_mappings checks that no origin block is mapped
 *     twice.  Nothing touches the device.
 *
 *     Concurrency: mapping() may be called from two threads at once
 *     between begin_mappings and end_mappings, and hint() likewise
 *     between begin_hints and end_hints, as long as the threads give
 *     different cache blocks (the XML reader's parallel mode does this).
 *     A cache block given twice is the producer's to refuse (the XML
 *     reader does); the restore keeps the last.
 *
 *  2. cache_restore_commit().  Zeroes block 0 and flushes (so a crash from
 *     here on leaves "unformatted", never the old superblock over
 *     half-overwritten blocks), bulk-builds the mapping array, the v2 dirty
 *     bitset, the hint array and the discard bitset through the transaction
 *     manager, then commits: space map, flush, superblock, flush.  The
 *     superblock is the last block written, and only once everything it
 *     points to is on stable storage.  On failure block 0 stays zeroed
 *     (cache_restore_left() says what a failure left).
 *
 * What it writes (FORMAT.md §2, §6), chosen to match what the kernel writes:
 *   - version: the option; default 2 (the kernel's and upstream's).
 *   - flags: CLEAN_SHUTDOWN unless CACHE_RESTORE_OMIT_CLEAN_SHUTDOWN.
 *   - v1: mapping values carry M_VALID and M_DIRTY.  v2: M_VALID only, and
 *     the dirty bitset has bits only for dirty mapped blocks, padding 0
 *     (0.9.0 sets the bit of every unmapped block, which stops the kernel
 *     from shrinking the cache; not copied).
 *   - policy_version: 2.0.0 for smq, mq and cleaner (what the kernel's smq
 *     module, which serves all three, writes), 0.0.0 for any other name;
 *     so the kernel keeps restored smq hints instead of dropping them.
 *   - policy_hint_size = hint_width, incompat_flags 0.  Width 4 is what
 *     the kernel writes; 0.9.0 reads the field as 4 too.  Other widths
 *     (8..128): the kernel reads the field, loads the metadata and drops
 *     the hints (no policy has such hints); 0.9.0 cannot read them in any
 *     encoding, and the VARIABLE_HINT_SIZE incompat bit it would want
 *     makes the kernel refuse the device, so it is never set.  Width 0:
 *     no hint array, hint_root 0 and policy_hint_size 0, as the kernel
 *     leaves them before its first clean shutdown.
 *   - uuid from the input (0.9.0 ignores it), discard geometry from
 *     <discards> (0/0 and an empty bitset without one), statistics 0.
 *     Discards without a geometry (no_geometry: 0.9.0's form) get the
 *     kernel's: the cache block size doubled until the origin holds at
 *     most 2^14 discard blocks, for the smallest origin that holds every
 *     mapped origin block and every range (ranges count in the blocks
 *     being chosen); ranges past 2^14 keep the cache block size; nothing
 *     to size by gives 0/0.  The ranges are staged in a bitmap that grows
 *     with the highest one, bounded by what the device can hold.
 *
 * Typical use:
 *
 *	struct cache_restore *rs;
 *	struct cache_emitter e;
 *	struct cache_restore_opts o = { .version = 2 };
 *	r = cache_restore_create(io, &o, &rs);
 *	cache_restore_emitter(rs, &e);
 *	r = producer(..., &e);			(xml_read_cache, a salvage)
 *	if (!r)
 *		r = cache_restore_commit(rs);
 *	if (r < 0)
 *		print cache_restore_message(rs) (or pd_strerror(r) if NULL)
 *	cache_restore_destroy(rs);
 *
 * Errors: 0 or a negative errno.  From the callbacks: -EINVAL an event that
 * breaks a rule (out of range, an origin block mapped twice or past the
 * origin size a discard geometry implies, events
 * out of order), -ENOSPC the device is too small (cache_restore_blocks_
 * needed() says how big it must be), -ENOMEM.  -ENOSPC comes from
 * end_superblock: the rest of the input is still checked (without keeping
 * it) so that the size covers all of it, <discards> included.  From
 * commit: -EINVAL no complete input was staged, the device's errors (-EIO
 * ...) and the transaction manager's.  cache_restore_message() describes
 * the last -EINVAL or -ENOSPC in one line.  Nothing is printed.
 */
#ifndef CACHE_RESTORE_H
#define CACHE_RESTORE_H

#include <stdint.h>

#include "cache/emit.h"
#include "pdata/io.h"

#define CACHE_RESTORE_DEFAULT_VERSION 2u

enum cache_restore_flags {
	CACHE_RESTORE_OMIT_CLEAN_SHUTDOWN = 1 << 0,
};

struct cache_restore_opts {
	/* 1 or 2; 0 = the input's when it carries one (have_binary), else 2. */
	uint32_t version;
	unsigned flags;		/* enum cache_restore_flags */
};

struct cache_restore;

/* -EINVAL for a version other than 0, 1 or 2.  io is not owned. */
int cache_restore_create(struct pd_io *io, const struct cache_restore_opts *o,
			 struct cache_restore **out);
/* Accepts NULL. */
void cache_restore_destroy(struct cache_restore *rs);

/* Fills e with the staging callbacks; e->ctx is rs. */
void cache_restore_emitter(struct cache_restore *rs, struct cache_emitter *e);

/*
 * Stages a whole input at once, in place of the emitter events, for a
 * producer that already holds it in arrays (the repair's salvage): no
 * value is copied.  sb is what begin_superblock takes (have_binary set
 * keeps its discard geometry).  mappings: nr_cache_blocks values, each
 * cache_mapping_pack(oblock, CACHE_M_VALID, plus CACHE_M_DIRTY when
 * dirty), or 0 for an unmapped block.  hints: hint_width bytes per cache
 * block, those of unmapped blocks 0, or NULL for all 0.  discards:
 * sb->discard_nr_blocks bits, or NULL for all clear (copied).  The arrays
 * are borrowed: they must stay unchanged until cache_restore_destroy().
 * Every check of the events is made, with the same errors and messages;
 * then cache_restore_commit() as usual.  Call instead of the emitter,
 * once.
 */
struct base_bitmap;
int cache_restore_stage_arrays(struct cache_restore *rs,
			       const struct cache_emit_sb *sb,
			       const uint64_t *mappings,
			       const unsigned char *hints,
			       const struct base_bitmap *discards);

/* Writes what was staged (see above).  Call once. */
int cache_restore_commit(struct cache_restore *rs);

/* The last failure in words, or NULL when there is none to give. */
const char *cache_restore_message(const struct cache_restore *rs);

/*
 * What a failed cache_restore_commit() left on the device, for the message:
 * nothing written (the zeroing of block 0 failed), block 0 zeroed (an
 * unformatted device), or the new superblock written but its flush failed
 * (the device holds the new metadata or, if the write did not reach the
 * disk, a zeroed block 0).
 */
enum cache_restore_left {
	CACHE_RESTORE_LEFT_UNCHANGED,
	CACHE_RESTORE_LEFT_ZEROED,
	CACHE_RESTORE_LEFT_UNFLUSHED,
};
enum cache_restore_left cache_restore_left(const struct cache_restore *rs);

/*
 * After -ENOSPC: the smallest device, in 4 KiB blocks, that the staged
 * metadata fits (0 when it cannot fit any device: more than the 4,161,600
 * blocks a space map covers).
 */
uint64_t cache_restore_blocks_needed(const struct cache_restore *rs);

/* The data block size the superblock gives (sectors; 0 before it). */
uint64_t cache_restore_block_size(const struct cache_restore *rs);

#endif
