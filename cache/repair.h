/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cache_repair's engine: salvages what it can from damaged dm-cache
 * metadata into memory, then writes it as new metadata on another device
 * through the restore's write path (superblock last).
 *
 * Salvage works in layers, each used only where the one before failed:
 *
 *  0. Cross-check (repair_xcheck.c): the superblock's cache blocks, hint
 *     width, version and discard geometry are compared with what the
 *     structures at its roots record (the arrays' lengths, the hint
 *     array's value size, a dirty bitset of the cache's length at the
 *     dirty root, the discard bitset's length).  The structures win when
 *     they agree among themselves; a field nothing contradicts is kept;
 *     the report's why[] says which won and why.  A dirty bitset the space
 *     map counts but nothing references (a v2 cache labelled v1, a lost
 *     dirty root) is found and its bits kept, the output then being v2.
 *     The walk of the mappings needs only the cache-block count: a field
 *     that does not concern a structure never stops it being read.
 *  1. Walk: the superblock's roots are walked with the checking walkers;
 *     damaged subtrees and array blocks are skipped, everything else is
 *     taken as it is, dirty state included.
 *  2. Scan: when the superblock is not valid, or any mapping or hint index
 *     is still unknown after the walk, every block of the device is
 *     scanned (pdata/scan.h) for valid btree leaves whose values point at
 *     valid array blocks.  A leaf is classified by the array blocks it
 *     points at: value size = hint width (not 8): hint array; value size 8
 *     and every value a well-formed mapping: mapping array; otherwise a
 *     bitset.  Indices still unknown are filled from these.  Which version
 *     of a block wins (transaction order): when the on-disk space map can
 *     be read, only leaves and array blocks it counts as allocated are
 *     used, since blocks it counts as free are stale copies left behind by
 *     copy-on-write; without it every valid block is a candidate and,
 *     among candidates for one index, a non-zero block beats an all-zero
 *     one and then the higher block number wins.  Every mapping recovered
 *     by the scan is marked dirty: its block may be older than the last
 *     commit, so its dirty state cannot be trusted.
 *  3. Superblock: when block 0 fails its validator, the fields that still
 *     look plausible are used ("from the damaged superblock") and checked
 *     as in layer 0; the rest come from the options, from the scan (cache
 *     blocks from the mapping array's last block, version 1 when a mapping
 *     carries the v1 dirty flag) or from defaults (hint width 4), and the
 *     report says which.  The data block size cannot be guessed: without a
 *     plausible one in block 0 it must be given; nor can a cache-block
 *     count when no mapping array is found anywhere.
 *
 * Dirty state errs toward dirty: v2 dirty bits that cannot be read, scan
 * recovered mappings, and mappings with unknown flag bits are dirty.  When
 * the input was not shut down cleanly (or its flags are unknown) the
 * output is written without CLEAN_SHUTDOWN, as the kernel would see the
 * input, and every mapping is reported dirty.  Two cache blocks mapping
 * one origin block are never both written: the walked one beats a scanned
 * one, a dirty one a clean one, then the lower cache block wins.  When a
 * mapping lies past the end of the origin as the discard geometry gives
 * it, the geometry (a hint) is dropped, never the mapping.
 *
 * Typical use:
 *
 *	struct cache_salvage *s;
 *	r = cache_repair_salvage(in_io, &opts, &s);   (in opened read-only)
 *	if (r < 0) ... (nothing has touched the output)
 *	rep = cache_salvage_report(s);  ... print it
 *	r = cache_repair_write(s, out_io);
 *	cache_salvage_destroy(s);
 *
 * Memory: the salvaged arrays (8 + hint width bytes and a few bits per
 * cache block) plus the scan's index of leaves and array blocks, all
 * bounded by the metadata device's size.  Never prints.
 */
#ifndef CACHE_REPAIR_H
#define CACHE_REPAIR_H

#include <stddef.h>
#include <stdint.h>

#include "cache/emit.h"
#include "cache/format.h"
#include "pdata/bm.h"

struct pd_io;

/* What the user says about a superblock that may be unreadable. */
struct cache_repair_opts {
	unsigned flags;			/* none yet */
	/* Each value is used only when its have_ flag is set. */
	int have_block_size;
	uint32_t block_size;		/* sectors */
	int have_nr_cache_blocks;
	uint64_t nr_cache_blocks;
	int have_hint_width;
	uint32_t hint_width;
	int have_version;
	uint32_t version;
	const char *policy;		/* NULL = not given */
	/*
	 * Blocks of the output device (0: none, e.g. XML only).  The output
	 * must hold the arrays, so a superblock's cache-block count up to
	 * what it could hold is believable even on an input cut short.
	 */
	uint64_t out_blocks;
};

/* Where a superblock value came from. */
enum cache_repair_source {
	CACHE_FROM_SB,			/* a valid superblock */
	CACHE_FROM_DAMAGED_SB,		/* a plausible field of a bad one */
	CACHE_FROM_OPTION,		/* the command line */
	CACHE_FROM_SCAN,		/* what the scan found */
	CACHE_FROM_DEFAULT,		/* nothing better: a guess */
	CACHE_FROM_STRUCTURES,		/* the structures at the roots */
};

const char *cache_repair_source_name(enum cache_repair_source s);

enum cache_repair_sb_state {
	CACHE_REPAIR_SB_VALID,
	CACHE_REPAIR_SB_DAMAGED,	/* failed its validator or rules */
	CACHE_REPAIR_SB_ZEROED,		/* all zeroes */
	CACHE_REPAIR_SB_UNREADABLE,	/* the read failed */
};

enum cache_repair_field {
	CACHE_FIELD_VERSION,
	CACHE_FIELD_BLOCK_SIZE,
	CACHE_FIELD_NR_CACHE_BLOCKS,
	CACHE_FIELD_POLICY,
	CACHE_FIELD_HINT_WIDTH,
	CACHE_FIELD_FLAGS,
	CACHE_FIELD_DISCARDS,		/* discard block size and count */
	CACHE_NR_FIELDS
};

const char *cache_repair_field_name(enum cache_repair_field f);

struct cache_repair_report {
	enum cache_repair_sb_state sb_state;
	struct pd_fault sb_fault;	/* for SB_DAMAGED/UNREADABLE */
	struct cache_emit_sb sb;	/* what will be written */
	enum cache_repair_source source[CACHE_NR_FIELDS];
	uint32_t input_flags;		/* as read, when known */
	/*
	 * Why a field is what it is when the superblock and a structure
	 * disagreed (which won and what each said), else "".
	 */
	char why[CACHE_NR_FIELDS][160];
	enum cache_repair_field missing_field;	/* see cache_salvage_missing */
	uint64_t leaked_dirty_root;	/* dirty bitset found unreferenced */
	uint64_t leaked_dirty_bitsets;	/* ... how many (bits united) */

	int scanned;			/* layer 2 ran */
	uint64_t scan_leaves;		/* array-btree leaves found */
	uint64_t scan_arrays;		/* array blocks found */
	int space_map_used;		/* liveness came from the space map */
	uint64_t stale_ignored;		/* leaves/array blocks counted free */

	uint64_t nr_mappings;		/* written */
	uint64_t nr_dirty;
	uint64_t nr_hints;
	uint64_t nr_discarded;		/* discard blocks set */
	uint64_t mappings_walked;	/* of nr_mappings, from layer 1 */
	uint64_t mappings_scanned;	/* from layer 2 (all dirty) */
	uint64_t dirty_assumed;		/* dirty because the state was lost */
	uint64_t duplicates_dropped;	/* second mappings of an origin */
	uint64_t bad_flags;		/* mappings with unknown flag bits */
	uint64_t past_origin;		/* origin past the discard geometry */
	uint64_t discards_dropped;	/* ... so its discard blocks went */

	/* Cache-block indices whose mapping / hint could not be recovered. */
	uint64_t lost_mappings;
	uint64_t lost_hints;
	uint64_t lost_discards;		/* discard bits: written as clear */
	uint64_t walk_damage;		/* damage reports in layer 1 */
};

struct cache_salvage;

/*
 * Reads io (nothing is written to it) and salvages.  Returns 0, or
 * -EINVAL when a value the options must supply is missing: the block size
 * of an unusable superblock, or a cache-block count that neither the
 * superblock nor any structure gives (cache_salvage_missing() names the
 * option, the report's missing_field the field; *out is still set so the
 * caller can show the report), -ENOMEM, -EIO.
 */
int cache_repair_salvage(struct pd_io *io, const struct cache_repair_opts *o,
			 struct cache_salvage **out);

const struct cache_repair_report *
cache_salvage_report(const struct cache_salvage *s);

/* The field that was missing when salvage returned -EINVAL, or NULL. */
const char *cache_salvage_missing(const struct cache_salvage *s);

/*
 * Index ranges that could not be recovered.  which: 0 mappings, 1 hints.
 * Calls fn for each [begin, end) in order; stops at a non-zero return.
 */
int cache_salvage_lost_ranges(const struct cache_salvage *s, int which,
			      int (*fn)(void *ctx, uint64_t begin,
					uint64_t end),
			      void *ctx);

/* Produces the salvaged metadata as emitter events. */
int cache_salvage_emit(const struct cache_salvage *s,
		       const struct cache_emitter *e);

/*
 * Writes the salvaged metadata to out (opened for writing) with the
 * restore's write path (cache/restore.h): block 0 zeroed first, then
 * everything else, the superblock last, so a failure part-way leaves no
 * valid superblock.  On failure msg gets the restore's one-line reason
 * (e.g. how big the output must be), or "" when it has none.
 */
int cache_repair_write(const struct cache_salvage *s, struct pd_io *out,
		       char *msg, size_t msg_len);

/* Accepts NULL. */
void cache_salvage_destroy(struct cache_salvage *s);

#endif
