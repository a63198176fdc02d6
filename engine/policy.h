/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The cache policy interface of the replay engine, shaped like the
 * current kernel's (dm-cache-policy.h since the v2 target): the target
 * asks lookup() for each bio, which may queue background work (promote,
 * demote, writeback) in a background tracker; the target pulls that work
 * with get_background_work(), performs it and reports the outcome with
 * complete_background_work().  Policies see only block numbers; the
 * target moves data and commits metadata.
 *
 * Time is the target's virtual jiffies counter, read through the pointer
 * given at creation, so the policy's periods follow the trace's clock.
 *
 * Every policy is single-threaded and deterministic: the same calls give
 * the same answers, which is what makes replays byte-identical.
 */
#ifndef ENGINE_POLICY_H
#define ENGINE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

enum policy_op {
	POLICY_PROMOTE,
	POLICY_DEMOTE,
	POLICY_WRITEBACK,
};

struct policy_work {
	enum policy_op op;
	uint64_t oblock;
	uint32_t cblock;
};

struct policy;

struct policy_ops {
	void (*destroy)(struct policy *p);
	/*
	 * 0 and *cblock for a hit; -ENOENT for a miss, after which
	 * *background_queued says whether work was queued for it.
	 */
	int (*lookup)(struct policy *p, uint64_t oblock, uint32_t *cblock,
		      bool write, bool fast_copy, bool *background_queued);
	/* As lookup, but promotion work is handed back at once in *work
	 * (NULL when none), already issued. */
	int (*lookup_with_work)(struct policy *p, uint64_t oblock,
				uint32_t *cblock, bool write, bool fast_copy,
				struct policy_work **work);
	/* 0 and *work, or -ENODATA. */
	int (*get_background_work)(struct policy *p, bool idle,
				   struct policy_work **work);
	void (*complete_background_work)(struct policy *p,
					 struct policy_work *work,
					 bool success);
	void (*set_dirty)(struct policy *p, uint32_t cblock);
	void (*clear_dirty)(struct policy *p, uint32_t cblock);
	int (*load_mapping)(struct policy *p, uint64_t oblock,
			    uint32_t cblock, bool dirty, uint32_t hint,
			    bool hint_valid);
	/* 0, or -ENODATA when cblock is not mapped. */
	int (*invalidate_mapping)(struct policy *p, uint32_t cblock);
	uint32_t (*get_hint)(struct policy *p, uint32_t cblock);
	/* The engine's own look-up: *cblock of a mapped block, 0, or
	 * -ENOENT; no statistics, no requeueing (not a kernel call). */
	int (*peek)(struct policy *p, uint64_t oblock, uint32_t *cblock);
	uint32_t (*residency)(struct policy *p);
	void (*tick)(struct policy *p, bool can_block);
	void (*allow_migrations)(struct policy *p, bool allow);
};

struct policy {
	const struct policy_ops *ops;
	const char *name;	/* as written to the superblock */
	uint32_t version[3];
	uint32_t hint_size;	/* bytes */
};

/*
 * Creates the named policy ("smq", "mq", "default", "cleaner") for a
 * cache of cache_blocks blocks of block_sectors over an origin of
 * origin_sectors.  Returns 0, -EINVAL for an unknown name, or -ENOMEM.
 */
int policy_create(const char *name, uint32_t cache_blocks,
		  uint64_t origin_sectors, uint64_t block_sectors,
		  const uint64_t *jiffies, struct policy **out);

static inline void policy_destroy(struct policy *p)
{
	if (p)
		p->ops->destroy(p);
}

#endif
