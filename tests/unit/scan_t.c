// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * pdata/scan: every block type is found where it is and reported once, in
 * block order; damaged, misplaced and junk blocks are not; an unreadable
 * block is reported as such and the scan carries on past it; chunk
 * boundaries lose nothing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/endian.h"
#include "pdata/bm.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"
#include "pdata/scan.h"

#define NR_BLOCKS 600u	/* more than two 256-block chunks */

struct found {
	uint64_t block[NR_BLOCKS];
	enum pd_scan_kind kind[NR_BLOCKS];
	unsigned n;
	uint64_t bad_begin, bad_end;
	int bad_err;
	unsigned nr_bad;
	int stop_after;		/* return 99 after this many blocks, or 0 */
};

static int on_block(void *ctx, uint64_t block, enum pd_scan_kind kind,
		    const void *data)
{
	struct found *f = ctx;

	(void)data;
	f->block[f->n] = block;
	f->kind[f->n] = kind;
	f->n++;
	if (f->stop_after && (int)f->n == f->stop_after)
		return 99;
	return 0;
}

static int on_bad(void *ctx, uint64_t begin, uint64_t end, int err)
{
	struct found *f = ctx;

	f->bad_begin = begin;
	f->bad_end = end;
	f->bad_err = err;
	f->nr_bad++;
	return 0;
}

static unsigned char *blk(struct pd_io *io, uint64_t b)
{
	return pd_io_mem_data(io) + b * PD_BLOCK_SIZE;
}

static void make_node(struct pd_io *io, uint64_t b, uint32_t flags)
{
	struct pd_node_header *h = (void *)blk(io, b);

	h->flags = cpu_to_le32(flags);
	h->nr_entries = cpu_to_le32(0);
	h->max_entries = cpu_to_le32(252);
	h->value_size = cpu_to_le32(8);
	pd_validator_prepare(&pd_btree_validator, h, b);
}

static void make_array(struct pd_io *io, uint64_t b, uint32_t vs, uint32_t nr)
{
	struct pd_array_header *h = (void *)blk(io, b);

	h->max_entries = cpu_to_le32(pd_array_entries_per_block(vs));
	h->nr_entries = cpu_to_le32(nr);
	h->value_size = cpu_to_le32(vs);
	pd_validator_prepare(&pd_array_validator, h, b);
}

static void make_plain(struct pd_io *io, uint64_t b,
		       const struct pd_validator *v)
{
	pd_validator_prepare(v, blk(io, b), b);
}

/* The layout every test starts from; returns the expected finds. */
static struct pd_io *image(void)
{
	struct pd_io *io;

	assert_int_equal(pd_io_mem_create(NR_BLOCKS, &io), 0);
	memset(blk(io, 0), 0xA5, PD_BLOCK_SIZE);	/* junk at block 0 */
	make_plain(io, 1, &pd_index_validator);
	make_node(io, 2, PD_BTREE_LEAF);
	make_plain(io, 3, &pd_bitmap_validator);
	make_node(io, 4, PD_BTREE_INTERNAL);
	make_array(io, 8, 8, 509);
	make_array(io, 9, 4, 17);
	make_node(io, 255, PD_BTREE_LEAF);	/* last of the first chunk */
	make_array(io, 256, 8, 1);		/* first of the second */
	make_node(io, NR_BLOCKS - 1, PD_BTREE_LEAF);	/* the very last */
	return io;
}

static const struct {
	uint64_t block;
	enum pd_scan_kind kind;
} expected[] = {
	{ 1, PD_SCAN_SM_INDEX },	{ 2, PD_SCAN_BTREE_LEAF },
	{ 3, PD_SCAN_SM_BITMAP },	{ 4, PD_SCAN_BTREE_INTERNAL },
	{ 8, PD_SCAN_ARRAY },		{ 9, PD_SCAN_ARRAY },
	{ 255, PD_SCAN_BTREE_LEAF },	{ 256, PD_SCAN_ARRAY },
	{ NR_BLOCKS - 1, PD_SCAN_BTREE_LEAF },
};

#define NR_EXPECTED (sizeof(expected) / sizeof(expected[0]))

static void assert_found(const struct found *f, size_t skip_index)
{
	unsigned j = 0;

	for (size_t i = 0; i < NR_EXPECTED; i++) {
		if (i == skip_index)
			continue;
		assert_true(j < f->n);
		assert_int_equal(f->block[j], expected[i].block);
		assert_int_equal(f->kind[j], expected[i].kind);
		j++;
	}
	assert_int_equal(f->n, j);
}

static void test_finds_every_kind(void **state)
{
	static struct found f;
	struct pd_scan_ops ops = { .block = on_block, .unreadable = on_bad };
	struct pd_io *io = image();

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(pd_scan(io, 0, NR_BLOCKS, &ops, &f), 0);
	assert_found(&f, (size_t)-1);
	assert_int_equal(f.nr_bad, 0);
	pd_io_destroy(io);
}

/* Each kind of damage hides exactly the damaged block. */
static void test_damage_hides_block(void **state)
{
	static struct found f;
	struct pd_scan_ops ops = { .block = on_block };
	static const struct {
		uint64_t block;
		size_t index;	/* in expected[] */
		unsigned offset;
		unsigned char value;	/* XORed in */
		int resum;	/* recompute the checksum afterwards */
	} cases[] = {
		{ 2, 1, 100, 0x01, 0 },		/* checksum */
		{ 4, 3, 9, 0x01, 0 },		/* self blocknr */
		{ 8, 4, 17, 0x01, 0 },		/* array blocknr */
		{ 8, 4, 4, 0xfd, 1 },		/* array max_entries, resummed */
		{ 2, 1, 4, 0x01, 1 },		/* node flags 3, resummed */
		{ 9, 5, 3000, 0xff, 0 },	/* array body */
		{ 3, 2, 40, 0x55, 0 },		/* bitmap body */
		{ 1, 0, 20, 0x01, 0 },		/* index body */
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct pd_io *io = image();
		unsigned char *d = blk(io, cases[c].block);

		d[cases[c].offset] ^= cases[c].value;
		if (cases[c].resum) {
			uint32_t x = cases[c].block == 8 ? PD_CSUM_XOR_ARRAY :
							  PD_CSUM_XOR_BTREE;

			store_le32(d, pd_block_csum(d, x));
		}
		memset(&f, 0, sizeof(f));
		assert_int_equal(pd_scan(io, 0, NR_BLOCKS, &ops, &f), 0);
		assert_found(&f, cases[c].index);
		pd_io_destroy(io);
	}
}

/* A valid block copied elsewhere claims its old place: not found there. */
static void test_misplaced_copy(void **state)
{
	static struct found f;
	struct pd_scan_ops ops = { .block = on_block };
	struct pd_io *io = image();

	(void)state;
	memcpy(blk(io, 100), blk(io, 2), PD_BLOCK_SIZE);
	memcpy(blk(io, 101), blk(io, 8), PD_BLOCK_SIZE);
	memset(&f, 0, sizeof(f));
	assert_int_equal(pd_scan(io, 0, NR_BLOCKS, &ops, &f), 0);
	assert_found(&f, (size_t)-1);
	pd_io_destroy(io);
}

static void test_subrange_and_errors(void **state)
{
	static struct found f;
	struct pd_scan_ops ops = { .block = on_block };
	struct pd_io *io = image();

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(pd_scan(io, 3, 9, &ops, &f), 0);
	assert_int_equal(f.n, 3);
	assert_int_equal(f.block[0], 3);
	assert_int_equal(f.block[1], 4);
	assert_int_equal(f.block[2], 8);
	assert_int_equal(pd_scan(io, 5, 4, &ops, &f), -EINVAL);
	assert_int_equal(pd_scan(io, 0, NR_BLOCKS + 1, &ops, &f), -EINVAL);
	memset(&f, 0, sizeof(f));
	assert_int_equal(pd_scan(io, 7, 7, &ops, &f), 0);
	assert_int_equal(f.n, 0);
	/* A callback's value stops the scan and comes back. */
	memset(&f, 0, sizeof(f));
	f.stop_after = 2;
	assert_int_equal(pd_scan(io, 0, NR_BLOCKS, &ops, &f), 99);
	assert_int_equal(f.n, 2);
	pd_io_destroy(io);
}

/* A bad sector costs one block: the rest of its chunk is still scanned. */
static void test_unreadable_block(void **state)
{
	static struct found f;
	struct pd_scan_ops ops = { .block = on_block, .unreadable = on_bad };
	struct pd_io_fault_plan plan = { .fail_block = 4 };
	struct pd_io *io = image(), *fio;

	(void)state;
	assert_int_equal(pd_io_fault_create(io, &plan, &fio), 0);
	memset(&f, 0, sizeof(f));
	assert_int_equal(pd_scan(fio, 0, NR_BLOCKS, &ops, &f), 0);
	assert_found(&f, 3);
	assert_int_equal(f.nr_bad, 1);
	assert_int_equal(f.bad_begin, 4);
	assert_int_equal(f.bad_end, 5);
	assert_true(f.bad_err < 0);
	pd_io_destroy(fio);
}

static int sb_like_header(const void *data, uint64_t block, struct pd_fault *f)
{
	(void)block;
	(void)f;
	return load_le64((const unsigned char *)data + 32) == 1623043u ?
		       0 :
		       -EILSEQ;
}

static void test_extra_validator(void **state)
{
	static struct found f;
	static const struct pd_validator sb = {
		.name = "test superblock",
		.csum_xor = 9031977u,
		.blocknr_offset = 8,
		.check_header = sb_like_header,
	};
	struct pd_scan_ops ops = { .block = on_block, .extra = &sb };
	struct pd_io *io = image();
	unsigned char *d = blk(io, 0);

	(void)state;
	memset(d, 0, PD_BLOCK_SIZE);
	store_le64(d + 32, 1623043u);
	pd_validator_prepare(&sb, d, 0);
	memset(&f, 0, sizeof(f));
	assert_int_equal(pd_scan(io, 0, 3, &ops, &f), 0);
	assert_int_equal(f.n, 3);
	assert_int_equal(f.block[0], 0);
	assert_int_equal(f.kind[0], PD_SCAN_EXTRA);
	assert_string_equal(pd_scan_kind_name(PD_SCAN_EXTRA), "extra");
	/* Without the extra validator block 0 is nothing. */
	ops.extra = NULL;
	memset(&f, 0, sizeof(f));
	assert_int_equal(pd_scan(io, 0, 3, &ops, &f), 0);
	assert_int_equal(f.n, 2);
	pd_io_destroy(io);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finds_every_kind),
		cmocka_unit_test(test_damage_hides_block),
		cmocka_unit_test(test_misplaced_copy),
		cmocka_unit_test(test_subrange_and_errors),
		cmocka_unit_test(test_unreadable_block),
		cmocka_unit_test(test_extra_validator),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
