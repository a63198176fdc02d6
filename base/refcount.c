// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Two-bit reference counts with an overflow map (base/refcount.h).  The
 * inline fast paths cover 0 -> 1 -> 2; everything that touches a 3 comes
 * here.
 */
#include "base/refcount.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int base_refcount_init(struct base_refcount *rc, uint64_t nr)
{
	uint64_t nw = nr / BASE_REFCOUNT_PER_WORD + 1;
	int r;

	memset(rc, 0, sizeof(*rc));
	if (nw > SIZE_MAX / sizeof(uint64_t))
		return -ENOMEM;
	rc->words = calloc((size_t)nw, sizeof(uint64_t));
	if (!rc->words)
		return -ENOMEM;
	r = u64map_init(&rc->over, 16);
	if (r < 0) {
		free(rc->words);
		rc->words = NULL;
		return r;
	}
	rc->nr = nr;
	return 0;
}

void base_refcount_release(struct base_refcount *rc)
{
	if (rc->words)
		u64map_destroy(&rc->over);
	free(rc->words);
	memset(rc, 0, sizeof(*rc));
}

static void set2(struct base_refcount *rc, uint64_t i, unsigned v)
{
	uint64_t *w = &rc->words[i / BASE_REFCOUNT_PER_WORD];
	unsigned s = (unsigned)(i % BASE_REFCOUNT_PER_WORD) * 2;
	uint64_t bits = ((v >> 1) & 1) | ((uint64_t)(v & 1) << 1);

	*w = (*w & ~(3ull << s)) | bits << s;
}

uint32_t base_refcount_get_slow(const struct base_refcount *rc, uint64_t i)
{
	uint64_t v;

	/* A 3 not (yet) in the map: a space-map reader's pending entry. */
	if (u64map_get(&rc->over, i, &v) != 1)
		return 3;
	return (uint32_t)v;
}

int base_refcount_set(struct base_refcount *rc, uint64_t i, uint32_t v)
{
	if (v >= 3) {
		int r = u64map_put(&rc->over, i, v);

		if (r < 0)
			return r;
		set2(rc, i, 3);
		return 0;
	}
	if (base_refcount_get2(rc, i) == 3)
		u64map_remove(&rc->over, i);
	set2(rc, i, v);
	return 0;
}

int base_refcount_inc_slow(struct base_refcount *rc, uint64_t i)
{
	uint32_t c = base_refcount_get(rc, i);

	if (c == UINT32_MAX)
		return 0;
	return base_refcount_set(rc, i, c + 1);
}

int base_refcount_inc_run(struct base_refcount *rc, uint64_t i, uint64_t n)
{
	while (n) {
		unsigned s = (unsigned)(i % BASE_REFCOUNT_PER_WORD);
		unsigned k = BASE_REFCOUNT_PER_WORD - s;
		uint64_t *w = &rc->words[i / BASE_REFCOUNT_PER_WORD];
		uint64_t m, one, two;

		if (k > n)
			k = (unsigned)n;
		m = (k == BASE_REFCOUNT_PER_WORD ? ~0ull : (1ull << (2 * k)) - 1)
		    << (2 * s);
		one = m & ~BASE_REFCOUNT_EVEN;	/* the bit a count of 1 sets */
		two = m & BASE_REFCOUNT_EVEN;	/* the bit a count of 2 sets */
		if (!(*w & two)) {
			/* Every entry at 0 or 1: 0 -> 1 and 1 -> 2 at once. */
			*w = (*w & ~m) | (~*w & one) | ((*w & one) >> 1);
		} else {
			for (unsigned j = 0; j < k; j++)
				if (base_refcount_inc(rc, i + j) < 0)
					return -ENOMEM;
		}
		i += k;
		n -= k;
	}
	return 0;
}

void base_refcount_dec(struct base_refcount *rc, uint64_t i)
{
	uint32_t c = base_refcount_get(rc, i);

	if (c)
		base_refcount_set(rc, i, c - 1);	/* no growth: no error */
}

void base_refcount_clear_range(struct base_refcount *rc, uint64_t b,
			       uint64_t e)
{
	if (e > rc->nr)
		e = rc->nr;
	for (; b < e && b % BASE_REFCOUNT_PER_WORD; b++)
		base_refcount_set(rc, b, 0);
	for (; b + BASE_REFCOUNT_PER_WORD <= e; b += BASE_REFCOUNT_PER_WORD) {
		uint64_t *w = &rc->words[b / BASE_REFCOUNT_PER_WORD];
		uint64_t threes = *w & (*w >> 1) & BASE_REFCOUNT_EVEN;

		while (threes) {
			unsigned k = (unsigned)__builtin_ctzll(threes) / 2;

			u64map_remove(&rc->over, b + k);
			threes &= threes - 1;
		}
		*w = 0;
	}
	for (; b < e; b++)
		base_refcount_set(rc, b, 0);
}

uint64_t base_refcount_nonzero(const struct base_refcount *rc)
{
	uint64_t n = 0, nw = rc->nr / BASE_REFCOUNT_PER_WORD + 1;

	for (uint64_t i = 0; i < nw; i++) {
		uint64_t w = rc->words[i];

		n += (uint64_t)__builtin_popcountll((w | w >> 1) &
						    BASE_REFCOUNT_EVEN);
	}
	return n;
}
