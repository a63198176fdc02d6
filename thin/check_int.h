/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Inside thin_check's engine (thin/check.h is its interface): the state the
 * passes share and the helpers they report through.  check.c holds the
 * table of passes, pass 1 (the superblock) and the driver;
 * check_report.c the problem table and every way a finding is worded;
 * check_trees.c passes 2-5 (details, the top level, each device's tree, a
 * held metadata snapshot) and the reference counting they do;
 * check_par.c pass 4's leaves on a second thread when it can;
 * check_sm.c passes 6 and 7 (the two space maps against those counts) and
 * the only writes (leak repair, NEEDS_CHECK).  Nothing outside these five
 * files includes this; tc_ marks its names.
 */
#ifndef THIN_CHECK_INT_H
#define THIN_CHECK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "base/bitmap.h"
#include "base/refcount.h"
#include "pdata/bm.h"
#include "pdata/btree.h"
#include "pdata/ondisk.h"
#include "pdata/report.h"
#include "thin/check.h"
#include "thin/format.h"

#define MEMO_UNKNOWN UINT64_MAX
/*
 * Every thin tree: leaves may be under a third full, as range removal in
 * the kernel leaves them (pdata/btree.h); internal nodes may not.
 */
#define THIN_WALK (PD_WALK_PREFETCH | PD_WALK_LEAF_UNDERFULL_OK)

struct device {
	uint64_t id;
	uint64_t root;
	int have_details, have_root;
	struct thin_details details;
};

struct dev_list {
	struct device *v;
	size_t n, cap;
};

/* A subtree being walked: the mappings under it so far. */
struct total {
	uint64_t block;
	uint64_t n;
	int ok;
};

struct checker {
	struct pd_io *io;
	struct pd_bm *bm;
	const struct thin_check_opts *opts;
	const struct thin_check_sink *sink;
	struct thin_check_result *res;
	struct pd_report rep;		/* over res->counts and these */
	uint64_t pass_counts[THIN_NR_PROBLEMS];

	unsigned char sb_raw[PD_BLOCK_SIZE];
	struct thin_sb sb;
	int sb_reported_nr_blocks;
	unsigned bad_roots;

	/* Expected metadata reference count per block (pass 7). */
	struct base_refcount mrefs;
	uint64_t nr_mrefs;
	int mrefs_incomplete;
	/* Expected data reference count per data block (pass 6). */
	struct base_refcount drefs;
	uint64_t nr_drefs;
	int drefs_incomplete;
	/* Counted without chunk flags (base_refcount_inc_dense): set them. */
	int drefs_dense;
	int nomem;			/* a count could not be kept */

	/* Nodes walked, across every tree; totals per node (pass 4). */
	struct base_bitmap seen;
	uint64_t *memo;
	struct total totals[PD_BTREE_MAX_DEPTH + 2];
	unsigned nt;

	struct dev_list details;	/* pass 2 */
	struct dev_list top;		/* pass 3 */
	int collect;			/* leaves go to the lists */

	/* What the space-map passes leave for the leak repair. */
	struct base_bitmap data_leaks, meta_leaks;
	uint64_t data_in_use, meta_in_use;
	int data_sm_read, meta_sm_read;

	const char *structure;		/* for messages */
	uint64_t cur_dev;
	uint32_t pool_time;
	int check_times;
};

enum {
	ROOT_MAPPING = 1, ROOT_DETAILS = 2, ROOT_DATA_SM = 4, ROOT_META_SM = 8,
	ROOT_HELD = 16, SB_UNUSABLE = 32,
};

struct sb_state {
	struct checker *c;
	const char *name;	/* "superblock", "metadata snapshot" */
	unsigned bad;
};

/* check_report.c */
__attribute__((format(printf, 3, 4)))
void tc_report(struct checker *c, enum thin_problem id, const char *fmt, ...);
/* Reports the findings over the per-pass limit, and starts a new pass. */
void tc_end_pass(struct checker *c);
void tc_pass(struct checker *c, const char *text);
void tc_action(struct checker *c, const char *text);
const char *tc_where(struct checker *c, char *buf, size_t len);
void tc_report_fault(struct checker *c, const struct pd_fault *f,
		     const char *lost);
/* pd_report's callbacks and severity table (rep.ctx is the sink). */
extern const unsigned char tc_problem_is_fatal[THIN_NR_PROBLEMS];
void tc_emit(void *ctx, unsigned id, int fatal, const char *msg);
void tc_emit_more(void *ctx, unsigned id, int fatal, uint64_t n);
void tc_report_btree_damage(struct checker *c, const struct pd_btree_damage *d,
			    const char *unit);

/* check.c: pass 1's judgement of a superblock (or its held copy). */
int tc_sb_violation(void *ctx, const struct thin_sb_violation *v);

/* check_trees.c */
void tc_mref_inc(struct checker *c, uint64_t block);
void tc_totals_reset(struct checker *c);
int tc_walk_details(struct checker *c, uint64_t root, int collect);
int tc_walk_top(struct checker *c, uint64_t root);
void tc_check_details(struct checker *c);
void tc_match_devices(struct checker *c, int details_whole, int top_whole);
int tc_pass_devices(struct checker *c, int compare);
/*
 * Counts a leaf's data blocks into rc when it has nothing to report: 1,
 * 0 when some mapping needs a report (nothing counted), -ENOMEM.
 */
int tc_count_leaf_runs(const struct checker *c, struct base_refcount *rc,
		       const void *values, unsigned nr);

/* check_par.c: pass 4's leaves on two threads; 1 done, 0 not (see there). */
int tc_par_map_leaves(struct checker *c);
int tc_pass_held(struct checker *c, uint64_t block, int primary);

/* check_sm.c */
int tc_pass_data_sm(struct checker *c);
int tc_pass_metadata_sm(struct checker *c);
int tc_repair(struct checker *c);

#endif
