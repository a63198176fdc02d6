// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * engine/target.c with recording hooks: every data operation and metadata
 * call the model makes is logged as a line, and each test compares the
 * log and the counters with what the kernel's target does for the same
 * bios: copy-free promotion of full-block writes (no hit or miss
 * counted), misses to the origin, hits to the cache, splitting at block
 * boundaries, the partial block at the end of the origin, discards (whole
 * discard blocks only, no unmapping, then a partial write into a
 * discarded block promoted without a copy), flushes and FUA forcing a
 * commit, demotions committed before they complete, writethrough and
 * passthrough, the idle writeback at the end, the status line, an I/O
 * past the origin, and a commit hook stopping the run (--crash-at).
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

#include "engine/smq.h"
#include "engine/target.h"

struct rec {
	char log[8192];
	size_t len;
	int commits;
	int stop_at;	/* the commit that returns 1; 0 never */
};

static void say(struct rec *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(struct rec *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	r->len += (size_t)vsnprintf(r->log + r->len, sizeof(r->log) - r->len,
				    fmt, ap);
	va_end(ap);
	assert_true(r->len < sizeof(r->log));
}

static int h_data(void *ctx, const struct target_data_io *d)
{
	static const char *const names[] = {
		"read-cache", "read-origin", "write-cache", "write-origin",
		"write-both", "promote-copy", "writeback-copy", "new-write-cache",
		"new-read-cache", "discard-origin", "discard-cache",
	};

	if (d->op == TD_DISCARD_ORIGIN)
		say(ctx, "%s o%llu x%llu\n", names[d->op],
		    (unsigned long long)d->oblock,
		    (unsigned long long)d->nr_blocks);
	else
		say(ctx, "%s c%u o%llu +%u/%u\n", names[d->op], d->cblock,
		    (unsigned long long)d->oblock, d->offset, d->len);
	return 0;
}

static int h_insert(void *ctx, uint32_t cblock, uint64_t oblock)
{
	say(ctx, "insert c%u o%llu\n", cblock, (unsigned long long)oblock);
	return 0;
}

static int h_remove(void *ctx, uint32_t cblock)
{
	say(ctx, "remove c%u\n", cblock);
	return 0;
}

static int h_commit(void *ctx)
{
	struct rec *r = ctx;

	r->commits++;
	say(r, "commit\n");
	return r->commits == r->stop_at;
}

/* The migration threshold make() uses; 0 stops all idle writeback. */
static uint64_t threshold = 2048;

static struct target *make(struct rec *r, enum target_mode mode,
			   uint32_t cache_blocks, uint64_t origin_blocks,
			   enum target_tick tick)
{
	struct target_config cfg = {
		.block_sectors = 8,	/* 4 KiB blocks */
		.cache_blocks = cache_blocks,
		.origin_sectors = origin_blocks * 8,
		.mode = mode,
		.migration_threshold = threshold,
		.hz = 250,
		.tick = tick,
		.policy = "smq",
	};
	struct target_hooks hooks = { r, h_data, h_insert, h_remove, h_commit };
	struct target *t;

	memset(r, 0, sizeof(*r));
	assert_int_equal(target_create(&cfg, &hooks, &t), 0);
	return t;
}

static int io(struct target *t, uint64_t ms, int op, uint64_t off,
	      uint32_t len, uint8_t flags, uint64_t index)
{
	struct trace_io x = { ms * 1000000, TRACE_NO_TIME, off, len,
			      (uint8_t)op, flags };

	return target_io(t, &x, index);
}

static void expect_log(struct rec *r, const char *want)
{
	if (strcmp(r->log, want))
		fail_msg("log:\n%swanted:\n%s", r->log, want);
	r->len = 0;
	r->log[0] = '\0';
}

static void check_policy(struct target *t)
{
	char why[200];

	if (smq_check(target_policy(t), why, sizeof(why)))
		fail_msg("smq_check: %s", why);
}

static void test_writeback_basics(void **state)
{
	const struct target_counters *c;
	struct rec r;
	struct target *t = make(&r, TARGET_WRITEBACK, 4, 64,
				TARGET_TICK_PER_BIO);

	(void)state;
	/* A full-block write on a fresh cache: promoted with its own data
	 * into the last cache block, dirty, neither hit nor miss. */
	assert_int_equal(io(t, 0, TRACE_OP_WRITE, 8192, 4096, 0, 0), 0);
	expect_log(&r, "new-write-cache c3 o2 +0/4096\ninsert c3 o2\n");
	c = target_counters(t);
	assert_int_equal(c->promotions, 1);
	assert_int_equal(c->copy_free_promotions, 1);
	assert_int_equal(c->write_hits + c->write_misses, 0);
	assert_int_equal(target_nr_dirty(t), 1);
	assert_true(target_cblock_dirty(t, 3));
	/* A partial write elsewhere: a miss, to the origin. */
	assert_int_equal(io(t, 1, TRACE_OP_WRITE, 512, 1024, 0, 1), 0);
	expect_log(&r, "write-origin c0 o0 +512/1024\n");
	assert_int_equal(c->write_misses, 1);
	/* A read across blocks 1..3: three bios; block 2 hits. */
	assert_int_equal(io(t, 2, TRACE_OP_READ, 4096 + 2048, 8192, 0, 2), 0);
	expect_log(&r, "read-origin c0 o1 +2048/2048\n"
		       "read-cache c3 o2 +0/4096\n"
		       "read-origin c0 o3 +0/2048\n");
	assert_int_equal(c->read_hits, 1);
	assert_int_equal(c->read_misses, 2);
	assert_int_equal(c->bios, 5);
	assert_int_equal(c->io_read_misses, 1);
	/* A flush commits what changed (the insert). */
	assert_int_equal(io(t, 3, TRACE_OP_FLUSH, 0, 0, 0, 3), 0);
	expect_log(&r, "commit\n");
	/* Nothing changed since: no commit. */
	assert_int_equal(io(t, 4, TRACE_OP_FLUSH, 0, 0, 0, 4), 0);
	expect_log(&r, "");
	/* A write hit with FUA: cache, then a commit only if needed. */
	assert_int_equal(io(t, 5, TRACE_OP_WRITE, 8192, 512, TRACE_F_FUA, 5),
			 0);
	expect_log(&r, "write-cache c3 o2 +0/512\n");
	assert_int_equal(c->write_hits, 1);
	assert_int_equal(c->io_write_hits, 1);
	/* Past the origin. */
	assert_int_equal(io(t, 6, TRACE_OP_READ, 64 * 4096 - 512, 1024, 0, 6),
			 -ERANGE);
	check_policy(t);
	target_destroy(t);
}

static void test_partial_end_block(void **state)
{
	struct target_config cfg = {
		.block_sectors = 8, .cache_blocks = 4, .origin_sectors = 8 * 4 + 3,
		.mode = TARGET_WRITEBACK, .migration_threshold = 2048,
		.hz = 250, .policy = "smq",
	};
	struct target_hooks hooks;
	struct target *t;
	struct rec r;

	(void)state;
	memset(&r, 0, sizeof(r));
	hooks = (struct target_hooks){ &r, h_data, h_insert, h_remove,
				       h_commit };
	assert_int_equal(target_create(&cfg, &hooks, &t), 0);
	/* Block 4 holds only 3 sectors: never cached, never counted. */
	assert_int_equal(io(t, 0, TRACE_OP_WRITE, 4 * 4096, 1536, 0, 0), 0);
	expect_log(&r, "write-origin c0 o4 +0/1536\n");
	assert_int_equal(target_counters(t)->write_misses, 0);
	target_destroy(t);
}

static void test_discards(void **state)
{
	struct rec r;
	/* 64 blocks of 8 sectors: 512 sectors, discard blocks of 8. */
	struct target *t = make(&r, TARGET_WRITEBACK, 4, 64,
				TARGET_TICK_PER_BIO);

	(void)state;
	assert_int_equal(target_discard_block_sectors(t), 8);
	assert_int_equal(target_nr_discard_blocks(t), 64);
	/* Sectors 12..40: blocks 2, 3 and 4 are covered whole. */
	assert_int_equal(io(t, 0, TRACE_OP_DISCARD, 12 * 512, 28 * 512, 0, 0),
			 0);
	expect_log(&r, "discard-origin o2 x1\ndiscard-origin o3 x1\n"
		       "discard-origin o4 x1\n");
	assert_false(target_dblock_discarded(t, 1));
	assert_true(target_dblock_discarded(t, 2));
	assert_true(target_dblock_discarded(t, 4));
	assert_false(target_dblock_discarded(t, 5));
	/* Less than one discard block: nothing. */
	io(t, 0, TRACE_OP_DISCARD, 50 * 512, 7 * 512, 0, 1);
	assert_false(target_dblock_discarded(t, 6));
	/* A partial write into a discarded block: optimisable, promoted with
	 * the bio as its data; the discard bit goes. */
	assert_int_equal(io(t, 1, TRACE_OP_WRITE, 3 * 4096 + 512, 512, 0, 2),
			 0);
	expect_log(&r, "new-write-cache c3 o3 +512/512\ninsert c3 o3\n");
	assert_false(target_dblock_discarded(t, 3));
	assert_true(target_cblock_dirty(t, 3));
	/* A miss write clears the bit too. */
	io(t, 2, TRACE_OP_WRITE, 0, 512, 0, 3);
	expect_log(&r, "write-origin c0 o0 +0/512\n");
	/* A discard over a cached block: its copy goes undefined too. */
	io(t, 3, TRACE_OP_DISCARD, 3 * 4096, 4096, 0, 4);
	expect_log(&r, "discard-cache c3 o3 +0/4096\ndiscard-origin o3 x1\n");
	target_destroy(t);
}

/* Fill a 4-block cache with clean loaded blocks, make another block hot,
 * and watch the demotion: removed, committed, then the promotion. */
static void test_demotion_commit_order(void **state)
{
	struct rec r;
	struct target *t = make(&r, TARGET_WRITEBACK, 4, 1024,
				TARGET_TICK_PER_SECOND);

	(void)state;
	for (uint32_t c = 0; c < 4; c++)
		assert_int_equal(target_load_mapping(t, 100 + c, c, false, 1,
						     true), 0);
	/* Each second the waker ticks; the hotspot entry of block 500 climbs
	 * until its level reaches the promote level. */
	for (unsigned s = 0; s < 40 && target_counters(t)->promotions == 0;
	     s++)
		assert_int_equal(io(t, s * 1000, TRACE_OP_READ, 500 * 4096,
				    4096, 0, s), 0);
	assert_int_equal(target_counters(t)->promotions, 1);
	assert_int_equal(target_counters(t)->demotions, 1);
	/* The demoted block's removal is committed before the promotion
	 * copies into its cache block. */
	{
		const char *rm = strstr(r.log, "remove c");
		const char *cm = rm ? strstr(rm, "commit\n") : NULL;
		const char *cp = strstr(r.log, "promote-copy");

		assert_non_null(rm);
		assert_non_null(cm);
		assert_non_null(cp);
		assert_true(cm < cp);
		assert_non_null(strstr(cp, "o500"));
	}
	check_policy(t);
	target_destroy(t);
}

static void test_writethrough_passthrough(void **state)
{
	struct rec r;
	struct target *t;

	(void)state;
	/* An idle cache cleans a loaded dirty block at once, when the
	 * resume-time waker runs. */
	t = make(&r, TARGET_WRITETHROUGH, 4, 64, TARGET_TICK_PER_BIO);
	target_load_mapping(t, 6, 2, true, 10, true);
	io(t, 0, TRACE_OP_WRITE, 6 * 4096, 4096, 0, 1);
	expect_log(&r, "writeback-copy c2 o6 +0/4096\n"
		       "write-both c2 o6 +0/4096\n");
	target_destroy(t);
	/* Without migration bandwidth it stays dirty. */
	threshold = 0;
	t = make(&r, TARGET_WRITETHROUGH, 4, 64, TARGET_TICK_PER_BIO);
	threshold = 2048;
	target_load_mapping(t, 5, 1, false, 10, true);
	target_load_mapping(t, 6, 2, true, 10, true);
	/* Clean block: both devices; dirty block: the cache. */
	io(t, 0, TRACE_OP_WRITE, 5 * 4096, 4096, 0, 0);
	io(t, 0, TRACE_OP_WRITE, 6 * 4096, 4096, 0, 1);
	expect_log(&r, "write-both c1 o5 +0/4096\nwrite-cache c2 o6 +0/4096\n");
	assert_int_equal(target_nr_dirty(t), 1);
	/* No copy-free promotion outside writeback mode: a miss. */
	io(t, 0, TRACE_OP_WRITE, 9 * 4096, 4096, 0, 2);
	expect_log(&r, "write-origin c0 o9 +0/4096\n");
	target_destroy(t);

	t = make(&r, TARGET_PASSTHROUGH, 4, 64, TARGET_TICK_PER_BIO);
	target_load_mapping(t, 5, 1, false, 10, true);
	io(t, 0, TRACE_OP_READ, 5 * 4096, 4096, 0, 0);
	expect_log(&r, "read-origin c0 o5 +0/4096\n");
	assert_int_equal(target_counters(t)->read_hits, 1);
	/* A write hit invalidates: a demotion, committed. */
	io(t, 0, TRACE_OP_WRITE, 5 * 4096, 512, 0, 1);
	expect_log(&r, "remove c1\ncommit\nwrite-origin c0 o5 +0/512\n");
	assert_int_equal(target_counters(t)->demotions, 1);
	assert_int_equal(target_residency(t), 0);
	target_destroy(t);
}

static void test_idle_writeback_and_status(void **state)
{
	struct rec r;
	struct target *t = make(&r, TARGET_WRITEBACK, 4, 64,
				TARGET_TICK_PER_BIO);
	char line[512];
	FILE *f;

	(void)state;
	io(t, 0, TRACE_OP_WRITE, 0, 4096, 0, 0);
	io(t, 0, TRACE_OP_WRITE, 4096, 4096, 0, 1);
	assert_int_equal(target_nr_dirty(t), 2);
	expect_log(&r, "new-write-cache c3 o0 +0/4096\ninsert c3 o0\n"
		       "new-write-cache c2 o1 +0/4096\ninsert c2 o1\n");
	f = fmemopen(line, sizeof(line), "w");
	target_status_line(t, 27, 1024, 2, f);
	fclose(f);
	assert_string_equal(line, "8 27/1024 8 2/4 0 0 0 0 0 2 2 2 metadata2 "
				  "writeback 2 migration_threshold 2048 smq 0 rw -\n");
	/* Two quiet seconds: the waker commits, then the idle worker cleans
	 * both blocks. */
	assert_int_equal(target_finish(t, 2000000000ull, true), 0);
	assert_int_equal(target_nr_dirty(t), 0);
	assert_int_equal(target_counters(t)->writebacks, 2);
	assert_non_null(strstr(r.log, "writeback-copy c3 o0 +0/4096\n"));
	assert_non_null(strstr(r.log, "writeback-copy c2 o1 +0/4096\n"));
	check_policy(t);
	target_destroy(t);
}

/* Idle: no origin I/O for a second, and one more migration under the
 * threshold per run of the worker. */
static void test_idle_rule(void **state)
{
	struct rec r;
	struct target *t;

	(void)state;
	threshold = 16;		/* two 8-sector blocks */
	t = make(&r, TARGET_WRITEBACK, 8, 64, TARGET_TICK_PER_SECOND);
	threshold = 2048;
	for (uint32_t c = 0; c < 5; c++)
		target_load_mapping(t, 10 + c, c, true, 5, true);
	/* Resume: the worker writes back two, then the cache is "busy". */
	assert_int_equal(target_finish(t, 0, false), 0);
	assert_int_equal(target_counters(t)->writebacks, 2);
	/* A miss at 0.5 s: origin I/O. */
	io(t, 500, TRACE_OP_READ, 40 * 4096, 4096, 0, 0);
	/* The waker at 1 s: the last origin I/O is not a second old. */
	assert_int_equal(target_finish(t, 1000000000ull, false), 0);
	assert_int_equal(target_counters(t)->writebacks, 2);
	/* At 2 s it is: two more. */
	assert_int_equal(target_finish(t, 2000000000ull, false), 0);
	assert_int_equal(target_counters(t)->writebacks, 4);
	assert_int_equal(target_finish(t, 3000000000ull, false), 0);
	assert_int_equal(target_counters(t)->writebacks, 5);
	assert_int_equal(target_nr_dirty(t), 0);
	check_policy(t);
	target_destroy(t);
}

static void test_crash_at(void **state)
{
	struct rec r;
	struct target *t = make(&r, TARGET_WRITEBACK, 4, 64,
				TARGET_TICK_PER_BIO);

	(void)state;
	r.stop_at = 1;
	io(t, 0, TRACE_OP_WRITE, 0, 4096, 0, 0);
	/* The flush's commit is the first: the run stops after it. */
	assert_int_equal(io(t, 1, TRACE_OP_FLUSH, 0, 0, 0, 1), 1);
	assert_int_equal(io(t, 2, TRACE_OP_WRITE, 4096, 4096, 0, 2), 1);
	assert_int_equal(target_finish(t, 3000000000ull, true), 1);
	assert_int_equal(r.commits, 1);
	target_destroy(t);
}

/* The same trace twice gives the same log: the model is deterministic. */
static void test_deterministic(void **state)
{
	static struct rec a, b;
	struct target *t;
	uint64_t x;

	(void)state;
	for (int run = 0; run < 2; run++) {
		struct rec *r = run ? &b : &a;

		t = make(r, TARGET_WRITEBACK, 16, 256, TARGET_TICK_PER_BIO);
		x = 5;
		for (int i = 0; i < 60; i++) {
			x = x * 6364136223846793005ull + 1;
			io(t, (uint64_t)i * 137, (x >> 62) ? TRACE_OP_READ
							   : TRACE_OP_WRITE,
			   ((x >> 20) % 64) * 4096, 4096, 0, (uint64_t)i);
		}
		target_finish(t, 60000000000ull, true);
		check_policy(t);
		target_destroy(t);
	}
	assert_string_equal(a.log, b.log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writeback_basics),
		cmocka_unit_test(test_partial_end_block),
		cmocka_unit_test(test_discards),
		cmocka_unit_test(test_demotion_commit_order),
		cmocka_unit_test(test_writethrough_passthrough),
		cmocka_unit_test(test_idle_writeback_and_status),
		cmocka_unit_test(test_idle_rule),
		cmocka_unit_test(test_crash_at),
		cmocka_unit_test(test_deterministic),
	};

	return cmocka_run_group_tests_name("target", tests, NULL, NULL);
}
