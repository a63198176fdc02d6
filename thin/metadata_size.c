// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * thin_metadata_size's arithmetic (metadata_size.h): the unit table, size
 * strings, and 0.9.0's estimate.
 */
#include "thin/metadata_size.h"

#include <errno.h>
#include <string.h>

static const char unit_chars[] = "bskKmMgGtTpPeEzZyY";
static const char *const unit_names[THIN_MSIZE_NR_UNITS] = {
	"bytes", "sectors", "kibibytes", "kilobytes", "mebibytes",
	"megabytes", "gibibytes", "gigabytes", "tebibytes", "terabytes",
	"pebibytes", "petabytes", "ebibytes", "exabytes", "zebibytes",
	"zetabytes", "yobibytes", "yottabytes",
};

_Static_assert(sizeof(unit_chars) - 1 == THIN_MSIZE_NR_UNITS, "unit table");

int thin_msize_unit(const char *s)
{
	size_t len;

	if (!s || !*s)
		return -1;
	len = strlen(s);
	if (len == 1) {
		const char *o = strchr(unit_chars, *s);

		return o ? (int)(o - unit_chars) : -1;
	}
	/* A prefix of a name, the first that fits. */
	for (int i = 0; i < THIN_MSIZE_NR_UNITS; i++)
		if (!strncmp(unit_names[i], s, len))
			return i;
	return -1;
}

char thin_msize_unit_char(int idx)
{
	return idx >= 0 && idx < THIN_MSIZE_NR_UNITS ? unit_chars[idx] : '?';
}

const char *thin_msize_unit_name(int idx)
{
	return idx >= 0 && idx < THIN_MSIZE_NR_UNITS ? unit_names[idx] : "?";
}

double thin_msize_unit_bytes(int idx)
{
	double f;

	if (idx <= 0)
		return 1;
	if (idx == THIN_MSIZE_SECTORS)
		return 512;
	/* kibi (2), kilo (3), then each pair a factor of 1024 / 1000 up. */
	f = 1;
	for (int i = 2 + (idx % 2); i <= idx; i += 2)
		f *= idx % 2 ? 1000 : 1024;
	return f;
}

/* The exact factor in bytes, or 0 when it does not fit in 64 bits. */
static uint64_t unit_bytes_u64(int idx)
{
	uint64_t f = 1, step = idx % 2 ? 1000 : 1024;

	if (idx <= 0)
		return 1;
	if (idx == THIN_MSIZE_SECTORS)
		return 512;
	for (int i = 2 + (idx % 2); i <= idx; i += 2) {
		if (f > UINT64_MAX / step)
			return 0;
		f *= step;
	}
	return f;
}

int thin_msize_parse(const char *s, int as_count, uint64_t *value, int *unit,
		     unsigned *digits)
{
	uint64_t n = 0, f, bytes;
	size_t nd = strspn(s, "0123456789");
	int idx = -1;

	for (size_t i = 0; i < nd; i++) {
		if (n > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		n = n * 10 + (uint64_t)(s[i] - '0');
	}
	if (s[nd]) {
		idx = thin_msize_unit(s + nd);
		if (idx < 0)
			return -EINVAL;
	}
	*unit = idx;
	*digits = (unsigned)nd;
	if (idx < 0) {
		/* A bare number: sectors, or a count. */
		*value = n;
		return 0;
	}
	f = unit_bytes_u64(idx);
	if (!f || (n && f > UINT64_MAX / n))
		return -ERANGE;
	bytes = n * f;
	*value = as_count ? bytes : bytes / 512;
	return 0;
}

double thin_msize_estimate_blocks(uint64_t pool_sectors,
				  uint64_t block_sectors, uint64_t max_thins)
{
	/* (4096 - 64) / 16: 0.9.0's entries per btree node. */
	const uint64_t per_node = 252;
	uint64_t nodes = (pool_sectors > UINT64_MAX / 2 ?
				  pool_sectors / block_sectors * 2 :
				  2 * pool_sectors / block_sectors) / per_node;

	if (max_thins > UINT64_MAX - nodes)
		return 1.0 + (double)nodes + (double)max_thins;
	return 1.0 + (double)(nodes + max_thins);
}
