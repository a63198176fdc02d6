/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * dm-bitset: a dm-array of le64 words, bit i in word i/64 at bit i%64
 * (FORMAT.md §5.3).  Padding bits past nr_bits mean nothing and are ignored
 * on read.
 */
#ifndef PDATA_BITSET_H
#define PDATA_BITSET_H

#include <stdint.h>

#include "base/bitmap.h"
#include "pdata/array.h"

/*
 * Reads the bitset into bits (initialised here to nr_bits).  Bits in ranges
 * the array walk reports as damaged are set in lost (also initialised here)
 * and left clear in bits; each damage is also passed to ops->damage with
 * word indices.  ops->values is not called; ops may be NULL.  Returns 0,
 * -ENOMEM, -EINVAL when nr_bits is more than the whole device could hold
 * (nr_bits comes from disk: memory stays bounded by the device's size), or
 * a callback's value; on error both bitmaps are released (zeroed).
 */
int pd_bitset_read(struct pd_bm *bm, uint64_t root, uint64_t nr_bits,
		   unsigned walk_flags, const struct pd_array_walk_ops *ops,
		   void *ctx, struct base_bitmap *bits, struct base_bitmap *lost);

/* Builds a bitset of bits->nr_bits bits (padding written as 0). */
struct pd_tm;
int pd_bitset_build(struct pd_tm *tm, const struct base_bitmap *bits,
		    uint64_t *root);

/*
 * In a transaction: set or clear bit i of a bitset of nr_bits bits (through
 * pd_array_update, so the word's block and path are shadowed).  -EINVAL
 * when i >= nr_bits.
 */
int pd_bitset_set(struct pd_tm *tm, uint64_t *root, uint64_t nr_bits,
		  uint64_t i);
int pd_bitset_clear(struct pd_tm *tm, uint64_t *root, uint64_t nr_bits,
		    uint64_t i);

/*
 * In a transaction: from old_bits to new_bits bits, as the kernel's
 * dm_bitset_resize: new bits are value, bits past new_bits dropped, the
 * padding of the last word left 0.  O(words changed / 509 * log n).
 */
int pd_bitset_resize(struct pd_tm *tm, uint64_t *root, uint64_t old_bits,
		     uint64_t new_bits, int value);

#endif
