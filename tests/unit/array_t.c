// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * dm-array read side: the walk over arrays of 0, 1, 2 and 301 blocks (one-
 * and two-level btrees, value sizes 8 and 4), pd_array_get, and one test per
 * rule of FORMAT.md §5.2: bad array blocks, wrong value size, max_entries
 * and nr_entries, missing and extra btree keys, btree damage, each checking
 * the exact lost index range and that everything else is still delivered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pdata/array.h"
#include "pdbuild.h"

#define PER8 509u
#define PER4 1018u

static uint64_t val8(uint64_t i)
{
	return i * 3 + 1;
}

static uint32_t val4(uint64_t i)
{
	return (uint32_t)(i * 5 + 2);
}

static void *make_values(uint64_t n, uint32_t vs)
{
	unsigned char *v = malloc(n * vs + 1);

	assert_non_null(v);
	for (uint64_t i = 0; i < n; i++) {
		if (vs == 8)
			store_le64(v + 8 * i, val8(i));
		else
			store_le32(v + 4 * i, val4(i));
	}
	return v;
}

struct arec {
	uint32_t vs;
	uint64_t n;		/* array length */
	unsigned char *seen;	/* per index: times delivered */
	int bad_value;
	uint64_t next_index;	/* values arrive in index order */
	int out_of_order;
	struct pd_array_damage dmg[64];
	size_t nd;
	uint64_t *refs;
	size_t nrefs;
	int stop_at_call;
	int calls;
};

static int arec_values(void *ctx, uint64_t index, unsigned nr,
		       const void *values, uint64_t block)
{
	struct arec *r = ctx;
	const unsigned char *p = values;

	(void)block;
	if (++r->calls == r->stop_at_call)
		return -1234;
	if (index < r->next_index)
		r->out_of_order = 1;
	r->next_index = index + nr;
	for (unsigned i = 0; i < nr; i++) {
		uint64_t x = index + i;

		assert_true(x < r->n);
		r->seen[x]++;
		if (r->vs == 8 ? load_le64(p + 8 * i) != val8(x) :
				 load_le32(p + 4 * i) != val4(x))
			r->bad_value = 1;
	}
	return 0;
}

static int arec_damage(void *ctx, const struct pd_array_damage *d)
{
	struct arec *r = ctx;

	assert_true(r->nd < 64);
	r->dmg[r->nd++] = *d;
	return 0;
}

static int arec_ref(void *ctx, uint64_t block)
{
	struct arec *r = ctx;

	r->refs = realloc(r->refs, (r->nrefs + 1) * sizeof(uint64_t));
	assert_non_null(r->refs);
	r->refs[r->nrefs++] = block;
	return 0;
}

static const struct pd_array_walk_ops arec_ops = {
	.values = arec_values,
	.damage = arec_damage,
	.block_ref = arec_ref,
};

static struct arec *awalk(struct pdb *b, uint64_t root, uint64_t n,
			  uint32_t vs, unsigned flags, int *ret)
{
	struct arec *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->vs = vs;
	r->n = n;
	r->seen = calloc(n + 1, 1);
	assert_non_null(r->seen);
	*ret = pd_array_walk(pdb_bm(b), root, n, vs, flags, &arec_ops, r);
	assert_false(r->bad_value);
	assert_false(r->out_of_order);
	return r;
}

static void arec_free(struct arec *r)
{
	free(r->seen);
	free(r->refs);
	free(r);
}

/* Every index delivered exactly once, except [lb, le) never. */
static void assert_seen(const struct arec *r, uint64_t lb, uint64_t le)
{
	for (uint64_t i = 0; i < r->n; i++) {
		unsigned want = !(i >= lb && i < le);

		if (r->seen[i] != want)
			fail_msg("index %lu seen %u times, expected %u",
				 (unsigned long)i, r->seen[i], want);
	}
}

static int ref_count(const struct arec *r, uint64_t block)
{
	int n = 0;

	for (size_t i = 0; i < r->nrefs; i++)
		n += r->refs[i] == block;
	return n;
}

/* A whole array in a fresh image. */
static void build(struct pdb *b, struct pdb_array *a, uint64_t n, uint32_t vs,
		  uint64_t dev_blocks)
{
	void *v = make_values(n, vs);

	pdb_init(b, dev_blocks);
	pdb_array(b, vs, n, v, a);
	free(v);
}

/* ---- sound arrays ---- */

static void test_empty(void **state)
{
	struct pdb b;
	struct pdb_array a;
	struct arec *r;
	uint64_t v;
	int ret;

	(void)state;
	build(&b, &a, 0, 8, 16);
	r = awalk(&b, a.root, 0, 8, 0, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r->nd, 0);
	assert_int_equal(r->calls, 0);
	assert_int_equal(r->nrefs, 1);
	assert_int_equal(r->refs[0], a.root);
	assert_int_equal(pd_array_get(pdb_bm(&b), a.root, 8, 0, &v, NULL),
			 -ENODATA);
	arec_free(r);
	pdb_array_release(&a);
	pdb_release(&b);
}

static void check_sound(uint64_t n, uint32_t vs, uint64_t dev)
{
	for (unsigned flags = 0; flags <= PD_WALK_PREFETCH;
	     flags += PD_WALK_PREFETCH) {
		struct pdb b;
		struct pdb_array a;
		struct arec *r;
		int ret;

		build(&b, &a, n, vs, dev);
		r = awalk(&b, a.root, n, vs, flags, &ret);
		assert_int_equal(ret, 0);
		assert_int_equal(r->nd, 0);
		assert_seen(r, 0, 0);
		/* Every btree node and every array block, once each. */
		assert_int_equal(r->nrefs, b.nr_nodes + a.nblocks);
		for (uint64_t k = 0; k < a.nblocks; k++)
			assert_int_equal(ref_count(r, a.blocks[k]), 1);
		for (unsigned i = 0; i < b.nr_nodes; i++)
			assert_int_equal(ref_count(r, b.nodes[i]), 1);
		arec_free(r);

		for (uint64_t i = 0; i < n; i += 1 + i / 3) {
			uint64_t v = 0;

			assert_int_equal(pd_array_get(pdb_bm(&b), a.root, vs, i,
						      &v, NULL), 0);
			if (vs == 8)
				assert_int_equal(le64_to_cpu((le64){ v }),
						 val8(i));
			else
				assert_int_equal(load_le32(&v), val4(i));
		}
		{
			uint64_t v;

			assert_int_equal(pd_array_get(pdb_bm(&b), a.root, vs,
						      n - 1, &v, NULL), 0);
			/* Past the end inside the last block, and past it. */
			assert_int_equal(pd_array_get(pdb_bm(&b), a.root, vs,
						      n, &v, NULL), -ENODATA);
			assert_int_equal(pd_array_get(pdb_bm(&b), a.root, vs,
						      n + 100000, &v, NULL),
					 -ENODATA);
		}
		pdb_array_release(&a);
		pdb_release(&b);
	}
}

static void test_one_block(void **state)
{
	(void)state;
	check_sound(16, 8, 16);
	check_sound(PER8, 8, 16);	/* exactly full */
}

static void test_two_blocks(void **state)
{
	(void)state;
	check_sound(1000, 8, 16);
	check_sound(PER4 + 1, 4, 16);
}

static void test_two_level_btree(void **state)
{
	(void)state;
	/* 301 array blocks: two leaves under an internal root. */
	check_sound(300 * (uint64_t)PER8 + 7, 8, 400);
}

static void test_callback_stops(void **state)
{
	struct pdb b;
	struct pdb_array a;
	struct arec *r = calloc(1, sizeof(*r));

	(void)state;
	build(&b, &a, 3000, 8, 32);
	r->vs = 8;
	r->n = 3000;
	r->seen = calloc(3000, 1);
	r->stop_at_call = 3;
	assert_int_equal(pd_array_walk(pdb_bm(&b), a.root, 3000, 8, 0,
				       &arec_ops, r), -1234);
	assert_int_equal(r->calls, 3);
	arec_free(r);
	pdb_array_release(&a);
	pdb_release(&b);
}

/* ---- array block damage ---- */

/* 5 blocks of vs 8 (2300 entries: 4 full and 164); break block k. */
static void expect_block_lost(struct pdb *b, struct pdb_array *a, unsigned k,
			      enum pd_array_problem p, enum pd_fault_kind kind,
			      const char *what, uint64_t found,
			      uint64_t expected)
{
	uint64_t lb = k * PER8, le = k == 4 ? 2300 : lb + PER8;
	struct arec *r;
	int ret;

	r = awalk(b, a->root, 2300, 8, PD_WALK_PREFETCH, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r->nd, 1);
	assert_int_equal(r->dmg[0].problem, p);
	assert_int_equal(r->dmg[0].index_begin, lb);
	assert_int_equal(r->dmg[0].index_end, le);
	assert_int_equal(r->dmg[0].fault.block, a->blocks[k]);
	assert_int_equal(r->dmg[0].fault.kind, kind);
	if (what) {
		assert_string_equal(r->dmg[0].fault.what, what);
		assert_int_equal(r->dmg[0].fault.found, found);
		assert_int_equal(r->dmg[0].fault.expected, expected);
	}
	assert_seen(r, lb, le);
	/* A bad block is still a reference. */
	assert_int_equal(ref_count(r, a->blocks[k]), 1);
	arec_free(r);
}

static void test_block_checksum(void **state)
{
	struct pdb b;
	struct pdb_array a;

	(void)state;
	build(&b, &a, 2300, 8, 32);
	pdb_block(&b, a.blocks[2])[1000] ^= 0x10;
	expect_block_lost(&b, &a, 2, PD_ARR_BLOCK, PD_FAULT_CHECKSUM, NULL, 0,
			  0);
	pdb_array_release(&a);
	pdb_release(&b);
}

static void test_block_location(void **state)
{
	struct pdb b;
	struct pdb_array a;

	(void)state;
	build(&b, &a, 2300, 8, 32);
	/* Array blocks keep their number at offset 16, not 8. */
	pd_validator_prepare(&pd_array_validator, pdb_block(&b, a.blocks[4]),
			     a.blocks[3]);
	expect_block_lost(&b, &a, 4, PD_ARR_BLOCK, PD_FAULT_LOCATION, "blocknr",
			  a.blocks[3], a.blocks[4]);
	pdb_array_release(&a);
	pdb_release(&b);
}

static void test_block_max_entries(void **state)
{
	struct pdb b;
	struct pdb_array a;

	(void)state;
	build(&b, &a, 2300, 8, 32);
	pdb_ahdr(&b, a.blocks[0])->max_entries = cpu_to_le32(508);
	pdb_seal_array(&b, a.blocks[0]);
	expect_block_lost(&b, &a, 0, PD_ARR_BLOCK, PD_FAULT_HEADER,
			  "max_entries", 508, PER8);
	pdb_array_release(&a);
	pdb_release(&b);
}

/* A consistent block of hint-sized values where mappings are expected. */
static void test_block_value_size(void **state)
{
	struct pdb b;
	struct pdb_array a;
	struct pd_array_header *h;
	uint64_t v;
	struct pd_fault f;

	(void)state;
	build(&b, &a, 2300, 8, 32);
	h = pdb_ahdr(&b, a.blocks[1]);
	h->value_size = cpu_to_le32(4);
	h->max_entries = cpu_to_le32(PER4);
	pdb_seal_array(&b, a.blocks[1]);
	expect_block_lost(&b, &a, 1, PD_ARR_VALUE_SIZE, PD_FAULT_HEADER,
			  "value_size", 4, 8);
	assert_int_equal(pd_array_get(pdb_bm(&b), a.root, 8, PER8 + 3, &v, &f),
			 -EILSEQ);
	assert_int_equal(f.block, a.blocks[1]);
	assert_string_equal(f.what, "value_size");
	pdb_array_release(&a);
	pdb_release(&b);
}

/* 0.9.0 accepted a full block cut to 10 entries and lost 499 mappings. */
static void test_block_nr_entries(void **state)
{
	struct pdb b;
	struct pdb_array a;

	(void)state;
	build(&b, &a, 2300, 8, 32);
	pdb_ahdr(&b, a.blocks[1])->nr_entries = cpu_to_le32(10);
	pdb_seal_array(&b, a.blocks[1]);
	expect_block_lost(&b, &a, 1, PD_ARR_NR_ENTRIES, PD_FAULT_HEADER,
			  "nr_entries", 10, PER8);
	pdb_array_release(&a);
	pdb_release(&b);

	/* The last block must hold exactly the remainder, not more. */
	build(&b, &a, 2300, 8, 32);
	pdb_ahdr(&b, a.blocks[4])->nr_entries = cpu_to_le32(165);
	pdb_seal_array(&b, a.blocks[4]);
	expect_block_lost(&b, &a, 4, PD_ARR_NR_ENTRIES, PD_FAULT_HEADER,
			  "nr_entries", 165, 2300 - 4 * PER8);
	pdb_array_release(&a);
	pdb_release(&b);
}

/* ---- btree-level problems: hand-made key sets ---- */

/*
 * Array blocks for keys[], each full (or the remainder for key n/per),
 * under a btree of exactly those keys.
 */
static uint64_t custom_array(struct pdb *b, uint64_t n, const uint64_t *keys,
			     unsigned nk, uint64_t *blocks)
{
	unsigned char *ptrs = malloc(nk * 8 + 1);
	uint64_t root;

	assert_non_null(ptrs);
	for (unsigned i = 0; i < nk; i++) {
		uint64_t k = keys[i], first = k * PER8;
		uint64_t cnt = first + PER8 <= n ? PER8 :
			       first < n ? n - first : PER8;
		uint64_t nr = pdb_alloc(b);
		struct pd_array_header *h = pdb_ahdr(b, nr);

		h->max_entries = cpu_to_le32(PER8);
		h->nr_entries = cpu_to_le32((uint32_t)cnt);
		h->value_size = cpu_to_le32(8);
		for (uint64_t j = 0; j < cnt; j++)
			store_le64((unsigned char *)h + 24 + 8 * j,
				   val8(first + j));
		pdb_seal_array(b, nr);
		blocks[i] = nr;
		store_le64(ptrs + 8 * i, nr);
	}
	root = pdb_tree(b, nk, keys, ptrs, 8, 0);
	free(ptrs);
	return root;
}

static void test_missing_keys(void **state)
{
	/* 6 blocks wanted (0..5); keys 1, 2 and 5 are absent. */
	static const uint64_t keys[] = { 0, 3, 4 };
	uint64_t n = 5 * PER8 + 100, blocks[3], root;
	struct pdb b;
	struct arec *r;
	int ret;

	(void)state;
	pdb_init(&b, 32);
	root = custom_array(&b, n, keys, 3, blocks);
	r = awalk(&b, root, n, 8, 0, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r->nd, 2);
	assert_int_equal(r->dmg[0].problem, PD_ARR_MISSING);
	assert_int_equal(r->dmg[0].index_begin, PER8);
	assert_int_equal(r->dmg[0].index_end, 3 * PER8);
	assert_int_equal(r->dmg[1].problem, PD_ARR_MISSING);
	assert_int_equal(r->dmg[1].index_begin, 5 * PER8);
	assert_int_equal(r->dmg[1].index_end, n);
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(r->seen[i],
				 i < PER8 || (i >= 3 * PER8 && i < 5 * PER8));
	arec_free(r);
	pdb_release(&b);
}

/* A length-N array whose btree is an empty leaf: everything missing. */
static void test_missing_all(void **state)
{
	struct pdb b;
	struct pdb_array a;
	struct arec *r;
	int ret;

	(void)state;
	build(&b, &a, 0, 8, 16);
	r = awalk(&b, a.root, 1000, 8, 0, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r->nd, 1);
	assert_int_equal(r->dmg[0].problem, PD_ARR_MISSING);
	assert_int_equal(r->dmg[0].index_begin, 0);
	assert_int_equal(r->dmg[0].index_end, 1000);
	arec_free(r);
	pdb_array_release(&a);
	pdb_release(&b);
}

static void test_extra_keys(void **state)
{
	/* 2 blocks wanted; key 7 is past the end. */
	static const uint64_t keys[] = { 0, 1, 7 };
	uint64_t n = PER8 + 50, blocks[3], root;
	struct pdb b;
	struct arec *r;
	int ret;

	(void)state;
	pdb_init(&b, 32);
	root = custom_array(&b, n, keys, 3, blocks);
	r = awalk(&b, root, n, 8, 0, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r->nd, 1);
	assert_int_equal(r->dmg[0].problem, PD_ARR_EXTRA);
	assert_int_equal(r->dmg[0].index_begin, 7 * PER8);
	assert_int_equal(r->dmg[0].index_end, 8 * PER8);
	assert_int_equal(r->dmg[0].fault.block, blocks[2]);
	assert_int_equal(r->dmg[0].fault.found, 7);
	assert_seen(r, 0, 0);
	/* Extra blocks are still referenced, for the space map. */
	assert_int_equal(ref_count(r, blocks[2]), 1);
	arec_free(r);
	pdb_release(&b);
}

/* Kernel arrays may share one block between keys (copy-on-write fill). */
static void test_shared_block(void **state)
{
	static const uint64_t keys[] = { 0, 1 };
	uint64_t blocks[2], root, n = 2 * PER8;
	unsigned char ptrs[16];
	struct pdb b;
	struct arec *r;
	int ret;

	(void)state;
	pdb_init(&b, 32);
	/* Both keys point at one block of zeroes: values 0, not val8. */
	blocks[0] = blocks[1] = pdb_alloc(&b);
	pdb_ahdr(&b, blocks[0])->max_entries = cpu_to_le32(PER8);
	pdb_ahdr(&b, blocks[0])->nr_entries = cpu_to_le32(PER8);
	pdb_ahdr(&b, blocks[0])->value_size = cpu_to_le32(8);
	pdb_seal_array(&b, blocks[0]);
	store_le64(ptrs, blocks[0]);
	store_le64(ptrs + 8, blocks[1]);
	root = pdb_tree(&b, 2, keys, ptrs, 8, 0);
	{
		struct arec *x = calloc(1, sizeof(*x));

		x->vs = 8;
		x->n = n;
		x->seen = calloc(n, 1);
		/* values checks val8: use no values callback here */
		assert_int_equal(pd_array_walk(pdb_bm(&b), root, n, 8, 0,
					       &(struct pd_array_walk_ops){
						       .damage = arec_damage,
						       .block_ref = arec_ref },
					       x), 0);
		r = x;
	}
	(void)ret;
	assert_int_equal(r->nd, 0);
	assert_int_equal(ref_count(r, blocks[0]), 2);
	arec_free(r);
	pdb_release(&b);
}

/*
 * The reference-counting contract (PD_WALK_COUNTED): a block_ref that says
 * "seen before" for an array block does not stop the walk; said for the
 * btree root, the walk delivers every value but reports no pointer below
 * the root.
 */
struct counting {
	uint64_t seen[8];
	unsigned nseen, nrefs;
	uint64_t values;
};

static int counting_ref(void *ctx, uint64_t block)
{
	struct counting *k = ctx;

	k->nrefs++;
	for (unsigned i = 0; i < k->nseen; i++)
		if (k->seen[i] == block)
			return PD_WALK_COUNTED;
	assert_true(k->nseen < 8);
	k->seen[k->nseen++] = block;
	return 0;
}

static int counting_values(void *ctx, uint64_t index, unsigned nr,
			   const void *values, uint64_t block)
{
	struct counting *k = ctx;

	(void)index;
	(void)values;
	(void)block;
	k->values += nr;
	return 0;
}

static void test_counted_refs(void **state)
{
	static const uint64_t keys[] = { 0, 1 };
	static const struct pd_array_walk_ops ops = {
		.values = counting_values,
		.block_ref = counting_ref,
	};
	uint64_t blk, root, n = 2 * PER8;
	unsigned char ptrs[16];
	struct counting k = { 0 };
	struct pdb b;

	(void)state;
	pdb_init(&b, 32);
	blk = pdb_alloc(&b);
	pdb_ahdr(&b, blk)->max_entries = cpu_to_le32(PER8);
	pdb_ahdr(&b, blk)->nr_entries = cpu_to_le32(PER8);
	pdb_ahdr(&b, blk)->value_size = cpu_to_le32(8);
	pdb_seal_array(&b, blk);
	store_le64(ptrs, blk);
	store_le64(ptrs + 8, blk);
	root = pdb_tree(&b, 2, keys, ptrs, 8, 0);

	/* root, then the shared block twice: the second "seen" goes on */
	assert_int_equal(pd_array_walk(pdb_bm(&b), root, n, 8, 0, &ops, &k), 0);
	assert_int_equal(k.nrefs, 3);
	assert_int_equal(k.values, n);

	/* the root seen before: only its own pointer, every value */
	k.nrefs = 0;
	k.values = 0;
	assert_int_equal(pd_array_walk(pdb_bm(&b), root, n, 8, 0, &ops, &k), 0);
	assert_int_equal(k.nrefs, 1);
	assert_int_equal(k.values, n);
	pdb_release(&b);
}

/* A bad btree leaf loses the indices of its keys. */
static void test_btree_damage(void **state)
{
	struct pdb b;
	struct pdb_array a;
	uint64_t n = 300 * (uint64_t)PER8 + 7, leaf, k1;
	struct arec *r;
	int ret;

	(void)state;
	build(&b, &a, n, 8, 400);
	/* Two leaves (151 and 150 keys): break the second. */
	assert_int_equal(b.nr_leaves, 2);
	leaf = b.nodes[1];
	k1 = pdb_node_key(&b, leaf, 0);
	assert_int_equal(k1, 151);
	pdb_block(&b, leaf)[8] ^= 1;	/* its blocknr */
	r = awalk(&b, a.root, n, 8, PD_WALK_PREFETCH, &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(r->nd, 1);
	assert_int_equal(r->dmg[0].problem, PD_ARR_BTREE);
	assert_int_equal(r->dmg[0].btree.problem, PD_BT_BLOCK);
	assert_int_equal(r->dmg[0].btree.key_begin, 151);
	assert_int_equal(r->dmg[0].fault.kind, PD_FAULT_LOCATION);
	assert_int_equal(r->dmg[0].fault.block, leaf);
	assert_int_equal(r->dmg[0].index_begin, 151 * PER8);
	assert_int_equal(r->dmg[0].index_end, n);
	assert_seen(r, 151 * PER8, n);
	/* Block refs: both leaves and the root, and 151 array blocks. */
	assert_int_equal(r->nrefs, 3 + 151);
	arec_free(r);
	pdb_array_release(&a);
	pdb_release(&b);
}

static void test_bad_value_size_arg(void **state)
{
	struct pdb b;
	struct pdb_array a;
	uint64_t v;

	(void)state;
	build(&b, &a, 10, 8, 16);
	assert_int_equal(pd_array_walk(pdb_bm(&b), a.root, 10, 0, 0, &arec_ops,
				       NULL), -EINVAL);
	assert_int_equal(pd_array_get(pdb_bm(&b), a.root, 0, 0, &v, NULL),
			 -EINVAL);
	pdb_array_release(&a);
	pdb_release(&b);
}

static void test_problem_names(void **state)
{
	(void)state;
	for (int p = PD_ARR_BTREE; p <= PD_ARR_EXTRA; p++) {
		assert_string_not_equal(pd_array_problem_name(p),
					"unknown array problem");
		for (int q = PD_ARR_BTREE; q < p; q++)
			assert_string_not_equal(pd_array_problem_name(p),
						pd_array_problem_name(q));
	}
	assert_string_equal(pd_array_problem_name(42), "unknown array problem");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_one_block),
		cmocka_unit_test(test_two_blocks),
		cmocka_unit_test(test_two_level_btree),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_block_checksum),
		cmocka_unit_test(test_block_location),
		cmocka_unit_test(test_block_max_entries),
		cmocka_unit_test(test_block_value_size),
		cmocka_unit_test(test_block_nr_entries),
		cmocka_unit_test(test_missing_keys),
		cmocka_unit_test(test_missing_all),
		cmocka_unit_test(test_extra_keys),
		cmocka_unit_test(test_shared_block),
		cmocka_unit_test(test_counted_refs),
		cmocka_unit_test(test_btree_damage),
		cmocka_unit_test(test_bad_value_size_arg),
		cmocka_unit_test(test_problem_names),
	};

	return cmocka_run_group_tests_name("array", tests, NULL, NULL);
}
