// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The block manager: every validator (location, checksum, each header rule)
 * through pd_bm_read_lock and its fault record, range and I/O errors, the
 * cache (hits cost no I/O, eviction writes dirty blocks back stamped and
 * checksummed, all-locked gives -EBUSY), prefetch (batched, skips cached
 * blocks, capped at half the cache), flush (each dirty block once, then
 * none), forget, and the fault formatter's exact text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/endian.h"
#include "pdata/bm.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"

#define B PD_BLOCK_SIZE

/* A memory device behind a counting fault engine. */
struct dev {
	struct pd_io *mem;	/* owned by io */
	struct pd_io *io;
	unsigned char *data;
	struct pd_bm *bm;
};

static void dev_init(struct dev *d, uint64_t nr, unsigned cache, uint64_t bad)
{
	struct pd_io_fault_plan p = { 0, 0, bad, 0 };

	assert_int_equal(pd_io_mem_create(nr, &d->mem), 0);
	d->data = pd_io_mem_data(d->mem);
	assert_int_equal(pd_io_fault_create(d->mem, &p, &d->io), 0);
	assert_int_equal(pd_bm_create(d->io, cache, &d->bm), 0);
}

static void dev_release(struct dev *d)
{
	pd_bm_destroy(d->bm);
	pd_io_destroy(d->io);
}

static unsigned char *blk(struct dev *d, uint64_t nr)
{
	return d->data + nr * B;
}

/* A sound btree leaf at nr: value size 8, max 252, n entries. */
static void leaf_at(struct dev *d, uint64_t nr, uint32_t n)
{
	struct pd_node_header *h = (void *)blk(d, nr);

	memset(h, 0, B);
	h->flags = cpu_to_le32(PD_BTREE_LEAF);
	h->nr_entries = cpu_to_le32(n);
	h->max_entries = cpu_to_le32(252);
	h->value_size = cpu_to_le32(8);
	pd_validator_prepare(&pd_btree_validator, h, nr);
}

static void array_at(struct dev *d, uint64_t nr, uint32_t n)
{
	struct pd_array_header *h = (void *)blk(d, nr);

	memset(h, 0, B);
	h->max_entries = cpu_to_le32(509);
	h->nr_entries = cpu_to_le32(n);
	h->value_size = cpu_to_le32(8);
	pd_validator_prepare(&pd_array_validator, h, nr);
}

/* ---- validators ---- */

static void expect_fault(struct dev *d, uint64_t nr,
			 const struct pd_validator *v, int err,
			 enum pd_fault_kind kind, const char *what,
			 uint64_t found, uint64_t expected)
{
	struct pd_block *b = (void *)1;
	struct pd_fault f;

	pd_bm_forget(d->bm, nr);
	memset(&f, 0, sizeof(f));
	assert_int_equal(pd_bm_read_lock(d->bm, nr, v, &b, &f), err);
	assert_null(b);
	assert_int_equal(f.err, err);
	assert_int_equal(f.kind, kind);
	assert_int_equal(f.block, nr);
	assert_string_equal(f.validator, v->name);
	assert_string_equal(f.what, what);
	assert_int_equal(f.found, found);
	assert_int_equal(f.expected, expected);
	/* Same verdict from the pure function. */
	assert_int_equal(pd_validate(v, blk(d, nr), nr, NULL), err);
}

static void test_validators_accept(void **state)
{
	static const struct pd_validator *const vs[] = {
		&pd_btree_validator, &pd_array_validator,
		&pd_index_validator, &pd_bitmap_validator,
	};
	struct dev d;
	struct pd_block *b;

	(void)state;
	dev_init(&d, 16, 16, UINT64_MAX);
	leaf_at(&d, 1, 0);
	array_at(&d, 2, 509);
	pd_validator_prepare(&pd_index_validator, blk(&d, 3), 3);
	pd_validator_prepare(&pd_bitmap_validator, blk(&d, 4), 4);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(pd_bm_read_lock(d.bm, i + 1, vs[i], &b, NULL), 0);
		assert_int_equal(pd_block_nr(b), i + 1);
		assert_ptr_equal(pd_block_data(b), pd_block_data(b));
		assert_memory_equal(pd_block_data(b), blk(&d, i + 1), B);
		pd_bm_unlock(b);
		/* Each validator rejects the other types' blocks. */
		for (unsigned j = 0; j < 4; j++)
			if (j != i)
				assert_int_not_equal(pd_validate(vs[j],
							 blk(&d, i + 1),
							 i + 1, NULL), 0);
	}
	/* The §1.2 vector: an empty leaf at block 5. */
	leaf_at(&d, 5, 0);
	assert_int_equal(load_le32(blk(&d, 5)), 0x49D8085Du);
	dev_release(&d);
}

static void test_location_and_checksum(void **state)
{
	struct dev d;
	uint32_t good;

	(void)state;
	dev_init(&d, 16, 16, UINT64_MAX);
	leaf_at(&d, 3, 0);
	memcpy(blk(&d, 6), blk(&d, 3), B);
	expect_fault(&d, 6, &pd_btree_validator, -ENOTBLK, PD_FAULT_LOCATION,
		     "blocknr", 3, 6);
	/* Array blocks keep their number at 16. */
	array_at(&d, 7, 1);
	store_le64(blk(&d, 7) + 16, 9);
	expect_fault(&d, 7, &pd_array_validator, -ENOTBLK, PD_FAULT_LOCATION,
		     "blocknr", 9, 7);
	leaf_at(&d, 8, 0);
	good = load_le32(blk(&d, 8));
	blk(&d, 8)[4095] ^= 1;
	expect_fault(&d, 8, &pd_btree_validator, -EILSEQ, PD_FAULT_CHECKSUM,
		     "csum", good, pd_block_csum(blk(&d, 8), PD_CSUM_XOR_BTREE));
	dev_release(&d);
}

static void test_btree_headers(void **state)
{
	static const struct {
		unsigned off;
		uint32_t v;
		const char *what;
		uint64_t expected;
	} c[] = {
		{ 4, 0, "flags", PD_BTREE_LEAF },
		{ 4, 3, "flags", PD_BTREE_LEAF },
		{ 24, 0, "value_size", 8 },
		{ 20, 255, "max_entries", 252 },
		{ 16, 253, "nr_entries", 252 },
	};
	struct dev d;

	(void)state;
	dev_init(&d, 16, 16, UINT64_MAX);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		leaf_at(&d, 2, 10);
		store_le32(blk(&d, 2) + c[i].off, c[i].v);
		pd_validator_prepare(&pd_btree_validator, blk(&d, 2), 2);
		expect_fault(&d, 2, &pd_btree_validator, -EILSEQ,
			     PD_FAULT_HEADER, c[i].what, c[i].v, c[i].expected);
	}
	/* 254 entries of 8 bytes still fit: the walker judges the formula. */
	leaf_at(&d, 2, 10);
	store_le32(blk(&d, 2) + 20, 254);
	pd_validator_prepare(&pd_btree_validator, blk(&d, 2), 2);
	assert_int_equal(pd_validate(&pd_btree_validator, blk(&d, 2), 2, NULL),
			 0);
	dev_release(&d);
}

static void test_array_headers(void **state)
{
	static const struct {
		unsigned off;
		uint32_t v;
		const char *what;
		uint64_t expected;
	} c[] = {
		{ 12, 0, "value_size", 8 },
		{ 4, 508, "max_entries", 509 },
		{ 8, 510, "nr_entries", 509 },
	};
	struct dev d;

	(void)state;
	dev_init(&d, 16, 16, UINT64_MAX);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		array_at(&d, 2, 10);
		store_le32(blk(&d, 2) + c[i].off, c[i].v);
		pd_validator_prepare(&pd_array_validator, blk(&d, 2), 2);
		expect_fault(&d, 2, &pd_array_validator, -EILSEQ,
			     PD_FAULT_HEADER, c[i].what, c[i].v, c[i].expected);
	}
	dev_release(&d);
}

static void test_range_and_io(void **state)
{
	struct dev d;
	struct pd_block *b;
	struct pd_fault f;

	(void)state;
	dev_init(&d, 16, 16, 9);
	assert_int_equal(pd_bm_read_lock(d.bm, 16, &pd_btree_validator, &b, &f),
			 -ERANGE);
	assert_int_equal(f.kind, PD_FAULT_RANGE);
	assert_int_equal(f.found, 16);
	assert_int_equal(f.expected, 16);
	assert_int_equal(pd_bm_read_lock(d.bm, 9, NULL, &b, &f), -EIO);
	assert_int_equal(f.kind, PD_FAULT_IO);
	assert_int_equal(f.block, 9);
	assert_int_equal(f.err, -EIO);
	assert_string_equal(f.validator, "block");
	/* A failed read leaves nothing cached: it is tried again. */
	assert_int_equal(pd_bm_read_lock(d.bm, 9, NULL, &b, &f), -EIO);
	assert_int_equal(pd_io_fault_reads(d.io), 2);
	dev_release(&d);
}

/* ---- the cache ---- */

static void test_cache_hits(void **state)
{
	struct dev d;
	struct pd_block *b, *b2;

	(void)state;
	dev_init(&d, 64, 16, UINT64_MAX);
	leaf_at(&d, 5, 0);
	assert_int_equal(pd_bm_read_lock(d.bm, 5, &pd_btree_validator, &b, NULL),
			 0);
	/* Two read locks on one block share it. */
	assert_int_equal(pd_bm_read_lock(d.bm, 5, &pd_btree_validator, &b2,
					 NULL), 0);
	assert_ptr_equal(b, b2);
	pd_bm_unlock(b2);
	pd_bm_unlock(b);
	assert_int_equal(pd_bm_read_lock(d.bm, 5, NULL, &b, NULL), 0);
	pd_bm_unlock(b);
	assert_int_equal(pd_io_fault_reads(d.io), 1);
	/* A validated block is not validated again while cached... */
	blk(&d, 5)[100] ^= 1;
	assert_int_equal(pd_bm_read_lock(d.bm, 5, &pd_btree_validator, &b, NULL),
			 0);
	pd_bm_unlock(b);
	/* ...but a different validator checks it (and fails). */
	assert_int_equal(pd_bm_read_lock(d.bm, 5, &pd_array_validator, &b, NULL),
			 -ENOTBLK);
	/* After forget, the device's bytes are read again. */
	pd_bm_forget(d.bm, 5);
	assert_int_equal(pd_bm_read_lock(d.bm, 5, &pd_btree_validator, &b, NULL),
			 -EILSEQ);
	assert_int_equal(pd_io_fault_reads(d.io), 2);
	pd_bm_forget(d.bm, 63);		/* not cached: nothing happens */
	dev_release(&d);
}

/*
 * 40 new blocks through a 16-block cache: evicted dirty blocks are written
 * on the way out, stamped with location and checksum, and each exactly once
 * by the time flush returns.
 */
static void test_eviction_writes_back(void **state)
{
	struct dev d;
	struct pd_block *b;

	(void)state;
	dev_init(&d, 64, 16, UINT64_MAX);
	for (uint64_t i = 1; i <= 40; i++) {
		struct pd_node_header *h;

		assert_int_equal(pd_bm_write_lock_zero(d.bm, i,
						       &pd_btree_validator, &b),
				 0);
		h = pd_block_wdata(b);
		h->flags = cpu_to_le32(PD_BTREE_LEAF);
		h->max_entries = cpu_to_le32(252);
		h->value_size = cpu_to_le32(8);
		store_le64((unsigned char *)h + 32, i * 11);
		h->nr_entries = cpu_to_le32(1);
		pd_bm_unlock(b);
	}
	/* The first blocks have been evicted, so they are on the device. */
	assert_true(pd_io_fault_writes(d.io) >= 24);
	assert_int_equal(pd_validate(&pd_btree_validator, blk(&d, 1), 1, NULL),
			 0);
	assert_int_equal(load_le64(blk(&d, 1) + 32), 11);
	/* Reading an evicted block back gives what was written. */
	assert_int_equal(pd_bm_read_lock(d.bm, 2, &pd_btree_validator, &b, NULL),
			 0);
	assert_int_equal(load_le64((const unsigned char *)pd_block_data(b) + 32),
			 22);
	pd_bm_unlock(b);
	assert_int_equal(pd_bm_flush(d.bm), 0);
	assert_int_equal(pd_io_fault_writes(d.io), 40);
	for (uint64_t i = 1; i <= 40; i++) {
		assert_int_equal(pd_validate(&pd_btree_validator, blk(&d, i), i,
					     NULL), 0);
		assert_int_equal(load_le64(blk(&d, i) + 32), i * 11);
	}
	/* Nothing dirty is left. */
	assert_int_equal(pd_bm_flush(d.bm), 0);
	assert_int_equal(pd_io_fault_writes(d.io), 40);
	dev_release(&d);
}

/* A modified block reads back valid before it reaches the device. */
static void test_write_lock_rereads(void **state)
{
	struct dev d;
	struct pd_block *b;

	(void)state;
	dev_init(&d, 16, 16, UINT64_MAX);
	leaf_at(&d, 4, 0);
	assert_int_equal(pd_bm_write_lock(d.bm, 4, &pd_btree_validator, &b, NULL),
			 0);
	store_le32((unsigned char *)pd_block_wdata(b) + 16, 1);
	pd_bm_unlock(b);
	assert_int_equal(pd_io_fault_writes(d.io), 0);
	assert_int_equal(pd_bm_read_lock(d.bm, 4, &pd_btree_validator, &b, NULL),
			 0);
	assert_int_equal(load_le32((const unsigned char *)pd_block_data(b) + 16),
			 1);
	pd_bm_unlock(b);
	assert_int_equal(load_le32(blk(&d, 4) + 16), 0);
	assert_int_equal(pd_bm_flush(d.bm), 0);
	assert_int_equal(load_le32(blk(&d, 4) + 16), 1);
	assert_int_equal(pd_validate(&pd_btree_validator, blk(&d, 4), 4, NULL), 0);
	dev_release(&d);
}

static void test_all_locked(void **state)
{
	struct dev d;
	struct pd_block *b[17];

	(void)state;
	dev_init(&d, 64, 16, UINT64_MAX);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(pd_bm_read_lock(d.bm, i, NULL, &b[i], NULL), 0);
	assert_int_equal(pd_bm_read_lock(d.bm, 20, NULL, &b[16], NULL), -EBUSY);
	/* A locked block is still found. */
	assert_int_equal(pd_bm_read_lock(d.bm, 3, NULL, &b[16], NULL), 0);
	pd_bm_unlock(b[16]);
	pd_bm_unlock(b[0]);
	assert_int_equal(pd_bm_read_lock(d.bm, 20, NULL, &b[16], NULL), 0);
	for (unsigned i = 1; i < 17; i++)
		pd_bm_unlock(b[i]);
	dev_release(&d);
}

static void test_prefetch(void **state)
{
	uint64_t want[20];
	struct dev d;
	struct pd_block *b;

	(void)state;
	dev_init(&d, 64, 16, 50);
	for (unsigned i = 0; i < 8; i++)
		want[i] = 2 * i + 1;
	pd_bm_prefetch(d.bm, want, 8);
	assert_int_equal(pd_io_fault_reads(d.io), 8);
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(pd_bm_read_lock(d.bm, want[i], NULL, &b, NULL),
				 0);
		pd_bm_unlock(b);
	}
	assert_int_equal(pd_io_fault_reads(d.io), 8);
	/* Cached, repeated and out-of-range blocks cost nothing. */
	want[0] = 1;
	want[1] = 1000;
	want[2] = 30;
	want[3] = 30;
	pd_bm_prefetch(d.bm, want, 4);
	assert_int_equal(pd_io_fault_reads(d.io), 9);
	/* At most half the cache per call. */
	for (unsigned i = 0; i < 20; i++)
		want[i] = 32 + i;
	pd_bm_prefetch(d.bm, want, 20);
	assert_int_equal(pd_io_fault_reads(d.io), 9 + 8);
	/* A failing batch is advisory: the block's own read reports it. */
	want[0] = 50;
	pd_bm_prefetch(d.bm, want, 1);
	assert_int_equal(pd_bm_read_lock(d.bm, 50, NULL, &b, NULL), -EIO);
	dev_release(&d);
}

/* A block written around the cache is read back as written, not as cached. */
static void test_write_direct(void **state)
{
	unsigned char data[B];
	struct pd_block *b;
	struct dev d;

	(void)state;
	dev_init(&d, 64, 16, UINT64_MAX);
	leaf_at(&d, 5, 3);
	assert_int_equal(pd_bm_read_lock(d.bm, 5, &pd_btree_validator, &b,
					 NULL), 0);
	pd_bm_unlock(b);
	memcpy(data, blk(&d, 5), B);
	data[100] ^= 0xff;
	assert_int_equal(pd_bm_write_direct(d.bm, 5, data), 0);
	assert_memory_equal(blk(&d, 5), data, B);
	assert_int_equal(pd_bm_read_lock(d.bm, 5, NULL, &b, NULL), 0);
	assert_memory_equal(pd_block_data(b), data, B);
	pd_bm_unlock(b);
	/* The bytes were written as given: the checksum is stale now. */
	pd_bm_forget(d.bm, 5);
	assert_int_equal(pd_bm_read_lock(d.bm, 5, &pd_btree_validator, &b,
					 NULL), -EILSEQ);
	dev_release(&d);
}

/* ---- text ---- */

static void test_format(void **state)
{
	struct pd_fault f = { 5, "btree node", PD_FAULT_CHECKSUM, "csum",
			      0x1234, 0x5678, -EILSEQ };
	char buf[200];

	(void)state;
	pd_fault_format(&f, buf, sizeof(buf));
	assert_string_equal(buf, "btree node block 5: bad checksum (found "
				 "0x00001234, expected 0x00005678)");
	f.kind = PD_FAULT_LOCATION;
	f.found = 9;
	pd_fault_format(&f, buf, sizeof(buf));
	assert_string_equal(buf, "btree node block 5: wrong location "
				 "(blocknr 9)");
	f.kind = PD_FAULT_HEADER;
	f.what = "nr_entries";
	f.found = 300;
	f.expected = 252;
	pd_fault_format(&f, buf, sizeof(buf));
	assert_string_equal(buf, "btree node block 5: bad nr_entries (found "
				 "300, expected 252)");
	f.kind = PD_FAULT_RANGE;
	f.expected = 16;
	pd_fault_format(&f, buf, sizeof(buf));
	assert_string_equal(buf, "btree node block 5: past the end of the "
				 "device (16 blocks)");
	f.kind = PD_FAULT_IO;
	f.err = -EIO;
	pd_fault_format(&f, buf, sizeof(buf));
	assert_string_equal(buf, "btree node block 5: I/O error");
	assert_string_equal(pd_fault_kind_name(PD_FAULT_CHECKSUM),
			    "bad checksum");
	assert_string_equal(pd_strerror(-EILSEQ),
			    "block failed its checksum or header check");
	assert_string_equal(pd_strerror(-ENOTBLK),
			    "block claims another location");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validators_accept),
		cmocka_unit_test(test_location_and_checksum),
		cmocka_unit_test(test_btree_headers),
		cmocka_unit_test(test_array_headers),
		cmocka_unit_test(test_range_and_io),
		cmocka_unit_test(test_cache_hits),
		cmocka_unit_test(test_eviction_writes_back),
		cmocka_unit_test(test_write_lock_rereads),
		cmocka_unit_test(test_all_locked),
		cmocka_unit_test(test_prefetch),
		cmocka_unit_test(test_write_direct),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests_name("bm", tests, NULL, NULL);
}
