// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * engine/smq.c against golden scripts derived by hand from the kernel's
 * algorithm (ENGINE.md §2.2, checked against the kernel source): the
 * hotspot geometry; a fresh cache's promotions (last cache block first,
 * level 63, dirty until the target says otherwise); how the first tick
 * sets the promote level to 48 and the level jump to 4 (the max(...,64)
 * quirk with POOR confidence), and how redistribution lifts a lone
 * hotspot entry to level 56; promotion from the hotspot queue; demotion
 * when the cache is full (lowest clean level first, the free target of
 * 25 %, one demotion at a time); loaded hints and the cold-load hash;
 * swaps in the dirty queue around the writeback sentinels; idle and busy
 * writeback, and the cleaner.  Then a seeded random workload checks the
 * structure (smq_check) after every call, and the background tracker's
 * one-item-per-block rule and newest-first order.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/u64map.h"
#include "engine/btracker.h"
#include "engine/smq.h"

#define S UINT64_MAX	/* a sentinel in smq_level_contents */

static uint64_t jiffies;

static struct policy *make(uint32_t cache_blocks, uint64_t origin_blocks,
			   bool migrations, bool cleaner)
{
	struct smq_create_args a = {
		.cache_blocks = cache_blocks,
		.origin_sectors = origin_blocks * 64,
		.block_sectors = 64,
		.jiffies = &jiffies,
		.hz = 1,	/* a jiffy is a second: periods in ticks */
		.migrations_allowed = migrations,
		.cleaner = cleaner,
	};
	struct policy *p;

	jiffies = 0;
	assert_int_equal(smq_create(&a, &p), 0);
	return p;
}

static void check(struct policy *p)
{
	char why[200];

	if (smq_check(p, why, sizeof(why)))
		fail_msg("smq_check: %s", why);
}

static void expect_level(struct policy *p, enum smq_queue q, unsigned level,
			 const uint64_t *want, uint32_t n)
{
	uint64_t got[64];
	uint32_t m = smq_level_contents(p, q, level, got, 64);

	if (m != n)
		fail_msg("queue %d level %u: %u entries, want %u", q, level, m,
			 n);
	for (uint32_t i = 0; i < n; i++)
		if (got[i] != want[i])
			fail_msg("queue %d level %u entry %u: %llu, want %llu",
				 q, level, i, (unsigned long long)got[i],
				 (unsigned long long)want[i]);
}

static int read_block(struct policy *p, uint64_t ob, uint32_t *cb,
		      bool *queued)
{
	int r = p->ops->lookup(p, ob, cb, false, false, queued);

	check(p);
	return r;
}

static void tick(struct policy *p)
{
	jiffies++;
	p->ops->tick(p, true);
	check(p);
}

static void test_geometry(void **state)
{
	struct smq_info info;
	struct policy *p;

	(void)state;
	/* 1 GiB origin: 16-block hotspot blocks fit 1024 times. */
	p = make(1000, 16384, true, false);
	smq_get_info(p, &info);
	assert_int_equal(info.nr_hotspot_blocks, 1024);
	assert_int_equal(info.hotspot_block_sectors, 1024);
	assert_int_equal(info.cache_blocks_per_hotspot_block, 16);
	assert_int_equal(info.read_promote_level, 64);
	assert_int_equal(info.hotspot_level_jump, 1);
	assert_int_equal(info.queue_size[SMQ_CLEAN], 0);
	check(p);
	policy_destroy(p);
	/* 1024 origin blocks: halved down to one cache block. */
	p = make(4, 1024, true, false);
	smq_get_info(p, &info);
	assert_int_equal(info.hotspot_block_sectors, 64);
	assert_int_equal(info.cache_blocks_per_hotspot_block, 1);
	policy_destroy(p);
	/* 3000 blocks: 1024 x 2 blocks still fit, 1024 x 4 do not. */
	p = make(40000, 3000, true, false);
	smq_get_info(p, &info);
	assert_int_equal(info.nr_hotspot_blocks, 10000);
	assert_int_equal(info.hotspot_block_sectors, 64);
	policy_destroy(p);
	p = make(8, 2048, true, false);
	smq_get_info(p, &info);
	assert_int_equal(info.hotspot_block_sectors, 128);
	policy_destroy(p);
}

/* Sentinels at the start: each level of clean and dirty holds two. */
static void test_fresh_promotions(void **state)
{
	const uint64_t s2[] = { S, S }, s2_5[] = { S, S, 5 };
	const uint64_t s2_5_6[] = { S, S, 5, 6 };
	struct policy_work *w, *w2;
	struct policy *p;
	uint32_t cb;

	(void)state;
	p = make(8, 8192, true, false);
	expect_level(p, SMQ_CLEAN, 0, s2, 2);
	expect_level(p, SMQ_DIRTY, 63, s2, 2);
	/* A full-block write on a fresh cache: promoted at once, into the
	 * last cache block. */
	assert_int_equal(p->ops->lookup_with_work(p, 5, &cb, true, true, &w),
			 -ENOENT);
	assert_non_null(w);
	assert_int_equal(w->op, POLICY_PROMOTE);
	assert_int_equal(w->oblock, 5);
	assert_int_equal(w->cblock, 7);
	assert_int_equal(p->ops->residency(p), 1);
	check(p);
	/* Pending: not found by lookups, in no queue. */
	assert_int_equal(p->ops->lookup(p, 5, &cb, false, false,
					&(bool){ false }), -ENOENT);
	check(p);
	p->ops->complete_background_work(p, w, true);
	check(p);
	/* Promoted entries start at level 63, dirty until cleared. */
	expect_level(p, SMQ_DIRTY, 63, s2_5, 3);
	assert_int_equal(p->ops->get_hint(p, 7), 63);
	p->ops->set_dirty(p, 7);
	expect_level(p, SMQ_DIRTY, 63, s2_5, 3);
	assert_int_equal(p->ops->lookup_with_work(p, 6, &cb, true, true, &w2),
			 -ENOENT);
	assert_int_equal(w2->cblock, 6);
	p->ops->complete_background_work(p, w2, true);
	p->ops->set_dirty(p, 6);
	expect_level(p, SMQ_DIRTY, 63, s2_5_6, 4);
	check(p);
	/* A hit returns the cblock. */
	assert_int_equal(p->ops->lookup(p, 6, &cb, false, false,
					&(bool){ false }), 0);
	assert_int_equal(cb, 6);
	/* A failed promotion gives its block back; the next one reuses it. */
	assert_int_equal(p->ops->lookup_with_work(p, 9, &cb, true, true, &w),
			 -ENOENT);
	assert_int_equal(w->cblock, 5);
	p->ops->complete_background_work(p, w, false);
	check(p);
	assert_int_equal(p->ops->residency(p), 2);
	assert_int_equal(p->ops->get_hint(p, 5), 0);
	assert_int_equal(p->ops->lookup_with_work(p, 10, &cb, true, true, &w),
			 -ENOENT);
	assert_int_equal(w->cblock, 5);
	p->ops->complete_background_work(p, w, true);
	/* The target clears dirty after a copy promotion: clean queue. */
	p->ops->clear_dirty(p, 5);
	{
		const uint64_t c[] = { S, S, 10 };

		expect_level(p, SMQ_CLEAN, 63, c, 3);
	}
	check(p);
	policy_destroy(p);
}

static void test_first_tick_and_promotion(void **state)
{
	const uint64_t one10[] = { 10 };
	struct smq_info info;
	struct policy_work *w;
	struct policy *p;
	bool queued;
	uint32_t cb;

	(void)state;
	p = make(4, 1024, true, false);
	/* Before any tick nothing is promotion-worthy by level. */
	assert_int_equal(read_block(p, 10, &cb, &queued), -ENOENT);
	assert_false(queued);
	expect_level(p, SMQ_HOTSPOT, 0, one10, 1);
	/* Second access this tick: up one level (the jump starts at 1). */
	assert_int_equal(read_block(p, 10, &cb, &queued), -ENOENT);
	expect_level(p, SMQ_HOTSPOT, 1, one10, 1);
	/* Third: its hit bit is set, it stays. */
	assert_int_equal(read_block(p, 10, &cb, &queued), -ENOENT);
	expect_level(p, SMQ_HOTSPOT, 1, one10, 1);
	smq_get_info(p, &info);
	assert_int_equal(info.hotspot_hits, 0);
	assert_int_equal(info.hotspot_misses, 3);
	assert_int_equal(info.cache_misses, 3);
	tick(p);
	/*
	 * No hotspot hits: POOR.  Threshold max(32, 64) / 4 = 16, so both
	 * promote levels are 48 and the jump 4.  Redistribution: the top 8
	 * levels hold min(1024 / 64, 4 / 1) = 4, one each for 56..59, none
	 * below, so the lone entry is pushed up to 56.
	 */
	smq_get_info(p, &info);
	assert_int_equal(info.read_promote_level, 48);
	assert_int_equal(info.write_promote_level, 48);
	assert_int_equal(info.hotspot_level_jump, 4);
	assert_int_equal(info.hotspot_misses, 0);
	expect_level(p, SMQ_HOTSPOT, 1, NULL, 0);
	expect_level(p, SMQ_HOTSPOT, 56, one10, 1);
	/* Now a hotspot hit (56 >= 48), up 4 to 60, and promoted. */
	assert_int_equal(read_block(p, 10, &cb, &queued), -ENOENT);
	assert_true(queued);
	expect_level(p, SMQ_HOTSPOT, 60, one10, 1);
	smq_get_info(p, &info);
	assert_int_equal(info.hotspot_hits, 1);
	assert_int_equal(info.nr_allocated, 1);
	/* Again: the promotion is pending, nothing more is queued. */
	assert_int_equal(read_block(p, 10, &cb, &queued), -ENOENT);
	smq_get_info(p, &info);
	assert_int_equal(info.nr_allocated, 1);
	assert_int_equal(p->ops->get_background_work(p, false, &w), 0);
	assert_int_equal(w->op, POLICY_PROMOTE);
	assert_int_equal(w->oblock, 10);
	assert_int_equal(w->cblock, 3);
	{
		struct policy_work *w2;

		assert_int_equal(p->ops->get_background_work(p, false, &w2),
				 -ENODATA);
	}
	p->ops->complete_background_work(p, w, true);
	p->ops->clear_dirty(p, 3);
	check(p);
	{
		const uint64_t c[] = { S, S, 10 };

		expect_level(p, SMQ_CLEAN, 63, c, 3);
	}
	assert_int_equal(read_block(p, 10, &cb, &queued), 0);
	assert_int_equal(cb, 3);
	smq_get_info(p, &info);
	assert_int_equal(info.cache_hits, 1);
	policy_destroy(p);
}

static void test_demotion(void **state)
{
	const uint64_t l2[] = { 203, 202, S, S };
	struct policy_work *w;
	struct smq_info info;
	struct policy *p;
	bool queued;
	uint32_t cb;

	(void)state;
	p = make(4, 1024, true, false);
	assert_int_equal(p->ops->load_mapping(p, 200, 0, false, 5, true), 0);
	assert_int_equal(p->ops->load_mapping(p, 201, 1, false, 100, true), 0);
	assert_int_equal(p->ops->load_mapping(p, 202, 2, false, 2, true), 0);
	assert_int_equal(p->ops->load_mapping(p, 203, 3, false, 2, true), 0);
	assert_int_equal(p->ops->load_mapping(p, 204, 3, false, 2, true),
			 -EEXIST);
	check(p);
	assert_int_equal(p->ops->get_hint(p, 0), 5);
	assert_int_equal(p->ops->get_hint(p, 1), 63);
	/* Loaded in front of the sentinels. */
	expect_level(p, SMQ_CLEAN, 2, l2, 4);
	tick(p);
	/* Make block 50 hot: 56 after the next hotspot period's
	 * redistribution, which needs the clock past the period's end
	 * (jiffies 2 is not after 1 + 1; 3 is). */
	read_block(p, 50, &cb, &queued);
	jiffies++;
	tick(p);
	smq_get_info(p, &info);
	assert_int_equal(info.read_promote_level, 48);
	assert_int_equal(smq_level_contents(p, SMQ_HOTSPOT, 56, NULL, 0), 1);
	/*
	 * Promotion-worthy, but the cache is full and nothing is free: one
	 * demotion of the oldest clean entry of the lowest level (203), and
	 * no promotion this time.
	 */
	assert_int_equal(read_block(p, 50, &cb, &queued), -ENOENT);
	assert_true(queued);
	smq_get_info(p, &info);
	assert_int_equal(info.queue_size[SMQ_CLEAN], 3);
	/* The queued demotion meets the 25 % free target: no second one. */
	read_block(p, 50, &cb, &queued);
	smq_get_info(p, &info);
	assert_int_equal(info.queue_size[SMQ_CLEAN], 3);
	assert_int_equal(p->ops->get_background_work(p, false, &w), 0);
	assert_int_equal(w->op, POLICY_DEMOTE);
	assert_int_equal(w->oblock, 203);
	assert_int_equal(w->cblock, 3);
	{
		struct policy_work *w2;

		assert_int_equal(p->ops->get_background_work(p, false, &w2),
				 -ENODATA);
	}
	p->ops->complete_background_work(p, w, true);
	check(p);
	assert_int_equal(p->ops->residency(p), 3);
	assert_int_equal(p->ops->lookup(p, 203, &cb, false, false, &queued),
			 -ENOENT);
	/* The freed block goes to the next promotion. */
	assert_int_equal(read_block(p, 50, &cb, &queued), -ENOENT);
	assert_int_equal(p->ops->get_background_work(p, false, &w), 0);
	assert_int_equal(w->op, POLICY_PROMOTE);
	assert_int_equal(w->cblock, 3);
	p->ops->complete_background_work(p, w, true);
	check(p);
	policy_destroy(p);
}

static void test_cold_load(void **state)
{
	/* hash_32(cblock, 9) & 63 with the golden ratio 0x61C88647. */
	static const unsigned want[8] = { 0, 3, 7, 10, 14, 17, 21, 24 };
	struct policy *p;

	(void)state;
	p = make(8, 1024, true, false);
	for (uint32_t c = 0; c < 8; c++)
		assert_int_equal(p->ops->load_mapping(p, 100 + c, c, c & 1, 0,
						      false), 0);
	for (uint32_t c = 0; c < 8; c++) {
		assert_int_equal(p->ops->get_hint(p, c), want[c]);
		assert_int_equal(smq_cblock_level(p, c), (int)want[c]);
	}
	check(p);
	policy_destroy(p);
}

/* A dirty hit swaps with the oldest entry of the level above, which
 * lands in front of the old-set writeback sentinel. */
static void test_dirty_swap(void **state)
{
	const uint64_t l4[] = { 301, S, S }, l5[] = { S, S, 300 };
	struct policy *p;
	bool queued;
	uint32_t cb;

	(void)state;
	p = make(4, 1024, true, false);
	p->ops->load_mapping(p, 300, 0, true, 4, true);
	p->ops->load_mapping(p, 301, 1, true, 5, true);
	assert_int_equal(read_block(p, 300, &cb, &queued), 0);
	expect_level(p, SMQ_DIRTY, 4, l4, 3);
	expect_level(p, SMQ_DIRTY, 5, l5, 3);
	/* A second hit in the same cache period does not move it. */
	read_block(p, 300, &cb, &queued);
	expect_level(p, SMQ_DIRTY, 5, l5, 3);
	policy_destroy(p);
}

static void test_writeback(void **state)
{
	struct policy_work *w;
	struct smq_info info;
	struct policy *p;

	(void)state;
	p = make(4, 1024, true, false);
	p->ops->load_mapping(p, 400, 0, true, 9, true);
	p->ops->load_mapping(p, 401, 1, true, 3, true);
	/* Busy: no writeback. */
	assert_int_equal(p->ops->get_background_work(p, false, &w), -ENODATA);
	/* Idle: the lowest dirty entry first. */
	assert_int_equal(p->ops->get_background_work(p, true, &w), 0);
	assert_int_equal(w->op, POLICY_WRITEBACK);
	assert_int_equal(w->oblock, 401);
	assert_int_equal(w->cblock, 1);
	check(p);
	/* The target clears dirty, then completes. */
	p->ops->clear_dirty(p, 1);
	p->ops->complete_background_work(p, w, true);
	check(p);
	smq_get_info(p, &info);
	assert_int_equal(info.queue_size[SMQ_DIRTY], 1);
	assert_int_equal(info.queue_size[SMQ_CLEAN], 1);
	assert_int_equal(smq_cblock_level(p, 1), 3);
	policy_destroy(p);
	/* The cleaner writes back even when busy, and never promotes. */
	p = make(4, 1024, false, true);
	p->ops->load_mapping(p, 500, 2, true, 7, true);
	assert_int_equal(p->ops->get_background_work(p, false, &w), 0);
	assert_int_equal(w->oblock, 500);
	p->ops->clear_dirty(p, 2);
	p->ops->complete_background_work(p, w, true);
	assert_int_equal(p->ops->get_background_work(p, false, &w), -ENODATA);
	{
		uint32_t cb;

		assert_int_equal(p->ops->lookup_with_work(p, 7, &cb, true, true,
							  &w), -ENOENT);
		assert_null(w);
	}
	assert_int_equal(p->ops->residency(p), 1);
	check(p);
	policy_destroy(p);
}

static void test_btracker(void **state)
{
	struct policy_work a = { POLICY_PROMOTE, 1, 0 }, b = { POLICY_DEMOTE, 2, 1 };
	struct policy_work c = { POLICY_WRITEBACK, 3, 2 }, *w;
	struct btracker bt;

	(void)state;
	assert_int_equal(btracker_init(&bt, 3), 0);
	assert_int_equal(btracker_queue(&bt, &a, false, NULL), 0);
	assert_int_equal(btracker_queue(&bt, &b, false, NULL), 0);
	/* One item per origin block. */
	assert_int_equal(btracker_queue(&bt, &a, false, NULL), -EINVAL);
	assert_int_equal(btracker_nr_demotions(&bt), 1);
	assert_int_equal(btracker_queue(&bt, &c, true, &w), 0);
	assert_int_equal(w->oblock, 3);
	/* Full. */
	{
		struct policy_work d = { POLICY_PROMOTE, 4, 3 };

		assert_int_equal(btracker_queue(&bt, &d, false, NULL), -ENOMEM);
	}
	/* Newest first. */
	assert_int_equal(btracker_issue(&bt, &w), 0);
	assert_int_equal(w->oblock, 2);
	btracker_complete(&bt, w);
	assert_false(btracker_pending_for(&bt, 2));
	assert_int_equal(btracker_nr_demotions(&bt), 0);
	assert_int_equal(btracker_issue(&bt, &w), 0);
	assert_int_equal(w->oblock, 1);
	assert_int_equal(btracker_issue(&bt, &w), -ENODATA);
	btracker_exit(&bt);
}

/* Random calls, the structure checked after each. */
static void test_random(void **state)
{
	enum { C = 64, OB = 600, STEPS = 20000 };
	struct policy_work *pending[64];
	unsigned npending = 0, done[3] = { 0, 0, 0 };
	struct policy *p;
	uint64_t x = 42;

	(void)state;
	p = make(C, OB, true, false);
	for (int i = 0; i < STEPS; i++) {
		uint32_t cb;
		bool queued;
		struct policy_work *w = NULL;
		unsigned what;

		x = x * 6364136223846793005ull + 1442695040888963407ull;
		what = (unsigned)(x >> 59);
		if (what < 20) {
			uint64_t ob = (x >> 20) % OB;

			if (ob % 3 == 0)
				ob = (x >> 30) % 40;	/* a hot set */
			if (what < 4) {
				p->ops->lookup_with_work(p, ob, &cb, true,
							 true, &w);
				if (w && npending < 64)
					pending[npending++] = w;
				else if (w)
					p->ops->complete_background_work(p, w,
									 true);
			} else if (p->ops->lookup(p, ob, &cb, what & 1, false,
						  &queued) == 0 && (what & 1)) {
				p->ops->set_dirty(p, cb);
			}
		} else if (what < 27) {
			if (npending < 64 &&
			    p->ops->get_background_work(p, what & 1, &w) == 0)
				pending[npending++] = w;
		} else if (what < 31 && npending) {
			unsigned k = (unsigned)((x >> 10) % npending);
			bool ok = (x >> 40) % 5 != 0;

			w = pending[k];
			pending[k] = pending[--npending];
			done[w->op]++;
			if (ok && w->op != POLICY_DEMOTE)
				p->ops->clear_dirty(p, w->cblock);
			p->ops->complete_background_work(p, w, ok);
		} else {
			jiffies += (x >> 20) % 3;
			p->ops->tick(p, true);
		}
		check(p);
	}
	while (npending)
		p->ops->complete_background_work(p, pending[--npending], false);
	check(p);
	/* The script reaches every kind of work. */
	assert_true(done[POLICY_PROMOTE] > 100);
	assert_true(done[POLICY_DEMOTE] > 100);
	assert_true(done[POLICY_WRITEBACK] > 10);
	policy_destroy(p);
}

/* u64map removal keeps every other key reachable. */
static void test_u64map_remove(void **state)
{
	enum { N = 5000 };
	static uint64_t model[N];
	static bool present[N];
	struct u64map m;
	uint64_t x = 7, v;

	(void)state;
	assert_int_equal(u64map_init(&m, 0), 0);
	for (int i = 0; i < 100000; i++) {
		unsigned k;

		x = x * 6364136223846793005ull + 1;
		k = (unsigned)((x >> 33) % N);
		if ((x >> 20) & 1) {
			model[k] = x;
			present[k] = true;
			assert_int_equal(u64map_put(&m, k * 64, x), 0);
		} else {
			assert_int_equal(u64map_remove(&m, k * 64), present[k]);
			present[k] = false;
		}
	}
	for (unsigned k = 0; k < N; k++) {
		assert_int_equal(u64map_get(&m, k * 64, &v), present[k]);
		if (present[k])
			assert_int_equal(v, model[k]);
	}
	u64map_destroy(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geometry),
		cmocka_unit_test(test_fresh_promotions),
		cmocka_unit_test(test_first_tick_and_promotion),
		cmocka_unit_test(test_demotion),
		cmocka_unit_test(test_cold_load),
		cmocka_unit_test(test_dirty_swap),
		cmocka_unit_test(test_writeback),
		cmocka_unit_test(test_btracker),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_u64map_remove),
	};

	return cmocka_run_group_tests_name("smq", tests, NULL, NULL);
}
