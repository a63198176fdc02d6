// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The 2012 mq policy (see mq2012.h).  Entries and the 2 x 16 level heads
 * live in one array linked as circular lists through 32-bit indices, the
 * heads being sentinels, so that removing an entry needs no knowledge of
 * its level and shifting a whole level down is a splice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/u64map.h"
#include "engine/mq2012.h"

#define NONE UINT32_MAX
#define SEQUENTIAL_THRESHOLD 512u
#define RANDOM_THRESHOLD 4u
#define MAX_TO_AVERAGE 20u
#define DISCARDED_PROMOTE_THRESHOLD 1u
#define READ_PROMOTE_THRESHOLD 4u
#define WRITE_PROMOTE_THRESHOLD 8u

struct entry {
	uint64_t oblock;
	uint32_t prev, next;
	uint32_t cblock;
	uint32_t hit_count;
	uint32_t generation;
	uint32_t tick;
	bool in_cache;
	bool pending;		/* promotion not completed yet */
};

enum { PRE_CACHE, CACHE };

struct mq {
	struct policy p;
	uint32_t cache_size;
	bool migrations_allowed;

	struct entry *es;	/* 2C entries, then 2 x 16 sentinels */
	uint32_t nr_entries, nr_entries_allocated;
	uint32_t qsize[2];
	struct u64map hash;	/* oblock -> entry, both queues */

	uint64_t *allocation_bitset;
	uint32_t nr_cblocks_allocated;
	uint32_t find_free_nr_words, find_free_last_word;
	bool *dirty;		/* by cache block */
	uint32_t *cblock_entry;	/* by cache block, NONE when free */

	uint32_t tick_protected, tick;
	uint32_t hit_count, generation, generation_period;
	uint32_t promote_threshold;

	/* The io tracker. */
	bool sequential;
	uint32_t nr_seq_samples, nr_rand_samples;
	uint64_t last_end;	/* sectors */
	bool discarded;		/* the bio being mapped */

	/* Work of the last decision, handed out in order. */
	struct policy_work work[3];
	uint32_t nr_work, next_work, issued, pending;
	struct policy_work now;
};

enum result { R_MISS, R_HIT, R_NEW, R_REPLACE };

static struct mq *to_mq(struct policy *p)
{
	return (struct mq *)p;
}

/* ---- lists ---- */

static uint32_t head_of(const struct mq *mq, unsigned q, unsigned level)
{
	return mq->nr_entries + q * MQ2012_LEVELS + level;
}

static bool list_empty(const struct mq *mq, uint32_t h)
{
	return mq->es[h].next == h;
}

static void list_del(struct mq *mq, uint32_t i)
{
	struct entry *e = &mq->es[i];

	mq->es[e->prev].next = e->next;
	mq->es[e->next].prev = e->prev;
	e->prev = e->next = i;
}

static void list_add_tail(struct mq *mq, uint32_t i, uint32_t h)
{
	uint32_t last = mq->es[h].prev;

	mq->es[i].prev = last;
	mq->es[i].next = h;
	mq->es[last].next = i;
	mq->es[h].prev = i;
}

/* Moves all of list `from` to the front of `to`, leaving `from` empty. */
static void list_splice_init(struct mq *mq, uint32_t from, uint32_t to)
{
	uint32_t first, last, at;

	if (list_empty(mq, from))
		return;
	first = mq->es[from].next;
	last = mq->es[from].prev;
	at = mq->es[to].next;
	mq->es[to].next = first;
	mq->es[first].prev = to;
	mq->es[last].next = at;
	mq->es[at].prev = last;
	mq->es[from].next = mq->es[from].prev = from;
}

/* ---- queues ---- */

static unsigned queue_level(const struct entry *e)
{
	unsigned l = e->hit_count ? 31u - (unsigned)__builtin_clz(e->hit_count)
				  : 0;

	return l < MQ2012_LEVELS - 1 ? l : MQ2012_LEVELS - 1;
}

static uint32_t queue_pop(struct mq *mq, unsigned q)
{
	for (unsigned level = 0; level < MQ2012_LEVELS; level++) {
		uint32_t h = head_of(mq, q, level), r;

		if (list_empty(mq, h))
			continue;
		r = mq->es[h].next;
		list_del(mq, r);
		mq->qsize[q]--;
		/* Emptied the bottom level: everything shifts down one. */
		if (level == 0 && list_empty(mq, h))
			for (unsigned l = 1; l < MQ2012_LEVELS; l++)
				list_splice_init(mq, head_of(mq, q, l),
						 head_of(mq, q, l - 1));
		return r;
	}
	return NONE;
}

/* ---- cache blocks ---- */

static void alloc_cblock(struct mq *mq, uint32_t cb, uint32_t entry)
{
	mq->allocation_bitset[cb / 64] |= 1ull << (cb % 64);
	mq->nr_cblocks_allocated++;
	mq->cblock_entry[cb] = entry;
}

static void free_cblock(struct mq *mq, uint32_t cb)
{
	mq->allocation_bitset[cb / 64] &= ~(1ull << (cb % 64));
	mq->nr_cblocks_allocated--;
	mq->cblock_entry[cb] = NONE;
}

static bool any_free_cblocks(const struct mq *mq)
{
	return mq->nr_cblocks_allocated < mq->cache_size;
}

static int find_free_in(struct mq *mq, uint32_t begin, uint32_t end,
			uint32_t *result)
{
	for (uint32_t w = begin; w < end; w++) {
		uint64_t word = mq->allocation_bitset[w];

		if (word != ~0ull) {
			mq->find_free_last_word = w;
			*result = w * 64 + (uint32_t)__builtin_ctzll(~word);
			return *result < mq->cache_size ? 0 : -ENOSPC;
		}
	}
	return -ENOSPC;
}

static int find_free_cblock(struct mq *mq, uint32_t *result)
{
	int r;

	if (!any_free_cblocks(mq))
		return -ENOSPC;
	r = find_free_in(mq, mq->find_free_last_word, mq->find_free_nr_words,
			 result);
	if (r == -ENOSPC && mq->find_free_last_word)
		r = find_free_in(mq, 0, mq->find_free_last_word, result);
	return r;
}

/* ---- entries ---- */

static void push(struct mq *mq, uint32_t i)
{
	struct entry *e = &mq->es[i];
	unsigned q = e->in_cache ? CACHE : PRE_CACHE;

	e->tick = mq->tick;
	u64map_put(&mq->hash, e->oblock, i);	/* sized: cannot fail */
	if (e->in_cache)
		alloc_cblock(mq, e->cblock, i);
	list_add_tail(mq, i, head_of(mq, q, queue_level(e)));
	mq->qsize[q]++;
}

static void del(struct mq *mq, uint32_t i)
{
	struct entry *e = &mq->es[i];

	list_del(mq, i);
	mq->qsize[e->in_cache ? CACHE : PRE_CACHE]--;
	u64map_remove(&mq->hash, e->oblock);
	if (e->in_cache)
		free_cblock(mq, e->cblock);
}

static uint32_t pop(struct mq *mq, unsigned q)
{
	uint32_t i = queue_pop(mq, q);

	if (i != NONE) {
		u64map_remove(&mq->hash, mq->es[i].oblock);
		if (mq->es[i].in_cache)
			free_cblock(mq, mq->es[i].cblock);
	}
	return i;
}

static uint32_t alloc_entry(struct mq *mq)
{
	if (mq->nr_entries_allocated >= mq->nr_entries)
		return NONE;
	return mq->nr_entries_allocated++;
}

/* ---- the policy proper ---- */

static void check_generation(struct mq *mq)
{
	uint32_t total = 0, nr = 0, count = 0;

	if (mq->hit_count < mq->generation_period ||
	    mq->nr_cblocks_allocated != mq->cache_size)
		return;
	mq->hit_count = 0;
	mq->generation++;
	for (unsigned level = 0; level < MQ2012_LEVELS &&
				 count < MAX_TO_AVERAGE; level++) {
		uint32_t h = head_of(mq, CACHE, level);

		for (uint32_t i = mq->es[h].next; i != h; i = mq->es[i].next) {
			nr++;
			total += mq->es[i].hit_count;
			if (++count >= MAX_TO_AVERAGE)
				break;
		}
	}
	mq->promote_threshold = nr ? total / nr : 1;
	if (mq->promote_threshold * nr < total)
		mq->promote_threshold++;
}

static void requeue_and_update_tick(struct mq *mq, uint32_t i)
{
	struct entry *e = &mq->es[i];

	if (e->tick == mq->tick)
		return;
	e->hit_count++;
	mq->hit_count++;
	check_generation(mq);
	e->generation = mq->generation;
	del(mq, i);
	push(mq, i);
}

static uint32_t adjusted_promote_threshold(const struct mq *mq,
					   bool discarded, bool write)
{
	if (discarded && any_free_cblocks(mq) && write)
		return DISCARDED_PROMOTE_THRESHOLD;
	return mq->promote_threshold +
	       (write ? WRITE_PROMOTE_THRESHOLD : READ_PROMOTE_THRESHOLD);
}

/* The oldest cache entry back to the pre-cache; its cache block. */
static uint32_t demote_cblock(struct mq *mq, uint64_t *old_oblock)
{
	uint32_t i = pop(mq, CACHE);
	struct entry *e = &mq->es[i];

	*old_oblock = e->oblock;
	e->in_cache = false;
	e->hit_count = 1;
	push(mq, i);
	return e->cblock;
}

static enum result pre_cache_to_cache(struct mq *mq, uint32_t i,
				      uint32_t *cblock, uint64_t *old)
{
	enum result res = R_NEW;
	uint32_t cb;

	if (find_free_cblock(mq, &cb) == -ENOSPC) {
		res = R_REPLACE;
		cb = demote_cblock(mq, old);
	}
	del(mq, i);
	mq->es[i].cblock = *cblock = cb;
	mq->es[i].in_cache = true;
	push(mq, i);
	return res;
}

static void insert_in_pre_cache(struct mq *mq, uint64_t oblock)
{
	uint32_t i = alloc_entry(mq);
	struct entry *e;

	if (i == NONE)
		i = pop(mq, PRE_CACHE);
	if (i == NONE)
		return;
	e = &mq->es[i];
	e->in_cache = false;
	e->oblock = oblock;
	e->hit_count = 1;
	e->generation = mq->generation;
	push(mq, i);
}

static enum result insert_in_cache(struct mq *mq, uint64_t oblock,
				   uint32_t *cblock)
{
	uint32_t cb, i;
	struct entry *e;

	if (find_free_cblock(mq, &cb) == -ENOSPC) {
		insert_in_pre_cache(mq, oblock);
		return R_MISS;
	}
	i = alloc_entry(mq);
	if (i == NONE)
		return R_MISS;
	e = &mq->es[i];
	e->oblock = oblock;
	e->cblock = *cblock = cb;
	e->in_cache = true;
	e->hit_count = 1;
	e->generation = mq->generation;
	push(mq, i);
	return R_NEW;
}

static enum result map(struct mq *mq, uint64_t oblock, bool can_migrate,
		       bool write, uint32_t *cblock, uint64_t *old)
{
	bool discarded = mq->discarded;
	uint64_t v;
	uint32_t i = u64map_get(&mq->hash, oblock, &v) ? (uint32_t)v : NONE;

	if (i != NONE && mq->es[i].in_cache) {
		requeue_and_update_tick(mq, i);
		*cblock = mq->es[i].cblock;
		return R_HIT;
	}
	if (mq->sequential)
		return R_MISS;
	if (i != NONE) {
		struct entry *e = &mq->es[i];
		bool updated = e->tick == mq->tick;

		requeue_and_update_tick(mq, i);
		if ((!discarded && updated) ||
		    e->hit_count < adjusted_promote_threshold(mq, discarded,
							      write))
			return R_MISS;
		if (!can_migrate)
			return R_MISS;
		return pre_cache_to_cache(mq, i, cblock, old);
	}
	if (adjusted_promote_threshold(mq, discarded, write) == 1)
		return can_migrate ? insert_in_cache(mq, oblock, cblock)
				   : R_MISS;
	insert_in_pre_cache(mq, oblock);
	return R_MISS;
}

/* ---- the interface ---- */

static bool busy(const struct mq *mq)
{
	return mq->next_work < mq->nr_work || mq->issued || mq->pending;
}

/*
 * Maps a bio to oblock; a promotion becomes work (with now, a NEW comes
 * back in *now, issued).  Returns 0 for a hit, 1 for a miss that queued
 * work, -ENOENT for a miss.
 */
static int lookup_common(struct mq *mq, uint64_t oblock, uint32_t *cblock,
			 bool write, struct policy_work **now)
{
	uint64_t v, old = 0;
	uint32_t cb = 0;
	enum result res;

	mq->tick = mq->tick_protected;
	if (u64map_get(&mq->hash, oblock, &v) && mq->es[v].pending)
		return -ENOENT;
	res = map(mq, oblock, mq->migrations_allowed && !busy(mq), write, &cb,
		  &old);
	if (res == R_HIT) {
		*cblock = cb;
		return 0;
	}
	if (res == R_MISS)
		return -ENOENT;
	mq->es[mq->cblock_entry[cb]].pending = true;
	mq->pending++;
	mq->nr_work = mq->next_work = 0;
	if (res == R_NEW && now) {
		mq->now = (struct policy_work){ POLICY_PROMOTE, oblock, cb };
		mq->issued++;
		*now = &mq->now;
		return -ENOENT;
	}
	if (res == R_REPLACE) {
		if (mq->dirty[cb])
			mq->work[mq->nr_work++] = (struct policy_work){
				POLICY_WRITEBACK, old, cb };
		mq->work[mq->nr_work++] = (struct policy_work){
			POLICY_DEMOTE, old, cb };
	}
	mq->work[mq->nr_work++] = (struct policy_work){ POLICY_PROMOTE, oblock,
							cb };
	return 1;
}

static int mq_lookup(struct policy *p, uint64_t oblock, uint32_t *cblock,
		     bool write, bool fast_copy, bool *background_queued)
{
	int r = lookup_common(to_mq(p), oblock, cblock, write, NULL);

	(void)fast_copy;
	*background_queued = r == 1;
	return r == 1 ? -ENOENT : r;
}

static int mq_lookup_with_work(struct policy *p, uint64_t oblock,
			       uint32_t *cblock, bool write, bool fast_copy,
			       struct policy_work **work)
{
	int r;

	(void)fast_copy;
	*work = NULL;
	r = lookup_common(to_mq(p), oblock, cblock, write, work);
	return r == 1 ? -ENOENT : r;
}

static int mq_get_background_work(struct policy *p, bool idle,
				  struct policy_work **work)
{
	struct mq *mq = to_mq(p);

	(void)idle;
	if (mq->next_work >= mq->nr_work)
		return -ENODATA;
	*work = &mq->work[mq->next_work++];
	mq->issued++;
	return 0;
}

static void mq_complete_background_work(struct policy *p,
					struct policy_work *w, bool success)
{
	struct mq *mq = to_mq(p);

	mq->issued--;
	if (w->op == POLICY_PROMOTE) {
		uint32_t i = mq->cblock_entry[w->cblock];

		mq->pending--;
		mq->es[i].pending = false;
		if (!success) {
			/* The seed's remove_mapping: back to the pre-cache. */
			del(mq, i);
			mq->es[i].in_cache = false;
			push(mq, i);
		}
	}
	if (!busy(mq))
		mq->nr_work = mq->next_work = 0;
}

static void mq_set_dirty(struct policy *p, uint32_t cblock)
{
	to_mq(p)->dirty[cblock] = true;
}

static void mq_clear_dirty(struct policy *p, uint32_t cblock)
{
	to_mq(p)->dirty[cblock] = false;
}

static int mq_load_mapping(struct policy *p, uint64_t oblock, uint32_t cblock,
			   bool dirty, uint32_t hint, bool hint_valid)
{
	struct mq *mq = to_mq(p);
	uint32_t i;
	uint64_t v;

	if (cblock >= mq->cache_size || mq->cblock_entry[cblock] != NONE ||
	    u64map_get(&mq->hash, oblock, &v))
		return -EINVAL;
	i = alloc_entry(mq);
	if (i == NONE)
		return -ENOMEM;
	mq->es[i].cblock = cblock;
	mq->es[i].oblock = oblock;
	mq->es[i].in_cache = true;
	mq->es[i].hit_count = hint_valid && hint ? hint : 1;
	mq->es[i].generation = mq->generation;
	push(mq, i);
	mq->dirty[cblock] = dirty;
	return 0;
}

static int mq_invalidate_mapping(struct policy *p, uint32_t cblock)
{
	struct mq *mq = to_mq(p);
	uint32_t i;

	if (cblock >= mq->cache_size || mq->cblock_entry[cblock] == NONE)
		return -ENODATA;
	i = mq->cblock_entry[cblock];
	if (mq->es[i].pending)
		return -ENODATA;
	del(mq, i);
	mq->es[i].in_cache = false;
	push(mq, i);
	mq->dirty[cblock] = false;
	return 0;
}

static uint32_t mq_get_hint(struct policy *p, uint32_t cblock)
{
	(void)p;
	(void)cblock;
	return 0;
}

static int mq_peek(struct policy *p, uint64_t oblock, uint32_t *cblock)
{
	struct mq *mq = to_mq(p);
	uint64_t v;

	if (!u64map_get(&mq->hash, oblock, &v) || !mq->es[v].in_cache ||
	    mq->es[v].pending)
		return -ENOENT;
	*cblock = mq->es[v].cblock;
	return 0;
}

static uint32_t mq_residency(struct policy *p)
{
	struct mq *mq = to_mq(p);

	return mq->nr_cblocks_allocated - mq->pending;
}

static void mq_tick(struct policy *p, bool can_block)
{
	(void)can_block;
	to_mq(p)->tick_protected++;
}

static void mq_allow_migrations(struct policy *p, bool allow)
{
	to_mq(p)->migrations_allowed = allow;
}

/* The seed's io tracker, on each bio before its look-up. */
static void mq_examine_bio(struct policy *p, uint64_t sector,
			   uint32_t sectors, bool discarded)
{
	struct mq *mq = to_mq(p);

	mq->discarded = discarded;
	if (sector == mq->last_end + 1) {
		mq->nr_seq_samples++;
	} else {
		if (mq->nr_seq_samples)
			mq->nr_seq_samples = mq->nr_rand_samples = 0;
		mq->nr_rand_samples++;
	}
	mq->last_end = sector + sectors - 1;
	if (mq->sequential && mq->nr_rand_samples >= RANDOM_THRESHOLD) {
		mq->sequential = false;
		mq->nr_seq_samples = mq->nr_rand_samples = 0;
	} else if (!mq->sequential &&
		   mq->nr_seq_samples >= SEQUENTIAL_THRESHOLD) {
		mq->sequential = true;
		mq->nr_seq_samples = mq->nr_rand_samples = 0;
	}
}

static void mq_destroy(struct policy *p)
{
	struct mq *mq = to_mq(p);

	if (!mq)
		return;
	free(mq->es);
	free(mq->allocation_bitset);
	free(mq->dirty);
	free(mq->cblock_entry);
	u64map_destroy(&mq->hash);
	free(mq);
}

static const struct policy_ops mq_ops = {
	.destroy = mq_destroy,
	.lookup = mq_lookup,
	.lookup_with_work = mq_lookup_with_work,
	.get_background_work = mq_get_background_work,
	.complete_background_work = mq_complete_background_work,
	.set_dirty = mq_set_dirty,
	.clear_dirty = mq_clear_dirty,
	.load_mapping = mq_load_mapping,
	.invalidate_mapping = mq_invalidate_mapping,
	.get_hint = mq_get_hint,
	.peek = mq_peek,
	.residency = mq_residency,
	.tick = mq_tick,
	.allow_migrations = mq_allow_migrations,
	.examine_bio = mq_examine_bio,
};

int mq2012_create(uint32_t cache_blocks, struct policy **out)
{
	struct mq *mq;
	uint32_t heads = 2 * MQ2012_LEVELS;
	int r = 0;

	*out = NULL;
	if (!cache_blocks || cache_blocks > (UINT32_MAX - heads) / 2 - 1)
		return -EINVAL;
	mq = calloc(1, sizeof(*mq));
	if (!mq)
		return -ENOMEM;
	mq->p.ops = &mq_ops;
	mq->p.name = "mq-2012";
	mq->p.version[0] = 1;
	mq->p.hint_size = 0;
	mq->p.wake_after_fast_miss = true;
	mq->migrations_allowed = true;
	mq->cache_size = cache_blocks;
	mq->nr_entries = 2 * cache_blocks;
	mq->generation_period = cache_blocks > 1024 ? cache_blocks : 1024;
	mq->find_free_nr_words = (cache_blocks + 63) / 64;
	/* The first bio at sector 1 would look sequential to the seed too
	 * (its last_end starts at 0). */
	mq->last_end = 0;
	mq->es = calloc((size_t)mq->nr_entries + heads, sizeof(*mq->es));
	mq->allocation_bitset = calloc(mq->find_free_nr_words, 8);
	mq->dirty = calloc(cache_blocks, sizeof(*mq->dirty));
	mq->cblock_entry = malloc((size_t)cache_blocks * sizeof(uint32_t));
	if (!mq->es || !mq->allocation_bitset || !mq->dirty ||
	    !mq->cblock_entry)
		r = -ENOMEM;
	if (r == 0)
		r = u64map_init(&mq->hash, mq->nr_entries);
	if (r < 0) {
		mq_destroy(&mq->p);
		return r;
	}
	memset(mq->cblock_entry, 0xff, (size_t)cache_blocks * sizeof(uint32_t));
	for (uint32_t h = mq->nr_entries; h < mq->nr_entries + heads; h++)
		mq->es[h].prev = mq->es[h].next = h;
	*out = &mq->p;
	return 0;
}

void mq2012_get_info(struct policy *p, struct mq2012_info *info)
{
	struct mq *mq = to_mq(p);

	info->promote_threshold = mq->promote_threshold;
	info->generation = mq->generation;
	info->pre_cache = mq->qsize[PRE_CACHE];
	info->cache = mq->qsize[CACHE];
	info->allocated = mq->nr_cblocks_allocated;
	info->sequential = mq->sequential;
}

int mq2012_check(struct policy *p, char *why, unsigned why_len)
{
	struct mq *mq = to_mq(p);
	uint32_t n[2] = { 0, 0 }, bits = 0;
	uint64_t v;

	for (unsigned q = 0; q < 2; q++)
		for (unsigned l = 0; l < MQ2012_LEVELS; l++) {
			uint32_t h = head_of(mq, q, l), prev = h;

			for (uint32_t i = mq->es[h].next; i != h;
			     i = mq->es[i].next) {
				struct entry *e = &mq->es[i];

				if (i >= mq->nr_entries || e->prev != prev ||
				    e->in_cache != (q == CACHE) ||
				    n[q] > mq->nr_entries ||
				    !u64map_get(&mq->hash, e->oblock, &v) ||
				    v != i ||
				    (e->in_cache &&
				     mq->cblock_entry[e->cblock] != i)) {
					snprintf(why, why_len, "queue %u level "
						 "%u: entry %u out of place",
						 q, l, i);
					return -EUCLEAN;
				}
				n[q]++;
				prev = i;
			}
		}
	for (uint32_t w = 0; w < mq->find_free_nr_words; w++)
		bits += (uint32_t)__builtin_popcountll(
			mq->allocation_bitset[w]);
	if (n[0] != mq->qsize[0] || n[1] != mq->qsize[1] ||
	    n[1] != mq->nr_cblocks_allocated || bits != n[1] ||
	    u64map_count(&mq->hash) != n[0] + n[1] ||
	    n[0] + n[1] > mq->nr_entries ||
	    mq->nr_cblocks_allocated > mq->cache_size) {
		snprintf(why, why_len, "counts: pre-cache %u/%u, cache %u/%u, "
			 "allocated %u, bits %u, hashed %zu", n[0],
			 mq->qsize[0], n[1], mq->qsize[1],
			 mq->nr_cblocks_allocated, bits,
			 u64map_count(&mq->hash));
		return -EUCLEAN;
	}
	return 0;
}
