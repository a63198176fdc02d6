// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * base/sorted: every key of a sorted array is found at its own element,
 * whatever the key field's offset; keys between, below and above the
 * elements, and an empty array, give NULL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/sorted.h"

struct item {
	uint32_t tag;
	uint64_t key;		/* not first, not aligned to the struct */
	char pad[3];
};

static void test_find(void **state)
{
	struct item v[101];

	(void)state;
	for (unsigned i = 0; i < 101; i++)
		v[i] = (struct item){ i, 10 * (uint64_t)i + 5, { 0 } };
	for (unsigned n = 0; n <= 101; n++) {
		for (unsigned i = 0; i < n; i++) {
			assert_ptr_equal(BASE_FIND(v, n, key, v[i].key), &v[i]);
			assert_null(BASE_FIND(v, n, key, v[i].key + 1));
		}
		assert_null(BASE_FIND(v, n, key, 0));
		assert_null(BASE_FIND(v, n, key, UINT64_MAX));
	}
	/* A key at offset 0 too. */
	{
		struct k1 {
			uint64_t key;
		} w[4] = { { 1 }, { 7 }, { 8 }, { UINT64_MAX } };

		assert_ptr_equal(BASE_FIND(w, 4, key, 8), &w[2]);
		assert_ptr_equal(BASE_FIND(w, 4, key, UINT64_MAX), &w[3]);
		assert_null(BASE_FIND(w, 4, key, 2));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
