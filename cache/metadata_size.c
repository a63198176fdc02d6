// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Metadata device sizes: the reference tools' conservative formula, an
 * exact count of what a fresh restore allocates, and the size strings and
 * output units of the 1.x tools.  See metadata_size.h.
 *
 * Arithmetic is done in 128 bits where a product of user input could pass
 * 64 bits, so that a huge --nr-blocks is an error and never a wrapped,
 * plausible-looking answer (0.9.0 prints 72057594037936126 sectors for
 * 2^64 - 1 blocks).
 */
#include <errno.h>
#include <string.h>

#include "cache/metadata_size.h"
#include "pdata/ondisk.h"

typedef unsigned __int128 u128;

#define SECTOR_BYTES 512u

/* What the formula charges per mapping: a le64 key and a le64 value. */
#define MAPPING_BYTES 16u
/* What it charges per hint on top of the hint itself: the key. */
#define HINT_KEY_BYTES 8u

int cache_msize_conservative(uint64_t nr_blocks, uint32_t hint_width,
			     uint64_t *sectors)
{
	/* Each floor is taken on its own, as the reference does. */
	u128 mappings = (u128)nr_blocks * MAPPING_BYTES / SECTOR_BYTES;
	u128 hints = (u128)nr_blocks * ((u128)hint_width + HINT_KEY_BYTES) /
		     SECTOR_BYTES;
	u128 total = CACHE_MSIZE_OVERHEAD_SECTORS + mappings + hints;

	if (total > UINT64_MAX)
		return -ERANGE;
	*sectors = (uint64_t)total;
	return 0;
}

static uint64_t div_up(uint64_t n, uint64_t d)
{
	return n / d + (n % d != 0);
}

uint64_t cache_msize_btree_nodes(uint64_t nr_keys, uint32_t max_entries)
{
	uint64_t total = 0, level = nr_keys;

	/* An empty tree is still one (empty) root leaf. */
	if (!nr_keys || !max_entries)
		return 1;
	/*
	 * Bottom-up: each level holds ceil(below / max) nodes, up to the
	 * single root.  Terminates because max_entries >= 2 shrinks every
	 * level; a max of 1 would never reach a root, so it counts as 2.
	 */
	if (max_entries < 2)
		max_entries = 2;
	do {
		level = div_up(level, max_entries);
		total += level;
	} while (level > 1);
	return total;
}

uint64_t cache_msize_array_blocks(uint64_t nr_entries, uint32_t value_size)
{
	uint64_t per, blocks;

	if (!value_size)
		return 0;
	per = pd_array_entries_per_block(value_size);
	blocks = div_up(nr_entries, per);
	return blocks + cache_msize_btree_nodes(blocks, pd_btree_max_entries(8));
}

int cache_msize_exact(const struct cache_msize_layout *l,
		      struct cache_msize_exact *out)
{
	uint64_t structures, bitmaps, prev, total;

	if (l->version < 1 || l->version > 2 || l->hint_width > 128 ||
	    l->nr_cache_blocks > CACHE_MSIZE_MAX_NR_BLOCKS)
		return -EINVAL;

	memset(out, 0, sizeof(*out));
	out->superblock = 1;
	out->mapping = cache_msize_array_blocks(l->nr_cache_blocks, 8);
	/* Width 0: no hint array at all (hint_root 0). */
	out->hints = l->hint_width ?
		cache_msize_array_blocks(l->nr_cache_blocks, l->hint_width) : 0;
	out->discard = cache_msize_array_blocks(div_up(l->discard_nr_blocks, 64),
						8);
	if (l->version >= 2)
		out->dirty = cache_msize_array_blocks(
			div_up(l->nr_cache_blocks, 64), 8);
	structures = out->superblock + out->mapping + out->hints +
		     out->discard + out->dirty;

	/*
	 * The space map covers the whole device, so on the smallest device
	 * that fits, its bitmap count depends on the total it is part of.
	 * Iterate to the fixed point; each round can only add bitmaps, and a
	 * bitmap covers 16320 blocks, so this settles in two or three rounds.
	 */
	bitmaps = 1;
	do {
		prev = bitmaps;
		/* + the index block and the overflow btree's empty root. */
		total = structures + 2 + bitmaps;
		bitmaps = div_up(total, PD_SM_ENTRIES_PER_BITMAP);
		if (!bitmaps)
			bitmaps = 1;
	} while (bitmaps != prev);

	out->space_map = 2 + bitmaps;
	out->total = total;
	out->fits = total <= PD_SM_MAX_METADATA_BLOCKS;
	return 0;
}

/* ---- size strings and units ---- */

/*
 * The 1.x tools' unit table.  Lower-case letters are binary, upper-case
 * decimal: that is their convention, kept so that scripts written for them
 * mean the same thing here.
 */
static const struct {
	const char *letter;
	const char *short_name;
	struct cache_size_unit unit;
} units[] = {
	{ "b", "B", { "byte", 1ull } },
	{ "s", NULL, { "sector", 512ull } },
	{ "k", "KiB", { "kibibyte", 1ull << 10 } },
	{ "m", "MiB", { "mebibyte", 1ull << 20 } },
	{ "g", "GiB", { "gibibyte", 1ull << 30 } },
	{ "t", "TiB", { "tebibyte", 1ull << 40 } },
	{ "p", "PiB", { "pebibyte", 1ull << 50 } },
	{ "e", "EiB", { "exbibyte", 1ull << 60 } },
	{ "K", "kB", { "kilobyte", 1000ull } },
	{ "M", "MB", { "megabyte", 1000000ull } },
	{ "G", "GB", { "gigabyte", 1000000000ull } },
	{ "T", "TB", { "terabyte", 1000000000000ull } },
	{ "P", "PB", { "petabyte", 1000000000000000ull } },
	{ "E", "EB", { "exabyte", 1000000000000000000ull } },
};

int cache_size_unit_parse(const char *s, const struct cache_size_unit **out)
{
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!strcmp(s, units[i].letter) ||
		    (units[i].short_name && !strcmp(s, units[i].short_name)) ||
		    !strcmp(s, units[i].unit.name)) {
			*out = &units[i].unit;
			return 0;
		}
	}
	return -EINVAL;
}

/* Parses the leading digits; *end points past them. */
static int parse_digits(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p == '+')
		p++;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	*end = p;
	return 0;
}

int cache_size_parse_u64(const char *s, uint64_t *out)
{
	const char *end;
	int r = parse_digits(s, out, &end);

	if (r < 0)
		return r;
	return *end ? -EINVAL : 0;
}

int cache_size_parse(const char *s, uint64_t default_unit_bytes,
		     uint64_t *bytes)
{
	const struct cache_size_unit *u;
	uint64_t n, mult = default_unit_bytes;
	const char *end;
	u128 v;
	int r;

	r = parse_digits(s, &n, &end);
	if (r < 0)
		return r;
	if (*end) {
		r = cache_size_unit_parse(end, &u);
		if (r < 0)
			return r;
		mult = u->bytes;
	}
	v = (u128)n * mult;
	if (v > UINT64_MAX)
		return -ERANGE;
	*bytes = (uint64_t)v;
	return 0;
}

const char *cache_block_size_problem(uint64_t sectors)
{
	/* 0 and every size below the minimum fail the multiple rule too. */
	if (!sectors || sectors % CACHE_MIN_BLOCK_SECTORS)
		return "block size must be a multiple of 32 KiB";
	if (sectors > CACHE_MAX_BLOCK_SECTORS)
		return "maximum block size is 1 GiB";
	return NULL;
}

void cache_size_in_unit(uint64_t sectors, const struct cache_size_unit *unit,
			uint64_t *whole, unsigned *hundredths, int *exact)
{
	u128 bytes = (u128)sectors * SECTOR_BYTES;
	u128 w = bytes / unit->bytes, rem = bytes % unit->bytes;
	/* Hundredths rounded up: a device sized from this is never short. */
	u128 h = (rem * 100 + unit->bytes - 1) / unit->bytes;

	if (h == 100) {
		w++;
		h = 0;
	}
	/* Only a byte count of a huge sector count gets here. */
	*whole = w > UINT64_MAX ? UINT64_MAX : (uint64_t)w;
	*hundredths = (unsigned)h;
	*exact = rem == 0;
}
