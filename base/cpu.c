// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * CPUID and XGETBV, read once (base/cpu.h).  Off x86-64 there is nothing
 * to choose and every answer is no.
 */
#include "base/cpu.h"

#include <pthread.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

static int has_sse42, has_avx512, has_clmul;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void probe(void)
{
#if defined(__x86_64__)
	unsigned a, b, c, d, leaf1_c, xlo, xhi;

	if (!__get_cpuid(1, &a, &b, &leaf1_c, &d))
		return;
	has_sse42 = !!(leaf1_c & (1u << 20));
	/* The tests run the generic paths on a machine that has AVX-512. */
	if (getenv("DM_CACHE_TOOLS_NO_AVX512"))
		return;
	/* XGETBV is usable only with OSXSAVE. */
	if (!(leaf1_c & (1u << 27)))
		return;
	__asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
	(void)xhi;
	/* SSE, AVX, opmask, the zmm upper halves and zmm16-31. */
	if ((xlo & 0xe6) != 0xe6)
		return;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return;
	/* AVX512F (16), AVX512BW (30), AVX512VL (31). */
	has_avx512 = (b & (1u << 16)) && (b & (1u << 30)) && (b & (1u << 31));
	/* VPCLMULQDQ (leaf 7 ECX 10), PCLMULQDQ and SSE4.2 (leaf 1 ECX). */
	has_clmul = has_avx512 && (c & (1u << 10)) &&
		    (leaf1_c & (1u << 1)) && (leaf1_c & (1u << 20));
#endif
}

int base_cpu_sse42(void)
{
	pthread_once(&once, probe);
	return has_sse42;
}

int base_cpu_avx512(void)
{
	pthread_once(&once, probe);
	return has_avx512;
}

int base_cpu_avx512_clmul(void)
{
	pthread_once(&once, probe);
	return has_clmul;
}
