/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The dump: reads dm-cache metadata from a device and produces the emitter
 * events (cache/emit.h) that describe it, in order: the superblock, the
 * valid mappings with their dirty state, the hints of the valid mappings,
 * and the discard ranges when the superblock has a discard geometry.
 *
 * What is read: the superblock (validator, then every rule of
 * cache_sb_check), the mapping array, the v2 dirty bitset, the hint array
 * (when hint_root is not 0) and the discard bitset.  Everything is read and
 * checked before the first event, so without CACHE_DUMP_REPAIR a damaged
 * image produces no events at all, never a truncated dump.
 *
 * What is emitted is what the XML reader and the restore accept, so a dump
 * that succeeds can be restored to the same metadata: the hint width is 0
 * when there is no hint array (hint_root 0; the restore writes none for
 * 0), and a superblock whose block size is 0 or whose policy name has no
 * NUL within its 16 bytes, which no restore can write, is refused without
 * CACHE_DUMP_REPAIR, and so are mappings the restore refuses (an origin
 * block mapped twice, an origin past the discard geometry's extent: status
 * CACHE_DUMP_DAMAGED).  With it, all of these are repaired as described at
 * enum cache_dump_fix and res.fixed says which were.
 *
 * With CACHE_DUMP_REPAIR, damage in the arrays and bitsets is skipped:
 * mappings and hints in lost index ranges are left out, discard bits that
 * cannot be read count as not discarded, and v2 dirty bits that cannot be
 * read count as dirty (a wrongly dirty block costs a copy; a wrongly clean
 * one loses data).  A superblock that fails its validator, or has a
 * version other than 1 or 2, or claims more cache blocks than the device
 * could hold, is fatal in both modes: nothing it points to can be trusted.
 *
 * Typical use:
 *
 *	struct cache_dump_result res;
 *	struct cache_dump_opts o = { .flags = CACHE_DUMP_REPAIR };
 *	r = cache_dump(io, &o, &emitter, &res);
 *	if (r < 0)
 *		(res.status says why; print it)
 *
 * Memory: the mapping and hint arrays are held in memory (8 + hint width
 * bytes per cache block), bounded by what the device can hold.  Never
 * prints.
 */
#ifndef CACHE_DUMP_H
#define CACHE_DUMP_H

#include <stdint.h>

#include "cache/emit.h"
#include "cache/format.h"
#include "pdata/bm.h"
#include "pdata/io.h"

struct cache_dump_result;

enum cache_dump_flags {
	/* Skip damaged ranges and emit what can be read. */
	CACHE_DUMP_REPAIR = 1 << 0,
};

struct cache_dump_opts {
	unsigned flags;		/* enum cache_dump_flags */
	/*
	 * Called once, after everything was read and checked and just before
	 * the first event: a tool creates or truncates its output file here,
	 * so a dump that fails leaves an existing file untouched.  A non-zero
	 * return stops the dump (status CACHE_DUMP_ERROR).  May be NULL.
	 */
	int (*before_emit)(void *ctx, const struct cache_dump_result *res);
	void *ctx;
};

/*
 * Superblock fields a repair dump changes so that its XML can be restored
 * (res.fixed; res.sb keeps what the disk says).
 */
enum cache_dump_fix {
	/*
	 * data_block_size 0: printed as CACHE_DUMP_GUESS_BLOCK_SIZE.  Nothing
	 * else records it; the kernel refuses metadata whose block size
	 * differs from its table's, so a wrong guess stops activation and
	 * never misplaces data.
	 */
	CACHE_DUMP_FIX_BLOCK_SIZE = 1 << 0,
	/* A policy name with no NUL in 16 bytes: its first 15 printed. */
	CACHE_DUMP_FIX_POLICY = 1 << 1,
	/*
	 * A hint width that is not 0 or 4..128 in steps of 4: its hints are
	 * dropped and the width is printed as 0 (no hints).
	 */
	CACHE_DUMP_FIX_HINT_WIDTH = 1 << 2,
	/*
	 * Origin blocks mapped twice (the restore refuses them): one mapping
	 * kept per origin, the dirty one, else the lower cache block, as
	 * cache_repair decides; res.nr_duplicates were left out.
	 */
	CACHE_DUMP_FIX_DUPLICATES = 1 << 3,
	/*
	 * A mapping past the origin size the discard geometry gives (the
	 * kernel and the restore refuse it): the mappings win, they may be
	 * dirty; <discards> is left out (res.lost_discards).
	 */
	CACHE_DUMP_FIX_DISCARDS = 1 << 4,
};

/* 64 KiB in sectors: LVM's default cache chunk size. */
#define CACHE_DUMP_GUESS_BLOCK_SIZE 128u

enum cache_dump_status {
	CACHE_DUMP_OK = 0,
	CACHE_DUMP_SB_UNREADABLE,	/* block 0 could not be read: res.err */
	CACHE_DUMP_SB_ZEROED,		/* block 0 is all zeroes */
	CACHE_DUMP_SB_NOT_CACHE,	/* wrong magic: res.sb.magic */
	CACHE_DUMP_SB_LOCATION,		/* self block number is not 0 */
	CACHE_DUMP_SB_CSUM,		/* res.fault has the checksums */
	CACHE_DUMP_SB_VERSION,		/* res.sb.version not 1 or 2 */
	CACHE_DUMP_SB_GEOMETRY,		/* cache_blocks cannot fit the device */
	CACHE_DUMP_SB_INVALID,		/* another rule: res.violation */
	CACHE_DUMP_DAMAGED,		/* structure damage: res.structure */
	CACHE_DUMP_ERROR,		/* -ENOMEM, or an emitter's error: res.err */
};

struct cache_dump_result {
	enum cache_dump_status status;
	int err;			/* the errno behind status, negative */
	int have_sb;			/* sb below was read (may be invalid) */
	struct cache_sb sb;
	struct cache_sb_violation violation;	/* first, for SB_INVALID */
	/*
	 * Superblock rules broken in ways that do not change how it is read
	 * (unknown flag bits, compat flags, metadata_block_size ...): the dump
	 * goes on; cache_check reports them.
	 */
	uint64_t nr_sb_notes;
	struct cache_sb_violation sb_note;	/* the first */
	/* The first damage seen: which structure, and the block fault. */
	const char *structure;		/* "mapping array", "hint array", ... */
	struct pd_fault fault;
	uint64_t nr_damage;		/* damage reports, all structures */

	unsigned fixed;			/* enum cache_dump_fix (repair mode) */
	uint64_t nr_duplicates;		/* mappings left out, FIX_DUPLICATES */
	uint32_t hint_width;		/* as printed */

	/* What was emitted. */
	uint64_t nr_mappings;
	uint64_t nr_dirty;
	uint64_t nr_hints;
	uint64_t nr_discarded;		/* discard blocks set */

	/* What was lost (repair mode). */
	uint64_t lost_mappings;		/* cache blocks in lost ranges */
	uint64_t lost_hints;
	uint64_t lost_dirty;		/* v2 bits unreadable: reported dirty */
	uint64_t lost_discards;
};

/*
 * Dumps the metadata on io (opened read-only is enough: nothing is
 * written).  Returns 0, or a negative errno with res->status saying why:
 * -EIO/-ERANGE (superblock unreadable), -EILSEQ (superblock invalid),
 * -EUCLEAN (damage without CACHE_DUMP_REPAIR), or (status CACHE_DUMP_ERROR)
 * -ENOMEM or the error an emitter callback returned, e.g. -EPIPE.
 */
int cache_dump(struct pd_io *io, const struct cache_dump_opts *opts,
	       const struct cache_emitter *e, struct cache_dump_result *res);

/* Short text for a status: "superblock checksum is wrong", ... */
const char *cache_dump_status_name(enum cache_dump_status s);

#endif
