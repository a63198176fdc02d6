// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_check's engine in memory: metadata written by the library restore
 * (v1 and v2, with hints and discards) checks clean with no finding at all;
 * a read failure of any single block in use is reported as a finding
 * (block-io, or sb-unreadable for block 0) and never crashes; the
 * engine writes nothing without a writing flag; and version 2 metadata
 * relabelled version 1 fails the check, with or without its dirty_root,
 * and is left untouched by the writing flags (they would otherwise free
 * the dirty bitset as leaks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/endian.h"
#include "cache/check.h"
#include "cache/emit.h"
#include "cache/format.h"
#include "cache/restore.h"
#include "pdata/bm.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"

#define DEV_BLOCKS 256u
#define NR_CBLOCKS 2000u

static void feed(const struct cache_emitter *e, int discards)
{
	struct cache_emit_sb sb;
	unsigned char hint[4];

	memset(&sb, 0, sizeof(sb));
	sb.block_size = 128;
	sb.nr_cache_blocks = NR_CBLOCKS;
	strcpy(sb.policy, "smq");
	sb.hint_width = 4;
	assert_int_equal(e->begin_superblock(e->ctx, &sb), 0);
	assert_int_equal(e->begin_mappings(e->ctx), 0);
	for (uint64_t c = 0; c < NR_CBLOCKS; c += 3)
		assert_int_equal(e->mapping(e->ctx, c, c * 5, c & 1), 0);
	assert_int_equal(e->end_mappings(e->ctx), 0);
	assert_int_equal(e->begin_hints(e->ctx), 0);
	for (uint64_t c = 0; c < NR_CBLOCKS; c += 3) {
		memset(hint, (int)c, sizeof(hint));
		assert_int_equal(e->hint(e->ctx, c, hint, 4), 0);
	}
	assert_int_equal(e->end_hints(e->ctx), 0);
	if (discards) {
		struct cache_emit_discards d = { 1024, 2000 };

		assert_int_equal(e->begin_discards(e->ctx, &d), 0);
		assert_int_equal(e->discard(e->ctx, 10, 20), 0);
		assert_int_equal(e->end_discards(e->ctx), 0);
	}
	assert_int_equal(e->end_superblock(e->ctx), 0);
}

static struct pd_io *make_image(uint32_t version, int discards)
{
	struct cache_restore_opts o = { .version = version };
	struct cache_restore *rs;
	struct cache_emitter e;
	struct pd_io *io;

	assert_int_equal(pd_io_mem_create(DEV_BLOCKS, &io), 0);
	assert_int_equal(cache_restore_create(io, &o, &rs), 0);
	cache_restore_emitter(rs, &e);
	feed(&e, discards);
	assert_int_equal(cache_restore_commit(rs), 0);
	cache_restore_destroy(rs);
	return io;
}

struct seen {
	unsigned problems;
	char first[512];
};

static void on_problem(void *ctx, enum cache_problem id,
		       enum cache_severity sev, const char *msg)
{
	struct seen *s = ctx;

	(void)id;
	(void)sev;
	if (!s->problems++)
		snprintf(s->first, sizeof(s->first), "%s", msg);
}

static void test_clean(void **state)
{
	(void)state;
	for (uint32_t v = 1; v <= 2; v++) {
		for (int d = 0; d <= 1; d++) {
			struct pd_io *io = make_image(v, d);
			struct seen s = { 0 };
			struct cache_check_sink sink = { .ctx = &s,
							 .problem = on_problem };
			struct cache_check_opts o = { 0 };
			struct cache_check_result res;
			unsigned char *before = malloc(DEV_BLOCKS * PD_BLOCK_SIZE);

			assert_non_null(before);
			memcpy(before, pd_io_mem_data(io),
			       DEV_BLOCKS * PD_BLOCK_SIZE);
			assert_int_equal(cache_check(io, &o, &sink, &res), 0);
			if (s.problems)
				fail_msg("v%u discards %d: %s", v, d, s.first);
			assert_int_equal(res.nr_fatal, 0);
			assert_int_equal(res.nr_warn, 0);
			assert_int_equal(res.wrote, 0);
			assert_memory_equal(before, pd_io_mem_data(io),
					    DEV_BLOCKS * PD_BLOCK_SIZE);
			free(before);
			pd_io_destroy(io);
		}
	}
}

/* Does any byte of block b differ from zero (i.e. was it written)? */
static int written(struct pd_io *io, uint64_t b)
{
	const unsigned char *p = pd_io_mem_data(io) + b * PD_BLOCK_SIZE;

	for (unsigned i = 0; i < PD_BLOCK_SIZE; i++)
		if (p[i])
			return 1;
	return 0;
}

static void test_read_failures(void **state)
{
	(void)state;
	for (uint32_t v = 1; v <= 2; v++) {
		struct pd_io *img = make_image(v, 1);
		unsigned tried = 0;

		for (uint64_t b = 0; b < DEV_BLOCKS; b++) {
			struct pd_io_fault_plan plan = {
				.fail_block = b,
			};
			struct pd_io *mem, *io;
			struct seen s = { 0 };
			struct cache_check_sink sink = { .ctx = &s,
							 .problem = on_problem };
			struct cache_check_opts o = { 0 };
			struct cache_check_result res;

			if (!written(img, b))
				continue;
			tried++;
			assert_int_equal(pd_io_mem_create(DEV_BLOCKS, &mem), 0);
			memcpy(pd_io_mem_data(mem), pd_io_mem_data(img),
			       DEV_BLOCKS * PD_BLOCK_SIZE);
			assert_int_equal(pd_io_fault_create(mem, &plan, &io), 0);
			assert_int_equal(cache_check(io, &o, &sink, &res), 0);
			if (!res.nr_fatal)
				fail_msg("v%u: a failed read of block %u passed",
					 v, (unsigned)b);
			if (b == 0)
				assert_int_equal(res.counts[CACHE_P_SB_UNREADABLE],
						 1);
			else if (!res.counts[CACHE_P_BLOCK_IO])
				fail_msg("v%u block %u: no block-io but '%s'", v,
					 (unsigned)b, s.first);
			pd_io_destroy(io);
		}
		/* sb, index, bitmap, overflow, 4 roots, array blocks... */
		assert_true(tried >= 10);
		pd_io_destroy(img);
	}
}

/* The superblock says version 1; dirty_root kept or cleared. */
static void relabel_v1(struct pd_io *io, int clear_dirty_root)
{
	unsigned char *sb = pd_io_mem_data(io);

	store_le32(sb + offsetof(struct cache_disk_sb, version), 1);
	if (clear_dirty_root)
		store_le64(sb + offsetof(struct cache_disk_sb, dirty_root), 0);
	store_le32(sb + offsetof(struct cache_disk_sb, csum),
		   pd_block_csum(sb, CACHE_SB_CSUM_XOR));
}

static void test_v1_labelled_v2(void **state)
{
	static const unsigned flags[] = {
		0, CACHE_CHECK_CLEAR_NEEDS_CHECK, CACHE_CHECK_AUTO_REPAIR,
	};

	(void)state;
	for (int clear = 0; clear <= 1; clear++) {
		for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
			struct pd_io *io = make_image(2, 1);
			struct cache_check_opts o = { .flags = flags[f] };
			struct cache_check_result res;
			unsigned char *before = malloc(DEV_BLOCKS * PD_BLOCK_SIZE);

			assert_non_null(before);
			relabel_v1(io, clear);
			memcpy(before, pd_io_mem_data(io),
			       DEV_BLOCKS * PD_BLOCK_SIZE);
			assert_int_equal(cache_check(io, &o, NULL, &res), 0);
			assert_int_equal(res.counts[CACHE_P_SB_V1_DIRTY_BITSET],
					 1);
			assert_int_equal(res.nr_fatal, 1);
			/* the bitset's root leaf and its one array block */
			assert_int_equal(res.leaked_blocks, clear ? 2 : 0);
			assert_int_equal(res.wrote, 0);
			assert_int_equal(res.freed_blocks, 0);
			assert_memory_equal(before, pd_io_mem_data(io),
					    DEV_BLOCKS * PD_BLOCK_SIZE);
			free(before);
			pd_io_destroy(io);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_read_failures),
		cmocka_unit_test(test_v1_labelled_v2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
