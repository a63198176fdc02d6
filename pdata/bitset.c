// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The read side of dm-bitset (FORMAT.md §5.3).  A bitset is an array of
 * le64 words whose bit order is the in-core bitmap's own (bit i in word
 * i/64 at position i%64), so reading it is a word copy per value, with the
 * padding bits of the last word masked off because they mean nothing (0.9.0
 * writes them as 1).
 */
#include "pdata/bitset.h"

#include <errno.h>
#include <string.h>

#include "base/endian.h"
#include "pdata/ondisk.h"

struct bsread {
	uint64_t nr_bits;
	uint64_t nr_words;
	struct base_bitmap *bits, *lost;
	const struct pd_array_walk_ops *ops;
	void *ctx;
};

static int bs_values(void *ctx, uint64_t index, unsigned nr, const void *values,
		     uint64_t block)
{
	struct bsread *s = ctx;
	const unsigned char *p = values;

	(void)block;
	/* The array walk never passes indices at or past nr_words. */
	for (unsigned i = 0; i < nr; i++)
		s->bits->words[index + i] = load_le64(p + 8 * (size_t)i);
	if (index + nr == s->nr_words && s->nr_bits % 64)
		s->bits->words[s->nr_words - 1] &=
			(1ull << (s->nr_bits % 64)) - 1;
	return 0;
}

static int bs_damage(void *ctx, const struct pd_array_damage *d)
{
	struct bsread *s = ctx;
	uint64_t b = d->index_begin, e = d->index_end;

	/* Word indices to bit indices, clamped to the bitset. */
	b = b >= s->nr_words ? s->nr_bits : b * 64;
	e = e >= s->nr_words ? s->nr_bits : e * 64;
	if (b < e)
		base_bitmap_set_range(s->lost, b, e);
	return s->ops && s->ops->damage ? s->ops->damage(s->ctx, d) : 0;
}

static int bs_block_ref(void *ctx, uint64_t block)
{
	struct bsread *s = ctx;

	return s->ops && s->ops->block_ref ?
		       s->ops->block_ref(s->ctx, block) : 0;
}

int pd_bitset_read(struct pd_bm *bm, uint64_t root, uint64_t nr_bits,
		   unsigned walk_flags, const struct pd_array_walk_ops *ops,
		   void *ctx, struct base_bitmap *bits, struct base_bitmap *lost)
{
	static const struct pd_array_walk_ops aops = {
		.values = bs_values,
		.damage = bs_damage,
		.block_ref = bs_block_ref,
	};
	struct bsread s = {
		.nr_bits = nr_bits,
		.nr_words = nr_bits / 64 + (nr_bits % 64 != 0),
		.bits = bits,
		.lost = lost,
		.ops = ops,
		.ctx = ctx,
	};
	uint32_t per;
	int r;

	memset(bits, 0, sizeof(*bits));
	memset(lost, 0, sizeof(*lost));
	/* A bitset the device cannot hold is not worth allocating for. */
	per = pd_array_entries_per_block(8);
	if (s.nr_words / per + (s.nr_words % per != 0) > pd_bm_nr_blocks(bm))
		return -EINVAL;
	r = base_bitmap_init(bits, nr_bits);
	if (r < 0)
		return r;
	r = base_bitmap_init(lost, nr_bits);
	if (r < 0)
		goto out_bits;
	r = pd_array_walk(bm, root, s.nr_words, 8, walk_flags, &aops, &s);
	if (r)
		goto out_lost;
	return 0;

out_lost:
	base_bitmap_release(lost);
out_bits:
	base_bitmap_release(bits);
	return r;
}
