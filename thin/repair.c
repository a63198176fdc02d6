// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The thin repair (thin/repair.h), layers 1 and 4: the walk from the
 * superblock's roots, the choice of the superblock values, the consistency
 * rules (no data block handed out twice, mappings inside the data device,
 * mapped_blocks and the pool time following the mappings), and the
 * emitting of the model, and the model itself: devices whose mappings
 * are read again from their trees by each pass that needs them
 * (repair_each_map), never held (thin/repair_int.h).  Layers 2 and 3 (the
 * scan and the rebuild from what it finds) are in repair_scan.c, the
 * patching of damaged ranges in repair_patch.c.
 */
#include "thin/repair.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitmap.h"
#include "base/endian.h"
#include "base/grow.h"
#include "base/sorted.h"
#include "pdata/bm.h"
#include "pdata/btree.h"
#include "pdata/ondisk.h"
#include "thin/format.h"
#include "thin/repair_int.h"

#define REPAIR_BM_BLOCKS 512u
/* LVM's default chunk (64 KiB) when nothing says what the pool used. */
#define REPAIR_DEFAULT_DATA_BLOCK_SIZE 128u

void repair_note(struct thin_repair *rp, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!rp->o.note)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	rp->o.note(rp->o.ctx, buf);
}

int repair_fail(struct thin_repair *rp, int r, const char *fmt, ...)
{
	va_list ap;

	if (rp->msg && rp->msg_len) {
		va_start(ap, fmt);
		vsnprintf(rp->msg, rp->msg_len, fmt, ap);
		va_end(ap);
	}
	return r;
}

/* ---- the model ---- */

struct rdev *repair_find_dev(struct thin_repair *rp, uint64_t id)
{
	return BASE_FIND(rp->devs, rp->nr_devs, id, id);
}

struct rdev *repair_get_dev(struct thin_repair *rp, uint64_t id)
{
	struct rdev *x = repair_find_dev(rp, id);
	size_t pos;

	if (x)
		return x;
	if (BASE_GROW(rp->devs, rp->cap_devs, rp->nr_devs + 1, 16) < 0)
		return NULL;
	/* Ids mostly arrive in increasing order: append is the usual case. */
	pos = rp->nr_devs;
	while (pos > 0 && rp->devs[pos - 1].id > id)
		pos--;
	memmove(&rp->devs[pos + 1], &rp->devs[pos],
		(rp->nr_devs - pos) * sizeof(*rp->devs));
	rp->nr_devs++;
	x = &rp->devs[pos];
	memset(x, 0, sizeof(*x));
	x->id = id;
	return x;
}

int repair_add_map(struct rdev *d, uint64_t v, uint64_t bt)
{
	if (BASE_GROW(d->maps, d->cap, d->nr + 1, 256) < 0)
		return -ENOMEM;
	d->maps[d->nr].v = v;
	d->maps[d->nr].bt = bt;
	if (thin_block_time_time(bt) > d->max_time)
		d->max_time = thin_block_time_time(bt);
	if (thin_block_time_block(bt) > d->max_block)
		d->max_block = thin_block_time_block(bt);
	d->nr++;
	return 0;
}

static int add_dmg(struct rdev *d, uint64_t begin, uint64_t end)
{
	if (BASE_GROW(d->dmg, d->cap_dmg, d->nr_dmg + 1, 8) < 0)
		return -ENOMEM;
	d->dmg[d->nr_dmg].begin = begin;
	d->dmg[d->nr_dmg].end = end;
	d->nr_dmg++;
	return 0;
}

struct claim {
	uint64_t d;		/* data block */
	uint64_t v;
	uint64_t idx;		/* the mapping's ordinal in its device */
	uint32_t dev, time;
};

/*
 * The passes of one_owner over the mappings.  Pass 1 marks the data
 * blocks that need a closer look, with a bit per data block in each of
 * three bitmaps: seen (claimed already), mine (claimed by the device being
 * read) and mark.  A block is marked when a device claims it twice, or
 * when a second claim arrives from a leaf no earlier device has read: a
 * claim read from a leaf an earlier device read too (a subtree snapshots
 * share) is that device's claim again, same virtual block, data block and
 * time, and can only clash where the claims of that device do.  So every
 * block whose claims differ in time, or that one device claims twice, is
 * marked; a few more may be.  Pass 2 collects the marked blocks' claims
 * (and, as before, every claim past the bitmaps when those do not cover
 * the pool), and only those are sorted.
 */
struct owner_pass {
	uint64_t nbits;
	struct base_bitmap seen, mine, mark, leaves;
	uint64_t mine_lo, mine_hi;	/* words of mine set by this device */
	uint64_t leaf;			/* the leaf being read */
	int leaf_dup;
	/* The leaves this device read: leaves has them once it is done. */
	uint64_t *dev_leaves;
	size_t nr_dev_leaves, cap_dev_leaves;
	size_t nr_marked;
	int collect_past;		/* collect claims on blocks >= nbits */
	uint32_t dev;
	struct claim *c;
	size_t n, cap;
};

static void pass_begin_dev(struct owner_pass *p)
{
	p->leaf = UINT64_MAX;
	p->leaf_dup = 0;
	p->mine_lo = UINT64_MAX;
	p->mine_hi = 0;
}

static void pass_end_dev(struct owner_pass *p)
{
	for (size_t i = 0; i < p->nr_dev_leaves; i++)
		base_bitmap_set(&p->leaves, p->dev_leaves[i]);
	p->nr_dev_leaves = 0;
	if (p->mine_hi > p->mine_lo)
		memset(p->mine.words + p->mine_lo, 0,
		       (p->mine_hi - p->mine_lo) * sizeof(uint64_t));
}

static void owner_pass_release(struct owner_pass *p)
{
	base_bitmap_release(&p->seen);
	base_bitmap_release(&p->mine);
	base_bitmap_release(&p->mark);
	base_bitmap_release(&p->leaves);
	free(p->dev_leaves);
	free(p->c);
}

static int owner_pass_init(struct thin_repair *rp, struct owner_pass *p,
			   uint64_t nbits)
{
	p->nbits = nbits;
	if (base_bitmap_init(&p->seen, nbits) ||
	    base_bitmap_init(&p->mine, nbits) ||
	    base_bitmap_init(&p->mark, nbits) ||
	    base_bitmap_init(&p->leaves, rp->nr_blocks))
		return -ENOMEM;
	return 0;
}

static void drop_early(struct thin_repair *rp)
{
	if (rp->early) {
		owner_pass_release(rp->early);
		free(rp->early);
		rp->early = NULL;
	}
}

static int mark_claim(void *ctx, uint64_t leaf, uint64_t idx, uint64_t v,
		      uint64_t bt)
{
	struct owner_pass *p = ctx;
	uint64_t b = thin_block_time_block(bt);
	int again;

	(void)idx;
	(void)v;
	if (leaf != p->leaf) {
		p->leaf = leaf;
		p->leaf_dup = 0;
		if (leaf < p->leaves.nr_bits) {
			if (BASE_GROW(p->dev_leaves, p->cap_dev_leaves,
				       p->nr_dev_leaves + 1, 256) < 0)
				return -ENOMEM;
			p->dev_leaves[p->nr_dev_leaves++] = leaf;
			p->leaf_dup = base_bitmap_test(&p->leaves, leaf);
		}
	}
	if (b >= p->nbits)
		return 0;
	if (b / 64 < p->mine_lo)
		p->mine_lo = b / 64;
	if (b / 64 >= p->mine_hi)
		p->mine_hi = b / 64 + 1;
	again = base_bitmap_test_and_set(&p->mine, b);
	if (!p->leaf_dup)
		again |= base_bitmap_test_and_set(&p->seen, b);
	if (again && !base_bitmap_test_and_set(&p->mark, b))
		p->nr_marked++;
	return 0;
}

/* ---- walking ---- */

struct emit_pass {
	const struct thin_emitter *e;
	uint64_t vb, db, len;
	uint32_t t;
};

/* Runs of consecutive virtual and data blocks with one time, merged. */
static int emit_map(void *ctx, uint64_t leaf, uint64_t idx, uint64_t v,
		    uint64_t bt)
{
	struct emit_pass *p = ctx;
	uint64_t b = thin_block_time_block(bt);
	uint32_t mt = thin_block_time_time(bt);
	int r;

	(void)leaf;
	(void)idx;
	if (p->len && v == p->vb + p->len && b == p->db + p->len &&
	    mt == p->t) {
		p->len++;
		return 0;
	}
	if (p->len && p->e->mapping &&
	    (r = p->e->mapping(p->e->ctx, p->vb, p->db, p->len, p->t)))
		return r;
	p->vb = v;
	p->db = b;
	p->t = mt;
	p->len = 1;
	return 0;
}

struct map_walk {
	struct rdev *d;		/* maps into it (may be NULL) */
	struct rdev *dmg;	/* damaged ranges into it (may be NULL) */
	uint64_t lo, hi;
	struct map_stats st;
	/* repair_each_map: called per mapping not excluded. */
	repair_map_fn fn;
	void *ctx;
	const uint64_t *excl;
	size_t nr_excl, next_excl;
	uint64_t idx;
	const struct rmap *extra;	/* merged in (a lazy device's) */
	size_t nr_extra, next_extra;
	/* The one-owner rule's pass 1, done while counting (layer 1). */
	struct owner_pass *mark;
};

/* One mapping to fn, with its ordinal, unless excluded. */
static inline int deliver(struct map_walk *w, uint64_t leaf, uint64_t v,
			  uint64_t bt)
{
	uint64_t idx = w->idx++;

	if (w->next_excl < w->nr_excl && w->excl[w->next_excl] == idx) {
		w->next_excl++;
		return 0;
	}
	/* Emitting is most of the reading: called directly. */
	return w->fn == emit_map ? emit_map(w->ctx, leaf, idx, v, bt) :
				   w->fn(w->ctx, leaf, idx, v, bt);
}

/* The extra mappings before key v (all of them with all). */
static int deliver_extra(struct map_walk *w, uint64_t v, int all)
{
	int r = 0;

	while (!r && w->next_extra < w->nr_extra &&
	       (all || w->extra[w->next_extra].v < v)) {
		const struct rmap *m = &w->extra[w->next_extra++];

		r = deliver(w, UINT64_MAX, m->v, m->bt);
	}
	return r;
}

static int map_leaf(void *ctx, uint64_t block, unsigned nr, const void *keys,
		    const void *values, int counted)
{
	struct map_walk *w = ctx;
	const unsigned char *kp = keys, *vp = values;

	(void)counted;
	for (unsigned i = 0; i < nr; i++) {
		uint64_t v = load_le64(kp + 8 * (size_t)i);
		uint64_t bt = load_le64(vp + 8 * (size_t)i);
		uint32_t t = thin_block_time_time(bt);
		uint64_t b = thin_block_time_block(bt);

		if (v < w->lo || v >= w->hi)
			continue;
		if (w->fn) {
			int r = 0;

			if (w->next_extra < w->nr_extra)
				r = deliver_extra(w, v, 0);
			if (!r)
				r = deliver(w, block, v, bt);
			if (r)
				return r;
			continue;
		}
		if (!w->st.nr++)
			w->st.kmin = v;
		w->st.kmax = v;
		if (t > w->st.max_time)
			w->st.max_time = t;
		if (b > w->st.max_block)
			w->st.max_block = b;
		if (w->d && repair_add_map(w->d, v, bt) < 0)
			return -ENOMEM;
		if (w->mark && mark_claim(w->mark, block, 0, v, bt) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int map_damage(void *ctx, const struct pd_btree_damage *bd)
{
	struct map_walk *w = ctx;
	uint64_t end = bd->key_end;

	if (bd->key_begin >= w->hi || end <= w->lo)
		return 0;
	w->st.damaged = 1;
	if (w->dmg)
		return add_dmg(w->dmg, bd->key_begin, end);
	return 0;
}

/*
 * A tree that is one sound leaf (most stale nodes a scan finds are): read
 * in place, without the walker's per-walk visited set.  1 when done, 0
 * when the root is anything else (the walker then says what is wrong).
 */
static int single_leaf(struct thin_repair *rp, uint64_t root,
		       struct map_walk *w)
{
	const struct pd_node_header *h;
	const unsigned char *p;
	struct pd_block *b;
	uint32_t nr;
	int r, done = 0;

	if (pd_bm_read_lock(rp->bm, root, &pd_btree_validator, &b, NULL) < 0)
		return 0;
	p = pd_block_data(b);
	h = (const void *)p;
	nr = le32_to_cpu(h->nr_entries);
	if (le32_to_cpu(h->flags) == PD_BTREE_LEAF &&
	    le32_to_cpu(h->value_size) == 8 &&
	    le32_to_cpu(h->max_entries) == pd_btree_max_entries(8)) {
		const unsigned char *keys = p + PD_NODE_KEYS_OFFSET;
		uint32_t i = 1;

		while (i < nr && load_le64(keys + 8 * (size_t)i) >
				 load_le64(keys + 8 * (size_t)(i - 1)))
			i++;
		if (i >= nr) {
			r = nr ? map_leaf(w, root, nr, keys,
					  keys + 8 * (size_t)pd_btree_max_entries(8),
					  0) : 0;
			done = r ? r : 1;
		}
	}
	pd_bm_unlock(b);
	return done;
}

static int walk_map(struct thin_repair *rp, uint64_t root, struct map_walk *w)
{
	static const struct pd_btree_walk_ops ops = {
		.leaf = map_leaf,
		.damage = map_damage,
	};
	int r = single_leaf(rp, root, w);

	if (r == 1)
		r = 0;
	else if (r == 0)
		r = pd_btree_walk(rp->bm, root, 8, REPAIR_WALK, &ops, w);
	return r;
}

int repair_walk_map(struct thin_repair *rp, uint64_t root, struct rdev *d,
		    uint64_t lo, uint64_t hi, int record_dmg,
		    struct map_stats *st)
{
	struct map_walk w = { .d = d, .dmg = record_dmg ? d : NULL,
			      .lo = lo, .hi = hi };
	int r = walk_map(rp, root, &w);

	if (st)
		*st = w.st;
	return r;
}

static int walk_lazy(struct thin_repair *rp, struct rdev *d, uint64_t root,
		     struct owner_pass *mark)
{
	struct map_walk w = { .dmg = d, .lo = 0, .hi = UINT64_MAX,
			      .mark = mark };
	int r;

	free(d->maps);
	d->maps = NULL;
	d->cap = 0;
	d->nr_extra = 0;
	d->nr_dmg = 0;
	d->nr_excl = 0;
	d->have_root = 1;
	d->root = root;
	d->lazy = 1;
	r = walk_map(rp, root, &w);
	d->nr = w.st.nr;
	d->max_time = w.st.max_time;
	d->max_block = w.st.max_block;
	return r;
}

int repair_walk_lazy(struct thin_repair *rp, struct rdev *d, uint64_t root)
{
	return walk_lazy(rp, d, root, NULL);
}

int repair_each_map(struct thin_repair *rp, const struct rdev *d,
		    repair_map_fn fn, void *ctx)
{
	struct map_walk w = { .lo = 0, .hi = UINT64_MAX, .fn = fn, .ctx = ctx,
			      .excl = d->excl, .nr_excl = d->nr_excl };
	int r = 0;

	if (d->lazy) {
		w.extra = d->maps;
		w.nr_extra = d->nr_extra;
		r = walk_map(rp, d->root, &w);
		return r ? r : deliver_extra(&w, 0, 1);
	}
	w.extra = d->maps;
	w.nr_extra = d->nr;
	return deliver_extra(&w, 0, 1);
}

static int collect_map(void *ctx, uint64_t leaf, uint64_t idx, uint64_t v,
		       uint64_t bt)
{
	(void)leaf;
	(void)idx;
	return repair_add_map(ctx, v, bt);
}

int repair_materialise(struct thin_repair *rp, struct rdev *d)
{
	struct rdev x = { 0 };
	int r;

	if (!d->lazy)
		return 0;
	if (d->nr) {
		x.maps = malloc(d->nr * sizeof(*x.maps));
		if (!x.maps)
			return -ENOMEM;
		x.cap = d->nr;
	}
	r = repair_each_map(rp, d, collect_map, &x);
	if (r) {
		free(x.maps);
		return r;
	}
	free(d->maps);
	d->maps = x.maps;
	d->nr = x.nr;
	d->cap = x.cap;
	d->max_time = x.max_time;
	d->max_block = x.max_block;
	d->nr_extra = 0;
	d->lazy = 0;
	return 0;
}

struct top_walk {
	struct thin_repair *rp;
	int damaged;
};

static int details_leaf(void *ctx, uint64_t block, unsigned nr,
			const void *keys, const void *values, int counted)
{
	struct top_walk *w = ctx;
	const unsigned char *kp = keys, *vp = values;

	(void)block;
	(void)counted;
	for (unsigned i = 0; i < nr; i++) {
		struct rdev *x = repair_get_dev(w->rp, load_le64(kp + 8 * i));

		if (!x)
			return -ENOMEM;
		x->have_details = 1;
		thin_details_unpack(vp + sizeof(struct thin_disk_details) * i,
				    &x->details);
		w->rp->ev_details++;
		w->rp->ev_claimed += x->details.mapped_blocks;
	}
	return 0;
}

static int top_leaf(void *ctx, uint64_t block, unsigned nr, const void *keys,
		    const void *values, int counted)
{
	struct top_walk *w = ctx;
	const unsigned char *kp = keys, *vp = values;

	(void)block;
	(void)counted;
	for (unsigned i = 0; i < nr; i++) {
		struct rdev *x = repair_get_dev(w->rp, load_le64(kp + 8 * i));

		if (!x)
			return -ENOMEM;
		x->have_root = 1;
		x->root = load_le64(vp + 8 * i);
	}
	return 0;
}

static int top_damage(void *ctx, const struct pd_btree_damage *bd)
{
	struct top_walk *w = ctx;

	(void)bd;
	w->damaged = 1;
	return 0;
}

static int read_superblock(struct thin_repair *rp)
{
	struct pd_block *b;
	struct pd_fault f = { 0 };
	char buf[200];
	int r;

	r = pd_bm_read_lock(rp->bm, THIN_SB_LOCATION, NULL, &b, &f);
	if (r < 0) {
		repair_note(rp, "superblock: cannot be read (%s): scanning for "
			    "the trees", pd_strerror(r));
		return 0;
	}
	thin_sb_unpack(pd_block_data(b), &rp->sb);
	r = pd_validate(&thin_sb_validator, pd_block_data(b),
			THIN_SB_LOCATION, &f);
	if (r < 0) {
		if (pd_block_data_is_zero(pd_block_data(b))) {
			pd_bm_unlock(b);
			repair_note(rp, "superblock: block 0 is all zeroes: "
				    "scanning for the trees");
			return 0;
		}
	}
	pd_bm_unlock(b);
	if (r < 0) {
		pd_fault_format(&f, buf, sizeof(buf));
		repair_note(rp, "superblock: %s: scanning for the trees", buf);
		return 0;
	}
	rp->sb_ok = 1;
	return 0;
}

struct rootref {
	uint64_t root;
	size_t i;
};

static int by_root(const void *a, const void *b)
{
	const struct rootref *x = a, *y = b;

	if (x->root != y->root)
		return x->root < y->root ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Bitmaps past this many bits are left to one_owner (it may need fewer). */
#define REPAIR_EARLY_MAX_BITS ((uint64_t)1 << 27)

static int early_pass(struct thin_repair *rp)
{
	uint64_t nb = rp->o.set_nr_data_blocks ? rp->o.nr_data_blocks :
						 rp->sb.data_sm.nr_blocks;

	if (nb > REPAIR_EARLY_MAX_BITS)
		return 0;
	rp->early = calloc(1, sizeof(*rp->early));
	if (!rp->early)
		return -ENOMEM;
	return owner_pass_init(rp, rp->early, nb);
}

/* One device's tree: counted, or o's counts taken (same root, read cleanly). */
static int walk_dev_tree(struct thin_repair *rp, struct rdev *d,
			 struct rdev *o)
{
	int r;

	if (o && !o->nr_dmg) {
		d->lazy = 1;
		d->nr = o->nr;
		d->max_time = o->max_time;
		d->max_block = o->max_block;
		return 0;
	}
	if (rp->early)
		pass_begin_dev(rp->early);
	r = walk_lazy(rp, d, d->root, rp->early);
	if (rp->early)
		pass_end_dev(rp->early);
	if (!r && d->nr_dmg)
		rp->trees_damaged = 1;
	return r;
}

/* Layer 1: everything reachable from the superblock's roots. */
static int walk_from_sb(struct thin_repair *rp)
{
	static const struct pd_btree_walk_ops dops = {
		.leaf = details_leaf,
		.damage = top_damage,
	};
	static const struct pd_btree_walk_ops tops = {
		.leaf = top_leaf,
		.damage = top_damage,
	};
	struct top_walk w = { rp, 0 };
	struct rootref *refs = NULL;
	size_t *lead = NULL, n = 0;
	int r;

	r = pd_btree_walk(rp->bm, rp->sb.details_root,
			  sizeof(struct thin_disk_details), REPAIR_WALK, &dops,
			  &w);
	if (r)
		return r;
	rp->details_clean = !w.damaged;
	if (w.damaged)
		repair_note(rp, "device details tree (root block %" PRIu64
			    "): damaged; %zu device(s) read from it",
			    rp->sb.details_root, rp->nr_devs);
	w.damaged = 0;
	r = pd_btree_walk(rp->bm, rp->sb.mapping_root, 8, REPAIR_WALK, &tops,
			  &w);
	if (r)
		return r;
	rp->top_clean = !w.damaged;
	if (w.damaged)
		repair_note(rp, "mapping tree top level (root block %" PRIu64
			    "): damaged", rp->sb.mapping_root);
	/*
	 * A snapshot nothing was written to since has its origin's root: the
	 * same mappings, counted once (lead[i]: the device whose counts
	 * device i takes, or i itself).
	 */
	lead = malloc((rp->nr_devs ? rp->nr_devs : 1) * sizeof(*lead));
	refs = malloc((rp->nr_devs ? rp->nr_devs : 1) * sizeof(*refs));
	if (!lead || !refs) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < rp->nr_devs; i++) {
		lead[i] = i;
		if (rp->devs[i].have_root) {
			refs[n].root = rp->devs[i].root;
			refs[n++].i = i;
		}
	}
	qsort(refs, n, sizeof(*refs), by_root);
	for (size_t k = 1; k < n; k++)
		if (refs[k].root == refs[k - 1].root)
			lead[refs[k].i] = lead[refs[k - 1].i];
	/*
	 * The one-owner rule's first pass while the trees are read: they
	 * are read once less when nothing else changes the model.
	 */
	r = early_pass(rp);
	for (int pass = 0; pass < 2 && !r; pass++)
		for (size_t i = 0; i < rp->nr_devs && !r; i++)
			if (rp->devs[i].have_root && (lead[i] == i) == !pass)
				r = walk_dev_tree(rp, &rp->devs[i],
						  pass ? &rp->devs[lead[i]] : NULL);
out:
	free(lead);
	free(refs);
	return r;
}

/* ---- layer 4: consistency ---- */

static int add_excl(struct rdev *d, uint64_t idx)
{
	if (BASE_GROW(d->excl, d->cap_excl, d->nr_excl + 1, 16) < 0)
		return -ENOMEM;
	d->excl[d->nr_excl++] = idx;
	return 0;
}

static int by_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static size_t live_maps(const struct rdev *d)
{
	return d->nr - d->nr_excl;
}

static int by_block(const void *a, const void *b)
{
	const struct claim *x = a, *y = b;

	if (x->d != y->d)
		return x->d < y->d ? -1 : 1;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int collect_claim(void *ctx, uint64_t leaf, uint64_t idx, uint64_t v,
			 uint64_t bt)
{
	struct owner_pass *p = ctx;
	uint64_t b = thin_block_time_block(bt);

	(void)leaf;
	if (b < p->nbits ? !base_bitmap_test(&p->mark, b) : !p->collect_past)
		return 0;
	if (BASE_GROW(p->c, p->cap, p->n + 1, 256) < 0)
		return -ENOMEM;
	p->c[p->n++] = (struct claim){ b, v, idx, p->dev,
				       thin_block_time_time(bt) };
	return 0;
}

/*
 * Which devices pass 1 may leave out: a lazy device with the root (and
 * the patches) of one read before it (a snapshot nothing was written to
 * since) claims what that one claims, and can only clash where it does.
 * *out: a flag per device; NULL when out of memory.
 */
static int same_roots(struct thin_repair *rp, uint8_t **out)
{
	size_t n = 0;
	struct rootref *refs = malloc((rp->nr_devs ? rp->nr_devs : 1) *
				      sizeof(*refs));
	uint8_t *skip = calloc(rp->nr_devs ? rp->nr_devs : 1, 1);

	*out = NULL;
	if (!refs || !skip) {
		free(refs);
		free(skip);
		return -ENOMEM;
	}
	for (size_t i = 0; i < rp->nr_devs; i++)
		if (rp->devs[i].lazy && !rp->devs[i].nr_excl) {
			refs[n].root = rp->devs[i].root;
			refs[n++].i = i;
		}
	qsort(refs, n, sizeof(*refs), by_root);
	for (size_t k = 1, lead = 0; k < n; k++) {
		const struct rdev *a = &rp->devs[refs[lead].i];
		const struct rdev *b = &rp->devs[refs[k].i];

		if (refs[k].root != refs[lead].root) {
			lead = k;
			continue;
		}
		/* Patched alike too (or neither). */
		if (a->nr_extra == b->nr_extra &&
		    (!a->nr_extra ||
		     !memcmp(a->maps, b->maps, a->nr_extra * sizeof(*a->maps))))
			skip[refs[k].i] = 1;
	}
	free(refs);
	*out = skip;
	return 0;
}

/* Pass 1 (above); 0 with p->nr_marked, or -ENOMEM. */
static int mark_clashes(struct thin_repair *rp, struct owner_pass *p)
{
	uint8_t *skip;
	int r = owner_pass_init(rp, p, p->nbits);

	if (r)
		return r;
	r = same_roots(rp, &skip);
	for (size_t i = 0; i < rp->nr_devs && !r; i++) {
		if (skip[i] || !rp->devs[i].nr)
			continue;
		pass_begin_dev(p);
		r = repair_each_map(rp, &rp->devs[i], mark_claim, p);
		pass_end_dev(p);
	}
	free(skip);
	return r;
}

/*
 * A data block may be mapped more than once only by mappings that share it
 * the way snapshots do: each in a different device, all with the time of
 * the write that allocated it.  Otherwise the newest claimant keeps it
 * (ties: the lowest device id and virtual block) and the rest are dropped
 * (excluded), each reported.  Memory: three bits per data block and the
 * claims on the blocks marked (none in the usual case); when the pool's
 * data blocks far outnumber the mappings every claim past the highest
 * mapped block is looked at, and, past a bound, every claim.
 */
static int one_owner(struct thin_repair *rp)
{
	struct owner_pass p = { 0 };
	uint64_t nb = rp->nr_data_blocks, n = 0, top = 0, dropped = 0;
	int r = 0, any_past = 0;
	struct claim *c;

	for (size_t i = 0; i < rp->nr_devs; i++) {
		n += rp->devs[i].nr;
		if (rp->devs[i].nr && rp->devs[i].max_block >= top)
			top = rp->devs[i].max_block + 1;
	}
	if (n < 2 || rp->nr_devs > UINT32_MAX) {
		drop_early(rp);
		return 0;
	}
	/* Which claims past nr_data_blocks take part: see above. */
	p.collect_past = !nb || nb > 4 * n + (1u << 20);
	p.nbits = nb < top ? nb : top;
	if (p.collect_past && p.nbits > 64 * n + (1u << 26))
		p.nbits = 0;
	/*
	 * The walk's pass 1 (its bitmaps cover at most nr_data_blocks) is
	 * good when it covers the blocks this one would: marks are only
	 * ever a superset of the blocks to look at.
	 */
	if (rp->early && rp->early->nbits >= p.nbits) {
		int past = p.collect_past;

		p = *rp->early;
		p.collect_past = past;
		free(rp->early);
		rp->early = NULL;
	} else {
		drop_early(rp);
		r = mark_clashes(rp, &p);
	}
	for (size_t i = 0; i < rp->nr_devs; i++)
		if (rp->devs[i].nr && rp->devs[i].max_block >= p.nbits)
			any_past = 1;
	if (r || (!p.nr_marked && !(any_past && p.collect_past)))
		goto out;
	base_bitmap_release(&p.seen);
	base_bitmap_release(&p.mine);
	base_bitmap_release(&p.leaves);
	for (size_t i = 0; i < rp->nr_devs && !r; i++) {
		p.dev = (uint32_t)i;
		r = repair_each_map(rp, &rp->devs[i], collect_claim, &p);
	}
	if (r)
		goto out;
	c = p.c;
	if (p.n)
		qsort(c, p.n, sizeof(*c), by_block);
	for (size_t i = 0; i < p.n && !r;) {
		size_t e = i + 1, best = i;
		int clash = 0;

		while (e < p.n && c[e].d == c[i].d)
			e++;
		for (size_t j = i + 1; j < e; j++) {
			if (c[j].dev == c[j - 1].dev ||
			    c[best].time != c[j].time)
				clash = 1;
			if (c[j].time > c[best].time)
				best = j;
		}
		if (clash) {
			const struct claim *k = &c[best];
			struct rdev *kd = &rp->devs[k->dev];
			uint32_t last_dev = UINT32_MAX;

			for (size_t j = i; j < e && !r; j++) {
				struct rdev *dd = &rp->devs[c[j].dev];

				/* The newest write's sharers keep it, once each. */
				if (j == best ||
				    (c[j].time == k->time &&
				     c[j].dev != k->dev &&
				     c[j].dev != last_dev)) {
					last_dev = c[j].dev;
					continue;
				}
				if (dropped++ < REPAIR_NOTE_LIMIT)
					repair_note(rp, "data block %" PRIu64
						    ": mapped by device %" PRIu64
						    " block %" PRIu64 " (time %"
						    PRIu32 ") and device %" PRIu64
						    " block %" PRIu64 " (time %"
						    PRIu32 "): kept the newer, "
						    "device %" PRIu64 "'s",
						    c[j].d, dd->id, c[j].v,
						    c[j].time, kd->id, k->v,
						    k->time, kd->id);
				r = add_excl(dd, c[j].idx);
			}
		}
		i = e;
	}
	if (r)
		goto out;
	if (dropped > REPAIR_NOTE_LIMIT)
		repair_note(rp, "... %" PRIu64 " mappings dropped in all as "
			    "claims on a data block another mapping has",
			    dropped);
	for (size_t i = 0; i < rp->nr_devs; i++)
		if (rp->devs[i].nr_excl)
			qsort(rp->devs[i].excl, rp->devs[i].nr_excl,
			      sizeof(*rp->devs[i].excl), by_u64);
out:
	owner_pass_release(&p);
	return r;
}

static int choose_superblock(struct thin_repair *rp)
{
	uint64_t max_tid = 0, max_block = 0;
	uint32_t max_time = 0;
	int any = 0;
	/* The newest metadata snapshot's copy: a lower bound when sb lost. */
	const struct sbcopy *cp = NULL;

	for (size_t i = 0; i < rp->nr_copies && !rp->sb_ok; i++)
		if (!cp || rp->copies[i].sb.trans_id > cp->sb.trans_id)
			cp = &rp->copies[i];
	if (cp && cp->sb.time > max_time)
		max_time = cp->sb.time;

	for (size_t i = 0; i < rp->nr_devs; i++) {
		const struct rdev *d = &rp->devs[i];

		if (d->have_details) {
			if (d->details.transaction_id > max_tid)
				max_tid = d->details.transaction_id;
			if (d->details.creation_time > max_time)
				max_time = d->details.creation_time;
			if (d->details.snapshotted_time > max_time)
				max_time = d->details.snapshotted_time;
		}
		/* Kept up to date as mappings were added: no pass here. */
		if (d->nr) {
			if (d->max_time > max_time)
				max_time = d->max_time;
			if (d->max_block >= max_block)
				max_block = d->max_block;
			any = 1;
		}
	}

	if (rp->o.set_trans_id) {
		rp->trans_id = rp->o.trans_id;
		repair_note(rp, "transaction id %" PRIu64 " (as given)%s",
			    rp->trans_id, rp->sb_ok ? "" : "");
		if (rp->sb_ok && rp->sb.trans_id != rp->trans_id)
			repair_note(rp, "the superblock said transaction %"
				    PRIu64, rp->sb.trans_id);
	} else if (rp->sb_ok) {
		rp->trans_id = rp->sb.trans_id;
		repair_note(rp, "transaction id %" PRIu64 " (the superblock's)",
			    rp->trans_id);
	} else if (cp && cp->sb.trans_id >= max_tid) {
		rp->trans_id = cp->sb.trans_id;
		repair_note(rp, "transaction id %" PRIu64 " inferred (superblock "
			    "lost): the metadata snapshot's copy at block %"
			    PRIu64 " says so, and the pool's is no lower; give "
			    "--transaction-id if LVM's is higher", rp->trans_id,
			    cp->block);
	} else {
		rp->trans_id = max_tid;
		repair_note(rp, "transaction id %" PRIu64 " inferred (superblock "
			    "lost): the newest device's transaction id; give "
			    "--transaction-id if LVM's is higher", rp->trans_id);
	}

	rp->time = rp->sb_ok ? rp->sb.time : max_time;
	if (!rp->sb_ok)
		repair_note(rp, "pool time %" PRIu32 " inferred: the newest time "
			    "in the mappings and device details", rp->time);
	else if (max_time > rp->time) {
		repair_note(rp, "pool time raised from %" PRIu32 " to %" PRIu32
			    " (a mapping or device is newer than the "
			    "superblock's time)", rp->time, max_time);
		rp->time = max_time;
	}

	if (rp->o.set_data_block_size)
		rp->data_block_size = rp->o.data_block_size;
	else if (rp->sb_ok)
		rp->data_block_size = rp->sb.data_block_size;
	else if (cp && thin_data_block_size_ok(cp->sb.data_block_size)) {
		rp->data_block_size = cp->sb.data_block_size;
		repair_note(rp, "data block size %" PRIu32 " sectors (superblock "
			    "lost): the metadata snapshot's copy at block %"
			    PRIu64 "'s", rp->data_block_size, cp->block);
	} else {
		rp->data_block_size = REPAIR_DEFAULT_DATA_BLOCK_SIZE;
		repair_note(rp, "data block size unknown (superblock lost): "
			    "using %u sectors; give --data-block-size with the "
			    "pool's", REPAIR_DEFAULT_DATA_BLOCK_SIZE);
	}

	if (!thin_data_block_size_ok(rp->data_block_size))
		return repair_fail(rp, -EINVAL, "the superblock's data block "
				   "size, %" PRIu32 " sectors, is not one the "
				   "kernel takes: give the pool's with "
				   "--data-block-size", rp->data_block_size);

	if (rp->o.set_nr_data_blocks)
		rp->nr_data_blocks = rp->o.nr_data_blocks;
	else if (rp->sb_ok)
		rp->nr_data_blocks = rp->sb.data_sm.nr_blocks;
	else {
		/* Too small is safe: the kernel grows it to the data device. */
		rp->nr_data_blocks = any ? max_block + 1 : 0;
		repair_note(rp, "nr_data_blocks unknown (superblock lost): "
			    "using %" PRIu64 ", one past the highest mapped "
			    "block (the kernel extends it to the data device)",
			    rp->nr_data_blocks);
	}
	if (rp->nr_data_blocks > THIN_MAX_DATA_BLOCK + 1)
		rp->nr_data_blocks = THIN_MAX_DATA_BLOCK + 1;
	return 0;
}

struct past_pass {
	struct thin_repair *rp;
	const struct rdev *d;
	uint64_t *idx;		/* the device's mappings dropped here */
	size_t n, cap;
	uint64_t dropped;
};

static int past_claim(void *ctx, uint64_t leaf, uint64_t idx, uint64_t v,
		      uint64_t bt)
{
	struct past_pass *p = ctx;
	uint64_t b = thin_block_time_block(bt);

	(void)leaf;
	if (b < p->rp->nr_data_blocks)
		return 0;
	if (p->dropped++ < REPAIR_NOTE_LIMIT)
		repair_note(p->rp, "device %" PRIu64 " block %" PRIu64 ": data "
			    "block %" PRIu64 " is past nr_data_blocks %" PRIu64
			    ": dropped", p->d->id, v, b, p->rp->nr_data_blocks);
	if (BASE_GROW(p->idx, p->cap, p->n + 1, 64) < 0)
		return -ENOMEM;
	p->idx[p->n++] = idx;
	return 0;
}

/* Both increasing: d's exclusions become their union. */
static int merge_excl(struct rdev *d, const uint64_t *x, size_t n)
{
	uint64_t *m;
	size_t i = 0, j = 0, k = 0;

	if (!n)
		return 0;
	m = malloc((d->nr_excl + n) * sizeof(*m));
	if (!m)
		return -ENOMEM;
	while (i < d->nr_excl || j < n)
		if (j == n || (i < d->nr_excl && d->excl[i] < x[j]))
			m[k++] = d->excl[i++];
		else
			m[k++] = x[j++];
	free(d->excl);
	d->excl = m;
	d->nr_excl = d->cap_excl = k;
	return 0;
}

static int drop_out_of_range(struct thin_repair *rp)
{
	struct past_pass p = { .rp = rp };
	int r = 0;

	for (size_t i = 0; i < rp->nr_devs && !r; i++) {
		struct rdev *d = &rp->devs[i];

		if (!live_maps(d) || d->max_block < rp->nr_data_blocks)
			continue;
		p.d = d;
		p.n = 0;
		r = repair_each_map(rp, d, past_claim, &p);
		if (!r)
			r = merge_excl(d, p.idx, p.n);
	}
	free(p.idx);
	if (r)
		return r;
	if (p.dropped > REPAIR_NOTE_LIMIT)
		repair_note(rp, "... %" PRIu64 " mappings past nr_data_blocks "
			    "dropped in all", p.dropped);
	return 0;
}

static void fix_details(struct thin_repair *rp)
{
	rp->nr_mappings = 0;
	for (size_t i = 0; i < rp->nr_devs; i++) {
		struct rdev *d = &rp->devs[i];
		size_t nr = live_maps(d);

		rp->nr_mappings += nr;
		if (!d->have_details) {
			d->have_details = 1;
			d->details.mapped_blocks = nr;
			d->details.transaction_id = rp->trans_id;
			d->details.creation_time = 0;
			/* Every older mapping shared: the kernel copies before
			 * it writes, never overwriting a block in place. */
			d->details.snapshotted_time = rp->time;
			repair_note(rp, "device %" PRIu64 ": details lost: "
				    "rebuilt (mapped_blocks %zu, transaction %"
				    PRIu64 ", creation time 0, snapshotted time %"
				    PRIu32 ")", d->id, nr, rp->trans_id,
				    rp->time);
			continue;
		}
		if (d->details.mapped_blocks != nr) {
			repair_note(rp, "device %" PRIu64 ": mapped_blocks "
				    "corrected from %" PRIu64 " to %zu", d->id,
				    d->details.mapped_blocks, nr);
			d->details.mapped_blocks = nr;
		}
		if (d->details.creation_time > rp->time)
			d->details.creation_time = rp->time;
		if (d->details.snapshotted_time > rp->time)
			d->details.snapshotted_time = rp->time;
	}
}

/* Whether the model is empty where the evidence is not. */
static int refuse_empty(struct thin_repair *rp)
{
	if (rp->nr_mappings)
		return 0;
	if (rp->ev_claimed)
		return repair_fail(rp, -ENODATA, "no mapping could be recovered, "
				   "but the device details found claim %" PRIu64
				   " mapped blocks: refusing to write an empty "
				   "pool", rp->ev_claimed);
	if (!rp->nr_devs && (rp->ev_details || rp->ev_map_leaves))
		return repair_fail(rp, -ENODATA, "no device could be recovered "
				   "from the %" PRIu64 " mapping leaves and %"
				   PRIu64 " device entries found: refusing to "
				   "write an empty pool", rp->ev_map_leaves,
				   rp->ev_details);
	if (!rp->sb_ok && !rp->nr_devs)
		return repair_fail(rp, -EILSEQ, "no thin metadata found: the "
				   "superblock is unreadable and the scan found "
				   "no device");
	return 0;
}

int thin_repair_read(struct pd_io *in, const struct thin_repair_opts *o,
		     struct thin_repair **out, char *msg, size_t msg_len)
{
	struct thin_repair *rp = calloc(1, sizeof(*rp));
	int r;

	*out = NULL;
	if (msg && msg_len)
		msg[0] = 0;
	if (!rp)
		return -ENOMEM;
	rp->io = in;
	rp->msg = msg;
	rp->msg_len = msg_len;
	if (o)
		rp->o = *o;
	/* No kernel uses a metadata block past the space map's cap. */
	rp->nr_blocks = in->nr_blocks < PD_SM_MAX_METADATA_BLOCKS ?
				in->nr_blocks : PD_SM_MAX_METADATA_BLOCKS;
	r = pd_bm_create(in, REPAIR_BM_BLOCKS, &rp->bm);
	if (r < 0)
		goto fail;
	r = read_superblock(rp);
	if (!r && rp->sb_ok)
		r = walk_from_sb(rp);
	if (r)
		goto fail;
	if (!rp->sb_ok || !rp->details_clean || !rp->top_clean ||
	    rp->trees_damaged) {
		drop_early(rp);
		r = repair_scan(rp);
		if (!r)
			r = repair_rebuild(rp);
		if (r)
			goto fail;
	} else {
		for (size_t i = 0; i < rp->nr_devs; i++) {
			struct rdev *d = &rp->devs[i];

			if (!d->have_root)
				repair_note(rp, "device %" PRIu64 ": in the "
					    "details tree only: kept without "
					    "mappings", d->id);
			else if (!d->have_details)
				repair_note(rp, "device %" PRIu64 ": in the "
					    "top level only", d->id);
		}
	}
	if (rp->sb_ok && rp->sb.held_root)
		repair_note(rp, "the metadata snapshot (block %" PRIu64 ") is "
			    "not carried over", rp->sb.held_root);
	r = choose_superblock(rp);
	if (!r)
		r = one_owner(rp);
	if (r)
		goto fail;
	r = drop_out_of_range(rp);
	if (r)
		goto fail;
	fix_details(rp);
	r = refuse_empty(rp);
	if (r)
		goto fail;
	/* The block manager stays: emitting reads the lazy devices again. */
	free(rp->node);
	free(rp->refd);
	free(rp->cands);
	free(rp->copies);
	free(rp->sm_index);
	rp->sm_index = NULL;
	rp->node = rp->refd = NULL;
	rp->cands = NULL;
	rp->copies = NULL;
	rp->msg = NULL;
	*out = rp;
	return 0;
fail:
	if (r == -ENOMEM)
		repair_fail(rp, r, "out of memory");
	else if (msg && msg_len && !msg[0])
		repair_fail(rp, r, "%s", pd_strerror(r));
	rp->msg = NULL;
	thin_repair_destroy(rp);
	return r;
}

/* Full leaves (the restore builder fills them) and their parents. */
static uint64_t tree_blocks(uint64_t entries, uint64_t per_leaf)
{
	uint64_t n = (entries + per_leaf - 1) / per_leaf, total = n ? n : 1;

	while (n > 1) {
		n = (n + 251) / 252;
		total += n;
	}
	return total;
}

uint64_t thin_repair_blocks_needed(const struct thin_repair *rp)
{
	uint64_t n = 1 + 8;	/* superblock, metadata space map slack */
	uint64_t nb = (rp->nr_data_blocks + PD_SM_ENTRIES_PER_BITMAP - 1) /
		      PD_SM_ENTRIES_PER_BITMAP;

	for (size_t i = 0; i < rp->nr_devs; i++)
		n += tree_blocks(live_maps(&rp->devs[i]), 252);
	n += tree_blocks(rp->nr_devs, 252) + tree_blocks(rp->nr_devs, 126);
	n += nb + nb / 100 + 2;
	return n + n / PD_SM_ENTRIES_PER_BITMAP + 1;
}

uint64_t thin_repair_trans_id(const struct thin_repair *rp)
{
	return rp->trans_id;
}

uint64_t thin_repair_nr_devices(const struct thin_repair *rp)
{
	return rp->nr_devs;
}

uint64_t thin_repair_nr_mappings(const struct thin_repair *rp)
{
	return rp->nr_mappings;
}

/* Whether a and b (both lazy) give the same mappings wherever read. */
static int same_stream(const struct rdev *a, const struct rdev *b)
{
	return a->root == b->root && a->nr == b->nr &&
	       a->nr_extra == b->nr_extra && a->nr_excl == b->nr_excl &&
	       (!a->nr_extra ||
		!memcmp(a->maps, b->maps, a->nr_extra * sizeof(*a->maps))) &&
	       (!a->nr_excl ||
		!memcmp(a->excl, b->excl, a->nr_excl * sizeof(*a->excl)));
}

/*
 * lead[i]: the first device whose mappings device i's are (the same tree,
 * patches and drops: a snapshot nothing was written to since), or i.
 */
static int same_leads(const struct thin_repair *rp, size_t **out)
{
	size_t n = 0, *lead = malloc((rp->nr_devs ? rp->nr_devs : 1) *
				     sizeof(*lead));
	struct rootref *refs = malloc((rp->nr_devs ? rp->nr_devs : 1) *
				      sizeof(*refs));

	*out = NULL;
	if (!lead || !refs) {
		free(lead);
		free(refs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < rp->nr_devs; i++) {
		lead[i] = i;
		if (rp->devs[i].lazy && live_maps(&rp->devs[i])) {
			refs[n].root = rp->devs[i].root;
			refs[n++].i = i;
		}
	}
	qsort(refs, n, sizeof(*refs), by_root);
	for (size_t k = 1, g = 0; k < n; k++) {
		if (refs[k].root != refs[g].root) {
			g = k;
			continue;
		}
		/* The first alike in the group (by index: emitted before). */
		for (size_t j = g; j < k; j++)
			if (lead[refs[j].i] == refs[j].i &&
			    same_stream(&rp->devs[refs[j].i],
					&rp->devs[refs[k].i])) {
				lead[refs[k].i] = refs[j].i;
				break;
			}
	}
	free(refs);
	*out = lead;
	return 0;
}

int thin_repair_emit(const struct thin_repair *rp, const struct thin_emitter *e)
{
	struct thin_emit_sb esb = {
		.time = rp->time,
		.trans_id = rp->trans_id,
		.flags = 0,
		.version = THIN_VERSION,
		.data_block_size = rp->data_block_size,
		.nr_data_blocks = rp->nr_data_blocks,
	};
	/* Reading the lazy devices again changes nothing but the cache. */
	struct thin_repair *w = (struct thin_repair *)rp;
	size_t *lead = NULL;
	int r = 0;

	if (e->same_mappings && (r = same_leads(rp, &lead)))
		return r;
	if (e->begin_superblock && (r = e->begin_superblock(e->ctx, &esb)))
		goto out;
	for (size_t i = 0; i < rp->nr_devs; i++) {
		const struct rdev *d = &rp->devs[i];
		struct thin_emit_device ed = { d->id, d->details };
		struct emit_pass p = { .e = e };

		if (e->begin_device && (r = e->begin_device(e->ctx, &ed)))
			goto out;
		if (lead && lead[i] != i)
			r = e->same_mappings(e->ctx, rp->devs[lead[i]].id);
		else if (live_maps(d))
			r = repair_each_map(w, d, emit_map, &p);
		if (r)
			goto out;
		if (p.len && e->mapping &&
		    (r = e->mapping(e->ctx, p.vb, p.db, p.len, p.t)))
			goto out;
		if (e->end_device && (r = e->end_device(e->ctx)))
			goto out;
	}
	if (e->end_superblock)
		r = e->end_superblock(e->ctx);
out:
	free(lead);
	return r;
}

void thin_repair_destroy(struct thin_repair *rp)
{
	if (!rp)
		return;
	for (size_t i = 0; i < rp->nr_devs; i++) {
		free(rp->devs[i].maps);
		free(rp->devs[i].dmg);
		free(rp->devs[i].excl);
	}
	free(rp->devs);
	drop_early(rp);
	free(rp->node);
	free(rp->refd);
	free(rp->cands);
	free(rp->copies);
	free(rp->sm_index);
	pd_bm_destroy(rp->bm);
	free(rp);
}
