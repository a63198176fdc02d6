/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The smq policy (stochastic multiqueue, policy version 2.0.0), as the
 * current kernel runs it, bug for bug; its registrations "smq", "mq",
 * "default" and "cleaner" are made through policy_create (policy.h).
 * ENGINE.md §2.2 describes the algorithm; what this module adds is the
 * inspection interface the golden tests use (levels, queue contents,
 * promote levels) and an invariant check.
 *
 * Differences a reader of ENGINE.md should know, checked against the
 * kernel: free entries are allocated from the tail of the free list (the
 * first promotion of a fresh cache takes the last cache block, and the
 * most recently freed block is reused first); the background tracker
 * issues newest first; the cleaner (since the 2023 stable fix) writes
 * back even when the target is busy; the level jump starts at 1.
 */
#ifndef ENGINE_SMQ_H
#define ENGINE_SMQ_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/policy.h"

#define SMQ_LEVELS 64u

/* Which multiqueue. */
enum smq_queue { SMQ_HOTSPOT, SMQ_CLEAN, SMQ_DIRTY };

struct smq_create_args {
	uint32_t cache_blocks;
	uint64_t origin_sectors;
	uint64_t block_sectors;
	const uint64_t *jiffies;
	uint32_t hz;		/* jiffies per second */
	bool migrations_allowed;
	bool cleaner;
};

int smq_create(const struct smq_create_args *a, struct policy **out);

/* ---- inspection, for tests and statistics ---- */

struct smq_info {
	uint32_t nr_hotspot_blocks;
	uint32_t cache_blocks_per_hotspot_block;
	uint64_t hotspot_block_sectors;
	uint32_t read_promote_level, write_promote_level;
	uint32_t hotspot_level_jump;
	uint32_t hotspot_hits, hotspot_misses;	/* this hotspot period */
	uint32_t cache_hits, cache_misses;	/* this cache period */
	uint32_t queue_size[3];			/* by enum smq_queue */
	uint32_t nr_allocated;
};

void smq_get_info(struct policy *p, struct smq_info *info);

/*
 * The blocks at one level of a queue, oldest first, into out (at most
 * max); sentinels appear as UINT64_MAX in the clean and dirty queues.
 * Hotspot entries give their hotspot block, cache entries their origin
 * block.  Returns how many there are (which may exceed max).
 */
uint32_t smq_level_contents(struct policy *p, enum smq_queue q,
			    unsigned level, uint64_t *out, uint32_t max);

/* The cache block's level, or -1 when it is not allocated. */
int smq_cblock_level(struct policy *p, uint32_t cblock);

/*
 * Checks the structure: per-level counts equal the lists, each of the
 * clean and dirty queues holds exactly 2 x 64 sentinels at their levels,
 * the hash tables hold exactly the mapped entries, pending entries are in
 * no queue.  0, or -EUCLEAN with what failed in why.
 */
int smq_check(struct policy *p, char *why, unsigned why_len);

#endif
