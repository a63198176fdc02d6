/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Inside cache_check's engine (cache/check.h is its interface): the state
 * the passes share and the helpers they report through.  check.c holds the
 * reporting, the reference counting, passes 1-5 and the driver; check_sm.c
 * pass 6 (the space map) and the only writes (leak repair, NEEDS_CHECK).
 * Nothing outside those two files includes this; ck_ marks its names.
 */
#ifndef CACHE_CHECK_INT_H
#define CACHE_CHECK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "base/bitmap.h"
#include "cache/check.h"
#include "cache/format.h"
#include "pdata/btree.h"
#include "pdata/ondisk.h"
#include "pdata/report.h"

struct pd_io;
struct pd_bm;
struct pd_fault;

/*
 * Origin blocks seen so far, to find one mapped twice.  Up to limit_bits a
 * bitmap that grows with the largest origin block seen; past it (a huge or
 * corrupt origin block) a list sorted at the end.  Both are bounded by
 * what the metadata holds, never by a number read from disk.
 */
struct far_origin {
	uint64_t oblock;
	uint64_t cblock;
};

struct origin_set {
	uint64_t *words;
	uint64_t nr_words;
	uint64_t limit_bits;
	struct far_origin *far;
	size_t nr_far, cap_far;
};

struct checker {
	struct pd_io *io;
	struct pd_bm *bm;
	const struct cache_check_opts *opts;
	const struct cache_check_sink *sink;
	struct cache_check_result *res;
	struct pd_report rep;		/* over res->counts and these */
	uint64_t pass_counts[CACHE_NR_PROBLEMS];
	int err;			/* -ENOMEM from a callback */

	unsigned char sb_raw[PD_BLOCK_SIZE];
	struct cache_sb sb;
	int sb_reported_nr_blocks;

	/* Expected reference count per metadata block (pass 6). */
	uint32_t *refs;
	uint64_t nr_refs;
	int refs_incomplete;

	/* Pass 2 results, used by pass 3. */
	int mappings_walked;
	struct base_bitmap mapped;	/* valid cblocks */
	struct base_bitmap map_lost;	/* cblocks whose entry is unknown */
	struct origin_set origins;
	uint64_t origin_blocks;		/* 0 = unknown */
	const char *structure;		/* for messages of the current walk */
	uint64_t damage_in_walk;
};

struct sm_result {
	uint32_t *counts;
	uint64_t nr_counts;
	struct base_bitmap unknown;
	struct base_bitmap leaks;	/* blocks to free */
	uint64_t nr_leaks;
	uint64_t in_use;		/* on-disk counts > 0 */
};

/* ---- reporting (check.c) ---- */

/* One finding: counted, and printed unless capped or a muted warning. */
__attribute__((format(printf, 3, 4)))
void ck_report(struct checker *c, enum cache_problem id, const char *fmt,
	       ...);
/* A progress line or a note ("examining space map"). */
void ck_pass(struct checker *c, const char *text);
/* What a write did ("cleared NEEDS_CHECK"). */
void ck_action(struct checker *c, const char *text);
/* A validator's record under its structure's name; lost is appended. */
void ck_report_fault(struct checker *c, const char *structure,
		     const struct pd_fault *f, const char *lost);
/* A walker's btree damage, as the problem ID it maps to. */
void ck_report_btree_damage(struct checker *c,
			    const struct pd_btree_damage *d,
			    uint64_t begin, uint64_t end, const char *unit);

/* ---- reference counting (check.c) ---- */

/* One pointer to block; 1 when the block was referenced before. */
int ck_ref_inc(struct checker *c, uint64_t block);
/*
 * Dirty bits of bitset words [index, index + nr), given as le64 bytes or
 * as words, that fall on mapped cache blocks of the cache's n.
 */
uint64_t ck_dirty_mapped(const struct checker *c, uint64_t n, uint64_t index,
			 unsigned nr, const unsigned char *le_words,
			 const uint64_t *words);

/* ---- pass 6 and the writes (check_sm.c) ---- */

int ck_pass_space_map(struct checker *c, struct sm_result *s);
void ck_sm_result_release(struct sm_result *s);
/*
 * With a writing flag and no fatal finding: frees the leaks (s may be
 * NULL) and clears NEEDS_CHECK, the superblock last.  0 or a negative
 * errno.
 */
int ck_write(struct checker *c, struct sm_result *s);

#endif
