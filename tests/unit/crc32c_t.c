// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * crc32c: the FORMAT.md §1.2 vectors on every path (folding, the crc32
 * instruction, the table), and agreement between the paths on every length
 * and alignment.  A wrong fold constant shows here: each is used at some
 * length in test_fold_agree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/crc32c.h"
#include "base/endian.h"
#include "pdata/bm.h"
#include "pdata/ondisk.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static const crc_fn impls[] = { crc32c, crc32c_portable, crc32c_hw,
				 crc32c_wide };

static void test_check_string(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++)
		assert_int_equal(impls[i](CRC32C_SEED, "123456789", 9),
				 0x1CF96D7Cu);
}

static void test_zero_blocks(void **state)
{
	static const struct { uint32_t xor_; uint32_t want; } v[] = {
		{ 9031977u, 0x584476B8u },		/* superblock */
		{ PD_CSUM_XOR_BTREE, 0x58CC7E82u },
		{ PD_CSUM_XOR_BITMAP, 0x58CE0B1Au },
		{ PD_CSUM_XOR_INDEX, 0x58CFD54Fu },
		{ PD_CSUM_XOR_ARRAY, 0x7B4E41DEu },
	};
	unsigned char block[PD_BLOCK_SIZE] = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_int_equal(pd_block_csum(block, v[i].xor_), v[i].want);
}

static void empty_leaf(unsigned char *block, uint64_t nr, uint32_t max,
		       uint32_t vs)
{
	struct pd_node_header *h = (void *)block;

	memset(block, 0, PD_BLOCK_SIZE);
	h->flags = cpu_to_le32(PD_BTREE_LEAF);
	h->blocknr = cpu_to_le64(nr);
	h->max_entries = cpu_to_le32(max);
	h->value_size = cpu_to_le32(vs);
}

static void test_empty_leaves(void **state)
{
	unsigned char block[PD_BLOCK_SIZE];

	(void)state;
	empty_leaf(block, 5, 252, 8);
	assert_int_equal(pd_block_csum(block, PD_CSUM_XOR_BTREE), 0x49D8085Du);
	empty_leaf(block, 2, 336, 4);
	assert_int_equal(pd_block_csum(block, PD_CSUM_XOR_BTREE), 0xC360E452u);
}

static void test_paths_agree(void **state)
{
	unsigned char buf[600];
	uint32_t x = 12345;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (unsigned char)(x >> 16);
	}
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len + off <= sizeof(buf); len += 7)
			assert_int_equal(crc32c_hw(7, buf + off, len),
					 crc32c_portable(7, buf + off, len));
}

/* Past 3 * 1360 bytes the hardware path runs three streams and joins them. */
static void test_paths_agree_long(void **state)
{
	static unsigned char buf[13000];
	uint32_t x = 777;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (unsigned char)(x >> 16);
	}
	for (size_t off = 0; off < 9; off += 4)
		for (size_t len = 4000; len + off <= sizeof(buf); len += 89)
			assert_int_equal(crc32c_hw(~0u, buf + off, len),
					 crc32c_portable(~0u, buf + off, len));
	assert_int_equal(crc32c_hw(5, buf + 4, 4092),
			 crc32c_portable(5, buf + 4, 4092));
}

/*
 * Folding: 256 bytes up use the four-register loop (512 up the 256-byte
 * constants), every multiple of 64 past it the one-register step, and any
 * tail the crc32 instruction; seeds of every bit pattern enter lane 0.
 */
static void test_fold_agree(void **state)
{
	static unsigned char buf[9000];
	uint32_t x = 4242;

	(void)state;
	if (!crc32c_fold_available())
		skip();
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (unsigned char)(x >> 16);
	}
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 1300; len++) {
			uint32_t seed = (uint32_t)(len * 2654435761u) ^ (uint32_t)off;

			assert_int_equal(crc32c_wide(seed, buf + off, len),
					 crc32c_portable(seed, buf + off, len));
		}
	for (size_t len = 1301; len <= sizeof(buf) - 4; len += 61)
		assert_int_equal(crc32c_wide(~0u, buf + 3, len),
				 crc32c_portable(~0u, buf + 3, len));
	assert_int_equal(crc32c_wide(~0u, buf + 4, 4092),
			 crc32c_hw(~0u, buf + 4, 4092));
	/* The one-block case every tool runs, on a block of zeros. */
	memset(buf, 0, PD_BLOCK_SIZE);
	assert_int_equal(crc32c_wide(~0u, buf + 4, 4092) ^ 9031977u,
			 0x584476B8u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_string),
		cmocka_unit_test(test_zero_blocks),
		cmocka_unit_test(test_empty_leaves),
		cmocka_unit_test(test_paths_agree),
		cmocka_unit_test(test_paths_agree_long),
		cmocka_unit_test(test_fold_agree),
	};

	return cmocka_run_group_tests_name("crc32c", tests, NULL, NULL);
}
