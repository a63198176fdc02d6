// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The dm-bitset write side: a bulk build from an in-core bitmap, and single
 * bit updates in a transaction, both on top of the array writer.  Padding
 * bits past nr_bits are written 0, as the kernel writes them (FORMAT.md
 * §5.3), never 0.9.0's 1s.
 */
#include "pdata/bitset.h"

#include <errno.h>
#include <string.h>

#include "base/endian.h"
#include "pdata/tm.h"

int pd_bitset_build(struct pd_tm *tm, const struct base_bitmap *bits,
		    uint64_t *root)
{
	uint64_t nr_words = (bits->nr_bits + 63) / 64;
	struct pd_array_builder *b;
	int r;

	r = pd_array_builder_create(tm, 8, &b);
	if (r < 0)
		return r;
	for (uint64_t w = 0; w < nr_words && r == 0;) {
		uint64_t word = bits->words[w];
		unsigned char v[8];

		if (w == nr_words - 1 && bits->nr_bits % 64)
			word &= (1ull << (bits->nr_bits % 64)) - 1;
		if (word == 0) {
			/* Runs of empty words go in bulk. */
			uint64_t end = w + 1;

			while (end < nr_words - 1 && bits->words[end] == 0)
				end++;
			store_le64(v, 0);
			r = pd_array_builder_add_fill(b, v, end - w);
			w = end;
			continue;
		}
		store_le64(v, word);
		r = pd_array_builder_add(b, v);
		w++;
	}
	if (r == 0)
		r = pd_array_builder_finish(b, root);
	pd_array_builder_destroy(b);
	return r;
}

struct bit_op {
	uint64_t mask;
	int set;
};

static void apply_bit(void *value, void *ctx)
{
	const struct bit_op *op = ctx;
	uint64_t w = load_le64(value);

	store_le64(value, op->set ? w | op->mask : w & ~op->mask);
}

static int change_bit(struct pd_tm *tm, uint64_t *root, uint64_t nr_bits,
		      uint64_t i, int set)
{
	struct bit_op op = { 1ull << (i % 64), set };

	if (i >= nr_bits)
		return -EINVAL;
	return pd_array_update(tm, root, 8, (nr_bits + 63) / 64, i / 64,
			       apply_bit, &op);
}

int pd_bitset_set(struct pd_tm *tm, uint64_t *root, uint64_t nr_bits,
		  uint64_t i)
{
	return change_bit(tm, root, nr_bits, i, 1);
}

int pd_bitset_clear(struct pd_tm *tm, uint64_t *root, uint64_t nr_bits,
		    uint64_t i)
{
	return change_bit(tm, root, nr_bits, i, 0);
}

struct word_op {
	uint64_t clear, set;
};

static void apply_word(void *value, void *ctx)
{
	const struct word_op *op = ctx;

	store_le64(value, (load_le64(value) & ~op->clear) | op->set);
}

/* Bits [lo, hi) of word w (lo < hi <= 64) made v, in a transaction. */
static int word_bits(struct pd_tm *tm, uint64_t *root, uint64_t nr_words,
		     uint64_t w, unsigned lo, unsigned hi, int v)
{
	uint64_t mask = (hi == 64 ? ~0ull : (1ull << hi) - 1) & ~((1ull << lo) - 1);
	struct word_op op = { mask, v ? mask : 0 };

	return pd_array_update(tm, root, 8, nr_words, w, apply_word, &op);
}

int pd_bitset_resize(struct pd_tm *tm, uint64_t *root, uint64_t old_bits,
		     uint64_t new_bits, int value)
{
	uint64_t old_words = (old_bits + 63) / 64, new_words = (new_bits + 63) / 64;
	unsigned char fill[8];
	int r;

	store_le64(fill, value ? ~0ull : 0);
	r = pd_array_resize(tm, root, 8, old_words, new_words, fill);
	if (r < 0 || new_bits == old_bits)
		return r;
	/* Old padding that became bits takes the new bits' value. */
	if (new_bits > old_bits && old_bits % 64) {
		uint64_t end = new_bits < old_words * 64 ? new_bits : old_words * 64;

		r = word_bits(tm, root, new_words, old_words - 1,
			      (unsigned)(old_bits % 64),
			      (unsigned)(end - (old_words - 1) * 64), value);
	}
	/* The new last word's padding is 0, as every writer here leaves it. */
	if (r == 0 && new_bits % 64 && (value || new_bits < old_bits))
		r = word_bits(tm, root, new_words, new_words - 1,
			      (unsigned)(new_bits % 64), 64, 0);
	return r;
}
