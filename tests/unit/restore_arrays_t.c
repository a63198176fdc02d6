// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_restore_stage_arrays(), the repair's hand-off: the same input given
 * as arrays must write exactly the image the emitter events write (v1 and
 * v2, hints, discards, several array blocks), and bad arrays are refused
 * with the events' messages (an origin block mapped twice, unknown flag
 * bits, a discard bitmap of the wrong length) without touching the device.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/bitmap.h"
#include "cache/format.h"
#include "cache/restore.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"

#define NR 3000u		/* six mapping array blocks */
#define DEV 256u
#define DISCARDS 5000u

struct input {
	struct cache_emit_sb sb;
	uint64_t map[NR];
	unsigned char hints[NR * 4];
	struct base_bitmap discards;
};

/* Mapped blocks in no simple pattern, distinct origins, some dirty. */
static void make_input(struct input *in, uint32_t version)
{
	memset(in, 0, sizeof(*in));
	in->sb.block_size = 128;
	in->sb.nr_cache_blocks = NR;
	strcpy(in->sb.policy, "smq");
	in->sb.hint_width = 4;
	in->sb.have_binary = 1;
	in->sb.version = version;
	in->sb.policy_version[0] = 2;
	in->sb.discard_block_size = 128;
	in->sb.discard_nr_blocks = DISCARDS;
	memcpy(in->sb.uuid, "arrays", 6);
	for (uint32_t c = 0; c < NR; c++) {
		if ((c * 7) % 5 == 0)
			continue;
		in->map[c] = cache_mapping_pack(
			(c * 7919u) % 4001u,
			CACHE_M_VALID | ((c % 3 == 0) ? CACHE_M_DIRTY : 0));
		memcpy(in->hints + 4 * c, &c, 4);
	}
	assert_int_equal(base_bitmap_init(&in->discards, DISCARDS), 0);
	base_bitmap_set_range(&in->discards, 10, 90);
	base_bitmap_set_range(&in->discards, 4000, 4001);
}

static void by_events(struct input *in, struct pd_io *io, uint32_t version)
{
	struct cache_restore_opts o = { .version = version };
	struct cache_emit_discards d = { 128, DISCARDS };
	struct cache_restore *rs;
	struct cache_emitter e;

	assert_int_equal(cache_restore_create(io, &o, &rs), 0);
	cache_restore_emitter(rs, &e);
	assert_int_equal(e.begin_superblock(rs, &in->sb), 0);
	assert_int_equal(e.begin_mappings(rs), 0);
	for (uint32_t c = 0; c < NR; c++)
		if (in->map[c])
			assert_int_equal(e.mapping(rs, c,
					cache_mapping_oblock(in->map[c]),
					(cache_mapping_flags(in->map[c]) &
					 CACHE_M_DIRTY) != 0), 0);
	assert_int_equal(e.end_mappings(rs), 0);
	assert_int_equal(e.begin_hints(rs), 0);
	for (uint32_t c = 0; c < NR; c++)
		if (in->map[c])
			assert_int_equal(e.hint(rs, c, in->hints + 4 * c, 4), 0);
	assert_int_equal(e.end_hints(rs), 0);
	assert_int_equal(e.begin_discards(rs, &d), 0);
	assert_int_equal(e.discard(rs, 10, 90), 0);
	assert_int_equal(e.discard(rs, 4000, 4001), 0);
	assert_int_equal(e.end_discards(rs), 0);
	assert_int_equal(e.end_superblock(rs), 0);
	assert_int_equal(cache_restore_commit(rs), 0);
	cache_restore_destroy(rs);
}

static void same_image(uint32_t version)
{
	struct cache_restore_opts o = { .version = version };
	struct cache_restore *rs;
	struct pd_io *a, *b;
	struct input *in = malloc(sizeof(*in));

	assert_non_null(in);
	make_input(in, version);
	assert_int_equal(pd_io_mem_create(DEV, &a), 0);
	assert_int_equal(pd_io_mem_create(DEV, &b), 0);
	by_events(in, a, version);
	assert_int_equal(cache_restore_create(b, &o, &rs), 0);
	assert_int_equal(cache_restore_stage_arrays(rs, &in->sb, in->map,
						    in->hints, &in->discards),
			 0);
	assert_int_equal(cache_restore_commit(rs), 0);
	cache_restore_destroy(rs);
	assert_memory_equal(pd_io_mem_data(a), pd_io_mem_data(b),
			    (size_t)DEV * PD_BLOCK_SIZE);
	pd_io_destroy(a);
	pd_io_destroy(b);
	base_bitmap_release(&in->discards);
	free(in);
}

static void test_same_image_v2(void **state)
{
	(void)state;
	same_image(2);
}

static void test_same_image_v1(void **state)
{
	(void)state;
	same_image(1);
}

static void refused(void (*spoil)(struct input *in), const char *want)
{
	struct cache_restore_opts o = { .version = 2 };
	struct cache_restore *rs;
	struct input *in = malloc(sizeof(*in));
	struct pd_io *io;
	unsigned char *d;

	assert_non_null(in);
	make_input(in, 2);
	spoil(in);
	assert_int_equal(pd_io_mem_create(DEV, &io), 0);
	d = pd_io_mem_data(io);
	memset(d, 0x5a, (size_t)DEV * PD_BLOCK_SIZE);
	assert_int_equal(cache_restore_create(io, &o, &rs), 0);
	assert_int_equal(cache_restore_stage_arrays(rs, &in->sb, in->map,
						    in->hints, &in->discards),
			 -EINVAL);
	assert_string_equal(cache_restore_message(rs), want);
	/* Not staged: commit refuses, and nothing was written. */
	assert_int_equal(cache_restore_commit(rs), -EINVAL);
	for (size_t i = 0; i < (size_t)DEV * PD_BLOCK_SIZE; i++)
		if (d[i] != 0x5a)
			fail_msg("byte %zu was written", i);
	cache_restore_destroy(rs);
	pd_io_destroy(io);
	base_bitmap_release(&in->discards);
	free(in);
}

static void twice(struct input *in)
{
	in->map[1] = cache_mapping_pack(7, CACHE_M_VALID);
	in->map[2] = 0;
	in->map[6] = cache_mapping_pack(7, CACHE_M_VALID | CACHE_M_DIRTY);
	for (uint32_t c = 3; c < NR; c++)
		if (c != 6 && in->map[c] &&
		    cache_mapping_oblock(in->map[c]) == 7)
			in->map[c] = 0;
}

static void bad_flags(struct input *in)
{
	in->map[2] = cache_mapping_pack(9, CACHE_M_VALID | 4);
}

static void not_valid(struct input *in)
{
	in->map[3] = cache_mapping_pack(9, CACHE_M_DIRTY);
}

static void short_discards(struct input *in)
{
	base_bitmap_release(&in->discards);
	assert_int_equal(base_bitmap_init(&in->discards, 64), 0);
}

static void test_refused(void **state)
{
	(void)state;
	refused(twice, "origin block 7 is mapped by cache blocks 1 and 6");
	refused(bad_flags, "cache block 2 has mapping flags 0x5");
	refused(not_valid, "cache block 3 has mapping flags 0x2");
	refused(short_discards, "64 discard bits for 5000 discard blocks");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_image_v2),
		cmocka_unit_test(test_same_image_v1),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
