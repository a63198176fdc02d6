/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * CRC-32C (Castagnoli), as persistent-data uses it.
 *
 * The value is the raw shift register after the last byte: reflected
 * polynomial 0x82F63B78, the register starts at `seed` and there is no final
 * inversion.  With seed 0xFFFFFFFF this is the kernel's crc32c(~0, buf, len)
 * and equals the standard CRC-32C XOR 0xFFFFFFFF.  Block checksums are
 * crc32c(0xFFFFFFFF, block + 4, 4092) ^ type_xor.
 *
 * crc32c() picks at run time: carry-less multiply folding when the
 * processor has AVX-512 with VPCLMULQDQ, else the SSE4.2 instruction, else a
 * table.  Every path is exported so tests can prove they agree.
 */
#ifndef BASE_CRC32C_H
#define BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#define CRC32C_SEED 0xFFFFFFFFu

uint32_t crc32c(uint32_t seed, const void *buf, size_t len);
uint32_t crc32c_portable(uint32_t seed, const void *buf, size_t len);
/* Returns the hardware result, or the portable one when there is no SSE4.2. */
uint32_t crc32c_hw(uint32_t seed, const void *buf, size_t len);
int crc32c_hw_available(void);
/* Returns the folding result, or crc32c_hw()'s when folding is unavailable. */
uint32_t crc32c_wide(uint32_t seed, const void *buf, size_t len);
int crc32c_fold_available(void);

#endif
