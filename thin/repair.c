// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The thin repair (thin/repair.h), layers 1 and 4: the walk from the
 * superblock's roots, the choice of the superblock values, the consistency
 * rules (no data block handed out twice, mappings inside the data device,
 * mapped_blocks and the pool time following the mappings), and the
 * emitting of the model.  Layers 2 and 3 (the scan and the rebuild from
 * what it finds) are in repair_scan.c.
 */
#include "thin/repair.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/endian.h"
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

#define HUGE_PAGE ((size_t)2 << 20)

/*
 * An array that free() (and realloc()) take.  The big ones (16 MiB of
 * mappings at 1M, the per-data-block records of one_owner) are written
 * once in full, and faulting them in 4 KiB at a time was a good part of a
 * sound pool's repair: aligned to 2 MiB and marked for transparent huge
 * pages they take a fault per 2 MiB instead (as cache/repair.c does).
 */
static void *alloc_big(size_t n, size_t size)
{
	size_t bytes;
	void *p;

	if (!n)
		n = 1;
	if (n > SIZE_MAX / size - HUGE_PAGE)
		return NULL;
	bytes = n * size;
	if (bytes < HUGE_PAGE)
		return malloc(bytes);
	bytes = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
	if (posix_memalign(&p, HUGE_PAGE, bytes))
		return NULL;
	(void)madvise(p, bytes, MADV_HUGEPAGE);
	return p;
}

struct rdev *repair_find_dev(struct thin_repair *rp, uint64_t id)
{
	size_t lo = 0, hi = rp->nr_devs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rp->devs[mid].id < id)
			lo = mid + 1;
		else if (rp->devs[mid].id > id)
			hi = mid;
		else
			return &rp->devs[mid];
	}
	return NULL;
}

struct rdev *repair_get_dev(struct thin_repair *rp, uint64_t id)
{
	struct rdev *x = repair_find_dev(rp, id);
	size_t pos;

	if (x)
		return x;
	if (rp->nr_devs == rp->cap_devs) {
		size_t cap = rp->cap_devs ? 2 * rp->cap_devs : 16;

		x = realloc(rp->devs, cap * sizeof(*x));
		if (!x)
			return NULL;
		rp->devs = x;
		rp->cap_devs = cap;
	}
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

/* A borrowed array becomes d's own copy. */
static int unborrow(struct rdev *d)
{
	struct rmap *m;

	if (!d->borrowed)
		return 0;
	m = alloc_big(d->nr, sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (d->nr)
		memcpy(m, d->maps, d->nr * sizeof(*m));
	d->maps = m;
	d->cap = d->nr;
	d->borrowed = 0;
	return 0;
}

int repair_own_maps(struct thin_repair *rp, struct rdev *d)
{
	int r = unborrow(d);

	for (size_t i = 0; i < rp->nr_devs && !r && d->lent; i++) {
		struct rdev *e = &rp->devs[i];

		if (e != d && e->borrowed && e->maps == d->maps)
			r = unborrow(e);
	}
	if (!r)
		d->lent = 0;
	return r;
}

int repair_add_map(struct rdev *d, uint64_t v, uint64_t bt)
{
	/* Callers own d's maps first; a borrower at least stops sharing. */
	if (d->borrowed && unborrow(d) < 0)
		return -ENOMEM;
	if (d->nr == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 256;
		struct rmap *m = realloc(d->maps, cap * sizeof(*m));

		if (!m)
			return -ENOMEM;
		d->maps = m;
		d->cap = cap;
	}
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
	if (d->nr_dmg == d->cap_dmg) {
		size_t cap = d->cap_dmg ? 2 * d->cap_dmg : 8;
		struct rrange *x = realloc(d->dmg, cap * sizeof(*x));

		if (!x)
			return -ENOMEM;
		d->dmg = x;
		d->cap_dmg = cap;
	}
	d->dmg[d->nr_dmg].begin = begin;
	d->dmg[d->nr_dmg].end = end;
	d->nr_dmg++;
	return 0;
}

/* ---- walking ---- */

struct map_walk {
	struct rdev *d;
	uint64_t lo, hi;
	int record_dmg;
	struct map_stats st;
};

static int map_leaf(void *ctx, uint64_t block, unsigned nr, const void *keys,
		    const void *values, int counted)
{
	struct map_walk *w = ctx;
	const unsigned char *kp = keys, *vp = values;

	(void)block;
	(void)counted;
	for (unsigned i = 0; i < nr; i++) {
		uint64_t v = load_le64(kp + 8 * (size_t)i);
		uint64_t bt = load_le64(vp + 8 * (size_t)i);
		uint32_t t = thin_block_time_time(bt);

		if (v < w->lo || v >= w->hi)
			continue;
		if (!w->st.nr++)
			w->st.kmin = v;
		w->st.kmax = v;
		if (t > w->st.max_time)
			w->st.max_time = t;
		if (w->d && repair_add_map(w->d, v, bt) < 0)
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
	if (w->record_dmg && w->d)
		return add_dmg(w->d, bd->key_begin, end);
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

int repair_walk_map(struct thin_repair *rp, uint64_t root, struct rdev *d,
		    uint64_t lo, uint64_t hi, int record_dmg,
		    struct map_stats *st)
{
	static const struct pd_btree_walk_ops ops = {
		.leaf = map_leaf,
		.damage = map_damage,
	};
	struct map_walk w = { .d = d, .lo = lo, .hi = hi,
			      .record_dmg = record_dmg };
	int r = single_leaf(rp, root, &w);

	if (r == 1)
		r = 0;
	else if (r == 0)
		r = pd_btree_walk(rp->bm, root, 8, REPAIR_WALK, &ops, &w);
	if (st)
		*st = w.st;
	return r;
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

/* One device's tree: walked, or o's borrowed (same root, read cleanly). */
static int walk_dev_tree(struct thin_repair *rp, struct rdev *d,
			 struct rdev *o)
{
	int r;

	if (o && !o->nr_dmg) {
		d->maps = o->maps;
		d->borrowed = 1;
		o->lent = 1;
		d->nr = d->cap = o->nr;
		d->max_time = o->max_time;
		d->max_block = o->max_block;
		return 0;
	}
	/* Sized once from the details (bounded: they may lie). */
	if (d->have_details && d->details.mapped_blocks) {
		size_t cap = d->details.mapped_blocks < (1u << 26) ?
				     (size_t)d->details.mapped_blocks :
				     (size_t)1 << 26;

		d->maps = alloc_big(cap, sizeof(*d->maps));
		if (!d->maps)
			return -ENOMEM;
		d->cap = cap;
	}
	r = repair_walk_map(rp, d->root, d, 0, UINT64_MAX, 1, NULL);
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
	 * same mappings, read once and shared (lead[i]: the device whose
	 * mappings device i borrows, or i itself).
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

struct claim {
	uint64_t d;
	uint32_t dev, idx;
};

static int by_block(const void *a, const void *b)
{
	const struct claim *x = a, *y = b;

	if (x->d != y->d)
		return x->d < y->d ? -1 : 1;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

#define DROPPED UINT64_MAX

static void compact(struct rdev *d, uint64_t *removed)
{
	size_t j = 0;

	for (size_t i = 0; i < d->nr; i++)
		if (d->maps[i].bt != DROPPED)
			d->maps[j++] = d->maps[i];
		else
			(*removed)++;
	d->nr = j;
}

/*
 * A data block may be mapped more than once only by mappings that share it
 * the way snapshots do: each in a different device, all with the time of
 * the write that allocated it.  Otherwise the newest claimant keeps it
 * (ties: the lowest device id and virtual block) and the rest are dropped,
 * each reported.
 */
/*
 * Which data blocks need a closer look: with a per-block record of the
 * first claim's time and the last claiming device (devices are visited in
 * turn, so the same device claiming twice claims consecutively), a block
 * is marked when a claim has another time or comes from the device that
 * claimed it last.  One pass, 9 bytes per data block; only the marked
 * blocks' claims are sorted, and none when none is marked (the usual
 * case).  NULL (look at every block) when the pool's data blocks far
 * outnumber the mappings.
 */
static int mark_clashes(struct thin_repair *rp, size_t n, uint8_t **out,
			size_t *nr_marked)
{
	uint64_t nb = rp->nr_data_blocks;
	uint32_t *time = NULL, *last = NULL;
	uint8_t *mark;

	*out = NULL;
	if (!nb || nb > 4 * (uint64_t)n + (1u << 20))
		return 0;
	time = alloc_big(nb, sizeof(*time));
	last = alloc_big(nb, sizeof(*last));
	mark = alloc_big(nb, 1);
	if (!time || !last || !mark) {
		free(time);
		free(last);
		free(mark);
		return -ENOMEM;
	}
	memset(time, 0xff, nb * sizeof(*time));
	memset(mark, 0, nb);
	for (size_t i = 0; i < rp->nr_devs; i++)
		for (size_t j = 0; j < rp->devs[i].nr; j++) {
			uint64_t bt = rp->devs[i].maps[j].bt;
			uint64_t b = thin_block_time_block(bt);
			uint32_t t = thin_block_time_time(bt);

			if (b >= nb)
				continue;	/* dropped later */
			if (time[b] == UINT32_MAX) {
				time[b] = t;
				last[b] = (uint32_t)i;
			} else if (time[b] != t || last[b] == i) {
				*nr_marked += !mark[b];
				mark[b] = 1;
			} else {
				last[b] = (uint32_t)i;
			}
		}
	free(time);
	free(last);
	*out = mark;
	return 0;
}

static int one_owner(struct thin_repair *rp)
{
	struct claim *c;
	uint8_t *mark;
	size_t n = 0, k = 0, nr_marked = 0;
	uint64_t dropped = 0, removed = 0;
	int r;

	for (size_t i = 0; i < rp->nr_devs; i++)
		n += rp->devs[i].nr;
	if (n < 2 || rp->nr_devs > UINT32_MAX)
		return 0;
	r = mark_clashes(rp, n, &mark, &nr_marked);
	if (r)
		return r;
	if (mark && !nr_marked) {
		free(mark);	/* the usual case: nothing to look closer at */
		return 0;
	}
	if (mark) {
		n = 0;
		for (size_t i = 0; i < rp->nr_devs; i++)
			for (size_t j = 0; j < rp->devs[i].nr; j++) {
				uint64_t b = thin_block_time_block(
					rp->devs[i].maps[j].bt);

				n += b < rp->nr_data_blocks && mark[b];
			}
	}
	c = malloc((n ? n : 1) * sizeof(*c));
	if (!c) {
		free(mark);
		return -ENOMEM;
	}
	for (size_t i = 0; i < rp->nr_devs; i++)
		for (size_t j = 0; j < rp->devs[i].nr; j++) {
			uint64_t b = thin_block_time_block(rp->devs[i].maps[j].bt);

			if (mark && (b >= rp->nr_data_blocks || !mark[b]))
				continue;
			c[k].d = b;
			c[k].dev = (uint32_t)i;
			c[k].idx = (uint32_t)j;
			k++;
		}
	free(mark);
	if (n)
	qsort(c, n, sizeof(*c), by_block);
	for (size_t i = 0; i < n;) {
		size_t e = i + 1, best = i;
		int clash = 0;

		while (e < n && c[e].d == c[i].d)
			e++;
		for (size_t j = i + 1; j < e; j++) {
			struct rmap *a = &rp->devs[c[best].dev].maps[c[best].idx];
			struct rmap *b = &rp->devs[c[j].dev].maps[c[j].idx];

			if (c[j].dev == c[j - 1].dev ||
			    thin_block_time_time(a->bt) !=
				    thin_block_time_time(b->bt))
				clash = 1;
			if (thin_block_time_time(b->bt) >
			    thin_block_time_time(a->bt))
				best = j;
		}
		if (clash) {
			struct rdev *kd = &rp->devs[c[best].dev];
			struct rmap *km = &kd->maps[c[best].idx];
			uint32_t kt = thin_block_time_time(km->bt);
			uint32_t last_dev = UINT32_MAX;

			for (size_t j = i; j < e; j++) {
				struct rdev *dd = &rp->devs[c[j].dev];
				struct rmap *m = &dd->maps[c[j].idx];

				/* The newest write's sharers keep it, once each. */
				if (j == best ||
				    (thin_block_time_time(m->bt) == kt &&
				     c[j].dev != c[best].dev &&
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
						    c[i].d, dd->id, m->v,
						    thin_block_time_time(m->bt),
						    kd->id, km->v, kt, kd->id);
				/* Its borrowers keep what they had. */
				if (repair_own_maps(rp, dd) < 0) {
					free(c);
					return -ENOMEM;
				}
				dd->maps[c[j].idx].bt = DROPPED;
			}
		}
		i = e;
	}
	free(c);
	if (dropped > REPAIR_NOTE_LIMIT)
		repair_note(rp, "... %" PRIu64 " mappings dropped in all as "
			    "claims on a data block another mapping has",
			    dropped);
	if (dropped)
		for (size_t i = 0; i < rp->nr_devs; i++)
			compact(&rp->devs[i], &removed);
	return 0;
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

static int drop_out_of_range(struct thin_repair *rp)
{
	uint64_t dropped = 0, removed = 0;

	for (size_t i = 0; i < rp->nr_devs; i++) {
		struct rdev *d = &rp->devs[i];

		if (!d->nr || d->max_block < rp->nr_data_blocks)
			continue;
		if (repair_own_maps(rp, d) < 0)
			return -ENOMEM;
		for (size_t j = 0; j < d->nr; j++) {
			uint64_t b = thin_block_time_block(d->maps[j].bt);

			if (b < rp->nr_data_blocks)
				continue;
			if (dropped++ < REPAIR_NOTE_LIMIT)
				repair_note(rp, "device %" PRIu64 " block %"
					    PRIu64 ": data block %" PRIu64
					    " is past nr_data_blocks %" PRIu64
					    ": dropped", d->id, d->maps[j].v, b,
					    rp->nr_data_blocks);
			d->maps[j].bt = DROPPED;
		}
	}
	if (dropped > REPAIR_NOTE_LIMIT)
		repair_note(rp, "... %" PRIu64 " mappings past nr_data_blocks "
			    "dropped in all", dropped);
	if (dropped)
		for (size_t i = 0; i < rp->nr_devs; i++)
			compact(&rp->devs[i], &removed);
	return 0;
}

static void fix_details(struct thin_repair *rp)
{
	rp->nr_mappings = 0;
	for (size_t i = 0; i < rp->nr_devs; i++) {
		struct rdev *d = &rp->devs[i];

		rp->nr_mappings += d->nr;
		if (!d->have_details) {
			d->have_details = 1;
			d->details.mapped_blocks = d->nr;
			d->details.transaction_id = rp->trans_id;
			d->details.creation_time = 0;
			/* Every older mapping shared: the kernel copies before
			 * it writes, never overwriting a block in place. */
			d->details.snapshotted_time = rp->time;
			repair_note(rp, "device %" PRIu64 ": details lost: "
				    "rebuilt (mapped_blocks %zu, transaction %"
				    PRIu64 ", creation time 0, snapshotted time %"
				    PRIu32 ")", d->id, d->nr, rp->trans_id,
				    rp->time);
			continue;
		}
		if (d->details.mapped_blocks != d->nr) {
			repair_note(rp, "device %" PRIu64 ": mapped_blocks "
				    "corrected from %" PRIu64 " to %zu", d->id,
				    d->details.mapped_blocks, d->nr);
			d->details.mapped_blocks = d->nr;
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
	pd_bm_destroy(rp->bm);
	rp->bm = NULL;
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
		n += tree_blocks(rp->devs[i].nr, 252);
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
	int r;

	if (e->begin_superblock && (r = e->begin_superblock(e->ctx, &esb)))
		return r;
	for (size_t i = 0; i < rp->nr_devs; i++) {
		const struct rdev *d = &rp->devs[i];
		struct thin_emit_device ed = { d->id, d->details };
		uint64_t vb = 0, db = 0, len = 0;
		uint32_t t = 0;

		if (e->begin_device && (r = e->begin_device(e->ctx, &ed)))
			return r;
		for (size_t j = 0; j < d->nr; j++) {
			uint64_t v = d->maps[j].v;
			uint64_t b = thin_block_time_block(d->maps[j].bt);
			uint32_t mt = thin_block_time_time(d->maps[j].bt);

			if (len && v == vb + len && b == db + len && mt == t) {
				len++;
				continue;
			}
			if (len && e->mapping &&
			    (r = e->mapping(e->ctx, vb, db, len, t)))
				return r;
			vb = v;
			db = b;
			t = mt;
			len = 1;
		}
		if (len && e->mapping && (r = e->mapping(e->ctx, vb, db, len, t)))
			return r;
		if (e->end_device && (r = e->end_device(e->ctx)))
			return r;
	}
	if (e->end_superblock && (r = e->end_superblock(e->ctx)))
		return r;
	return 0;
}

void thin_repair_destroy(struct thin_repair *rp)
{
	if (!rp)
		return;
	for (size_t i = 0; i < rp->nr_devs; i++) {
		if (!rp->devs[i].borrowed)
			free(rp->devs[i].maps);
		free(rp->devs[i].dmg);
	}
	free(rp->devs);
	free(rp->node);
	free(rp->refd);
	free(rp->cands);
	free(rp->copies);
	free(rp->sm_index);
	pd_bm_destroy(rp->bm);
	free(rp);
}
