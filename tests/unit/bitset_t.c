// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * dm-bitset read side: bit order (LSB first in le64 words), padding bits
 * ignored whatever they hold, several array blocks, and a damaged array
 * block turning into exactly its bits in `lost`, with the damage passed on
 * in word indices.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pdata/bitset.h"
#include "pdbuild.h"

#define WORDS_PER_BLOCK 509u

static int pattern(uint64_t i)
{
	return (i * 7) % 11 < 4;
}

/*
 * A bitset of nr_bits following pattern(); padding bits in the last word
 * set to pad (0.9.0 writes 1s there).
 */
static void build(struct pdb *b, struct pdb_array *a, uint64_t nr_bits,
		  int pad, uint64_t dev)
{
	uint64_t nw = (nr_bits + 63) / 64;
	unsigned char *w = calloc(nw + 1, 8);

	assert_non_null(w);
	for (uint64_t i = 0; i < nw * 64; i++) {
		int bit = i < nr_bits ? pattern(i) : pad;

		if (bit)
			w[i / 8] |= (unsigned char)(1u << (i % 8));
	}
	pdb_init(b, dev);
	pdb_array(b, 8, nw, w, a);
	free(w);
}

struct brec {
	struct pd_array_damage dmg[16];
	size_t nd;
	size_t refs;
	int values_called;
	int stop;
};

static int brec_values(void *ctx, uint64_t index, unsigned nr,
		       const void *values, uint64_t block)
{
	struct brec *r = ctx;

	(void)index, (void)nr, (void)values, (void)block;
	r->values_called = 1;
	return 0;
}

static int brec_damage(void *ctx, const struct pd_array_damage *d)
{
	struct brec *r = ctx;

	assert_true(r->nd < 16);
	r->dmg[r->nd++] = *d;
	return r->stop;
}

static int brec_ref(void *ctx, uint64_t block)
{
	struct brec *r = ctx;

	(void)block;
	r->refs++;
	return 0;
}

static const struct pd_array_walk_ops brec_ops = {
	.values = brec_values,
	.damage = brec_damage,
	.block_ref = brec_ref,
};

static void assert_bits(const struct base_bitmap *bits,
			const struct base_bitmap *lost, uint64_t nr_bits,
			uint64_t lb, uint64_t le)
{
	assert_int_equal(bits->nr_bits, nr_bits);
	assert_int_equal(lost->nr_bits, nr_bits);
	for (uint64_t i = 0; i < nr_bits; i++) {
		int l = i >= lb && i < le;

		if (base_bitmap_test(lost, i) != l)
			fail_msg("bit %lu: lost %d", (unsigned long)i, !l);
		if (base_bitmap_test(bits, i) != (l ? 0 : pattern(i)))
			fail_msg("bit %lu wrong", (unsigned long)i);
	}
}

static void test_empty(void **state)
{
	struct pdb b;
	struct pdb_array a;
	struct base_bitmap bits, lost;
	struct brec r = { 0 };

	(void)state;
	build(&b, &a, 0, 0, 16);
	assert_int_equal(pd_bitset_read(pdb_bm(&b), a.root, 0, 0, &brec_ops,
					&r, &bits, &lost), 0);
	assert_int_equal(r.nd, 0);
	assert_int_equal(r.refs, 1);
	assert_int_equal(bits.nr_bits, 0);
	base_bitmap_release(&bits);
	base_bitmap_release(&lost);
	pdb_array_release(&a);
	pdb_release(&b);
}

static void test_bit_order(void **state)
{
	struct pdb b;
	struct pdb_array a;
	struct base_bitmap bits, lost;
	unsigned char *blk;

	(void)state;
	pdb_init(&b, 16);
	{
		/* Word 0 = 0x...0105: bits 0, 2 and 8 set; word 1 bit 63. */
		unsigned char w[16] = { 0x05, 0x01, 0, 0, 0, 0, 0, 0,
					0, 0, 0, 0, 0, 0, 0, 0x80 };

		pdb_array(&b, 8, 2, w, &a);
	}
	blk = pdb_block(&b, a.blocks[0]);
	assert_int_equal(blk[24], 0x05);
	assert_int_equal(pd_bitset_read(pdb_bm(&b), a.root, 128, 0, NULL, NULL,
					&bits, &lost), 0);
	assert_int_equal(base_bitmap_count(&bits), 4);
	assert_true(base_bitmap_test(&bits, 0));
	assert_true(base_bitmap_test(&bits, 2));
	assert_true(base_bitmap_test(&bits, 8));
	assert_true(base_bitmap_test(&bits, 127));
	assert_int_equal(base_bitmap_count(&lost), 0);
	base_bitmap_release(&bits);
	base_bitmap_release(&lost);
	pdb_array_release(&a);
	pdb_release(&b);
}

/* 0.9.0 sets the padding bits of the dirty bitset: they must not show. */
static void test_padding_ignored(void **state)
{
	(void)state;
	for (int pad = 0; pad <= 1; pad++) {
		struct pdb b;
		struct pdb_array a;
		struct base_bitmap bits, lost;
		uint64_t expect = 0;

		build(&b, &a, 100, pad, 16);
		assert_int_equal(pd_bitset_read(pdb_bm(&b), a.root, 100, 0,
						NULL, NULL, &bits, &lost), 0);
		assert_bits(&bits, &lost, 100, 0, 0);
		for (uint64_t i = 0; i < 100; i++)
			expect += pattern(i);
		/* Counting goes by words: stray padding would be counted. */
		assert_int_equal(base_bitmap_count(&bits), expect);
		assert_int_equal(bits.words[1] >> 36, 0);
		base_bitmap_release(&bits);
		base_bitmap_release(&lost);
		pdb_array_release(&a);
		pdb_release(&b);
	}
}

static void test_many_blocks(void **state)
{
	uint64_t nr = 2 * WORDS_PER_BLOCK * 64 + 5;
	struct pdb b;
	struct pdb_array a;
	struct base_bitmap bits, lost;
	struct brec r = { 0 };

	(void)state;
	build(&b, &a, nr, 1, 16);
	assert_int_equal(a.nblocks, 3);
	assert_int_equal(pd_bitset_read(pdb_bm(&b), a.root, nr,
					PD_WALK_PREFETCH, &brec_ops, &r, &bits,
					&lost), 0);
	assert_bits(&bits, &lost, nr, 0, 0);
	assert_int_equal(r.nd, 0);
	assert_int_equal(r.refs, 4);	/* root leaf + 3 array blocks */
	assert_false(r.values_called);
	base_bitmap_release(&bits);
	base_bitmap_release(&lost);
	pdb_array_release(&a);
	pdb_release(&b);
}

static void test_damaged_block(void **state)
{
	uint64_t nr = 2 * WORDS_PER_BLOCK * 64 + 5;
	uint64_t lb = WORDS_PER_BLOCK * 64, le = 2 * WORDS_PER_BLOCK * 64;
	struct pdb b;
	struct pdb_array a;
	struct base_bitmap bits, lost;
	struct brec r = { 0 };

	(void)state;
	build(&b, &a, nr, 0, 16);
	pdb_block(&b, a.blocks[1])[2000] ^= 0x20;
	assert_int_equal(pd_bitset_read(pdb_bm(&b), a.root, nr, 0, &brec_ops,
					&r, &bits, &lost), 0);
	assert_bits(&bits, &lost, nr, lb, le);
	assert_int_equal(r.nd, 1);
	assert_int_equal(r.dmg[0].problem, PD_ARR_BLOCK);
	assert_int_equal(r.dmg[0].index_begin, WORDS_PER_BLOCK);
	assert_int_equal(r.dmg[0].index_end, 2 * WORDS_PER_BLOCK);
	base_bitmap_release(&bits);
	base_bitmap_release(&lost);
	pdb_array_release(&a);
	pdb_release(&b);

	/* The last block: lost stops at nr_bits, not at the word's end. */
	build(&b, &a, nr, 1, 16);
	pdb_block(&b, a.blocks[2])[30] ^= 0x20;
	memset(&r, 0, sizeof(r));
	assert_int_equal(pd_bitset_read(pdb_bm(&b), a.root, nr, 0, &brec_ops,
					&r, &bits, &lost), 0);
	assert_bits(&bits, &lost, nr, le, nr);
	assert_int_equal(base_bitmap_count(&lost), 5);
	base_bitmap_release(&bits);
	base_bitmap_release(&lost);
	pdb_array_release(&a);
	pdb_release(&b);
}

static void test_callback_error_releases(void **state)
{
	uint64_t nr = 2 * WORDS_PER_BLOCK * 64 + 5;
	struct pdb b;
	struct pdb_array a;
	struct base_bitmap bits, lost;
	struct brec r = { 0 };

	(void)state;
	build(&b, &a, nr, 0, 16);
	pdb_block(&b, a.blocks[0])[2000] ^= 0x20;
	r.stop = 9;
	assert_int_equal(pd_bitset_read(pdb_bm(&b), a.root, nr, 0, &brec_ops,
					&r, &bits, &lost), 9);
	assert_null(bits.words);
	assert_null(lost.words);
	pdb_array_release(&a);
	pdb_release(&b);
}

/* nr_bits comes from disk: more than the device can hold is refused. */
static void test_impossible_size(void **state)
{
	struct pdb b;
	struct pdb_array a;
	struct base_bitmap bits, lost;

	(void)state;
	build(&b, &a, 100, 0, 16);
	assert_int_equal(pd_bitset_read(pdb_bm(&b), a.root,
					16 * WORDS_PER_BLOCK * 64 + 1, 0, NULL,
					NULL, &bits, &lost), -EINVAL);
	assert_null(bits.words);
	assert_null(lost.words);
	assert_int_equal(pd_bitset_read(pdb_bm(&b), a.root, UINT64_MAX, 0,
					NULL, NULL, &bits, &lost), -EINVAL);
	/*
	 * Just within reach: read.  The one stored block holds 2 words, not
	 * 509, and 15 blocks are missing: every bit is lost.
	 */
	assert_int_equal(pd_bitset_read(pdb_bm(&b), a.root,
					16 * WORDS_PER_BLOCK * 64, 0, NULL,
					NULL, &bits, &lost), 0);
	assert_int_equal(base_bitmap_count(&lost), 16 * WORDS_PER_BLOCK * 64);
	assert_int_equal(base_bitmap_count(&bits), 0);
	base_bitmap_release(&bits);
	base_bitmap_release(&lost);
	pdb_array_release(&a);
	pdb_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_bit_order),
		cmocka_unit_test(test_padding_ignored),
		cmocka_unit_test(test_many_blocks),
		cmocka_unit_test(test_damaged_block),
		cmocka_unit_test(test_callback_error_releases),
		cmocka_unit_test(test_impossible_size),
	};

	return cmocka_run_group_tests_name("bitset", tests, NULL, NULL);
}
