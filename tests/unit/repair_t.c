// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache/repair in memory: an intact source salvages to exactly what was
 * written; a damaged array block loses exactly its index range (reported
 * as such), and a lost v2 dirty-bitset block makes its mapped blocks dirty;
 * a checksum-valid superblock whose cache-block count, hint size or version
 * the structures contradict is overruled by them, everything read from the
 * trees; and the output write, failed at every single write in turn, never
 * leaves a superblock that validates over a half-written output (the restore
 * zeroes block 0 first: only when that very write fails does the old one
 * survive, over an untouched device).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/endian.h"
#include "cache/format.h"
#include "cache/repair.h"
#include "cache/restore.h"
#include "pdata/bm.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"

#define NR_CBLOCKS 3000u
#define DEV_BLOCKS 256u

static int mapped(uint64_t c) { return c % 3 != 0; }
static int dirty(uint64_t c) { return c % 5 == 0; }
static uint64_t oblock(uint64_t c) { return c * 7 + 1; }

/* A v2 source image written by the restore. */
static struct pd_io *make_source(void)
{
	struct cache_restore_opts o = { .version = 2 };
	struct cache_emit_sb sb = {
		.block_size = 128,
		.nr_cache_blocks = NR_CBLOCKS,
		.policy = "smq",
		.hint_width = 4,
		.have_binary = 1,
		.version = 2,
		.flags = CACHE_SB_CLEAN_SHUTDOWN,
	};
	struct cache_restore *rs;
	struct cache_emitter e;
	struct pd_io *io;

	assert_int_equal(pd_io_mem_create(DEV_BLOCKS, &io), 0);
	assert_int_equal(cache_restore_create(io, &o, &rs), 0);
	cache_restore_emitter(rs, &e);
	assert_int_equal(e.begin_superblock(e.ctx, &sb), 0);
	assert_int_equal(e.begin_mappings(e.ctx), 0);
	for (uint64_t c = 0; c < NR_CBLOCKS; c++)
		if (mapped(c))
			assert_int_equal(e.mapping(e.ctx, c, oblock(c), dirty(c)),
					 0);
	assert_int_equal(e.end_mappings(e.ctx), 0);
	assert_int_equal(e.begin_hints(e.ctx), 0);
	for (uint64_t c = 0; c < NR_CBLOCKS; c++) {
		unsigned char h[4];

		store_le32(h, (uint32_t)c);
		if (mapped(c))
			assert_int_equal(e.hint(e.ctx, c, h, 4), 0);
	}
	assert_int_equal(e.end_hints(e.ctx), 0);
	assert_int_equal(e.end_superblock(e.ctx), 0);
	assert_int_equal(cache_restore_commit(rs), 0);
	cache_restore_destroy(rs);
	return io;
}

/* What a salvage emits, per cache block. */
struct seen {
	struct cache_emit_sb sb;
	int have[NR_CBLOCKS];
	uint64_t ob[NR_CBLOCKS];
	int dirty[NR_CBLOCKS];
	uint32_t hint[NR_CBLOCKS];
	int nr_hints;
};

static int s_sb(void *ctx, const struct cache_emit_sb *sb)
{
	((struct seen *)ctx)->sb = *sb;
	return 0;
}

static int s_map(void *ctx, uint64_t c, uint64_t ob, int d)
{
	struct seen *s = ctx;

	assert_true(c < NR_CBLOCKS);
	s->have[c] = 1;
	s->ob[c] = ob;
	s->dirty[c] = d;
	return 0;
}

static int s_hint(void *ctx, uint64_t c, const void *data, uint32_t len)
{
	struct seen *s = ctx;

	assert_int_equal(len, 4);
	s->hint[c] = load_le32(data);
	s->nr_hints++;
	return 0;
}

static struct seen *salvage(struct pd_io *io, struct cache_salvage **out)
{
	struct cache_repair_opts o = { 0 };
	struct seen *s = calloc(1, sizeof(*s));
	struct cache_emitter e = {
		.ctx = s,
		.begin_superblock = s_sb,
		.mapping = s_map,
		.hint = s_hint,
	};

	assert_non_null(s);
	assert_int_equal(cache_repair_salvage(io, &o, out), 0);
	assert_int_equal(cache_salvage_emit(*out, &e), 0);
	return s;
}

/* dirty_from: mapped blocks at or past it must be dirty whatever the source. */
static void assert_source(const struct seen *s, uint64_t lost_begin,
			  uint64_t lost_end, uint64_t dirty_from)
{
	for (uint64_t c = 0; c < NR_CBLOCKS; c++) {
		if (c >= lost_begin && c < lost_end) {
			assert_false(s->have[c]);
			continue;
		}
		assert_int_equal(s->have[c], mapped(c));
		if (!mapped(c))
			continue;
		assert_int_equal(s->ob[c], oblock(c));
		assert_int_equal(s->dirty[c], c >= dirty_from ? 1 : dirty(c));
		assert_int_equal(s->hint[c], c);
	}
}

/* Block k of the array whose btree root (a single leaf) is at root. */
static uint64_t array_block(struct pd_io *io, uint64_t root, unsigned k)
{
	const unsigned char *leaf = pd_io_mem_data(io) + root * PD_BLOCK_SIZE;

	return load_le64(leaf + PD_NODE_KEYS_OFFSET + 8 * 252 + 8 * k);
}

static uint64_t sb_u64(struct pd_io *io, unsigned offset)
{
	return load_le64(pd_io_mem_data(io) + offset);
}

static void test_intact(void **state)
{
	struct pd_io *io = make_source();
	struct cache_salvage *sv;
	struct seen *s = salvage(io, &sv);
	const struct cache_repair_report *r = cache_salvage_report(sv);

	(void)state;
	assert_source(s, 0, 0, NR_CBLOCKS);
	assert_int_equal(s->sb.version, 2);
	assert_int_equal(s->sb.flags, CACHE_SB_CLEAN_SHUTDOWN);
	assert_int_equal(s->sb.block_size, 128);
	assert_string_equal(s->sb.policy, "smq");
	assert_int_equal(r->sb_state, CACHE_REPAIR_SB_VALID);
	assert_int_equal(r->scanned, 0);
	assert_int_equal(r->nr_mappings, 2000);
	assert_int_equal(r->mappings_walked, 2000);
	assert_int_equal(r->dirty_assumed, 0);
	assert_int_equal(r->lost_mappings, 0);
	assert_int_equal(s->nr_hints, 2000);
	free(s);
	cache_salvage_destroy(sv);
	pd_io_destroy(io);
}

static int collect_range(void *ctx, uint64_t b, uint64_t e)
{
	uint64_t *r = ctx;

	assert_int_equal(r[2], 0);	/* exactly one range */
	r[0] = b;
	r[1] = e;
	r[2]++;
	return 0;
}

static void test_lost_array_block(void **state)
{
	struct pd_io *io = make_source();
	uint64_t blk = array_block(io, sb_u64(io, 192), 1);
	uint64_t range[3] = { 0 };
	struct cache_salvage *sv;
	struct seen *s;

	(void)state;
	pd_io_mem_data(io)[blk * PD_BLOCK_SIZE + 100] ^= 1;
	s = salvage(io, &sv);
	assert_source(s, 509, 1018, NR_CBLOCKS);
	assert_int_equal(cache_salvage_report(sv)->lost_mappings, 509);
	assert_int_equal(cache_salvage_report(sv)->scanned, 1);
	assert_int_equal(cache_salvage_lost_ranges(sv, 0, collect_range, range),
			 0);
	assert_int_equal(range[0], 509);
	assert_int_equal(range[1], 1018);
	free(s);
	cache_salvage_destroy(sv);
	pd_io_destroy(io);
}

static void test_lost_dirty_bitset(void **state)
{
	struct pd_io *io = make_source();
	uint64_t blk = array_block(io, sb_u64(io, 284), 0);
	struct cache_salvage *sv;
	struct seen *s;

	(void)state;
	/* 3000 bits are 47 words: one block, so every mapping is unknown. */
	pd_io_mem_data(io)[blk * PD_BLOCK_SIZE + 100] ^= 1;
	s = salvage(io, &sv);
	assert_source(s, 0, 0, 0);
	/* Their bits were all lost, the set ones included. */
	assert_int_equal(cache_salvage_report(sv)->dirty_assumed, 2000);
	free(s);
	cache_salvage_destroy(sv);
	pd_io_destroy(io);
}

/* Rewrites the superblock through fn, checksum re-stamped (still valid). */
static void edit_sb(struct pd_io *io, void (*fn)(struct cache_sb *sb))
{
	struct pd_bm *bm;
	struct pd_block *b;
	struct cache_sb sb;

	assert_int_equal(pd_bm_create(io, 16, &bm), 0);
	assert_int_equal(pd_bm_write_lock(bm, 0, &cache_sb_validator, &b, NULL),
			 0);
	cache_sb_unpack(pd_block_data(b), &sb);
	fn(&sb);
	memset(pd_block_wdata(b), 0, PD_BLOCK_SIZE);
	cache_sb_pack(&sb, pd_block_wdata(b));
	pd_bm_unlock(b);
	assert_int_equal(pd_bm_flush(bm), 0);
	pd_bm_destroy(bm);
}

static void zero_nr(struct cache_sb *sb) { sb->cache_blocks = 0; }
static void bad_hint(struct cache_sb *sb)
{
	sb->incompat_flags = CACHE_INCOMPAT_VARIABLE_HINT_SIZE;
	sb->policy_hint_size = 7;
}
static void as_v1(struct cache_sb *sb) { sb->version = 1; }

/*
 * A checksum-valid superblock with a field the structures contradict: the
 * structures win, everything comes from the walk with its dirty state, and
 * the report says which field and why.
 */
static void contradicted(void (*fn)(struct cache_sb *sb),
			 enum cache_repair_field f, const char *why)
{
	struct pd_io *io = make_source();
	struct cache_salvage *sv;
	const struct cache_repair_report *r;
	struct seen *s;

	edit_sb(io, fn);
	s = salvage(io, &sv);
	r = cache_salvage_report(sv);
	assert_source(s, 0, 0, NR_CBLOCKS);
	assert_int_equal(s->sb.version, 2);
	assert_int_equal(s->sb.nr_cache_blocks, NR_CBLOCKS);
	assert_int_equal(s->sb.hint_width, 4);
	assert_int_equal(r->scanned, 0);
	assert_int_equal(r->mappings_walked, 2000);
	assert_int_equal(r->dirty_assumed, 0);
	assert_int_equal(r->source[f], CACHE_FROM_STRUCTURES);
	assert_non_null(strstr(r->why[f], why));
	for (int g = 0; g < CACHE_NR_FIELDS; g++)
		if (g != (int)f)
			assert_string_equal(r->why[g], "");
	free(s);
	cache_salvage_destroy(sv);
	pd_io_destroy(io);
}

static void test_nr_zeroed(void **state)
{
	(void)state;
	contradicted(zero_nr, CACHE_FIELD_NR_CACHE_BLOCKS,
		     "the mapping and hint arrays hold 3000 entries; the "
		     "superblock said 0");
}

static void test_hint_size(void **state)
{
	(void)state;
	contradicted(bad_hint, CACHE_FIELD_HINT_WIDTH,
		     "the hint array's values are 4 bytes; the superblock "
		     "said 7");
}

/* Packed as v1, the dirty root is dropped too: the bitset is unreferenced. */
static void test_v2_labelled_v1(void **state)
{
	(void)state;
	contradicted(as_v1, CACHE_FIELD_VERSION,
		     "an unreferenced dirty bitset of the cache's length is "
		     "at block");
}

/* Fails write n, and every later one, for every n until the write works. */
static void test_write_faults(void **state)
{
	struct pd_io *src = make_source();
	struct cache_salvage *sv;
	struct cache_repair_opts o = { 0 };
	uint64_t n;
	char msg[256];

	(void)state;
	assert_int_equal(cache_repair_salvage(src, &o, &sv), 0);
	for (n = 1;; n++) {
		struct pd_io_fault_plan plan = {
			.fail_write_at = n,
			.fail_block = UINT64_MAX,
			.sticky = 1,
		};
		struct pd_io *mem, *fio;
		unsigned char *d;
		int r;

		assert_int_equal(pd_io_mem_create(DEV_BLOCKS, &mem), 0);
		/* An old superblock that must not survive either. */
		memcpy(pd_io_mem_data(mem), pd_io_mem_data(src), PD_BLOCK_SIZE);
		assert_int_equal(pd_io_fault_create(mem, &plan, &fio), 0);
		r = cache_repair_write(sv, fio, msg, sizeof(msg));
		d = pd_io_mem_data(mem);
		if (!r) {
			struct cache_salvage *again;
			struct seen *s;

			assert_int_equal(pd_validate(&cache_sb_validator, d, 0,
						     NULL),
					 0);
			s = salvage(mem, &again);
			assert_source(s, 0, 0, NR_CBLOCKS);
			free(s);
			cache_salvage_destroy(again);
			pd_io_destroy(fio);
			break;
		}
		assert_true(r < 0);
		/*
		 * Half written: block 0 must not be a superblock, unless the
		 * very first write (zeroing it) failed and so nothing at all
		 * was written: then the old one is intact.
		 */
		if (!pd_validate(&cache_sb_validator, d, 0, NULL)) {
			assert_int_equal(n, 1);
			assert_memory_equal(d, pd_io_mem_data(src),
					    PD_BLOCK_SIZE);
		}
		pd_io_destroy(fio);
	}
	assert_true(n > 3);
	cache_salvage_destroy(sv);
	pd_io_destroy(src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intact),
		cmocka_unit_test(test_lost_array_block),
		cmocka_unit_test(test_lost_dirty_bitset),
		cmocka_unit_test(test_nr_zeroed),
		cmocka_unit_test(test_hint_size),
		cmocka_unit_test(test_v2_labelled_v1),
		cmocka_unit_test(test_write_faults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
