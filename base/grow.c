// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * base_grow (grow.h): realloc by doubling, with the byte count checked.
 */
#include "base/grow.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int base_grow(void *pp, size_t *capp, size_t need, size_t size, size_t min)
{
	size_t cap = *capp;
	void *p, *q;

	if (need <= cap)
		return 0;
	if (!cap)
		cap = min ? min : 1;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	if (!size || cap > SIZE_MAX / size)
		return -ENOMEM;
	/* pp is the address of some T *: every object pointer has one form. */
	memcpy(&p, pp, sizeof(p));
	q = realloc(p, cap * size);
	if (!q)
		return -ENOMEM;
	memcpy(pp, &q, sizeof(q));
	*capp = cap;
	return 0;
}
