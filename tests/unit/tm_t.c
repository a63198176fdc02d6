// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The transaction manager: the commit sequence on a fresh device, the
 * allocator's rules (superblock reserved, blocks freed in a transaction not
 * reused before commit, -ENOSPC), shadowing, and crash safety: every write
 * of a bulk build and of an in-place update is failed in turn (sticky, so
 * the device is dead from there on), and the image left behind must be
 * exactly the old state or exactly the new one, checked by the independent
 * verifier in pdverify.h (trees, array contents, space map vs recount).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pdata/array.h"
#include "pdata/bitset.h"
#include "pdata/btree.h"
#include "pdata/io.h"
#include "pdata/tm.h"
#include "pdverify.h"

struct rig {
	struct pd_io *mem, *io;	/* io is mem, or a fault engine over it */
	struct pd_bm *bm;
	struct pd_tm *tm;
};

/* A rig over a memory device; with fail_at != 0, write fail_at fails. */
static void rig_init(struct rig *g, uint64_t nr_blocks, const void *image,
		     uint64_t fail_at, unsigned cache)
{
	memset(g, 0, sizeof(*g));
	assert_int_equal(pd_io_mem_create(nr_blocks, &g->mem), 0);
	if (image)
		memcpy(pd_io_mem_data(g->mem), image, nr_blocks * PD_BLOCK_SIZE);
	g->io = g->mem;
	if (fail_at) {
		struct pd_io_fault_plan p = { fail_at, 0, UINT64_MAX, 1 };

		assert_int_equal(pd_io_fault_create(g->mem, &p, &g->io), 0);
	}
	assert_int_equal(pd_bm_create(g->io, cache, &g->bm), 0);
}

static void rig_release(struct rig *g)
{
	pd_tm_destroy(g->tm);
	pd_bm_destroy(g->bm);
	pd_io_destroy(g->io);	/* a fault engine owns mem */
}

static const unsigned char *rig_image(struct rig *g)
{
	return pd_io_mem_data(g->mem);
}

static uint64_t value_of(uint64_t i, uint64_t gen)
{
	return (i * 0x9E3779B97F4A7C15ull) ^ gen;
}

/* Builds an array of len values (generation 1) plus a small btree. */
static int bulk_build(struct pd_tm *tm, struct tsb *sb, uint64_t len)
{
	struct pd_array_builder *ab;
	struct pd_btree_builder *bb;
	unsigned char v[8];
	int r;

	r = pd_array_builder_create(tm, 8, &ab);
	if (r < 0)
		return r;
	for (uint64_t i = 0; i < len && r == 0; i++) {
		store_le64(v, value_of(i, 1));
		r = pd_array_builder_add(ab, v);
	}
	if (r == 0)
		r = pd_array_builder_finish(ab, &sb->array_root);
	pd_array_builder_destroy(ab);
	if (r < 0)
		return r;
	r = pd_btree_builder_create(tm, 8, &bb);
	if (r < 0)
		return r;
	for (uint64_t k = 0; k < 300 && r == 0; k++) {
		store_le64(v, k * 7);
		r = pd_btree_builder_add(bb, k * 3, v);
	}
	if (r == 0)
		r = pd_btree_builder_finish(bb, &sb->btree_root);
	pd_btree_builder_destroy(bb);
	sb->array_len = len;
	sb->generation = 1;
	return r;
}

static void check_bulk_state(const struct vstate *s, uint64_t len)
{
	assert_int_equal(s->generation, 1);
	assert_int_equal(s->array_len, len);
	for (uint64_t i = 0; i < len; i++)
		assert_int_equal(load_le64(s->array + 8 * i), value_of(i, 1));
	assert_int_equal(s->nr_entries, 300);
	for (uint64_t k = 0; k < 300; k++) {
		assert_int_equal(s->keys[k], k * 3);
		assert_int_equal(s->vals[k], k * 7);
	}
}

static void test_fresh_commit(void **state)
{
	struct rig g;
	struct tsb sb = { 0 };
	struct vstate s;
	char why[200];

	(void)state;
	rig_init(&g, 256, NULL, 0, 16);
	assert_int_equal(pd_tm_create(g.bm, &g.tm), 0);
	assert_int_equal(pd_tm_nr_blocks(g.tm), 256);
	assert_int_equal(pd_tm_ref_count(g.tm, 0), 1);
	assert_int_equal(bulk_build(g.tm, &sb, 1000), 0);
	/* Sequential allocation after the superblock. */
	for (uint64_t b = 1; b < pd_tm_nr_allocated(g.tm); b++)
		assert_int_equal(pd_tm_ref_count(g.tm, b), 1);
	assert_int_equal(pd_tm_commit(g.tm, tsb_fill, &sb, &tsb_validator), 0);
	if (vimage(rig_image(&g), 256, &s, why, sizeof(why)))
		fail_msg("%s", why);
	check_bulk_state(&s, 1000);
	/* 2 array blocks, 1 leaf, 2 btree leaves + root, index, bitmap, ovf. */
	assert_int_equal(s.sm.nr_allocated, 1 + 2 + 1 + 3 + 3);
	assert_int_equal(s.sm.nr_blocks, 256);
	vstate_release(&s);
	rig_release(&g);
}

static void test_enospc(void **state)
{
	struct rig g;
	struct tsb sb = { 0 };
	uint64_t b;

	(void)state;
	rig_init(&g, 8, NULL, 0, 16);
	assert_int_equal(pd_tm_create(g.bm, &g.tm), 0);
	for (int i = 1; i < 8; i++) {
		assert_int_equal(pd_tm_alloc(g.tm, &b), 0);
		assert_int_equal(b, (uint64_t)i);
	}
	assert_int_equal(pd_tm_alloc(g.tm, &b), -ENOSPC);
	/* Freed in this transaction, never committed: reusable at once. */
	assert_int_equal(pd_tm_dec(g.tm, 3), 0);
	assert_int_equal(pd_tm_dec(g.tm, 3), -EUCLEAN);
	assert_int_equal(pd_tm_alloc(g.tm, &b), 0);
	assert_int_equal(b, 3);
	assert_int_equal(pd_tm_inc(g.tm, 8), -EINVAL);
	/* No room for the space map: the commit fails and writes nothing. */
	assert_int_equal(pd_tm_commit(g.tm, tsb_fill, &sb, &tsb_validator),
			 -ENOSPC);
	for (size_t i = 0; i < 8 * PD_BLOCK_SIZE; i++)
		if (rig_image(&g)[i])
			fail_msg("byte %zu written", i);
	rig_release(&g);
}

/* Blocks in use at the last commit are not reused, even once free. */
static void test_no_reuse_before_commit(void **state)
{
	struct rig g;
	struct tsb sb = { 0 };
	struct vstate s;
	char why[200];
	uint64_t b, first_free;
	unsigned char v[8];

	(void)state;
	rig_init(&g, 64, NULL, 0, 16);
	assert_int_equal(pd_tm_create(g.bm, &g.tm), 0);
	assert_int_equal(bulk_build(g.tm, &sb, 10), 0);
	assert_int_equal(pd_tm_commit(g.tm, tsb_fill, &sb, &tsb_validator), 0);
	first_free = pd_tm_nr_allocated(g.tm);
	/* Array block 0 is committed: setting a value copies it. */
	store_le64(v, 77);
	b = sb.array_root;
	assert_int_equal(pd_array_set(g.tm, &sb.array_root, 8, 10, 4, v), 0);
	assert_int_not_equal(sb.array_root, b);
	/* The old leaf and array block are free now but not allocatable. */
	assert_int_equal(pd_tm_ref_count(g.tm, b), 0);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(pd_tm_alloc(g.tm, &b), 0);
		assert_true(b >= first_free);
		assert_int_equal(pd_tm_dec(g.tm, b), 0);
	}
	sb.generation = 2;
	assert_int_equal(pd_tm_commit(g.tm, tsb_fill, &sb, &tsb_validator), 0);
	if (vimage(rig_image(&g), 64, &s, why, sizeof(why)))
		fail_msg("%s", why);
	assert_int_equal(load_le64(s.array + 8 * 4), 77);
	assert_int_equal(load_le64(s.array + 8 * 3), value_of(3, 1));
	vstate_release(&s);
	rig_release(&g);
}

/*
 * Fail each write of a fresh bulk build + commit in turn.  Before the
 * superblock lands the device must hold no valid superblock (the old state
 * of a fresh device); after, the complete new state.
 */
static void test_bulk_crash_loop(void **state)
{
	const uint64_t nr = 512, len = 20000;
	uint64_t total = 0;

	(void)state;
	for (uint64_t n = 1;; n++) {
		struct rig g;
		struct tsb sb = { 0 };
		struct vstate s;
		char why[200];
		int r;

		rig_init(&g, nr, NULL, n, 16);
		r = pd_tm_create(g.bm, &g.tm);
		if (r == 0)
			r = bulk_build(g.tm, &sb, len);
		if (r == 0)
			r = pd_tm_commit(g.tm, tsb_fill, &sb, &tsb_validator);
		if (vimage(rig_image(&g), nr, &s, why, sizeof(why)) == 0) {
			check_bulk_state(&s, len);
			vstate_release(&s);
		} else {
			/* Nothing valid, and no superblock at all. */
			assert_int_not_equal(r, 0);
			for (size_t i = 0; i < PD_BLOCK_SIZE; i++)
				assert_int_equal(rig_image(&g)[i], 0);
		}
		total = pd_io_fault_writes(g.io);
		rig_release(&g);
		if (r == 0) {
			/* The write to fail was past the last one. */
			assert_true(total < n);
			break;
		}
		assert_int_equal(r, -EIO);
	}
	/* Enough writes to make the loop mean something. */
	assert_true(total > 40);
}

static void do_updates(struct pd_tm *tm, struct tsb *sb, int *r)
{
	unsigned char v[8];

	/* Spread over several array blocks and both ends of the btree. */
	for (uint64_t i = 0; i < sb->array_len && *r == 0; i += 997) {
		store_le64(v, value_of(i, 2));
		*r = pd_array_set(tm, &sb->array_root, 8, sb->array_len, i, v);
	}
	for (uint64_t k = 0; k < 40 && *r == 0; k++) {
		store_le64(v, k);
		*r = pd_btree_insert(tm, &sb->btree_root, 8, 1000 + k, v);
	}
	for (uint64_t k = 0; k < 120 && *r == 0; k++)
		*r = pd_btree_remove(tm, &sb->btree_root, 8, k * 3);
	sb->generation = 2;
}

static void check_updated_state(const struct vstate *s, uint64_t len)
{
	assert_int_equal(s->generation, 2);
	for (uint64_t i = 0; i < len; i++)
		assert_int_equal(load_le64(s->array + 8 * i),
				 value_of(i, i % 997 ? 1 : 2));
	assert_int_equal(s->nr_entries, 300 - 120 + 40);
	for (uint64_t j = 0; j < s->nr_entries; j++) {
		uint64_t k = j < 180 ? (j + 120) * 3 : 1000 + (j - 180);

		assert_int_equal(s->keys[j], k);
		assert_int_equal(s->vals[j], j < 180 ? (j + 120) * 7 : j - 180);
	}
}

/*
 * One device, two transactions in one manager: a clean commit 1, then the
 * updates and commit 2 with write n (counted from the start of the run)
 * failing.  Afterwards the image is generation 1 or generation 2 exactly.
 */
static void update_crash_loop(int reopen)
{
	const uint64_t nr = 600, len = 20000;
	uint64_t w1 = 0, n;

	for (n = 0;; n++) {
		struct rig g;
		struct tsb sb = { 0 };
		struct vstate s;
		char why[200];
		int r;

		/* n == 0: only counts the writes of commit 1. */
		rig_init(&g, nr, NULL, n ? w1 + n : UINT64_MAX, 16);
		assert_int_equal(pd_tm_create(g.bm, &g.tm), 0);
		assert_int_equal(bulk_build(g.tm, &sb, len), 0);
		assert_int_equal(pd_tm_commit(g.tm, tsb_fill, &sb, &tsb_validator),
				 0);
		if (n == 0) {
			w1 = pd_io_fault_writes(g.io);
			rig_release(&g);
			continue;
		}
		if (reopen) {
			/* As a later run would: a new manager from the disk. */
			pd_tm_destroy(g.tm);
			g.tm = NULL;
			pd_bm_destroy(g.bm);
			assert_int_equal(pd_bm_create(g.io, 16, &g.bm), 0);
			assert_int_equal(pd_tm_open(g.bm, &sb.sm, &g.tm), 0);
			assert_int_equal(pd_tm_nr_allocated(g.tm),
					 sb.sm.nr_allocated);
		}
		r = 0;
		do_updates(g.tm, &sb, &r);
		if (r == 0)
			r = pd_tm_commit(g.tm, tsb_fill, &sb, &tsb_validator);
		if (vimage(rig_image(&g), nr, &s, why, sizeof(why)))
			fail_msg("write %llu failed: image invalid: %s",
				 (unsigned long long)n, why);
		if (s.generation == 1)
			check_bulk_state(&s, len);
		else
			check_updated_state(&s, len);
		vstate_release(&s);
		rig_release(&g);
		if (r == 0)
			break;
		assert_int_equal(r, -EIO);
	}
	assert_true(n > 10);
}

static void test_update_crash_loop(void **state)
{
	(void)state;
	update_crash_loop(0);
}

/* The same, the second transaction in a manager opened from the disk. */
static void test_update_crash_loop_reopen(void **state)
{
	(void)state;
	update_crash_loop(1);
}

/* pd_tm_open refuses a space map it cannot trust. */
static void test_open_damaged(void **state)
{
	struct rig g;
	struct tsb sb = { 0 };
	struct pd_sm_root_cpu bad;
	struct pd_tm *tm2;
	unsigned char *img;

	(void)state;
	rig_init(&g, 128, NULL, 0, 16);
	assert_int_equal(pd_tm_create(g.bm, &g.tm), 0);
	assert_int_equal(bulk_build(g.tm, &sb, 600), 0);
	assert_int_equal(pd_tm_commit(g.tm, tsb_fill, &sb, &tsb_validator), 0);
	pd_bm_destroy(g.bm);
	assert_int_equal(pd_bm_create(g.io, 16, &g.bm), 0);

	assert_int_equal(pd_tm_open(g.bm, &sb.sm, &tm2), 0);
	pd_tm_destroy(tm2);
	bad = sb.sm;
	bad.nr_blocks = 129;		/* past the device */
	assert_int_equal(pd_tm_open(g.bm, &bad, &tm2), -EUCLEAN);
	bad = sb.sm;
	bad.nr_allocated++;
	assert_int_equal(pd_tm_open(g.bm, &bad, &tm2), -EUCLEAN);
	/* A bitmap byte flipped on disk: its checksum no longer matches. */
	img = pd_io_mem_data(g.mem);
	img[load_le64(img + sb.sm.bitmap_root * PD_BLOCK_SIZE + 16) *
	    PD_BLOCK_SIZE + 100] ^= 1;
	pd_bm_destroy(g.bm);
	assert_int_equal(pd_bm_create(g.io, 16, &g.bm), 0);
	assert_int_equal(pd_tm_open(g.bm, &sb.sm, &tm2), -EUCLEAN);
	assert_null(tm2);
	rig_release(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_commit),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_no_reuse_before_commit),
		cmocka_unit_test(test_bulk_crash_loop),
		cmocka_unit_test(test_update_crash_loop),
		cmocka_unit_test(test_update_crash_loop_reopen),
		cmocka_unit_test(test_open_damaged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
