// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * In-core bitmaps: allocation, ranges, searches and counts a word at a time.
 * Bits past nr_bits in the last word are kept zero so that counts and
 * searches never see them.
 */
#include "base/bitmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t nr_words(uint64_t nr_bits)
{
	return nr_bits / 64 + (nr_bits % 64 != 0);
}

int base_bitmap_init(struct base_bitmap *bm, uint64_t nr_bits)
{
	uint64_t n = nr_words(nr_bits);

	bm->nr_bits = nr_bits;
	bm->words = calloc(n ? n : 1, sizeof(uint64_t));
	return bm->words ? 0 : -ENOMEM;
}

int base_bitmap_resize(struct base_bitmap *bm, uint64_t nr_bits)
{
	uint64_t have = nr_words(bm->nr_bits), want = nr_words(nr_bits);

	if (want > SIZE_MAX / sizeof(uint64_t))
		return -ENOMEM;
	if (want > have) {
		uint64_t *w = realloc(bm->words, (size_t)want * sizeof(*w));

		if (!w)
			return -ENOMEM;
		memset(w + have, 0, (size_t)(want - have) * sizeof(*w));
		bm->words = w;
	}
	/* Shrinking: the bits past the new end are cleared (see the top). */
	if (nr_bits < bm->nr_bits) {
		if (nr_bits % 64)
			bm->words[nr_bits / 64] &= (1ull << (nr_bits % 64)) - 1;
		for (uint64_t i = want; i < have; i++)
			bm->words[i] = 0;
	}
	bm->nr_bits = nr_bits;
	return 0;
}

void base_bitmap_release(struct base_bitmap *bm)
{
	free(bm->words);
	bm->words = NULL;
	bm->nr_bits = 0;
}

/* Mask of bits [lo, hi) within one word, 0 <= lo < hi <= 64. */
static uint64_t span(unsigned lo, unsigned hi)
{
	uint64_t upper = hi == 64 ? ~0ull : (1ull << hi) - 1;

	return upper & ~((1ull << lo) - 1);
}

static void apply_range(struct base_bitmap *bm, uint64_t begin, uint64_t end,
			int set)
{
	if (end > bm->nr_bits)
		end = bm->nr_bits;
	while (begin < end) {
		uint64_t w = begin / 64;
		unsigned lo = begin % 64;
		unsigned hi = (end - w * 64) >= 64 ? 64 : (unsigned)(end - w * 64);
		uint64_t m = span(lo, hi);

		if (set)
			bm->words[w] |= m;
		else
			bm->words[w] &= ~m;
		begin = w * 64 + hi;
	}
}

void base_bitmap_set_range(struct base_bitmap *bm, uint64_t begin, uint64_t end)
{
	apply_range(bm, begin, end, 1);
}

void base_bitmap_clear_range(struct base_bitmap *bm, uint64_t begin,
			     uint64_t end)
{
	apply_range(bm, begin, end, 0);
}

/* The first bit in [i, end) that differs from flip's, or end. */
static uint64_t next_bit(const struct base_bitmap *bm, uint64_t i,
			 uint64_t end, uint64_t flip)
{
	uint64_t n;

	if (end > bm->nr_bits)
		end = bm->nr_bits;
	if (i >= end)
		return end;
	/* Only the words that hold bits below end are read. */
	n = nr_words(end);
	for (uint64_t w = i / 64; w < n; w++) {
		uint64_t v = bm->words[w] ^ flip;

		if (w == i / 64)
			v &= ~0ull << (i % 64);
		if (v) {
			uint64_t r = w * 64 + (uint64_t)__builtin_ctzll(v);

			return r < end ? r : end;
		}
	}
	return end;
}

uint64_t base_bitmap_next_set(const struct base_bitmap *bm, uint64_t i)
{
	return next_bit(bm, i, bm->nr_bits, 0);
}

uint64_t base_bitmap_next_set_before(const struct base_bitmap *bm,
				     uint64_t i, uint64_t end)
{
	return next_bit(bm, i, end, 0);
}

uint64_t base_bitmap_next_clear(const struct base_bitmap *bm, uint64_t i)
{
	return next_bit(bm, i, bm->nr_bits, ~0ull);
}

uint64_t base_bitmap_count(const struct base_bitmap *bm)
{
	uint64_t n = nr_words(bm->nr_bits), c = 0;

	for (uint64_t w = 0; w < n; w++)
		c += (uint64_t)__builtin_popcountll(bm->words[w]);
	return c;
}
