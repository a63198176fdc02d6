// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_dump() in memory: metadata written by the library's restore from a
 * known event stream must dump back as exactly that stream (v1 and v2,
 * hint widths 0, 4 and 8, discards, an empty cache); damage without repair
 * gives no events at all; repair loses exactly the damaged block and turns
 * unreadable v2 dirty bits dirty; sizes the device cannot hold are refused
 * without being allocated; fields no restore can write (block size 0, a
 * policy name without NUL, a bad hint width) and mappings it refuses (an
 * origin mapped twice, past the discard geometry) refuse the dump without
 * repair and are fixed with it; emitter and before_emit errors stop it.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/endian.h"
#include "cache/dump.h"
#include "cache/format.h"
#include "cache/restore.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"

#define DEV_BLOCKS 4096u

/* ---- an emitter that writes each event as a line of text ---- */

struct rec {
	char *buf;
	size_t len, cap;
	int n;			/* events seen */
	int fail_at;		/* fail the n-th event (1-based), 0 = never */
	int fail_err;
};

static int rec_add(struct rec *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int rec_add(struct rec *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->cap - r->len < 512) {
		r->cap = r->cap ? r->cap * 2 : 65536;
		r->buf = realloc(r->buf, r->cap);
		assert_non_null(r->buf);
	}
	va_start(ap, fmt);
	n = vsnprintf(r->buf + r->len, r->cap - r->len, fmt, ap);
	va_end(ap);
	r->len += (size_t)n;
	if (++r->n == r->fail_at)
		return r->fail_err;
	return 0;
}

static int r_begin_sb(void *ctx, const struct cache_emit_sb *sb)
{
	return rec_add(ctx, "sb uuid=%.16s bs=%" PRIu64 " nr=%" PRIu64
		       " policy=%s hw=%u\n", (const char *)sb->uuid,
		       sb->block_size, sb->nr_cache_blocks, sb->policy,
		       sb->hint_width);
}

static int r_end_sb(void *ctx) { return rec_add(ctx, "/sb\n"); }
static int r_begin_m(void *ctx) { return rec_add(ctx, "mappings\n"); }
static int r_end_m(void *ctx) { return rec_add(ctx, "/mappings\n"); }
static int r_begin_h(void *ctx) { return rec_add(ctx, "hints\n"); }
static int r_end_h(void *ctx) { return rec_add(ctx, "/hints\n"); }
static int r_end_d(void *ctx) { return rec_add(ctx, "/discards\n"); }

static int r_mapping(void *ctx, uint64_t c, uint64_t o, int dirty)
{
	return rec_add(ctx, "m %" PRIu64 " %" PRIu64 " %d\n", c, o, dirty);
}

static int r_hint(void *ctx, uint64_t c, const void *data, uint32_t len)
{
	char hex[2 * CACHE_MAX_HINT_SIZE + 1];

	for (uint32_t i = 0; i < len && i < CACHE_MAX_HINT_SIZE; i++)
		sprintf(hex + 2 * i, "%02x", ((const unsigned char *)data)[i]);
	hex[2 * (len < CACHE_MAX_HINT_SIZE ? len : CACHE_MAX_HINT_SIZE)] = 0;
	return rec_add(ctx, "h %" PRIu64 " %s\n", c, hex);
}

static int r_begin_d(void *ctx, const struct cache_emit_discards *d)
{
	return rec_add(ctx, "discards %" PRIu64 " %" PRIu64 "\n",
		       d->block_size, d->nr_blocks);
}

static int r_discard(void *ctx, uint64_t b, uint64_t e)
{
	return rec_add(ctx, "d %" PRIu64 " %" PRIu64 "\n", b, e);
}

static void rec_emitter(struct rec *r, struct cache_emitter *e)
{
	*e = (struct cache_emitter){
		.ctx = r,
		.begin_superblock = r_begin_sb, .end_superblock = r_end_sb,
		.begin_mappings = r_begin_m, .mapping = r_mapping,
		.end_mappings = r_end_m, .begin_hints = r_begin_h,
		.hint = r_hint, .end_hints = r_end_h,
		.begin_discards = r_begin_d, .discard = r_discard,
		.end_discards = r_end_d,
	};
}

/* ---- a scenario: the events, fed to the restore and to a recorder ---- */

struct scenario {
	uint32_t version;
	uint64_t nr;
	unsigned mapped_pct, dirty_pct;
	uint32_t hint_width;
	int discards;		/* add a discard section */
	int unclean;
};

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

/* Events in the dump's order, so the dump must give back the same text. */
static void feed(const struct scenario *sc, const struct cache_emitter *e)
{
	struct cache_emit_sb sb;
	uint64_t s = 42;
	unsigned char hint[CACHE_MAX_HINT_SIZE];

	memset(&sb, 0, sizeof(sb));
	memcpy(sb.uuid, "uuid-1", 6);
	sb.block_size = 128;
	sb.nr_cache_blocks = sc->nr;
	strcpy(sb.policy, "smq");
	sb.hint_width = sc->hint_width;
	assert_int_equal(e->begin_superblock(e->ctx, &sb), 0);
	assert_int_equal(e->begin_mappings(e->ctx), 0);
	for (uint64_t c = 0; c < sc->nr; c++) {
		uint64_t r = lcg(&s);

		/*
		 * Origin blocks near 2^48, except where a discard geometry
		 * bounds the origin (256 * 5000 sectors = 10000 blocks).
		 */
		uint64_t o = c * 3 + (c & 1 && !sc->discards ? 1ull << 47 : 0);

		if (r % 100 < sc->mapped_pct)
			assert_int_equal(e->mapping(e->ctx, c, o,
						    (r >> 8) % 100 < sc->dirty_pct), 0);
	}
	assert_int_equal(e->end_mappings(e->ctx), 0);
	assert_int_equal(e->begin_hints(e->ctx), 0);
	s = 42;
	for (uint64_t c = 0; c < sc->nr; c++) {
		uint64_t r = lcg(&s);

		if (r % 100 >= sc->mapped_pct || !sc->hint_width)
			continue;
		for (uint32_t i = 0; i < sc->hint_width; i++)
			hint[i] = (unsigned char)(c * 7 + i);
		assert_int_equal(e->hint(e->ctx, c, hint, sc->hint_width), 0);
	}
	assert_int_equal(e->end_hints(e->ctx), 0);
	if (sc->discards) {
		struct cache_emit_discards d = { 256, 5000 };

		assert_int_equal(e->begin_discards(e->ctx, &d), 0);
		assert_int_equal(e->discard(e->ctx, 0, 1), 0);
		assert_int_equal(e->discard(e->ctx, 63, 65), 0);
		assert_int_equal(e->discard(e->ctx, 4000, 5000), 0);
		assert_int_equal(e->end_discards(e->ctx), 0);
	}
	assert_int_equal(e->end_superblock(e->ctx), 0);
}

/* A memory device holding the scenario's metadata, written by the restore. */
static struct pd_io *make_image(const struct scenario *sc)
{
	struct cache_restore_opts o = {
		.version = sc->version,
		.flags = sc->unclean ? CACHE_RESTORE_OMIT_CLEAN_SHUTDOWN : 0,
	};
	struct cache_restore *rs;
	struct cache_emitter e;
	struct pd_io *io;

	assert_int_equal(pd_io_mem_create(DEV_BLOCKS, &io), 0);
	assert_int_equal(cache_restore_create(io, &o, &rs), 0);
	cache_restore_emitter(rs, &e);
	feed(sc, &e);
	assert_int_equal(cache_restore_commit(rs), 0);
	cache_restore_destroy(rs);
	return io;
}

static char *expected_text(const struct scenario *sc)
{
	struct rec r = { 0 };
	struct cache_emitter e;

	rec_emitter(&r, &e);
	feed(sc, &e);
	return r.buf;
}

struct emit_count {
	int calls;
	int ret;
};

static int count_before_emit(void *ctx, const struct cache_dump_result *res)
{
	struct emit_count *c = ctx;

	(void)res;
	c->calls++;
	return c->ret;
}

/* Dumps io into a fresh recorder; returns cache_dump's value. */
static int dump(struct pd_io *io, unsigned flags, struct rec *r,
		struct cache_dump_result *res, struct emit_count *ec)
{
	struct cache_dump_opts o = { .flags = flags };
	struct cache_emitter e;

	if (ec) {
		o.before_emit = count_before_emit;
		o.ctx = ec;
	}
	rec_emitter(r, &e);
	return cache_dump(io, &o, &e, res);
}

static void roundtrip(const struct scenario *sc)
{
	struct pd_io *io = make_image(sc);
	char *want = expected_text(sc);
	struct rec r = { 0 };
	struct cache_dump_result res;
	struct emit_count ec = { 0, 0 };

	assert_int_equal(dump(io, 0, &r, &res, &ec), 0);
	assert_int_equal(res.status, CACHE_DUMP_OK);
	assert_int_equal(ec.calls, 1);
	assert_non_null(r.buf);
	assert_string_equal(r.buf, want);
	assert_int_equal(res.sb.version, sc->version);
	assert_int_equal(!(res.sb.flags & CACHE_SB_CLEAN_SHUTDOWN),
			 !!sc->unclean);
	assert_int_equal(res.nr_damage, 0);
	free(r.buf);
	free(want);
	pd_io_destroy(io);
}

static void test_roundtrip_v1(void **state)
{
	struct scenario sc = { 1, 3000, 60, 40, 4, 0, 0 };

	(void)state;
	roundtrip(&sc);
}

static void test_roundtrip_v2(void **state)
{
	/* Two dirty bitset words' worth past a block boundary. */
	struct scenario sc = { 2, 33000, 50, 50, 4, 0, 0 };

	(void)state;
	roundtrip(&sc);
}

static void test_roundtrip_discards_width8(void **state)
{
	struct scenario v1 = { 1, 700, 70, 30, 8, 1, 0 };
	struct scenario v2 = { 2, 700, 70, 30, 8, 1, 1 };

	(void)state;
	roundtrip(&v1);
	roundtrip(&v2);
}

static void test_roundtrip_empty(void **state)
{
	struct scenario none = { 2, 100, 0, 0, 4, 0, 0 };
	struct scenario zero = { 1, 0, 0, 0, 4, 0, 0 };

	(void)state;
	roundtrip(&none);
	roundtrip(&zero);
}

/* The first block with this array header, from `from` on. */
static uint64_t find_array_block(struct pd_io *io, uint32_t value_size,
				 uint32_t nr_entries, uint64_t from)
{
	unsigned char *d = pd_io_mem_data(io);

	for (uint64_t b = from; b < DEV_BLOCKS; b++) {
		const struct pd_array_header *h =
			(const void *)(d + b * PD_BLOCK_SIZE);

		if (pd_validate(&pd_array_validator, h, b, NULL) == 0 &&
		    le32_to_cpu(h->value_size) == value_size &&
		    le32_to_cpu(h->nr_entries) == nr_entries)
			return b;
	}
	fail_msg("no array block with value size %u, %u entries", value_size,
		 nr_entries);
	return 0;
}

static void flip(struct pd_io *io, uint64_t block, unsigned offset)
{
	pd_io_mem_data(io)[block * PD_BLOCK_SIZE + offset] ^= 0x01;
}

static void test_damage(void **state)
{
	/* 4 full mapping blocks of 509: whichever is hit loses 509. */
	struct scenario sc = { 1, 2036, 80, 40, 4, 0, 0 };
	struct pd_io *io = make_image(&sc);
	struct rec r = { 0 };
	struct cache_dump_result res;
	struct emit_count ec = { 0, 0 };
	uint64_t b = find_array_block(io, 8, 509, 1);

	(void)state;
	flip(io, b, 2000);
	assert_int_equal(dump(io, 0, &r, &res, &ec), -EUCLEAN);
	assert_int_equal(res.status, CACHE_DUMP_DAMAGED);
	assert_string_equal(res.structure, "mapping array");
	assert_int_equal(res.fault.block, b);
	assert_int_equal(r.n, 0);		/* not a single event */
	assert_int_equal(ec.calls, 0);

	assert_int_equal(dump(io, CACHE_DUMP_REPAIR, &r, &res, &ec), 0);
	assert_int_equal(res.status, CACHE_DUMP_OK);
	assert_int_equal(res.nr_damage, 1);
	assert_int_equal(res.lost_mappings, 509);
	assert_int_equal(res.lost_hints, 0);
	assert_true(res.nr_mappings > 0);
	assert_int_equal(res.nr_hints, res.nr_mappings);
	assert_int_equal(ec.calls, 1);
	free(r.buf);
	pd_io_destroy(io);
}

static void test_lost_dirty_bits_are_dirty(void **state)
{
	/* 2036 bits: one dirty bitset block of 32 words. */
	struct scenario sc = { 2, 2036, 80, 10, 4, 0, 0 };
	struct pd_io *io = make_image(&sc);
	struct rec r = { 0 };
	struct cache_dump_result res;

	(void)state;
	assert_int_equal(dump(io, 0, &r, &res, NULL), 0);
	assert_true(res.nr_dirty < res.nr_mappings);
	free(r.buf);
	memset(&r, 0, sizeof(r));

	flip(io, find_array_block(io, 8, 32, 1), 100);
	assert_int_equal(dump(io, 0, &r, &res, NULL), -EUCLEAN);
	assert_string_equal(res.structure, "dirty bitset");
	assert_int_equal(r.n, 0);
	assert_int_equal(dump(io, CACHE_DUMP_REPAIR, &r, &res, NULL), 0);
	assert_int_equal(res.lost_dirty, 2036);
	assert_int_equal(res.lost_mappings, 0);
	assert_true(res.nr_mappings > 0);
	assert_int_equal(res.nr_dirty, res.nr_mappings);
	free(r.buf);
	pd_io_destroy(io);
}

/*
 * hint_width 0 (no hint array) dumps as 0, not as the 4 that 0.9.0 prints
 * for a hint_root of 0: a 4 would make the next restore write zero hints.
 */
static void test_roundtrip_no_hints(void **state)
{
	struct scenario v1 = { 1, 500, 60, 40, 0, 0, 0 };
	struct scenario v2 = { 2, 500, 60, 40, 0, 1, 1 };

	(void)state;
	roundtrip(&v1);
	roundtrip(&v2);
}

/* Re-stamps the superblock after a field was changed. */
static void patch_sb(struct pd_io *io, unsigned offset, unsigned size,
		     uint64_t value)
{
	unsigned char *d = pd_io_mem_data(io);

	if (size == 4)
		store_le32(d + offset, (uint32_t)value);
	else
		store_le64(d + offset, value);
	pd_validator_prepare(&cache_sb_validator, d, 0);
}

/*
 * Fields no restore can write: refused without repair (no events), fixed
 * and flagged with it, so that whatever the dump emits can be restored.
 */
static void test_unrestorable_fields(void **state)
{
	struct scenario sc = { 1, 300, 50, 50, 4, 0, 0 };
	struct pd_io *io = make_image(&sc);
	unsigned char *d = pd_io_mem_data(io);
	struct rec r = { 0 };
	struct cache_dump_result res;

	(void)state;
	patch_sb(io, offsetof(struct cache_disk_sb, data_block_size), 4, 0);
	assert_int_equal(dump(io, 0, &r, &res, NULL), -EILSEQ);
	assert_int_equal(res.status, CACHE_DUMP_SB_INVALID);
	assert_int_equal(res.violation.problem, CACHE_SB_DATA_BLOCK_SIZE);
	assert_int_equal(r.n, 0);
	assert_int_equal(dump(io, CACHE_DUMP_REPAIR, &r, &res, NULL), 0);
	assert_int_equal(res.fixed, CACHE_DUMP_FIX_BLOCK_SIZE);
	assert_int_equal(strncmp(r.buf, "sb uuid=uuid-1 bs=128 nr=300 policy=smq hw=4\n", 45), 0);
	free(r.buf);
	memset(&r, 0, sizeof(r));
	patch_sb(io, offsetof(struct cache_disk_sb, data_block_size), 4, 128);

	memcpy(d + offsetof(struct cache_disk_sb, policy_name),
	       "0123456789abcdef", 16);
	pd_validator_prepare(&cache_sb_validator, d, 0);
	assert_int_equal(dump(io, 0, &r, &res, NULL), -EILSEQ);
	assert_int_equal(res.status, CACHE_DUMP_SB_INVALID);
	assert_int_equal(res.violation.problem, CACHE_SB_POLICY_NAME);
	assert_int_equal(r.n, 0);
	assert_int_equal(dump(io, CACHE_DUMP_REPAIR, &r, &res, NULL), 0);
	assert_int_equal(res.fixed, CACHE_DUMP_FIX_POLICY);
	assert_int_equal(strncmp(r.buf, "sb uuid=uuid-1 bs=128 nr=300 policy=0123456789abcde hw=4\n", 57), 0);
	free(r.buf);
	memset(&r, 0, sizeof(r));
	memcpy(d + offsetof(struct cache_disk_sb, policy_name), "smq\0", 4);
	pd_validator_prepare(&cache_sb_validator, d, 0);

	/* A width no restore takes: its hints go, and it is printed as 0. */
	patch_sb(io, offsetof(struct cache_disk_sb, policy_hint_size), 4, 6);
	assert_int_equal(dump(io, 0, &r, &res, NULL), -EILSEQ);
	assert_int_equal(res.violation.problem, CACHE_SB_HINT_SIZE);
	assert_int_equal(dump(io, CACHE_DUMP_REPAIR, &r, &res, NULL), 0);
	assert_int_equal(res.fixed, CACHE_DUMP_FIX_HINT_WIDTH);
	assert_int_equal(res.hint_width, 0);
	assert_int_equal(res.nr_hints, 0);
	assert_int_equal(strncmp(r.buf, "sb uuid=uuid-1 bs=128 nr=300 policy=smq hw=0\n", 45), 0);
	assert_non_null(strstr(r.buf, "hints\n/hints\n"));
	free(r.buf);
	memset(&r, 0, sizeof(r));

	/* 8 is a width the restore takes: kept, its (unreadable) hints lost. */
	patch_sb(io, offsetof(struct cache_disk_sb, policy_hint_size), 4, 8);
	assert_int_equal(dump(io, CACHE_DUMP_REPAIR, &r, &res, NULL), 0);
	assert_int_equal(res.fixed, 0);
	assert_int_equal(res.hint_width, 8);
	free(r.buf);
	pd_io_destroy(io);
}

/* Sets mapping entry c of the v1 scenario's mapping array, re-stamped. */
static void set_mapping(struct pd_io *io, uint32_t nr, uint64_t c,
			uint64_t value)
{
	uint64_t b = find_array_block(io, 8, nr, 1);
	unsigned char *blk = pd_io_mem_data(io) + b * PD_BLOCK_SIZE;

	store_le64(blk + sizeof(struct pd_array_header) + c * 8, value);
	pd_validator_prepare(&pd_array_validator, blk, b);
}

/*
 * Mappings the restore refuses: without repair damage (no events), with
 * it the dump leaves out what cache_repair would, and says so.
 */
static void test_unrestorable_mappings(void **state)
{
	/* Every block mapped, none dirty: origin c * 3 (+ 2^47 if odd, so
	 * sparse: the sort finds the duplicate), or c * 3 with discards. */
	struct scenario sc = { 1, 300, 100, 0, 4, 0, 0 };
	struct scenario geo = { 1, 300, 100, 0, 4, 1, 0 };
	struct pd_io *io = make_image(&sc);
	struct rec r = { 0 };
	struct cache_dump_result res;

	(void)state;
	/* Cache block 5 maps cache block 2's origin 6, and is dirty. */
	set_mapping(io, 300, 5, cache_mapping_pack(6, CACHE_M_VALID |
						    CACHE_M_DIRTY));
	assert_int_equal(dump(io, 0, &r, &res, NULL), -EUCLEAN);
	assert_int_equal(res.status, CACHE_DUMP_DAMAGED);
	assert_string_equal(res.structure, "mapping array");
	assert_int_equal(r.n, 0);
	assert_int_equal(dump(io, CACHE_DUMP_REPAIR, &r, &res, NULL), 0);
	assert_int_equal(res.fixed, CACHE_DUMP_FIX_DUPLICATES);
	assert_int_equal(res.nr_duplicates, 1);
	assert_int_equal(res.nr_mappings, 299);
	/* The dirty one stays; the clean cache block 2 and its hint go. */
	assert_non_null(strstr(r.buf, "m 5 6 1\n"));
	assert_null(strstr(r.buf, "m 2 "));
	assert_null(strstr(r.buf, "h 2 "));
	free(r.buf);
	memset(&r, 0, sizeof(r));
	/* Both clean: the lower cache block stays. */
	set_mapping(io, 300, 5, cache_mapping_pack(6, CACHE_M_VALID));
	assert_int_equal(dump(io, CACHE_DUMP_REPAIR, &r, &res, NULL), 0);
	assert_non_null(strstr(r.buf, "m 2 6 0\n"));
	assert_null(strstr(r.buf, "m 5 "));
	free(r.buf);
	memset(&r, 0, sizeof(r));
	pd_io_destroy(io);

	/* 5000 discard blocks of 256 sectors: 10000 blocks of 128. */
	io = make_image(&geo);
	set_mapping(io, 300, 7, cache_mapping_pack(9999, CACHE_M_VALID));
	assert_int_equal(dump(io, 0, &r, &res, NULL), 0);
	assert_non_null(strstr(r.buf, "discards 256 5000\n"));
	free(r.buf);
	memset(&r, 0, sizeof(r));
	set_mapping(io, 300, 7, cache_mapping_pack(10000, CACHE_M_VALID));
	assert_int_equal(dump(io, 0, &r, &res, NULL), -EUCLEAN);
	assert_int_equal(res.status, CACHE_DUMP_DAMAGED);
	assert_string_equal(res.structure, "discard geometry");
	assert_int_equal(r.n, 0);
	assert_int_equal(dump(io, CACHE_DUMP_REPAIR, &r, &res, NULL), 0);
	assert_int_equal(res.fixed, CACHE_DUMP_FIX_DISCARDS);
	assert_int_equal(res.lost_discards, 5000);
	assert_non_null(strstr(r.buf, "m 7 10000 0\n"));
	assert_null(strstr(r.buf, "discards"));
	free(r.buf);
	memset(&r, 0, sizeof(r));

	/* Dense origins (the bitmap finds it, not the sort): block 5 maps 6. */
	set_mapping(io, 300, 7, cache_mapping_pack(21, CACHE_M_VALID));
	set_mapping(io, 300, 5, cache_mapping_pack(6, CACHE_M_VALID));
	assert_int_equal(dump(io, 0, &r, &res, NULL), -EUCLEAN);
	assert_string_equal(res.structure, "mapping array");
	assert_int_equal(r.n, 0);
	assert_int_equal(dump(io, CACHE_DUMP_REPAIR, &r, &res, NULL), 0);
	assert_int_equal(res.fixed, CACHE_DUMP_FIX_DUPLICATES);
	assert_non_null(strstr(r.buf, "m 2 6 0\n"));
	assert_null(strstr(r.buf, "m 5 "));
	assert_non_null(strstr(r.buf, "discards 256 5000\n"));
	free(r.buf);
	pd_io_destroy(io);
}

static void test_sizes_beyond_the_device(void **state)
{
	struct scenario sc = { 2, 1000, 50, 50, 4, 1, 0 };
	struct pd_io *io = make_image(&sc);
	struct rec r = { 0 };
	struct cache_dump_result res;

	(void)state;
	/* discard_nr_blocks: far more bits than the device can store. */
	patch_sb(io, offsetof(struct cache_disk_sb, discard_nr_blocks), 8,
		 1ull << 62);
	assert_int_equal(dump(io, 0, &r, &res, NULL), -EUCLEAN);
	assert_string_equal(res.structure, "discard bitset");
	assert_int_equal(dump(io, CACHE_DUMP_REPAIR, &r, &res, NULL), 0);
	assert_int_equal(res.lost_discards, 1ull << 62);
	assert_null(strstr(r.buf, "discards"));
	free(r.buf);
	memset(&r, 0, sizeof(r));

	/* cache_blocks: 2^32 - 1 cannot fit 4096 blocks; even repair stops. */
	patch_sb(io, offsetof(struct cache_disk_sb, cache_blocks), 4,
		 UINT32_MAX);
	assert_int_equal(dump(io, CACHE_DUMP_REPAIR, &r, &res, NULL), -EILSEQ);
	assert_int_equal(res.status, CACHE_DUMP_SB_GEOMETRY);
	assert_int_equal(r.n, 0);
	pd_io_destroy(io);
}

static void test_emitter_errors(void **state)
{
	struct scenario sc = { 1, 500, 90, 50, 4, 0, 0 };
	struct pd_io *io = make_image(&sc);
	struct rec r = { .fail_at = 5, .fail_err = -ENOSPC };
	struct cache_dump_result res;
	struct emit_count ec = { 0, -EACCES };

	(void)state;
	assert_int_equal(dump(io, 0, &r, &res, NULL), -ENOSPC);
	assert_int_equal(res.status, CACHE_DUMP_ERROR);
	assert_int_equal(res.err, -ENOSPC);
	assert_int_equal(r.n, 5);		/* nothing after the failure */
	free(r.buf);
	memset(&r, 0, sizeof(r));

	assert_int_equal(dump(io, 0, &r, &res, &ec), -EACCES);
	assert_int_equal(res.status, CACHE_DUMP_ERROR);
	assert_int_equal(ec.calls, 1);
	assert_int_equal(r.n, 0);
	pd_io_destroy(io);
}

static void test_superblock(void **state)
{
	struct scenario sc = { 1, 100, 50, 50, 4, 0, 0 };
	struct pd_io *io = make_image(&sc);
	struct rec r = { 0 };
	struct cache_dump_result res;
	unsigned char *d = pd_io_mem_data(io);

	(void)state;
	patch_sb(io, offsetof(struct cache_disk_sb, version), 4, 3);
	assert_int_equal(dump(io, 0, &r, &res, NULL), -EILSEQ);
	assert_int_equal(res.status, CACHE_DUMP_SB_VERSION);
	patch_sb(io, offsetof(struct cache_disk_sb, version), 4, 1);
	d[300] ^= 1;
	assert_int_equal(dump(io, CACHE_DUMP_REPAIR, &r, &res, NULL), -EILSEQ);
	assert_int_equal(res.status, CACHE_DUMP_SB_CSUM);
	memset(d, 0, PD_BLOCK_SIZE);
	assert_int_equal(dump(io, 0, &r, &res, NULL), -EILSEQ);
	assert_int_equal(res.status, CACHE_DUMP_SB_ZEROED);
	assert_int_equal(r.n, 0);
	pd_io_destroy(io);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_v1),
		cmocka_unit_test(test_roundtrip_v2),
		cmocka_unit_test(test_roundtrip_discards_width8),
		cmocka_unit_test(test_roundtrip_empty),
		cmocka_unit_test(test_roundtrip_no_hints),
		cmocka_unit_test(test_damage),
		cmocka_unit_test(test_lost_dirty_bits_are_dirty),
		cmocka_unit_test(test_unrestorable_fields),
		cmocka_unit_test(test_unrestorable_mappings),
		cmocka_unit_test(test_sizes_beyond_the_device),
		cmocka_unit_test(test_emitter_errors),
		cmocka_unit_test(test_superblock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
