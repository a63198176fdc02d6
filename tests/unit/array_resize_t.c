// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Array and bitset resize and array delete in a transaction (what the live
 * metadata needs for the kernel's dm_cache_resize, discard bitset resize
 * and hint rewrite): a chain of grows and shrinks across block and btree
 * level boundaries against a reference copy, each commit read back by the
 * independent verifier, whose space-map recount catches any leaked or
 * doubly freed block; values dropped from a kept block are zeroed; a
 * deleted array leaves nothing allocated, a shared one stays whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/bitmap.h"
#include "pdata/array.h"
#include "pdata/bitset.h"
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

static void commit_and_check(struct rig *g, struct tsb *sb, struct vstate *s)
{
	char why[200];

	assert_int_equal(pd_tm_commit(g->tm, tsb_fill, sb, &tsb_validator), 0);
	if (vimage(pd_io_mem_data(g->io), g->nr_blocks, s, why, sizeof(why)))
		fail_msg("%s", why);
}

/* Array block k's raw bytes, found by walking from the root. */
static const unsigned char *ablock_raw(struct rig *g, uint64_t root, uint64_t k)
{
	unsigned char v[8];
	uint64_t b;

	assert_int_equal(pd_btree_lookup(g->bm, root, 8, k, v, NULL), 0);
	b = load_le64(v);
	assert_true(b < g->nr_blocks);
	return pd_io_mem_data(g->io) + b * PD_BLOCK_SIZE;
}

static void test_array_resize(void **state)
{
	/* Across a block edge, a two-level btree, to 0 and back. */
	static const uint64_t lens[] = {
		1000, 1527, 700, 509, 509 * 260 + 3, 510, 5, 0, 10, 509 * 2,
	};
	const uint64_t max = 509 * 260 + 3;
	uint64_t *ref = calloc(max, sizeof(*ref)), len = 0;
	struct rig g;
	struct tsb sb = { 0 };
	struct vstate s;

	(void)state;
	assert_non_null(ref);
	rig_init(&g, 2048);
	assert_int_equal(pd_btree_empty(g.tm, 8, &sb.array_root), 0);
	commit_and_check(&g, &sb, &s);
	vstate_release(&s);
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		uint64_t n = lens[k], fill = 0x1111111111111111ull * (k + 1);
		unsigned char v[8];

		store_le64(v, fill);
		for (uint64_t i = len; i < n; i++)
			ref[i] = fill;
		assert_int_equal(pd_array_resize(g.tm, &sb.array_root, 8, len, n,
						 v), 0);
		/* A value set after the resize lands in the resized array. */
		if (n) {
			ref[n - 1] = 42 + k;
			store_le64(v, ref[n - 1]);
			assert_int_equal(pd_array_set(g.tm, &sb.array_root, 8, n,
						      n - 1, v), 0);
		}
		len = n;
		sb.array_len = n;
		commit_and_check(&g, &sb, &s);
		for (uint64_t i = 0; i < n; i++)
			if (load_le64(s.array + 8 * i) != ref[i])
				fail_msg("length %llu index %llu: %llx, want %llx",
					 (unsigned long long)n,
					 (unsigned long long)i,
					 (unsigned long long)load_le64(s.array + 8 * i),
					 (unsigned long long)ref[i]);
		/* Nothing left past nr_entries in the last block. */
		if (n % 509) {
			const unsigned char *d = ablock_raw(&g, sb.array_root,
							    n / 509);

			for (uint64_t i = n % 509; i < 509; i++)
				assert_int_equal(load_le64(d + 24 + 8 * i), 0);
		}
		vstate_release(&s);
	}
	/* A header that disagrees with the length given is refused. */
	assert_int_equal(pd_array_resize(g.tm, &sb.array_root, 8, len - 3,
					 len + 600, ref), -EUCLEAN);
	assert_int_equal(pd_array_resize(g.tm, &sb.array_root, 8, len + 3,
					 len + 600, ref), -ENODATA);
	free(ref);
	rig_release(&g);
}

static void test_array_del(void **state)
{
	const uint64_t n = 509 * 260 + 3;
	struct rig g;
	struct tsb sb = { 0 };
	struct vstate s;
	unsigned char v[8];
	uint64_t root, before;

	(void)state;
	rig_init(&g, 2048);
	store_le64(v, 7);
	assert_int_equal(pd_btree_empty(g.tm, 8, &sb.array_root), 0);
	assert_int_equal(pd_array_resize(g.tm, &sb.array_root, 8, 0, n, v), 0);
	sb.array_len = n;
	commit_and_check(&g, &sb, &s);
	vstate_release(&s);
	before = pd_tm_nr_allocated(g.tm);

	/* Shared (a second owner holds the root): only the count drops. */
	root = sb.array_root;
	assert_int_equal(pd_tm_inc(g.tm, root), 0);
	assert_int_equal(pd_array_del(g.tm, root), 0);
	assert_int_equal(pd_tm_ref_count(g.tm, root), 1);
	assert_int_equal(pd_tm_nr_allocated(g.tm), before);
	commit_and_check(&g, &sb, &s);
	assert_int_equal(load_le64(s.array + 8 * (n - 1)), 7);
	vstate_release(&s);

	/* The last owner: every node and array block goes. */
	assert_int_equal(pd_array_del(g.tm, root), 0);
	assert_int_equal(pd_tm_ref_count(g.tm, root), 0);
	sb.array_root = 0;
	sb.array_len = 0;
	commit_and_check(&g, &sb, &s);
	vstate_release(&s);
	/* Left: the superblock and the space map (index, bitmap, overflow). */
	assert_true(pd_tm_nr_allocated(g.tm) <= 4);
	/* Deleting it again is a count error, not a hang or a crash. */
	assert_int_equal(pd_array_del(g.tm, root), -EUCLEAN);
	rig_release(&g);
}

static void check_bits(const struct vstate *s, const struct base_bitmap *ref,
		       uint64_t nbits)
{
	for (uint64_t i = 0; i < nbits; i++)
		if (((s->array[i / 8] >> (i % 8)) & 1) != base_bitmap_test(ref, i))
			fail_msg("%llu bits: bit %llu", (unsigned long long)nbits,
				 (unsigned long long)i);
	if (nbits % 64)
		assert_int_equal(load_le64(s->array + 8 * (nbits / 64)) >>
					 (nbits % 64),
				 0);
}

static void test_bitset_resize(void **state)
{
	static const struct { uint64_t bits; int value; } steps[] = {
		{ 100, 1 }, { 70, 0 }, { 200, 0 }, { 64 * 509 + 70, 1 },
		{ 64 * 509 + 100, 0 }, { 130, 1 }, { 3, 0 }, { 0, 0 }, { 65, 1 },
	};
	const uint64_t max = 64 * 509 + 100;
	struct base_bitmap ref;
	struct rig g;
	struct tsb sb = { 0 };
	struct vstate s;
	uint64_t nbits = 0;

	(void)state;
	assert_int_equal(base_bitmap_init(&ref, max), 0);
	rig_init(&g, 1024);
	assert_int_equal(pd_btree_empty(g.tm, 8, &sb.array_root), 0);
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		uint64_t n = steps[k].bits;

		for (uint64_t i = nbits; i < n; i++) {
			if (steps[k].value)
				base_bitmap_set(&ref, i);
			else
				base_bitmap_clear(&ref, i);
		}
		assert_int_equal(pd_bitset_resize(g.tm, &sb.array_root, nbits, n,
						  steps[k].value), 0);
		nbits = n;
		if (n > 2) {
			assert_int_equal(pd_bitset_clear(g.tm, &sb.array_root, n,
							 n - 2), 0);
			base_bitmap_clear(&ref, n - 2);
		}
		sb.array_len = (n + 63) / 64;
		commit_and_check(&g, &sb, &s);
		check_bits(&s, &ref, n);
		vstate_release(&s);
	}
	base_bitmap_release(&ref);
	rig_release(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_array_resize),
		cmocka_unit_test(test_array_del),
		cmocka_unit_test(test_bitset_resize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
