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

/* ---- sharing builder ---- */

struct leaf_log {
	uint64_t calls, entries;
};

static int log_leaf(void *ctx, unsigned nr, const void *keys,
		    const void *values)
{
	struct leaf_log *l = ctx;

	(void)keys;
	(void)values;
	l->calls++;
	l->entries += nr;
	return 0;
}

struct collect {
	uint64_t n, *keys, *vals;
};

static int collect_entry(void *ctx, uint64_t key, const unsigned char *value)
{
	struct collect *c = ctx;

	c->keys[c->n] = key;
	c->vals[c->n] = load_le64(value);
	c->n++;
	return 0;
}

/*
 * One tree from keys[]/vals[] with a sharing builder, checked by the
 * independent verifier (every rule, nodes over a third full below the
 * root) and entry by entry.  Its references are added to refs[] as the
 * kernel counts them: one for the root, one per child of each internal
 * node not seen[] in an earlier tree.  Returns the new leaves it wrote.
 */
static uint64_t shared_tree(struct rig *g, struct pd_btree_share *sh,
			    struct leaf_log *log, uint32_t *refs,
			    unsigned char *seen, const uint64_t *keys,
			    const uint64_t *vals, uint64_t n, uint64_t *root_out)
{
	struct pd_btree_builder *b;
	struct pd_btree_share_stats st0, st1;
	struct collect c = { 0, NULL, NULL };
	unsigned char v[8];
	struct vimg vi;
	uint64_t root, calls0 = log->calls;

	pd_btree_share_stats(sh, &st0);
	assert_int_equal(pd_btree_builder_create_shared(g->tm, 8, sh, log_leaf,
							log, &b), 0);
	for (uint64_t i = 0; i < n; i++) {
		store_le64(v, vals[i]);
		assert_int_equal(pd_btree_builder_add(b, keys[i], v), 0);
	}
	assert_int_equal(pd_btree_builder_finish(b, &root), 0);
	pd_btree_builder_destroy(b);
	pd_btree_share_stats(sh, &st1);
	/* new_leaf is told of exactly the leaves written. */
	assert_int_equal(log->calls - calls0,
			 st1.leaves_written - st0.leaves_written);
	assert_int_equal(st1.hash_collisions, 0);

	assert_int_equal(pd_bm_flush(g->bm), 0);
	vi = (struct vimg){ pd_io_mem_data(g->io), g->nr_blocks, NULL, 1, "" };
	vi.expected = calloc(g->nr_blocks, sizeof(uint32_t));
	c.keys = calloc(n + 1, sizeof(uint64_t));
	c.vals = calloc(n + 1, sizeof(uint64_t));
	assert_true(vi.expected && c.keys && c.vals);
	if (vtree(&vi, root, 8, collect_entry, &c))
		fail_msg("shared tree of %llu: %s", (unsigned long long)n, vi.why);
	assert_int_equal(c.n, n);
	assert_memory_equal(c.keys, keys, n * sizeof(uint64_t));
	assert_memory_equal(c.vals, vals, n * sizeof(uint64_t));
	refs[root]++;
	for (uint64_t bl = 0; bl < g->nr_blocks; bl++) {
		const unsigned char *d = vi.img + bl * PD_BLOCK_SIZE;
		const struct pd_node_header *h = (const void *)d;
		uint32_t max = le32_to_cpu(h->max_entries);

		if (!vi.expected[bl] || seen[bl])
			continue;
		seen[bl] = 1;
		if (le32_to_cpu(h->flags) != PD_BTREE_INTERNAL)
			continue;
		for (uint32_t i = 0; i < le32_to_cpu(h->nr_entries); i++)
			refs[load_le64(d + 32 + 8 * max + 8 * i)]++;
	}
	free(vi.expected);
	free(c.keys);
	free(c.vals);
	if (root_out)
		*root_out = root;
	return st1.leaves_written - st0.leaves_written;
}

/*
 * Trees built one after another on one share: a copy shares its root; a
 * changed value unshares one leaf and the internal nodes above it, an
 * inserted or removed key one or two leaves (the content-defined cuts fall
 * in step again); prefixes of every length end in legal nodes.  Every
 * block's count is the number of distinct parents pointing at it, and the
 * leaves reported written carry every distinct entry once.
 */
static void test_builder_shared(void **state)
{
	const uint64_t n = 100000, mid = 50000;
	struct rig g;
	struct pd_btree_share *sh;
	struct pd_btree_share_stats st;
	struct leaf_log log = { 0, 0 };
	uint64_t *keys = calloc(n + 1, sizeof(uint64_t));
	uint64_t *vals = calloc(n + 1, sizeof(uint64_t));
	uint64_t *k2 = calloc(n + 1, sizeof(uint64_t));
	uint64_t *v2 = calloc(n + 1, sizeof(uint64_t));
	uint32_t *refs;
	unsigned char *seen;
	uint64_t leaves, w, root_a, root, inner;

	(void)state;
	assert_true(keys && vals && k2 && v2);
	rig_init(&g, 16384);
	refs = calloc(g.nr_blocks, sizeof(*refs));
	seen = calloc(g.nr_blocks, 1);
	assert_true(refs && seen);
	assert_int_equal(pd_btree_share_create(g.tm, &sh), 0);
	for (uint64_t i = 0; i < n; i++) {
		keys[i] = key_of(i);
		vals[i] = ~i;
	}

	leaves = shared_tree(&g, sh, &log, refs, seen, keys, vals, n, &root_a);
	/* Content-defined: between two thirds full and full on average. */
	assert_true(leaves > (n + 251) / 252 && leaves <= n / 168 + 1);
	assert_int_equal(log.entries, n);
	pd_btree_share_stats(sh, &st);
	inner = st.internal_written;	/* three levels: the root and more */
	assert_true(inner >= 3);

	/* A copy writes nothing new: it is the same tree. */
	assert_int_equal(shared_tree(&g, sh, &log, refs, seen, keys, vals, n,
				     &root), 0);
	assert_int_equal(root, root_a);
	assert_int_equal(pd_tm_ref_count(g.tm, root_a), 2);
	pd_btree_share_stats(sh, &st);
	assert_int_equal(st.leaves_shared, leaves);
	assert_int_equal(st.internal_written, inner);

	/*
	 * One value changed: one leaf, its parent and the root; the other
	 * internal nodes below the root are shared.
	 */
	memcpy(v2, vals, n * sizeof(uint64_t));
	v2[mid] = 7;
	w = shared_tree(&g, sh, &log, refs, seen, keys, v2, n, NULL);
	assert_int_equal(w, 1);
	{
		struct pd_btree_share_stats st2;

		pd_btree_share_stats(sh, &st2);
		assert_int_equal(st2.internal_written - st.internal_written, 2);
		assert_int_equal(st2.internal_shared - st.internal_shared,
				 inner - 2);
	}

	/* One key inserted (key_of leaves gaps): one or two leaves. */
	memcpy(k2, keys, mid * sizeof(uint64_t));
	memcpy(v2, vals, mid * sizeof(uint64_t));
	k2[mid] = keys[mid - 1] + 1;
	v2[mid] = 99;
	memcpy(k2 + mid + 1, keys + mid, (n - mid) * sizeof(uint64_t));
	memcpy(v2 + mid + 1, vals + mid, (n - mid) * sizeof(uint64_t));
	w = shared_tree(&g, sh, &log, refs, seen, k2, v2, n + 1, NULL);
	assert_true(w >= 1 && w <= 2);

	/* One key removed: one or two leaves. */
	memcpy(k2, keys, mid * sizeof(uint64_t));
	memcpy(v2, vals, mid * sizeof(uint64_t));
	memcpy(k2 + mid, keys + mid + 1, (n - mid - 1) * sizeof(uint64_t));
	memcpy(v2 + mid, vals + mid + 1, (n - mid - 1) * sizeof(uint64_t));
	w = shared_tree(&g, sh, &log, refs, seen, k2, v2, n - 1, NULL);
	assert_true(w >= 1 && w <= 2);

	/*
	 * Prefixes around the leaf sizes: the short last leaf joins or evens
	 * out with the one before (never a shared one), a lone leaf is the
	 * root; the leaves before the last two are A's.
	 */
	for (uint64_t m = 0; m < 700; m += (m < 520 ? 1 : 37)) {
		w = shared_tree(&g, sh, &log, refs, seen, keys, vals, m, NULL);
		assert_true(w <= 2);
	}
	w = shared_tree(&g, sh, &log, refs, seen, keys, vals, mid, NULL);
	assert_true(w <= 2);

	/* Counts: one per parent, the written leaves' entries once each. */
	for (uint64_t bl = 1; bl < g.nr_blocks; bl++)
		if (pd_tm_ref_count(g.tm, bl) != refs[bl])
			fail_msg("block %llu: count %u, %u parents",
				 (unsigned long long)bl, pd_tm_ref_count(g.tm, bl),
				 refs[bl]);
	pd_btree_share_stats(sh, &st);
	assert_int_equal(log.calls, st.leaves_written);

	pd_btree_share_destroy(sh);
	free(refs);
	free(seen);
	free(keys);
	free(vals);
	free(k2);
	free(v2);
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
		cmocka_unit_test(test_builder_shared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
