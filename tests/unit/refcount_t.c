// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * base/refcount.c against a 32-bit-per-entry model: increments through 3
 * and on past it, one at a time and by runs (within a word, across words,
 * over entries at 0-1 and at 2 and more), decrements back through the
 * overflow map, sets, range clears inside and across words, saturation, the non-zero count, and the
 * word layout the space-map comparison relies on (entry i: bit 2i is 2,
 * bit 2i+1 is 1; nothing past nr); the per-chunk summary (a chunk marked
 * untouched is all 0) and the word comparisons against entry-by-entry
 * ones.
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
	/* What readers skip: a chunk whose summary bit is clear is all 0. */
	for (uint64_t w = 0; w < base_refcount_nr_words(rc); w++)
		if (!base_refcount_chunk_touched(rc,
						 w / BASE_REFCOUNT_CHUNK_WORDS) &&
		    rc->words[w])
			fail_msg("word %lu not 0 in an untouched chunk",
				 (unsigned long)w);
}

static void test_layout(void **state)
{
	struct base_refcount rc;

	(void)state;
	assert_int_equal(base_refcount_init(&rc, 64), 0);
	/* Chunk c is page c: inc_run's store-first relies on it. */
	assert_int_equal((uintptr_t)rc.words % 4096, 0);
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

/*
 * Chunks: counts over four chunks (the last short), worked on around two
 * spots only, with range clears over chunk boundaries and whole words
 * stored as a space-map reader stores them; the model holds and chunk 2,
 * which nothing but zeros and clears ever reach, stays untouched.
 */
static void test_chunks(void **state)
{
	const uint64_t n = 3 * BASE_REFCOUNT_CHUNK + 77;
	const uint64_t spot[2] = { BASE_REFCOUNT_CHUNK - 40,
				   3 * BASE_REFCOUNT_CHUNK + 5 };
	struct base_refcount rc;
	uint32_t *m = calloc(n, sizeof(*m));
	unsigned seed = 11;

	(void)state;
	assert_non_null(m);
	assert_int_equal(base_refcount_init(&rc, n), 0);
	assert_int_equal(base_refcount_nr_chunks(&rc), 4);
	for (int round = 0; round < 20000; round++) {
		uint64_t i, b, e, w, x;

		seed = seed * 1103515245u + 12345u;
		i = spot[(seed >> 3) & 1] + (seed >> 8) % 80;
		if (i >= n)
			i = n - 1;
		switch ((seed >> 4) % 8) {
		case 0: case 1: case 2:
			assert_int_equal(base_refcount_inc(&rc, i), 0);
			m[i]++;
			break;
		case 3:
			base_refcount_dec(&rc, i);
			if (m[i])
				m[i]--;
			break;
		case 4:
			assert_int_equal(base_refcount_set(&rc, i, seed % 5), 0);
			m[i] = seed % 5;
			break;
		case 5:
			/*
			 * A word of 0s and 1s over one without 3s (the
			 * caller's part: their overflow entries).
			 */
			w = i / BASE_REFCOUNT_PER_WORD;
			x = (seed & 4) ? 0 : (uint64_t)seed * 0x9e3779b97f4a7c15ull &
					     ~BASE_REFCOUNT_EVEN;
			for (b = w * 32; b < w * 32 + 32; b++)
				if (b >= n || base_refcount_get2(&rc, b) == 3)
					goto next;
			base_refcount_store_word(&rc, w, x);
			for (b = w * 32; b < w * 32 + 32 && b < n; b++)
				m[b] = (x >> (2 * (b - w * 32) + 1)) & 1;
			break;
		case 6:
			/* 0 into the untouched chunk: no write, no touch. */
			base_refcount_store_word(&rc, 2 * BASE_REFCOUNT_CHUNK_WORDS +
						 (seed >> 8) % 512, 0);
			break;
		default:
			b = (seed & 8) ? i - (seed >> 20) % (2 * BASE_REFCOUNT_CHUNK) : i;
			if (b > n)
				b = 0;
			e = i + (seed >> 12) % 300;
			base_refcount_clear_range(&rc, b, e);
			for (; b < e && b < n; b++)
				m[b] = 0;
			break;
		}
next:;
	}
	assert_model(&rc, m, n);
	assert_false(base_refcount_chunk_touched(&rc, 2));
	base_refcount_clear_range(&rc, 0, n);
	assert_int_equal(u64map_count(&rc.over), 0);
	assert_int_equal(base_refcount_nonzero(&rc), 0);
	base_refcount_release(&rc);
	free(m);
}

/* Each way of writing a non-zero count marks its chunk; zeros do not. */
static void test_touch(void **state)
{
	const uint64_t c = BASE_REFCOUNT_CHUNK;
	struct base_refcount rc;

	(void)state;
	assert_int_equal(base_refcount_init(&rc, 4 * c), 0);
	for (uint64_t k = 0; k < 4; k++)
		assert_false(base_refcount_chunk_touched(&rc, k));
	assert_int_equal(base_refcount_inc(&rc, c + 5), 0);
	assert_true(base_refcount_chunk_touched(&rc, 1));
	assert_int_equal(base_refcount_nonzero(&rc), 1);
	assert_int_equal(base_refcount_set(&rc, 2 * c, 0), 0);
	base_refcount_store_word(&rc, 2 * BASE_REFCOUNT_CHUNK_WORDS + 1, 0);
	base_refcount_clear_range(&rc, 2 * c - 3, 3 * c + 40);
	assert_false(base_refcount_chunk_touched(&rc, 2));
	assert_int_equal(base_refcount_set(&rc, 2 * c + 7, 7), 0);
	assert_true(base_refcount_chunk_touched(&rc, 2));
	base_refcount_store_word(&rc, 3 * BASE_REFCOUNT_CHUNK_WORDS + 2, 2);
	assert_true(base_refcount_chunk_touched(&rc, 3));
	assert_int_equal(base_refcount_get(&rc, 3 * c + 64), 1);
	assert_int_equal(base_refcount_nonzero(&rc), 3);
	assert_false(base_refcount_chunk_touched(&rc, 0));
	/* A 0 stored over a count in a touched chunk is written. */
	base_refcount_store_word(&rc, 3 * BASE_REFCOUNT_CHUNK_WORDS + 2, 0);
	assert_int_equal(base_refcount_get(&rc, 3 * c + 64), 0);
	base_refcount_clear_range(&rc, 0, 4 * c);
	assert_int_equal(base_refcount_nonzero(&rc), 0);
	assert_int_equal(u64map_count(&rc.over), 0);
	base_refcount_release(&rc);
}

/*
 * base_refcount_inc_dense leaves the chunk flags to base_refcount_touch_all;
 * the counts are the same as base_refcount_inc's, 3s and all.
 */
static void test_dense(void **state)
{
	const uint64_t c = BASE_REFCOUNT_CHUNK;
	struct base_refcount rc;

	(void)state;
	assert_int_equal(base_refcount_init(&rc, 3 * c), 0);
	for (int k = 0; k < 4; k++)
		assert_int_equal(base_refcount_inc_dense(&rc, c + 9), 0);
	assert_int_equal(base_refcount_inc_dense(&rc, 2 * c + 1), 0);
	assert_int_equal(base_refcount_get(&rc, c + 9), 4);
	assert_int_equal(base_refcount_get(&rc, 2 * c + 1), 1);
	/* 3 and past go through the overflow map, which marks the chunk. */
	assert_true(base_refcount_chunk_touched(&rc, 1));
	assert_false(base_refcount_chunk_touched(&rc, 2));
	/* A run into the chunk the dense count left unflagged adds to it. */
	assert_int_equal(base_refcount_inc_run(&rc, 2 * c + 1, 3), 0);
	assert_int_equal(base_refcount_get(&rc, 2 * c + 1), 2);
	assert_int_equal(base_refcount_get(&rc, 2 * c + 3), 1);
	base_refcount_touch_all(&rc);
	for (uint64_t k = 0; k < base_refcount_nr_chunks(&rc); k++)
		assert_true(base_refcount_chunk_touched(&rc, k));
	assert_int_equal(base_refcount_nonzero(&rc), 4);
	base_refcount_release(&rc);
}

/* The word comparisons against entry-by-entry ones, on random words. */
static void test_word_compare(void **state)
{
	uint64_t seed = 5;

	(void)state;
	for (int round = 0; round < 200000; round++) {
		uint64_t a, b, differ = 0, above = 0, nz = 0;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		a = seed;
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		b = seed;
		/* Mostly equal entries, as in real counts. */
		if (round & 1)
			b = a ^ (b & (b >> 7) & (b >> 13));
		if (round & 2)
			a &= ~BASE_REFCOUNT_EVEN;	/* 0s and 1s only */
		for (unsigned k = 0; k < 32; k++) {
			unsigned s = 2 * k;
			/* Even bit 2, odd bit 1. */
			unsigned va = (unsigned)((a >> s & 1) << 1 | (a >> (s + 1) & 1));
			unsigned vb = (unsigned)((b >> s & 1) << 1 | (b >> (s + 1) & 1));
			uint64_t bit = 1ull << s;

			if (va != vb || va == 3 || vb == 3)
				differ |= bit;
			if (va > vb || va == 3 || vb == 3)
				above |= bit;
			nz += va != 0;
		}
		assert_int_equal(base_refcount_words_differ(a, b), differ);
		assert_int_equal(base_refcount_words_above(a, b), above);
		assert_int_equal(base_refcount_word_nonzero(a), nz);
	}
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

/* dst += src against the model: disjoint words, overlapping 1s, 2s, 3s. */
static void test_add(void **state)
{
	const uint64_t n = 700;
	struct base_refcount a, b;
	uint32_t *ma = calloc(n, sizeof(*ma)), *mb = calloc(n, sizeof(*mb));
	unsigned seed = 11;

	(void)state;
	assert_non_null(ma);
	assert_non_null(mb);
	assert_int_equal(base_refcount_init(&a, n), 0);
	assert_int_equal(base_refcount_init(&b, n), 0);
	for (int round = 0; round < 3000; round++) {
		uint64_t i;
		int to_b;

		seed = seed * 1103515245u + 12345u;
		i = (seed >> 8) % n;
		to_b = (seed >> 4) & 1;
		/* Words 0-4 only a, 5-9 only b, the rest both. */
		if (i / 32 < 5)
			to_b = 0;
		else if (i / 32 < 10)
			to_b = 1;
		assert_int_equal(base_refcount_inc(to_b ? &b : &a, i), 0);
		(to_b ? mb : ma)[i]++;
	}
	assert_int_equal(base_refcount_set(&b, 650, 70000), 0);
	mb[650] = 70000;
	assert_int_equal(base_refcount_add(&a, &b), 0);
	for (uint64_t i = 0; i < n; i++)
		ma[i] += mb[i];
	assert_model(&a, ma, n);
	base_refcount_release(&a);
	base_refcount_release(&b);
	free(ma);
	free(mb);
}

/*
 * Across chunks: src's untouched chunks are skipped, a chunk only src
 * touched (with 1s, 2s and 3s in it) lands in an untouched dst chunk, one
 * both touched is added entry by entry, and a chunk neither touched stays
 * untouched in dst.
 */
static void test_add_chunks(void **state)
{
	const uint64_t n = 5 * BASE_REFCOUNT_CHUNK;
	const uint64_t C = BASE_REFCOUNT_CHUNK;
	struct base_refcount a, b;
	uint32_t *ma = calloc(n, sizeof(*ma)), *mb = calloc(n, sizeof(*mb));
	static const uint64_t in_b[] = { 1, 3 }, in_a[] = { 0, 3, 4 };
	unsigned seed = 5;

	(void)state;
	assert_non_null(ma);
	assert_non_null(mb);
	assert_int_equal(base_refcount_init(&a, n), 0);
	assert_int_equal(base_refcount_init(&b, n), 0);
	for (int round = 0; round < 20000; round++) {
		int to_b = round & 1;
		uint64_t chunk, i;

		seed = seed * 1103515245u + 12345u;
		chunk = to_b ? in_b[(seed >> 3) % 2] : in_a[(seed >> 3) % 3];
		/* A few hundred entries each, so that counts reach 3 and up. */
		i = chunk * C + (seed >> 8) % 300;
		assert_int_equal(base_refcount_inc(to_b ? &b : &a, i), 0);
		(to_b ? mb : ma)[i]++;
	}
	assert_int_equal(base_refcount_inc_run(&b, C + 1000, 90), 0);
	for (uint64_t i = C + 1000; i < C + 1090; i++)
		mb[i]++;
	assert_false(base_refcount_chunk_touched(&a, 1));
	assert_int_equal(base_refcount_add(&a, &b), 0);
	for (uint64_t i = 0; i < n; i++)
		ma[i] += mb[i];
	assert_model(&a, ma, n);
	assert_true(base_refcount_chunk_touched(&a, 1));
	assert_false(base_refcount_chunk_touched(&a, 2));
	base_refcount_release(&a);
	base_refcount_release(&b);
	free(ma);
	free(mb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_add_chunks),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_against_model),
		cmocka_unit_test(test_touch),
		cmocka_unit_test(test_dense),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_word_compare),
		cmocka_unit_test(test_saturates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
