// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The thin restore's same_mappings event (thin/emit.h), in memory: a
 * device given as "the mappings of device N" must be written exactly as
 * the same mappings given one by one are (the sharing build ends with
 * every node shared and one more reference to the root), byte for byte,
 * whether the tree is one leaf or several levels; and the event is refused
 * for a device not given before, after a mapping, twice, or before a
 * mapping.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pdata/io.h"
#include "pdata/ondisk.h"
#include "thin/emit.h"
#include "thin/restore.h"

#define DEV_BLOCKS 2048u

/* Device 1's mappings: n runs of 7 blocks, times 1 and 2 in turn. */
static void give_maps(const struct thin_emitter *e, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(e->mapping(e->ctx, 10 * (uint64_t)i,
					    7 * (uint64_t)i, 7, 1 + i % 2), 0);
}

static struct thin_emit_device dev(uint64_t id, uint64_t mapped)
{
	struct thin_emit_device d = { .dev_id = id };

	d.details.mapped_blocks = mapped;
	d.details.transaction_id = 1;
	d.details.snapshotted_time = 2;
	return d;
}

/*
 * Restores device 1 (n runs), device 2 (same: as same_mappings(1), else
 * given again), device 3 (other mappings); returns the image.
 */
static unsigned char *restore(unsigned n, int same)
{
	struct thin_emit_sb sb = { .time = 3, .trans_id = 1, .version = 2,
				   .data_block_size = 128,
				   .nr_data_blocks = 100000 };
	struct thin_emit_device d1 = dev(1, 7 * (uint64_t)n);
	struct thin_emit_device d2 = dev(2, 7 * (uint64_t)n);
	struct thin_emit_device d3 = dev(3, 5);
	struct thin_restore *rs;
	struct thin_emitter e;
	struct pd_io *io;
	unsigned char *img;

	assert_int_equal(pd_io_mem_create(DEV_BLOCKS, &io), 0);
	assert_int_equal(thin_restore_create(io, NULL, &rs), 0);
	thin_restore_emitter(rs, &e);
	assert_non_null(e.same_mappings);
	assert_int_equal(e.begin_superblock(e.ctx, &sb), 0);
	assert_int_equal(e.begin_device(e.ctx, &d1), 0);
	give_maps(&e, n);
	assert_int_equal(e.end_device(e.ctx), 0);
	assert_int_equal(e.begin_device(e.ctx, &d2), 0);
	if (same)
		assert_int_equal(e.same_mappings(e.ctx, 1), 0);
	else
		give_maps(&e, n);
	assert_int_equal(e.end_device(e.ctx), 0);
	assert_int_equal(e.begin_device(e.ctx, &d3), 0);
	assert_int_equal(e.mapping(e.ctx, 3, 90000, 5, 3), 0);
	assert_int_equal(e.end_device(e.ctx), 0);
	if (e.end_superblock)
		assert_int_equal(e.end_superblock(e.ctx), 0);
	assert_int_equal(thin_restore_commit(rs), 0);
	thin_restore_destroy(rs);
	img = malloc((size_t)DEV_BLOCKS * PD_BLOCK_SIZE);
	assert_non_null(img);
	memcpy(img, pd_io_mem_data(io), (size_t)DEV_BLOCKS * PD_BLOCK_SIZE);
	pd_io_destroy(io);
	return img;
}

static void test_same_image(void **state)
{
	/* One leaf; several leaves under a root; three levels. */
	static const unsigned runs[] = { 3, 200, 9000 };

	(void)state;
	for (size_t k = 0; k < sizeof(runs) / sizeof(runs[0]); k++) {
		unsigned char *a = restore(runs[k], 0);
		unsigned char *b = restore(runs[k], 1);

		if (memcmp(a, b, (size_t)DEV_BLOCKS * PD_BLOCK_SIZE)) {
			print_error("%u runs: the images differ\n", runs[k]);
			fail();
		}
		free(a);
		free(b);
	}
}

/* One refused sequence: err and a message naming want. */
static void refused(int what, const char *want)
{
	struct thin_emit_sb sb = { .time = 3, .trans_id = 1, .version = 2,
				   .data_block_size = 128,
				   .nr_data_blocks = 1000 };
	struct thin_emit_device d1 = dev(1, 7), d2 = dev(2, 7);
	struct thin_restore *rs;
	struct thin_emitter e;
	struct pd_io *io;
	int r = 0;

	assert_int_equal(pd_io_mem_create(DEV_BLOCKS, &io), 0);
	assert_int_equal(thin_restore_create(io, NULL, &rs), 0);
	thin_restore_emitter(rs, &e);
	assert_int_equal(e.begin_superblock(e.ctx, &sb), 0);
	assert_int_equal(e.begin_device(e.ctx, &d1), 0);
	give_maps(&e, 1);
	assert_int_equal(e.end_device(e.ctx), 0);
	assert_int_equal(e.begin_device(e.ctx, &d2), 0);
	switch (what) {
	case 0:		/* a device not given before */
		r = e.same_mappings(e.ctx, 5);
		break;
	case 1:		/* after a mapping */
		assert_int_equal(e.mapping(e.ctx, 0, 0, 1, 1), 0);
		r = e.same_mappings(e.ctx, 1);
		break;
	case 2:		/* twice */
		assert_int_equal(e.same_mappings(e.ctx, 1), 0);
		r = e.same_mappings(e.ctx, 1);
		break;
	case 3:		/* a mapping after it */
		assert_int_equal(e.same_mappings(e.ctx, 1), 0);
		r = e.mapping(e.ctx, 100, 100, 1, 1);
		break;
	}
	assert_int_equal(r, -EINVAL);
	assert_non_null(thin_restore_message(rs));
	if (!strstr(thin_restore_message(rs), want)) {
		print_error("case %d: \"%s\" lacks \"%s\"\n", what,
			    thin_restore_message(rs), want);
		fail();
	}
	thin_restore_destroy(rs);
	pd_io_destroy(io);
}

static void test_refused(void **state)
{
	(void)state;
	refused(0, "device 2: the mappings of device 5, which was not given "
		   "before");
	refused(1, "device 2: another device's mappings given after its own");
	refused(2, "device 2: another device's mappings given after its own");
	refused(3, "device 2: a mapping after another device's mappings");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_image),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
