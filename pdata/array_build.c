// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The dm-array write side: a streaming bulk builder (array blocks in index
 * order, their btree through the bottom-up builder) and single-value
 * updates in a transaction.
 *
 * The builder holds one array block at a time and hands each full block's
 * (key, block) pair to the btree builder, so a build of any length uses
 * O(btree height) memory and allocates blocks in one increasing run.
 * add_fill writes long runs of one value a block at a time; a run of zeroes
 * costs nothing beyond the zeroed block itself.
 *
 * Array values here are plain data: a shared array block that is copied
 * does not increment anything its values might name.
 *
 * Resize grows by topping up the last block and appending new blocks, one
 * btree insert each; it shrinks by removing whole blocks from the end and
 * trimming the new last one (dropped values zeroed).  So either way it
 * costs O(blocks changed * log n).  Delete drops one reference to the
 * whole tree (pd_btree_del), as the kernel's dm_array_del does.
 */
#include "pdata/array.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "pdata/ondisk.h"
#include "pdata/tm.h"

struct pd_array_builder {
	struct pd_tm *tm;
	uint32_t value_size;
	uint32_t per_block;
	struct pd_btree_builder *btree;
	struct pd_block *cur;		/* the block being filled, or NULL */
	uint32_t cur_nr;
	uint64_t nr_blocks;		/* array blocks closed so far */
	int err;
};

static unsigned char *ablock_value(void *data, uint32_t value_size,
				   uint32_t i)
{
	return (unsigned char *)data + sizeof(struct pd_array_header) +
	       (size_t)value_size * i;
}

int pd_array_builder_create(struct pd_tm *tm, uint32_t value_size,
			    struct pd_array_builder **out)
{
	struct pd_array_builder *b;
	int r;

	*out = NULL;
	if (value_size == 0 ||
	    value_size > PD_BLOCK_SIZE - sizeof(struct pd_array_header))
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	r = pd_btree_builder_create(tm, 8, &b->btree);
	if (r < 0) {
		free(b);
		return r;
	}
	b->tm = tm;
	b->value_size = value_size;
	b->per_block = pd_array_entries_per_block(value_size);
	*out = b;
	return 0;
}

void pd_array_builder_destroy(struct pd_array_builder *b)
{
	if (!b)
		return;
	if (b->cur)
		pd_bm_unlock(b->cur);
	pd_btree_builder_destroy(b->btree);
	free(b);
}

static int open_block(struct pd_array_builder *b)
{
	struct pd_array_header *h;
	int r;

	r = pd_tm_new_block(b->tm, &pd_array_validator, &b->cur);
	if (r < 0)
		return r;
	h = pd_block_wdata(b->cur);
	h->max_entries = cpu_to_le32(b->per_block);
	h->value_size = cpu_to_le32(b->value_size);
	b->cur_nr = 0;
	return 0;
}

static int close_block(struct pd_array_builder *b)
{
	struct pd_array_header *h = pd_block_wdata(b->cur);
	unsigned char v[8];

	h->nr_entries = cpu_to_le32(b->cur_nr);
	store_le64(v, pd_block_nr(b->cur));
	pd_bm_unlock(b->cur);
	b->cur = NULL;
	return pd_btree_builder_add(b->btree, b->nr_blocks++, v);
}

/* Puts n copies of value into the current block (n fits). */
static void put_run(struct pd_array_builder *b, const void *value,
		    uint32_t n, int zero)
{
	unsigned char *p = ablock_value(pd_block_wdata(b->cur), b->value_size,
					b->cur_nr);
	size_t vs = b->value_size, done;

	b->cur_nr += n;
	if (zero || !n)
		return;		/* the block came zeroed */
	memcpy(p, value, vs);
	/* Doubling copies: a block of 509 values takes 9 memcpy calls. */
	for (done = 1; done < n;) {
		size_t k = done < n - done ? done : n - done;

		memcpy(p + done * vs, p, k * vs);
		done += k;
	}
}

int pd_array_builder_add_fill(struct pd_array_builder *b, const void *value,
			      uint64_t n)
{
	int zero = 1, r = 0;

	if (b->err)
		return b->err;
	for (uint32_t i = 0; i < b->value_size; i++)
		zero &= ((const unsigned char *)value)[i] == 0;
	while (n) {
		uint32_t k;

		if (!b->cur) {
			r = open_block(b);
			if (r < 0)
				break;
		}
		k = b->per_block - b->cur_nr;
		if (k > n)
			k = (uint32_t)n;
		put_run(b, value, k, zero);
		n -= k;
		if (b->cur_nr == b->per_block) {
			r = close_block(b);
			if (r < 0)
				break;
		}
	}
	if (r < 0)
		b->err = r;
	return r;
}

int pd_array_builder_add(struct pd_array_builder *b, const void *value)
{
	int r;

	if (b->err)
		return b->err;
	if (!b->cur) {
		r = open_block(b);
		if (r < 0)
			goto fail;
	}
	memcpy(ablock_value(pd_block_wdata(b->cur), b->value_size, b->cur_nr++),
	       value, b->value_size);
	if (b->cur_nr == b->per_block) {
		r = close_block(b);
		if (r < 0)
			goto fail;
	}
	return 0;
fail:
	b->err = r;
	return r;
}

/* A block's worth of values per memcpy. */
int pd_array_builder_add_many(struct pd_array_builder *b, const void *values,
			      uint64_t n)
{
	const unsigned char *p = values;
	int r = 0;

	if (b->err)
		return b->err;
	while (n) {
		uint32_t k;

		if (!b->cur) {
			r = open_block(b);
			if (r < 0)
				break;
		}
		k = b->per_block - b->cur_nr;
		if (k > n)
			k = (uint32_t)n;
		memcpy(ablock_value(pd_block_wdata(b->cur), b->value_size,
				    b->cur_nr),
		       p, (size_t)k * b->value_size);
		b->cur_nr += k;
		p += (size_t)k * b->value_size;
		n -= k;
		if (b->cur_nr == b->per_block) {
			r = close_block(b);
			if (r < 0)
				break;
		}
	}
	if (r < 0)
		b->err = r;
	return r;
}

int pd_array_builder_finish(struct pd_array_builder *b, uint64_t *root)
{
	int r = b->err;

	if (r == 0 && b->cur)
		r = close_block(b);
	if (r == 0)
		r = pd_btree_builder_finish(b->btree, root);
	b->err = r ? r : -EINVAL;	/* finished: no more adds */
	return r;
}

/* ---- updates in a transaction ---- */

/* Finds the array block holding key k: a plain descent, depth capped. */
static int find_ablock(struct pd_tm *tm, uint64_t root, uint64_t k,
		       uint64_t *ablock)
{
	uint64_t b = root;

	for (unsigned depth = 0; depth < PD_BTREE_MAX_DEPTH; depth++) {
		const struct pd_node_header *h;
		struct pd_block *blk;
		uint32_t nr, max;
		int lo = -1, hi, r;
		const unsigned char *d;

		r = pd_tm_read_lock(tm, b, &pd_btree_validator, &blk, NULL);
		if (r < 0)
			return r;
		d = pd_block_data(blk);
		h = (const void *)d;
		nr = le32_to_cpu(h->nr_entries);
		max = le32_to_cpu(h->max_entries);
		if (le32_to_cpu(h->value_size) != 8) {
			pd_bm_unlock(blk);
			return -EILSEQ;
		}
		hi = (int)nr;
		while (hi - lo > 1) {
			int mid = lo + (hi - lo) / 2;

			if (load_le64(d + PD_NODE_KEYS_OFFSET + 8 * mid) <= k)
				lo = mid;
			else
				hi = mid;
		}
		if (lo < 0 ||
		    (le32_to_cpu(h->flags) == PD_BTREE_LEAF &&
		     load_le64(d + PD_NODE_KEYS_OFFSET + 8 * lo) != k)) {
			pd_bm_unlock(blk);
			return -ENODATA;
		}
		b = load_le64(d + PD_NODE_KEYS_OFFSET + 8 * (size_t)max + 8 * lo);
		if (le32_to_cpu(h->flags) == PD_BTREE_LEAF) {
			pd_bm_unlock(blk);
			*ablock = b;
			return 0;
		}
		pd_bm_unlock(blk);
	}
	return -EUCLEAN;
}

/*
 * Makes array block k writable: finds it, shadows it, and checks its header
 * (value size, max_entries).  *old is where it was; ablock_put() links a
 * moved copy back into the btree.
 */
static int ablock_get(struct pd_tm *tm, uint64_t root, uint32_t value_size,
		      uint64_t k, uint64_t *old, struct pd_block **out)
{
	const struct pd_array_header *h;
	int inc, r;

	*out = NULL;
	r = find_ablock(tm, root, k, old);
	if (r < 0)
		return r;
	r = pd_tm_shadow(tm, *old, &pd_array_validator, out, &inc, NULL);
	if (r < 0)
		return r;
	h = pd_block_data(*out);
	if (le32_to_cpu(h->value_size) != value_size ||
	    le32_to_cpu(h->max_entries) !=
		    pd_array_entries_per_block(value_size)) {
		pd_bm_unlock(*out);
		*out = NULL;
		return -EUCLEAN;
	}
	return 0;
}

/* Unlocks blk and, when the shadow moved it, points key k at the copy. */
static int ablock_put(struct pd_tm *tm, uint64_t *root, uint64_t k,
		      uint64_t old, struct pd_block *blk)
{
	uint64_t nb = pd_block_nr(blk);
	unsigned char v[8];
	int r;

	pd_bm_unlock(blk);
	if (nb == old)
		return 0;	/* written in place: the path is ours already */
	/*
	 * The shadow dropped the old block's count, but the btree still points
	 * at it; the insert drops it again when it overwrites the value (and
	 * raises it first if it has to copy a shared leaf).
	 */
	r = pd_tm_inc(tm, old);
	if (r < 0)
		return r;
	store_le64(v, nb);
	return pd_btree_insert_flags(tm, root, 8, k, v, PD_BTREE_BLOCK_VALUES);
}

int pd_array_update(struct pd_tm *tm, uint64_t *root, uint32_t value_size,
		    uint64_t nr_entries, uint64_t index,
		    void (*fn)(void *value, void *ctx), void *ctx)
{
	uint32_t per = value_size ? pd_array_entries_per_block(value_size) : 0;
	const struct pd_array_header *h;
	struct pd_block *blk;
	uint64_t old, k;
	int r;

	if (!per || index >= nr_entries)
		return -EINVAL;
	k = index / per;
	r = ablock_get(tm, *root, value_size, k, &old, &blk);
	if (r < 0)
		return r;
	h = pd_block_data(blk);
	if (index % per >= le32_to_cpu(h->nr_entries)) {
		pd_bm_unlock(blk);
		return -EUCLEAN;
	}
	fn(ablock_value(pd_block_wdata(blk), value_size, (uint32_t)(index % per)),
	   ctx);
	return ablock_put(tm, root, k, old, blk);
}

/*
 * Sets block k's nr_entries to nr: new entries get fill, dropped ones are
 * zeroed (nothing past nr_entries is left behind for a reader to find).
 * The block must hold old_nr entries now.
 */
static int ablock_set_nr(struct pd_tm *tm, uint64_t *root, uint32_t value_size,
			 uint64_t k, uint32_t old_nr, uint32_t nr,
			 const void *fill)
{
	struct pd_array_header *h;
	struct pd_block *blk;
	uint64_t old;
	int r;

	r = ablock_get(tm, *root, value_size, k, &old, &blk);
	if (r < 0)
		return r;
	h = pd_block_wdata(blk);
	if (le32_to_cpu(h->nr_entries) != old_nr) {
		pd_bm_unlock(blk);
		return -EUCLEAN;
	}
	for (uint32_t i = old_nr; i < nr; i++)
		memcpy(ablock_value(h, value_size, i), fill, value_size);
	if (nr < old_nr)
		memset(ablock_value(h, value_size, nr), 0,
		       (size_t)value_size * (old_nr - nr));
	h->nr_entries = cpu_to_le32(nr);
	return ablock_put(tm, root, k, old, blk);
}

/* A new array block k of nr copies of fill, added to the btree. */
static int ablock_append(struct pd_tm *tm, uint64_t *root, uint32_t value_size,
			 uint64_t k, uint32_t nr, const void *fill)
{
	struct pd_array_header *h;
	struct pd_block *blk;
	unsigned char v[8];
	int r;

	r = pd_tm_new_block(tm, &pd_array_validator, &blk);
	if (r < 0)
		return r;
	h = pd_block_wdata(blk);
	h->max_entries = cpu_to_le32(pd_array_entries_per_block(value_size));
	h->value_size = cpu_to_le32(value_size);
	h->nr_entries = cpu_to_le32(nr);
	for (uint32_t i = 0; i < nr; i++)
		memcpy(ablock_value(h, value_size, i), fill, value_size);
	store_le64(v, pd_block_nr(blk));
	pd_bm_unlock(blk);
	/* The new block's one reference passes to the btree. */
	return pd_btree_insert_flags(tm, root, 8, k, v, PD_BTREE_BLOCK_VALUES);
}

int pd_array_resize(struct pd_tm *tm, uint64_t *root, uint32_t value_size,
		    uint64_t old_nr, uint64_t new_nr, const void *fill)
{
	uint32_t per = value_size ? pd_array_entries_per_block(value_size) : 0;
	uint64_t old_blocks, new_blocks;
	int r = 0;

	if (!per)
		return -EINVAL;
	old_blocks = old_nr / per + (old_nr % per != 0);
	new_blocks = new_nr / per + (new_nr % per != 0);
	if (new_nr > old_nr) {
		if (old_nr % per) {
			uint64_t end = old_blocks * per < new_nr ?
					       old_blocks * per : new_nr;

			r = ablock_set_nr(tm, root, value_size, old_blocks - 1,
					  (uint32_t)(old_nr % per),
					  (uint32_t)(end - (old_blocks - 1) * per),
					  fill);
		}
		for (uint64_t k = old_blocks; k < new_blocks && r == 0; k++) {
			uint64_t left = new_nr - k * per;

			r = ablock_append(tm, root, value_size, k,
					  left < per ? (uint32_t)left : per, fill);
		}
	} else if (new_nr < old_nr) {
		for (uint64_t k = old_blocks; k > new_blocks && r == 0; k--)
			r = pd_btree_remove_flags(tm, root, 8, k - 1,
						  PD_BTREE_BLOCK_VALUES);
		if (r == 0 && new_nr % per) {
			uint64_t k = new_blocks - 1;
			uint64_t had = old_nr - k * per;

			r = ablock_set_nr(tm, root, value_size, k,
					  had < per ? (uint32_t)had : per,
					  (uint32_t)(new_nr % per), fill);
		}
	}
	return r;
}

int pd_array_del(struct pd_tm *tm, uint64_t root)
{
	return pd_btree_del(tm, root, 8, PD_BTREE_BLOCK_VALUES);
}

struct set_ctx {
	const void *value;
	uint32_t size;
};

static void set_value(void *value, void *ctx)
{
	struct set_ctx *s = ctx;

	memcpy(value, s->value, s->size);
}

int pd_array_set(struct pd_tm *tm, uint64_t *root, uint32_t value_size,
		 uint64_t nr_entries, uint64_t index, const void *value)
{
	struct set_ctx s = { value, value_size };

	return pd_array_update(tm, root, value_size, nr_entries, index,
			       set_value, &s);
}
