// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The disk (data) space-map writer, pd_sm_write_disk: counts 0, 1, 2, 3
 * and far above (the overflow tree), over more bitmaps than one index-tree
 * leaf holds (168) with a partial last bitmap, read back by the reader
 * thin_check uses (pd_sm_read_disk) without damage and equal count for
 * count; nr_allocated, each index entry's nr_free and none_free_before;
 * an empty map; and a map whose blocks do not fit (-ENOSPC).  The
 * two-bit writer (pd_sm_write_disk_rc) writes the same blocks, byte for
 * byte, as the 32-bit one for the same counts.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/bitmap.h"
#include "base/endian.h"
#include "base/refcount.h"
#include "pdata/btree.h"
#include "pdata/io.h"
#include "pdata/sm.h"
#include "pdata/tm.h"

struct rig {
	struct pd_io *io;
	struct pd_bm *bm;
	struct pd_tm *tm;
};

static void rig_init(struct rig *g, uint64_t nr_blocks)
{
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

static int no_damage(void *ctx, const struct pd_sm_damage *d)
{
	(void)ctx;
	fail_msg("damage %s at blocks %llu..%llu",
		 pd_sm_problem_name(d->problem),
		 (unsigned long long)d->block_begin,
		 (unsigned long long)d->block_end);
	return -1;
}

/* Writes counts, reads them back, compares; returns the root. */
static void round_trip(struct rig *g, const uint32_t *want, uint64_t nr,
		       struct pd_sm_root_cpu *root)
{
	const struct pd_sm_read_ops ops = { .damage = no_damage };
	struct base_bitmap unknown = { 0 };
	uint32_t *got = NULL;
	uint64_t nr_got = 0, used = 0;

	assert_int_equal(pd_sm_write_disk(g->tm, want, nr, root), 0);
	assert_int_equal(pd_bm_flush(g->bm), 0);
	assert_int_equal(root->nr_blocks, nr);
	for (uint64_t i = 0; i < nr; i++)
		used += want[i] != 0;
	assert_int_equal(root->nr_allocated, used);
	assert_int_equal(pd_sm_read_disk(g->bm, root, &ops, NULL, &got,
					 &nr_got, &unknown), 0);
	assert_int_equal(nr_got, nr);
	for (uint64_t i = 0; i < nr; i++)
		if (got[i] != want[i])
			fail_msg("block %llu: count %u, wrote %u",
				 (unsigned long long)i, got[i], want[i]);
	free(got);
	base_bitmap_release(&unknown);
}

static void test_counts_many_bitmaps(void **state)
{
	/* 169 full bitmaps and 5 blocks: two index-tree leaves. */
	uint64_t nr = 169ull * PD_SM_ENTRIES_PER_BITMAP + 5;
	uint32_t *c = calloc(nr, sizeof(*c));
	struct pd_sm_root_cpu root;
	struct rig g;

	(void)state;
	assert_non_null(c);
	for (uint64_t i = 0; i < nr; i++)
		c[i] = (uint32_t)(i % 3);		/* 0, 1, 2 */
	for (uint64_t i = 0; i < nr; i += 997)
		c[i] = 3 + (uint32_t)(i % 11);	/* a multi-leaf overflow tree */
	c[7] = 1000000;
	c[nr - 1] = UINT32_MAX;
	/* bitmap 2 full: none free before its end */
	for (uint64_t i = 2 * PD_SM_ENTRIES_PER_BITMAP;
	     i < 3 * PD_SM_ENTRIES_PER_BITMAP; i++)
		c[i] = 1;
	rig_init(&g, 1024);
	round_trip(&g, c, nr, &root);

	/* Every index entry (leaf values, through the btree). */
	for (uint64_t b = 0; b < 170; b++) {
		uint64_t base = b * PD_SM_ENTRIES_PER_BITMAP;
		uint64_t end = base + PD_SM_ENTRIES_PER_BITMAP < nr ?
			       base + PD_SM_ENTRIES_PER_BITMAP : nr;
		uint32_t used = 0, first = PD_SM_ENTRIES_PER_BITMAP;
		unsigned char v[16];

		for (uint64_t i = base; i < end; i++) {
			if (c[i])
				used++;
			else if (first == PD_SM_ENTRIES_PER_BITMAP)
				first = (uint32_t)(i - base);
		}
		assert_int_equal(pd_btree_lookup(g.bm, root.bitmap_root, 16, b,
						 v, NULL), 0);
		assert_int_equal(load_le32(v + 8), PD_SM_ENTRIES_PER_BITMAP - used);
		assert_int_equal(load_le32(v + 12), first);
	}
	rig_release(&g);
	free(c);
}

static void test_empty(void **state)
{
	struct pd_sm_root_cpu root;
	uint32_t none = 0;
	struct rig g;

	(void)state;
	rig_init(&g, 16);
	round_trip(&g, &none, 0, &root);
	assert_int_equal(root.nr_allocated, 0);
	rig_release(&g);
}

static void test_no_space(void **state)
{
	uint64_t nr = 20ull * PD_SM_ENTRIES_PER_BITMAP;
	uint32_t *c = calloc(nr, sizeof(*c));
	struct pd_sm_root_cpu root;
	struct rig g;

	(void)state;
	assert_non_null(c);
	rig_init(&g, 8);	/* 7 free blocks for 20 bitmaps */
	assert_int_equal(pd_sm_write_disk(g.tm, c, nr, &root), -ENOSPC);
	rig_release(&g);
	free(c);
}

/* counts c[0..nr) through both writers: every block of both devices equal. */
static void same_blocks(const uint32_t *c, uint64_t nr)
{
	struct pd_sm_root_cpu r32, rrc;
	struct base_refcount rc;
	unsigned char a[PD_BLOCK_SIZE], b[PD_BLOCK_SIZE];
	struct rig g32, grc;

	assert_int_equal(base_refcount_init(&rc, nr), 0);
	for (uint64_t i = 0; i < nr; i++)
		assert_int_equal(base_refcount_set(&rc, i, c[i]), 0);
	rig_init(&g32, 1024);
	rig_init(&grc, 1024);
	assert_int_equal(pd_sm_write_disk(g32.tm, c, nr, &r32), 0);
	assert_int_equal(pd_sm_write_disk_rc(grc.tm, &rc, &rrc), 0);
	assert_int_equal(pd_bm_flush(g32.bm), 0);
	assert_int_equal(pd_bm_flush(grc.bm), 0);
	assert_memory_equal(&r32, &rrc, sizeof(r32));
	for (uint64_t blk = 0; blk < 1024; blk++) {
		assert_int_equal(g32.io->ops->read(g32.io, blk, 1, a), 0);
		assert_int_equal(grc.io->ops->read(grc.io, blk, 1, b), 0);
		if (memcmp(a, b, PD_BLOCK_SIZE))
			fail_msg("block %llu differs", (unsigned long long)blk);
	}
	rig_release(&g32);
	rig_release(&grc);
	base_refcount_release(&rc);
}

static void test_rc_same_blocks(void **state)
{
	uint64_t nr = 3ull * PD_SM_ENTRIES_PER_BITMAP + 37;
	uint32_t *c = calloc(nr, sizeof(*c));

	(void)state;
	assert_non_null(c);
	for (uint64_t i = 0; i < nr; i++)
		c[i] = (uint32_t)((i * 7919) % 5);	/* 0..4 */
	for (uint64_t i = 0; i < nr; i += 613)
		c[i] = 3 + (uint32_t)(i % 1000);
	c[nr - 1] = UINT32_MAX;
	/* bitmap 1 full, bitmap 2 free only at its last entry */
	for (uint64_t i = PD_SM_ENTRIES_PER_BITMAP;
	     i < 3 * PD_SM_ENTRIES_PER_BITMAP - 1; i++)
		c[i] = c[i] ? c[i] : 1;
	c[3 * PD_SM_ENTRIES_PER_BITMAP - 1] = 0;
	same_blocks(c, nr);
	same_blocks(c, 37);		/* one partial word */
	same_blocks(c, 32);
	same_blocks(c, 0);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_many_bitmaps),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_no_space),
		cmocka_unit_test(test_rc_same_blocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
