/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What the processor and the kernel let us run, asked once: the hot loops
 * that have an SSE4.2 or AVX-512 form (the checksum, thin_check's leaf
 * scan) choose it at run time, so one binary runs everywhere and uses what
 * is there.
 *
 * A feature counts only when the kernel also saves its registers on a
 * context switch (XCR0), which a virtual machine may not.  With
 * DM_CACHE_TOOLS_NO_AVX512 set in the environment every answer is no, so
 * the generic paths can be tested and timed on any machine.
 */
#ifndef BASE_CPU_H
#define BASE_CPU_H

/* SSE4.2 (the crc32 instruction); DM_CACHE_TOOLS_NO_AVX512 leaves it. */
int base_cpu_sse42(void);
/* AVX-512 F, BW and VL, with the opmask and zmm state enabled. */
int base_cpu_avx512(void);
/* base_cpu_avx512() and VPCLMULQDQ, PCLMULQDQ and SSE4.2. */
int base_cpu_avx512_clmul(void);

/* The attribute for a function written for base_cpu_avx512(). */
#define BASE_AVX512_TARGET \
	__attribute__((target("avx512f,avx512bw,avx512vl")))

#endif
