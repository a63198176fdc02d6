/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What the passes of the thin repair share (thin/repair.h): the model of
 * the pool being rebuilt and the scan's findings.  repair.c walks from the
 * superblock, makes the model consistent and emits it; repair_scan.c scans
 * the device and rebuilds what the walk could not reach.
 */
#ifndef THIN_REPAIR_INT_H
#define THIN_REPAIR_INT_H

#include <stddef.h>
#include <stdint.h>

#include "pdata/bm.h"
#include "pdata/btree.h"
#include "thin/format.h"
#include "thin/repair.h"

/* Leaves may be under-full (the kernel's range removal leaves them so). */
#define REPAIR_WALK (PD_WALK_PREFETCH | PD_WALK_LEAF_UNDERFULL_OK)
/* Per-mapping notes past this many are counted, not listed. */
#define REPAIR_NOTE_LIMIT 20u
/*
 * At most this many older details or top-level trees are merged, or
 * orphan subtrees taken into one damaged range.
 */
#define REPAIR_MAX_MERGE 4096u

struct rmap {
	uint64_t v;
	uint64_t bt;		/* data block << 24 | time */
};

struct rrange {
	uint64_t begin, end;	/* virtual blocks [begin, end) */
};

/*
 * A device's mappings are not held in memory while a tree on the input
 * has them (lazy): they are read again, in key order, by each pass that
 * needs them (repair_each_map), so the model costs O(devices) and not
 * O(mappings), and a snapshot that shares its origin's root shares its
 * mappings for free.  Ranges patched in from other trees are held (the
 * extra mappings); a device is held whole only when a patch would give a
 * key twice (repair_materialise).  The layer-4 drops are exclusions:
 * ordinals in the device's mapping order.
 */
struct rdev {
	uint64_t id;
	int have_details, have_root;
	struct thin_details details;
	uint64_t root;
	int lazy;		/* the mappings are root's tree's, not maps */
	/*
	 * When !lazy: the mappings, increasing v.  When lazy: the first
	 * nr_extra are mappings from other trees (patched ranges), increasing
	 * v and at no key the tree has, merged in wherever the tree is read.
	 */
	struct rmap *maps;
	size_t nr, cap;		/* nr: mappings (before exclusions) */
	size_t nr_extra;
	/* The newest time and highest data block in the mappings (when nr). */
	uint32_t max_time;
	uint64_t max_block;
	struct rrange *dmg;	/* damaged ranges of the current tree */
	size_t nr_dmg, cap_dmg;
	uint64_t *excl;		/* dropped: ordinals of mappings, rising */
	size_t nr_excl, cap_excl;
};

enum cand_kind { CAND_UNKNOWN, CAND_MAP, CAND_TOP, CAND_DETAILS, CAND_OTHER };

/* An unreferenced btree node found by the scan: the root of some tree. */
struct cand {
	uint64_t block;
	enum cand_kind kind;
	uint64_t nr;		/* entries read */
	uint32_t max_time;	/* mapping trees: the newest mapping */
	uint64_t kmin, kmax;	/* mapping trees: first and last key */
	uint64_t max_tid;	/* details trees: the newest transaction */
	int damaged;
	int used;		/* a recovered device's root (or the sb's) */
	/*
	 * Reachable from a superblock copy (a metadata snapshot's, held or
	 * released): the pool as it was then, older than the current one.
	 */
	int held;
	/*
	 * The current superblock's metadata space map counts the root: 1 in
	 * use (the current pool's, or a snapshot's), -1 free (a previous
	 * transaction's, left behind), 0 not known.
	 */
	int live;
	long score;		/* agreement with the devices known (rebuild) */
};

/* A superblock copy the scan found (reserve_metadata_snap writes one). */
struct sbcopy {
	uint64_t block;
	struct thin_sb sb;
};

struct thin_repair {
	struct pd_io *io;
	struct pd_bm *bm;
	struct thin_repair_opts o;
	uint64_t nr_blocks;

	int sb_ok;
	struct thin_sb sb;
	int details_clean, top_clean, trees_damaged;

	struct rdev *devs;	/* increasing id */
	size_t nr_devs, cap_devs;

	/* The scan. */
	int scanned;
	uint8_t *node;		/* per block: enum node_kind (repair_scan.c) */
	uint8_t *refd;		/* per block: an internal node points here */
	struct cand *cands;
	size_t nr_cands, cap_cands;
	uint64_t ev_map_leaves;	/* non-empty 8-byte leaves found */
	uint64_t ev_details;	/* details entries seen anywhere */
	uint64_t ev_claimed;	/* mapped_blocks claimed by details seen */
	struct sbcopy *copies;	/* increasing block */
	size_t nr_copies, cap_copies;
	uint64_t *sm_index;	/* metadata space-map index blocks found */
	size_t nr_sm_index, cap_sm_index;

	/* Chosen superblock values. */
	uint64_t trans_id;
	uint32_t time;
	uint32_t data_block_size;
	uint64_t nr_data_blocks;
	uint64_t nr_mappings;

	/*
	 * The one-owner rule's first pass, done by the walk from the
	 * superblock (repair.c); dropped when the scan changes the model.
	 */
	struct owner_pass *early;

	char *msg;
	size_t msg_len;
};

void repair_note(struct thin_repair *rp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int repair_fail(struct thin_repair *rp, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct rdev *repair_find_dev(struct thin_repair *rp, uint64_t id);
/* Finds or inserts (keeping the order); NULL when out of memory. */
struct rdev *repair_get_dev(struct thin_repair *rp, uint64_t id);
int repair_add_map(struct rdev *d, uint64_t v, uint64_t bt);
/* A lazy device's mappings read into maps (not lazy from then on). */
int repair_materialise(struct thin_repair *rp, struct rdev *d);
/*
 * Each of d's mappings not excluded, in order: idx is its ordinal, leaf
 * the mapping leaf it is read from (UINT64_MAX when held in memory).  A
 * non-zero return from fn stops the walk and is returned.
 */
typedef int (*repair_map_fn)(void *ctx, uint64_t leaf, uint64_t idx,
			     uint64_t v, uint64_t bt);
int repair_each_map(struct thin_repair *rp, const struct rdev *d,
		    repair_map_fn fn, void *ctx);
/* d becomes lazy over root: counted and its damage recorded (d->dmg). */
int repair_walk_lazy(struct thin_repair *rp, struct rdev *d, uint64_t root);

/* What a walk of a mapping tree saw (within the keys asked for). */
struct map_stats {
	uint64_t nr;
	uint32_t max_time;
	uint64_t kmin, kmax;	/* first and last key, when nr */
	uint64_t max_block;
	int damaged;		/* a damaged range meets the keys asked for */
};

/*
 * Walks a mapping tree.  Into d (may be NULL: statistics only), only keys
 * in [lo, hi); damaged ranges go to d->dmg when record_dmg is set.  st may
 * be NULL.
 */
int repair_walk_map(struct thin_repair *rp, uint64_t root, struct rdev *d,
		    uint64_t lo, uint64_t hi, int record_dmg,
		    struct map_stats *st);

/* repair_scan.c: layers 2 and 3.  0 or a negative errno (msg set). */
int repair_scan(struct thin_repair *rp);
int repair_rebuild(struct thin_repair *rp);
/* The scan's candidate rooted at block, or NULL. */
struct cand *repair_find_cand(struct thin_repair *rp, uint64_t block);
/* qsort orders: struct rmap by v; struct cand * newest, largest first. */
int repair_by_v(const void *a, const void *b);
int repair_by_rank(const void *a, const void *b);
/* A walk callback's "found": stops the walk (not an error). */
#define COMMON_FOUND 1
/* Whether tree `root` holds at least one of d's own mappings. */
int repair_shares_with(struct thin_repair *rp, uint64_t root,
		       const struct rdev *d, int *out);

/* repair_patch.c: d's damaged ranges filled (layer 3, last). */
int repair_patch_device(struct thin_repair *rp, struct rdev *d);

#endif
