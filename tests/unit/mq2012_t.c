// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The 2012 mq policy (engine/mq2012.h) run by the target model with no
 * hooks, on scripts whose outcome follows by hand from the seed's code:
 * the pre-cache promote threshold (reads 4 hits, writes 8), at most one
 * bump a tick, replacement sending the old block back to the pre-cache
 * with one hit, a write to a discarded block promoted at once, the io
 * tracker's sequential mode (nothing recorded until 4 random bios), and
 * the generation's new threshold; the structure check after every I/O of
 * a seeded random workload.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/mq2012.h"
#include "engine/target.h"

#define BS 64u
#define BB (BS * 512u)

static struct target *make(uint32_t cache_blocks, uint64_t origin_blocks,
			   enum target_tick tick)
{
	struct target_config cfg = {
		.block_sectors = BS,
		.cache_blocks = cache_blocks,
		.origin_sectors = origin_blocks * BS,
		.mode = TARGET_WRITEBACK,
		.migration_threshold = 2048,
		.hz = 250,
		.tick = tick,
		.policy = "mq-2012",
	};
	struct target *t;

	assert_int_equal(target_create(&cfg, NULL, &t), 0);
	return t;
}

static void io(struct target *t, int op, uint64_t block, uint32_t len)
{
	struct trace_io x = { 0, TRACE_NO_TIME, block * BB, len, (uint8_t)op,
			      0 };
	char why[200];

	assert_int_equal(target_io(t, &x, 0), 0);
	if (mq2012_check(target_policy(t), why, sizeof(why)))
		fail_msg("mq2012_check: %s", why);
}

static void reads(struct target *t, uint64_t block, unsigned n)
{
	while (n--)
		io(t, TRACE_OP_READ, block, BB);
}

static void test_read_threshold(void **state)
{
	struct target *t = make(4, 64, TARGET_TICK_PER_BIO);
	const struct target_counters *c = target_counters(t);

	(void)state;
	/* Hit counts 1, 2, 3 in the pre-cache: misses; the 4th read makes
	 * 4 >= 0 + 4: promoted (a miss, then the copy); the 5th hits. */
	reads(t, 5, 3);
	assert_int_equal(c->promotions, 0);
	reads(t, 5, 1);
	assert_int_equal(c->promotions, 1);
	assert_int_equal(c->read_misses, 4);
	reads(t, 5, 1);
	assert_int_equal(c->read_hits, 1);
	/* Partial writes need 8: seven misses, the 8th promotes. */
	for (int i = 0; i < 7; i++)
		io(t, TRACE_OP_WRITE, 9, 4096);
	assert_int_equal(c->promotions, 1);
	io(t, TRACE_OP_WRITE, 9, 4096);
	assert_int_equal(c->promotions, 2);
	assert_int_equal(c->write_misses, 8);
	target_destroy(t);
}

static void test_one_bump_a_tick(void **state)
{
	/* Per-second ticks, every I/O at time 0: one tick, so the entry is
	 * bumped never (its insertion set its tick). */
	struct target *t = make(4, 64, TARGET_TICK_PER_SECOND);

	(void)state;
	reads(t, 5, 20);
	assert_int_equal(target_counters(t)->promotions, 0);
	target_destroy(t);
}

static void test_replace(void **state)
{
	struct target *t = make(1, 64, TARGET_TICK_PER_BIO);
	const struct target_counters *c = target_counters(t);
	struct mq2012_info info;

	(void)state;
	reads(t, 1, 4);		/* 1 promoted into the only block */
	reads(t, 2, 4);		/* 2 replaces it */
	assert_int_equal(c->promotions, 2);
	assert_int_equal(c->demotions, 1);
	mq2012_get_info(target_policy(t), &info);
	assert_int_equal(info.cache, 1);
	assert_int_equal(info.pre_cache, 1);	/* 1, back with one hit */
	/* 1 needs three more reads (hit counts 2, 3, 4) to come back. */
	reads(t, 1, 2);
	assert_int_equal(c->promotions, 2);
	reads(t, 1, 1);
	assert_int_equal(c->promotions, 3);
	assert_int_equal(c->demotions, 2);
	target_destroy(t);
}

static void test_dirty_replace_writes_back(void **state)
{
	struct target *t = make(1, 64, TARGET_TICK_PER_BIO);
	const struct target_counters *c = target_counters(t);

	(void)state;
	reads(t, 1, 4);
	io(t, TRACE_OP_WRITE, 1, 4096);	/* a hit: dirty */
	assert_int_equal(target_nr_dirty(t), 1);
	reads(t, 2, 4);
	assert_int_equal(c->writebacks, 1);
	assert_int_equal(c->demotions, 1);
	assert_int_equal(target_nr_dirty(t), 0);
	target_destroy(t);
}

static void test_discarded_write(void **state)
{
	struct target *t = make(4, 64, TARGET_TICK_PER_BIO);
	const struct target_counters *c = target_counters(t);
	struct trace_io d = { 0, TRACE_NO_TIME, 0, 64 * BB, TRACE_OP_DISCARD,
			      0 };

	(void)state;
	assert_int_equal(target_io(t, &d, 0), 0);
	/* Threshold 1 with free blocks: into the cache at once, the bio's
	 * data being the promotion (copy-free). */
	io(t, TRACE_OP_WRITE, 3, 4096);
	assert_int_equal(c->promotions, 1);
	assert_int_equal(c->copy_free_promotions, 1);
	/* A read of a discarded block does not get threshold 1. */
	reads(t, 7, 1);
	assert_int_equal(c->promotions, 1);
	target_destroy(t);
}

static void test_sequential(void **state)
{
	struct target *t = make(8, 1024, TARGET_TICK_PER_BIO);
	const struct target_counters *c = target_counters(t);
	struct mq2012_info info;

	(void)state;
	/* Block 0's bio starts at sector 0, not after the tracker's last
	 * end (0): random.  Blocks 1..512 are 512 sequential bios: the
	 * 512th switches to sequential before its look-up. */
	for (uint64_t b = 0; b <= 512; b++)
		reads(t, b, 1);
	mq2012_get_info(target_policy(t), &info);
	assert_true(info.sequential);
	/* 2C = 16 entries: the pre-cache recycles its oldest. */
	assert_int_equal(info.pre_cache, 16);
	/* Block 600 read eight times: the first three are random bios in
	 * sequential mode (misses, not recorded); the 4th switches back, and
	 * is hit count 1; the 7th makes 4 and promotes; the 8th hits. */
	reads(t, 600, 6);
	assert_int_equal(c->promotions, 0);
	reads(t, 600, 1);
	assert_int_equal(c->promotions, 1);
	reads(t, 600, 1);
	assert_int_equal(c->read_hits, 1);
	target_destroy(t);
}

static void test_generation(void **state)
{
	/* C = 2: generation period 1024 bumps with the cache full.  Fill the
	 * cache with blocks 1 and 2 (4 reads each: hit counts 4), then keep
	 * hitting them: after 1024 bumps the threshold becomes the rounded-
	 * up average of the cache's hit counts. */
	struct target *t = make(2, 64, TARGET_TICK_PER_BIO);
	struct mq2012_info info;

	(void)state;
	/* Each block: the first read inserts it (no bump), the next three
	 * bump it to 4 and the last of them promotes: 6 bumps, the cache
	 * full after the last. */
	reads(t, 1, 4);
	reads(t, 2, 4);
	mq2012_get_info(target_policy(t), &info);
	assert_int_equal(info.promote_threshold, 0);
	assert_int_equal(info.generation, 0);
	/* 1018 more bumps, alternating: 1024 in all, the last with the
	 * cache full. */
	for (int i = 0; i < 1018; i++)
		reads(t, 1 + (uint64_t)(i % 2), 1);
	mq2012_get_info(target_policy(t), &info);
	assert_int_equal(info.generation, 1);
	/* Hit counts then: 4 + 509 each (the triggering bump, on 2, is
	 * counted before the check): ceil((513 + 513) / 2). */
	assert_int_equal(info.promote_threshold, 513);
	target_destroy(t);
}

static void test_random_workload(void **state)
{
	uint64_t s = 12345;
	struct target *t = make(16, 256, TARGET_TICK_PER_BIO);
	const struct target_counters *c;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		uint64_t b, n;

		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		b = s % 4 ? s % 24 : (s >> 8) % 250;
		n = 1 + (s >> 20) % 3;
		if ((s >> 30) % 50 == 0) {
			struct trace_io d = { 0, TRACE_NO_TIME, b * BB, 4 * BB,
					      TRACE_OP_DISCARD, 0 };

			assert_int_equal(target_io(t, &d, 0), 0);
			continue;
		}
		io(t, (s >> 40) % 3 ? TRACE_OP_READ : TRACE_OP_WRITE, b,
		   (uint32_t)(n * BB - ((s >> 50) % 2) * 512));
	}
	c = target_counters(t);
	assert_true(c->promotions > 16);
	assert_true(c->demotions > 0);
	assert_true(target_residency(t) <= 16);
	target_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_threshold),
		cmocka_unit_test(test_one_bump_a_tick),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_dirty_replace_writes_back),
		cmocka_unit_test(test_discarded_write),
		cmocka_unit_test(test_sequential),
		cmocka_unit_test(test_generation),
		cmocka_unit_test(test_random_workload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
