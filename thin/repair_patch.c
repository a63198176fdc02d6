// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The thin repair (thin/repair.h), layer 3's last step: a device tree's
 * damaged key ranges filled from the newest older copy of that tree (a
 * tree the scan found holding one of the device's own mappings, or one an
 * older top-level tree gives for the device), or else from the orphan
 * subtrees that lie within the range, each range reported.  The patches
 * join the device as extra mappings merged into its tree wherever it is
 * read (thin/repair_int.h), so a patched device stays lazy.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "thin/repair_int.h"

struct src {
	uint64_t root;
	uint32_t max_time;
	uint64_t nr;
	int held;		/* a metadata snapshot's */
};

static int patch_from(struct thin_repair *rp, const struct rdev *d,
		      struct rdev *into, const struct rrange *g,
		      const struct src *s, int *done)
{
	const char *held = s->held ? " (a metadata snapshot's)" : "";
	uint64_t root = s->root;
	struct rdev t = { 0 };
	struct map_stats st;
	int r;

	*done = 0;
	r = repair_walk_map(rp, root, &t, g->begin, g->end, 0, &st);
	if (!r && !st.damaged) {
		for (size_t i = 0; i < t.nr && !r; i++)
			r = repair_add_map(into, t.maps[i].v, t.maps[i].bt);
		if (!r) {
			*done = 1;
			if (g->end == UINT64_MAX)
				repair_note(rp, "device %" PRIu64 ": virtual "
					    "blocks from %" PRIu64 " on (a "
					    "damaged node) patched from the "
					    "older tree at block %" PRIu64
					    "%s: %zu mapping(s)", d->id,
					    g->begin, root, held, t.nr);
			else
				repair_note(rp, "device %" PRIu64 ": virtual "
					    "blocks %" PRIu64 "-%" PRIu64 " (a "
					    "damaged node) patched from the "
					    "older tree at block %" PRIu64
					    "%s: %zu mapping(s)", d->id,
					    g->begin, g->end - 1, root, held,
					    t.nr);
		}
	}
	free(t.maps);
	return r;
}

static int by_newest(const void *a, const void *b)
{
	const struct src *x = a, *y = b;

	if (x->max_time != y->max_time)
		return x->max_time > y->max_time ? -1 : 1;
	if (x->nr != y->nr)
		return x->nr > y->nr ? -1 : 1;
	return x->root > y->root ? -1 : x->root < y->root;
}

/* Older copies of d's tree, newest first. */
static int sources(struct thin_repair *rp, const struct rdev *d,
		   struct src **out, size_t *n)
{
	struct src *s = NULL;
	size_t k = 0;
	int r = 0;

	*out = NULL;
	*n = 0;
	s = malloc((rp->nr_cands ? rp->nr_cands : 1) * sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < rp->nr_cands && !r; i++) {
		struct cand *c = &rp->cands[i];
		int yes = 0;

		if (c->kind == CAND_TOP && c->block != rp->sb.mapping_root) {
			unsigned char v[8];
			struct cand *m;

			if (!pd_btree_lookup(rp->bm, c->block, 8, d->id, v,
					     NULL) &&
			    load_le64(v) != d->root &&
			    (m = repair_find_cand(rp, load_le64(v))) &&
			    m->kind == CAND_MAP) {
				int dup = 0;

				for (size_t j = 0; j < k; j++)
					dup |= s[j].root == m->block;
				if (!dup)
					s[k++] = (struct src){
						m->block, m->max_time, m->nr,
						c->held || m->held };
			}
			continue;
		}
		/* Another device's tree (a snapshot's) is not an older copy. */
		if (c->kind != CAND_MAP || c->block == d->root || c->used)
			continue;
		r = repair_shares_with(rp, c->block, d, &yes);
		if (!r && yes) {
			int dup = 0;

			for (size_t j = 0; j < k; j++)
				dup |= s[j].root == c->block;
			if (!dup)
				s[k++] = (struct src){ c->block, c->max_time,
						       c->nr, c->held };
		}
	}
	if (r) {
		free(s);
		return r;
	}
	qsort(s, k, sizeof(*s), by_newest);
	*out = s;
	*n = k;
	return 0;
}

/*
 * No older copy covers a damaged range: the subtrees that lost their
 * parent are still there, unreferenced, each a candidate of its own.
 * Those whose keys all lie in the range are taken, newest first, each
 * only if its keys do not overlap one taken before (an older version of
 * the same subtree).  Used when no other tree fits; each one reported.
 */
static int fill_fragments(struct thin_repair *rp, const struct rdev *d,
			  struct rdev *into, const struct rrange *g, int *done)
{
	struct cand **order;
	size_t n = 0, taken = 0;
	int r = 0;

	*done = 0;
	order = malloc((rp->nr_cands ? rp->nr_cands : 1) * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < rp->nr_cands; i++) {
		struct cand *c = &rp->cands[i];

		if (c->kind == CAND_MAP && !c->used && !c->damaged && c->nr &&
		    c->kmin >= g->begin && c->kmax < g->end)
			order[n++] = c;
	}
	qsort(order, n, sizeof(*order), repair_by_rank);
	for (size_t k = 0; k < n && !r && taken < REPAIR_MAX_MERGE; k++) {
		struct cand *c = order[k];
		int overlap = 0;

		for (size_t j = 0; j < taken && !overlap; j++)
			overlap = c->kmin <= order[j]->kmax &&
				  order[j]->kmin <= c->kmax;
		if (overlap)
			continue;
		r = repair_walk_map(rp, c->block, into, 0, UINT64_MAX, 0, NULL);
		c->used = 1;
		order[taken++] = c;	/* k >= taken: no entry is lost */
		if (!r)
			repair_note(rp, "device %" PRIu64 ": virtual blocks %"
				    PRIu64 "-%" PRIu64 " (in a damaged node's "
				    "range) from the orphan subtree at block %"
				    PRIu64 ": %" PRIu64 " mapping(s)", d->id,
				    c->kmin, c->kmax, c->block, c->nr);
	}
	free(order);
	*done = taken > 0;
	return r;
}

/* Back in order, one per virtual block (the first of each after sorting). */
static void sort_maps(struct rdev *d)
{
	size_t j = 0;

	if (d->nr)
		qsort(d->maps, d->nr, sizeof(*d->maps), repair_by_v);
	d->max_time = 0;
	d->max_block = 0;
	for (size_t i = 0; i < d->nr; i++)
		if (!j || d->maps[i].v != d->maps[j - 1].v) {
			uint64_t bt = d->maps[i].bt;

			if (thin_block_time_time(bt) > d->max_time)
				d->max_time = thin_block_time_time(bt);
			if (thin_block_time_block(bt) > d->max_block)
				d->max_block = thin_block_time_block(bt);
			d->maps[j++] = d->maps[i];
		}
	d->nr = j;
}

/* Whether a key of d's tree is in x (increasing v). */
static int key_in(void *ctx, uint64_t leaf, uint64_t idx, uint64_t v,
		  uint64_t bt)
{
	const struct rdev *x = ctx;
	struct rmap m = { v, 0 };

	(void)leaf;
	(void)idx;
	(void)bt;
	return x->nr && bsearch(&m, x->maps, x->nr, sizeof(m), repair_by_v) ?
		       COMMON_FOUND : 0;
}

/*
 * The patches (x, in the order found) join d: as its extra mappings, d
 * staying lazy (its tree read again, the patches merged in), when no key
 * is given twice, as it never is (the patches fill damaged ranges, where
 * the tree gave nothing, and disjoint ones); otherwise d's mappings are
 * read into memory and sorted together with them, the first of each key
 * kept, as they were before devices were lazy.
 */
static int add_patches(struct thin_repair *rp, struct rdev *d, struct rdev *x)
{
	struct rdev s = { 0 };
	int r = 0, twice = 0;

	if (!x->nr)
		return 0;
	if (d->lazy && !d->nr_extra) {
		s.maps = malloc(x->nr * sizeof(*s.maps));
		if (!s.maps)
			return -ENOMEM;
		memcpy(s.maps, x->maps, x->nr * sizeof(*s.maps));
		s.nr = s.cap = x->nr;
		qsort(s.maps, s.nr, sizeof(*s.maps), repair_by_v);
		for (size_t i = 1; i < s.nr; i++)
			twice |= s.maps[i].v == s.maps[i - 1].v;
		if (!twice) {
			r = repair_each_map(rp, d, key_in, &s);
			if (r == COMMON_FOUND) {
				twice = 1;
				r = 0;
			}
		}
		if (!r && !twice) {
			d->maps = s.maps;
			d->cap = s.cap;
			d->nr_extra = s.nr;
			d->nr += s.nr;
			/* The newest time and the highest block. */
			sort_maps(&s);
			if (s.max_time > d->max_time)
				d->max_time = s.max_time;
			if (s.max_block > d->max_block)
				d->max_block = s.max_block;
			return 0;
		}
		free(s.maps);
		if (r)
			return r;
	}
	r = repair_materialise(rp, d);
	for (size_t i = 0; i < x->nr && !r; i++)
		r = repair_add_map(d, x->maps[i].v, x->maps[i].bt);
	if (!r)
		sort_maps(d);
	return r;
}

int repair_patch_device(struct thin_repair *rp, struct rdev *d)
{
	struct rdev x = { 0 };	/* the patches */
	struct src *s;
	size_t n;
	int r;

	r = sources(rp, d, &s, &n);
	for (size_t g = 0; g < d->nr_dmg && !r; g++) {
		int done = 0;

		for (size_t i = 0; i < n && !done && !r; i++)
			r = patch_from(rp, d, &x, &d->dmg[g], &s[i], &done);
		if (!r && !done)
			r = fill_fragments(rp, d, &x, &d->dmg[g], &done);
		if (!r && !done) {
			if (d->dmg[g].end == UINT64_MAX)
				repair_note(rp, "device %" PRIu64 ": virtual "
					    "blocks from %" PRIu64 " on lost (a "
					    "damaged node, no older copy)",
					    d->id, d->dmg[g].begin);
			else
				repair_note(rp, "device %" PRIu64 ": virtual "
					    "blocks %" PRIu64 "-%" PRIu64
					    " lost (a damaged node, no older "
					    "copy)", d->id, d->dmg[g].begin,
					    d->dmg[g].end - 1);
		}
	}
	free(s);
	if (!r)
		r = add_patches(rp, d, &x);
	free(x.maps);
	return r;
}

