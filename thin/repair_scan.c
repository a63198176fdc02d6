// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The thin repair (thin/repair.h), layers 2 and 3: the scan of the whole
 * metadata device for btree nodes, the classification of the trees whose
 * roots nothing points at, and the rebuild of what the walk from the
 * superblock could not reach: lost details, lost device roots, orphan
 * trees, and damaged ranges filled from older copies.
 *
 * Older copies abound (every transaction leaves the nodes it replaced, a
 * metadata snapshot keeps a whole older pool), so which tree is current is
 * decided by evidence, strongest first: agreement with what is known of
 * the current pool, the current space map, never a snapshot's by default
 * (thin/THIN.md §10).
 *
 * Bounded: the scan is one pass over the device; every tree is read with
 * the checking walker (cycles and depth past PD_BTREE_MAX_DEPTH are
 * damage); descending to a candidate's first leaf stops at that depth.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitmap.h"
#include "base/endian.h"
#include "base/grow.h"
#include "base/sorted.h"
#include "pdata/ondisk.h"
#include "pdata/scan.h"
#include "pdata/sm.h"
#include "thin/repair_int.h"

enum node_kind {
	NODE_NONE,
	NODE_LEAF8,
	NODE_LEAF24,
	NODE_LEAF_OTHER,
	NODE_INTERNAL,
};

/* ---- layer 2: the scan ---- */

/*
 * A superblock anywhere but block 0 is a copy reserve_metadata_snap made
 * (held now, or released since): its roots are the pool as it was then.
 */
static int add_copy(struct thin_repair *rp, uint64_t block, const void *data)
{
	if (BASE_GROW(rp->copies, rp->cap_copies, rp->nr_copies + 1, 4) < 0)
		return -ENOMEM;
	rp->copies[rp->nr_copies].block = block;
	thin_sb_unpack(data, &rp->copies[rp->nr_copies].sb);
	rp->nr_copies++;
	return 0;
}

static int add_sm_index(struct thin_repair *rp, uint64_t block)
{
	if (BASE_GROW(rp->sm_index, rp->cap_sm_index,
		       rp->nr_sm_index + 1, 16) < 0)
		return -ENOMEM;
	rp->sm_index[rp->nr_sm_index++] = block;
	return 0;
}

/* The superblock copy whose top level or details tree is at block. */
static const struct sbcopy *copy_of(const struct thin_repair *rp,
				    uint64_t block)
{
	for (size_t i = 0; i < rp->nr_copies; i++)
		if (rp->copies[i].sb.mapping_root == block ||
		    rp->copies[i].sb.details_root == block)
			return &rp->copies[i];
	return NULL;
}

static int scan_block(void *ctx, uint64_t block, enum pd_scan_kind kind,
		      const void *data)
{
	struct thin_repair *rp = ctx;
	const struct pd_node_header *h = data;
	uint32_t nr, vs;
	const unsigned char *vals;

	if (kind == PD_SCAN_EXTRA)
		return block ? add_copy(rp, block, data) : 0;
	if (kind == PD_SCAN_SM_INDEX)
		return add_sm_index(rp, block);
	if (kind != PD_SCAN_BTREE_LEAF && kind != PD_SCAN_BTREE_INTERNAL)
		return 0;
	nr = le32_to_cpu(h->nr_entries);
	vs = le32_to_cpu(h->value_size);
	if (kind == PD_SCAN_BTREE_INTERNAL) {
		/* The validator bounded nr <= max_entries and the size. */
		vals = pd_node_values(data);
		rp->node[block] = NODE_INTERNAL;
		for (uint32_t i = 0; i < nr; i++) {
			uint64_t c = load_le64(vals + 8 * (size_t)i);

			if (c < rp->nr_blocks)
				rp->refd[c] = 1;
		}
		return 0;
	}
	if (vs == 8) {
		rp->node[block] = NODE_LEAF8;
		if (nr)
			rp->ev_map_leaves++;
	} else if (vs == sizeof(struct thin_disk_details)) {
		rp->node[block] = NODE_LEAF24;
	} else {
		rp->node[block] = NODE_LEAF_OTHER;
	}
	return 0;
}

static int add_cand(struct thin_repair *rp, uint64_t block)
{
	if (BASE_GROW(rp->cands, rp->cap_cands, rp->nr_cands + 1, 64) < 0)
		return -ENOMEM;
	memset(&rp->cands[rp->nr_cands], 0, sizeof(*rp->cands));
	rp->cands[rp->nr_cands++].block = block;
	return 0;
}

struct cand *repair_find_cand(struct thin_repair *rp, uint64_t block)
{
	return BASE_FIND(rp->cands, rp->nr_cands, block, block);
}

/*
 * What a candidate root is: the first leaf under it says (details: 24-byte
 * values; top level: values that are btree nodes the scan found; else a
 * mapping tree).  An empty tree says nothing and is left out.
 */
static int classify(struct thin_repair *rp, struct cand *c)
{
	uint64_t b = c->block;
	struct pd_block *blk;
	int r;

	for (unsigned depth = 0; depth < PD_BTREE_MAX_DEPTH; depth++) {
		const struct pd_node_header *h;
		const unsigned char *p;
		uint32_t nr, vs;

		r = pd_bm_read_lock(rp->bm, b, &pd_btree_validator, &blk, NULL);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			c->kind = CAND_OTHER;
			return 0;
		}
		p = pd_block_data(blk);
		h = (const void *)p;
		nr = le32_to_cpu(h->nr_entries);
		vs = le32_to_cpu(h->value_size);
		if (!nr) {
			c->kind = CAND_OTHER;
		} else if (le32_to_cpu(h->flags) & PD_BTREE_INTERNAL) {
			b = load_le64(pd_node_values(p));
			pd_bm_unlock(blk);
			continue;
		} else if (vs == sizeof(struct thin_disk_details)) {
			c->kind = CAND_DETAILS;
		} else if (vs != 8) {
			c->kind = CAND_OTHER;
		} else {
			const unsigned char *vals = pd_node_values(p);
			uint32_t hits = 0;

			for (uint32_t i = 0; i < nr; i++) {
				uint64_t x = load_le64(vals + 8 * (size_t)i);

				if (x < rp->nr_blocks &&
				    rp->node[x] != NODE_NONE)
					hits++;
			}
			/*
			 * A mapping value below the device size means data
			 * block 0, which one leaf maps once at most: two such
			 * values, or the only one, make a top level (one whose
			 * trees were partly lost too).
			 */
			c->kind = hits >= 2 || hits == nr ? CAND_TOP : CAND_MAP;
		}
		pd_bm_unlock(blk);
		return 0;
	}
	c->kind = CAND_OTHER;
	return 0;
}

/* Collects a details or top-level tree's entries (value 24 or 8 bytes). */
struct entries {
	uint64_t *keys;
	unsigned char *vals;
	size_t nr, cap;
	uint32_t vs;
	int damaged;
};

static int entries_leaf(void *ctx, uint64_t block, unsigned nr,
			const void *keys, const void *values, int counted)
{
	struct entries *x = ctx;

	(void)block;
	(void)counted;
	if (x->nr + nr > x->cap) {
		size_t cap = x->cap ? x->cap : 64;
		uint64_t *k;
		unsigned char *v;

		while (cap < x->nr + nr)
			cap *= 2;
		k = realloc(x->keys, cap * sizeof(*k));
		if (!k)
			return -ENOMEM;
		x->keys = k;
		v = realloc(x->vals, cap * x->vs);
		if (!v)
			return -ENOMEM;
		x->vals = v;
		x->cap = cap;
	}
	for (unsigned i = 0; i < nr; i++)
		x->keys[x->nr + i] = load_le64((const unsigned char *)keys + 8 * i);
	memcpy(x->vals + x->nr * x->vs, values, (size_t)nr * x->vs);
	x->nr += nr;
	return 0;
}

static int entries_damage(void *ctx, const struct pd_btree_damage *d)
{
	(void)d;
	((struct entries *)ctx)->damaged = 1;
	return 0;
}

static int read_entries(struct thin_repair *rp, uint64_t root, uint32_t vs,
			struct entries *x)
{
	static const struct pd_btree_walk_ops ops = {
		.leaf = entries_leaf,
		.damage = entries_damage,
	};

	memset(x, 0, sizeof(*x));
	x->vs = vs;
	return pd_btree_walk(rp->bm, root, vs, REPAIR_WALK, &ops, x);
}

static void free_entries(struct entries *x)
{
	free(x->keys);
	free(x->vals);
}

static int stats(struct thin_repair *rp, struct cand *c)
{
	struct entries x;
	int r;

	switch (c->kind) {
	case CAND_MAP: {
		struct map_stats st;

		r = repair_walk_map(rp, c->block, NULL, 0, UINT64_MAX, 0, &st);
		c->nr = st.nr;
		c->max_time = st.max_time;
		c->kmin = st.kmin;
		c->kmax = st.kmax;
		c->damaged = st.damaged;
		return r;
	}
	case CAND_DETAILS:
		r = read_entries(rp, c->block, sizeof(struct thin_disk_details),
				 &x);
		c->nr = x.nr;
		c->damaged = x.damaged;
		for (size_t i = 0; i < x.nr; i++) {
			struct thin_details d;

			thin_details_unpack(x.vals + i * x.vs, &d);
			if (d.transaction_id > c->max_tid)
				c->max_tid = d.transaction_id;
		}
		free_entries(&x);
		return r;
	case CAND_TOP:
		r = read_entries(rp, c->block, 8, &x);
		c->nr = x.nr;
		c->damaged = x.damaged;
		/* As new as the newest device tree it names. */
		for (size_t i = 0; i < x.nr; i++) {
			const struct cand *m = repair_find_cand(rp,
							 load_le64(x.vals + 8 * i));

			if (m && m->kind == CAND_MAP && m->max_time > c->max_time)
				c->max_time = m->max_time;
		}
		free_entries(&x);
		return r;
	default:
		return 0;
	}
}

/*
 * Marks what the superblock copies reach: their top-level and details
 * trees and the device trees those top levels name (a device unchanged
 * since shares its tree with the current pool: the mark only ranks).
 */
static int mark_held(struct thin_repair *rp)
{
	for (size_t i = 0; i < rp->nr_copies; i++) {
		const struct thin_sb *sb = &rp->copies[i].sb;
		struct cand *t = repair_find_cand(rp, sb->mapping_root);
		struct cand *d = repair_find_cand(rp, sb->details_root);
		struct entries x;
		int r;

		if (d && d->kind == CAND_DETAILS)
			d->held = 1;
		if (!t || t->kind != CAND_TOP)
			continue;
		t->held = 1;
		r = read_entries(rp, t->block, 8, &x);
		for (size_t j = 0; j < x.nr && !r; j++) {
			struct cand *m = repair_find_cand(rp,
						load_le64(x.vals + 8 * j));

			if (m && m->kind == CAND_MAP)
				m->held = 1;
		}
		free_entries(&x);
		if (r)
			return r;
	}
	return 0;
}

/*
 * With the superblock sound, its metadata space map tells the trees in use
 * from those a previous transaction left behind (the kernel's shadowing
 * frees each replaced node): the first is the current pool's or a
 * snapshot's, whatever the times and transaction ids say.
 */
static int mark_live(struct thin_repair *rp)
{
	static const struct pd_sm_read_ops ops = { 0 };
	struct base_bitmap unknown;
	uint32_t *counts = NULL;
	uint64_t n = 0;
	int r;

	if (!rp->sb_ok)
		return 0;
	r = pd_sm_read(rp->bm, &rp->sb.metadata_sm, &ops, NULL, &counts, &n,
		       &unknown);
	if (r)
		return r == -ENOMEM ? r : 0;
	for (size_t i = 0; i < rp->nr_cands; i++) {
		struct cand *c = &rp->cands[i];

		if (c->block < n && !base_bitmap_test(&unknown, c->block))
			c->live = counts[c->block] ? 1 : -1;
	}
	free(counts);
	base_bitmap_release(&unknown);
	return 0;
}

/* At most this many space-map index blocks are read (each a whole map). */
#define REPAIR_MAX_SM_INDEX 256u

/*
 * With the superblock lost, which metadata space map is the current one is
 * not known, but a snapshot's superblock copy dates them: the maps that
 * count the newest copy as in use were written after it was taken.  A tree
 * none of those counts was left behind before the snapshot (older than the
 * snapshot's own trees), and is marked so; one some of them count is the
 * current pool's, the snapshot's, or one in between.  The index's overflow
 * tree root is not known: a count past 2 reads as unknown, taken as in use
 * (the copy itself is counted once).
 */
static int mark_live_from_copies(struct thin_repair *rp)
{
	static const struct pd_sm_read_ops ops = { 0 };
	const struct sbcopy *cp = NULL;
	uint8_t *seen;
	size_t after = 0, nr = rp->nr_sm_index;
	int r = 0;

	if (rp->sb_ok || !rp->nr_copies || !rp->nr_cands)
		return 0;
	for (size_t i = 0; i < rp->nr_copies; i++)
		if (!cp || rp->copies[i].sb.trans_id > cp->sb.trans_id)
			cp = &rp->copies[i];
	seen = calloc(rp->nr_cands, 1);
	if (!seen)
		return -ENOMEM;
	if (nr > REPAIR_MAX_SM_INDEX)
		nr = REPAIR_MAX_SM_INDEX;
	for (size_t k = 0; k < nr && !r; k++) {
		struct pd_sm_root_cpu root = {
			.nr_blocks = rp->nr_blocks,
			.bitmap_root = rp->sm_index[k],
		};
		struct base_bitmap unknown;
		uint32_t *counts = NULL;
		uint64_t n = 0;

		r = pd_sm_read(rp->bm, &root, &ops, NULL, &counts, &n, &unknown);
		if (r) {
			r = r == -ENOMEM ? r : 0;
			continue;
		}
		if (cp->block < n && counts[cp->block]) {
			after++;
			for (size_t i = 0; i < rp->nr_cands; i++) {
				uint64_t b = rp->cands[i].block;

				if (b < n && (counts[b] ||
					      base_bitmap_test(&unknown, b)))
					seen[i] = 1;
			}
		}
		free(counts);
		base_bitmap_release(&unknown);
	}
	for (size_t i = 0; i < rp->nr_cands && after && !r; i++)
		rp->cands[i].live = seen[i] ? 1 : -1;
	free(seen);
	if (!r && after)
		repair_note(rp, "scan: %zu metadata space map(s) written since "
			    "the snapshot's copy at block %" PRIu64 ": trees "
			    "none of them counts are older than it", after,
			    cp->block);
	return r;
}

int repair_scan(struct thin_repair *rp)
{
	static const struct pd_scan_ops ops = {
		.block = scan_block,
		.extra = &thin_sb_validator,
	};
	size_t nr_map = 0, nr_top = 0, nr_det = 0;
	int r;

	rp->scanned = 1;
	rp->node = calloc(rp->nr_blocks ? rp->nr_blocks : 1, 1);
	rp->refd = calloc(rp->nr_blocks ? rp->nr_blocks : 1, 1);
	if (!rp->node || !rp->refd)
		return -ENOMEM;
	r = pd_scan(rp->io, 0, rp->nr_blocks, &ops, rp);
	if (r)
		return r;
	for (uint64_t b = 0; b < rp->nr_blocks; b++) {
		if (rp->node[b] == NODE_NONE || rp->node[b] == NODE_LEAF_OTHER ||
		    rp->refd[b])
			continue;
		r = add_cand(rp, b);
		if (r)
			return r;
	}
	for (size_t i = 0; i < rp->nr_cands; i++) {
		r = classify(rp, &rp->cands[i]);
		if (r)
			return r;
	}
	/* Mapping trees first: a top level is as new as its trees. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < rp->nr_cands; i++) {
			struct cand *c = &rp->cands[i];

			if ((c->kind == CAND_MAP) != (pass == 0))
				continue;
			r = stats(rp, c);
			if (r)
				return r;
		}
	for (size_t i = 0; i < rp->nr_cands; i++) {
		struct cand *c = &rp->cands[i];

		nr_map += c->kind == CAND_MAP;
		nr_top += c->kind == CAND_TOP;
		nr_det += c->kind == CAND_DETAILS;
		if (rp->sb_ok && (c->block == rp->sb.mapping_root ||
				  c->block == rp->sb.details_root))
			c->used = 1;
	}
	for (size_t i = 0; i < rp->nr_devs; i++) {
		struct cand *c;

		if (rp->devs[i].have_root &&
		    (c = repair_find_cand(rp, rp->devs[i].root)))
			c->used = 1;
	}
	repair_note(rp, "scan: %" PRIu64 " blocks; unreferenced trees: %zu "
		    "mapping, %zu top-level, %zu device details", rp->nr_blocks,
		    nr_map, nr_top, nr_det);
	for (size_t i = 0; i < rp->nr_copies; i++)
		repair_note(rp, "scan: a metadata snapshot's superblock copy at "
			    "block %" PRIu64 " (transaction %" PRIu64 ", top "
			    "level %" PRIu64 ", details %" PRIu64 "%s): its "
			    "trees are an older state", rp->copies[i].block,
			    rp->copies[i].sb.trans_id,
			    rp->copies[i].sb.mapping_root,
			    rp->copies[i].sb.details_root,
			    rp->sb_ok && rp->sb.held_root == rp->copies[i].block ?
				    ", the one held" : "");
	r = mark_held(rp);
	if (!r)
		r = mark_live(rp);
	if (!r)
		r = mark_live_from_copies(rp);
	return r;
}

/* ---- layer 3: the rebuild ---- */

/*
 * Whether c ranks above b: agreement with the devices known first (the
 * current pool's other tree), then in use in the current space map (or
 * in one written since a snapshot's copy), then not a metadata snapshot's
 * (older by definition), then newest, largest, last.
 */
static int ranks_above(const struct cand *c, const struct cand *b)
{
	if (c->score != b->score)
		return c->score > b->score;
	if (c->live != b->live)
		return c->live > b->live;
	if (c->held != b->held)
		return !c->held;
	if (c->max_tid != b->max_tid)
		return c->max_tid > b->max_tid;
	if (c->max_time != b->max_time)
		return c->max_time > b->max_time;
	return c->nr >= b->nr;
}

/* The best unused candidate of a kind. */
static struct cand *best(struct thin_repair *rp, enum cand_kind kind)
{
	struct cand *b = NULL;

	for (size_t i = 0; i < rp->nr_cands; i++) {
		struct cand *c = &rp->cands[i];

		if (c->kind != kind || c->used || !c->nr)
			continue;
		if (!b || ranks_above(c, b))
			b = c;
	}
	return b;
}

/*
 * Entries in the mapping tree at root, as the scan counted them: a root
 * that is no mapping-tree candidate (an empty leaf, unreadable, or some
 * other tree's node) counts 0.  No walk: every top level is scored.
 */
static uint64_t tree_count(struct thin_repair *rp, uint64_t root)
{
	const struct cand *c = repair_find_cand(rp, root);

	return c && c->kind == CAND_MAP ? c->nr : 0;
}

/*
 * How well each top-level candidate agrees with the device details known
 * (the current superblock's details tree, or the one chosen): per device
 * named, 2 when its tree holds mapped_blocks entries, 1 when it does not,
 * -1 when no details name it (deleted since, or never current).
 */
static int score_tops(struct thin_repair *rp)
{
	size_t known = 0;
	int r = 0;

	for (size_t i = 0; i < rp->nr_devs; i++)
		known += rp->devs[i].have_details;
	for (size_t i = 0; i < rp->nr_cands && !r; i++) {
		struct cand *c = &rp->cands[i];
		struct entries x;

		c->score = 0;
		if (c->kind != CAND_TOP || c->used || !c->nr || !known)
			continue;
		r = read_entries(rp, c->block, 8, &x);
		for (size_t j = 0; j < x.nr && !r; j++) {
			const struct rdev *d = repair_find_dev(rp, x.keys[j]);
			uint64_t n;

			if (!d || !d->have_details) {
				c->score--;
				continue;
			}
			n = tree_count(rp, load_le64(x.vals + 8 * j));
			c->score += n == d->details.mapped_blocks ? 2 : 1;
		}
		free_entries(&x);
	}
	return r;
}

/*
 * The same for details candidates against the device trees known (the
 * current superblock's sound top level): 2 for a device whose tree holds
 * its mapped_blocks, 1 otherwise, -1 for a device no tree is known for.
 */
static int score_details(struct thin_repair *rp)
{
	size_t known = 0;
	int r = 0;

	for (size_t i = 0; i < rp->nr_devs; i++)
		known += rp->devs[i].have_root;
	for (size_t i = 0; i < rp->nr_cands && !r; i++) {
		struct cand *c = &rp->cands[i];
		struct entries x;

		c->score = 0;
		if (c->kind != CAND_DETAILS || c->used || !c->nr || !known)
			continue;
		r = read_entries(rp, c->block, sizeof(struct thin_disk_details),
				 &x);
		for (size_t j = 0; j < x.nr && !r; j++) {
			const struct rdev *d = repair_find_dev(rp, x.keys[j]);
			struct thin_details det;

			if (!d || !d->have_root) {
				c->score--;
				continue;
			}
			thin_details_unpack(x.vals + j * x.vs, &det);
			c->score += det.mapped_blocks == d->nr ? 2 : 1;
		}
		free_entries(&x);
	}
	return r;
}

/* Says which tree of a kind was chosen over a metadata snapshot's, or not. */
static void note_held_choice(struct thin_repair *rp, const struct cand *c,
			     const char *what)
{
	const struct sbcopy *h;

	if (c->held) {
		h = copy_of(rp, c->block);
		repair_note(rp, "%s: the tree at block %" PRIu64 " is a metadata "
			    "snapshot's (transaction %" PRIu64 "): the pool as "
			    "it was then, older unless nothing changed since; "
			    "taken, as no other agrees as well with the "
			    "devices known", what, c->block,
			    h ? h->sb.trans_id : 0);
		return;
	}
	for (size_t i = 0; i < rp->nr_cands; i++) {
		const struct cand *o = &rp->cands[i];

		if (o->kind != c->kind || !o->held || o->used || !o->nr)
			continue;
		h = copy_of(rp, o->block);
		repair_note(rp, "%s: the metadata snapshot's tree at block %"
			    PRIu64 " (transaction %" PRIu64 ", an older state) "
			    "left aside for the one at block %" PRIu64, what,
			    o->block, h ? h->sb.trans_id : 0, c->block);
	}
}

static int walk_dev(struct thin_repair *rp, struct rdev *d, uint64_t root)
{
	struct cand *c = repair_find_cand(rp, root);

	if (c)
		c->used = 1;
	return repair_walk_lazy(rp, d, root);
}


/*
 * Lost details, from the details trees the scan found, newest first.
 * Only the newest may add devices (when no sound top level says which
 * exist): an older tree names devices deleted since, and only fills in
 * the details of devices known otherwise.
 */
static int rebuild_details(struct thin_repair *rp)
{
	struct cand *c;
	unsigned merged = 0;
	int r = score_details(rp);

	while (!r && merged < REPAIR_MAX_MERGE &&
	       (c = best(rp, CAND_DETAILS))) {
		struct entries x;
		size_t filled = 0, skipped = 0;

		if (!merged)
			note_held_choice(rp, c, "device details");
		c->used = 1;
		r = read_entries(rp, c->block, sizeof(struct thin_disk_details),
				 &x);
		for (size_t i = 0; i < x.nr && !r; i++) {
			struct rdev *d = repair_find_dev(rp, x.keys[i]);

			if (!d && (merged || (rp->top_clean && rp->sb_ok))) {
				skipped++;
				continue;
			}
			if (!d && !(d = repair_get_dev(rp, x.keys[i]))) {
				r = -ENOMEM;
				break;
			}
			if (d->have_details)
				continue;
			d->have_details = 1;
			thin_details_unpack(x.vals + i * x.vs, &d->details);
			rp->ev_details++;
			rp->ev_claimed += d->details.mapped_blocks;
			filled++;
		}
		free_entries(&x);
		if (filled)
			repair_note(rp, "device details: %zu device(s) taken "
				    "from the unreferenced details tree at block "
				    "%" PRIu64 " (newest transaction %" PRIu64 ")%s",
				    filled, c->block, c->max_tid,
				    c->held ? ", a metadata snapshot's" : "");
		if (skipped && !merged)
			repair_note(rp, "device details: %zu device(s) of the "
				    "tree at block %" PRIu64 " are not in the top "
				    "level (deleted): left out", skipped,
				    c->block);
		merged++;
	}
	if (!merged && !rp->details_clean)
		repair_note(rp, "device details: no other details tree found");
	return r;
}

/* How a device's tree ranks: holding its mapped_blocks, newest, current. */
struct tree_rank {
	int fits;
	int live;
	uint32_t max_time;
	int held;
};

static int tree_above(const struct tree_rank *a, const struct tree_rank *b)
{
	if (a->fits != b->fits)
		return a->fits > b->fits;
	if (a->live != b->live)
		return a->live > b->live;
	if (a->max_time != b->max_time)
		return a->max_time > b->max_time;
	return b->held && !a->held;
}

/*
 * A top-level tree the scan found may be older than the device trees (a
 * previous transaction's, or a metadata snapshot's): an unreferenced tree
 * holding some of the same mappings that ranks above the one it gives
 * (holds the mapped_blocks the details claim where the other does not,
 * has a newer mapping, or is no metadata snapshot's) is the device's
 * later version, whose top level was lost, and is taken instead.
 */
static int newer_tree(struct thin_repair *rp, struct rdev *d)
{
	const struct cand *given = repair_find_cand(rp, d->root);
	struct tree_rank g, b = { 0 }, t;
	struct cand *best_c = NULL;
	int r = 0;

	if (!given)
		return 0;
	g.fits = d->have_details && d->nr == d->details.mapped_blocks;
	g.live = given->live;
	g.max_time = given->max_time;
	g.held = given->held;
	for (size_t i = 0; i < rp->nr_cands && !r; i++) {
		struct cand *c = &rp->cands[i];
		int yes = 0;

		if (c->kind != CAND_MAP || c->used || c->damaged)
			continue;
		t.fits = d->have_details && c->nr == d->details.mapped_blocks;
		t.live = c->live;
		t.max_time = c->max_time;
		t.held = c->held;
		if (!tree_above(&t, &g) || (best_c && !tree_above(&t, &b)))
			continue;
		r = repair_shares_with(rp, c->block, d, &yes);
		if (yes) {
			best_c = c;
			b = t;
		}
	}
	if (r || !best_c)
		return r;
	if (b.fits && !g.fits)
		repair_note(rp, "device %" PRIu64 ": the unreferenced tree at "
			    "block %" PRIu64 " holds the %" PRIu64 " mappings its "
			    "details claim (the other %zu) and some of the "
			    "same: taken instead", d->id, best_c->block,
			    d->details.mapped_blocks, d->nr);
	else if (b.live != g.live)
		repair_note(rp, "device %" PRIu64 ": the tree at block %" PRIu64
			    " is free in the superblock's space map (a previous "
			    "transaction's); the unreferenced tree at block %"
			    PRIu64 ", in use, holds some of the same mappings: "
			    "taken instead", d->id, given->block, best_c->block);
	else if (b.max_time != g.max_time)
		repair_note(rp, "device %" PRIu64 ": the unreferenced tree at "
			    "block %" PRIu64 " is newer (a mapping of time %"
			    PRIu32 ", the other's newest %" PRIu32 ") and holds "
			    "some of the same mappings: taken instead", d->id,
			    best_c->block, best_c->max_time, given->max_time);
	else
		repair_note(rp, "device %" PRIu64 ": the tree at block %" PRIu64
			    " is a metadata snapshot's (older); the "
			    "unreferenced tree at block %" PRIu64 " holds some "
			    "of the same mappings and as many: taken instead",
			    d->id, given->block, best_c->block);
	return walk_dev(rp, d, best_c->block);
}

/*
 * Lost roots, from the top-level trees the scan found, newest first (as
 * new as the newest tree each names); as with the details, only the
 * newest may add devices, and only when no details say which exist.
 */
static int rebuild_top(struct thin_repair *rp)
{
	struct cand *c;
	unsigned merged = 0;
	int r = score_tops(rp);

	while (!r && merged < REPAIR_MAX_MERGE && (c = best(rp, CAND_TOP))) {
		struct entries x;
		size_t skipped = 0;

		if (!merged)
			note_held_choice(rp, c, "mapping tree top level");
		c->used = 1;
		r = read_entries(rp, c->block, 8, &x);
		for (size_t i = 0; i < x.nr && !r; i++) {
			struct rdev *d = repair_find_dev(rp, x.keys[i]);
			uint64_t root = load_le64(x.vals + 8 * i);

			if (!d && (merged || rp->details_clean ||
				   rp->ev_details)) {
				skipped++;
				continue;
			}
			if (!d && !(d = repair_get_dev(rp, x.keys[i]))) {
				r = -ENOMEM;
				break;
			}
			if (d->have_root)
				continue;
			r = walk_dev(rp, d, root);
			if (!r)
				repair_note(rp, "device %" PRIu64 ": mapping "
					    "tree at block %" PRIu64 " (from the "
					    "top-level tree at block %" PRIu64
					    "%s): %zu mapping(s)", d->id, root,
					    c->block, c->held ? ", a metadata "
					    "snapshot's" : "", d->nr);
			if (!r)
				r = newer_tree(rp, d);
		}
		free_entries(&x);
		if (skipped && !merged)
			repair_note(rp, "top-level tree at block %" PRIu64 ": "
				    "%zu device(s) without details left out "
				    "(deleted)", c->block, skipped);
		merged++;
	}
	if (!merged)
		repair_note(rp, "mapping tree top level: no other top-level "
			    "tree found");
	return r;
}

/*
 * Whether d may share the tree at root with the device already using it:
 * only as a snapshot and its origin do, both with the same snapshot time
 * (the kernel sets it on both) and nothing written since.
 */
static int snap_sharer(struct thin_repair *rp, const struct rdev *d,
		       uint64_t root)
{
	for (size_t i = 0; i < rp->nr_devs; i++) {
		const struct rdev *o = &rp->devs[i];

		if (o != d && o->have_root && o->root == root)
			return d->details.snapshotted_time &&
			       o->details.snapshotted_time ==
				       d->details.snapshotted_time;
	}
	return 0;
}

/* Devices that still have no tree: an orphan with their mapped_blocks. */
static int match_orphans(struct thin_repair *rp)
{
	int r;

	for (size_t i = 0; i < rp->nr_devs; i++) {
		struct rdev *d = &rp->devs[i];
		struct cand *m = NULL;
		size_t ties = 0;
		int shared = 0;

		if (d->have_root || !d->have_details)
			continue;
		for (int reuse = 0; reuse < 2 && !m; reuse++)
			for (size_t j = 0; j < rp->nr_cands; j++) {
				struct cand *c = &rp->cands[j];

				if (c->kind != CAND_MAP || c->damaged ||
				    c->nr != d->details.mapped_blocks ||
				    c->used != reuse ||
				    (reuse && !snap_sharer(rp, d, c->block)))
					continue;
				/*
				 * In use before left behind; a metadata
				 * snapshot's (older) after the rest.
				 */
				if (!m || c->live > m->live ||
				    (c->live == m->live &&
				     ((m->held && !c->held) ||
				      (m->held == c->held &&
				       c->max_time > m->max_time)))) {
					m = c;
					ties = 1;
				} else if (c->live == m->live &&
					   c->held == m->held &&
					   c->max_time == m->max_time) {
					ties++;
				}
			}
		if (!m || !d->details.mapped_blocks) {
			if (d->details.mapped_blocks)
				repair_note(rp, "device %" PRIu64 ": no mapping "
					    "tree found (details claim %" PRIu64
					    " mapped blocks): kept without "
					    "mappings", d->id,
					    d->details.mapped_blocks);
			else
				repair_note(rp, "device %" PRIu64 ": mapping "
					    "tree lost; it mapped nothing", d->id);
			continue;
		}
		shared = m->used;
		r = walk_dev(rp, d, m->block);
		if (r)
			return r;
		repair_note(rp, "device %" PRIu64 ": adopted the unreferenced "
			    "mapping tree at block %" PRIu64 " (%zu mappings, "
			    "as its details claim)%s%s", d->id, m->block, d->nr,
			    shared ? ", shared with another device as a "
				     "snapshot's" : "",
			    m->held ? ", a metadata snapshot's (an older "
				      "state: no other fits)" : "");
		/* Devices and trees both in order: the restore's layout. */
		if (ties > 1)
			repair_note(rp, "device %" PRIu64 ": %zu trees fit its "
				    "details alike: the first by block number "
				    "was taken; check its data", d->id, ties);
	}
	return 0;
}

int repair_by_v(const void *a, const void *b)
{
	const struct rmap *x = a, *y = b;

	return x->v < y->v ? -1 : x->v > y->v;
}

static int has_map(const struct rdev *d, const struct rmap *m)
{
	const struct rmap *f;

	if (!d->nr)
		return 0;
	f = bsearch(m, d->maps, d->nr, sizeof(*m), repair_by_v);
	return f && f->bt == m->bt;
}

/* Counts d's mappings that t (held in memory, increasing v) has too. */
struct common {
	const struct rdev *t;
	size_t n;
	int first;		/* stop at the first */
};


static int common_map(void *ctx, uint64_t leaf, uint64_t idx, uint64_t v,
		      uint64_t bt)
{
	struct common *x = ctx;
	struct rmap m = { v, bt };

	(void)leaf;
	(void)idx;
	if (!has_map(x->t, &m))
		return 0;
	x->n++;
	return x->first ? COMMON_FOUND : 0;
}

/*
 * How many of t's mappings d has (d held in memory or lazy, read
 * through without holding it); with first, 1 at the first.
 */
static int count_common(struct thin_repair *rp, const struct rdev *d,
			const struct rdev *t, int first, size_t *out)
{
	struct common x = { t, 0, first };
	int r = 0;

	if (d->lazy) {
		r = repair_each_map(rp, d, common_map, &x);
		if (r == COMMON_FOUND)
			r = 0;
	} else {
		for (size_t i = 0; i < t->nr && !(first && x.n); i++)
			x.n += has_map(d, &t->maps[i]);
	}
	*out = x.n;
	return r;
}

/* Whether tree `root` holds at least one of d's own mappings. */
/*
 * t sized for the tree at root as the scan counted it (a walk's count,
 * not a value read from disk): read in, it is not grown twice over.
 */
static int presize(struct thin_repair *rp, uint64_t root, struct rdev *t)
{
	const struct cand *c = repair_find_cand(rp, root);

	if (!c || c->kind != CAND_MAP || !c->nr)
		return 0;
	t->maps = malloc(c->nr * sizeof(*t->maps));
	if (!t->maps)
		return -ENOMEM;
	t->cap = c->nr;
	return 0;
}

int repair_shares_with(struct thin_repair *rp, uint64_t root,
		       const struct rdev *d, int *out)
{
	struct rdev t = { 0 };
	size_t n = 0;
	int r = presize(rp, root, &t);

	if (!r)
		r = repair_walk_map(rp, root, &t, 0, UINT64_MAX, 0, NULL);
	if (!r)
		r = count_common(rp, d, &t, 1, &n);
	*out = n > 0;
	free(t.maps);
	return r;
}

int repair_by_rank(const void *a, const void *b)
{
	const struct cand *x = *(const struct cand *const *)a;
	const struct cand *y = *(const struct cand *const *)b;

	if (x->max_time != y->max_time)
		return x->max_time > y->max_time ? -1 : 1;
	if (x->nr != y->nr)
		return x->nr > y->nr ? -1 : 1;
	return x->block > y->block ? -1 : x->block < y->block;
}

/*
 * No device set survived: every orphan tree becomes a new device, newest
 * first, except one whose every mapping a device adopted before it has
 * (an older copy, or a snapshot nothing was written to: no data is lost
 * by leaving it out).  At most REPAIR_MAX_ADOPT are looked
 * at: each is compared with every device adopted before it.
 */
#define REPAIR_MAX_ADOPT 4096u

static int adopt_orphans(struct thin_repair *rp)
{
	struct cand **order;
	size_t n = 0;
	uint64_t next = 0;
	int r = 0;

	order = malloc((rp->nr_cands ? rp->nr_cands : 1) * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < rp->nr_cands; i++)
		if (rp->cands[i].kind == CAND_MAP && !rp->cands[i].used &&
		    rp->cands[i].nr)
			order[n++] = &rp->cands[i];
	qsort(order, n, sizeof(*order), repair_by_rank);
	if (n > REPAIR_MAX_ADOPT) {
		repair_note(rp, "%zu orphan mapping trees: only the newest %u "
			    "are considered", n, REPAIR_MAX_ADOPT);
		n = REPAIR_MAX_ADOPT;
	}
	for (size_t i = 0; i < rp->nr_devs; i++)
		if (rp->devs[i].id >= next)
			next = rp->devs[i].id + 1;
	for (size_t k = 0; k < n && !r; k++) {
		struct cand *m = order[k];
		struct rdev t = { 0 }, *d;
		size_t most = 0, in = 0;
		uint64_t like = 0;

		m->used = 1;
		r = presize(rp, m->block, &t);
		if (!r)
			r = repair_walk_map(rp, m->block, &t, 0, UINT64_MAX,
					    1, NULL);
		for (size_t i = 0; i < rp->nr_devs && !r; i++) {
			size_t same = 0;

			r = count_common(rp, &rp->devs[i], &t, 0, &same);
			if (same > most) {
				most = same;
				like = rp->devs[i].id;
			}
		}
		in = most;
		if (r || (t.nr && in == t.nr)) {
			if (!r)
				repair_note(rp, "unreferenced mapping tree at "
					    "block %" PRIu64 ": every mapping "
					    "is also device %" PRIu64 "'s (an "
					    "older copy, or a snapshot nothing "
					    "was written to): not adopted",
					    m->block, like);
			free(t.maps);
			free(t.dmg);
			continue;
		}
		d = repair_get_dev(rp, next);
		if (!d) {
			free(t.maps);
			free(t.dmg);
			r = -ENOMEM;
			break;
		}
		/* Read again when needed, not held. */
		free(t.maps);
		t.maps = NULL;
		t.cap = 0;
		t.lazy = 1;
		t.id = next;
		t.have_root = 1;
		t.root = m->block;
		*d = t;
		repair_note(rp, "adopted the unreferenced mapping tree at block "
			    "%" PRIu64 " (%zu mappings) as new device %" PRIu64,
			    m->block, d->nr, next);
		if (in)
			repair_note(rp, "device %" PRIu64 ": %zu of its mappings "
				    "are also device %" PRIu64 "'s (a snapshot "
				    "of it, or an older copy)", next, in, like);
		next++;
	}
	free(order);
	return r;
}

int repair_rebuild(struct thin_repair *rp)
{
	size_t unused = 0;
	int r = 0;

	if (!rp->sb_ok || !rp->details_clean)
		r = rebuild_details(rp);
	if (!r && (!rp->sb_ok || !rp->top_clean))
		r = rebuild_top(rp);
	if (!r)
		r = match_orphans(rp);
	if (!r && !rp->nr_devs)
		r = adopt_orphans(rp);
	for (size_t i = 0; i < rp->nr_devs && !r; i++)
		if (rp->devs[i].nr_dmg)
			r = repair_patch_device(rp, &rp->devs[i]);
	if (r)
		return r;
	for (size_t i = 0; i < rp->nr_cands; i++)
		unused += rp->cands[i].kind == CAND_MAP && !rp->cands[i].used &&
			  rp->cands[i].nr;
	if (unused)
		repair_note(rp, "%zu unreferenced mapping tree(s) not adopted "
			    "(older copies, or devices deleted)", unused);
	return 0;
}
