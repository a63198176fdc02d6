/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Finding an element of a sorted array of structs by its uint64_t key
 * field, once: the tools' device lists, candidate lists and tree memos are
 * such arrays, and each had its own copy of the same binary search.
 *
 *	struct rdev *d = BASE_FIND(rp->devs, rp->nr_devs, id, want);
 *
 * The array must be sorted by the field, with no key twice.
 */
#ifndef BASE_SORTED_H
#define BASE_SORTED_H

#include <stddef.h>
#include <stdint.h>

/*
 * The element of v (n elements of size bytes, sorted by the uint64_t at
 * key_off in each) whose key is key, or NULL.
 */
void *base_find_u64(const void *v, size_t n, size_t size, size_t key_off,
		    uint64_t key);

#define BASE_FIND(v, n, field, key)                                        \
	base_find_u64((v), (n), sizeof(*(v)),                              \
		      offsetof(__typeof__(*(v)), field), (key))

#endif
