// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * base/bitmap.c against a byte-per-bit model: ranges inside one word,
 * across words and on word edges, searches that start anywhere (including
 * past the end), counts, and the rule that bits past nr_bits never appear.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/bitmap.h"

struct model {
	struct base_bitmap bm;
	unsigned char *m;
	uint64_t n;
};

static void model_init(struct model *x, uint64_t n)
{
	assert_int_equal(base_bitmap_init(&x->bm, n), 0);
	x->m = calloc(n + 1, 1);
	assert_non_null(x->m);
	x->n = n;
}

static void model_release(struct model *x)
{
	base_bitmap_release(&x->bm);
	assert_null(x->bm.words);
	assert_int_equal(x->bm.nr_bits, 0);
	free(x->m);
}

static void model_check(const struct model *x)
{
	uint64_t count = 0, words = (x->n + 63) / 64;

	for (uint64_t i = 0; i < x->n; i++) {
		if (base_bitmap_test(&x->bm, i) != x->m[i])
			fail_msg("bit %lu: %d, model %d", (unsigned long)i,
				 base_bitmap_test(&x->bm, i), x->m[i]);
		count += x->m[i];
	}
	assert_int_equal(base_bitmap_count(&x->bm), count);
	/* Padding stays clear. */
	if (x->n % 64)
		assert_int_equal(x->bm.words[words - 1] >> (x->n % 64), 0);
	/* Searches from every start point, including past the end. */
	for (uint64_t i = 0; i <= x->n + 70; i++) {
		uint64_t s = x->n, c = x->n;

		for (uint64_t j = i; j < x->n; j++)
			if (x->m[j]) {
				s = j;
				break;
			}
		for (uint64_t j = i; j < x->n; j++)
			if (!x->m[j]) {
				c = j;
				break;
			}
		assert_int_equal(base_bitmap_next_set(&x->bm, i), s);
		assert_int_equal(base_bitmap_next_clear(&x->bm, i), c);
		/* Bounded: the first set bit below end, else end (capped). */
		for (uint64_t end = i; end <= x->n + 70; end += 1 + end / 3) {
			uint64_t e = end < x->n ? end : x->n;

			assert_int_equal(base_bitmap_next_set_before(&x->bm, i,
								     end),
					 s < e ? s : e);
		}
	}
}

static void model_range(struct model *x, uint64_t b, uint64_t e, int set)
{
	if (set)
		base_bitmap_set_range(&x->bm, b, e);
	else
		base_bitmap_clear_range(&x->bm, b, e);
	for (uint64_t i = b; i < e && i < x->n; i++)
		x->m[i] = (unsigned char)set;
}

static void test_empty(void **state)
{
	struct model x;

	(void)state;
	model_init(&x, 0);
	assert_non_null(x.bm.words);
	assert_int_equal(base_bitmap_count(&x.bm), 0);
	assert_int_equal(base_bitmap_next_set(&x.bm, 0), 0);
	assert_int_equal(base_bitmap_next_clear(&x.bm, 0), 0);
	base_bitmap_set_range(&x.bm, 0, 100);	/* clamped to nothing */
	assert_int_equal(x.bm.words[0], 0);
	model_release(&x);
	/* Releasing twice, or a zeroed bitmap, is fine. */
	base_bitmap_release(&x.bm);
}

static void test_single_bits(void **state)
{
	struct model x;

	(void)state;
	model_init(&x, 130);
	base_bitmap_set(&x.bm, 0);
	base_bitmap_set(&x.bm, 63);
	base_bitmap_set(&x.bm, 64);
	base_bitmap_set(&x.bm, 129);
	x.m[0] = x.m[63] = x.m[64] = x.m[129] = 1;
	assert_int_equal(x.bm.words[0], 0x8000000000000001ull);
	assert_int_equal(x.bm.words[1], 1);
	assert_int_equal(x.bm.words[2], 2);
	model_check(&x);
	assert_int_equal(base_bitmap_test_and_set(&x.bm, 63), 1);
	assert_int_equal(base_bitmap_test_and_set(&x.bm, 62), 0);
	assert_int_equal(base_bitmap_test_and_set(&x.bm, 62), 1);
	x.m[62] = 1;
	base_bitmap_clear(&x.bm, 0);
	x.m[0] = 0;
	model_check(&x);
	model_release(&x);
}

static void test_ranges(void **state)
{
	/* Edges: inside a word, ending on a word edge, spanning several. */
	static const uint64_t r[][2] = {
		{ 3, 9 }, { 0, 64 }, { 60, 68 }, { 64, 128 }, { 1, 199 },
		{ 127, 129 }, { 10, 10 }, { 150, 1000 }, { 199, 200 },
	};
	struct model x;

	(void)state;
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		model_init(&x, 200);
		model_range(&x, r[i][0], r[i][1], 1);
		model_check(&x);
		model_range(&x, r[i][0] + 1, r[i][1] > 2 ? r[i][1] - 1 : 0, 0);
		model_check(&x);
		model_release(&x);
	}
}

static void test_random(void **state)
{
	uint32_t seed = 1;
	struct model x;

	(void)state;
	for (uint64_t n = 1; n < 300; n += 37) {
		model_init(&x, n);
		for (int k = 0; k < 40; k++) {
			uint64_t b, e;

			seed = seed * 1103515245u + 12345u;
			b = (seed >> 8) % (n + 10);
			seed = seed * 1103515245u + 12345u;
			e = b + (seed >> 8) % 150;
			model_range(&x, b, e, (seed >> 4) & 1);
		}
		model_check(&x);
		model_release(&x);
	}
}

/* Full: next_clear finds nothing, count is everything. */
static void test_full(void **state)
{
	struct model x;

	(void)state;
	model_init(&x, 1000);
	model_range(&x, 0, 1000, 1);
	assert_int_equal(base_bitmap_count(&x.bm), 1000);
	assert_int_equal(base_bitmap_next_clear(&x.bm, 0), 1000);
	model_check(&x);
	model_release(&x);
}

/*
 * Resizing keeps the bits below both lengths, gains clear bits, and a
 * shrink clears what it drops: growing again must not bring them back,
 * and a count must not see them.
 */
static void test_resize(void **state)
{
	struct base_bitmap bm;

	(void)state;
	assert_int_equal(base_bitmap_init(&bm, 0), 0);
	assert_int_equal(base_bitmap_resize(&bm, 100), 0);
	assert_int_equal(bm.nr_bits, 100);
	assert_int_equal(base_bitmap_count(&bm), 0);
	base_bitmap_set_range(&bm, 3, 100);
	assert_int_equal(base_bitmap_resize(&bm, 1000), 0);
	assert_int_equal(base_bitmap_count(&bm), 97);
	assert_int_equal(base_bitmap_next_set(&bm, 100), 1000);
	base_bitmap_set_range(&bm, 900, 1000);
	assert_int_equal(base_bitmap_resize(&bm, 70), 0);
	assert_int_equal(base_bitmap_count(&bm), 67);
	assert_int_equal(base_bitmap_resize(&bm, 1000), 0);
	assert_int_equal(base_bitmap_count(&bm), 67);
	assert_int_equal(base_bitmap_next_set(&bm, 70), 1000);
	assert_int_equal(base_bitmap_next_clear(&bm, 3), 70);
	base_bitmap_release(&bm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_single_bits),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_resize),
	};

	return cmocka_run_group_tests_name("bitmap", tests, NULL, NULL);
}
