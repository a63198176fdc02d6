// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * base/grow: capacity doubles from its minimum and jumps to what is
 * needed, the contents survive every move, nothing happens when there is
 * room, and a byte count that would overflow is -ENOMEM with the array
 * and its capacity left as they were.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>

#include <cmocka.h>

#include "base/grow.h"

struct item {
	uint64_t a, b;
};

static void test_doubling(void **state)
{
	struct item *v = NULL, *before;
	size_t n = 0, cap = 0;

	(void)state;
	assert_int_equal(BASE_GROW(v, cap, 1, 16), 0);
	assert_int_equal(cap, 16);
	for (uint64_t i = 0; i < 1000; i++) {
		assert_int_equal(BASE_GROW(v, cap, n + 1, 16), 0);
		v[n++] = (struct item){ i, i * 3 };
	}
	assert_int_equal(cap, 1024);
	for (uint64_t i = 0; i < n; i++) {
		assert_int_equal(v[i].a, i);
		assert_int_equal(v[i].b, i * 3);
	}
	/* Room already: nothing moves. */
	before = v;
	assert_int_equal(BASE_GROW(v, cap, 1024, 16), 0);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 1024);
	/* A jump: doubled until it holds need. */
	assert_int_equal(BASE_GROW(v, cap, 5000, 16), 0);
	assert_int_equal(cap, 8192);
	assert_int_equal(v[999].a, 999);
	free(v);
}

static void test_overflow(void **state)
{
	struct item *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(BASE_GROW(v, cap, 4, 4), 0);
	v[3].a = 42;
	assert_int_equal(BASE_GROW(v, cap, SIZE_MAX / 8, 4), -ENOMEM);
	assert_int_equal(BASE_GROW(v, cap, SIZE_MAX, 4), -ENOMEM);
	assert_int_equal(cap, 4);
	assert_int_equal(v[3].a, 42);
	/* A minimum of 0 starts at 1. */
	{
		uint64_t *w = NULL;
		size_t c = 0;

		assert_int_equal(BASE_GROW(w, c, 1, 0), 0);
		assert_int_equal(c, 1);
		assert_int_equal(BASE_GROW(w, c, 3, 0), 0);
		assert_int_equal(c, 4);
		free(w);
	}
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doubling),
		cmocka_unit_test(test_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
