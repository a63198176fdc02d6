// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The array and bitset writers: bulk builds of every length where the shape
 * changes, mixing single adds and long fills, read back value by value by
 * the independent verifier (keys 0..n-1, full blocks but the last, header
 * fields) and by the library's own reader; pd_array_set and bitset set/clear
 * in later transactions against a reference copy, with the space map
 * checked after each commit; bitset padding written as 0.
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
	if (vimage_ex(pd_io_mem_data(g->io), g->nr_blocks, 1, s, why,
		      sizeof(why)))
		fail_msg("%s", why);
}

/* Value i: zero in runs, which the build writes with add_fill. */
static uint64_t val(uint64_t i)
{
	return (i / 700) % 3 == 1 ? 0 : i * 31 + 5;
}

static void build(struct pd_tm *tm, uint64_t n, uint64_t *root)
{
	struct pd_array_builder *b;
	unsigned char v[8];
	uint64_t i = 0;

	assert_int_equal(pd_array_builder_create(tm, 8, &b), 0);
	while (i < n) {
		if (val(i) == 0) {
			uint64_t j = i;

			while (j < n && val(j) == 0)
				j++;
			store_le64(v, 0);
			assert_int_equal(pd_array_builder_add_fill(b, v, j - i), 0);
			i = j;
		} else if (i % 1000 == 999 && i + 600 < n) {
			/* A non-zero fill crossing a block boundary. */
			store_le64(v, 12345);
			assert_int_equal(pd_array_builder_add_fill(b, v, 1), 0);
			i++;
		} else {
			store_le64(v, val(i));
			assert_int_equal(pd_array_builder_add(b, v), 0);
			i++;
		}
	}
	assert_int_equal(pd_array_builder_finish(b, root), 0);
	pd_array_builder_destroy(b);
}

static uint64_t expect(uint64_t i, uint64_t n)
{
	return (val(i) != 0 && i % 1000 == 999 && i + 600 < n) ? 12345 : val(i);
}

static void test_build_lengths(void **state)
{
	static const uint64_t lens[] = {
		0, 1, 508, 509, 510, 1018, 1019, 509 * 252, 509 * 252 + 1,
		509 * 300 + 17,
	};

	(void)state;
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		struct rig g;
		struct tsb sb = { 0 };
		struct vstate s;
		uint64_t n = lens[k];

		rig_init(&g, 1024);
		build(g.tm, n, &sb.array_root);
		sb.array_len = n;
		commit_and_check(&g, &sb, &s);
		for (uint64_t i = 0; i < n; i++)
			if (load_le64(s.array + 8 * i) != expect(i, n))
				fail_msg("len %llu index %llu", (unsigned long long)n,
					 (unsigned long long)i);
		/* And through the read side. */
		if (n) {
			unsigned char v[8];

			assert_int_equal(pd_array_get(g.bm, sb.array_root, 8, n - 1,
						      v, NULL), 0);
			assert_int_equal(load_le64(v), expect(n - 1, n));
		}
		vstate_release(&s);
		rig_release(&g);
	}
}

/* A long fill of a non-zero value, and value size 4 (hints). */
static void test_fill_and_value_size(void **state)
{
	struct rig g;
	struct pd_array_builder *b;
	struct vimg v;
	unsigned char val4[4] = { 1, 2, 3, 4 }, *out;
	uint64_t root, n = 1018 * 3 + 5;

	(void)state;
	rig_init(&g, 256);
	assert_int_equal(pd_array_builder_create(g.tm, 4, &b), 0);
	assert_int_equal(pd_array_builder_add_fill(b, val4, 10), 0);
	val4[0] = 9;
	assert_int_equal(pd_array_builder_add(b, val4), 0);
	val4[0] = 1;
	assert_int_equal(pd_array_builder_add_fill(b, val4, n - 11), 0);
	assert_int_equal(pd_array_builder_finish(b, &root), 0);
	pd_array_builder_destroy(b);
	assert_int_equal(pd_bm_flush(g.bm), 0);

	v = (struct vimg){ pd_io_mem_data(g.io), 256, NULL, 1, "" };
	v.expected = calloc(256, sizeof(uint32_t));
	out = malloc(n * 4);
	assert_non_null(v.expected);
	assert_non_null(out);
	if (varray(&v, root, n, 4, out))
		fail_msg("%s", v.why);
	for (uint64_t i = 0; i < n; i++) {
		assert_int_equal(out[4 * i], i == 10 ? 9 : 1);
		assert_int_equal(load_le32(out + 4 * i) >> 8, 0x040302);
	}
	free(out);
	free(v.expected);
	rig_release(&g);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* pd_array_set over several transactions against a reference copy. */
static void test_set(void **state)
{
	const uint64_t n = 509 * 260 + 3;	/* a two-level btree */
	struct rig g;
	struct tsb sb = { 0 };
	struct vstate s;
	uint64_t *ref = malloc(n * sizeof(*ref)), st = 7;
	unsigned char v[8];

	(void)state;
	assert_non_null(ref);
	rig_init(&g, 2048);
	build(g.tm, n, &sb.array_root);
	sb.array_len = n;
	for (uint64_t i = 0; i < n; i++)
		ref[i] = expect(i, n);
	commit_and_check(&g, &sb, &s);
	vstate_release(&s);
	for (int round = 0; round < 4; round++) {
		for (int k = 0; k < 300; k++) {
			uint64_t i = rnd(&st) % n;

			ref[i] = rnd(&st);
			store_le64(v, ref[i]);
			assert_int_equal(pd_array_set(g.tm, &sb.array_root, 8, n,
						      i, v), 0);
		}
		assert_int_equal(pd_array_set(g.tm, &sb.array_root, 8, n, n, v),
				 -EINVAL);
		commit_and_check(&g, &sb, &s);
		for (uint64_t i = 0; i < n; i++)
			if (load_le64(s.array + 8 * i) != ref[i])
				fail_msg("round %d index %llu", round,
					 (unsigned long long)i);
		vstate_release(&s);
	}
	free(ref);
	rig_release(&g);
}

/* Bitsets: padding 0, set/clear in a later transaction. */
static void test_bitset(void **state)
{
	const uint64_t nbits = 64 * 509 + 70;	/* two array blocks, padding */
	struct rig g;
	struct tsb sb = { 0 };
	struct vstate s;
	struct base_bitmap bits;

	(void)state;
	rig_init(&g, 256);
	assert_int_equal(base_bitmap_init(&bits, nbits), 0);
	for (uint64_t i = 0; i < nbits; i += 3)
		base_bitmap_set(&bits, i);
	base_bitmap_clear_range(&bits, 1000, 20000);	/* empty words */
	/* Garbage past nr_bits must not reach the disk. */
	bits.words[nbits / 64] |= ~0ull << (nbits % 64);
	assert_int_equal(pd_bitset_build(g.tm, &bits, &sb.array_root), 0);
	sb.array_len = (nbits + 63) / 64;
	commit_and_check(&g, &sb, &s);
	for (uint64_t i = 0; i < nbits; i++)
		assert_int_equal((s.array[i / 8] >> (i % 8)) & 1,
				 base_bitmap_test(&bits, i));
	assert_int_equal(load_le64(s.array + 8 * (nbits / 64)) >> (nbits % 64), 0);
	vstate_release(&s);

	assert_int_equal(pd_bitset_set(g.tm, &sb.array_root, nbits, 5000), 0);
	assert_int_equal(pd_bitset_clear(g.tm, &sb.array_root, nbits, 0), 0);
	assert_int_equal(pd_bitset_set(g.tm, &sb.array_root, nbits, nbits - 1), 0);
	assert_int_equal(pd_bitset_set(g.tm, &sb.array_root, nbits, nbits), -EINVAL);
	base_bitmap_set(&bits, 5000);
	base_bitmap_clear(&bits, 0);
	base_bitmap_set(&bits, nbits - 1);
	commit_and_check(&g, &sb, &s);
	for (uint64_t i = 0; i < nbits; i++)
		assert_int_equal((s.array[i / 8] >> (i % 8)) & 1,
				 base_bitmap_test(&bits, i));
	vstate_release(&s);
	base_bitmap_release(&bits);
	rig_release(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_lengths),
		cmocka_unit_test(test_fill_and_value_size),
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_bitset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
