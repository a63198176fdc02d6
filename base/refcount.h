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
 *
 * A checker's counts are mostly zero: a metadata space map of 4M blocks
 * with 8,000 in use is 1 MB of words of which a page or two are ever
 * written.  Reading the rest would fault in a zero page each 4 KiB (a
 * microsecond apiece), so a summary flag per chunk (one page of words,
 * BASE_REFCOUNT_CHUNK entries) says which chunks may hold a non-zero word:
 * every write of a non-zero value sets it, and a chunk whose flag is clear
 * is all zero.  A reader of words[] skips the chunks that are clear
 * (base_refcount_chunk_touched); a writer of words[] other than these
 * functions goes through base_refcount_store_word.
 */
#ifndef BASE_REFCOUNT_H
#define BASE_REFCOUNT_H

#include <stdint.h>

#include "base/u64map.h"

#define BASE_REFCOUNT_PER_WORD 32u
/* The even bits of a word: one per entry. */
#define BASE_REFCOUNT_EVEN 0x5555555555555555ull
/* Words per summary bit: one 4 KiB page of them. */
#define BASE_REFCOUNT_CHUNK_WORDS 512u
#define BASE_REFCOUNT_CHUNK (BASE_REFCOUNT_PER_WORD * BASE_REFCOUNT_CHUNK_WORDS)

struct base_refcount {
	uint64_t *words;	/* nr / 32 + 1 of them, from a page boundary */
	void *alloc;		/* what words[] lies in */
	uint64_t nr;
	uint8_t *touched;	/* [c] 0: chunk c's words are all 0 */
	struct u64map over;	/* entry -> count, for entries at 3 */
};

/* All zero; 0 or -ENOMEM. */
int base_refcount_init(struct base_refcount *rc, uint64_t nr);
/* Accepts a zeroed or released struct. */
void base_refcount_release(struct base_refcount *rc);

/* words[] holds nr / 32 + 1 words, in chunks of 512 (the last short). */
static inline uint64_t base_refcount_nr_words(const struct base_refcount *rc)
{
	return rc->nr / BASE_REFCOUNT_PER_WORD + 1;
}

static inline uint64_t base_refcount_nr_chunks(const struct base_refcount *rc)
{
	return (base_refcount_nr_words(rc) + BASE_REFCOUNT_CHUNK_WORDS - 1) /
	       BASE_REFCOUNT_CHUNK_WORDS;
}

/* 0: every word of chunk c (words [512c, 512c + 512)) is 0. */
static inline int base_refcount_chunk_touched(const struct base_refcount *rc,
					      uint64_t c)
{
	return rc->touched[c];
}

/* A byte a chunk, not a bit: the counting loops' inc stays a store. */
static inline void base_refcount_touch_word(struct base_refcount *rc,
					    uint64_t w)
{
	rc->touched[w / BASE_REFCOUNT_CHUNK_WORDS] = 1;
}

/*
 * words[w] = x, for a caller that fills words[] itself (a space map's
 * bitmap words as they are): 3s in x need their overflow counts set with
 * base_refcount_set afterwards.  A 0 into an untouched chunk is not
 * written: the page stays unfaulted.
 */
static inline void base_refcount_store_word(struct base_refcount *rc,
					    uint64_t w, uint64_t x)
{
	if (x) {
		rc->words[w] = x;
		base_refcount_touch_word(rc, w);
	} else if (base_refcount_chunk_touched(rc,
					     w / BASE_REFCOUNT_CHUNK_WORDS)) {
		rc->words[w] = 0;
	}
}

/*
 * Entries of a word that are not 0, without a popcount instruction (the
 * build targets any x86-64: __builtin_popcountll is a libgcc call there).
 * The fields are folded onto their even bits, so each 2-bit lane is
 * already its own count of 0 or 1.
 */
static inline unsigned base_refcount_word_nonzero(uint64_t w)
{
	uint64_t x = (w | w >> 1) & BASE_REFCOUNT_EVEN;

	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/*
 * Comparing words of counts (a checker's counts found against a space
 * map's): the entries that need a look, as a mask of their even bits.  A
 * 3 on either side is always picked, since its exact value is in an
 * overflow map.  base_refcount_words_differ: every entry that differs.
 * base_refcount_words_above: every entry where a is above b.  For entries
 * 0..2 the even bit carries 2 and the odd bit 1, so a > b is "a's 2 bit
 * without b's", or equal 2 bits and "a's 1 bit without b's".
 */
static inline uint64_t base_refcount_words_threes(uint64_t a, uint64_t b)
{
	return (a & a >> 1) | (b & b >> 1);
}

static inline uint64_t base_refcount_words_differ(uint64_t a, uint64_t b)
{
	uint64_t d = a ^ b;

	return (d | d >> 1 | base_refcount_words_threes(a, b)) &
	       BASE_REFCOUNT_EVEN;
}

static inline uint64_t base_refcount_words_above(uint64_t a, uint64_t b)
{
	uint64_t a2 = a, a1 = a >> 1, b2 = b, b1 = b >> 1;

	return ((a2 & ~b2) | (~(a2 ^ b2) & a1 & ~b1) |
		base_refcount_words_threes(a, b)) & BASE_REFCOUNT_EVEN;
}

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

static inline int base_refcount_inc_(struct base_refcount *rc, uint64_t i,
				     int track)
{
	uint64_t *w = &rc->words[i / BASE_REFCOUNT_PER_WORD];
	unsigned s = (unsigned)(i % BASE_REFCOUNT_PER_WORD) * 2;

	switch ((*w >> s) & 3) {
	case 0:			/* 0 -> 1: the odd bit */
		/* Its chunk is touched already unless the word was 0. */
		if (track && !*w)
			base_refcount_touch_word(rc, i / BASE_REFCOUNT_PER_WORD);
		*w |= 2ull << s;
		return 0;
	case 2:			/* 1 -> 2: odd bit off, even bit on */
		*w ^= 3ull << s;
		return 0;
	default:
		return base_refcount_inc_slow(rc, i);
	}
}

/* Adds one; 0 or -ENOMEM (then unchanged). */
static inline int base_refcount_inc(struct base_refcount *rc, uint64_t i)
{
	return base_refcount_inc_(rc, i, 1);
}

/*
 * base_refcount_inc without the chunk flags, for a counting loop where
 * their upkeep is the cost (a checker counting ten million mappings: three
 * instructions an increment, a twentieth of the loop) and the counts are
 * dense enough that no chunk would be skipped anyway.  Until its caller
 * calls base_refcount_touch_all(), a chunk flag may be clear over counts:
 * nothing may read the counts in between.
 */
static inline int base_refcount_inc_dense(struct base_refcount *rc,
					  uint64_t i)
{
	return base_refcount_inc_(rc, i, 0);
}

/*
 * Adds one to each of the n entries from i (all below rc->nr): entries at 0
 * or 1 a word at a time, the rest one by one.  For runs of consecutive
 * blocks, what a pool that allocates in order is made of.  Keeps the chunk
 * flags (one store a run).  0 or -ENOMEM.
 */
int base_refcount_inc_run(struct base_refcount *rc, uint64_t i, uint64_t n);

/*
 * dst += src, entry by entry (src no longer than dst): a word where no
 * entry is above 1 on either side and none is 1 on both is merged at once,
 * the rest entry by entry.  Keeps dst's chunk flags.  0 or -ENOMEM.
 */
int base_refcount_add(struct base_refcount *dst,
		      const struct base_refcount *src);

/* Takes one off (nothing at 0). */
void base_refcount_dec(struct base_refcount *rc, uint64_t i);

/* Entries [b, e) to 0. */
void base_refcount_clear_range(struct base_refcount *rc, uint64_t b,
			       uint64_t e);

/* Every chunk flag set: no chunk is skipped (after base_refcount_inc_dense). */
void base_refcount_touch_all(struct base_refcount *rc);

/* Entries that are not 0. */
uint64_t base_refcount_nonzero(const struct base_refcount *rc);

#endif
