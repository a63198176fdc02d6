// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * CRC-32C with a run-time choice between carry-less multiply folding
 * (AVX-512 VPCLMULQDQ), the SSE4.2 crc32 instruction and a slicing-by-8
 * table.  Every metadata block read is checksummed, so this is on the hot
 * path of every tool: with the page cache warm, checksums were a tenth of
 * thin_check's time and a fifth of thin_dump's.
 *
 * The crc32 instruction takes 3 cycles but can start one every cycle, so
 * the hardware path runs three streams at once over three CHUNK-byte
 * pieces and joins them: the CRC register is linear, so
 * crc(x, A B) = shift(crc(x, A)) ^ crc(0, B), where shift is CHUNK zero
 * bytes fed to the register, a linear map applied as four byte tables
 * (built once from the 32 basis vectors).
 *
 * Folding goes further: it keeps 16 bytes of remainder per 128-bit lane and
 * moves a lane F bits down the message by multiplying its two halves by
 * x^(F+31) and x^(F-33) mod P (the constants below; the odd exponents
 * undo the one-bit shift of a reflected carry-less product and place a
 * 32-bit constant in the low half of its qword).  Sixteen lanes in four
 * zmm registers take 256 bytes a step, about four times the crc32
 * instruction's rate; the lanes are then folded into one, and its 16
 * bytes and any tail go through the crc32 instruction.
 */
#include "base/crc32c.h"

#include <pthread.h>
#include <string.h>

#include "base/cpu.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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
	return base_cpu_sse42();
}

uint32_t crc32c_hw(uint32_t seed, const void *buf, size_t len)
{
	if (crc32c_hw_available())
		return crc32c_sse42(seed, buf, len);
	return crc32c_portable(seed, buf, len);
}

/*
 * Fold constants, a (lo, hi) qword pair per 128-bit lane: the remainder's
 * first 8 bytes are multiplied by x^(F+31) mod P, its last 8 by
 * x^(F-33) mod P, both bit-reflected.  The agreement tests in
 * tests/unit/crc32c_t.c reach every one of them.
 */
#define FOLD_2048_LO 0xdcb17aa4u	/* 256 bytes: four zmm apart */
#define FOLD_2048_HI 0xb9e02b86u
#define FOLD_512_LO 0x740eef02u		/* 64 bytes: one zmm */
#define FOLD_512_HI 0x9e4addf8u
#define FOLD_384_LO 0x1c291d04u		/* 48, 32, 16 bytes: lanes */
#define FOLD_384_HI 0xddc0152bu
#define FOLD_256_LO 0x3da6d0cbu
#define FOLD_256_HI 0xba4fc28eu
#define FOLD_128_LO 0xf20c0dfeu
#define FOLD_128_HI 0x493c7d27u

#define WIDE_TARGET \
	__attribute__((target("avx512f,avx512bw,avx512vl,vpclmulqdq,pclmul,sse4.2")))

/* Each 128-bit lane of acc moved down by k's distance, xor next. */
WIDE_TARGET
static inline __m512i fold_zmm(__m512i acc, __m512i k, __m512i next)
{
	return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(acc, k, 0x00),
					 _mm512_clmulepi64_epi128(acc, k, 0x11),
					 next, 0x96);
}

WIDE_TARGET
static uint32_t crc32c_fold(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	const __m512i k2048 = _mm512_set4_epi64(FOLD_2048_HI, FOLD_2048_LO,
						FOLD_2048_HI, FOLD_2048_LO);
	const __m512i k512 = _mm512_set4_epi64(FOLD_512_HI, FOLD_512_LO,
					       FOLD_512_HI, FOLD_512_LO);
	/* Lanes 0-2 of the last zmm move to lane 3; lane 3 stays. */
	const __m512i klanes = _mm512_set_epi64(0, 0, FOLD_128_HI, FOLD_128_LO,
						FOLD_256_HI, FOLD_256_LO,
						FOLD_384_HI, FOLD_384_LO);
	__m512i a0, a1, a2, a3, z;
	__m128i t;
	uint64_t c;

	if (len < 256)
		return crc32c_sse42(crc, buf, len);
	/* The register so far is the same as that much xor'd into the data. */
	a0 = _mm512_xor_si512(_mm512_loadu_si512(p),
			      _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)crc)));
	a1 = _mm512_loadu_si512(p + 64);
	a2 = _mm512_loadu_si512(p + 128);
	a3 = _mm512_loadu_si512(p + 192);
	p += 256;
	len -= 256;
	for (; len >= 256; p += 256, len -= 256) {
		a0 = fold_zmm(a0, k2048, _mm512_loadu_si512(p));
		a1 = fold_zmm(a1, k2048, _mm512_loadu_si512(p + 64));
		a2 = fold_zmm(a2, k2048, _mm512_loadu_si512(p + 128));
		a3 = fold_zmm(a3, k2048, _mm512_loadu_si512(p + 192));
	}
	z = fold_zmm(a0, k512, a1);
	z = fold_zmm(z, k512, a2);
	z = fold_zmm(z, k512, a3);
	for (; len >= 64; p += 64, len -= 64)
		z = fold_zmm(z, k512, _mm512_loadu_si512(p));
	/* Four lanes into one: lane 3 plus the other three moved onto it. */
	z = fold_zmm(z, klanes, _mm512_maskz_mov_epi64(0xc0, z));
	t = _mm_xor_si128(_mm_xor_si128(_mm512_castsi512_si128(z),
					_mm512_extracti32x4_epi32(z, 1)),
			  _mm_xor_si128(_mm512_extracti32x4_epi32(z, 2),
					_mm512_extracti32x4_epi32(z, 3)));
	c = __builtin_ia32_crc32di(0, (uint64_t)_mm_cvtsi128_si64(t));
	c = __builtin_ia32_crc32di(c, (uint64_t)_mm_extract_epi64(t, 1));
	return crc32c_sse42((uint32_t)c, p, len);
}

int crc32c_fold_available(void)
{
	return base_cpu_avx512_clmul();
}

uint32_t crc32c_wide(uint32_t seed, const void *buf, size_t len)
{
	if (crc32c_fold_available())
		return crc32c_fold(seed, buf, len);
	return crc32c_hw(seed, buf, len);
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

int crc32c_fold_available(void)
{
	return 0;
}

uint32_t crc32c_wide(uint32_t seed, const void *buf, size_t len)
{
	return crc32c_portable(seed, buf, len);
}
#endif

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);
static crc_fn crc_impl;
static pthread_once_t impl_once = PTHREAD_ONCE_INIT;

static void choose_impl(void)
{
#if defined(__x86_64__)
	if (crc32c_fold_available()) {
		crc_impl = crc32c_fold;
		return;
	}
	if (crc32c_hw_available()) {
		crc_impl = crc32c_sse42;
		return;
	}
#endif
	crc_impl = crc32c_portable;
}

uint32_t crc32c(uint32_t seed, const void *buf, size_t len)
{
	pthread_once(&impl_once, choose_impl);
	return crc_impl(seed, buf, len);
}
