/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The background tracker: the queue of work a policy has decided on and
 * the target has not finished, as the kernel keeps it
 * (dm-cache-background-tracker): at most one item per origin block, at
 * most max_work items in all (queued and issued), queued work handed out
 * newest first (the kernel adds to the head of its list and issues from
 * the head), and counts of pending demotions for the policy's free-space
 * target.
 */
#ifndef ENGINE_BTRACKER_H
#define ENGINE_BTRACKER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/u64map.h"
#include "engine/policy.h"

struct bt_item {
	struct policy_work work;
	uint32_t prev, next;	/* queued list, or the free list */
	bool queued;
};

struct btracker {
	struct bt_item *items;	/* max_work of them; work pointers stay put */
	uint32_t max_work;
	uint32_t nr_pending;	/* queued + issued */
	uint32_t pending[3];	/* by enum policy_op */
	uint32_t queued_head;	/* BT_NONE when empty */
	uint32_t free_head;
	struct u64map by_oblock;	/* oblock -> item index */
};

#define BT_NONE UINT32_MAX

int btracker_init(struct btracker *b, uint32_t max_work);
void btracker_exit(struct btracker *b);

/*
 * Queues work (a copy).  With issue_now, it is issued at once and
 * *issued points at it.  0, -ENOMEM when max_work items are pending, or
 * -EINVAL when work for that origin block is pending already.
 */
int btracker_queue(struct btracker *b, const struct policy_work *work,
		   bool issue_now, struct policy_work **issued);
/* The newest queued item, now issued; 0 or -ENODATA. */
int btracker_issue(struct btracker *b, struct policy_work **work);
/* Forgets an issued item. */
void btracker_complete(struct btracker *b, struct policy_work *work);
bool btracker_pending_for(const struct btracker *b, uint64_t oblock);

static inline uint32_t btracker_nr_demotions(const struct btracker *b)
{
	return b->pending[POLICY_DEMOTE];
}

#endif
