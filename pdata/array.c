// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The read side of dm-array (FORMAT.md §5.1-5.2): the checking walk over
 * the whole array and single-value lookup.
 *
 * The walk streams: pd_btree_walk() hands over each leaf of (key, array
 * block) pairs in key order, and the array blocks of that leaf are checked
 * and passed on before the next leaf is read, so memory does not grow with
 * the array.  Because keys arrive in order, a gap between the key expected
 * next and the key seen is exactly the set of missing array blocks, and the
 * btree's lost key ranges translate directly into lost index ranges.
 */
#include "pdata/array.h"

#include <errno.h>
#include <string.h>

#include "base/endian.h"
#include "pdata/ondisk.h"

const char *pd_array_problem_name(enum pd_array_problem p)
{
	switch (p) {
	case PD_ARR_BTREE:
		return "damaged array btree";
	case PD_ARR_BLOCK:
		return "bad array block";
	case PD_ARR_VALUE_SIZE:
		return "array block value size mismatch";
	case PD_ARR_NR_ENTRIES:
		return "array block has the wrong number of entries";
	case PD_ARR_MISSING:
		return "array block missing";
	case PD_ARR_EXTRA:
		return "array block past the end of the array";
	}
	return "unknown array problem";
}

struct awalk {
	struct pd_bm *bm;
	uint64_t nr_entries;
	uint32_t value_size;
	uint32_t per;		/* entries per array block */
	uint64_t nblocks;	/* ceil(nr_entries / per) */
	unsigned flags;
	const struct pd_array_walk_ops *ops;
	void *ctx;
	uint64_t next_key;	/* every key below it was delivered or reported */
};

/* First index of array block k, saturating at the array's length. */
static uint64_t key_index(const struct awalk *a, uint64_t k)
{
	if (k >= a->nblocks)
		return a->nr_entries;
	return k * a->per;
}

static int report(struct awalk *a, struct pd_array_damage *d)
{
	return a->ops && a->ops->damage ? a->ops->damage(a->ctx, d) : 0;
}

static void init_damage(struct pd_array_damage *d, enum pd_array_problem p,
			uint64_t begin, uint64_t end)
{
	memset(d, 0, sizeof(*d));
	d->problem = p;
	d->index_begin = begin;
	d->index_end = end;
}

static void set_field(struct pd_fault *f, uint64_t block, const char *what,
		      uint64_t found, uint64_t expected, int err)
{
	f->block = block;
	f->validator = pd_array_validator.name;
	f->kind = PD_FAULT_HEADER;
	f->what = what;
	f->found = found;
	f->expected = expected;
	f->err = err;
}

/* Keys [next_key, k) were never stored. */
static int report_missing(struct awalk *a, uint64_t k)
{
	struct pd_array_damage d;
	uint64_t end = k < a->nblocks ? k : a->nblocks;

	if (a->next_key >= end)
		return 0;
	init_damage(&d, PD_ARR_MISSING, key_index(a, a->next_key),
		    key_index(a, end));
	set_field(&d.fault, 0, "key", end, a->next_key, -ENODATA);
	d.fault.kind = PD_FAULT_NONE;
	a->next_key = end;
	return report(a, &d);
}

static int btree_damage(void *ctx, const struct pd_btree_damage *bd)
{
	struct awalk *a = ctx;
	struct pd_array_damage d;
	int r;

	r = report_missing(a, bd->key_begin);
	if (r)
		return r;
	init_damage(&d, PD_ARR_BTREE, key_index(a, bd->key_begin),
		    key_index(a, bd->key_end));
	d.fault = bd->fault;
	d.btree = *bd;
	if (bd->key_end > a->next_key)
		a->next_key = bd->key_end;
	return report(a, &d);
}

static int btree_node_ref(void *ctx, uint64_t block)
{
	struct awalk *a = ctx;

	return a->ops && a->ops->block_ref ?
		       a->ops->block_ref(a->ctx, block) : 0;
}

/* Array block k at ab: check it and hand its values over. */
static int visit_block(struct awalk *a, uint64_t k, uint64_t ab)
{
	const struct pd_array_header *h;
	struct pd_array_damage d;
	uint64_t begin = k * a->per;
	uint64_t want_nr = k + 1 == a->nblocks ? a->nr_entries - begin : a->per;
	uint64_t end = begin + want_nr;
	struct pd_block *blk;
	uint32_t vs, nr;
	int r;

	init_damage(&d, PD_ARR_BLOCK, begin, end);
	r = pd_bm_read_lock(a->bm, ab, &pd_array_validator, &blk, &d.fault);
	if (r == -ENOMEM || r == -EBUSY)
		return r;
	if (r < 0)
		return report(a, &d);
	h = pd_block_data(blk);
	vs = le32_to_cpu(h->value_size);
	nr = le32_to_cpu(h->nr_entries);
	if (vs != a->value_size) {
		d.problem = PD_ARR_VALUE_SIZE;
		set_field(&d.fault, ab, "value_size", vs, a->value_size,
			  -EILSEQ);
		pd_bm_unlock(blk);
		return report(a, &d);
	}
	if (nr != want_nr) {
		d.problem = PD_ARR_NR_ENTRIES;
		set_field(&d.fault, ab, "nr_entries", nr, want_nr, -EUCLEAN);
		pd_bm_unlock(blk);
		return report(a, &d);
	}
	r = 0;
	if (a->ops && a->ops->values)
		r = a->ops->values(a->ctx, begin, nr,
				   (const unsigned char *)h + sizeof(*h), ab);
	pd_bm_unlock(blk);
	return r;
}

static int btree_leaf(void *ctx, uint64_t block, unsigned nr, const void *keys,
		      const void *values, int counted)
{
	struct awalk *a = ctx;
	const unsigned char *kp = keys, *vp = values;
	int r;

	(void)block;
	if (a->flags & PD_WALK_PREFETCH) {
		/* A leaf of value size 8 holds at most 252 pointers. */
		uint64_t want[256];
		unsigned n = 0;

		for (unsigned i = 0; i < nr && n < 256; i++)
			if (load_le64(kp + 8 * (size_t)i) < a->nblocks)
				want[n++] = load_le64(vp + 8 * (size_t)i);
		if (n)
			pd_bm_prefetch(a->bm, want, n);
	}
	for (unsigned i = 0; i < nr; i++) {
		uint64_t k = load_le64(kp + 8 * (size_t)i);
		uint64_t ab = load_le64(vp + 8 * (size_t)i);

		/* The btree walker delivers keys in order; be safe anyway. */
		if (k < a->next_key)
			continue;
		r = report_missing(a, k);
		if (r)
			return r;
		a->next_key = k + 1;
		/*
		 * Below a node counted before, this leaf's pointers were
		 * counted with it.  An array block points nowhere, so its
		 * being counted before (shared) changes nothing here.
		 */
		if (!counted && a->ops && a->ops->block_ref) {
			r = a->ops->block_ref(a->ctx, ab);
			if (r && r != PD_WALK_COUNTED)
				return r;
		}
		if (k >= a->nblocks) {
			struct pd_array_damage d;
			uint64_t b = k > UINT64_MAX / a->per ? UINT64_MAX :
							      k * a->per;
			uint64_t e = b > UINT64_MAX - a->per ? UINT64_MAX :
							      b + a->per;

			init_damage(&d, PD_ARR_EXTRA, b, e);
			set_field(&d.fault, ab, "key", k, a->nblocks - 1,
				  -EUCLEAN);
			d.fault.kind = PD_FAULT_NONE;
			if (!a->nblocks)
				d.fault.expected = 0;
			r = report(a, &d);
		} else {
			r = visit_block(a, k, ab);
		}
		if (r)
			return r;
	}
	return 0;
}

int pd_array_walk(struct pd_bm *bm, uint64_t root, uint64_t nr_entries,
		  uint32_t value_size, unsigned walk_flags,
		  const struct pd_array_walk_ops *ops, void *ctx)
{
	static const struct pd_btree_walk_ops bops = {
		.leaf = btree_leaf,
		.damage = btree_damage,
		.node_ref = btree_node_ref,
	};
	struct awalk a = {
		.bm = bm,
		.nr_entries = nr_entries,
		.value_size = value_size,
		.flags = walk_flags,
		.ops = ops,
		.ctx = ctx,
	};
	int r;

	if (value_size == 0 || value_size > PD_BLOCK_SIZE - 24)
		return -EINVAL;
	a.per = pd_array_entries_per_block(value_size);
	a.nblocks = nr_entries / a.per + (nr_entries % a.per != 0);
	/*
	 * A node reached twice within one array's btree would have to hold
	 * keys in two disjoint ranges: damage, so no ALLOW_SHARED.  Array
	 * blocks may be shared (one block for many keys, the kernel's
	 * refcounted copy-on-write): block_ref sees each pointer.
	 */
	r = pd_btree_walk(bm, root, 8, walk_flags & ~PD_WALK_ALLOW_SHARED,
			  &bops, &a);
	if (r)
		return r;
	return report_missing(&a, a.nblocks);
}

int pd_array_get(struct pd_bm *bm, uint64_t root, uint32_t value_size,
		 uint64_t index, void *value, struct pd_fault *f)
{
	const struct pd_array_header *h;
	struct pd_block *blk;
	uint32_t per, slot;
	uint64_t ab;
	le64 v;
	int r;

	if (value_size == 0 || value_size > PD_BLOCK_SIZE - 24)
		return -EINVAL;
	per = pd_array_entries_per_block(value_size);
	r = pd_btree_lookup(bm, root, 8, index / per, &v, f);
	if (r < 0)
		return r;
	ab = le64_to_cpu(v);
	r = pd_bm_read_lock(bm, ab, &pd_array_validator, &blk, f);
	if (r < 0)
		return r;
	h = pd_block_data(blk);
	slot = (uint32_t)(index % per);
	if (le32_to_cpu(h->value_size) != value_size) {
		if (f) {
			memset(f, 0, sizeof(*f));
			set_field(f, ab, "value_size",
				  le32_to_cpu(h->value_size), value_size,
				  -EILSEQ);
		}
		r = -EILSEQ;
	} else if (slot >= le32_to_cpu(h->nr_entries)) {
		r = -ENODATA;
	} else {
		memcpy(value, (const unsigned char *)h + sizeof(*h) +
			      (size_t)slot * value_size, value_size);
	}
	pd_bm_unlock(blk);
	return r;
}
