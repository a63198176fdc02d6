/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * thin_metadata_size's arithmetic, as 0.9.0 does it: the estimate is
 *
 *	1 + 2 * pool_sectors / block_sectors / 252 + max_thins
 *
 * 4 KiB blocks (integer divisions, in that order: 252 mappings per btree
 * node, doubled because nodes are not full on average, one block per thin
 * device), given out in any of 18 units.
 *
 * Units: one character of "bskKmMgGtTpPeEzZyY" or a prefix of its name
 * (bytes, sectors, kibibytes, kilobytes, ... yottabytes): lower case is
 * 1024-based, upper case 1000-based.  A size is decimal digits followed by
 * an optional unit; without one, block and pool sizes are in sectors and
 * the number of thins is a plain count (with one, a count in that unit's
 * bytes, as 0.9.0 reads "-m 1k" as 1024).  Unlike 0.9.0, sizes that do not
 * fit in 64 bits are refused rather than wrapped, and the zetta/yotta
 * factors, which 0.9.0 computes by overflowing, are exact.
 */
#ifndef THIN_METADATA_SIZE_H
#define THIN_METADATA_SIZE_H

#include <stdint.h>

#define THIN_MSIZE_NR_UNITS 18
#define THIN_MSIZE_SECTORS 1	/* the index of "sectors" */

/* The unit's index, or -1.  A NULL or empty string is -1. */
int thin_msize_unit(const char *s);
char thin_msize_unit_char(int idx);
const char *thin_msize_unit_name(int idx);
/* The unit's size in bytes, as a double (exact up to 2^53, then close). */
double thin_msize_unit_bytes(int idx);

/*
 * Parses a size: *value in sectors (as_count = 0) or as a count (as_count
 * = 1: a bare number, or number * unit bytes), *unit the index of the unit
 * given or -1, *digits the number of leading digits (the part 0.9.0
 * echoes).  -EINVAL: a unit that is not one; -ERANGE: past 64 bits.
 */
int thin_msize_parse(const char *s, int as_count, uint64_t *value, int *unit,
		     unsigned *digits);

/* The estimate in 4 KiB blocks (a double: 0.9.0's arithmetic). */
double thin_msize_estimate_blocks(uint64_t pool_sectors,
				  uint64_t block_sectors, uint64_t max_thins);

#endif
