/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The 2012 mq policy (seed 003, the first dm-cache posting), for
 * comparison in `cache_replay simulate` as "mq-2012"; ENGINE.md §2.3
 * summarises it and this module follows the seed's code as it reads:
 *
 *  - 2C entries shared by a pre-cache and the cache, each a queue of 16
 *    levels (level = min(log2(hit count), 15)), oldest first; popping
 *    the oldest entry of the lowest non-empty level shifts every level
 *    down one when that empties level 0;
 *  - a hit in either queue bumps the entry's hit count at most once a
 *    tick and requeues it at the back of its level; every
 *    max(C, 1024) bumps with the cache full, the promote threshold
 *    becomes the rounded-up average hit count of the first 20 cache
 *    entries from level 0 up;
 *  - a block seen for the first time enters the pre-cache with hit
 *    count 1, or the cache at once when its threshold is 1 (a write to
 *    a discarded block while cache blocks are free); a pre-cache entry
 *    whose hit count reaches threshold + 4 (reads) or + 8 (writes), and
 *    that was not already bumped this tick (unless discarded), moves to
 *    the cache: into a free cache block (the allocation bitset searched
 *    from the last word that had one), or replacing the oldest cache
 *    entry, which goes back to the pre-cache with hit count 1; a new
 *    block with no entry left takes the pre-cache's oldest;
 *  - an io tracker turns SEQUENTIAL after 512 bios each starting at the
 *    sector after the previous bio's last, and RANDOM again after 4
 *    that do not; while SEQUENTIAL, a block not in the cache is a miss
 *    and nothing is recorded (the seed keeps that last sector in a
 *    field typed as a block, but the values compared are sectors);
 *  - hint size 0, no writeback work: dirty blocks are written back only
 *    when replaced.
 *
 * The seed's synchronous map results become the current interface's
 * work (ENGINE.md §2.1): NEW is a promotion (handed back at once on the
 * target's fast path), REPLACE a writeback of the old block if dirty,
 * its demotion, then the promotion; the target runs them right after the
 * bio.  The seed's can_migrate is true unless work is still pending or
 * migrations are disallowed; its discarded flag is the target's discard
 * bit for the block (policy examine_bio).
 */
#ifndef ENGINE_MQ2012_H
#define ENGINE_MQ2012_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/policy.h"

#define MQ2012_LEVELS 16u

/* 0, -EINVAL (no cache blocks) or -ENOMEM. */
int mq2012_create(uint32_t cache_blocks, struct policy **out);

/* For tests: the promote threshold and queue sizes. */
struct mq2012_info {
	uint32_t promote_threshold;
	uint32_t generation;
	uint32_t pre_cache, cache;	/* entries in each queue */
	uint32_t allocated;		/* cache blocks */
	bool sequential;
};

void mq2012_get_info(struct policy *p, struct mq2012_info *info);

/* Structure check: 0, or -EUCLEAN with what failed in why. */
int mq2012_check(struct policy *p, char *why, unsigned why_len);

#endif
