// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The space-map writer: exact bytes of a small map (FORMAT.md §4.4's "aa aa
 * 0a", the kernel nr_free convention, none_free_before), counts of 3 and
 * more in a multi-node overflow tree, several bitmaps with a partial last
 * one, the space map's own blocks counted, and old space maps released (not
 * leaked) by later commits.  What is on disk is compared with the
 * transaction manager's counts by the independent decoder in pdverify.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pdata/btree.h"
#include "pdata/io.h"
#include "pdata/tm.h"
#include "pdverify.h"

struct rig {
	struct pd_io *io;
	struct pd_bm *bm;
	struct pd_tm *tm;
	uint64_t nr_blocks;
};

static void rig_init(struct rig *g, uint64_t nr_blocks)
{
	g->nr_blocks = nr_blocks;
	assert_int_equal(pd_io_mem_create(nr_blocks, &g->io), 0);
	assert_int_equal(pd_bm_create(g->io, 32, &g->bm), 0);
	assert_int_equal(pd_tm_create(g->bm, &g->tm), 0);
}

static void rig_release(struct rig *g)
{
	pd_tm_destroy(g->tm);
	pd_bm_destroy(g->bm);
	pd_io_destroy(g->io);
}

/*
 * Decodes the committed space map and demands it equals the manager's
 * counts: the decoder adds the map's own blocks to `expected` itself, so
 * they are taken out of the copy first.
 */
static void check_map_is_counts(struct rig *g, const struct pd_sm_root_cpu *root)
{
	const unsigned char *img = pd_io_mem_data(g->io);
	uint64_t nr = pd_tm_nr_blocks(g->tm);
	struct vimg v = { img, g->nr_blocks, NULL, 1, "" };
	struct vimg t = { img, g->nr_blocks, NULL, 1, "" };
	const unsigned char *ib = img + root->bitmap_root * PD_BLOCK_SIZE;

	v.expected = calloc(g->nr_blocks, sizeof(uint32_t));
	t.expected = calloc(g->nr_blocks, sizeof(uint32_t));
	assert_non_null(v.expected);
	assert_non_null(t.expected);
	memcpy(v.expected, pd_tm_counts(g->tm), nr * sizeof(uint32_t));
	v.expected[root->bitmap_root]--;
	for (uint64_t i = 0; i * PD_SM_ENTRIES_PER_BITMAP < nr; i++)
		v.expected[load_le64(ib + 16 + 16 * i)]--;
	if (vtree(&t, root->ref_count_root, 4, NULL, NULL))
		fail_msg("overflow tree: %s", t.why);
	for (uint64_t b = 0; b < g->nr_blocks; b++)
		v.expected[b] -= t.expected[b];
	if (vspace_map(&v, root))
		fail_msg("%s", v.why);
	assert_int_equal(root->nr_allocated, pd_tm_nr_allocated(g->tm));
	free(t.expected);
	free(v.expected);
}

static int fill_nothing(void *ctx, void *sb, const struct pd_sm_root_cpu *root)
{
	struct tsb t = { 0 };

	*(struct pd_sm_root_cpu *)ctx = *root;
	return tsb_fill(&t, sb, root);
}

static void test_exact_bytes(void **state)
{
	struct rig g;
	struct pd_sm_root_cpu root;
	const unsigned char *img, *bm, *ib;
	uint64_t b;

	(void)state;
	rig_init(&g, 4096);
	/* Six blocks before the map's three: 0..9 in use after commit. */
	for (int i = 0; i < 6; i++)
		assert_int_equal(pd_tm_alloc(g.tm, &b), 0);
	assert_int_equal(pd_tm_commit(g.tm, fill_nothing, &root, &tsb_validator),
			 0);
	assert_int_equal(root.nr_blocks, 4096);
	assert_int_equal(root.nr_allocated, 10);
	assert_int_equal(root.bitmap_root, 7);	/* index, bitmap, overflow */
	assert_int_equal(root.ref_count_root, 9);
	img = pd_io_mem_data(g.io);
	ib = img + 7 * PD_BLOCK_SIZE;
	assert_int_equal(load_le64(ib + 16), 8);
	assert_int_equal(load_le32(ib + 24), 16320 - 10);	/* kernel nr_free */
	assert_int_equal(load_le32(ib + 28), 10);
	for (size_t i = 32; i < PD_BLOCK_SIZE; i++)
		assert_int_equal(ib[i], 0);
	bm = img + 8 * PD_BLOCK_SIZE;
	assert_int_equal(bm[16], 0xaa);
	assert_int_equal(bm[17], 0xaa);
	assert_int_equal(bm[18], 0x0a);
	for (size_t i = 19; i < PD_BLOCK_SIZE; i++)
		assert_int_equal(bm[i], 0);
	assert_int_equal(pd_validate(&pd_bitmap_validator, bm, 8, NULL), 0);
	assert_int_equal(pd_validate(&pd_index_validator, ib, 7, NULL), 0);
	/* The overflow root: an empty leaf of value size 4. */
	assert_int_equal(load_le32(img + 9 * PD_BLOCK_SIZE + 4), PD_BTREE_LEAF);
	assert_int_equal(load_le32(img + 9 * PD_BLOCK_SIZE + 16), 0);
	assert_int_equal(load_le32(img + 9 * PD_BLOCK_SIZE + 20), 336);
	assert_int_equal(load_le32(img + 9 * PD_BLOCK_SIZE + 24), 4);
	check_map_is_counts(&g, &root);
	rig_release(&g);
}

/* Three bitmaps, the last partial; counts 2, 3, 4 and large; >336 of them. */
static void test_overflow_and_bitmaps(void **state)
{
	const uint64_t nr = 2 * 16320 + 7360;
	struct rig g;
	struct pd_sm_root_cpu root;
	uint64_t b;

	(void)state;
	rig_init(&g, nr);
	for (uint64_t i = 1; i < 3000; i++)
		assert_int_equal(pd_tm_alloc(g.tm, &b), 0);
	for (uint64_t i = 10; i < 1500; i++) {
		unsigned extra = i % 4;		/* counts 1..4 */

		if (i % 97 == 0)
			extra = 100000;
		for (unsigned k = 0; k < extra; k++)
			assert_int_equal(pd_tm_inc(g.tm, i), 0);
	}
	/* Blocks in the second and third bitmaps too. */
	for (uint64_t i = 16320 - 5; i < 16320 + 5; i++)
		assert_int_equal(pd_tm_inc(g.tm, i), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pd_tm_inc(g.tm, nr - 1), 0);
	assert_int_equal(pd_tm_inc(g.tm, nr), -EINVAL);
	assert_int_equal(pd_tm_commit(g.tm, fill_nothing, &root, &tsb_validator),
			 0);
	assert_int_equal(pd_tm_ref_count(g.tm, nr - 1), 3);
	check_map_is_counts(&g, &root);

	/* Counts fall back below 3: entries leave the overflow tree. */
	for (uint64_t i = 10; i < 1500; i++)
		while (pd_tm_ref_count(g.tm, i) > 2)
			assert_int_equal(pd_tm_dec(g.tm, i), 0);
	assert_int_equal(pd_tm_commit(g.tm, fill_nothing, &root, &tsb_validator),
			 0);
	check_map_is_counts(&g, &root);
	rig_release(&g);
}

/* Every commit writes a new map and frees the old: nothing accumulates. */
static void test_old_maps_released(void **state)
{
	struct rig g;
	struct tsb sb = { 0 };
	struct vstate s;
	char why[200];

	(void)state;
	/* 50 commits need far more than 64 blocks unless old maps are reused. */
	rig_init(&g, 64);
	assert_int_equal(pd_btree_empty(g.tm, 8, &sb.btree_root), 0);
	for (int c = 0; c < 50; c++) {
		unsigned char v[8];

		store_le64(v, (uint64_t)c);
		assert_int_equal(pd_btree_insert(g.tm, &sb.btree_root, 8,
						 (uint64_t)c, v), 0);
		sb.generation = (uint64_t)c;
		assert_int_equal(pd_tm_commit(g.tm, tsb_fill, &sb, &tsb_validator),
				 0);
		if (vimage(pd_io_mem_data(g.io), 64, &s, why, sizeof(why)))
			fail_msg("commit %d: %s", c, why);
		/* sb, root leaf, index, bitmap, overflow root. */
		assert_int_equal(s.sm.nr_allocated, 5);
		assert_int_equal(s.nr_entries, (uint64_t)c + 1);
		vstate_release(&s);
	}
	rig_release(&g);
}

/* A device of exactly one bitmap, and one block more. */
static void test_bitmap_boundaries(void **state)
{
	static const uint64_t sizes[] = { 16320, 16321, 5 };

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct rig g;
		struct pd_sm_root_cpu root;
		uint64_t b;

		rig_init(&g, sizes[k]);
		while (pd_tm_nr_allocated(g.tm) + 3 + (sizes[k] > 16320) <
		       sizes[k])
			assert_int_equal(pd_tm_alloc(g.tm, &b), 0);
		/* Exactly full after the map is written. */
		assert_int_equal(pd_tm_commit(g.tm, fill_nothing, &root,
					      &tsb_validator), 0);
		assert_int_equal(root.nr_allocated, sizes[k]);
		check_map_is_counts(&g, &root);
		rig_release(&g);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_bytes),
		cmocka_unit_test(test_overflow_and_bitmaps),
		cmocka_unit_test(test_old_maps_released),
		cmocka_unit_test(test_bitmap_boundaries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
