/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Growing an array by doubling, once: the device lists, run lists and
 * block lists of the tools all append to an array that realloc makes
 * room in, and each had its own copy of the same six lines.
 *
 *	struct device *v = NULL;
 *	size_t n = 0, cap = 0;
 *	if (BASE_GROW(v, cap, n + 1, 64) < 0)
 *		return -ENOMEM;
 *	v[n++] = d;
 *
 * The size in bytes is checked for overflow, and a failure leaves the
 * array and its capacity as they were (still to be freed by the caller).
 */
#ifndef BASE_GROW_H
#define BASE_GROW_H

#include <stddef.h>

/*
 * Room for at least need elements of size bytes in the array *pp points
 * to (pp: the address of the array pointer), whose capacity is *capp: the
 * capacity doubles, starting from min, until it holds need.  0, or
 * -ENOMEM with nothing changed.
 */
int base_grow(void *pp, size_t *capp, size_t need, size_t size, size_t min);

#define BASE_GROW(p, cap, need, min) \
	base_grow(&(p), &(cap), (need), sizeof(*(p)), (min))

#endif
