// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Btree read side: lookup, the checking walker and the cursor, on trees of
 * one, two and three levels built in memory by pdbuild.h, and one test per
 * rule of FORMAT.md §3.4 that breaks exactly that rule and checks the
 * problem reported, the lost key range and that the rest of the tree is
 * still delivered.  Cycles and over-deep chains must terminate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pdata/btree.h"
#include "pdbuild.h"

/* ---- a recording walk context ---- */

#define MAX_DAMAGE 8192

struct rec {
	uint64_t *keys;
	uint64_t *vals;
	size_t n, cap;
	struct pd_btree_damage dmg[MAX_DAMAGE];
	size_t nd;
	size_t node_refs;
	size_t counted_leaves;	/* leaves passed with counted set */
	size_t leaves;
	uint32_t vs;
	int stop_at_leaf;	/* return 77 from this leaf (1-based) */
	uint64_t counted_node;	/* node_ref says PD_WALK_COUNTED for it */
};

static int rec_leaf(void *ctx, uint64_t block, unsigned nr, const void *keys,
		    const void *values, int counted)
{
	struct rec *r = ctx;
	const unsigned char *kp = keys, *vp = values;

	(void)block;
	r->counted_leaves += counted != 0;
	r->leaves++;
	if (r->stop_at_leaf && (int)r->leaves == r->stop_at_leaf)
		return 77;
	for (unsigned i = 0; i < nr; i++) {
		if (r->n == r->cap) {
			r->cap = r->cap ? 2 * r->cap : 1024;
			r->keys = realloc(r->keys, r->cap * sizeof(uint64_t));
			r->vals = realloc(r->vals, r->cap * sizeof(uint64_t));
			assert_non_null(r->keys);
			assert_non_null(r->vals);
		}
		r->keys[r->n] = load_le64(kp + 8 * i);
		r->vals[r->n] = r->vs == 8 ? load_le64(vp + 8 * i) :
					     load_le32(vp + 4 * i);
		r->n++;
	}
	return 0;
}

static int rec_damage(void *ctx, const struct pd_btree_damage *d)
{
	struct rec *r = ctx;

	assert_true(r->nd < MAX_DAMAGE);
	r->dmg[r->nd++] = *d;
	return 0;
}

static int rec_node_ref(void *ctx, uint64_t block)
{
	struct rec *r = ctx;

	r->node_refs++;
	return r->counted_node && block == r->counted_node ? PD_WALK_COUNTED : 0;
}

static const struct pd_btree_walk_ops rec_ops = {
	.leaf = rec_leaf,
	.damage = rec_damage,
	.node_ref = rec_node_ref,
};

static struct rec *rec_new(void)
{
	struct rec *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->vs = 8;
	return r;
}

static void rec_free(struct rec *r)
{
	free(r->keys);
	free(r->vals);
	free(r);
}

static struct rec *walk(struct pdb *b, uint64_t root, unsigned flags, int *ret)
{
	struct rec *r = rec_new();

	*ret = pd_btree_walk(pdb_bm(b), root, 8, flags, &rec_ops, r);
	return r;
}

/* Keys i*step for i in [first, last) were delivered, in order, and only them. */
static void assert_keys(const struct rec *r, uint64_t step,
			const uint64_t *ranges, size_t nranges)
{
	size_t j = 0;

	for (size_t k = 0; k < nranges; k++)
		for (uint64_t i = ranges[2 * k]; i < ranges[2 * k + 1]; i++) {
			assert_true(j < r->n);
			assert_int_equal(r->keys[j], i * step);
			assert_int_equal(r->vals[j], i * step * 10 + 1);
			j++;
		}
	assert_int_equal(j, r->n);
}

/* ---- sound trees ---- */

static void test_empty_tree(void **state)
{
	struct pdb b;
	struct pd_btree_cursor c;
	uint64_t root, key, v;
	struct rec *r;
	int ret;

	(void)state;
	pdb_init(&b, 16);
	root = pdb_tree_seq(&b, 0, 1, 0);
	r = walk(&b, root, 0, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r->n, 0);
	assert_int_equal(r->nd, 0);
	assert_int_equal(r->node_refs, 1);
	assert_int_equal(r->leaves, 0);	/* empty leaves are not passed on */
	assert_int_equal(pd_btree_lookup(pdb_bm(&b), root, 8, 0, &v, NULL),
			 -ENODATA);
	assert_int_equal(pd_btree_cursor_init(&c, pdb_bm(&b), root, 8), 0);
	assert_int_equal(pd_btree_cursor_next(&c, &key, &v), 0);
	assert_int_equal(pd_btree_cursor_next(&c, &key, &v), 0);
	pd_btree_cursor_release(&c);
	rec_free(r);
	pdb_release(&b);
}

/* Whole-tree check shared by the shape tests: walk, lookups, cursor. */
static void check_sound(struct pdb *b, uint64_t root, uint64_t n,
			uint64_t step, size_t want_nodes)
{
	uint64_t ranges[2] = { 0, n };
	struct pd_btree_cursor c;
	uint64_t key, v, i;
	struct rec *r;
	int ret;

	for (unsigned flags = 0; flags <= PD_WALK_PREFETCH; flags += PD_WALK_PREFETCH) {
		r = walk(b, root, flags, &ret);
		assert_int_equal(ret, 0);
		assert_int_equal(r->nd, 0);
		assert_int_equal(r->node_refs, want_nodes);
		assert_keys(r, step, ranges, 1);
		rec_free(r);
	}
	for (i = 0; i < n; i++) {
		assert_int_equal(pd_btree_lookup(pdb_bm(b), root, 8, i * step,
						 &v, NULL), 0);
		assert_int_equal(le64_to_cpu((le64){ v }), i * step * 10 + 1);
		if (step > 1)
			assert_int_equal(pd_btree_lookup(pdb_bm(b), root, 8,
							 i * step + 1, &v,
							 NULL), -ENODATA);
	}
	assert_int_equal(pd_btree_lookup(pdb_bm(b), root, 8, n * step, &v,
					 NULL), -ENODATA);
	assert_int_equal(pd_btree_cursor_init(&c, pdb_bm(b), root, 8), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(pd_btree_cursor_next(&c, &key, &v), 1);
		assert_int_equal(key, i * step);
		assert_int_equal(le64_to_cpu((le64){ v }), i * step * 10 + 1);
	}
	assert_int_equal(pd_btree_cursor_next(&c, &key, &v), 0);
	pd_btree_cursor_release(&c);
}

static void test_one_leaf(void **state)
{
	struct pdb b;
	uint64_t root;

	(void)state;
	pdb_init(&b, 16);
	root = pdb_tree_seq(&b, 100, 3, 0);
	assert_int_equal(b.nr_nodes, 1);
	check_sound(&b, root, 100, 3, 1);
	pdb_release(&b);
}

static void test_two_levels(void **state)
{
	struct pdb b;
	uint64_t root;

	(void)state;
	pdb_init(&b, 64);
	/* 300 entries > 252: two leaves of 150 under an internal root. */
	root = pdb_tree_seq(&b, 300, 2, 0);
	assert_int_equal(b.nr_nodes, 3);
	assert_int_equal(le32_to_cpu(pdb_hdr(&b, root)->flags),
			 PD_BTREE_INTERNAL);
	check_sound(&b, root, 300, 2, 3);
	pdb_release(&b);
}

static void test_three_levels(void **state)
{
	struct pdb b;
	uint64_t root, n = 84 * 84 * 2;

	(void)state;
	pdb_init(&b, 256);
	/* 84 per node: 168 leaves, 2 internal nodes, one root. */
	root = pdb_tree_seq(&b, n, 5, 84);
	assert_int_equal(b.nr_leaves, 168);
	assert_int_equal(b.nr_nodes, 171);
	check_sound(&b, root, n, 5, 171);
	pdb_release(&b);
}

/* A small cache forces eviction and capped prefetch mid-walk. */
static void test_small_cache(void **state)
{
	struct pdb b;
	uint64_t root, n = 84 * 84 * 2;
	uint64_t ranges[2] = { 0, n };
	struct rec *r;
	int ret;

	(void)state;
	pdb_init(&b, 256);
	root = pdb_tree_seq(&b, n, 1, 84);
	assert_int_equal(pd_bm_create(b.io, 16, &b.bm), 0);
	r = walk(&b, root, PD_WALK_PREFETCH, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r->nd, 0);
	assert_keys(r, 1, ranges, 1);
	rec_free(r);
	pdb_release(&b);
}

static void test_callback_stops(void **state)
{
	struct pdb b;
	uint64_t root;
	struct rec *r = rec_new();

	(void)state;
	pdb_init(&b, 64);
	root = pdb_tree_seq(&b, 600, 1, 0);
	r->stop_at_leaf = 2;
	assert_int_equal(pd_btree_walk(pdb_bm(&b), root, 8, 0, &rec_ops, r), 77);
	assert_int_equal(r->leaves, 2);
	assert_int_equal(r->n, 200);	/* only the first leaf's entries */
	rec_free(r);
	pdb_release(&b);
}

/* ---- damage: one leaf of a 3-leaf tree, each validator fault ---- */

/*
 * 600 keys in three leaves of 200 (blocks 1, 2, 3) under root 4.
 * Breaking leaf 2 (keys 200..399) must lose exactly [200, 400).
 */
static uint64_t three_leaves(struct pdb *b)
{
	uint64_t root;

	pdb_init(b, 16);
	root = pdb_tree_seq(b, 600, 1, 0);
	assert_int_equal(root, 4);
	assert_int_equal(b->nr_leaves, 3);
	assert_int_equal(b->nodes[1], 2);
	return root;
}

static void expect_middle_lost(struct pdb *b, uint64_t root,
			       enum pd_btree_problem p, enum pd_fault_kind kind,
			       const char *what, uint64_t found,
			       uint64_t expected)
{
	static const uint64_t kept[] = { 0, 200, 400, 600 };
	struct rec *r;
	int ret;

	r = walk(b, root, 0, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r->nd, 1);
	assert_int_equal(r->dmg[0].problem, p);
	assert_int_equal(r->dmg[0].key_begin, 200);
	assert_int_equal(r->dmg[0].key_end, 400);
	assert_int_equal(r->dmg[0].depth, 1);
	assert_int_equal(r->dmg[0].fault.block, 2);
	assert_int_equal(r->dmg[0].fault.kind, kind);
	if (what) {
		assert_string_equal(r->dmg[0].fault.what, what);
		assert_int_equal(r->dmg[0].fault.found, found);
		assert_int_equal(r->dmg[0].fault.expected, expected);
	}
	assert_int_equal(r->node_refs, 4);
	assert_keys(r, 1, kept, 2);
	rec_free(r);
}

static void test_fault_location(void **state)
{
	struct pdb b;
	uint64_t root = three_leaves(&b);

	(void)state;
	/* A valid node for block 9 copied to block 2. */
	pd_validator_prepare(&pd_btree_validator, pdb_block(&b, 2), 9);
	expect_middle_lost(&b, root, PD_BT_BLOCK, PD_FAULT_LOCATION, "blocknr",
			   9, 2);
	pdb_release(&b);
}

static void test_fault_checksum(void **state)
{
	struct pdb b;
	uint64_t root = three_leaves(&b);

	(void)state;
	pdb_block(&b, 2)[100] ^= 1;
	expect_middle_lost(&b, root, PD_BT_BLOCK, PD_FAULT_CHECKSUM, NULL, 0, 0);
	pdb_release(&b);
}

static void test_fault_headers(void **state)
{
	static const struct {
		unsigned off;
		uint32_t v;
		const char *what;
	} cases[] = {
		{ 4, 0, "flags" },
		{ 4, 3, "flags" },
		{ 16, 253, "nr_entries" },		/* nr > max (252) */
		{ 20, 255, "max_entries" },		/* 32 + 255*16 > 4096 */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pdb b;
		uint64_t root = three_leaves(&b);

		store_le32(pdb_block(&b, 2) + cases[i].off, cases[i].v);
		pdb_seal_node(&b, 2);
		expect_middle_lost(&b, root, PD_BT_BLOCK, PD_FAULT_HEADER,
				   NULL, 0, 0);
		pdb_release(&b);

		root = three_leaves(&b);
		store_le32(pdb_block(&b, 2) + cases[i].off, cases[i].v);
		pdb_seal_node(&b, 2);
		{
			struct rec *r;
			int ret;

			r = walk(&b, root, 0, &ret);
			assert_string_equal(r->dmg[0].fault.what, cases[i].what);
			assert_int_equal(r->dmg[0].fault.found, cases[i].v);
			rec_free(r);
		}
		pdb_release(&b);
	}
}

static void test_fault_range(void **state)
{
	struct pdb b;
	uint64_t root = three_leaves(&b);
	static const uint64_t kept[] = { 0, 200, 400, 600 };
	struct rec *r;
	int ret;

	(void)state;
	store_le64(pdb_node_value(&b, root, 1), 1000000);
	pdb_seal_node(&b, root);
	r = walk(&b, root, PD_WALK_PREFETCH, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r->nd, 1);
	assert_int_equal(r->dmg[0].problem, PD_BT_BLOCK);
	assert_int_equal(r->dmg[0].fault.kind, PD_FAULT_RANGE);
	assert_int_equal(r->dmg[0].fault.block, 1000000);
	assert_int_equal(r->dmg[0].fault.expected, 16);
	assert_int_equal(r->dmg[0].key_begin, 200);
	assert_int_equal(r->dmg[0].key_end, 400);
	assert_keys(r, 1, kept, 2);
	rec_free(r);
	pdb_release(&b);
}

/* A read error is damage too, through the fault engine. */
static void test_fault_io(void **state)
{
	static const uint64_t kept[] = { 0, 200, 400, 600 };
	struct pd_io_fault_plan plan = { 0, 0, 2, 0 };
	struct pd_io *fio;
	struct pd_bm *bm;
	struct pdb b;
	uint64_t root = three_leaves(&b);
	struct rec *r = rec_new();

	(void)state;
	assert_int_equal(pd_io_fault_create(b.io, &plan, &fio), 0);
	b.io = NULL;	/* the fault engine owns it now */
	assert_int_equal(pd_bm_create(fio, 64, &bm), 0);
	assert_int_equal(pd_btree_walk(bm, root, 8, 0, &rec_ops, r), 0);
	assert_int_equal(r->nd, 1);
	assert_int_equal(r->dmg[0].problem, PD_BT_BLOCK);
	assert_int_equal(r->dmg[0].fault.kind, PD_FAULT_IO);
	assert_int_equal(r->dmg[0].fault.err, -EIO);
	assert_keys(r, 1, kept, 2);
	rec_free(r);
	pd_bm_destroy(bm);
	pd_io_destroy(fio);
	pdb_release(&b);
}

/* ---- damage: each walker rule ---- */

static void test_value_size(void **state)
{
	struct pdb b;
	uint64_t root = three_leaves(&b);
	uint64_t keys[200];
	unsigned char vals[200 * 4] = { 0 };

	(void)state;
	for (unsigned i = 0; i < 200; i++)
		keys[i] = 200 + i;
	/* A sound leaf, but of value size 4 (max 336). */
	pdb_node_at(&b, 2, PD_BTREE_LEAF, 4, 200, keys, vals);
	expect_middle_lost(&b, root, PD_BT_VALUE_SIZE, PD_FAULT_HEADER,
			   "value_size", 4, 8);
	pdb_release(&b);
}

static void test_internal_value_size(void **state)
{
	struct pdb b;
	uint64_t root;
	struct rec *r = rec_new();
	uint64_t keys[2] = { 0, 300 };
	unsigned char vals[8] = { 0 };

	(void)state;
	pdb_init(&b, 16);
	/* Walk a value-size-4 tree whose root is internal with vs 4. */
	root = pdb_node(&b, PD_BTREE_INTERNAL, 4, 2, keys, vals);
	r->vs = 4;
	assert_int_equal(pd_btree_walk(pdb_bm(&b), root, 4, 0, &rec_ops, r), 0);
	assert_int_equal(r->nd, 1);
	assert_int_equal(r->dmg[0].problem, PD_BT_VALUE_SIZE);
	assert_int_equal(r->dmg[0].fault.found, 4);
	assert_int_equal(r->dmg[0].fault.expected, 8);
	assert_int_equal(r->dmg[0].key_begin, 0);
	assert_int_equal(r->dmg[0].key_end, UINT64_MAX);
	assert_int_equal(r->dmg[0].depth, 0);
	rec_free(r);
	pdb_release(&b);
}

static void test_max_entries(void **state)
{
	/* 250: not a multiple of 3; 249: a multiple of 3 but not 252. */
	static const uint32_t bad[] = { 250, 249 };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct pdb b;
		uint64_t root = three_leaves(&b);
		unsigned char *blk = pdb_block(&b, 2);
		unsigned char vals[200 * 8];

		/* Move the values so the node is otherwise consistent. */
		memcpy(vals, pdb_node_value(&b, 2, 0), sizeof(vals));
		memset(blk + PD_NODE_KEYS_OFFSET + 8 * 200, 0,
		       PD_BLOCK_SIZE - PD_NODE_KEYS_OFFSET - 8 * 200);
		pdb_hdr(&b, 2)->max_entries = cpu_to_le32(bad[i]);
		memcpy(pdb_node_value(&b, 2, 0), vals, sizeof(vals));
		pdb_seal_node(&b, 2);
		expect_middle_lost(&b, root, PD_BT_MAX_ENTRIES, PD_FAULT_HEADER,
				   "max_entries", bad[i], 252);
		pdb_release(&b);
	}
}

/* 84 entries in a non-root node pass, 83 fail (FORMAT.md §3.4 rule 7). */
static void test_underfull(void **state)
{
	(void)state;
	for (unsigned n = 83; n <= 84; n++) {
		struct pdb b;
		uint64_t root = three_leaves(&b);
		uint64_t kept[] = { 0, 200 + n, 400, 600 };
		struct rec *r;
		int ret;

		pdb_hdr(&b, 2)->nr_entries = cpu_to_le32(n);
		pdb_seal_node(&b, 2);
		if (n == 83) {
			kept[1] = 200;
			expect_middle_lost(&b, root, PD_BT_UNDERFULL,
					   PD_FAULT_HEADER, "nr_entries", 83,
					   84);
		} else {
			r = walk(&b, root, 0, &ret);
			assert_int_equal(r->nd, 0);
			assert_keys(r, 1, kept, 2);
			rec_free(r);
		}
		pdb_release(&b);
	}
}

/* The root may hold anything from 0 up, even as an internal node of 1. */
static void test_root_may_be_small(void **state)
{
	struct pdb b;
	uint64_t leaf, root, ranges[2] = { 0, 100 };
	uint64_t key0 = 0;
	struct rec *r;
	int ret;

	(void)state;
	pdb_init(&b, 16);
	leaf = pdb_tree_seq(&b, 100, 1, 0);
	root = pdb_internal(&b, 1, &key0, &leaf);
	r = walk(&b, root, 0, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r->nd, 0);
	assert_keys(r, 1, ranges, 1);
	rec_free(r);
	pdb_release(&b);
}

static void test_empty_internal(void **state)
{
	struct pdb b;
	uint64_t root;
	struct rec *r;
	struct pd_btree_cursor c;
	uint64_t key;
	int ret;

	(void)state;
	pdb_init(&b, 16);
	root = pdb_internal(&b, 0, NULL, NULL);
	r = walk(&b, root, 0, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r->nd, 1);
	assert_int_equal(r->dmg[0].problem, PD_BT_EMPTY_INTERNAL);
	assert_int_equal(r->dmg[0].key_begin, 0);
	assert_int_equal(r->dmg[0].key_end, UINT64_MAX);
	assert_int_equal(pd_btree_cursor_init(&c, pdb_bm(&b), root, 8), 0);
	assert_int_equal(pd_btree_cursor_next(&c, &key, NULL), -EUCLEAN);
	assert_int_equal(c.damage.problem, PD_BT_EMPTY_INTERNAL);
	assert_int_equal(pd_btree_cursor_next(&c, &key, NULL), -EUCLEAN);
	pd_btree_cursor_release(&c);
	rec_free(r);
	pdb_release(&b);
}

static void test_key_order(void **state)
{
	struct pdb b;
	uint64_t root = three_leaves(&b);

	(void)state;
	/* keys ... 249, 250, 250, 252 ... */
	pdb_set_key(&b, 2, 51, 250);
	pdb_seal_node(&b, 2);
	expect_middle_lost(&b, root, PD_BT_KEY_ORDER, PD_FAULT_HEADER, "key",
			   250, 251);
	pdb_release(&b);
}

static void test_key_low(void **state)
{
	struct pdb b;
	uint64_t root = three_leaves(&b);

	(void)state;
	/* The parent says the middle leaf starts at 201; it holds 200. */
	pdb_set_key(&b, root, 1, 201);
	pdb_seal_node(&b, root);
	{
		struct rec *r;
		int ret;
		static const uint64_t kept[] = { 0, 200, 400, 600 };

		r = walk(&b, root, 0, &ret);
		assert_int_equal(r->nd, 1);
		assert_int_equal(r->dmg[0].problem, PD_BT_KEY_LOW);
		assert_int_equal(r->dmg[0].key_begin, 201);
		assert_int_equal(r->dmg[0].key_end, 400);
		assert_int_equal(r->dmg[0].fault.found, 200);
		assert_int_equal(r->dmg[0].fault.expected, 201);
		assert_keys(r, 1, kept, 2);
		rec_free(r);
	}
	pdb_release(&b);
}

/*
 * 0.9.0 accepts a parent key below the child's first key even when the
 * previous leaf then holds keys at or past it (FORMAT.md §3.4 rule 9); we
 * do not: the first leaf's last key 199 is past the parent's next key 199.
 */
static void test_key_high(void **state)
{
	struct pdb b;
	uint64_t root = three_leaves(&b);
	static const uint64_t kept[] = { 200, 600 };
	struct rec *r;
	int ret;

	(void)state;
	pdb_set_key(&b, root, 1, 199);
	pdb_seal_node(&b, root);
	r = walk(&b, root, 0, &ret);
	assert_int_equal(r->nd, 1);
	assert_int_equal(r->dmg[0].problem, PD_BT_KEY_HIGH);
	assert_int_equal(r->dmg[0].fault.block, 1);
	assert_int_equal(r->dmg[0].key_begin, 0);
	assert_int_equal(r->dmg[0].key_end, 199);
	assert_int_equal(r->dmg[0].fault.found, 199);
	assert_keys(r, 1, kept, 1);
	rec_free(r);
	pdb_release(&b);
}

/* A bound from a grandparent: the last leaf under a non-last child. */
static void test_key_high_inherited(void **state)
{
	struct pdb b;
	uint64_t root, n = 84 * 84 * 2;
	uint64_t mid, leaf;
	struct rec *r;
	int ret;

	(void)state;
	pdb_init(&b, 256);
	root = pdb_tree_seq(&b, n, 1, 84);
	/* The root's second child starts at 84*84; its first child's last leaf
	 * must end below that.  Raise that leaf's last key to 84*84. */
	mid = load_le64(pdb_node_value(&b, root, 0));
	leaf = load_le64(pdb_node_value(&b, mid, 83));
	pdb_set_key(&b, leaf, 83, 84 * 84);
	pdb_seal_node(&b, leaf);
	r = walk(&b, root, 0, &ret);
	assert_int_equal(r->nd, 1);
	assert_int_equal(r->dmg[0].problem, PD_BT_KEY_HIGH);
	assert_int_equal(r->dmg[0].fault.block, leaf);
	assert_int_equal(r->dmg[0].depth, 2);
	assert_int_equal(r->dmg[0].key_begin, 83 * 84);
	assert_int_equal(r->dmg[0].key_end, 84 * 84);
	assert_int_equal(r->n, n - 84);
	rec_free(r);
	pdb_release(&b);
}

/*
 * Leaves at depths 1 and 2 under one root.  An internal node needs 84
 * children, so the middle node points 84 times at one leaf and the walk
 * allows sharing: only the first visit reads it.
 */
static uint64_t depth_tree(struct pdb *b, int leaf_first, uint64_t *mid,
			   uint64_t *shallow)
{
	uint64_t k[200], ik[84], ic[84], keys[2], kids[2], deep;
	unsigned char v[200 * 8];

	pdb_init(b, 16);
	for (unsigned i = 0; i < 200; i++) {
		k[i] = i < 100 ? i : 900 + i;	/* 0..99, 1000..1099 */
		store_le64(v + 8 * i, k[i] * 10 + 1);
	}
	deep = pdb_node(b, PD_BTREE_LEAF, 8, 100, leaf_first ? k + 100 : k,
			leaf_first ? v + 800 : v);
	*shallow = pdb_node(b, PD_BTREE_LEAF, 8, 100, leaf_first ? k : k + 100,
			    leaf_first ? v : v + 800);
	for (unsigned i = 0; i < 84; i++) {
		ik[i] = (leaf_first ? 1000 : 0) + (i ? 100 + i : 0);
		ic[i] = deep;
	}
	*mid = pdb_internal(b, 84, ik, ic);
	keys[0] = 0;
	keys[1] = 1000;
	kids[0] = leaf_first ? *shallow : *mid;
	kids[1] = leaf_first ? *mid : *shallow;
	return pdb_internal(b, 2, keys, kids);
}

static void test_depth(void **state)
{
	struct pdb b;
	uint64_t mid, shallow, root;
	struct rec *r;
	int ret;

	(void)state;
	/* Deep leaf first: the shallow leaf after it is the odd one. */
	root = depth_tree(&b, 0, &mid, &shallow);
	r = walk(&b, root, PD_WALK_ALLOW_SHARED, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r->nd, 1);
	assert_int_equal(r->dmg[0].problem, PD_BT_DEPTH);
	assert_int_equal(r->dmg[0].fault.block, shallow);
	assert_int_equal(r->dmg[0].depth, 1);
	assert_int_equal(r->dmg[0].fault.found, 1);
	assert_int_equal(r->dmg[0].fault.expected, 2);
	assert_int_equal(r->dmg[0].key_begin, 1000);
	assert_int_equal(r->dmg[0].key_end, UINT64_MAX);
	assert_int_equal(r->n, 100);
	assert_int_equal(r->keys[99], 99);
	rec_free(r);
	pdb_release(&b);

	/* Shallow leaf first: the internal node at its depth is refused. */
	root = depth_tree(&b, 1, &mid, &shallow);
	r = walk(&b, root, PD_WALK_ALLOW_SHARED, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r->nd, 1);
	assert_int_equal(r->dmg[0].problem, PD_BT_DEPTH);
	assert_int_equal(r->dmg[0].fault.block, mid);
	assert_int_equal(r->dmg[0].depth, 1);
	assert_int_equal(r->dmg[0].fault.found, 1);
	assert_int_equal(r->dmg[0].fault.expected, 0);
	assert_int_equal(r->dmg[0].key_begin, 1000);
	assert_int_equal(r->n, 100);
	assert_int_equal(r->keys[99], 99);
	rec_free(r);
	pdb_release(&b);
}

/*
 * A chain of 70 internal nodes, each of 84 entries: 83 pointers past the
 * device and the last to the next node.  The walk must stop at depth 64.
 */
static void test_too_deep(void **state)
{
	struct pdb b;
	uint64_t nodes[70];
	struct rec *r;
	struct pd_btree_cursor c;
	uint64_t key;
	int ret, too_deep = 0, range = 0;

	(void)state;
	pdb_init(&b, 128);
	for (unsigned d = 0; d < 70; d++)
		nodes[d] = pdb_alloc(&b);
	for (unsigned d = 0; d < 70; d++) {
		uint64_t keys[84], kids[84];

		for (unsigned i = 0; i < 84; i++) {
			keys[i] = (uint64_t)d * 100 + i;
			kids[i] = d + 1 < 70 && i == 83 ? nodes[d + 1] : 5000;
		}
		b.next = nodes[d];
		pdb_internal(&b, 84, keys, kids);
	}
	r = walk(&b, nodes[0], 0, &ret);
	assert_int_equal(ret, 0);
	for (size_t i = 0; i < r->nd; i++) {
		if (r->dmg[i].problem == PD_BT_TOO_DEEP) {
			/* Every child of the node at depth 63, unread. */
			too_deep++;
			assert_int_equal(r->dmg[i].depth, PD_BTREE_MAX_DEPTH);
			assert_int_equal(r->dmg[i].key_begin,
					 63 * 100 + too_deep - 1);
			assert_int_equal(r->dmg[i].fault.block,
					 too_deep == 84 ?
						 nodes[PD_BTREE_MAX_DEPTH] :
						 5000);
		} else {
			assert_int_equal(r->dmg[i].problem, PD_BT_BLOCK);
			assert_int_equal(r->dmg[i].fault.kind, PD_FAULT_RANGE);
			range++;
		}
	}
	assert_int_equal(too_deep, 84);
	assert_int_equal(range, 63 * 83);
	assert_int_equal(r->n, 0);
	rec_free(r);

	assert_int_equal(pd_btree_cursor_init(&c, pdb_bm(&b), nodes[0], 8), 0);
	assert_int_equal(pd_btree_cursor_next(&c, &key, NULL), -ERANGE);
	assert_int_equal(c.damage.problem, PD_BT_BLOCK);
	pd_btree_cursor_release(&c);

	assert_int_equal(pd_btree_lookup(pdb_bm(&b), nodes[0], 8, 69 * 100,
					 NULL, NULL), -EUCLEAN);
	pdb_release(&b);
}

/* The root's second child is the root itself. */
static void test_cycle(void **state)
{
	(void)state;
	for (unsigned flags = 0; flags <= PD_WALK_ALLOW_SHARED; flags++) {
		struct pdb b;
		uint64_t leaf, root, keys[2] = { 0, 1000 }, kids[2];
		uint64_t ranges[2] = { 0, 100 };
		struct pd_btree_cursor c;
		uint64_t key;
		struct rec *r;
		int ret;

		pdb_init(&b, 16);
		leaf = pdb_tree_seq(&b, 100, 1, 0);
		root = b.next;
		kids[0] = leaf;
		kids[1] = root;
		assert_int_equal(pdb_internal(&b, 2, keys, kids), root);
		r = walk(&b, root, flags, &ret);
		assert_int_equal(ret, 0);
		assert_int_equal(r->nd, 1);
		assert_int_equal(r->dmg[0].problem, PD_BT_CYCLE);
		assert_int_equal(r->dmg[0].fault.block, root);
		assert_int_equal(r->dmg[0].key_begin, 1000);
		assert_int_equal(r->dmg[0].key_end, UINT64_MAX);
		assert_int_equal(r->node_refs, 3);
		assert_keys(r, 1, ranges, 1);
		rec_free(r);

		assert_int_equal(pd_btree_cursor_init(&c, pdb_bm(&b), root, 8), 0);
		for (unsigned i = 0; i < 100; i++)
			assert_int_equal(pd_btree_cursor_next(&c, &key, NULL), 1);
		assert_int_equal(pd_btree_cursor_next(&c, &key, NULL), -EUCLEAN);
		assert_int_equal(c.damage.problem, PD_BT_CYCLE);
		pd_btree_cursor_release(&c);
		pdb_release(&b);
	}
}

/* Two root entries point at the same leaf. */
static void test_shared(void **state)
{
	(void)state;
	for (unsigned flags = 0; flags <= PD_WALK_ALLOW_SHARED; flags++) {
		struct pdb b;
		uint64_t leaf, root, keys[2] = { 0, 500 }, kids[2];
		uint64_t ranges[2] = { 0, 100 };
		struct rec *r;
		int ret;

		pdb_init(&b, 16);
		leaf = pdb_tree_seq(&b, 100, 1, 0);
		kids[0] = kids[1] = leaf;
		root = pdb_internal(&b, 2, keys, kids);
		r = walk(&b, root, flags, &ret);
		assert_int_equal(ret, 0);
		/* node_ref once per pointer, shared or not. */
		assert_int_equal(r->node_refs, 3);
		assert_keys(r, 1, ranges, 1);
		if (flags & PD_WALK_ALLOW_SHARED) {
			assert_int_equal(r->nd, 0);
		} else {
			assert_int_equal(r->nd, 1);
			assert_int_equal(r->dmg[0].problem, PD_BT_SHARED);
			assert_int_equal(r->dmg[0].fault.block, leaf);
			assert_int_equal(r->dmg[0].key_begin, 500);
			assert_int_equal(r->dmg[0].ref_skipped, 0);
		}
		rec_free(r);

		/*
		 * Below a node counted before: the same verdict, but neither
		 * pointer to the leaf was passed to node_ref, and the damage
		 * says so.
		 */
		r = rec_new();
		r->counted_node = root;
		ret = pd_btree_walk(pdb_bm(&b), root, 8, flags, &rec_ops, r);
		assert_int_equal(ret, 0);
		assert_int_equal(r->node_refs, 1);
		assert_keys(r, 1, ranges, 1);
		if (flags & PD_WALK_ALLOW_SHARED) {
			assert_int_equal(r->nd, 0);
		} else {
			assert_int_equal(r->nd, 1);
			assert_int_equal(r->dmg[0].problem, PD_BT_SHARED);
			assert_int_equal(r->dmg[0].ref_skipped, 1);
		}
		rec_free(r);
		pdb_release(&b);
	}
}

/*
 * A subtree counted before (shared with another tree): node_ref sees the
 * pointer to it, not the pointers below it, and the walk still checks and
 * delivers everything under it, its leaves flagged as counted.
 */
static void test_counted_subtree(void **state)
{
	struct pdb b;
	uint64_t root, n = 84 * 84 * 2, ranges[2] = { 0, n };
	struct rec *r;
	int ret;

	(void)state;
	pdb_init(&b, 256);
	/* 84 per node: 168 leaves under 2 internal nodes under the root. */
	root = pdb_tree_seq(&b, n, 1, 84);
	for (unsigned flags = 0; flags <= PD_WALK_PREFETCH;
	     flags += PD_WALK_PREFETCH) {
		/* The first internal node: its 84 leaves go uncounted. */
		r = rec_new();
		r->counted_node = load_le64((const unsigned char *)
						    pdb_hdr(&b, root) +
					    PD_NODE_KEYS_OFFSET + 8 * 252);
		ret = pd_btree_walk(pdb_bm(&b), root, 8, flags, &rec_ops, r);
		assert_int_equal(ret, 0);
		assert_int_equal(r->nd, 0);
		assert_int_equal(r->node_refs, 171 - 84);
		assert_int_equal(r->leaves, 168);
		assert_int_equal(r->counted_leaves, 84);
		assert_keys(r, 1, ranges, 1);
		rec_free(r);

		/* The root: only the pointer to it is seen. */
		r = rec_new();
		r->counted_node = root;
		ret = pd_btree_walk(pdb_bm(&b), root, 8, flags, &rec_ops, r);
		assert_int_equal(ret, 0);
		assert_int_equal(r->nd, 0);
		assert_int_equal(r->node_refs, 1);
		assert_int_equal(r->counted_leaves, 168);
		assert_keys(r, 1, ranges, 1);
		rec_free(r);
	}
	pdb_release(&b);
}

static void test_lookup_errors(void **state)
{
	struct pdb b;
	uint64_t root = three_leaves(&b);
	struct pd_fault f;
	uint64_t v;

	(void)state;
	/* Below the first key of the root: absent. */
	pdb_set_key(&b, root, 0, 5);
	pdb_seal_node(&b, root);
	assert_int_equal(pd_btree_lookup(pdb_bm(&b), root, 8, 3, &v, &f),
			 -ENODATA);
	assert_int_equal(pd_btree_lookup(pdb_bm(&b), root, 8, 5, &v, &f), 0);
	/* Wrong value size expected by the caller. */
	assert_int_equal(pd_btree_lookup(pdb_bm(&b), root, 4, 250, &v, &f),
			 -EILSEQ);
	assert_int_equal(f.block, 2);
	assert_string_equal(f.what, "value_size");
	/* A corrupt leaf. */
	pdb_block(&b, 3)[64] ^= 0x80;
	assert_int_equal(pd_btree_lookup(pdb_bm(&b), root, 8, 450, &v, &f),
			 -EILSEQ);
	assert_int_equal(f.block, 3);
	assert_int_equal(f.kind, PD_FAULT_CHECKSUM);
	assert_int_equal(pd_btree_lookup(pdb_bm(&b), root, 8, 250, &v, &f), 0);
	pdb_release(&b);
}

static void test_value_size_4(void **state)
{
	struct pdb b;
	uint64_t keys[400], root;
	unsigned char vals[400 * 4];
	struct rec *r = rec_new();
	uint32_t v;

	(void)state;
	pdb_init(&b, 16);
	for (unsigned i = 0; i < 400; i++) {
		keys[i] = 7 * i;
		store_le32(vals + 4 * i, i + 3);
	}
	root = pdb_tree(&b, 400, keys, vals, 4, 0);
	assert_int_equal(pdb_node_max(&b, b.nodes[0]), 336);
	r->vs = 4;
	assert_int_equal(pd_btree_walk(pdb_bm(&b), root, 4, 0, &rec_ops, r), 0);
	assert_int_equal(r->nd, 0);
	assert_int_equal(r->n, 400);
	for (unsigned i = 0; i < 400; i++) {
		assert_int_equal(r->keys[i], 7 * i);
		assert_int_equal(r->vals[i], i + 3);
	}
	assert_int_equal(pd_btree_lookup(pdb_bm(&b), root, 4, 7 * 399, &v,
					 NULL), 0);
	assert_int_equal(v, 399 + 3);
	rec_free(r);
	pdb_release(&b);
}

static void test_problem_names(void **state)
{
	(void)state;
	for (int p = PD_BT_BLOCK; p <= PD_BT_SHARED; p++) {
		const char *n = pd_btree_problem_name(p);

		assert_non_null(n);
		assert_string_not_equal(n, "unknown btree problem");
		for (int q = PD_BT_BLOCK; q < p; q++)
			assert_string_not_equal(n, pd_btree_problem_name(q));
	}
	assert_string_equal(pd_btree_problem_name(99), "unknown btree problem");
}

/* ---- enter/leave: sharing between walks ---- */

struct el {
	struct rec *r;
	uint64_t skip;		/* enter() says 1 for this block */
	uint64_t entered[16], left[16];
	size_t ne, nl;
	int depth_ok;
};

static int el_leaf(void *ctx, uint64_t block, unsigned nr, const void *keys,
		   const void *values, int counted)
{
	return rec_leaf(((struct el *)ctx)->r, block, nr, keys, values, counted);
}

static int el_damage(void *ctx, const struct pd_btree_damage *d)
{
	return rec_damage(((struct el *)ctx)->r, d);
}

static int el_node_ref(void *ctx, uint64_t block)
{
	return rec_node_ref(((struct el *)ctx)->r, block);
}

static int el_enter(void *ctx, uint64_t block, unsigned depth)
{
	struct el *e = ctx;

	(void)depth;
	if (block == e->skip)
		return 1;
	assert_true(e->ne < 16);
	e->entered[e->ne++] = block;
	return 0;
}

static void el_leave(void *ctx, uint64_t block)
{
	struct el *e = ctx;

	assert_true(e->nl < 16);
	e->left[e->nl++] = block;
}

static const struct pd_btree_walk_ops el_ops = {
	.leaf = el_leaf,
	.damage = el_damage,
	.node_ref = el_node_ref,
	.enter = el_enter,
	.leave = el_leave,
};

static void test_enter_leave(void **state)
{
	struct pdb b;
	struct el e;
	uint64_t root;
	uint64_t ranges[4] = { 0, 184, 400, 600 };
	int ret;

	(void)state;
	root = three_leaves(&b);
	/* Walk everything: leaves in order, then the root, each left once. */
	memset(&e, 0, sizeof(e));
	e.r = rec_new();
	e.skip = UINT64_MAX;
	ret = pd_btree_walk(pdb_bm(&b), root, 8, 0, &el_ops, &e);
	assert_int_equal(ret, 0);
	assert_int_equal(e.ne, 4);
	assert_int_equal(e.nl, 4);
	assert_int_equal(e.entered[0], root);
	assert_int_equal(e.left[3], root);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(e.left[i], b.nodes[i]);
	assert_int_equal(e.r->n, 600);
	rec_free(e.r);

	/* The middle leaf skipped: its pointer is still a reference, its
	 * keys are not delivered, it is neither entered nor left. */
	memset(&e, 0, sizeof(e));
	e.r = rec_new();
	e.skip = b.nodes[1];
	ret = pd_btree_walk(pdb_bm(&b), root, 8, 0, &el_ops, &e);
	assert_int_equal(ret, 0);
	assert_int_equal(e.r->node_refs, 4);
	assert_int_equal(e.ne, 3);
	assert_int_equal(e.nl, 3);
	assert_int_equal(e.r->nd, 0);
	ranges[1] = 200;
	assert_keys(e.r, 1, ranges, 2);
	rec_free(e.r);

	/* A damaged node that was entered is left too (a fresh image: the
	 * block manager has the sound copy cached). */
	pdb_release(&b);
	root = three_leaves(&b);
	pdb_block(&b, b.nodes[1])[200] ^= 1;
	memset(&e, 0, sizeof(e));
	e.r = rec_new();
	e.skip = UINT64_MAX;
	ret = pd_btree_walk(pdb_bm(&b), root, 8, 0, &el_ops, &e);
	assert_int_equal(ret, 0);
	assert_int_equal(e.r->nd, 1);
	assert_int_equal(e.ne, 4);
	assert_int_equal(e.nl, 4);
	assert_int_equal(e.left[1], b.nodes[1]);
	rec_free(e.r);
	pdb_release(&b);
}

/* PD_WALK_LEAF_UNDERFULL_OK: thin's leaves may be nearly empty, internal
 * nodes still may not. */
static void test_leaf_underfull_ok(void **state)
{
	struct pdb b;
	uint64_t root;
	struct rec *r;
	int ret;

	(void)state;
	root = three_leaves(&b);
	/* The middle leaf cut to 10 entries. */
	pdb_hdr(&b, b.nodes[1])->nr_entries = cpu_to_le32(10);
	pdb_seal_node(&b, b.nodes[1]);
	r = walk(&b, root, 0, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r->nd, 1);
	assert_int_equal(r->dmg[0].problem, PD_BT_UNDERFULL);
	rec_free(r);
	pdb_release(&b);

	root = three_leaves(&b);
	pdb_hdr(&b, b.nodes[1])->nr_entries = cpu_to_le32(10);
	pdb_seal_node(&b, b.nodes[1]);
	r = walk(&b, root, PD_WALK_LEAF_UNDERFULL_OK, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r->nd, 0);
	assert_int_equal(r->n, 410);
	rec_free(r);
	pdb_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_tree),
		cmocka_unit_test(test_one_leaf),
		cmocka_unit_test(test_two_levels),
		cmocka_unit_test(test_three_levels),
		cmocka_unit_test(test_small_cache),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_fault_location),
		cmocka_unit_test(test_fault_checksum),
		cmocka_unit_test(test_fault_headers),
		cmocka_unit_test(test_fault_range),
		cmocka_unit_test(test_fault_io),
		cmocka_unit_test(test_value_size),
		cmocka_unit_test(test_internal_value_size),
		cmocka_unit_test(test_max_entries),
		cmocka_unit_test(test_underfull),
		cmocka_unit_test(test_root_may_be_small),
		cmocka_unit_test(test_empty_internal),
		cmocka_unit_test(test_key_order),
		cmocka_unit_test(test_key_low),
		cmocka_unit_test(test_key_high),
		cmocka_unit_test(test_key_high_inherited),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_too_deep),
		cmocka_unit_test(test_cycle),
		cmocka_unit_test(test_shared),
		cmocka_unit_test(test_counted_subtree),
		cmocka_unit_test(test_enter_leave),
		cmocka_unit_test(test_leaf_underfull_ok),
		cmocka_unit_test(test_lookup_errors),
		cmocka_unit_test(test_value_size_4),
		cmocka_unit_test(test_problem_names),
	};

	return cmocka_run_group_tests_name("btree", tests, NULL, NULL);
}
