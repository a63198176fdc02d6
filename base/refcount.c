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

/* A chunk of words is one page of this size. */
#define PAGE (BASE_REFCOUNT_CHUNK_WORDS * sizeof(uint64_t))

int base_refcount_init(struct base_refcount *rc, uint64_t nr)
{
	uint64_t nw = nr / BASE_REFCOUNT_PER_WORD + 1;
	uint64_t nc = nw / BASE_REFCOUNT_CHUNK_WORDS + 1;
	int r = -ENOMEM;

	memset(rc, 0, sizeof(*rc));
	if (nw > (SIZE_MAX - PAGE) / sizeof(uint64_t))
		return -ENOMEM;
	/*
	 * calloc: fresh pages stay unfaulted until a chunk is written.  One
	 * page more, to start words[] on a page: chunk c is then page c, and
	 * base_refcount_inc_run's first access to an untouched chunk can be
	 * a store (see there).
	 */
	rc->alloc = calloc((size_t)nw * sizeof(uint64_t) + PAGE, 1);
	rc->touched = calloc((size_t)nc, 1);
	if (!rc->alloc || !rc->touched)
		goto fail;
	rc->words = (uint64_t *)(((uintptr_t)rc->alloc + PAGE - 1) &
				 ~(uintptr_t)(PAGE - 1));
	r = u64map_init(&rc->over, 16);
	if (r < 0)
		goto fail;
	rc->nr = nr;
	return 0;
fail:
	free(rc->alloc);
	free(rc->touched);
	memset(rc, 0, sizeof(*rc));
	return r;
}

void base_refcount_release(struct base_refcount *rc)
{
	if (rc->words)
		u64map_destroy(&rc->over);
	free(rc->alloc);
	free(rc->touched);
	memset(rc, 0, sizeof(*rc));
}

static void set2(struct base_refcount *rc, uint64_t i, unsigned v)
{
	uint64_t *w = &rc->words[i / BASE_REFCOUNT_PER_WORD];
	unsigned s = (unsigned)(i % BASE_REFCOUNT_PER_WORD) * 2;
	uint64_t bits = ((v >> 1) & 1) | ((uint64_t)(v & 1) << 1);

	if (!v && !base_refcount_chunk_touched(rc, i / BASE_REFCOUNT_CHUNK))
		return;		/* already 0, and its page untouched */
	*w = (*w & ~(3ull << s)) | bits << s;
	if (v)
		base_refcount_touch_word(rc, i / BASE_REFCOUNT_PER_WORD);
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

/*
 * Makes a write the first access to w's page, leaving *w as it is.  A
 * chunk's flag may be clear while its page was never touched: then a load
 * would map the shared zero page and the store after it copy that page,
 * with a TLB flush that reaches every CPU the process runs on (an IPI each,
 * and in a virtual machine an exit on each side).  Not a plain store of 0:
 * a clear flag does not mean zero words where base_refcount_inc_dense
 * wrote them.  An atomic or of nothing is a write access that changes
 * nothing, in asm so that no compiler turns it into a load.
 */
static inline void write_first(uint64_t *w)
{
#if defined(__x86_64__)
	__asm__ volatile("lock orq $0, %0" : "+m"(*w));
#else
	(void)w;
#endif
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
		if (!base_refcount_chunk_touched(
			    rc, (i / BASE_REFCOUNT_PER_WORD) /
					BASE_REFCOUNT_CHUNK_WORDS))
			write_first(w);
		m = (k == BASE_REFCOUNT_PER_WORD ? ~0ull : (1ull << (2 * k)) - 1)
		    << (2 * s);
		one = m & ~BASE_REFCOUNT_EVEN;	/* the bit a count of 1 sets */
		two = m & BASE_REFCOUNT_EVEN;	/* the bit a count of 2 sets */
		if (!(*w & two)) {
			/* Every entry at 0 or 1: 0 -> 1 and 1 -> 2 at once. */
			*w = (*w & ~m) | (~*w & one) | ((*w & one) >> 1);
			base_refcount_touch_word(rc,
						 i / BASE_REFCOUNT_PER_WORD);
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

int base_refcount_add(struct base_refcount *dst,
		      const struct base_refcount *src)
{
	uint64_t nw = (src->nr + BASE_REFCOUNT_PER_WORD - 1) /
		      BASE_REFCOUNT_PER_WORD;

	for (uint64_t w = 0; w < nw; w++) {
		uint64_t x, y;
		uint64_t b = w * BASE_REFCOUNT_PER_WORD;

		if (!base_refcount_chunk_touched(src,
						 w / BASE_REFCOUNT_CHUNK_WORDS)) {
			/* All zero: on to the next chunk, its pages unread. */
			w |= BASE_REFCOUNT_CHUNK_WORDS - 1;
			continue;
		}
		x = src->words[w];
		if (!x)
			continue;
		if (!base_refcount_chunk_touched(dst,
						 w / BASE_REFCOUNT_CHUNK_WORDS))
			write_first(&dst->words[w]);
		y = dst->words[w];
		if (!((x | y) & BASE_REFCOUNT_EVEN) && !(x & y)) {
			dst->words[w] = x | y;
			base_refcount_touch_word(dst, w);
			continue;
		}
		for (unsigned j = 0; j < BASE_REFCOUNT_PER_WORD; j++) {
			uint64_t a, c;

			if (b + j >= src->nr || !((x >> (2 * j)) & 3))
				continue;
			a = base_refcount_get(dst, b + j);
			c = a + base_refcount_get(src, b + j);
			if (base_refcount_set(dst, b + j,
					      c > UINT32_MAX ? UINT32_MAX :
							       (uint32_t)c) < 0)
				return -ENOMEM;
		}
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
		uint64_t threes;

		if (!base_refcount_chunk_touched(rc, b / BASE_REFCOUNT_CHUNK)) {
			/* All 0 to the chunk's end: skip to it (or to e). */
			uint64_t next = (b / BASE_REFCOUNT_CHUNK + 1) *
					BASE_REFCOUNT_CHUNK;

			if (next > e)
				next = e - (e - b) % BASE_REFCOUNT_PER_WORD;
			b = next - BASE_REFCOUNT_PER_WORD;
			continue;
		}
		threes = *w & (*w >> 1) & BASE_REFCOUNT_EVEN;

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

void base_refcount_touch_all(struct base_refcount *rc)
{
	memset(rc->touched, 1, (size_t)base_refcount_nr_chunks(rc));
}

uint64_t base_refcount_nonzero(const struct base_refcount *rc)
{
	uint64_t n = 0, nw = base_refcount_nr_words(rc);

	for (uint64_t c = 0; c < base_refcount_nr_chunks(rc); c++) {
		uint64_t i = c * BASE_REFCOUNT_CHUNK_WORDS;
		uint64_t e = i + BASE_REFCOUNT_CHUNK_WORDS < nw ?
				     i + BASE_REFCOUNT_CHUNK_WORDS : nw;

		if (!base_refcount_chunk_touched(rc, c))
			continue;
		for (; i < e; i++)
			n += base_refcount_word_nonzero(rc->words[i]);
	}
	return n;
}
