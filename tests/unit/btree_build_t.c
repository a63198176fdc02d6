// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The btree write side: the bottom-up builder at every size where the shape
 * changes (0, 1, one full leaf, one more, two full leaves plus change, a
 * three-level tree), checked node by node against FORMAT.md §3.4 by the
 * independent verifier and entry by entry against the input; node counts
 * are the minimum; and random insert/remove sequences in transactions
 * compared with a reference array, committing as they go, with the space
 * map checked against a recount after each commit.
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
	assert_int_equal(pd_bm_create(g->io, 64, &g->bm), 0);
	assert_int_equal(pd_tm_create(g->bm, &g->tm), 0);
}

static void rig_release(struct rig *g)
{
	pd_tm_destroy(g->tm);
	pd_bm_destroy(g->bm);
	pd_io_destroy(g->io);
}

static void commit_and_check(struct rig *g, struct tsb *sb, struct vstate *s,
			     int exact_keys)
{
	char why[200];

	assert_int_equal(pd_tm_commit(g->tm, tsb_fill, sb, &tsb_validator), 0);
	if (vimage_ex(pd_io_mem_data(g->io), g->nr_blocks, exact_keys, s, why,
		      sizeof(why)))
		fail_msg("%s", why);
}

static uint64_t key_of(uint64_t i)
{
	return i * 5 + (i % 3);		/* strictly increasing, with gaps */
}

static void build_and_check(uint64_t n)
{
	struct rig g;
	struct tsb sb = { 0 };
	struct vstate s;
	struct pd_btree_builder *b;
	unsigned char v[8];
	uint64_t before, leaves, nodes;

	rig_init(&g, 4096);
	before = pd_tm_nr_allocated(g.tm);
	assert_int_equal(pd_btree_builder_create(g.tm, 8, &b), 0);
	for (uint64_t i = 0; i < n; i++) {
		store_le64(v, ~i);
		assert_int_equal(pd_btree_builder_add(b, key_of(i), v), 0);
	}
	/* Keys must go up. */
	if (n) {
		assert_int_equal(pd_btree_builder_add(b, key_of(n - 1), v), -EINVAL);
	}
	assert_int_equal(pd_btree_builder_finish(b, &sb.btree_root), 0);
	assert_int_equal(pd_btree_builder_add(b, key_of(n) + 100, v), -EINVAL);
	pd_btree_builder_destroy(b);

	/* The minimum number of nodes at every level. */
	leaves = n ? (n + 251) / 252 : 1;
	nodes = leaves;
	for (uint64_t l = leaves; l > 1; l = (l + 251) / 252)
		nodes += (l + 251) / 252;
	assert_int_equal(pd_tm_nr_allocated(g.tm) - before, nodes);

	commit_and_check(&g, &sb, &s, 1);
	assert_int_equal(s.nr_entries, n);
	for (uint64_t i = 0; i < n; i++) {
		assert_int_equal(s.keys[i], key_of(i));
		assert_int_equal(s.vals[i], ~i);
	}
	vstate_release(&s);
	rig_release(&g);
}

static void test_builder_sizes(void **state)
{
	static const uint64_t sizes[] = {
		0, 1, 2, 83, 84, 251, 252, 253, 336, 504, 505, 509,
		252 * 252, 252 * 252 + 1, 252 * 252 + 83, 131072 + 7,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		build_and_check(sizes[i]);
}

/* Value size 4 (the overflow tree's) and an odd one. */
static void test_builder_value_sizes(void **state)
{
	static const uint32_t vss[] = { 4, 16, 24, 100 };

	(void)state;
	for (size_t k = 0; k < sizeof(vss) / sizeof(vss[0]); k++) {
		struct rig g;
		struct pd_btree_builder *b;
		struct vimg v;
		unsigned char val[100];
		uint64_t root, n = 1000, seen = 0;

		rig_init(&g, 1024);
		assert_int_equal(pd_btree_builder_create(g.tm, vss[k], &b), 0);
		for (uint64_t i = 0; i < n; i++) {
			memset(val, (int)(i & 0xff), sizeof(val));
			assert_int_equal(pd_btree_builder_add(b, i * 2, val), 0);
		}
		assert_int_equal(pd_btree_builder_finish(b, &root), 0);
		pd_btree_builder_destroy(b);
		assert_int_equal(pd_bm_flush(g.bm), 0);
		v = (struct vimg){ pd_io_mem_data(g.io), 1024, NULL, 1, "" };
		v.expected = calloc(1024, sizeof(uint32_t));
		assert_non_null(v.expected);
		if (vtree(&v, root, vss[k], NULL, NULL))
			fail_msg("vs %u: %s", vss[k], v.why);
		for (uint64_t bl = 0; bl < 1024; bl++)
			seen += v.expected[bl];
		/* Every node allocated is in the tree. */
		assert_int_equal(seen, pd_tm_nr_allocated(g.tm) - 1);
		free(v.expected);
		rig_release(&g);
	}
}

/* A small deterministic generator (xorshift64*). */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/*
 * Random inserts and removes against a reference array ref[key] (0 =
 * absent), on a tree that starts from a bulk build; commits every few
 * hundred operations and compares the whole tree and the space map.
 */
static void random_ops(uint64_t seed, uint64_t key_space, unsigned ops,
		       uint64_t initial, int remove_bias)
{
	struct rig g;
	struct tsb sb = { 0 };
	struct vstate s;
	struct pd_btree_builder *b;
	uint64_t *ref = calloc(key_space, sizeof(*ref));
	uint64_t st = seed;
	unsigned char v[8];

	assert_non_null(ref);
	rig_init(&g, 8192);
	assert_int_equal(pd_btree_builder_create(g.tm, 8, &b), 0);
	for (uint64_t k = 0; k < initial && k < key_space; k++) {
		ref[k] = k + 1;
		store_le64(v, ref[k]);
		assert_int_equal(pd_btree_builder_add(b, k, v), 0);
	}
	assert_int_equal(pd_btree_builder_finish(b, &sb.btree_root), 0);
	pd_btree_builder_destroy(b);

	for (unsigned op = 1; op <= ops; op++) {
		uint64_t k = rnd(&st) % key_space;

		if ((int)(rnd(&st) % 100) < remove_bias) {
			int r = pd_btree_remove(g.tm, &sb.btree_root, 8, k);

			assert_int_equal(r, ref[k] ? 0 : -ENODATA);
			ref[k] = 0;
		} else {
			ref[k] = rnd(&st) | 1;
			store_le64(v, ref[k]);
			assert_int_equal(pd_btree_insert(g.tm, &sb.btree_root, 8,
							 k, v), 0);
		}
		if (op % 700 == 0 || op == ops) {
			uint64_t j = 0;

			commit_and_check(&g, &sb, &s, 0);
			for (uint64_t kk = 0; kk < key_space; kk++) {
				if (!ref[kk])
					continue;
				assert_true(j < s.nr_entries);
				assert_int_equal(s.keys[j], kk);
				assert_int_equal(s.vals[j], ref[kk]);
				j++;
			}
			assert_int_equal(j, s.nr_entries);
			vstate_release(&s);
		}
	}
	free(ref);
	rig_release(&g);
}

static void test_insert_random(void **state)
{
	(void)state;
	random_ops(1, 100000, 6000, 0, 0);		/* grow from empty */
	random_ops(2, 3000, 8000, 0, 30);		/* mixed */
}

static void test_remove_random(void **state)
{
	(void)state;
	random_ops(3, 60000, 9000, 60000, 90);	/* shrink a 3-level tree */
	random_ops(4, 2000, 6000, 2000, 100);	/* down to the root leaf */
}

/* Ascending appends (restore-like) and removal of everything. */
static void test_sequential(void **state)
{
	struct rig g;
	struct tsb sb = { 0 };
	struct vstate s;
	unsigned char v[8];
	const uint64_t n = 70000;

	(void)state;
	rig_init(&g, 8192);
	assert_int_equal(pd_btree_empty(g.tm, 8, &sb.btree_root), 0);
	for (uint64_t k = 0; k < n; k++) {
		store_le64(v, k);
		assert_int_equal(pd_btree_insert(g.tm, &sb.btree_root, 8, k, v), 0);
	}
	commit_and_check(&g, &sb, &s, 0);
	assert_int_equal(s.nr_entries, n);
	vstate_release(&s);
	for (uint64_t k = 0; k < n; k++)
		assert_int_equal(pd_btree_remove(g.tm, &sb.btree_root, 8, k), 0);
	assert_int_equal(pd_btree_remove(g.tm, &sb.btree_root, 8, 5), -ENODATA);
	commit_and_check(&g, &sb, &s, 0);
	assert_int_equal(s.nr_entries, 0);
	/* Superblock, empty root leaf, index, bitmap, overflow root. */
	assert_int_equal(s.sm.nr_allocated, 5);
	vstate_release(&s);
	rig_release(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builder_sizes),
		cmocka_unit_test(test_builder_value_sizes),
		cmocka_unit_test(test_insert_random),
		cmocka_unit_test(test_remove_random),
		cmocka_unit_test(test_sequential),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
