/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Freeing leaked blocks of a thin pool's two space maps in one
 * transaction, as the kernel commits: thin_check's --auto-repair and
 * --clear-needs-check-flag (what LVM runs on every activation).
 *
 * Nothing the old superblock reaches is written in place.  Each data
 * bitmap with a leak is copied to a new block with the leaks zeroed (and a
 * count of 3 or more dropped from the data map's overflow tree), its index
 * entry rewritten in the index btree (shadowed), the old bitmap released;
 * the metadata map's leaked counts are dropped to 0; then pd_tm_commit
 * writes the metadata space map anew into free blocks, flushes, and only
 * then the superblock: new roots for both maps, the flags given, every
 * other byte as it was.  A crash or a torn write before the superblock
 * leaves the old metadata whole.
 *
 * The caller has proved the leaks: counted on disk, referenced by nothing,
 * every structure walked whole, and no fatal finding.  Nothing here prints.
 */
#ifndef THIN_LEAKS_H
#define THIN_LEAKS_H

#include <stdint.h>

#include "base/bitmap.h"
#include "thin/format.h"

struct pd_bm;

struct thin_leaks {
	const struct thin_sb *sb;
	const void *sb_raw;		/* block 0 as read */
	uint32_t flags;			/* the superblock's flags to write */
	/* Blocks the on-disk maps count above 0 (nr_allocated's truth). */
	uint64_t meta_in_use, data_in_use;
	/* The leaks to free; either may be NULL. */
	const struct base_bitmap *meta_leaks, *data_leaks;
	/* Out: what was freed. */
	uint64_t meta_freed, data_freed;
};

/*
 * 0 when committed; -ENOSPC when no free metadata block was left to write
 * into (nothing was written: the caller may still rewrite the flags);
 * -EUCLEAN when a map could not be opened as the check saw it; I/O errors.
 * After any other error blocks may have been written, but never one the
 * old superblock reaches.
 */
int thin_free_leaks(struct pd_bm *bm, struct thin_leaks *l);

#endif
