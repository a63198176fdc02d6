/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Little-endian on-disk integer types.
 *
 * Every integer in dm-cache metadata is little-endian.  On-disk structures
 * use these one-member wrappers instead of plain integers, so that a field
 * cannot be read or assigned without going through the conversion helpers:
 * `sb->version = 2` does not compile, `sb->version = cpu_to_le32(2)` does.
 */
#ifndef BASE_ENDIAN_H
#define BASE_ENDIAN_H

#include <stdint.h>
#include <string.h>

typedef struct { uint16_t v; } __attribute__((packed)) le16;
typedef struct { uint32_t v; } __attribute__((packed)) le32;
typedef struct { uint64_t v; } __attribute__((packed)) le64;

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#define BASE_SWAP16(x) __builtin_bswap16(x)
#define BASE_SWAP32(x) __builtin_bswap32(x)
#define BASE_SWAP64(x) __builtin_bswap64(x)
#else
#define BASE_SWAP16(x) (x)
#define BASE_SWAP32(x) (x)
#define BASE_SWAP64(x) (x)
#endif

static inline uint16_t le16_to_cpu(le16 x) { return BASE_SWAP16(x.v); }
static inline uint32_t le32_to_cpu(le32 x) { return BASE_SWAP32(x.v); }
static inline uint64_t le64_to_cpu(le64 x) { return BASE_SWAP64(x.v); }
static inline le16 cpu_to_le16(uint16_t x) { return (le16){ BASE_SWAP16(x) }; }
static inline le32 cpu_to_le32(uint32_t x) { return (le32){ BASE_SWAP32(x) }; }
static inline le64 cpu_to_le64(uint64_t x) { return (le64){ BASE_SWAP64(x) }; }

/* Unaligned loads and stores from raw byte buffers. */
static inline uint32_t load_le32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return BASE_SWAP32(v);
}

static inline uint64_t load_le64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return BASE_SWAP64(v);
}

static inline void store_le32(void *p, uint32_t v)
{
	v = BASE_SWAP32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void store_le64(void *p, uint64_t v)
{
	v = BASE_SWAP64(v);
	memcpy(p, &v, sizeof(v));
}

#endif
