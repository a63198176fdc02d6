// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * thin_check passes 2-5: the device details tree, the top level of the
 * mapping tree, each device's tree and a held metadata snapshot (the table
 * of passes is at the top of check.c).  The walks count every pointer to a
 * metadata node into mrefs[] and every mapping's data block into drefs[],
 * for the space-map passes, and keep a total of mappings per node so that
 * a subtree shared between devices is walked once and its total reused.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitmap.h"
#include "base/cpu.h"
#include "base/endian.h"
#include "base/grow.h"
#include "pdata/bm.h"
#include "pdata/btree.h"
#include "pdata/io.h"
#include "thin/check_int.h"
#include "thin/format.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* ---- metadata references ---- */

void tc_mref_inc(struct checker *c, uint64_t block)
{
	char s[96];

	if (!c->mrefs.words)
		return;
	if (block >= c->nr_mrefs) {
		if (block < pd_bm_nr_blocks(c->bm))
			tc_report(c, THIN_P_BLOCK_RANGE, "%s: block %" PRIu64
				  " is past the %" PRIu64
				  " blocks the space map covers",
				  tc_where(c, s, sizeof(s)), block,
				  c->nr_mrefs);
		return;
	}
	if (base_refcount_inc(&c->mrefs, block) < 0)
		c->nomem = 1;
}

static int cb_node_ref(void *ctx, uint64_t block)
{
	tc_mref_inc(ctx, block);
	return 0;
}

/* ---- subtree totals and sharing (the walker's enter/leave) ---- */

void tc_totals_reset(struct checker *c)
{
	c->nt = 1;
	c->totals[0] = (struct total){ 0, 0, 1 };
}

static int cb_enter(void *ctx, uint64_t block, unsigned depth)
{
	struct checker *c = ctx;
	struct total *top = &c->totals[c->nt - 1];

	(void)depth;
	if (base_bitmap_test_and_set(&c->seen, block)) {
		/* Walked from another tree: its total stands in. */
		if (!c->memo || c->memo[block] == MEMO_UNKNOWN)
			top->ok = 0;
		else
			top->n += c->memo[block];
		return 1;
	}
	if (c->nt >= sizeof(c->totals) / sizeof(c->totals[0]))
		return -EOVERFLOW;	/* the walker caps depth first */
	c->totals[c->nt++] = (struct total){ block, 0, 1 };
	return 0;
}

static void cb_leave(void *ctx, uint64_t block)
{
	struct checker *c = ctx;
	struct total t = c->totals[--c->nt];
	struct total *parent = &c->totals[c->nt - 1];

	(void)block;
	if (c->memo)
		c->memo[t.block] = t.ok ? t.n : MEMO_UNKNOWN;
	parent->n += t.n;
	if (!t.ok)
		parent->ok = 0;
}

static int cb_damage_devs(void *ctx, const struct pd_btree_damage *d)
{
	tc_report_btree_damage(ctx, d, "devices");
	return 0;
}

static int cb_damage_blocks(void *ctx, const struct pd_btree_damage *d)
{
	tc_report_btree_damage(ctx, d, "virtual blocks");
	return 0;
}

/* ---- device lists ---- */

static struct device *dev_add(struct dev_list *l, uint64_t id)
{
	struct device *x;

	if (BASE_GROW(l->v, l->cap, l->n + 1, 64) < 0)
		return NULL;
	x = &l->v[l->n++];
	memset(x, 0, sizeof(*x));
	x->id = id;
	return x;
}

static int cb_details_leaf(void *ctx, uint64_t block, unsigned nr,
			   const void *keys, const void *values, int counted)
{
	struct checker *c = ctx;
	const unsigned char *kp = keys, *vp = values;

	(void)counted;
	(void)block;
	if (!c->collect)
		return 0;
	for (unsigned i = 0; i < nr; i++) {
		struct device *x = dev_add(&c->details,
					   load_le64(kp + 8 * (size_t)i));

		if (!x)
			return -ENOMEM;
		x->have_details = 1;
		thin_details_unpack(vp + sizeof(struct thin_disk_details) * i,
				    &x->details);
	}
	return 0;
}

static int cb_top_leaf(void *ctx, uint64_t block, unsigned nr,
		       const void *keys, const void *values, int counted)
{
	struct checker *c = ctx;
	const unsigned char *kp = keys, *vp = values;

	(void)counted;
	(void)block;
	for (unsigned i = 0; i < nr; i++) {
		struct device *x = dev_add(&c->top,
					   load_le64(kp + 8 * (size_t)i));

		if (!x)
			return -ENOMEM;
		x->have_root = 1;
		x->root = load_le64(vp + 8 * (size_t)i);
	}
	return 0;
}

/* ---- passes 2 and 3: details and the top level ---- */

int tc_walk_details(struct checker *c, uint64_t root, int collect)
{
	static const struct pd_btree_walk_ops ops = {
		.leaf = cb_details_leaf,
		.damage = cb_damage_devs,
		.node_ref = cb_node_ref,
		.enter = cb_enter,
		.leave = cb_leave,
	};

	c->structure = "device details tree";
	c->collect = collect;
	tc_totals_reset(c);
	return pd_btree_walk(c->bm, root, sizeof(struct thin_disk_details),
			     THIN_WALK, &ops, c);
}

int tc_walk_top(struct checker *c, uint64_t root)
{
	static const struct pd_btree_walk_ops ops = {
		.leaf = cb_top_leaf,
		.damage = cb_damage_devs,
		.node_ref = cb_node_ref,
		.enter = cb_enter,
		.leave = cb_leave,
	};

	c->structure = "mapping tree (top level)";
	tc_totals_reset(c);
	return pd_btree_walk(c->bm, root, 8, THIN_WALK, &ops, c);
}

void tc_check_details(struct checker *c)
{
	for (size_t i = 0; i < c->details.n; i++) {
		const struct device *x = &c->details.v[i];
		const struct thin_details *d = &x->details;

		if (d->creation_time > c->sb.time ||
		    d->snapshotted_time > c->sb.time)
			tc_report(c, THIN_P_DEV_TIME,
				  "device %" PRIu64 ": creation time %" PRIu32
				  ", snapshot time %" PRIu32 ", but the pool "
				  "time is %" PRIu32, x->id, d->creation_time,
				  d->snapshotted_time, c->sb.time);
		if (d->transaction_id > c->sb.trans_id)
			tc_report(c, THIN_P_DEV_TRANSACTION,
				  "device %" PRIu64 ": transaction id %" PRIu64
				  " is after the pool's %" PRIu64, x->id,
				  d->transaction_id, c->sb.trans_id);
	}
}

/* Both lists are in id order: a merge finds the devices only one names. */
void tc_match_devices(struct checker *c, int details_whole, int top_whole)
{
	size_t i = 0, j = 0;

	while (i < c->details.n || j < c->top.n) {
		if (j == c->top.n ||
		    (i < c->details.n && c->details.v[i].id < c->top.v[j].id)) {
			if (top_whole)
				tc_report(c, THIN_P_DEV_NO_MAPPINGS,
					  "device %" PRIu64 " has details "
					  "but no mapping tree",
					  c->details.v[i].id);
			i++;
		} else if (i == c->details.n ||
			   c->top.v[j].id < c->details.v[i].id) {
			if (details_whole)
				tc_report(c, THIN_P_DEV_NO_DETAILS,
					  "device %" PRIu64 " has a mapping "
					  "tree (root %" PRIu64 ") but no "
					  "details",
					  c->top.v[j].id, c->top.v[j].root);
			j++;
		} else {
			c->top.v[j].have_details = 1;
			c->top.v[j].details = c->details.v[i].details;
			i++;
			j++;
		}
	}
}

/* ---- pass 4: each device's tree ---- */

/*
 * One pass over a leaf's values: the largest data block and time, and in
 * starts[] a bit for each mapping that begins a run (its data block is not
 * the one before it plus one; mapping 0 always).  starts[] has
 * LEAF_WORDS words; nr is at most a leaf's entries (check_node checked).
 */
#define LEAF_WORDS ((PD_BLOCK_SIZE / 8 + 63) / 64)

struct leaf_scan {
	uint64_t max_db;
	uint32_t max_t;
	uint64_t starts[LEAF_WORDS];
};

static void scan_leaf_scalar(const unsigned char *vp, unsigned nr,
			     struct leaf_scan *ls)
{
	uint64_t prev = 0;

	for (unsigned i = 0; i < nr; i++) {
		uint64_t bt = load_le64(vp + 8 * (size_t)i);
		uint64_t db = thin_block_time_block(bt);
		uint32_t t = thin_block_time_time(bt);

		ls->max_db = db > ls->max_db ? db : ls->max_db;
		ls->max_t = t > ls->max_t ? t : ls->max_t;
		ls->starts[i / 64] |= (uint64_t)(i == 0 || db != prev + 1)
				      << (i % 64);
		prev = db;
	}
}

#if defined(__x86_64__)
/*
 * The same eight mappings at a time (a fifth of thin_check's time at ten
 * million mappings went to the two scalar passes this replaces): the
 * previous mapping's block comes from the last vector by valignq, and a
 * short last vector is a masked load.  Values are little-endian on disk as
 * in the registers.
 */
BASE_AVX512_TARGET
static void scan_leaf_avx512(const unsigned char *vp, unsigned nr,
			     struct leaf_scan *ls)
{
	const __m512i tmask = _mm512_set1_epi64((long long)THIN_TIME_MASK);
	const __m512i one = _mm512_set1_epi64(1);
	__m512i mdb = _mm512_setzero_si512(), mt = _mm512_setzero_si512();
	__m512i last = _mm512_setzero_si512();

	for (unsigned i = 0; i < nr; i += 8) {
		__mmask8 m = nr - i >= 8 ? 0xff : (__mmask8)((1u << (nr - i)) - 1);
		__m512i v = _mm512_maskz_loadu_epi64(m, vp + 8 * (size_t)i);
		__m512i db = _mm512_srli_epi64(v, THIN_TIME_BITS);
		__m512i prev = _mm512_alignr_epi64(db, last, 7);
		__mmask8 brk = _mm512_mask_cmpneq_epu64_mask(
			m, db, _mm512_add_epi64(prev, one));

		mdb = _mm512_max_epu64(mdb, db);
		mt = _mm512_max_epu64(mt, _mm512_and_si512(v, tmask));
		ls->starts[i / 64] |= (uint64_t)brk << (i % 64);
		last = db;
	}
	ls->starts[0] |= 1;
	ls->max_db = _mm512_reduce_max_epu64(mdb);
	ls->max_t = (uint32_t)_mm512_reduce_max_epu64(mt);
}
#endif

static void scan_leaf(const unsigned char *vp, unsigned nr,
		      struct leaf_scan *ls)
{
	memset(ls, 0, sizeof(*ls));
#if defined(__x86_64__)
	if (base_cpu_avx512()) {
		scan_leaf_avx512(vp, nr, ls);
		return;
	}
#endif
	scan_leaf_scalar(vp, nr, ls);
}

/*
 * A leaf with nothing to report (every time and data block in range: the
 * usual case, seen in one pass) counts its data blocks by runs of
 * consecutive blocks, a refcount word at a time.  1 when it was such a
 * leaf, 0 when the caller must look at each mapping, -ENOMEM.
 */
int tc_count_leaf_runs(const struct checker *c, struct base_refcount *rc,
		       const void *values, unsigned nr)
{
	const unsigned char *vp = values;
	struct leaf_scan ls;
	unsigned start = 0;

	if (nr > PD_BLOCK_SIZE / 8)
		return 0;
	scan_leaf(vp, nr, &ls);
	if (ls.max_db >= c->nr_drefs ||
	    (c->check_times && ls.max_t > c->pool_time))
		return 0;
	/* Each set bit past the first ends the run before it. */
	for (unsigned w = 0; w < LEAF_WORDS; w++) {
		uint64_t bits = ls.starts[w];

		if (w == 0)
			bits &= ~1ull;
		while (bits) {
			unsigned p = 64 * w + (unsigned)__builtin_ctzll(bits);

			if (base_refcount_inc_run(rc,
				thin_block_time_block(load_le64(vp + 8 * (size_t)start)),
				p - start) < 0)
				return -ENOMEM;
			start = p;
			bits &= bits - 1;
		}
	}
	if (nr && base_refcount_inc_run(rc,
			thin_block_time_block(load_le64(vp + 8 * (size_t)start)),
			nr - start) < 0)
		return -ENOMEM;
	return 1;
}

static int cb_map_leaf(void *ctx, uint64_t block, unsigned nr,
		       const void *keys, const void *values, int counted)
{
	struct checker *c = ctx;
	const unsigned char *kp = keys, *vp = values;
	/*
	 * Fixed for the whole check; in locals because every count stored
	 * below might, for all the compiler knows, change them, and it would
	 * load them again for each of ten million mappings (a twelfth of the
	 * check's instructions).
	 */
	const int check_times = c->check_times;
	const uint32_t pool_time = c->pool_time;
	const uint64_t nr_drefs = c->nr_drefs;
	int r;

	(void)counted;
	c->totals[c->nt - 1].n += nr;
	c->res->nr_mappings += nr;
	c->drefs_dense = 1;	/* check_sm.c sets drefs' chunk flags */
	r = tc_count_leaf_runs(c, &c->drefs, vp, nr);
	if (r)
		return r < 0 ? r : 0;
	for (unsigned i = 0; i < nr; i++) {
		uint64_t bt = load_le64(vp + 8 * (size_t)i);
		uint64_t db = thin_block_time_block(bt);
		uint32_t t = thin_block_time_time(bt);

		if (check_times && t > pool_time)
			tc_report(c, THIN_P_MAP_TIME, "device %" PRIu64
				  " mapping tree: leaf %" PRIu64
				  ": virtual block %" PRIu64 " has time %"
				  PRIu32 ", after the pool time %" PRIu32,
				  c->cur_dev, block,
				  load_le64(kp + 8 * (size_t)i), t,
				  c->pool_time);
		if (db >= nr_drefs) {
			tc_report(c, THIN_P_MAP_DATA_RANGE, "device %" PRIu64
				  " mapping tree: leaf %" PRIu64
				  ": virtual block %" PRIu64
				  " maps to data block %" PRIu64
				  ", past the data device (%" PRIu64 " blocks)",
				  c->cur_dev, block,
				  load_le64(kp + 8 * (size_t)i), db,
				  c->nr_drefs);
			continue;
		}
		if (base_refcount_inc_dense(&c->drefs, db) < 0)
			return -ENOMEM;
	}
	return 0;
}

/*
 * After check_par.c counted every leaf: the walk counts references and
 * totals as ever, but takes each leaf's count from memo[] instead of
 * reading it (all but the first of each tree, which tells the walker the
 * leaves' depth; its data blocks are counted already).
 */
static int cb_count_leaf(void *ctx, uint64_t block, unsigned nr,
			 const void *keys, const void *values, int counted)
{
	struct checker *c = ctx;

	(void)block;
	(void)keys;
	(void)values;
	(void)counted;
	c->totals[c->nt - 1].n += nr;
	c->res->nr_mappings += nr;
	return 0;
}

static int cb_counted_leaf(void *ctx, uint64_t block,
			   const struct pd_btree_bounds *b, unsigned depth,
			   int counted)
{
	struct checker *c = ctx;

	(void)b;
	(void)depth;
	(void)counted;
	c->totals[c->nt - 1].n += c->memo[block];
	c->res->nr_mappings += c->memo[block];
	return 1;
}

/* Walks one device's tree; *count and *known: the mappings under root. */
static int walk_device(struct checker *c, const struct pd_btree_walk_ops *ops,
		       uint64_t id, uint64_t root, uint64_t *count, int *known)
{
	int r;

	c->structure = "device";
	c->cur_dev = id;
	tc_totals_reset(c);
	r = pd_btree_walk(c->bm, root, 8, THIN_WALK, ops, c);
	*count = c->totals[0].n;
	*known = c->totals[0].ok;
	return r;
}

int tc_pass_devices(struct checker *c, int compare)
{
	static const struct pd_btree_walk_ops walk_ops = {
		.leaf = cb_map_leaf,
		.damage = cb_damage_blocks,
		.node_ref = cb_node_ref,
		.enter = cb_enter,
		.leave = cb_leave,
	};
	static const struct pd_btree_walk_ops counted_ops = {
		.leaf = cb_count_leaf,
		.damage = cb_damage_blocks,
		.node_ref = cb_node_ref,
		.enter = cb_enter,
		.leave = cb_leave,
		.hand_off = cb_counted_leaf,
	};
	const struct pd_btree_walk_ops *ops = &walk_ops;
	int r;

	/* Only the pool's own devices, whose totals are compared. */
	if (compare) {
		r = tc_par_map_leaves(c);
		if (r < 0)
			return r;
		if (r)
			ops = &counted_ops;
	}
	for (size_t i = 0; i < c->top.n; i++) {
		const struct device *x = &c->top.v[i];
		uint64_t n;
		int known;

		r = walk_device(c, ops, x->id, x->root, &n, &known);
		if (r < 0)
			return r;
		c->res->nr_devices++;
		if (compare && known && x->have_details &&
		    n != x->details.mapped_blocks)
			tc_report(c, THIN_P_DEV_MAPPED_BLOCKS, "device %" PRIu64
				  ": mapped_blocks is %" PRIu64
				  ", but its tree maps %" PRIu64 " blocks",
				  x->id, x->details.mapped_blocks, n);
	}
	return 0;
}

/* ---- pass 5: the held metadata snapshot ---- */

/* Reads and checks the copy at block; 0 and *snap filled when usable. */
static int read_snapshot(struct checker *c, uint64_t block,
			 struct thin_sb *snap)
{
	struct sb_state s = { c, "metadata snapshot", 0 };
	struct pd_block *b;
	struct pd_fault f;
	int r;

	if (block >= pd_bm_nr_blocks(c->bm) || block == THIN_SB_LOCATION) {
		tc_report(c, THIN_P_SB_HELD_ROOT, "metadata snapshot: block %"
			  PRIu64 " is not a block of the metadata (%" PRIu64
			  " blocks)", block, pd_bm_nr_blocks(c->bm));
		return -EINVAL;
	}
	memset(&f, 0, sizeof(f));
	r = pd_bm_read_lock(c->bm, block, NULL, &b, &f);
	if (r < 0) {
		tc_report(c, THIN_P_SB_HELD_ROOT, "metadata snapshot: block %"
			  PRIu64 ": %s", block, pd_strerror(r));
		return -EINVAL;
	}
	thin_sb_unpack(pd_block_data(b), snap);
	thin_sb_check(snap, pd_block_data(b), block, c->io->nr_blocks, 1,
		      tc_sb_violation, &s);
	pd_bm_unlock(b);
	if (s.bad & (SB_UNUSABLE | ROOT_MAPPING | ROOT_DETAILS)) {
		c->mrefs_incomplete = 1;
		c->drefs_incomplete = 1;
		return -EINVAL;
	}
	return 0;
}

static void dev_list_clear(struct dev_list *l)
{
	l->n = 0;
}

int tc_pass_held(struct checker *c, uint64_t block, int primary)
{
	struct thin_sb snap;
	int r;

	tc_pass(c, "examining metadata snapshot");
	tc_mref_inc(c, block);
	if (read_snapshot(c, block, &snap) < 0)
		return 0;
	/*
	 * Only the nodes the live trees do not share are walked, so the
	 * lists hold the snapshot's own leaves' devices.  When the snapshot
	 * is what is being checked (-m) it is walked whole, first.
	 */
	dev_list_clear(&c->details);
	dev_list_clear(&c->top);
	r = tc_walk_details(c, snap.details_root, 1);
	if (r < 0)
		return r;
	r = tc_walk_top(c, snap.mapping_root);
	if (r < 0)
		return r;
	if (primary)
		tc_match_devices(c, !c->mrefs_incomplete, !c->mrefs_incomplete);
	return tc_pass_devices(c, primary);
}
