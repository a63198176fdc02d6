// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The read side of single-level persistent-data btrees: lookup, the checking
 * walker and the in-order cursor (FORMAT.md §3).
 *
 * All three share one node checker, check_node(), which applies the rules of
 * FORMAT.md §3.4 that can be judged from a node and the key bounds its
 * parent gives it.  Nothing recurses: the walker and the cursor keep an
 * explicit stack of at most PD_BTREE_MAX_DEPTH frames, and each internal
 * node's keys and child pointers are copied into its frame so that at most
 * one block is locked at a time (a small block cache can never run out of
 * evictable blocks because of a deep tree).  The walker marks every node it
 * reads in a bitmap sized by the device, so a cycle or a node reached twice
 * costs one bit per block of memory and never a hang.
 */
#include "pdata/btree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitmap.h"
#include "base/endian.h"
#include "pdata/ondisk.h"

/*
 * The validator allows max_entries * 16 <= 4064 for internal nodes, i.e.
 * up to 254 children; check_node() then insists on the formula (252), but
 * frames are sized for anything the validator lets through.
 */
#define MAX_CHILDREN ((PD_BLOCK_SIZE - PD_NODE_KEYS_OFFSET) / 16)

const char *pd_btree_problem_name(enum pd_btree_problem p)
{
	switch (p) {
	case PD_BT_BLOCK:
		return "bad block";
	case PD_BT_VALUE_SIZE:
		return "value size mismatch";
	case PD_BT_MAX_ENTRIES:
		return "bad max_entries";
	case PD_BT_UNDERFULL:
		return "too few entries";
	case PD_BT_EMPTY_INTERNAL:
		return "empty internal node";
	case PD_BT_KEY_ORDER:
		return "keys out of order";
	case PD_BT_KEY_LOW:
		return "key below the parent's key";
	case PD_BT_KEY_HIGH:
		return "key at or above the parent's next key";
	case PD_BT_DEPTH:
		return "leaves at different depths";
	case PD_BT_TOO_DEEP:
		return "tree too deep";
	case PD_BT_CYCLE:
		return "cycle";
	case PD_BT_SHARED:
		return "node reached twice";
	}
	return "unknown btree problem";
}

/* The key range a node is allowed to hold: [lo, hi), or [lo, inf). */
#define bounds pd_btree_bounds

static const struct bounds whole_range = { 0, UINT64_MAX, 0 };

static inline uint64_t node_key(const void *data, unsigned i)
{
	return load_le64((const unsigned char *)data + PD_NODE_KEYS_OFFSET +
			 8 * (size_t)i);
}

static void set_damage(struct pd_btree_damage *d, enum pd_btree_problem p,
		       uint64_t block, const struct bounds *b, unsigned depth,
		       const char *what, uint64_t found, uint64_t expected)
{
	memset(d, 0, sizeof(*d));
	d->problem = p;
	d->key_begin = b->lo;
	d->key_end = b->bounded ? b->hi : UINT64_MAX;
	d->depth = depth;
	d->fault.block = block;
	d->fault.validator = pd_btree_validator.name;
	d->fault.kind = PD_FAULT_HEADER;
	d->fault.what = what;
	d->fault.found = found;
	d->fault.expected = expected;
	d->fault.err = (p == PD_BT_VALUE_SIZE || p == PD_BT_MAX_ENTRIES) ?
		       -EILSEQ : -EUCLEAN;
}

/* A block that failed to read: the block manager's fault record. */
static void set_block_damage(struct pd_btree_damage *d, const struct pd_fault *f,
			     const struct bounds *b, unsigned depth)
{
	memset(d, 0, sizeof(*d));
	d->problem = PD_BT_BLOCK;
	d->key_begin = b->lo;
	d->key_end = b->bounded ? b->hi : UINT64_MAX;
	d->depth = depth;
	d->fault = *f;
}

/*
 * A failed read is damage to report and walk past, whatever the device
 * said, except when the block manager itself ran out of memory or of
 * evictable blocks: then nothing can be read and the walk must stop.
 */
static int is_read_damage(int r)
{
	return r != -ENOMEM && r != -EBUSY;
}

/*
 * The per-node rules of FORMAT.md §3.4 (the validator has already checked
 * checksum, location, flags, nr <= max and that max fits the block).
 * Returns 0 when sound, 1 with d filled when not.
 */
static int check_node(const void *data, uint64_t block, uint32_t leaf_vs,
		      const struct bounds *b, unsigned depth, unsigned flags,
		      struct pd_btree_damage *d)
{
	const struct pd_node_header *h = data;
	int leaf = le32_to_cpu(h->flags) == PD_BTREE_LEAF;
	uint32_t nr = le32_to_cpu(h->nr_entries);
	uint32_t max = le32_to_cpu(h->max_entries);
	uint32_t vs = le32_to_cpu(h->value_size);
	uint32_t want_vs = leaf ? leaf_vs : 8;
	uint64_t prev, k;

	if (vs != want_vs) {
		set_damage(d, PD_BT_VALUE_SIZE, block, b, depth, "value_size",
			   vs, want_vs);
		return 1;
	}
	if (max != pd_btree_max_entries(vs)) {
		set_damage(d, PD_BT_MAX_ENTRIES, block, b, depth, "max_entries",
			   max, pd_btree_max_entries(vs));
		return 1;
	}
	if (!leaf && nr == 0) {
		set_damage(d, PD_BT_EMPTY_INTERNAL, block, b, depth,
			   "nr_entries", 0, 1);
		return 1;
	}
	/* Only the root may be less than a third full (and thin's leaves). */
	if (depth > 0 && nr < max / 3 &&
	    !(leaf && (flags & PD_WALK_LEAF_UNDERFULL_OK))) {
		set_damage(d, PD_BT_UNDERFULL, block, b, depth, "nr_entries",
			   nr, max / 3);
		return 1;
	}
	if (nr == 0)
		return 0;
	prev = node_key(data, 0);
	for (unsigned i = 1; i < nr; i++) {
		k = node_key(data, i);
		if (k <= prev) {
			set_damage(d, PD_BT_KEY_ORDER, block, b, depth, "key",
				   k, prev + 1);
			return 1;
		}
		prev = k;
	}
	k = node_key(data, 0);
	if (k < b->lo) {
		set_damage(d, PD_BT_KEY_LOW, block, b, depth, "first key", k,
			   b->lo);
		return 1;
	}
	/* prev is now the last key. */
	if (b->bounded && prev >= b->hi) {
		set_damage(d, PD_BT_KEY_HIGH, block, b, depth, "last key", prev,
			   b->hi - 1);
		return 1;
	}
	return 0;
}

int pd_btree_check_leaf(const void *data, uint64_t block, uint32_t value_size,
			const struct pd_btree_bounds *b, unsigned depth,
			unsigned flags, struct pd_btree_damage *d)
{
	const struct pd_node_header *h = data;

	if (le32_to_cpu(h->flags) != PD_BTREE_LEAF) {
		set_damage(d, PD_BT_DEPTH, block, b, depth, "depth", depth,
			   depth - 1);
		return 1;
	}
	return check_node(data, block, value_size, b, depth, flags, d);
}

/* ---- lookup ---- */

int pd_btree_lookup(struct pd_bm *bm, uint64_t root, uint32_t value_size,
		    uint64_t key, void *value, struct pd_fault *f)
{
	uint64_t block = root;

	for (unsigned depth = 0; depth < PD_BTREE_MAX_DEPTH; depth++) {
		const struct pd_node_header *h;
		struct pd_block *b;
		uint32_t nr, vs, want_vs;
		unsigned lo, hi;
		int leaf, r;

		r = pd_bm_read_lock(bm, block, &pd_btree_validator, &b, f);
		if (r < 0)
			return r;
		h = pd_block_data(b);
		leaf = le32_to_cpu(h->flags) == PD_BTREE_LEAF;
		nr = le32_to_cpu(h->nr_entries);
		vs = le32_to_cpu(h->value_size);
		want_vs = leaf ? value_size : 8;
		if (vs != want_vs) {
			if (f) {
				memset(f, 0, sizeof(*f));
				f->block = block;
				f->validator = pd_btree_validator.name;
				f->kind = PD_FAULT_HEADER;
				f->what = "value_size";
				f->found = vs;
				f->expected = want_vs;
				f->err = -EILSEQ;
			}
			pd_bm_unlock(b);
			return -EILSEQ;
		}
		/* The largest i with key[i] <= key: binary search on [lo, hi). */
		lo = 0;
		hi = nr;
		while (lo < hi) {
			unsigned mid = lo + (hi - lo) / 2;

			if (node_key(h, mid) <= key)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == 0) {
			pd_bm_unlock(b);
			return -ENODATA;
		}
		lo--;
		if (leaf) {
			r = node_key(h, lo) == key ? 0 : -ENODATA;
			if (r == 0 && value)
				memcpy(value, pd_node_values(h) + (size_t)lo * vs,
				       vs);
			pd_bm_unlock(b);
			return r;
		}
		block = load_le64(pd_node_values(h) + 8 * (size_t)lo);
		pd_bm_unlock(b);
	}
	if (f) {
		memset(f, 0, sizeof(*f));
		f->block = block;
		f->validator = pd_btree_validator.name;
		f->kind = PD_FAULT_HEADER;
		f->what = "depth";
		f->found = PD_BTREE_MAX_DEPTH;
		f->expected = PD_BTREE_MAX_DEPTH - 1;
		f->err = -EUCLEAN;
	}
	return -EUCLEAN;
}

/* ---- the checking walker ---- */

/* An internal node being visited: its children, copied out of the block. */
struct frame {
	uint64_t block;
	struct bounds b;
	unsigned nr, next;
	int counted;		/* node_ref said PD_WALK_COUNTED at or above */
	/* Children from this index on are offered (hand_off); nr: none. */
	unsigned offer_from;
	uint64_t *keys;		/* MAX_CHILDREN each, allocated on first use */
	uint64_t *children;
};

struct walk {
	struct pd_bm *bm;
	uint32_t value_size;
	unsigned flags;
	const struct pd_btree_walk_ops *ops;
	void *ctx;
	uint64_t nr_blocks;
	struct base_bitmap visited;
	struct frame frames[PD_BTREE_MAX_DEPTH];
	unsigned sp;		/* frames in use; the next node's depth */
	int leaf_depth;		/* -1 until the first sound leaf */
};

static int report(struct walk *w, const struct pd_btree_damage *d)
{
	return w->ops->damage ? w->ops->damage(w->ctx, d) : 0;
}

/* Damage to a node whose pointer node_ref saw (quiet 0) or not. */
static int report_at(struct walk *w, struct pd_btree_damage *d, int quiet)
{
	d->ref_skipped = quiet;
	return report(w, d);
}

/* Damage to a node enter() let in: the caller hears leave() after it. */
static int report_leave(struct walk *w, struct pd_btree_damage *d,
			uint64_t block, int quiet)
{
	int r = report_at(w, d, quiet);

	if (!r && w->ops->leave)
		w->ops->leave(w->ctx, block);
	return r;
}

static int on_path(const struct walk *w, uint64_t block)
{
	for (unsigned i = 0; i < w->sp; i++)
		if (w->frames[i].block == block)
			return 1;
	return 0;
}

/* Copies an internal node into frame sp and makes it the top of the stack. */
static int push(struct walk *w, const void *data, uint64_t block,
		const struct bounds *b, int counted)
{
	struct frame *fr = &w->frames[w->sp];
	const unsigned char *vals = pd_node_values(data);
	unsigned nr = le32_to_cpu(((const struct pd_node_header *)data)->nr_entries);

	if (!fr->keys) {
		fr->keys = malloc(2 * MAX_CHILDREN * sizeof(uint64_t));
		if (!fr->keys)
			return -ENOMEM;
		fr->children = fr->keys + MAX_CHILDREN;
	}
	fr->block = block;
	fr->b = *b;
	fr->nr = nr;
	fr->next = 0;
	fr->counted = counted;
	for (unsigned i = 0; i < nr; i++) {
		fr->keys[i] = node_key(data, i);
		fr->children[i] = load_le64(vals + 8 * (size_t)i);
	}
	w->sp++;
	return 0;
}

/*
 * One pointer to a node, at depth w->sp, allowed keys b; quiet when a node
 * above it was counted already (the pointer is not passed to node_ref).
 */
static int visit(struct walk *w, uint64_t block, const struct bounds *b,
		 int quiet, int offer)
{
	int counted = quiet;	/* the pointers below were counted before */
	unsigned depth = w->sp;
	struct pd_btree_damage d;
	const struct pd_node_header *h;
	struct pd_block *blk;
	struct pd_fault f;
	int r;

	if (!quiet && w->ops->node_ref) {
		r = w->ops->node_ref(w->ctx, block);
		if (r == PD_WALK_COUNTED)
			counted = 1;
		else if (r)
			return r;
	}
	if (depth >= PD_BTREE_MAX_DEPTH) {
		set_damage(&d, PD_BT_TOO_DEEP, block, b, depth, "depth", depth,
			   PD_BTREE_MAX_DEPTH - 1);
		return report_at(w, &d, quiet);
	}
	if (block >= w->nr_blocks) {
		memset(&f, 0, sizeof(f));
		f.block = block;
		f.validator = pd_btree_validator.name;
		f.kind = PD_FAULT_RANGE;
		f.what = "blocknr";
		f.found = block;
		f.expected = w->nr_blocks;
		f.err = -ERANGE;
		set_block_damage(&d, &f, b, depth);
		return report_at(w, &d, quiet);
	}
	if (on_path(w, block)) {
		set_damage(&d, PD_BT_CYCLE, block, b, depth, "blocknr", block,
			   block);
		return report_at(w, &d, quiet);
	}
	if (block >= w->visited.nr_bits) {
		/*
		 * The visited set grows with the highest node seen (to at
		 * most the device): a walk of a small tree on a big device
		 * then costs a few words, not a bit for every block.
		 */
		uint64_t want = w->visited.nr_bits * 2;

		if (want <= block)
			want = block + 1;
		if (want > w->nr_blocks)
			want = w->nr_blocks;
		r = base_bitmap_resize(&w->visited, want);
		if (r < 0)
			return r;
	}
	if (base_bitmap_test_and_set(&w->visited, block)) {
		if (w->flags & PD_WALK_ALLOW_SHARED)
			return 0;
		set_damage(&d, PD_BT_SHARED, block, b, depth, "blocknr", block,
			   block);
		return report_at(w, &d, quiet);
	}

	if (w->ops->enter) {
		r = w->ops->enter(w->ctx, block, depth);
		if (r)
			return r > 0 ? 0 : r;
	}

	if (offer) {
		r = w->ops->hand_off(w->ctx, block, b, depth, counted);
		if (r < 0)
			return r;
		if (r == 1) {
			if (w->ops->leave)
				w->ops->leave(w->ctx, block);
			return 0;
		}
	}
	r = pd_bm_read_lock(w->bm, block, &pd_btree_validator, &blk, &f);
	if (r < 0) {
		if (!is_read_damage(r))
			return r;
		set_block_damage(&d, &f, b, depth);
		return report_leave(w, &d, block, quiet);
	}
	h = pd_block_data(blk);
	if (check_node(h, block, w->value_size, b, depth, w->flags, &d)) {
		pd_bm_unlock(blk);
		return report_leave(w, &d, block, quiet);
	}
	if (le32_to_cpu(h->flags) == PD_BTREE_LEAF) {
		if (w->leaf_depth < 0) {
			w->leaf_depth = (int)depth;
			/*
			 * The first leaf tells the leaves' depth: its siblings
			 * still to come are offered after all.  (The prefetch
			 * read them already; only a tree's first bottom node
			 * pays that.)
			 */
			if (w->ops->hand_off && depth > 0)
				w->frames[w->sp - 1].offer_from =
					w->frames[w->sp - 1].next;
		}
		if ((unsigned)w->leaf_depth != depth) {
			set_damage(&d, PD_BT_DEPTH, block, b, depth, "depth",
				   depth, (unsigned)w->leaf_depth);
			pd_bm_unlock(blk);
			return report_leave(w, &d, block, quiet);
		}
		r = 0;
		if (w->ops->leaf && le32_to_cpu(h->nr_entries))
			r = w->ops->leaf(w->ctx, block,
					 le32_to_cpu(h->nr_entries),
					 (const unsigned char *)h +
						 PD_NODE_KEYS_OFFSET,
					 pd_node_values(h), counted);
		pd_bm_unlock(blk);
		if (!r && w->ops->leave)
			w->ops->leave(w->ctx, block);
		return r;
	}
	/* An internal node at or below the leaves' depth cannot be right. */
	if (w->leaf_depth >= 0 && depth >= (unsigned)w->leaf_depth) {
		/* expected: the deepest an internal node may be */
		set_damage(&d, PD_BT_DEPTH, block, b, depth, "depth", depth,
			   (unsigned)w->leaf_depth - 1);
		pd_bm_unlock(blk);
		return report_leave(w, &d, block, quiet);
	}
	r = push(w, h, block, b, counted);
	pd_bm_unlock(blk);
	if (r == 0) {
		struct frame *fr = &w->frames[w->sp - 1];
		int bottom = w->ops->hand_off && w->leaf_depth >= 0 &&
			     w->sp == (unsigned)w->leaf_depth;

		/* Every leaf is offered, and not prefetched: or none is. */
		fr->offer_from = bottom ? 0 : fr->nr;
		if (!bottom && (w->flags & PD_WALK_PREFETCH))
			pd_bm_prefetch(w->bm, fr->children, fr->nr);
	}
	return r;
}

int pd_btree_walk(struct pd_bm *bm, uint64_t root, uint32_t value_size,
		  unsigned flags, const struct pd_btree_walk_ops *ops,
		  void *ctx)
{
	struct walk *w;
	int r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->bm = bm;
	w->value_size = value_size;
	w->flags = flags;
	w->ops = ops;
	w->ctx = ctx;
	w->nr_blocks = pd_bm_nr_blocks(bm);
	w->leaf_depth = -1;
	r = base_bitmap_init(&w->visited,
			     w->nr_blocks < 4096 ? w->nr_blocks : 4096);
	if (r < 0)
		goto out_free;

	r = visit(w, root, &whole_range, 0, 0);
	while (r == 0 && w->sp > 0) {
		struct frame *fr = &w->frames[w->sp - 1];
		struct bounds cb;
		unsigned i;

		if (fr->next == fr->nr) {
			w->sp--;
			if (w->ops->leave)
				w->ops->leave(w->ctx, fr->block);
			continue;
		}
		i = fr->next++;
		cb.lo = fr->keys[i];
		if (i + 1 < fr->nr) {
			cb.hi = fr->keys[i + 1];
			cb.bounded = 1;
		} else {
			cb.hi = fr->b.hi;
			cb.bounded = fr->b.bounded;
		}
		r = visit(w, fr->children[i], &cb, fr->counted,
			  i >= fr->offer_from);
	}

	base_bitmap_release(&w->visited);
out_free:
	for (unsigned i = 0; i < PD_BTREE_MAX_DEPTH; i++)
		free(w->frames[i].keys);
	free(w);
	return r;
}

/* ---- the cursor ---- */

enum { CUR_NEW, CUR_RUNNING, CUR_ENDED };

struct pd_btree_cursor_frame {
	uint64_t block;
	struct bounds b;
	unsigned nr, next;
	uint64_t keys[MAX_CHILDREN];
	uint64_t children[MAX_CHILDREN];
};

int pd_btree_cursor_init(struct pd_btree_cursor *c, struct pd_bm *bm,
			 uint64_t root, uint32_t value_size)
{
	memset(c, 0, sizeof(*c));
	c->frames = calloc(PD_BTREE_MAX_DEPTH, sizeof(*c->frames));
	c->leaf = malloc(PD_BLOCK_SIZE);
	if (!c->frames || !c->leaf) {
		pd_btree_cursor_release(c);
		return -ENOMEM;
	}
	c->bm = bm;
	c->root = root;
	c->value_size = value_size;
	c->leaf_depth = -1;
	c->state = CUR_NEW;
	return 0;
}

void pd_btree_cursor_release(struct pd_btree_cursor *c)
{
	free(c->frames);
	free(c->leaf);
	c->frames = NULL;
	c->leaf = NULL;
	c->state = CUR_ENDED;
}

static int cursor_fail(struct pd_btree_cursor *c, int err)
{
	c->state = CUR_ENDED;
	c->err = err;
	return err;
}

/* Reads the node at depth c->depth into a frame or the leaf buffer. */
static int cursor_load(struct pd_btree_cursor *c, uint64_t block,
		       const struct bounds *b)
{
	unsigned depth = c->depth;
	const struct pd_node_header *h;
	struct pd_btree_cursor_frame *fr;
	struct pd_block *blk;
	struct pd_fault f;
	int r;

	if (depth >= PD_BTREE_MAX_DEPTH) {
		set_damage(&c->damage, PD_BT_TOO_DEEP, block, b, depth, "depth",
			   depth, PD_BTREE_MAX_DEPTH - 1);
		return -EUCLEAN;
	}
	for (unsigned i = 0; i < depth; i++) {
		if (c->frames[i].block == block) {
			set_damage(&c->damage, PD_BT_CYCLE, block, b, depth,
				   "blocknr", block, block);
			return -EUCLEAN;
		}
	}
	r = pd_bm_read_lock(c->bm, block, &pd_btree_validator, &blk, &f);
	if (r < 0) {
		if (is_read_damage(r))
			set_block_damage(&c->damage, &f, b, depth);
		return r;
	}
	h = pd_block_data(blk);
	if (check_node(h, block, c->value_size, b, depth, 0, &c->damage)) {
		pd_bm_unlock(blk);
		return c->damage.fault.err;
	}
	if (le32_to_cpu(h->flags) == PD_BTREE_LEAF) {
		if (c->leaf_depth < 0)
			c->leaf_depth = (int)depth;
		if ((unsigned)c->leaf_depth != depth) {
			set_damage(&c->damage, PD_BT_DEPTH, block, b, depth,
				   "depth", depth, (unsigned)c->leaf_depth);
			pd_bm_unlock(blk);
			return -EUCLEAN;
		}
		memcpy(c->leaf, h, PD_BLOCK_SIZE);
		c->leaf_nr = le32_to_cpu(h->nr_entries);
		c->leaf_pos = 0;
		pd_bm_unlock(blk);
		return 0;
	}
	if (c->leaf_depth >= 0 && depth >= (unsigned)c->leaf_depth) {
		set_damage(&c->damage, PD_BT_DEPTH, block, b, depth, "depth",
			   depth, (unsigned)c->leaf_depth - 1);
		pd_bm_unlock(blk);
		return -EUCLEAN;
	}
	fr = &c->frames[depth];
	fr->block = block;
	fr->b = *b;
	fr->nr = le32_to_cpu(h->nr_entries);
	fr->next = 0;
	for (unsigned i = 0; i < fr->nr; i++) {
		fr->keys[i] = node_key(h, i);
		fr->children[i] = load_le64(pd_node_values(h) + 8 * (size_t)i);
	}
	pd_bm_unlock(blk);
	c->depth++;
	return 0;
}

int pd_btree_cursor_next(struct pd_btree_cursor *c, uint64_t *key,
			 void *value)
{
	int r;

	if (c->state == CUR_ENDED)
		return c->err;
	if (c->state == CUR_NEW) {
		c->state = CUR_RUNNING;
		r = cursor_load(c, c->root, &whole_range);
		if (r < 0)
			return cursor_fail(c, r);
	}
	/* Leaves are loaded only when sound; climb until one has entries. */
	while (c->leaf_pos == c->leaf_nr) {
		struct pd_btree_cursor_frame *fr;
		struct bounds cb;
		unsigned i;

		if (c->depth == 0)
			return cursor_fail(c, 0);
		fr = &c->frames[c->depth - 1];
		if (fr->next == fr->nr) {
			c->depth--;
			continue;
		}
		i = fr->next++;
		cb.lo = fr->keys[i];
		if (i + 1 < fr->nr) {
			cb.hi = fr->keys[i + 1];
			cb.bounded = 1;
		} else {
			cb.hi = fr->b.hi;
			cb.bounded = fr->b.bounded;
		}
		r = cursor_load(c, fr->children[i], &cb);
		if (r < 0)
			return cursor_fail(c, r);
	}
	*key = node_key(c->leaf, c->leaf_pos);
	if (value)
		memcpy(value, pd_node_values(c->leaf) +
			      (size_t)c->leaf_pos * c->value_size,
		       c->value_size);
	c->leaf_pos++;
	return 1;
}
