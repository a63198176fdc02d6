// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * base_find_u64 (sorted.h): binary search on a uint64_t key field.
 */
#include "base/sorted.h"

#include <string.h>

void *base_find_u64(const void *v, size_t n, size_t size, size_t key_off,
		    uint64_t key)
{
	const unsigned char *p = v;
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t k;

		memcpy(&k, p + mid * size + key_off, sizeof(k));
		if (k < key)
			lo = mid + 1;
		else if (k > key)
			hi = mid;
		else
			return (void *)(p + mid * size);
	}
	return NULL;
}
