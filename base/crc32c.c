// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * CRC-32C with a run-time choice between the SSE4.2 crc32 instruction and a
 * slicing-by-8 table.  Every metadata block read is checksummed, so this is
 * on the hot path of every tool: with the page cache warm, checksums were a
 * tenth of thin_check's time and a fifth of thin_dump's.
 *
 * The crc32 instruction takes 3 cycles but can start one every cycle, so
 * the hardware path runs three streams at once over three CHUNK-byte
 * pieces and joins them: the CRC register is linear, so
 * crc(x, A B) = shift(crc(x, A)) ^ crc(0, B), where shift is CHUNK zero
 * bytes fed to the register, a linear map applied as four byte tables
 * (built once from the 32 basis vectors).
 */
#include "base/crc32c.h"

#include <pthread.h>
#include <string.h>

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		crc_table[0][i] = c;
	}
	for (unsigned i = 0; i < 256; i++)
		for (unsigned t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	pthread_once(&table_once, build_table);
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint32_t lo, hi;

		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
		lo = __builtin_bswap32(lo);
		hi = __builtin_bswap32(hi);
#endif
		lo ^= crc;
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		      crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return crc;
}

#if defined(__x86_64__)
/* 3 * CHUNK covers a metadata block's checksummed 4092 bytes but 12. */
#define CHUNK 1360u

static uint32_t shift_table[4][256];
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

__attribute__((target("sse4.2")))
static uint32_t crc_zeros(uint32_t c, size_t len)
{
	uint64_t x = c;

	for (; len >= 8; len -= 8)
		x = __builtin_ia32_crc32di(x, 0);
	for (; len; len--)
		x = __builtin_ia32_crc32qi((uint32_t)x, 0);
	return (uint32_t)x;
}

static void build_shift(void)
{
	uint32_t basis[32];

	for (unsigned j = 0; j < 32; j++)
		basis[j] = crc_zeros(1u << j, CHUNK);
	for (unsigned k = 0; k < 4; k++)
		for (unsigned b = 0; b < 256; b++) {
			uint32_t v = 0;

			for (unsigned j = 0; j < 8; j++)
				if (b >> j & 1)
					v ^= basis[8 * k + j];
			shift_table[k][b] = v;
		}
}

static inline uint32_t shift_chunk(uint32_t c)
{
	return shift_table[0][c & 0xff] ^ shift_table[1][(c >> 8) & 0xff] ^
	       shift_table[2][(c >> 16) & 0xff] ^ shift_table[3][c >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t c = crc;

	if (len >= 3 * CHUNK)
		pthread_once(&shift_once, build_shift);
	while (len >= 3 * CHUNK) {
		uint64_t a = c, b = 0, d = 0;

		for (unsigned i = 0; i < CHUNK; i += 8) {
			uint64_t wa, wb, wd;

			memcpy(&wa, p + i, 8);
			memcpy(&wb, p + CHUNK + i, 8);
			memcpy(&wd, p + 2 * CHUNK + i, 8);
			a = __builtin_ia32_crc32di(a, wa);
			b = __builtin_ia32_crc32di(b, wb);
			d = __builtin_ia32_crc32di(d, wd);
		}
		c = shift_chunk(shift_chunk((uint32_t)a) ^ (uint32_t)b) ^
		    (uint32_t)d;
		p += 3 * CHUNK;
		len -= 3 * CHUNK;
	}

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}

int crc32c_hw_available(void)
{
	return __builtin_cpu_supports("sse4.2");
}

uint32_t crc32c_hw(uint32_t seed, const void *buf, size_t len)
{
	if (crc32c_hw_available())
		return crc32c_sse42(seed, buf, len);
	return crc32c_portable(seed, buf, len);
}
#else
int crc32c_hw_available(void)
{
	return 0;
}

uint32_t crc32c_hw(uint32_t seed, const void *buf, size_t len)
{
	return crc32c_portable(seed, buf, len);
}
#endif

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);
static crc_fn crc_impl;
static pthread_once_t impl_once = PTHREAD_ONCE_INIT;

static void choose_impl(void)
{
	crc_impl = crc32c_hw_available() ? crc32c_hw : crc32c_portable;
}

uint32_t crc32c(uint32_t seed, const void *buf, size_t len)
{
	pthread_once(&impl_once, choose_impl);
	return crc_impl(seed, buf, len);
}
