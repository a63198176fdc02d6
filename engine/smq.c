// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The smq policy (see smq.h): the current kernel's stochastic multiqueue,
 * reproduced so that a replay takes the same decisions the kernel would
 * on the same sequence of calls.
 *
 * Layout: one array of entries holds, in order, 2 x 64 writeback
 * sentinels, 2 x 64 demote sentinels, the hotspot entries and the cache
 * entries; lists and hash chains link entries by index.  A cache entry's
 * cache block is its index within the cache part.  Three multiqueues of
 * 64 levels (hotspot, clean, dirty) order the entries; an entry climbs a
 * level by swapping places with the oldest entry of the level above, and
 * periodic redistribution keeps each level near its target size.
 *
 * Kernel behaviours reproduced on purpose, because they decide results:
 *  - the promote threshold is max(level, 64), not min: every level-based
 *    decision is 64 minus 64 divided by the hotspot confidence, so the
 *    cache-hit-ratio table is dead code (ENGINE.md §2.2);
 *  - a fresh entry is marked dirty until the target says otherwise;
 *  - free entries are taken from the tail of the free list;
 *  - a hit counts once per cache period, a hotspot hit once per tick.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/btracker.h"
#include "engine/smq.h"

#define NIL UINT32_MAX

#define E_DIRTY 0x01u
#define E_ALLOCATED 0x02u
#define E_SENTINEL 0x04u
#define E_PENDING 0x08u

#define WRITEBACK_PERIOD_S 10u
#define DEMOTE_PERIOD_S 60u
#define HOTSPOT_PERIOD_S 1u
#define CACHE_PERIOD_S 60u
#define FREE_TARGET_PERCENT 25u
#define MAX_BACKGROUND_WORK 10240u

struct entry {
	uint32_t hash_next, prev, next;
	uint8_t level;
	uint8_t flags;
	uint64_t oblock;
};

struct ilist {
	uint32_t head, tail;
	uint32_t nr;		/* entries that are not sentinels */
};

struct queue {
	uint32_t nr;		/* non-sentinel entries */
	uint32_t nr_top_levels, nr_in_top_levels;
	uint32_t last_target_nr;
	struct ilist lv[SMQ_LEVELS];
	uint32_t target[SMQ_LEVELS];
};

struct alloc {
	uint32_t begin, end;
	uint32_t nr_allocated;
	struct ilist free;
};

struct htable {
	uint32_t *buckets;
	unsigned bits;
};

struct smq {
	struct policy policy;
	struct entry *es;
	uint32_t cache_size;
	uint32_t nr_hotspot_blocks;
	uint32_t blocks_per_hotspot;
	uint64_t hotspot_block_sectors;
	uint32_t level_jump;

	struct alloc wb_sentinels, demote_sentinels, hotspot_alloc, cache_alloc;
	uint64_t *hotspot_hit_bits, *cache_hit_bits;
	struct queue hotspot, clean, dirty;
	struct { uint32_t hits, misses; } hotspot_stats, cache_stats;
	struct htable table, hotspot_table;

	bool cur_wb_sentinels, cur_demote_sentinels;
	uint64_t next_wb_period, next_demote_period;
	uint64_t next_hotspot_period, next_cache_period;
	uint32_t read_promote_level, write_promote_level;
	uint64_t tick;

	const uint64_t *jiffies;
	uint32_t hz;
	bool migrations_allowed, cleaner;
	struct btracker bg;
};

static struct smq *to_smq(struct policy *p)
{
	return (struct smq *)p;
}

static uint32_t idx(const struct smq *mq, const struct entry *e)
{
	return (uint32_t)(e - mq->es);
}

static struct entry *at(struct smq *mq, uint32_t i)
{
	return i == NIL ? NULL : &mq->es[i];
}

static bool is_sentinel(const struct entry *e)
{
	return e->flags & E_SENTINEL;
}

/* ---- intrusive lists ---- */

static void l_init(struct ilist *l)
{
	l->head = l->tail = NIL;
	l->nr = 0;
}

static void l_add_head(struct smq *mq, struct ilist *l, struct entry *e)
{
	uint32_t i = idx(mq, e);

	e->next = l->head;
	e->prev = NIL;
	if (l->head != NIL)
		mq->es[l->head].prev = i;
	else
		l->tail = i;
	l->head = i;
	l->nr += !is_sentinel(e);
}

static void l_add_tail(struct smq *mq, struct ilist *l, struct entry *e)
{
	uint32_t i = idx(mq, e);

	e->prev = l->tail;
	e->next = NIL;
	if (l->tail != NIL)
		mq->es[l->tail].next = i;
	else
		l->head = i;
	l->tail = i;
	l->nr += !is_sentinel(e);
}

static void l_add_before(struct smq *mq, struct ilist *l, struct entry *old,
			 struct entry *e)
{
	uint32_t i = idx(mq, e);

	if (old->prev == NIL) {
		l_add_head(mq, l, e);
		return;
	}
	e->prev = old->prev;
	e->next = idx(mq, old);
	mq->es[old->prev].next = i;
	old->prev = i;
	l->nr += !is_sentinel(e);
}

static void l_del(struct smq *mq, struct ilist *l, struct entry *e)
{
	if (e->prev != NIL)
		mq->es[e->prev].next = e->next;
	else
		l->head = e->next;
	if (e->next != NIL)
		mq->es[e->next].prev = e->prev;
	else
		l->tail = e->prev;
	l->nr -= !is_sentinel(e);
}

static struct entry *l_pop_tail(struct smq *mq, struct ilist *l)
{
	for (struct entry *e = at(mq, l->tail); e; e = at(mq, e->prev)) {
		if (!is_sentinel(e)) {
			l_del(mq, l, e);
			return e;
		}
	}
	return NULL;
}

/* ---- multiqueues ---- */

static void q_init(struct queue *q)
{
	memset(q, 0, sizeof(*q));
	for (unsigned i = 0; i < SMQ_LEVELS; i++)
		l_init(&q->lv[i]);
}

static void q_push(struct smq *mq, struct queue *q, struct entry *e)
{
	q->nr += !is_sentinel(e);
	l_add_tail(mq, &q->lv[e->level], e);
}

static void q_push_front(struct smq *mq, struct queue *q, struct entry *e)
{
	q->nr += !is_sentinel(e);
	l_add_head(mq, &q->lv[e->level], e);
}

static void q_push_before(struct smq *mq, struct queue *q, struct entry *old,
			  struct entry *e)
{
	q->nr += !is_sentinel(e);
	l_add_before(mq, &q->lv[e->level], old, e);
}

static void q_del(struct smq *mq, struct queue *q, struct entry *e)
{
	l_del(mq, &q->lv[e->level], e);
	q->nr -= !is_sentinel(e);
}

/* The oldest entry of the lowest populated level below max_level. */
static struct entry *q_peek(struct smq *mq, struct queue *q,
			    unsigned max_level, bool cross_sentinels)
{
	if (max_level > SMQ_LEVELS)
		max_level = SMQ_LEVELS;
	for (unsigned level = 0; level < max_level; level++) {
		for (struct entry *e = at(mq, q->lv[level].head); e;
		     e = at(mq, e->next)) {
			if (!is_sentinel(e))
				return e;
			if (!cross_sentinels)
				break;
		}
	}
	return NULL;
}

static struct entry *q_pop(struct smq *mq, struct queue *q)
{
	struct entry *e = q_peek(mq, q, SMQ_LEVELS, true);

	if (e)
		q_del(mq, q, e);
	return e;
}

/* Takes the oldest non-sentinel entry at or above level, leaving q->nr
 * alone (redistribution moves entries within the queue). */
static struct entry *redist_pop_from(struct smq *mq, struct queue *q,
				     unsigned level)
{
	for (; level < SMQ_LEVELS; level++) {
		for (struct entry *e = at(mq, q->lv[level].head); e;
		     e = at(mq, e->next)) {
			if (!is_sentinel(e)) {
				l_del(mq, &q->lv[e->level], e);
				return e;
			}
		}
	}
	return NULL;
}

static void set_targets_range(struct queue *q, uint32_t nr, unsigned begin,
			      unsigned end)
{
	unsigned n = end - begin;
	uint32_t each = n ? nr / n : 0, rem = n ? nr % n : 0;

	for (unsigned level = begin; level < end; level++)
		q->target[level] = each + (level < begin + rem ? 1 : 0);
}

static void q_set_targets(struct queue *q)
{
	unsigned bottom = SMQ_LEVELS - q->nr_top_levels;

	if (q->last_target_nr == q->nr)
		return;
	q->last_target_nr = q->nr;
	set_targets_range(q, q->nr_in_top_levels, bottom, SMQ_LEVELS);
	set_targets_range(q, q->nr_in_top_levels < q->nr ?
				     q->nr - q->nr_in_top_levels : 0,
			  0, bottom);
}

static void q_redistribute(struct smq *mq, struct queue *q)
{
	q_set_targets(q);
	for (unsigned level = 0; level + 1 < SMQ_LEVELS; level++) {
		struct ilist *l = &q->lv[level];
		uint32_t target = q->target[level];
		struct entry *e;

		while (l->nr < target) {
			e = redist_pop_from(mq, q, level + 1);
			if (!e)
				break;
			e->level = (uint8_t)level;
			l_add_tail(mq, l, e);
		}
		while (l->nr > target) {
			e = l_pop_tail(mq, l);
			if (!e)
				break;
			e->level = (uint8_t)(level + 1);
			l_add_tail(mq, &q->lv[level + 1], e);
		}
	}
}

/*
 * Moves e up extra levels, swapping with the first non-sentinel entry of
 * its new level, which drops to e's old level: in front of s1 when no
 * sentinel was passed to reach it, in front of s2 when one was, else at
 * the tail (always the tail without sentinels).
 */
static void q_requeue(struct smq *mq, struct queue *q, struct entry *e,
		      unsigned extra, struct entry *s1, struct entry *s2)
{
	unsigned new_level = e->level + extra;

	if (new_level > SMQ_LEVELS - 1)
		new_level = SMQ_LEVELS - 1;
	if (extra && e->level < SMQ_LEVELS - 1) {
		unsigned passed = 0;
		struct entry *de = at(mq, q->lv[new_level].head);

		while (de && is_sentinel(de)) {
			passed++;
			de = at(mq, de->next);
		}
		if (de) {
			q_del(mq, q, de);
			de->level = e->level;
			if (s1 && passed == 0)
				q_push_before(mq, q, s1, de);
			else if (s1 && passed == 1)
				q_push_before(mq, q, s2, de);
			else
				q_push(mq, q, de);
		}
	}
	q_del(mq, q, e);
	e->level = (uint8_t)new_level;
	q_push(mq, q, e);
}

/* ---- statistics ---- */

enum performance { Q_POOR, Q_FAIR, Q_WELL };

static void stat_level(uint32_t *hits, uint32_t *misses, unsigned level)
{
	if (level >= SMQ_LEVELS * 3 / 4)
		(*hits)++;
	else
		(*misses)++;
}

static enum performance assess(uint32_t hits, uint32_t misses)
{
	uint32_t total = hits + misses;
	uint32_t confidence = total ? (hits << 8) / total : 0;

	if (confidence < 16)
		return Q_POOR;
	return confidence < 32 ? Q_FAIR : Q_WELL;
}

/* ---- hash tables ---- */

static int h_init(struct htable *h, uint32_t nr_entries)
{
	uint32_t want = nr_entries / 4 > 16 ? nr_entries / 4 : 16, n = 1;

	while (n < want)
		n <<= 1;
	h->bits = (unsigned)__builtin_ctz(n);
	h->buckets = malloc(sizeof(*h->buckets) * n);
	if (!h->buckets)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		h->buckets[i] = NIL;
	return 0;
}

static uint32_t h_bucket(const struct htable *h, uint64_t key)
{
	/* The kernel's hash_64: golden-ratio multiply, top bits. */
	return h->bits ? (uint32_t)((key * 0x61C8864680B583EBull) >>
				    (64 - h->bits))
		       : 0;
}

static void h_insert(struct smq *mq, struct htable *h, struct entry *e)
{
	uint32_t b = h_bucket(h, e->oblock);

	e->hash_next = h->buckets[b];
	h->buckets[b] = idx(mq, e);
}

static struct entry *h_lookup(struct smq *mq, struct htable *h, uint64_t key)
{
	for (uint32_t i = h->buckets[h_bucket(h, key)]; i != NIL;
	     i = mq->es[i].hash_next)
		if (mq->es[i].oblock == key)
			return &mq->es[i];
	return NULL;
}

static void h_remove(struct smq *mq, struct htable *h, struct entry *e)
{
	uint32_t *link = &h->buckets[h_bucket(h, e->oblock)];
	uint32_t i = idx(mq, e);

	while (*link != NIL && *link != i)
		link = &mq->es[*link].hash_next;
	if (*link == i)
		*link = e->hash_next;
}

/* ---- entry allocators ---- */

static void alloc_init(struct smq *mq, struct alloc *a, uint32_t begin,
		       uint32_t end)
{
	a->begin = begin;
	a->end = end;
	a->nr_allocated = 0;
	l_init(&a->free);
	for (uint32_t i = begin; i < end; i++)
		l_add_tail(mq, &a->free, &mq->es[i]);
}

static void init_entry(struct entry *e)
{
	e->hash_next = e->next = e->prev = NIL;
	e->level = 0;
	/* The kernel starts every entry dirty; the target corrects it. */
	e->flags = E_DIRTY | E_ALLOCATED;
}

static struct entry *alloc_entry(struct smq *mq, struct alloc *a)
{
	struct entry *e = l_pop_tail(mq, &a->free);

	if (!e)
		return NULL;
	init_entry(e);
	a->nr_allocated++;
	return e;
}

static struct entry *alloc_particular(struct smq *mq, struct alloc *a,
				      uint32_t i)
{
	struct entry *e = &mq->es[a->begin + i];

	l_del(mq, &a->free, e);
	init_entry(e);
	a->nr_allocated++;
	return e;
}

static void free_entry(struct smq *mq, struct alloc *a, struct entry *e)
{
	a->nr_allocated--;
	e->flags &= (uint8_t)~E_ALLOCATED;
	l_add_tail(mq, &a->free, e);
}

static bool alloc_empty(const struct alloc *a)
{
	return a->free.head == NIL;
}

static struct entry *cache_entry(struct smq *mq, uint32_t cblock)
{
	return &mq->es[mq->cache_alloc.begin + cblock];
}

static uint32_t cblock_of(const struct smq *mq, const struct entry *e)
{
	return idx(mq, e) - mq->cache_alloc.begin;
}

/* ---- bit sets ---- */

static bool test_and_set(uint64_t *bits, uint32_t i)
{
	uint64_t m = 1ull << (i % 64);
	bool was = bits[i / 64] & m;

	bits[i / 64] |= m;
	return was;
}

/* ---- sentinels ---- */

static struct entry *sentinel(struct smq *mq, struct alloc *a,
			      unsigned level, bool which)
{
	return &mq->es[a->begin + (which ? level : SMQ_LEVELS + level)];
}

static struct entry *wb_sentinel(struct smq *mq, unsigned level)
{
	return sentinel(mq, &mq->wb_sentinels, level, mq->cur_wb_sentinels);
}

static struct entry *demote_sentinel(struct smq *mq, unsigned level)
{
	return sentinel(mq, &mq->demote_sentinels, level,
			mq->cur_demote_sentinels);
}

static void move_sentinels_to_tail(struct smq *mq, struct queue *q,
				   bool writeback)
{
	for (unsigned level = 0; level < SMQ_LEVELS; level++) {
		struct entry *s = writeback ? wb_sentinel(mq, level)
					    : demote_sentinel(mq, level);

		q_del(mq, q, s);
		q_push(mq, q, s);
	}
}

static void push_sentinels(struct smq *mq)
{
	for (unsigned level = 0; level < SMQ_LEVELS; level++) {
		struct entry *s = wb_sentinel(mq, level);

		s->level = (uint8_t)level;
		q_push(mq, &mq->dirty, s);
		s = demote_sentinel(mq, level);
		s->level = (uint8_t)level;
		q_push(mq, &mq->clean, s);
	}
}

static uint64_t now(const struct smq *mq)
{
	return *mq->jiffies;
}

static void update_sentinels(struct smq *mq)
{
	if (now(mq) > mq->next_wb_period) {
		mq->next_wb_period = now(mq) + WRITEBACK_PERIOD_S * mq->hz;
		mq->cur_wb_sentinels = !mq->cur_wb_sentinels;
		move_sentinels_to_tail(mq, &mq->dirty, true);
	}
	if (now(mq) > mq->next_demote_period) {
		mq->next_demote_period = now(mq) + DEMOTE_PERIOD_S * mq->hz;
		mq->cur_demote_sentinels = !mq->cur_demote_sentinels;
		move_sentinels_to_tail(mq, &mq->clean, false);
	}
}

/* ---- the cache queues ---- */

static struct queue *queue_of(struct smq *mq, const struct entry *e)
{
	return e->flags & E_DIRTY ? &mq->dirty : &mq->clean;
}

static void push_queue(struct smq *mq, struct entry *e)
{
	q_push(mq, queue_of(mq, e), e);
}

static void push(struct smq *mq, struct entry *e)
{
	h_insert(mq, &mq->table, e);
	if (!(e->flags & E_PENDING))
		push_queue(mq, e);
}

static void push_front(struct smq *mq, struct entry *e)
{
	h_insert(mq, &mq->table, e);
	if (!(e->flags & E_PENDING))
		q_push_front(mq, queue_of(mq, e), e);
}

static void requeue(struct smq *mq, struct entry *e)
{
	if (e->flags & E_PENDING)
		return;
	if (test_and_set(mq->cache_hit_bits, cblock_of(mq, e)))
		return;
	if (!(e->flags & E_DIRTY)) {
		q_requeue(mq, &mq->clean, e, 1, NULL, NULL);
		return;
	}
	q_requeue(mq, &mq->dirty, e, 1,
		  sentinel(mq, &mq->wb_sentinels, e->level,
			   !mq->cur_wb_sentinels),
		  sentinel(mq, &mq->wb_sentinels, e->level,
			   mq->cur_wb_sentinels));
}

static void update_promote_levels(struct smq *mq)
{
	static const unsigned table[17] = { 1, 1, 1, 2, 4, 6, 7, 8, 7, 6,
					    4, 4, 3, 3, 2, 2, 1 };
	unsigned threshold;

	if (alloc_empty(&mq->cache_alloc)) {
		uint32_t h = mq->cache_stats.hits, m = mq->cache_stats.misses;

		threshold = table[h + m ? (h << 4) / (h + m) : 0];
	} else {
		threshold = SMQ_LEVELS / 2;
	}
	/* The kernel's max() where min() was meant: always 64. */
	if (threshold < SMQ_LEVELS)
		threshold = SMQ_LEVELS;
	switch (assess(mq->hotspot_stats.hits, mq->hotspot_stats.misses)) {
	case Q_POOR:
		threshold /= 4;
		break;
	case Q_FAIR:
		threshold /= 2;
		break;
	case Q_WELL:
		break;
	}
	mq->read_promote_level = SMQ_LEVELS - threshold;
	mq->write_promote_level = SMQ_LEVELS - threshold;
}

static void update_level_jump(struct smq *mq)
{
	switch (assess(mq->hotspot_stats.hits, mq->hotspot_stats.misses)) {
	case Q_POOR:
		mq->level_jump = 4;
		break;
	case Q_FAIR:
		mq->level_jump = 2;
		break;
	case Q_WELL:
		mq->level_jump = 1;
		break;
	}
}

static void clear_bits(uint64_t *bits, uint32_t n)
{
	memset(bits, 0, ((size_t)n + 63) / 64 * sizeof(*bits));
}

static void end_hotspot_period(struct smq *mq)
{
	clear_bits(mq->hotspot_hit_bits, mq->nr_hotspot_blocks);
	update_promote_levels(mq);
	if (now(mq) > mq->next_hotspot_period) {
		update_level_jump(mq);
		q_redistribute(mq, &mq->hotspot);
		mq->hotspot_stats.hits = mq->hotspot_stats.misses = 0;
		mq->next_hotspot_period = now(mq) + HOTSPOT_PERIOD_S * mq->hz;
	}
}

static void end_cache_period(struct smq *mq)
{
	if (now(mq) > mq->next_cache_period) {
		clear_bits(mq->cache_hit_bits, mq->cache_size);
		q_redistribute(mq, &mq->dirty);
		q_redistribute(mq, &mq->clean);
		mq->cache_stats.hits = mq->cache_stats.misses = 0;
		mq->next_cache_period = now(mq) + CACHE_PERIOD_S * mq->hz;
	}
}

/* ---- background work ---- */

static bool clean_target_met(struct smq *mq, bool idle)
{
	if (idle || mq->cleaner)
		return mq->dirty.nr == 0;
	return true;
}

static bool free_target_met(struct smq *mq)
{
	uint32_t nr_free = mq->cache_size - mq->cache_alloc.nr_allocated;

	return (uint64_t)nr_free + btracker_nr_demotions(&mq->bg) >=
	       (uint64_t)mq->cache_size * FREE_TARGET_PERCENT / 100;
}

static void queue_writeback(struct smq *mq, bool idle)
{
	struct entry *e = q_peek(mq, &mq->dirty, SMQ_LEVELS, idle);
	struct policy_work w;

	if (!e)
		return;
	e->flags |= E_PENDING;
	q_del(mq, &mq->dirty, e);
	w.op = POLICY_WRITEBACK;
	w.oblock = e->oblock;
	w.cblock = cblock_of(mq, e);
	if (btracker_queue(&mq->bg, &w, false, NULL) < 0) {
		e->flags &= (uint8_t)~E_PENDING;
		q_push_front(mq, &mq->dirty, e);
	}
}

static void queue_demotion(struct smq *mq)
{
	struct entry *e;
	struct policy_work w;

	if (!mq->migrations_allowed)
		return;
	e = q_peek(mq, &mq->clean, SMQ_LEVELS / 2, true);
	if (!e) {
		if (!clean_target_met(mq, true))
			queue_writeback(mq, false);
		return;
	}
	e->flags |= E_PENDING;
	q_del(mq, &mq->clean, e);
	w.op = POLICY_DEMOTE;
	w.oblock = e->oblock;
	w.cblock = cblock_of(mq, e);
	if (btracker_queue(&mq->bg, &w, false, NULL) < 0) {
		e->flags &= (uint8_t)~E_PENDING;
		q_push_front(mq, &mq->clean, e);
	}
}

static void queue_promotion(struct smq *mq, uint64_t oblock,
			    struct policy_work **workp)
{
	struct policy_work w;
	struct entry *e;

	if (!mq->migrations_allowed)
		return;
	if (alloc_empty(&mq->cache_alloc)) {
		if (!free_target_met(mq))
			queue_demotion(mq);
		return;
	}
	if (btracker_pending_for(&mq->bg, oblock))
		return;
	/* Reserve the cache block now; give it back if the work fails. */
	e = alloc_entry(mq, &mq->cache_alloc);
	e->flags |= E_PENDING;
	w.op = POLICY_PROMOTE;
	w.oblock = oblock;
	w.cblock = cblock_of(mq, e);
	if (btracker_queue(&mq->bg, &w, workp != NULL, workp) < 0)
		free_entry(mq, &mq->cache_alloc, e);
}

static struct entry *update_hotspot_queue(struct smq *mq, uint64_t oblock)
{
	uint64_t hb = oblock / mq->blocks_per_hotspot;
	struct entry *e = h_lookup(mq, &mq->hotspot_table, hb);
	uint32_t hi;

	if (e) {
		stat_level(&mq->hotspot_stats.hits, &mq->hotspot_stats.misses,
			   e->level);
		hi = idx(mq, e) - mq->hotspot_alloc.begin;
		q_requeue(mq, &mq->hotspot, e,
			  test_and_set(mq->hotspot_hit_bits, hi) ? 0
								 : mq->level_jump,
			  NULL, NULL);
		return e;
	}
	mq->hotspot_stats.misses++;
	e = alloc_entry(mq, &mq->hotspot_alloc);
	if (!e) {
		/* Reuse the oldest; it keeps its level. */
		e = q_pop(mq, &mq->hotspot);
		if (e) {
			h_remove(mq, &mq->hotspot_table, e);
			hi = idx(mq, e) - mq->hotspot_alloc.begin;
			mq->hotspot_hit_bits[hi / 64] &= ~(1ull << (hi % 64));
		}
	}
	if (e) {
		e->oblock = hb;
		q_push(mq, &mq->hotspot, e);
		h_insert(mq, &mq->hotspot_table, e);
	}
	return e;
}

static int lookup_common(struct smq *mq, uint64_t oblock, uint32_t *cblock,
			 bool write, bool fast_copy, struct policy_work **work,
			 bool *queued)
{
	struct entry *e = h_lookup(mq, &mq->table, oblock), *hs;
	bool promote;

	*queued = false;
	if (e) {
		stat_level(&mq->cache_stats.hits, &mq->cache_stats.misses,
			   e->level);
		requeue(mq, e);
		*cblock = cblock_of(mq, e);
		return 0;
	}
	mq->cache_stats.misses++;
	hs = update_hotspot_queue(mq, oblock);
	if (write && fast_copy && !alloc_empty(&mq->cache_alloc))
		promote = true;
	else
		promote = hs->level >= (write ? mq->write_promote_level
					      : mq->read_promote_level);
	if (promote) {
		queue_promotion(mq, oblock, work);
		*queued = true;
	}
	return -ENOENT;
}

/* ---- the policy interface ---- */

static int smq_lookup(struct policy *p, uint64_t oblock, uint32_t *cblock,
		      bool write, bool fast_copy, bool *queued)
{
	return lookup_common(to_smq(p), oblock, cblock, write, fast_copy,
			     NULL, queued);
}

static int smq_lookup_with_work(struct policy *p, uint64_t oblock,
				uint32_t *cblock, bool write, bool fast_copy,
				struct policy_work **work)
{
	bool queued;

	*work = NULL;
	return lookup_common(to_smq(p), oblock, cblock, write, fast_copy,
			     work, &queued);
}

static int smq_get_background_work(struct policy *p, bool idle,
				   struct policy_work **work)
{
	struct smq *mq = to_smq(p);
	int r = btracker_issue(&mq->bg, work);

	if (r == -ENODATA && !clean_target_met(mq, idle)) {
		queue_writeback(mq, idle);
		r = btracker_issue(&mq->bg, work);
	}
	return r;
}

static void smq_complete_background_work(struct policy *p,
					 struct policy_work *work,
					 bool success)
{
	struct smq *mq = to_smq(p);
	struct entry *e = cache_entry(mq, work->cblock);

	switch (work->op) {
	case POLICY_PROMOTE:
		e->flags &= (uint8_t)~E_PENDING;
		if (success) {
			e->oblock = work->oblock;
			e->level = SMQ_LEVELS - 1;
			push(mq, e);
		} else {
			free_entry(mq, &mq->cache_alloc, e);
		}
		break;
	case POLICY_DEMOTE:
		if (success) {
			h_remove(mq, &mq->table, e);
			free_entry(mq, &mq->cache_alloc, e);
		} else {
			e->flags &= (uint8_t)~E_PENDING;
			push_queue(mq, e);
		}
		break;
	case POLICY_WRITEBACK:
		e->flags &= (uint8_t)~E_PENDING;
		push_queue(mq, e);
		break;
	}
	btracker_complete(&mq->bg, work);
}

static void set_clear_dirty(struct smq *mq, uint32_t cblock, bool set)
{
	struct entry *e = cache_entry(mq, cblock);

	if (e->flags & E_PENDING) {
		e->flags = set ? (e->flags | E_DIRTY)
			       : (uint8_t)(e->flags & ~E_DIRTY);
		return;
	}
	q_del(mq, queue_of(mq, e), e);
	e->flags = set ? (e->flags | E_DIRTY) : (uint8_t)(e->flags & ~E_DIRTY);
	push_queue(mq, e);
}

static void smq_set_dirty(struct policy *p, uint32_t cblock)
{
	set_clear_dirty(to_smq(p), cblock, true);
}

static void smq_clear_dirty(struct policy *p, uint32_t cblock)
{
	set_clear_dirty(to_smq(p), cblock, false);
}

/* The kernel's hash_32(cblock, 9) & 63, for mappings without a hint. */
static unsigned random_level(uint32_t cblock)
{
	return ((cblock * 0x61C88647u) >> (32 - 9)) & (SMQ_LEVELS - 1);
}

static int smq_load_mapping(struct policy *p, uint64_t oblock,
			    uint32_t cblock, bool dirty, uint32_t hint,
			    bool hint_valid)
{
	struct smq *mq = to_smq(p);
	struct entry *e;

	if (cblock >= mq->cache_size)
		return -EINVAL;
	e = cache_entry(mq, cblock);
	if (e->flags & E_ALLOCATED)
		return -EEXIST;
	e = alloc_particular(mq, &mq->cache_alloc, cblock);
	e->oblock = oblock;
	e->flags = (uint8_t)(dirty ? (e->flags | E_DIRTY)
				   : (e->flags & ~E_DIRTY));
	e->level = (uint8_t)(hint_valid ? (hint < SMQ_LEVELS - 1 ? hint
								 : SMQ_LEVELS - 1)
					: random_level(cblock));
	/* In front of the sentinels: demotable and cleanable at once. */
	push_front(mq, e);
	return 0;
}

static int smq_invalidate_mapping(struct policy *p, uint32_t cblock)
{
	struct smq *mq = to_smq(p);
	struct entry *e;

	if (cblock >= mq->cache_size)
		return -ENODATA;
	e = cache_entry(mq, cblock);
	if (!(e->flags & E_ALLOCATED))
		return -ENODATA;
	/* The kernel would unlink an entry that is in no queue; refuse. */
	if (e->flags & E_PENDING)
		return -EBUSY;
	q_del(mq, queue_of(mq, e), e);
	h_remove(mq, &mq->table, e);
	free_entry(mq, &mq->cache_alloc, e);
	return 0;
}

static uint32_t smq_get_hint(struct policy *p, uint32_t cblock)
{
	struct entry *e = cache_entry(to_smq(p), cblock);

	return e->flags & E_ALLOCATED ? e->level : 0;
}

static int smq_peek(struct policy *p, uint64_t oblock, uint32_t *cblock)
{
	struct smq *mq = to_smq(p);
	struct entry *e = h_lookup(mq, &mq->table, oblock);

	if (!e)
		return -ENOENT;
	*cblock = cblock_of(mq, e);
	return 0;
}

static uint32_t smq_residency(struct policy *p)
{
	return to_smq(p)->cache_alloc.nr_allocated;
}

static void smq_tick(struct policy *p, bool can_block)
{
	struct smq *mq = to_smq(p);

	(void)can_block;
	mq->tick++;
	update_sentinels(mq);
	end_hotspot_period(mq);
	end_cache_period(mq);
}

static void smq_allow_migrations(struct policy *p, bool allow)
{
	to_smq(p)->migrations_allowed = allow;
}

static void smq_destroy(struct policy *p)
{
	struct smq *mq = to_smq(p);

	btracker_exit(&mq->bg);
	free(mq->table.buckets);
	free(mq->hotspot_table.buckets);
	free(mq->hotspot_hit_bits);
	free(mq->cache_hit_bits);
	free(mq->es);
	free(mq);
}

static const struct policy_ops smq_ops = {
	.destroy = smq_destroy,
	.lookup = smq_lookup,
	.lookup_with_work = smq_lookup_with_work,
	.get_background_work = smq_get_background_work,
	.complete_background_work = smq_complete_background_work,
	.set_dirty = smq_set_dirty,
	.clear_dirty = smq_clear_dirty,
	.load_mapping = smq_load_mapping,
	.invalidate_mapping = smq_invalidate_mapping,
	.get_hint = smq_get_hint,
	.peek = smq_peek,
	.residency = smq_residency,
	.tick = smq_tick,
	.allow_migrations = smq_allow_migrations,
};

int smq_create(const struct smq_create_args *a, struct policy **out)
{
	uint32_t per_queue = 2 * SMQ_LEVELS, sentinels = 2 * per_queue;
	struct smq *mq;
	uint64_t hb;
	uint32_t nr_hb, total;

	*out = NULL;
	if (!a->block_sectors || !a->jiffies || !a->hz)
		return -EINVAL;
	/* Hotspot blocks: 16 cache blocks, halved while they would cover
	 * more than the origin. */
	hb = a->block_sectors * 16;
	nr_hb = a->cache_blocks / 4 > 1024 ? a->cache_blocks / 4 : 1024;
	while (hb > a->block_sectors && hb * nr_hb > a->origin_sectors)
		hb /= 2;
	if ((uint64_t)sentinels + nr_hb + a->cache_blocks >= NIL)
		return -EINVAL;
	total = sentinels + nr_hb + a->cache_blocks;
	mq = calloc(1, sizeof(*mq));
	if (!mq)
		return -ENOMEM;
	mq->es = calloc(total, sizeof(*mq->es));
	mq->hotspot_hit_bits = calloc(((size_t)nr_hb + 63) / 64, 8);
	mq->cache_hit_bits = calloc(((size_t)a->cache_blocks + 63) / 64 + 1, 8);
	if (!mq->es || !mq->hotspot_hit_bits || !mq->cache_hit_bits ||
	    h_init(&mq->table, a->cache_blocks) < 0 ||
	    h_init(&mq->hotspot_table, nr_hb) < 0 ||
	    btracker_init(&mq->bg, MAX_BACKGROUND_WORK) < 0) {
		free(mq->table.buckets);
		free(mq->hotspot_table.buckets);
		free(mq->hotspot_hit_bits);
		free(mq->cache_hit_bits);
		free(mq->es);
		free(mq);
		return -ENOMEM;
	}
	mq->policy.ops = &smq_ops;
	mq->policy.name = "smq";
	mq->policy.version[0] = 2;
	mq->policy.hint_size = 4;
	mq->cache_size = a->cache_blocks;
	mq->nr_hotspot_blocks = nr_hb;
	mq->hotspot_block_sectors = hb;
	mq->blocks_per_hotspot = (uint32_t)(hb / a->block_sectors);
	mq->level_jump = 1;
	mq->jiffies = a->jiffies;
	mq->hz = a->hz;
	mq->migrations_allowed = a->migrations_allowed;
	mq->cleaner = a->cleaner;

	alloc_init(mq, &mq->wb_sentinels, 0, per_queue);
	alloc_init(mq, &mq->demote_sentinels, per_queue, sentinels);
	for (uint32_t i = 0; i < sentinels; i++)
		mq->es[i].flags = E_SENTINEL;
	/* The sentinels are never handed out: empty their free lists. */
	l_init(&mq->wb_sentinels.free);
	l_init(&mq->demote_sentinels.free);
	alloc_init(mq, &mq->hotspot_alloc, sentinels, sentinels + nr_hb);
	alloc_init(mq, &mq->cache_alloc, sentinels + nr_hb, total);

	q_init(&mq->hotspot);
	mq->hotspot.nr_top_levels = 8;
	mq->hotspot.nr_in_top_levels = nr_hb / SMQ_LEVELS;
	if (a->cache_blocks / mq->blocks_per_hotspot <
	    mq->hotspot.nr_in_top_levels)
		mq->hotspot.nr_in_top_levels =
			a->cache_blocks / mq->blocks_per_hotspot;
	q_init(&mq->clean);
	q_init(&mq->dirty);

	mq->next_wb_period = now(mq) + WRITEBACK_PERIOD_S * mq->hz;
	mq->next_demote_period = now(mq) + DEMOTE_PERIOD_S * mq->hz;
	mq->cur_wb_sentinels = mq->cur_demote_sentinels = false;
	push_sentinels(mq);
	mq->cur_wb_sentinels = mq->cur_demote_sentinels = true;
	push_sentinels(mq);
	mq->read_promote_level = mq->write_promote_level = SMQ_LEVELS;
	mq->next_hotspot_period = now(mq);
	mq->next_cache_period = now(mq);
	*out = &mq->policy;
	return 0;
}

/* ---- registration ---- */

int policy_create(const char *name, uint32_t cache_blocks,
		  uint64_t origin_sectors, uint64_t block_sectors,
		  const uint64_t *jiffies, struct policy **out)
{
	struct smq_create_args a = {
		.cache_blocks = cache_blocks,
		.origin_sectors = origin_sectors,
		.block_sectors = block_sectors,
		.jiffies = jiffies,
		.hz = 250,
		.migrations_allowed = true,
	};
	int r;

	*out = NULL;
	if (!strcmp(name, "cleaner")) {
		a.migrations_allowed = false;
		a.cleaner = true;
	} else if (strcmp(name, "smq") && strcmp(name, "mq") &&
		   strcmp(name, "default")) {
		return -EINVAL;
	}
	r = smq_create(&a, out);
	if (r == 0 && strcmp(name, "default"))
		(*out)->name = !strcmp(name, "mq") ? "mq" :
			       !strcmp(name, "cleaner") ? "cleaner" : "smq";
	return r;
}

/* ---- inspection ---- */

void smq_get_info(struct policy *p, struct smq_info *info)
{
	struct smq *mq = to_smq(p);

	info->nr_hotspot_blocks = mq->nr_hotspot_blocks;
	info->cache_blocks_per_hotspot_block = mq->blocks_per_hotspot;
	info->hotspot_block_sectors = mq->hotspot_block_sectors;
	info->read_promote_level = mq->read_promote_level;
	info->write_promote_level = mq->write_promote_level;
	info->hotspot_level_jump = mq->level_jump;
	info->hotspot_hits = mq->hotspot_stats.hits;
	info->hotspot_misses = mq->hotspot_stats.misses;
	info->cache_hits = mq->cache_stats.hits;
	info->cache_misses = mq->cache_stats.misses;
	info->queue_size[SMQ_HOTSPOT] = mq->hotspot.nr;
	info->queue_size[SMQ_CLEAN] = mq->clean.nr;
	info->queue_size[SMQ_DIRTY] = mq->dirty.nr;
	info->nr_allocated = mq->cache_alloc.nr_allocated;
}

static struct queue *queue_by_id(struct smq *mq, enum smq_queue q)
{
	return q == SMQ_HOTSPOT ? &mq->hotspot :
	       q == SMQ_CLEAN ? &mq->clean : &mq->dirty;
}

uint32_t smq_level_contents(struct policy *p, enum smq_queue qid,
			    unsigned level, uint64_t *out, uint32_t max)
{
	struct smq *mq = to_smq(p);
	struct queue *q = queue_by_id(mq, qid);
	uint32_t n = 0;

	if (level >= SMQ_LEVELS)
		return 0;
	for (struct entry *e = at(mq, q->lv[level].head); e;
	     e = at(mq, e->next)) {
		if (n < max)
			out[n] = is_sentinel(e) ? UINT64_MAX : e->oblock;
		n++;
	}
	return n;
}

int smq_cblock_level(struct policy *p, uint32_t cblock)
{
	struct smq *mq = to_smq(p);
	struct entry *e;

	if (cblock >= mq->cache_size)
		return -1;
	e = cache_entry(mq, cblock);
	return e->flags & E_ALLOCATED ? e->level : -1;
}

static int bad(char *why, unsigned len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(char *why, unsigned len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EUCLEAN;
}

/* Walks one queue: levels right, counts right, links consistent; marks
 * each entry seen with tag. */
static int check_queue(struct smq *mq, struct queue *q, const char *name,
		       uint8_t tag, uint32_t *sentinels, uint8_t *seen,
		       char *why, unsigned len)
{
	uint32_t total = 0;

	*sentinels = 0;
	for (unsigned level = 0; level < SMQ_LEVELS; level++) {
		uint32_t n = 0, prev = NIL;

		for (uint32_t i = q->lv[level].head; i != NIL;
		     i = mq->es[i].next) {
			struct entry *e = &mq->es[i];

			if (seen[i])
				return bad(why, len, "%s: entry %u twice", name, i);
			seen[i] = tag;
			if (e->level != level || e->prev != prev)
				return bad(why, len, "%s level %u: entry %u "
					   "has level %u / bad link", name,
					   level, i, e->level);
			if (e->flags & E_PENDING)
				return bad(why, len, "%s: pending entry %u "
					   "queued", name, i);
			if (is_sentinel(e))
				(*sentinels)++;
			else
				n++;
			prev = i;
		}
		if (q->lv[level].tail != prev || q->lv[level].nr != n)
			return bad(why, len, "%s level %u: count %u, list %u",
				   name, level, q->lv[level].nr, n);
		total += n;
	}
	if (total != q->nr)
		return bad(why, len, "%s: size %u, lists hold %u", name, q->nr,
			   total);
	return 0;
}

int smq_check(struct policy *p, char *why, unsigned why_len)
{
	struct smq *mq = to_smq(p);
	uint32_t total = mq->cache_alloc.end;
	uint8_t *seen = calloc(total, 1);
	uint32_t s, mapped = 0, hashed = 0;
	int r;

	if (!seen)
		return -ENOMEM;
	r = check_queue(mq, &mq->clean, "clean", 1, &s, seen, why, why_len);
	if (r == 0 && s != 2 * SMQ_LEVELS)
		r = bad(why, why_len, "clean: %u sentinels", s);
	if (r == 0)
		r = check_queue(mq, &mq->dirty, "dirty", 2, &s, seen, why,
				why_len);
	if (r == 0 && s != 2 * SMQ_LEVELS)
		r = bad(why, why_len, "dirty: %u sentinels", s);
	if (r == 0)
		r = check_queue(mq, &mq->hotspot, "hotspot", 3, &s, seen, why,
				why_len);
	for (uint32_t c = 0; r == 0 && c < mq->cache_size; c++) {
		struct entry *e = cache_entry(mq, c);
		uint32_t i = idx(mq, e);
		bool queued = seen[i];

		if (!(e->flags & E_ALLOCATED)) {
			if (queued)
				r = bad(why, why_len, "free cblock %u queued", c);
			continue;
		}
		mapped++;
		if (!queued && !(e->flags & E_PENDING))
			r = bad(why, why_len, "cblock %u in no queue", c);
		else if (queued && seen[i] != (e->flags & E_DIRTY ? 2 : 1))
			r = bad(why, why_len, "cblock %u in the wrong queue", c);
		if (r == 0 && h_lookup(mq, &mq->table, e->oblock) == e)
			hashed++;
	}
	if (r == 0 && mapped != mq->cache_alloc.nr_allocated)
		r = bad(why, why_len, "allocated %u, counted %u",
			mq->cache_alloc.nr_allocated, mapped);
	/* Every hashed entry is found; unhashed ones are pending promotions. */
	if (r == 0) {
		uint32_t chain = 0, bucket_count = 1u << mq->table.bits;

		for (uint32_t b = 0; b < bucket_count; b++)
			for (uint32_t i = mq->table.buckets[b]; i != NIL;
			     i = mq->es[i].hash_next)
				chain++;
		if (chain != hashed)
			r = bad(why, why_len, "hash holds %u, %u found", chain,
				hashed);
	}
	free(seen);
	return r;
}
