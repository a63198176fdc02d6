// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * base/refcount.c against a 32-bit-per-entry model: increments through 3
 * and on past it, one at a time and by runs (within a word, across words,
 * over entries at 0-1 and at 2 and more), decrements back through the
 * overflow map, sets, range clears inside and across words, saturation, the non-zero count, and the
 * word layout the space-map comparison relies on (entry i: bit 2i is 2,
 * bit 2i+1 is 1; nothing past nr).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/refcount.h"

static void assert_model(const struct base_refcount *rc, const uint32_t *m,
			 uint64_t n)
{
	uint64_t nz = 0;

	for (uint64_t i = 0; i < n; i++) {
		if (base_refcount_get(rc, i) != m[i])
			fail_msg("entry %lu: %u, expected %u", (unsigned long)i,
				 base_refcount_get(rc, i), m[i]);
		assert_int_equal(base_refcount_get2(rc, i), m[i] < 3 ? m[i] : 3);
		nz += m[i] != 0;
	}
	assert_int_equal(base_refcount_nonzero(rc), nz);
	for (uint64_t i = n; i % BASE_REFCOUNT_PER_WORD; i++)
		assert_int_equal(base_refcount_get2(rc, i), 0);
}

static void test_layout(void **state)
{
	struct base_refcount rc;

	(void)state;
	assert_int_equal(base_refcount_init(&rc, 64), 0);
	assert_int_equal(base_refcount_inc(&rc, 0), 0);		/* 1 */
	assert_int_equal(rc.words[0], 2);
	assert_int_equal(base_refcount_inc(&rc, 0), 0);		/* 2 */
	assert_int_equal(rc.words[0], 1);
	assert_int_equal(base_refcount_inc(&rc, 0), 0);		/* 3 */
	assert_int_equal(rc.words[0], 3);
	assert_int_equal(base_refcount_set(&rc, 33, 2), 0);
	assert_int_equal(rc.words[1], 1ull << 2);
	assert_int_equal(base_refcount_set(&rc, 63, 1), 0);
	assert_int_equal(rc.words[1], 1ull << 2 | 1ull << 63);
	/* A run over 30..34: 0 -> 1 (bit 2i+1), 2 -> 3, 1 -> 2 (bit 2i). */
	assert_int_equal(base_refcount_inc_run(&rc, 30, 5), 0);
	assert_int_equal(rc.words[0], 3 | 2ull << 60 | 2ull << 62);
	assert_int_equal(rc.words[1], 2 | 3ull << 2 | 2ull << 4 | 1ull << 63);
	assert_int_equal(base_refcount_get(&rc, 33), 3);
	base_refcount_release(&rc);
	assert_null(rc.words);
	base_refcount_release(&rc);	/* twice: harmless */
}

static void test_against_model(void **state)
{
	const uint64_t n = 1000;
	struct base_refcount rc;
	uint32_t *m = calloc(n, sizeof(*m));
	unsigned seed = 7;

	(void)state;
	assert_non_null(m);
	assert_int_equal(base_refcount_init(&rc, n), 0);
	for (int round = 0; round < 20000; round++) {
		uint64_t i, b, e;

		seed = seed * 1103515245u + 12345u;
		i = (seed >> 8) % n;
		switch ((seed >> 4) % 10) {
		case 8: case 9:
			b = i;
			e = b + (seed >> 20) % 80;
			if (e > n)
				e = n;
			assert_int_equal(base_refcount_inc_run(&rc, b, e - b),
					 0);
			for (; b < e; b++)
				m[b]++;
			break;
		case 0: case 1: case 2: case 3:
			assert_int_equal(base_refcount_inc(&rc, i), 0);
			m[i]++;
			break;
		case 4: case 5:
			base_refcount_dec(&rc, i);
			if (m[i])
				m[i]--;
			break;
		case 6:
			assert_int_equal(base_refcount_set(&rc, i, seed % 9), 0);
			m[i] = seed % 9;
			break;
		case 7:
			b = i;
			e = b + (seed >> 20) % 100;
			base_refcount_clear_range(&rc, b, e);
			for (; b < e && b < n; b++)
				m[b] = 0;
			break;
		}
	}
	assert_model(&rc, m, n);
	/* Every overflow entry belongs to a 3 and nothing else stays. */
	base_refcount_clear_range(&rc, 0, n);
	assert_int_equal(u64map_count(&rc.over), 0);
	base_refcount_release(&rc);
	free(m);
}

static void test_saturates(void **state)
{
	struct base_refcount rc;

	(void)state;
	assert_int_equal(base_refcount_init(&rc, 5), 0);
	assert_int_equal(base_refcount_set(&rc, 4, UINT32_MAX - 1), 0);
	assert_int_equal(base_refcount_inc(&rc, 4), 0);
	assert_int_equal(base_refcount_get(&rc, 4), UINT32_MAX);
	assert_int_equal(base_refcount_inc(&rc, 4), 0);
	assert_int_equal(base_refcount_get(&rc, 4), UINT32_MAX);
	base_refcount_dec(&rc, 4);
	assert_int_equal(base_refcount_get(&rc, 4), UINT32_MAX - 1);
	base_refcount_dec(&rc, 3);	/* at 0: stays 0 */
	assert_int_equal(base_refcount_get(&rc, 3), 0);
	base_refcount_release(&rc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_against_model),
		cmocka_unit_test(test_saturates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
