/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Reference counts in two bits each: 0, 1, 2, and 3 for "3 or more", whose
 * exact value lives in an overflow map.  A checker counts every reference to
 * millions of blocks, nearly all 0 or 1: a 32-bit counter each is 16 times
 * the memory (and the page faults) for nothing.
 *
 * The entries are packed 32 to a uint64_t word in the order of the
 * persistent-data space map's bitmaps (entry i of a word: bit 2i carries 2,
 * bit 2i+1 carries 1), so a word of counts decoded from a bitmap can be
 * compared with a word counted in memory in one instruction; words[] is
 * part of the interface for that reason.  Entries past nr stay 0.
 *
 *	struct base_refcount rc;
 *	r = base_refcount_init(&rc, nr_blocks);
 *	r = base_refcount_inc(&rc, b);		(0 or -ENOMEM)
 *	n = base_refcount_get(&rc, b);
 *	base_refcount_release(&rc);
 *
 * Counts saturate at UINT32_MAX.  Memory: nr / 4 bytes, and 16 bytes or so
 * per entry of 3 or more.
 */
#ifndef BASE_REFCOUNT_H
#define BASE_REFCOUNT_H

#include <stdint.h>

#include "base/u64map.h"

#define BASE_REFCOUNT_PER_WORD 32u
/* The even bits of a word: one per entry. */
#define BASE_REFCOUNT_EVEN 0x5555555555555555ull

struct base_refcount {
	uint64_t *words;
	uint64_t nr;
	struct u64map over;	/* entry -> count, for entries at 3 */
};

/* All zero; 0 or -ENOMEM. */
int base_refcount_init(struct base_refcount *rc, uint64_t nr);
/* Accepts a zeroed or released struct. */
void base_refcount_release(struct base_refcount *rc);

/* The 2-bit value of entry i: 0..3. */
static inline unsigned base_refcount_get2(const struct base_refcount *rc,
					  uint64_t i)
{
	uint64_t w = rc->words[i / BASE_REFCOUNT_PER_WORD];
	unsigned s = (unsigned)(i % BASE_REFCOUNT_PER_WORD) * 2;

	return (unsigned)(((w >> s) & 1) << 1 | ((w >> (s + 1)) & 1));
}

uint32_t base_refcount_get_slow(const struct base_refcount *rc, uint64_t i);

static inline uint32_t base_refcount_get(const struct base_refcount *rc,
					 uint64_t i)
{
	unsigned c = base_refcount_get2(rc, i);

	return c < 3 ? c : base_refcount_get_slow(rc, i);
}

/* Sets entry i to v; 0 or -ENOMEM (then unchanged). */
int base_refcount_set(struct base_refcount *rc, uint64_t i, uint32_t v);

int base_refcount_inc_slow(struct base_refcount *rc, uint64_t i);

/* Adds one; 0 or -ENOMEM (then unchanged). */
static inline int base_refcount_inc(struct base_refcount *rc, uint64_t i)
{
	uint64_t *w = &rc->words[i / BASE_REFCOUNT_PER_WORD];
	unsigned s = (unsigned)(i % BASE_REFCOUNT_PER_WORD) * 2;

	switch ((*w >> s) & 3) {
	case 0:			/* 0 -> 1: the odd bit */
		*w |= 2ull << s;
		return 0;
	case 2:			/* 1 -> 2: odd bit off, even bit on */
		*w ^= 3ull << s;
		return 0;
	default:
		return base_refcount_inc_slow(rc, i);
	}
}

/* Takes one off (nothing at 0). */
/*
 * Adds one to each of the n entries from i (all below rc->nr): entries at 0
 * or 1 a word at a time, the rest one by one.  For runs of consecutive
 * blocks, what a pool that allocates in order is made of.  0 or -ENOMEM.
 */
int base_refcount_inc_run(struct base_refcount *rc, uint64_t i, uint64_t n);

void base_refcount_dec(struct base_refcount *rc, uint64_t i);

/* Entries [b, e) to 0. */
void base_refcount_clear_range(struct base_refcount *rc, uint64_t b,
			       uint64_t e);

/* Entries that are not 0. */
uint64_t base_refcount_nonzero(const struct base_refcount *rc);

#endif
