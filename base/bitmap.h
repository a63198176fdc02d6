/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * In-core bitmaps of up to 2^64 bits, in 64-bit words, bit i in word i/64
 * at position i%64.  Used for "seen" sets (cycle guards, duplicate origin
 * blocks), bitsets read from disk and dirty sets.
 *
 * base_bitmap_init() and base_bitmap_resize() return 0 or -ENOMEM;
 * everything else cannot fail.
 * base_bitmap_release() accepts a zeroed or released bitmap.
 */
#ifndef BASE_BITMAP_H
#define BASE_BITMAP_H

#include <stdint.h>

struct base_bitmap {
	uint64_t *words;
	uint64_t nr_bits;
};

int base_bitmap_init(struct base_bitmap *bm, uint64_t nr_bits);
/*
 * Makes bm nr_bits long, keeping the bits below both lengths; bits gained
 * are clear.  Returns 0 or -ENOMEM (bm unchanged).
 */
int base_bitmap_resize(struct base_bitmap *bm, uint64_t nr_bits);
void base_bitmap_release(struct base_bitmap *bm);

static inline int base_bitmap_test(const struct base_bitmap *bm, uint64_t i)
{
	return (bm->words[i / 64] >> (i % 64)) & 1;
}

static inline void base_bitmap_set(struct base_bitmap *bm, uint64_t i)
{
	bm->words[i / 64] |= 1ull << (i % 64);
}

static inline void base_bitmap_clear(struct base_bitmap *bm, uint64_t i)
{
	bm->words[i / 64] &= ~(1ull << (i % 64));
}

/* Returns the old value. */
static inline int base_bitmap_test_and_set(struct base_bitmap *bm, uint64_t i)
{
	uint64_t m = 1ull << (i % 64);
	int old = (bm->words[i / 64] & m) != 0;

	bm->words[i / 64] |= m;
	return old;
}

/* Sets or clears bits [begin, end). */
void base_bitmap_set_range(struct base_bitmap *bm, uint64_t begin, uint64_t end);
void base_bitmap_clear_range(struct base_bitmap *bm, uint64_t begin,
			     uint64_t end);
/* The first set bit at or after i, or nr_bits when there is none. */
uint64_t base_bitmap_next_set(const struct base_bitmap *bm, uint64_t i);
/*
 * The first set bit in [i, end), or end (at most nr_bits) when there is
 * none: no word at or past end is read.
 */
uint64_t base_bitmap_next_set_before(const struct base_bitmap *bm,
				     uint64_t i, uint64_t end);
/* The first clear bit at or after i, or nr_bits when there is none. */
uint64_t base_bitmap_next_clear(const struct base_bitmap *bm, uint64_t i);
uint64_t base_bitmap_count(const struct base_bitmap *bm);

#endif
