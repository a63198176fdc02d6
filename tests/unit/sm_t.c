// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Reading the metadata space map: counts 0, 1, 2 and 3+ (through the
 * overflow tree, one and two levels), two bitmaps, a partial last bitmap,
 * sparse counts in long free stretches,
 * and one test per damage kind of sm.h, each checking the blocks marked
 * unknown, the counts left intact and the own-block references.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pdata/sm.h"
#include "pdbuild.h"

struct srec {
	struct pd_sm_damage dmg[64];
	size_t nd;
	uint64_t *refs;
	size_t nrefs;
	int stop;
};

static int srec_damage(void *ctx, const struct pd_sm_damage *d)
{
	struct srec *r = ctx;

	assert_true(r->nd < 64);
	r->dmg[r->nd++] = *d;
	return r->stop;
}

static int srec_ref(void *ctx, uint64_t block)
{
	struct srec *r = ctx;

	r->refs = realloc(r->refs, (r->nrefs + 1) * sizeof(uint64_t));
	assert_non_null(r->refs);
	r->refs[r->nrefs++] = block;
	return 0;
}

static const struct pd_sm_read_ops srec_ops = {
	.damage = srec_damage,
	.own_block_ref = srec_ref,
};

/* An image of nr_dev blocks whose space map covers nr_sm with counts. */
struct fixture {
	struct pdb b;
	struct pdb_sm sm;
	struct pd_sm_root_cpu root;
	uint32_t *want;
};

static void fx_build(struct fixture *fx, uint64_t nr_dev, uint64_t nr_sm,
		     uint32_t (*count_of)(uint64_t))
{
	pdb_init(&fx->b, nr_dev);
	fx->want = calloc(nr_sm + 1, sizeof(uint32_t));
	assert_non_null(fx->want);
	for (uint64_t i = 0; i < nr_sm; i++)
		fx->want[i] = count_of(i);
	pdb_sm(&fx->b, nr_sm, fx->want, &fx->sm);
	fx->root.nr_blocks = nr_sm;
	fx->root.nr_allocated = 0;
	fx->root.bitmap_root = fx->sm.index;
	fx->root.ref_count_root = fx->sm.overflow_root;
}

static void fx_release(struct fixture *fx)
{
	free(fx->want);
	pdb_release(&fx->b);
}

struct result {
	uint32_t *counts;
	uint64_t nr;
	struct base_bitmap unknown;
	struct srec rec;
	int ret;
};

/*
 * The two-bit reader (pd_sm_read_rc, pd_sm_read_disk_rc) on the same image
 * must say exactly what the 32-bit one said: return value, damage reports,
 * own-block references, unknown blocks and every count.
 */
static void assert_rc_same(struct fixture *fx, const struct result *res,
			   int disk)
{
	struct base_refcount rc;
	struct base_bitmap unknown;
	struct srec rec;
	int ret;

	memset(&rec, 0, sizeof(rec));
	rec.stop = res->rec.stop;
	if (disk)
		ret = pd_sm_read_disk_rc(pdb_bm(&fx->b), &fx->root, &srec_ops,
					 &rec, &rc, &unknown);
	else
		ret = pd_sm_read_rc(pdb_bm(&fx->b), &fx->root, &srec_ops, &rec,
				    &rc, &unknown);
	assert_int_equal(ret, res->ret);
	assert_int_equal(rec.nd, res->rec.nd);
	for (size_t i = 0; i < rec.nd; i++) {
		assert_int_equal(rec.dmg[i].problem, res->rec.dmg[i].problem);
		assert_int_equal(rec.dmg[i].block_begin,
				 res->rec.dmg[i].block_begin);
		assert_int_equal(rec.dmg[i].block_end,
				 res->rec.dmg[i].block_end);
		assert_int_equal(rec.dmg[i].fault.found,
				 res->rec.dmg[i].fault.found);
	}
	assert_int_equal(rec.nrefs, res->rec.nrefs);
	for (size_t i = 0; i < rec.nrefs; i++)
		assert_int_equal(rec.refs[i], res->rec.refs[i]);
	free(rec.refs);
	if (ret)
		return;
	assert_int_equal(rc.nr, res->nr);
	for (uint64_t i = 0; i < res->nr; i++) {
		if (base_refcount_get(&rc, i) != res->counts[i])
			fail_msg("block %lu: two-bit count %u, 32-bit %u",
				 (unsigned long)i, base_refcount_get(&rc, i),
				 res->counts[i]);
		assert_int_equal(base_bitmap_test(&unknown, i),
				 base_bitmap_test(&res->unknown, i));
	}
	/* Nothing past nr: the words compare whole. */
	for (uint64_t i = res->nr; i % BASE_REFCOUNT_PER_WORD; i++)
		assert_int_equal(base_refcount_get2(&rc, i), 0);
	base_refcount_release(&rc);
	base_bitmap_release(&unknown);
}

static void fx_read(struct fixture *fx, struct result *res)
{
	memset(res, 0, sizeof(*res));
	res->ret = pd_sm_read(pdb_bm(&fx->b), &fx->root, &srec_ops, &res->rec,
			      &res->counts, &res->nr, &res->unknown);
	assert_rc_same(fx, res, 0);
}

static void res_release(struct result *res)
{
	free(res->counts);
	free(res->rec.refs);
	base_bitmap_release(&res->unknown);
}

/* Counts equal want except in [ub, ue), which is exactly the unknown set. */
static void assert_counts(const struct fixture *fx, const struct result *res,
			  uint64_t ub, uint64_t ue)
{
	for (uint64_t i = 0; i < res->nr; i++) {
		int lost = i >= ub && i < ue;

		if (base_bitmap_test(&res->unknown, i) != lost)
			fail_msg("block %lu: unknown %d, expected %d",
				 (unsigned long)i,
				 base_bitmap_test(&res->unknown, i), lost);
		if (res->counts[i] != (lost ? 0 : fx->want[i]))
			fail_msg("block %lu: count %u, expected %u",
				 (unsigned long)i, res->counts[i],
				 lost ? 0 : fx->want[i]);
	}
}

static int has_ref(const struct result *res, uint64_t block)
{
	int n = 0;

	for (size_t i = 0; i < res->rec.nrefs; i++)
		n += res->rec.refs[i] == block;
	return n;
}

/* 0, 1, 2, 3, then 1000 + i every 97th block: all four encodings. */
static uint32_t mixed(uint64_t i)
{
	if (i % 97 == 0)
		return 1000 + (uint32_t)i;
	return (uint32_t)(i % 4);
}

static void test_counts_two_bitmaps(void **state)
{
	struct fixture fx;
	struct result res;
	uint64_t nr = PD_SM_ENTRIES_PER_BITMAP + 1000;

	(void)state;
	fx_build(&fx, nr + 64, nr, mixed);
	assert_int_equal(fx.sm.nr_bitmaps, 2);
	fx_read(&fx, &res);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.rec.nd, 0);
	assert_int_equal(res.nr, nr);
	assert_counts(&fx, &res, 0, 0);
	/* The 3s and the 1000+ counts: every 4th block plus every 97th,
	 * well over 336, so the overflow tree has two levels. */
	assert_int_equal(le32_to_cpu(pdb_hdr(&fx.b, fx.sm.overflow_root)->flags),
			 PD_BTREE_INTERNAL);
	assert_int_equal(has_ref(&res, fx.sm.index), 1);
	assert_int_equal(has_ref(&res, fx.sm.bitmaps[0]), 1);
	assert_int_equal(has_ref(&res, fx.sm.bitmaps[1]), 1);
	for (unsigned i = 0; i < fx.b.nr_nodes; i++)
		assert_int_equal(has_ref(&res, fx.b.nodes[i]), 1);
	assert_int_equal(res.rec.nrefs, 3 + fx.b.nr_nodes);
	res_release(&res);
	fx_release(&fx);
}

/*
 * A few counts in long free stretches, at every word of a 256-block run
 * in turn: the two-bit reader passes free runs over whole, and must not
 * pass over one that has a single count in any of its words.
 */
static uint32_t few_in_free_runs(uint64_t i)
{
	if (i % 263 == 0)
		return 1 + (uint32_t)(i / 263 % 3);
	return i % 4099 == 77 ? 1000 : 0;
}

static void test_sparse_counts(void **state)
{
	struct fixture fx;
	struct result res;
	uint64_t nr = 2 * PD_SM_ENTRIES_PER_BITMAP - 5;

	(void)state;
	fx_build(&fx, nr + 64, nr, few_in_free_runs);
	fx_read(&fx, &res);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.rec.nd, 0);
	assert_counts(&fx, &res, 0, 0);
	res_release(&res);
	fx_release(&fx);
}

static uint32_t ones_upto_10(uint64_t i)
{
	return i < 10;
}

/* 0.9.0's image: blocks 0..9 in use, bitmap bytes aa aa 0a. */
static void test_encoding(void **state)
{
	struct fixture fx;
	struct result res;
	const unsigned char *bm;

	(void)state;
	fx_build(&fx, 64, 64, ones_upto_10);
	bm = pdb_block(&fx.b, fx.sm.bitmaps[0]);
	assert_int_equal(bm[16], 0xaa);
	assert_int_equal(bm[17], 0xaa);
	assert_int_equal(bm[18], 0x0a);
	assert_int_equal(bm[19], 0x00);
	fx_read(&fx, &res);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.rec.nd, 0);
	assert_counts(&fx, &res, 0, 0);
	/* The empty overflow tree is one leaf, referenced once. */
	assert_int_equal(has_ref(&res, fx.sm.overflow_root), 1);
	assert_int_equal(res.rec.nrefs, 3);
	res_release(&res);
	fx_release(&fx);
}

/* Bits past nr_blocks in the last bitmap mean nothing. */
static void test_tail_ignored(void **state)
{
	struct fixture fx;
	struct result res;
	unsigned char *bm;

	(void)state;
	fx_build(&fx, 128, 45, mixed);
	bm = pdb_block(&fx.b, fx.sm.bitmaps[0]);
	memset(bm + 16 + 45 / 4 + 1, 0xff, 100);
	pdb_seal(&fx.b, fx.sm.bitmaps[0], &pd_bitmap_validator);
	fx_read(&fx, &res);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.rec.nd, 0);
	assert_int_equal(res.nr, 45);
	assert_counts(&fx, &res, 0, 0);
	res_release(&res);
	fx_release(&fx);
}

static void test_nr_blocks_capped(void **state)
{
	struct fixture fx;
	struct result res;

	(void)state;
	fx_build(&fx, 100, 100, mixed);
	fx.root.nr_blocks = 5000;
	fx_read(&fx, &res);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.nr, 100);
	assert_int_equal(res.rec.nd, 1);
	assert_int_equal(res.rec.dmg[0].problem, PD_SM_NR_BLOCKS);
	assert_int_equal(res.rec.dmg[0].block_begin, 100);
	assert_int_equal(res.rec.dmg[0].block_end, 5000);
	assert_int_equal(res.rec.dmg[0].fault.found, 5000);
	assert_int_equal(res.rec.dmg[0].fault.expected, 100);
	assert_counts(&fx, &res, 0, 0);
	res_release(&res);
	fx_release(&fx);
}

static void test_index_bad(void **state)
{
	struct fixture fx;
	struct result res;

	(void)state;
	fx_build(&fx, 100, 100, mixed);
	pdb_block(&fx.b, fx.sm.index)[200] ^= 4;
	fx_read(&fx, &res);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.rec.nd, 1);
	assert_int_equal(res.rec.dmg[0].problem, PD_SM_INDEX);
	assert_int_equal(res.rec.dmg[0].fault.kind, PD_FAULT_CHECKSUM);
	assert_int_equal(res.rec.dmg[0].fault.block, fx.sm.index);
	assert_int_equal(res.rec.dmg[0].block_begin, 0);
	assert_int_equal(res.rec.dmg[0].block_end, 100);
	assert_counts(&fx, &res, 0, 100);
	/* The overflow tree is still walked and counted, the bitmaps not. */
	assert_int_equal(has_ref(&res, fx.sm.index), 1);
	assert_int_equal(has_ref(&res, fx.sm.bitmaps[0]), 0);
	assert_int_equal(has_ref(&res, fx.sm.overflow_root), 1);
	res_release(&res);

	/* bitmap_root 0: no read, no reference. */
	fx.root.bitmap_root = 0;
	fx_read(&fx, &res);
	assert_int_equal(res.rec.nd, 1);
	assert_int_equal(res.rec.dmg[0].problem, PD_SM_INDEX);
	assert_string_equal(res.rec.dmg[0].fault.what, "bitmap_root");
	assert_int_equal(has_ref(&res, 0), 0);
	assert_counts(&fx, &res, 0, 100);
	res_release(&res);

	/* Past the device. */
	fx.root.bitmap_root = 100;
	fx_read(&fx, &res);
	assert_int_equal(res.rec.nd, 1);
	assert_int_equal(res.rec.dmg[0].problem, PD_SM_INDEX);
	assert_int_equal(res.rec.dmg[0].fault.kind, PD_FAULT_RANGE);
	res_release(&res);
	fx_release(&fx);
}

static void test_index_entry(void **state)
{
	uint64_t nr = 2 * PD_SM_ENTRIES_PER_BITMAP + 10;

	(void)state;
	for (int k = 0; k < 2; k++) {
		struct fixture fx;
		struct result res;
		struct pd_index_block *ix;
		uint64_t bad = k ? 1000000 : 0;

		fx_build(&fx, nr + 20, nr, mixed);
		assert_int_equal(fx.sm.nr_bitmaps, 3);
		ix = (struct pd_index_block *)pdb_block(&fx.b, fx.sm.index);
		ix->entries[1].blocknr = cpu_to_le64(bad);
		pdb_seal(&fx.b, fx.sm.index, &pd_index_validator);
		fx_read(&fx, &res);
		assert_int_equal(res.ret, 0);
		assert_int_equal(res.rec.nd, 1);
		assert_int_equal(res.rec.dmg[0].problem, PD_SM_INDEX_ENTRY);
		assert_int_equal(res.rec.dmg[0].fault.block, fx.sm.index);
		assert_int_equal(res.rec.dmg[0].fault.found, bad);
		assert_int_equal(res.rec.dmg[0].fault.kind,
				 k ? PD_FAULT_RANGE : PD_FAULT_HEADER);
		assert_int_equal(res.rec.dmg[0].block_begin,
				 PD_SM_ENTRIES_PER_BITMAP);
		assert_int_equal(res.rec.dmg[0].block_end,
				 2 * PD_SM_ENTRIES_PER_BITMAP);
		assert_counts(&fx, &res, PD_SM_ENTRIES_PER_BITMAP,
			      2 * PD_SM_ENTRIES_PER_BITMAP);
		assert_int_equal(has_ref(&res, bad), 0);
		assert_int_equal(has_ref(&res, fx.sm.bitmaps[1]), 0);
		assert_int_equal(has_ref(&res, fx.sm.bitmaps[2]), 1);
		res_release(&res);
		fx_release(&fx);
	}
}

static void test_bitmap_bad(void **state)
{
	uint64_t nr = 2 * PD_SM_ENTRIES_PER_BITMAP + 10;
	struct fixture fx;
	struct result res;

	(void)state;
	fx_build(&fx, nr + 20, nr, mixed);
	/* The last, partial bitmap: wrong location. */
	pd_validator_prepare(&pd_bitmap_validator,
			     pdb_block(&fx.b, fx.sm.bitmaps[2]), 7);
	fx_read(&fx, &res);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.rec.nd, 1);
	assert_int_equal(res.rec.dmg[0].problem, PD_SM_BITMAP);
	assert_int_equal(res.rec.dmg[0].fault.kind, PD_FAULT_LOCATION);
	assert_int_equal(res.rec.dmg[0].fault.block, fx.sm.bitmaps[2]);
	assert_int_equal(res.rec.dmg[0].block_begin, 2 * PD_SM_ENTRIES_PER_BITMAP);
	assert_int_equal(res.rec.dmg[0].block_end, nr);
	/* Its 3s are unknown, so their overflow entries are not extras. */
	assert_counts(&fx, &res, 2 * PD_SM_ENTRIES_PER_BITMAP, nr);
	assert_int_equal(has_ref(&res, fx.sm.bitmaps[2]), 1);
	res_release(&res);
	fx_release(&fx);
}

/*
 * A damaged overflow leaf loses only the blocks that needed it: those with
 * bitmap entry 3 in its key range.
 */
static void test_overflow_damaged(void **state)
{
	struct fixture fx;
	struct result res;
	uint64_t nr = PD_SM_ENTRIES_PER_BITMAP, leaf, lo, hi;

	(void)state;
	fx_build(&fx, nr + 64, nr, mixed);
	assert_true(fx.b.nr_leaves >= 3);
	leaf = fx.b.nodes[1];
	lo = pdb_node_key(&fx.b, fx.sm.overflow_root, 1);
	hi = pdb_node_key(&fx.b, fx.sm.overflow_root, 2);
	pdb_block(&fx.b, leaf)[300] ^= 1;
	fx_read(&fx, &res);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.rec.nd, 1);
	assert_int_equal(res.rec.dmg[0].problem, PD_SM_OVERFLOW);
	assert_int_equal(res.rec.dmg[0].btree.problem, PD_BT_BLOCK);
	assert_int_equal(res.rec.dmg[0].fault.block, leaf);
	assert_int_equal(res.rec.dmg[0].block_begin, lo);
	assert_int_equal(res.rec.dmg[0].block_end, hi);
	for (uint64_t i = 0; i < nr; i++) {
		int lost = i >= lo && i < hi && fx.want[i] >= 3;

		assert_int_equal(base_bitmap_test(&res.unknown, i), lost);
		assert_int_equal(res.counts[i], lost ? 0 : fx.want[i]);
	}
	assert_int_equal(has_ref(&res, leaf), 1);
	res_release(&res);
	fx_release(&fx);
}

static uint32_t few_high(uint64_t i)
{
	return i == 20 ? 7 : i == 40 ? 3 : (uint32_t)(i % 3);
}

static void set_bitmap_entry(struct fixture *fx, uint64_t block, unsigned c)
{
	pd_bitmap_set(pdb_block(&fx->b, fx->sm.bitmaps[0]), (uint32_t)block, c);
	pdb_seal(&fx->b, fx->sm.bitmaps[0], &pd_bitmap_validator);
}

static void test_overflow_missing(void **state)
{
	struct fixture fx;
	struct result res;

	(void)state;
	fx_build(&fx, 100, 100, few_high);
	/* 50 and 51 say 3+, the tree has neither: one run. */
	set_bitmap_entry(&fx, 50, 3);
	set_bitmap_entry(&fx, 51, 3);
	fx_read(&fx, &res);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.rec.nd, 1);
	assert_int_equal(res.rec.dmg[0].problem, PD_SM_OVERFLOW_MISSING);
	assert_int_equal(res.rec.dmg[0].block_begin, 50);
	assert_int_equal(res.rec.dmg[0].block_end, 52);
	assert_counts(&fx, &res, 50, 52);
	res_release(&res);
	fx_release(&fx);
}

static void test_overflow_extra(void **state)
{
	struct fixture fx;
	struct result res;

	(void)state;
	fx_build(&fx, 100, 100, few_high);
	/* Block 20 has an overflow entry (7) but its bitmap now says 1. */
	set_bitmap_entry(&fx, 20, 1);
	fx_read(&fx, &res);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.rec.nd, 1);
	assert_int_equal(res.rec.dmg[0].problem, PD_SM_OVERFLOW_EXTRA);
	assert_int_equal(res.rec.dmg[0].block_begin, 20);
	assert_int_equal(res.rec.dmg[0].block_end, 21);
	assert_int_equal(res.rec.dmg[0].fault.found, 1);
	assert_int_equal(res.rec.dmg[0].fault.block, fx.sm.overflow_root);
	assert_counts(&fx, &res, 20, 21);
	res_release(&res);
	fx_release(&fx);
}

static void test_overflow_key_past_end(void **state)
{
	struct fixture fx;
	struct result res;

	(void)state;
	fx_build(&fx, 100, 100, few_high);
	/* The second entry (block 40) becomes block 99 of a 60-block map. */
	fx.root.nr_blocks = 60;
	pdb_set_key(&fx.b, fx.sm.overflow_root, 1, 99);
	pdb_seal_node(&fx.b, fx.sm.overflow_root);
	set_bitmap_entry(&fx, 40, 2);
	fx.want[40] = 2;
	fx_read(&fx, &res);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.rec.nd, 1);
	assert_int_equal(res.rec.dmg[0].problem, PD_SM_OVERFLOW_EXTRA);
	assert_int_equal(res.rec.dmg[0].block_begin, 99);
	assert_int_equal(res.rec.dmg[0].fault.found, 99);
	assert_int_equal(res.rec.dmg[0].fault.expected, 60);
	assert_int_equal(res.nr, 60);
	assert_counts(&fx, &res, 0, 0);
	res_release(&res);
	fx_release(&fx);
}

static void test_overflow_low(void **state)
{
	struct fixture fx;
	struct result res;

	(void)state;
	fx_build(&fx, 100, 100, few_high);
	/* Block 40: bitmap 3, tree says 2. */
	assert_int_equal(pdb_node_key(&fx.b, fx.sm.overflow_root, 1), 40);
	store_le32(pdb_node_value(&fx.b, fx.sm.overflow_root, 1), 2);
	pdb_seal_node(&fx.b, fx.sm.overflow_root);
	fx_read(&fx, &res);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.rec.nd, 1);
	assert_int_equal(res.rec.dmg[0].problem, PD_SM_OVERFLOW_LOW);
	assert_int_equal(res.rec.dmg[0].block_begin, 40);
	assert_int_equal(res.rec.dmg[0].block_end, 41);
	assert_int_equal(res.rec.dmg[0].fault.found, 2);
	assert_counts(&fx, &res, 40, 41);
	/* Exactly 3 in the tree is fine. */
	store_le32(pdb_node_value(&fx.b, fx.sm.overflow_root, 1), 3);
	pdb_seal_node(&fx.b, fx.sm.overflow_root);
	res_release(&res);
	fx_read(&fx, &res);
	assert_int_equal(res.rec.nd, 0);
	assert_counts(&fx, &res, 0, 0);
	res_release(&res);
	fx_release(&fx);
}

static void test_callback_stops(void **state)
{
	struct fixture fx;
	struct result res;

	(void)state;
	fx_build(&fx, 100, 100, few_high);
	set_bitmap_entry(&fx, 20, 1);
	set_bitmap_entry(&fx, 50, 3);
	memset(&res, 0, sizeof(res));
	res.rec.stop = 5;
	res.ret = pd_sm_read(pdb_bm(&fx.b), &fx.root, &srec_ops, &res.rec,
			     &res.counts, &res.nr, &res.unknown);
	assert_rc_same(&fx, &res, 0);
	assert_int_equal(res.ret, 5);
	assert_int_equal(res.rec.nd, 1);
	assert_null(res.counts);
	assert_null(res.unknown.words);
	res_release(&res);
	fx_release(&fx);
}

static void test_no_ops(void **state)
{
	struct fixture fx;
	uint32_t *counts;
	uint64_t nr;
	struct base_bitmap unknown;

	(void)state;
	fx_build(&fx, 100, 100, mixed);
	set_bitmap_entry(&fx, 50, 3);
	assert_int_equal(pd_sm_read(pdb_bm(&fx.b), &fx.root, NULL, NULL,
				    &counts, &nr, &unknown), 0);
	assert_int_equal(base_bitmap_count(&unknown), 1);
	assert_true(base_bitmap_test(&unknown, 50));
	free(counts);
	base_bitmap_release(&unknown);
	fx_release(&fx);
}

static void test_problem_names(void **state)
{
	(void)state;
	for (int p = PD_SM_NR_BLOCKS; p <= PD_SM_OVERFLOW_LOW; p++) {
		assert_string_not_equal(pd_sm_problem_name(p),
					"unknown space map problem");
		for (int q = PD_SM_NR_BLOCKS; q < p; q++)
			assert_string_not_equal(pd_sm_problem_name(p),
						pd_sm_problem_name(q));
	}
	assert_string_equal(pd_sm_problem_name(99), "unknown space map problem");
}

/* ---- the disk space map (index btree): pd_sm_read_disk ---- */

/*
 * A disk space map of nr_sm counts: the bitmaps and overflow tree as the
 * metadata map's, the index as a btree of 16-byte entries keyed by bitmap
 * number, built with `fill` entries per leaf so it can have several leaves.
 */
/* Sparse 3+ counts, so that 200 bitmaps keep a small overflow tree. */
static uint32_t sparse(uint64_t i)
{
	return i % 5000 == 0 ? 7 : (uint32_t)(i % 3);
}

static uint64_t disk_build(struct fixture *fx, uint64_t nr_dev, uint64_t nr_sm,
			   uint32_t (*count_of)(uint64_t), unsigned fill)
{
	unsigned char vals[PD_SM_MAX_INDEX_ENTRIES * 16];
	uint64_t keys[PD_SM_MAX_INDEX_ENTRIES];

	fx_build(fx, nr_dev, nr_sm, count_of);
	memset(vals, 0, sizeof(vals));
	for (unsigned i = 0; i < fx->sm.nr_bitmaps; i++) {
		keys[i] = i;
		store_le64(vals + 16 * i, fx->sm.bitmaps[i]);
	}
	fx->b.nr_nodes = 0;
	fx->root.bitmap_root = pdb_tree(&fx->b, fx->sm.nr_bitmaps, keys, vals,
					16, fill);
	return fx->root.bitmap_root;
}

static void disk_read(struct fixture *fx, struct result *res)
{
	memset(res, 0, sizeof(*res));
	res->ret = pd_sm_read_disk(pdb_bm(&fx->b), &fx->root, &srec_ops,
				   &res->rec, &res->counts, &res->nr,
				   &res->unknown);
	assert_rc_same(fx, res, 1);
}

static void test_disk_counts(void **state)
{
	struct fixture fx;
	struct result res;
	uint64_t nr = 199 * (uint64_t)PD_SM_ENTRIES_PER_BITMAP + 77;

	(void)state;
	/* 100 bitmaps per leaf: two leaves under one internal node. */
	disk_build(&fx, 300, nr, sparse, 100);
	assert_int_equal(fx.sm.nr_bitmaps, 200);
	assert_int_equal(fx.b.nr_nodes, 3);
	disk_read(&fx, &res);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.rec.nd, 0);
	assert_int_equal(res.nr, nr);
	assert_counts(&fx, &res, 0, 0);
	/* Every index node and every bitmap is an own-block reference. */
	for (unsigned i = 0; i < fx.b.nr_nodes; i++)
		assert_int_equal(has_ref(&res, fx.b.nodes[i]), 1);
	for (unsigned i = 0; i < fx.sm.nr_bitmaps; i++)
		assert_int_equal(has_ref(&res, fx.sm.bitmaps[i]), 1);
	/* The unused metadata index block is not. */
	assert_int_equal(has_ref(&res, fx.sm.index), 0);
	res_release(&res);
	fx_release(&fx);
}

/*
 * pd_sm_read_disk_rc_only: counts kept in the chunks the keep set has
 * touched (chunk 1 here) and nowhere else but at the 3s; everything
 * reported exactly as the full reader reports it, including the bitmap
 * count of an overflow entry whose bitmap entry is not 3 in a chunk that
 * was kept (block 20000) and in one that was not (40000).
 */
static void set_disk_entry(struct fixture *fx, uint64_t block, unsigned c)
{
	uint64_t bn = fx->sm.bitmaps[block / PD_SM_ENTRIES_PER_BITMAP];

	pd_bitmap_set(pdb_block(&fx->b, bn),
		      (uint32_t)(block % PD_SM_ENTRIES_PER_BITMAP), c);
	pdb_seal(&fx->b, bn, &pd_bitmap_validator);
}

static void test_disk_only(void **state)
{
	const uint64_t chunk = BASE_REFCOUNT_CHUNK;
	uint64_t nr = 4 * (uint64_t)PD_SM_ENTRIES_PER_BITMAP + 100;
	struct base_refcount keep, rc;
	struct base_bitmap unknown;
	struct fixture fx;
	struct result res;
	struct srec rec;

	(void)state;
	disk_build(&fx, 300, nr, sparse, 100);
	assert_int_equal(sparse(20000), 7);
	assert_int_equal(sparse(40000), 7);
	set_disk_entry(&fx, 20000, 1);
	set_disk_entry(&fx, 40000, 2);
	disk_read(&fx, &res);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.rec.nd, 2);
	assert_int_equal(res.rec.dmg[1].problem, PD_SM_OVERFLOW_EXTRA);
	assert_int_equal(res.rec.dmg[1].fault.found, 2);

	assert_int_equal(base_refcount_init(&keep, nr), 0);
	assert_int_equal(base_refcount_inc(&keep, chunk + 5), 0);
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(pd_sm_read_disk_rc_only(pdb_bm(&fx.b), &fx.root, &keep,
						 &srec_ops, &rec, &rc,
						 &unknown), 0);
	assert_int_equal(rec.nd, res.rec.nd);
	for (size_t i = 0; i < rec.nd; i++) {
		assert_int_equal(rec.dmg[i].problem, res.rec.dmg[i].problem);
		assert_int_equal(rec.dmg[i].block_begin,
				 res.rec.dmg[i].block_begin);
		assert_int_equal(rec.dmg[i].fault.found,
				 res.rec.dmg[i].fault.found);
	}
	assert_int_equal(rec.nrefs, res.rec.nrefs);
	for (size_t i = 0; i < rec.nrefs; i++)
		assert_int_equal(rec.refs[i], res.rec.refs[i]);
	assert_int_equal(rc.nr, nr);
	for (uint64_t i = 0; i < nr; i++) {
		int kept = i / chunk == 1 || res.counts[i] >= 3;
		uint32_t want = kept ? res.counts[i] : 0;

		if (base_refcount_get(&rc, i) != want)
			fail_msg("block %lu: %u, expected %u", (unsigned long)i,
				 base_refcount_get(&rc, i), want);
		assert_int_equal(base_bitmap_test(&unknown, i),
				 base_bitmap_test(&res.unknown, i));
	}
	free(rec.refs);
	base_refcount_release(&rc);
	base_bitmap_release(&unknown);
	base_refcount_release(&keep);
	res_release(&res);
	fx_release(&fx);
}

/*
 * pd_sm_read_disk_rc_diff against the full reader, with a reference that
 * agrees in places and not in others (a count off by one, a free-marked
 * block, an overflow count of 5 against the map's 7 behind equal 3s, a
 * whole chunk of nothing) and damage after the bitmaps: overflow entries
 * whose bitmap entry is not 3 in a word equal to the reference's (block
 * 5000) and in one that is not (10000), one below 3 (15000), a 3 without
 * an entry (30001).  Every block's count is the full reader's (stored
 * where differs marks its word, the reference's elsewhere), and so are the
 * reports, the unknown blocks and the blocks in use.
 */
static void test_disk_diff(void **state)
{
	uint64_t nr = 3 * (uint64_t)PD_SM_ENTRIES_PER_BITMAP + 100, nz = 0;
	uint64_t in_use = 0;
	struct base_bitmap unknown, differs;
	struct base_refcount ref, rc;
	struct fixture fx;
	struct result res;
	struct srec rec;

	(void)state;
	disk_build(&fx, 300, nr, sparse, 100);
	set_disk_entry(&fx, 5000, 1);
	set_disk_entry(&fx, 10000, 2);
	set_disk_entry(&fx, 30001, 3);
	assert_int_equal(pdb_node_key(&fx.b, fx.sm.overflow_root, 3), 15000);
	store_le32(pdb_node_value(&fx.b, fx.sm.overflow_root, 3), 2);
	pdb_seal_node(&fx.b, fx.sm.overflow_root);
	disk_read(&fx, &res);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.rec.nd, 4);

	assert_int_equal(base_refcount_init(&ref, nr), 0);
	for (uint64_t i = 0; i < 2 * BASE_REFCOUNT_CHUNK; i++)
		assert_int_equal(base_refcount_set(&ref, i, fx.want[i]), 0);
	assert_int_equal(base_refcount_set(&ref, 5000, 1), 0);
	assert_int_equal(base_refcount_set(&ref, 10000, 0), 0);
	assert_int_equal(base_refcount_set(&ref, 20000, 5), 0);
	assert_int_equal(base_refcount_set(&ref, 100, fx.want[100] + 1), 0);
	assert_int_equal(base_refcount_set(&ref, 17000, 0), 0);

	memset(&rec, 0, sizeof(rec));
	assert_int_equal(pd_sm_read_disk_rc_diff(pdb_bm(&fx.b), &fx.root, &ref,
						 &srec_ops, &rec, &rc,
						 &differs, &in_use,
						 &unknown), 0);
	assert_int_equal(rec.nd, res.rec.nd);
	for (size_t i = 0; i < rec.nd; i++) {
		assert_int_equal(rec.dmg[i].problem, res.rec.dmg[i].problem);
		assert_int_equal(rec.dmg[i].block_begin,
				 res.rec.dmg[i].block_begin);
		assert_int_equal(rec.dmg[i].block_end,
				 res.rec.dmg[i].block_end);
		assert_int_equal(rec.dmg[i].fault.found,
				 res.rec.dmg[i].fault.found);
	}
	assert_int_equal(rec.nrefs, res.rec.nrefs);
	for (size_t i = 0; i < rec.nrefs; i++)
		assert_int_equal(rec.refs[i], res.rec.refs[i]);
	assert_int_equal(rc.nr, nr);
	for (uint64_t i = 0; i < nr; i++) {
		int d = base_bitmap_test(&differs, i / BASE_REFCOUNT_PER_WORD);
		uint32_t got = d ? base_refcount_get(&rc, i) :
				   base_refcount_get(&ref, i);

		assert_int_equal(base_bitmap_test(&unknown, i),
				 base_bitmap_test(&res.unknown, i));
		nz += res.counts[i] != 0;
		if (base_bitmap_test(&res.unknown, i))
			continue;
		if (got != res.counts[i])
			fail_msg("block %lu: %u (%s), expected %u",
				 (unsigned long)i, got, d ? "stored" : "ref",
				 res.counts[i]);
	}
	assert_int_equal(in_use, nz);
	assert_false(base_bitmap_test(&differs, 5000 / BASE_REFCOUNT_PER_WORD));
	assert_true(base_bitmap_test(&differs, 20000 / BASE_REFCOUNT_PER_WORD));
	free(rec.refs);
	base_refcount_release(&rc);
	base_bitmap_release(&unknown);
	base_bitmap_release(&differs);
	base_refcount_release(&ref);
	res_release(&res);
	fx_release(&fx);
}

static void test_disk_index_leaf_lost(void **state)
{
	struct fixture fx;
	struct result res;
	uint64_t nr = 199 * (uint64_t)PD_SM_ENTRIES_PER_BITMAP + 77;
	uint64_t leaf;

	(void)state;
	disk_build(&fx, 300, nr, sparse, 100);
	leaf = fx.b.nodes[1];	/* bitmaps 100..199 */
	pdb_block(&fx.b, leaf)[100] ^= 1;	/* checksum now wrong */
	disk_read(&fx, &res);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.rec.nd, 1);
	assert_int_equal(res.rec.dmg[0].problem, PD_SM_INDEX);
	assert_int_equal(res.rec.dmg[0].block_begin,
			 100 * PD_SM_ENTRIES_PER_BITMAP);
	assert_int_equal(res.rec.dmg[0].block_end, nr);
	assert_int_equal(res.rec.dmg[0].fault.block, leaf);
	assert_int_equal(res.rec.dmg[0].btree.problem, PD_BT_BLOCK);
	assert_counts(&fx, &res, 100 * PD_SM_ENTRIES_PER_BITMAP, nr);
	res_release(&res);
	fx_release(&fx);
}

static void test_disk_index_key_missing(void **state)
{
	struct fixture fx;
	struct result res;
	uint64_t nr = 3 * PD_SM_ENTRIES_PER_BITMAP;
	unsigned char vals[2 * 16];
	uint64_t keys[2] = { 0, 2 };

	(void)state;
	fx_build(&fx, 100, nr, mixed);
	memset(vals, 0, sizeof(vals));
	store_le64(vals, fx.sm.bitmaps[0]);
	store_le64(vals + 16, fx.sm.bitmaps[2]);
	fx.root.bitmap_root = pdb_tree(&fx.b, 2, keys, vals, 16, 0);
	disk_read(&fx, &res);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.rec.nd, 1);
	assert_int_equal(res.rec.dmg[0].problem, PD_SM_INDEX_ENTRY);
	assert_int_equal(res.rec.dmg[0].block_begin, PD_SM_ENTRIES_PER_BITMAP);
	assert_int_equal(res.rec.dmg[0].block_end, 2 * PD_SM_ENTRIES_PER_BITMAP);
	assert_counts(&fx, &res, PD_SM_ENTRIES_PER_BITMAP,
		      2 * PD_SM_ENTRIES_PER_BITMAP);
	res_release(&res);
	fx_release(&fx);
}

/* Past 255 bitmaps, which one index block cannot hold. */
static uint32_t one_every_7(uint64_t i)
{
	return i % 7 == 0;
}

static void test_disk_beyond_index_block(void **state)
{
	struct pd_sm_root_cpu root = { 0 };
	struct pdb b;
	unsigned char *vals;
	uint64_t *keys, bm[300];
	uint64_t nr = 300 * (uint64_t)PD_SM_ENTRIES_PER_BITMAP;
	struct result res;

	(void)state;
	pdb_init(&b, 400);
	keys = calloc(300, sizeof(*keys));
	vals = calloc(300, 16);
	assert_true(keys && vals);
	for (unsigned i = 0; i < 300; i++) {
		bm[i] = pdb_alloc(&b);
		for (uint32_t j = 0; j < PD_SM_ENTRIES_PER_BITMAP; j++)
			pd_bitmap_set(pdb_block(&b, bm[i]), j,
				      one_every_7(i * (uint64_t)PD_SM_ENTRIES_PER_BITMAP + j));
		pdb_seal(&b, bm[i], &pd_bitmap_validator);
		keys[i] = i;
		store_le64(vals + 16 * i, bm[i]);
	}
	root.nr_blocks = nr;
	root.bitmap_root = pdb_tree(&b, 300, keys, vals, 16, 0);
	root.ref_count_root = pdb_tree(&b, 0, NULL, NULL, 4, 0);
	memset(&res, 0, sizeof(res));
	res.ret = pd_sm_read_disk(pdb_bm(&b), &root, &srec_ops, &res.rec,
				  &res.counts, &res.nr, &res.unknown);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.rec.nd, 0);
	assert_int_equal(res.nr, nr);
	for (uint64_t i = 0; i < nr; i++)
		if (res.counts[i] != one_every_7(i))
			fail_msg("block %lu: %u", (unsigned long)i, res.counts[i]);
	res_release(&res);
	free(keys);
	free(vals);
	pdb_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_two_bitmaps),
		cmocka_unit_test(test_sparse_counts),
		cmocka_unit_test(test_encoding),
		cmocka_unit_test(test_tail_ignored),
		cmocka_unit_test(test_nr_blocks_capped),
		cmocka_unit_test(test_index_bad),
		cmocka_unit_test(test_index_entry),
		cmocka_unit_test(test_bitmap_bad),
		cmocka_unit_test(test_overflow_damaged),
		cmocka_unit_test(test_overflow_missing),
		cmocka_unit_test(test_overflow_extra),
		cmocka_unit_test(test_overflow_key_past_end),
		cmocka_unit_test(test_overflow_low),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_no_ops),
		cmocka_unit_test(test_problem_names),
		cmocka_unit_test(test_disk_counts),
		cmocka_unit_test(test_disk_only),
		cmocka_unit_test(test_disk_diff),
		cmocka_unit_test(test_disk_index_leaf_lost),
		cmocka_unit_test(test_disk_index_key_missing),
		cmocka_unit_test(test_disk_beyond_index_block),
	};

	return cmocka_run_group_tests_name("sm", tests, NULL, NULL);
}
