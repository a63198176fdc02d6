// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * thin/format.h and thin/metadata_size.h: superblock pack/unpack at the
 * verified offsets, every superblock rule reported once and in order, the
 * details and block/time encodings, and thin_metadata_size's arithmetic
 * (units, parsing, 0.9.0's estimate).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "pdata/bm.h"
#include "thin/format.h"
#include "thin/metadata_size.h"

static void good_sb(struct thin_sb *sb)
{
	memset(sb, 0, sizeof(*sb));
	sb->version = 2;
	sb->time = 3;
	sb->trans_id = 7;
	sb->data_sm = (struct pd_sm_root_cpu){ 1000, 6, 4, 5 };
	sb->metadata_sm = (struct pd_sm_root_cpu){ 1024, 12, 1, 2 };
	sb->mapping_root = 7;
	sb->details_root = 6;
	sb->data_block_size = 128;
	sb->metadata_nr_blocks = 1024;
}

static void test_pack_offsets(void **state)
{
	unsigned char b[PD_BLOCK_SIZE];
	struct thin_sb sb, back;

	(void)state;
	good_sb(&sb);
	sb.held_root = 9;
	thin_sb_pack(&sb, b);
	/* The offsets seen in 0.9.0's images (thin/THIN.md §1). */
	assert_int_equal(load_le64(b + 32), THIN_SB_MAGIC);
	assert_int_equal(load_le32(b + 40), 2);
	assert_int_equal(load_le32(b + 44), 3);
	assert_int_equal(load_le64(b + 48), 7);
	assert_int_equal(load_le64(b + 56), 9);
	assert_int_equal(load_le64(b + 64), 1000);
	assert_int_equal(load_le64(b + 88), 5);
	assert_int_equal(load_le64(b + 192), 1024);
	assert_int_equal(load_le64(b + 208), 1);
	assert_int_equal(load_le64(b + 320), 7);
	assert_int_equal(load_le64(b + 328), 6);
	assert_int_equal(load_le32(b + 336), 128);
	assert_int_equal(load_le32(b + 340), 8);
	assert_int_equal(load_le64(b + 344), 1024);
	thin_sb_unpack(b, &back);
	assert_int_equal(back.trans_id, 7);
	assert_int_equal(back.data_sm.ref_count_root, 5);
	assert_int_equal(back.metadata_sm.nr_allocated, 12);
	assert_int_equal(back.held_root, 9);
}

struct vrec {
	enum thin_sb_problem p[32];
	int n;
};

static int vrec_cb(void *ctx, const struct thin_sb_violation *v)
{
	struct vrec *r = ctx;

	assert_true(r->n < 32);
	r->p[r->n++] = v->problem;
	return 0;
}

static int check(struct thin_sb *sb, int stamp, struct vrec *r)
{
	unsigned char b[PD_BLOCK_SIZE];
	struct thin_sb u;

	memset(r, 0, sizeof(*r));
	thin_sb_pack(sb, b);
	/* pack writes what the format allows: poke the others in. */
	store_le64(b + 8, sb->blocknr);
	store_le64(b + 32, sb->magic ? sb->magic : THIN_SB_MAGIC);
	store_le32(b + 340, sb->metadata_block_size ? sb->metadata_block_size : 8);
	if (stamp)
		store_le32(b, pd_block_csum(b, THIN_SB_CSUM_XOR));
	thin_sb_unpack(b, &u);
	return thin_sb_check(&u, b, 0, 1024, 0, vrec_cb, r);
}

static void test_check_clean(void **state)
{
	struct thin_sb sb;
	struct vrec r;

	(void)state;
	good_sb(&sb);
	assert_int_equal(check(&sb, 1, &r), 0);
	/* Not stamped: only the checksum. */
	assert_int_equal(check(&sb, 0, &r), 1);
	assert_int_equal(r.p[0], THIN_SB_BAD_CSUM);
}

enum field { F_BLOCKNR, F_MAGIC, F_VERSION, F_FLAGS, F_MBS, F_DBS, F_COMPAT,
	     F_COMPAT_RO, F_INCOMPAT, F_MAPPING, F_DETAILS, F_SM_NR, F_HELD };

static void set_field(struct thin_sb *s, enum field f, uint64_t v)
{
	switch (f) {
	case F_BLOCKNR: s->blocknr = v; break;
	case F_MAGIC: s->magic = v; break;
	case F_VERSION: s->version = (uint32_t)v; break;
	case F_FLAGS: s->flags = (uint32_t)v; break;
	case F_MBS: s->metadata_block_size = (uint32_t)v; break;
	case F_DBS: s->data_block_size = (uint32_t)v; break;
	case F_COMPAT: s->compat_flags = (uint32_t)v; break;
	case F_COMPAT_RO: s->compat_ro_flags = (uint32_t)v; break;
	case F_INCOMPAT: s->incompat_flags = (uint32_t)v; break;
	case F_MAPPING: s->mapping_root = v; break;
	case F_DETAILS: s->details_root = v; break;
	case F_SM_NR: s->metadata_sm.nr_blocks = v; break;
	case F_HELD: s->held_root = v; break;
	}
}

static void test_check_each_rule(void **state)
{
	static const struct {
		enum field f;
		uint64_t v;
		enum thin_sb_problem want;
	} cases[] = {
		{ F_BLOCKNR, 3, THIN_SB_BAD_LOCATION },
		{ F_MAGIC, 5, THIN_SB_BAD_MAGIC },
		{ F_VERSION, 7, THIN_SB_BAD_VERSION },
		{ F_FLAGS, 2, THIN_SB_BAD_FLAGS },
		{ F_MBS, 16, THIN_SB_METADATA_BLOCK_SIZE },
		{ F_DBS, 100, THIN_SB_DATA_BLOCK_SIZE },
		{ F_DBS, 64, THIN_SB_DATA_BLOCK_SIZE },
		{ F_DBS, 4194304, THIN_SB_DATA_BLOCK_SIZE },
		{ F_COMPAT, 1, THIN_SB_COMPAT_FLAGS },
		{ F_COMPAT_RO, 1, THIN_SB_COMPAT_RO_FLAGS },
		{ F_INCOMPAT, 4, THIN_SB_INCOMPAT_FLAGS },
		{ F_MAPPING, 0, THIN_SB_ROOT_RANGE },
		{ F_DETAILS, 5000, THIN_SB_ROOT_RANGE },
		{ F_SM_NR, 2000, THIN_SB_SM_NR_BLOCKS },
		{ F_HELD, 5000, THIN_SB_HELD_ROOT },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct thin_sb sb;
		struct vrec r;

		good_sb(&sb);
		set_field(&sb, cases[i].f, cases[i].v);
		if (check(&sb, 1, &r) != 1 || r.p[0] != cases[i].want)
			fail_msg("case %zu: %d violations, first %d, want %d", i,
				 r.n, r.n ? (int)r.p[0] : -1, (int)cases[i].want);
	}
}

static void test_block_time(void **state)
{
	uint64_t v = thin_block_time_pack(0x123456789ull, 0x1abcdef);

	(void)state;
	assert_int_equal(thin_block_time_block(v), 0x123456789ull);
	/* Only 24 bits of time. */
	assert_int_equal(thin_block_time_time(v), 0xabcdef);
	assert_int_equal(v & 0xffffff, 0xabcdef);
}

static void test_details(void **state)
{
	unsigned char raw[24];
	struct thin_details d = { 300, 2, 1, 4 }, back;

	(void)state;
	thin_details_pack(&d, raw);
	assert_int_equal(load_le64(raw), 300);
	assert_int_equal(load_le64(raw + 8), 2);
	assert_int_equal(load_le32(raw + 16), 1);
	assert_int_equal(load_le32(raw + 20), 4);
	thin_details_unpack(raw, &back);
	assert_memory_equal(&d, &back, sizeof(d));
}

static void test_msize(void **state)
{
	uint64_t v;
	unsigned digits;
	int unit;

	(void)state;
	assert_int_equal(thin_msize_unit("k"), 2);
	assert_int_equal(thin_msize_unit("K"), 3);
	assert_int_equal(thin_msize_unit("mega"), 5);
	assert_int_equal(thin_msize_unit("sectors"), THIN_MSIZE_SECTORS);
	assert_int_equal(thin_msize_unit("x"), -1);
	assert_int_equal(thin_msize_unit(""), -1);
	assert_true(thin_msize_unit_bytes(8) == 1099511627776.0);
	assert_true(thin_msize_unit_bytes(9) == 1e12);

	assert_int_equal(thin_msize_parse("64k", 0, &v, &unit, &digits), 0);
	assert_int_equal(v, 128);
	assert_int_equal(unit, 2);
	assert_int_equal(digits, 2);
	assert_int_equal(thin_msize_parse("1k", 1, &v, &unit, &digits), 0);
	assert_int_equal(v, 1024);	/* 0.9.0: "-m 1k" is 1024 thins */
	assert_int_equal(thin_msize_parse("77", 0, &v, &unit, &digits), 0);
	assert_int_equal(v, 77);
	assert_int_equal(unit, -1);
	assert_int_equal(thin_msize_parse("5q", 0, &v, &unit, &digits), -EINVAL);
	assert_int_equal(thin_msize_parse("99999999999999999999", 0, &v, &unit,
					  &digits), -ERANGE);
	assert_int_equal(thin_msize_parse("20000000E", 0, &v, &unit, &digits),
			 -ERANGE);
	/* 1 TiB pool, 64 KiB blocks, 1000 thins: 0.9.0 prints 1073224 sectors. */
	assert_true(thin_msize_estimate_blocks(2147483648ull, 128, 1000) * 8 ==
		    1073224.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pack_offsets),
		cmocka_unit_test(test_check_clean),
		cmocka_unit_test(test_check_each_rule),
		cmocka_unit_test(test_block_time),
		cmocka_unit_test(test_details),
		cmocka_unit_test(test_msize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
