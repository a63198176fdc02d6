// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache/metadata_size: the reference formula at every point FORMAT.md §8
 * fixes, overflow refusal, the exact block count against layouts worked
 * out by hand from FORMAT.md §6.6, btree level arithmetic at the node
 * boundaries, and size strings and output units.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cache/metadata_size.h"

static void test_formula_table(void **state)
{
	static const struct {
		uint64_t nr;
		uint32_t width;
		uint64_t want;
	} v[] = {
		{ 0, 4, 8192 },		{ 1, 4, 8192 },
		{ 31, 4, 8192 },	{ 32, 4, 8193 },
		{ 1000, 4, 8246 },	{ 1000, 8, 8254 },
		{ 1000, 0, 8238 },	{ 1000, 3, 8244 },
		{ 1000, 5, 8248 },	{ 65536, 4, 11776 },
		{ 1000000, 4, 62879 },	{ 123456789, 4, 6759734 },
		/* --device-size 2097152 --block-size 128 */
		{ 16384, 4, 9088 },
		/* --device-size 1000 --block-size 64 */
		{ 15, 4, 8192 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t s = 0;

		assert_int_equal(cache_msize_conservative(v[i].nr, v[i].width,
							  &s), 0);
		assert_int_equal(s, v[i].want);
	}
}

static void test_formula_overflow(void **state)
{
	uint64_t s = 12345;

	(void)state;
	/*
	 * 0.9.0 wraps N * 16 and prints 72057594037936126; worked out by
	 * hand, floor((2^64-1)/32) + floor(3(2^64-1)/128) = 2^59-1 + 3*2^57-1.
	 */
	assert_int_equal(cache_msize_conservative(UINT64_MAX, 4, &s), 0);
	assert_true(s == 8190 + 7 * (1ull << 57));
	/* A result past 64 bits is refused, not wrapped. */
	s = 12345;
	assert_int_equal(cache_msize_conservative(UINT64_MAX, UINT32_MAX, &s),
			 -ERANGE);
	assert_int_equal(s, 12345);
	/* The largest cache the superblock can describe still works. */
	assert_int_equal(cache_msize_conservative(0xffffffffull, 128, &s), 0);
	assert_int_equal(s, 8192 + 0xffffffffull * 16 / 512 +
			    0xffffffffull * 136 / 512);
}

static void test_btree_nodes(void **state)
{
	static const struct {
		uint64_t keys;
		uint64_t want;
	} v[] = {
		{ 0, 1 },	/* empty root leaf */
		{ 1, 1 },
		{ 252, 1 },
		{ 253, 3 },	/* two leaves and a root */
		{ 504, 3 },
		{ 505, 4 },
		{ 252 * 252, 253 },
		{ 252 * 252 + 1, 253 + 2 + 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_int_equal(cache_msize_btree_nodes(v[i].keys, 252),
				 v[i].want);
}

static void test_array_blocks(void **state)
{
	(void)state;
	assert_int_equal(cache_msize_array_blocks(0, 8), 1);
	assert_int_equal(cache_msize_array_blocks(1, 8), 2);
	assert_int_equal(cache_msize_array_blocks(509, 8), 2);
	assert_int_equal(cache_msize_array_blocks(510, 8), 3);
	assert_int_equal(cache_msize_array_blocks(1018, 4), 2);
	assert_int_equal(cache_msize_array_blocks(1019, 4), 3);
	/* FORMAT.md §10.3: 300,000 mappings are 590 blocks under 3+1 nodes. */
	assert_int_equal(cache_msize_array_blocks(300000, 8), 590 + 3 + 1);
	assert_int_equal(cache_msize_array_blocks(100, 0), 0);
}

static void test_exact_small(void **state)
{
	struct cache_msize_layout l = { .version = 1, .hint_width = 4,
					.nr_cache_blocks = 16 };
	struct cache_msize_exact e;

	(void)state;
	/*
	 * FORMAT.md §6.6 without 0.9.0's leaked block: superblock, index,
	 * overflow root, one bitmap, mapping root + block, discard root,
	 * hint root + block.
	 */
	assert_int_equal(cache_msize_exact(&l, &e), 0);
	assert_int_equal(e.total, 9);
	assert_int_equal(e.superblock, 1);
	assert_int_equal(e.space_map, 3);
	assert_int_equal(e.mapping, 2);
	assert_int_equal(e.hints, 2);
	assert_int_equal(e.discard, 1);
	assert_int_equal(e.dirty, 0);
	assert_true(e.fits);

	/* v2 adds the dirty bitset's root and block: §6.6 says 11. */
	l.version = 2;
	assert_int_equal(cache_msize_exact(&l, &e), 0);
	assert_int_equal(e.total, 11);
	assert_int_equal(e.dirty, 2);

	/* No hints at all with width 0. */
	l.hint_width = 0;
	assert_int_equal(cache_msize_exact(&l, &e), 0);
	assert_int_equal(e.hints, 0);
	assert_int_equal(e.total, 9);

	/* An empty cache: every array is one empty leaf. */
	l = (struct cache_msize_layout){ .version = 2, .hint_width = 4 };
	assert_int_equal(cache_msize_exact(&l, &e), 0);
	assert_int_equal(e.total, 1 + 3 + 1 + 1 + 1 + 1);
}

static void test_exact_bitmaps(void **state)
{
	struct cache_msize_layout l = { .version = 1, .hint_width = 4 };
	struct cache_msize_exact e;
	uint64_t structures;

	(void)state;
	/*
	 * Find a size where the structures alone fit one bitmap but the
	 * space map's own blocks push the total past 16320: the fixed point
	 * must then count a second bitmap.
	 */
	for (l.nr_cache_blocks = 4000000;; l.nr_cache_blocks += 509) {
		assert_int_equal(cache_msize_exact(&l, &e), 0);
		structures = e.total - e.space_map;
		if (structures + 3 > 16320)
			break;
	}
	assert_int_equal(e.space_map, 2 + 2);
	assert_true(e.total > 16320);

	/* Large: the bitmap count covers the total. */
	l.nr_cache_blocks = 0xffffffffull;
	assert_int_equal(cache_msize_exact(&l, &e), 0);
	assert_true((e.space_map - 2) * 16320 >= e.total);
	assert_true((e.space_map - 3) * 16320 < e.total);
	assert_false(e.fits);
}

static void test_exact_invalid(void **state)
{
	struct cache_msize_layout l = { .version = 3, .hint_width = 4 };
	struct cache_msize_exact e;

	(void)state;
	assert_int_equal(cache_msize_exact(&l, &e), -EINVAL);
	l.version = 0;
	assert_int_equal(cache_msize_exact(&l, &e), -EINVAL);
	l.version = 1;
	l.hint_width = 132;
	assert_int_equal(cache_msize_exact(&l, &e), -EINVAL);
	l.hint_width = 4;
	l.nr_cache_blocks = 0x100000000ull;
	assert_int_equal(cache_msize_exact(&l, &e), -EINVAL);
}

static void test_parse_size(void **state)
{
	static const struct {
		const char *s;
		uint64_t want;
	} ok[] = {
		{ "2048", 2048ull * 512 },	{ "+7", 7ull * 512 },
		{ "010", 10ull * 512 },		{ "1b", 1 },
		{ "3s", 1536 },			{ "2k", 2048 },
		{ "1m", 1ull << 20 },		{ "10g", 10ull << 30 },
		{ "1t", 1ull << 40 },		{ "1p", 1ull << 50 },
		{ "15e", 15ull << 60 },		{ "2K", 2000 },
		{ "10G", 10000000000ull },	{ "1KiB", 1024 },
		{ "1MB", 1000000 },		{ "1gibibyte", 1ull << 30 },
		{ "36028797018963967", 36028797018963967ull * 512 },
	};
	static const struct {
		const char *s;
		int err;
	} bad[] = {
		{ "", -EINVAL },	{ "abc", -EINVAL },
		{ "10x", -EINVAL },	{ "-1", -EINVAL },
		{ " 10", -EINVAL },	{ "0x10", -EINVAL },
		{ "1.5g", -EINVAL },	{ "10 g", -EINVAL },
		{ "16e", -ERANGE },	{ "36028797018963968", -ERANGE },
		{ "18446744073709551616b", -ERANGE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t b = 0;

		assert_int_equal(cache_size_parse(ok[i].s, 512, &b), 0);
		assert_int_equal(b, ok[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t b = 99;

		assert_int_equal(cache_size_parse(bad[i].s, 512, &b),
				 bad[i].err);
		assert_int_equal(b, 99);
	}
}

static void test_parse_u64(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(cache_size_parse_u64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(cache_size_parse_u64("18446744073709551616", &v),
			 -ERANGE);
	assert_int_equal(cache_size_parse_u64("12k", &v), -EINVAL);
	assert_int_equal(cache_size_parse_u64("", &v), -EINVAL);
}

/* The kernel's rule: 64..2097152 sectors, a multiple of 64. */
static void test_block_size_problem(void **state)
{
	static const uint64_t ok[] = { 64, 128, 192, 1024, 2097152 - 64,
				       2097152 };
	static const uint64_t multiple[] = { 0, 1, 32, 63, 65, 100, 96,
					     2097152 + 1, UINT64_MAX };
	static const uint64_t too_big[] = { 2097152 + 64, 4194304,
					    UINT64_MAX - 63 };

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_null(cache_block_size_problem(ok[i]));
	for (size_t i = 0; i < sizeof(multiple) / sizeof(multiple[0]); i++)
		assert_string_equal(cache_block_size_problem(multiple[i]),
				    "block size must be a multiple of 32 KiB");
	for (size_t i = 0; i < sizeof(too_big) / sizeof(too_big[0]); i++)
		assert_string_equal(cache_block_size_problem(too_big[i]),
				    "maximum block size is 1 GiB");
}

static void test_units(void **state)
{
	const struct cache_size_unit *u;
	uint64_t whole;
	unsigned h;
	int exact;

	(void)state;
	assert_int_equal(cache_size_unit_parse("s", &u), 0);
	assert_string_equal(u->name, "sector");
	cache_size_in_unit(8246, u, &whole, &h, &exact);
	assert_int_equal(whole, 8246);
	assert_true(exact);

	assert_int_equal(cache_size_unit_parse("m", &u), 0);
	assert_string_equal(u->name, "mebibyte");
	cache_size_in_unit(8192, u, &whole, &h, &exact);
	assert_int_equal(whole, 4);
	assert_true(exact);
	/* 8246 sectors = 4.0263... MiB, rounded up to 4.03. */
	cache_size_in_unit(8246, u, &whole, &h, &exact);
	assert_int_equal(whole, 4);
	assert_int_equal(h, 3);
	assert_false(exact);
	/* 8193 sectors = 4.00024 MiB: a hair over still shows 4.01. */
	cache_size_in_unit(8193, u, &whole, &h, &exact);
	assert_int_equal(whole, 4);
	assert_int_equal(h, 1);

	assert_int_equal(cache_size_unit_parse("K", &u), 0);
	assert_string_equal(u->name, "kilobyte");
	cache_size_in_unit(8192, u, &whole, &h, &exact);
	assert_int_equal(whole, 4194);
	assert_int_equal(h, 31);	/* 4194.304 */

	assert_int_equal(cache_size_unit_parse("b", &u), 0);
	cache_size_in_unit(3, u, &whole, &h, &exact);
	assert_int_equal(whole, 1536);

	assert_int_equal(cache_size_unit_parse("x", &u), -EINVAL);
	assert_int_equal(cache_size_unit_parse("", &u), -EINVAL);
	assert_int_equal(cache_size_unit_parse("kib", &u), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_formula_table),
		cmocka_unit_test(test_formula_overflow),
		cmocka_unit_test(test_btree_nodes),
		cmocka_unit_test(test_array_blocks),
		cmocka_unit_test(test_exact_small),
		cmocka_unit_test(test_exact_bitmaps),
		cmocka_unit_test(test_exact_invalid),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_block_size_problem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
