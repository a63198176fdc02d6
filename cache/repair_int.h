/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Private to cache/repair*.c: the salvage's state, shared by the salvage
 * itself (repair.c: walk, scan, final pass, output) and the cross-check of
 * the superblock's fields against the structures (repair_xcheck.c).  Not a
 * public header: nothing outside cache/repair*.c includes it.
 */
#ifndef CACHE_REPAIR_INT_H
#define CACHE_REPAIR_INT_H

#include <stdint.h>

#include "base/bitmap.h"
#include "cache/repair.h"
#include "pdata/bm.h"
#include "pdata/sm.h"

#define MAP_PER_BLOCK 509u	/* pd_array_entries_per_block(8) */

struct scan_array;
struct scan_entry;

struct cache_salvage {
	struct cache_repair_report rep;
	const char *missing;

	uint64_t dev_blocks;
	uint64_t nr;		/* cache blocks */
	uint32_t width;		/* hint width, 0 = none */
	uint32_t version;

	uint64_t *map;		/* raw values, nr */
	unsigned char *hints;	/* nr * width */
	struct base_bitmap known;	/* mapping value read */
	struct base_bitmap scanned;	/* ... by the scan */
	struct base_bitmap dirty;	/* final dirty bit */
	struct base_bitmap force_dirty;	/* dirty state unknown */
	struct base_bitmap hint_known;
	struct base_bitmap discards;	/* discard_nr_blocks bits */
	struct base_bitmap refd;	/* blocks the walks reached */
	int dirty_read;			/* a dirty bitset was read */

	struct scan_array *arrays;
	size_t nr_arrays, cap_arrays;
	struct scan_entry *entries;
	size_t nr_entries, cap_entries;
	struct base_bitmap live;	/* from the on-disk space map */
	int have_live;
};

/*
 * The superblock's values as decided before the walk: options first, then
 * a valid superblock, then a plausible field of a damaged one, then the
 * structures where they contradict it (repair_cross_check).  Cache blocks,
 * hint width and version may still be left to the scan (have_* clear).
 */
struct decided {
	int have_nr, have_width, have_version;
	int use_roots;		/* the superblock's roots are worth walking */
	uint64_t mapping_root, hint_root, dirty_root, discard_root;
	struct pd_sm_root_cpu sm_root;
	/* The superblock's own values, plausible or not (have_sb). */
	int have_sb;
	uint64_t sb_nr;
	uint32_t sb_width, sb_version;
};

static inline uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

static inline int root_usable(const struct cache_salvage *s,
				     uint64_t root)
{
	return root != 0 && root < s->dev_blocks;
}

static inline void set_source(struct cache_salvage *s,
				     enum cache_repair_field f,
				     enum cache_repair_source src)
{
	s->rep.source[f] = src;
}

/*
 * Checks the superblock's cache blocks, hint width, version and discard
 * geometry against what the structures at its roots record (their
 * lengths, value sizes, the presence of a dirty bitset) and lets the
 * structures win where they agree among themselves; sets s->nr, s->width,
 * s->version, the report's sources and reasons, and d's have_* flags.
 * Options are never overridden.  Reads only; 0 or -ENOMEM.
 */
int repair_cross_check(struct cache_salvage *s, struct pd_bm *bm,
		       const struct cache_repair_opts *o, struct decided *d);

/*
 * After the mapping walk, for a version nothing has settled (implausible
 * in the superblock, or 2 without a dirty root): mappings that carry the
 * v1 dirty flag make it version 1.  Otherwise an unsettled version becomes
 * the default, 2.
 */
void repair_version_from_mappings(struct cache_salvage *s,
				  const struct cache_repair_opts *o,
				  struct decided *d);

/*
 * No dirty bitset was read from a root (version 1, or version 2 whose
 * dirty root is lost): blocks the space map counts as allocated that no
 * structure references are tried as the root of a dirty bitset of the
 * cache's length.  One found is read into s->dirty (bits lost in it go to
 * force_dirty) and the version becomes 2.  0 or -ENOMEM.
 */
int repair_find_leaked_dirty(struct cache_salvage *s, struct pd_bm *bm,
			     const struct cache_repair_opts *o,
			     const struct decided *d);

#endif
