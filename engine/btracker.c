// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The background tracker (see btracker.h): a fixed pool of items, a
 * doubly linked queued list used as a stack, and a map from origin block
 * to item for the one-item-per-block rule.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "engine/btracker.h"

int btracker_init(struct btracker *b, uint32_t max_work)
{
	int r;

	b->items = calloc(max_work ? max_work : 1, sizeof(*b->items));
	if (!b->items)
		return -ENOMEM;
	r = u64map_init(&b->by_oblock, 64);
	if (r < 0) {
		free(b->items);
		return r;
	}
	b->max_work = max_work;
	b->nr_pending = 0;
	b->pending[0] = b->pending[1] = b->pending[2] = 0;
	b->queued_head = BT_NONE;
	b->free_head = max_work ? 0 : BT_NONE;
	for (uint32_t i = 0; i < max_work; i++)
		b->items[i].next = i + 1 < max_work ? i + 1 : BT_NONE;
	return 0;
}

void btracker_exit(struct btracker *b)
{
	u64map_destroy(&b->by_oblock);
	free(b->items);
	b->items = NULL;
}

static uint32_t index_of(const struct btracker *b,
			 const struct policy_work *work)
{
	return (uint32_t)((const struct bt_item *)(const void *)work - b->items);
}

static void unlink_queued(struct btracker *b, uint32_t i)
{
	struct bt_item *it = &b->items[i];

	if (it->prev != BT_NONE)
		b->items[it->prev].next = it->next;
	else
		b->queued_head = it->next;
	if (it->next != BT_NONE)
		b->items[it->next].prev = it->prev;
	it->queued = false;
}

int btracker_queue(struct btracker *b, const struct policy_work *work,
		   bool issue_now, struct policy_work **issued)
{
	struct bt_item *it;
	uint32_t i;
	int r;

	if (issued)
		*issued = NULL;
	if (b->nr_pending >= b->max_work || b->free_head == BT_NONE)
		return -ENOMEM;
	if (btracker_pending_for(b, work->oblock))
		return -EINVAL;
	i = b->free_head;
	r = u64map_put(&b->by_oblock, work->oblock, i);
	if (r < 0)
		return r;
	it = &b->items[i];
	b->free_head = it->next;
	it->work = *work;
	if (issue_now) {
		it->queued = false;
		*issued = &it->work;
	} else {
		it->queued = true;
		it->prev = BT_NONE;
		it->next = b->queued_head;
		if (b->queued_head != BT_NONE)
			b->items[b->queued_head].prev = i;
		b->queued_head = i;
	}
	b->nr_pending++;
	b->pending[work->op]++;
	return 0;
}

int btracker_issue(struct btracker *b, struct policy_work **work)
{
	uint32_t i = b->queued_head;

	if (i == BT_NONE)
		return -ENODATA;
	unlink_queued(b, i);
	*work = &b->items[i].work;
	return 0;
}

void btracker_complete(struct btracker *b, struct policy_work *work)
{
	uint32_t i = index_of(b, work);
	struct bt_item *it = &b->items[i];

	if (it->queued)
		unlink_queued(b, i);
	u64map_remove(&b->by_oblock, it->work.oblock);
	b->nr_pending--;
	b->pending[it->work.op]--;
	it->next = b->free_head;
	b->free_head = i;
}

bool btracker_pending_for(const struct btracker *b, uint64_t oblock)
{
	uint64_t v;

	return u64map_get(&b->by_oblock, oblock, &v);
}
