// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The transaction manager: in-core reference counts for every metadata
 * block, a next-fit allocator that never hands out a block the last
 * committed superblock can still reach, copy-on-write shadowing, and the
 * commit sequence "space map, every block, flush, superblock, flush".
 *
 * Two facts per block drive everything: its count now, and whether it was
 * in use at the last commit (the `committed` bitmap).  A block in use at the
 * last commit may be read but never written; a block not in use at the last
 * commit and free now may be allocated; a block not in use at the last
 * commit but allocated since is this transaction's own and is written in
 * place.
 */
#include "pdata/tm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitmap.h"
#include "base/grow.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"
#include "pdata/sm.h"

struct pd_tm {
	struct pd_bm *bm;
	uint64_t nr_blocks;
	uint64_t nr_allocated;
	uint32_t *counts;
	struct base_bitmap committed;	/* in use at the last commit */
	uint64_t cursor;		/* where the next allocation search starts */

	/* Blocks of the space map on disk now; released at the next commit. */
	uint64_t *sm_blocks;
	uint64_t nr_sm_blocks;
	size_t sm_blocks_cap;
	int recording;			/* pd_sm_write is allocating */
};

static int tm_alloc_struct(struct pd_bm *bm, uint64_t nr_blocks,
			   struct pd_tm **out)
{
	struct pd_tm *tm;
	int r;

	*out = NULL;
	tm = calloc(1, sizeof(*tm));
	if (!tm)
		return -ENOMEM;
	tm->bm = bm;
	tm->nr_blocks = nr_blocks;
	tm->counts = calloc(nr_blocks ? nr_blocks : 1, sizeof(*tm->counts));
	if (!tm->counts) {
		r = -ENOMEM;
		goto out_tm;
	}
	r = base_bitmap_init(&tm->committed, nr_blocks);
	if (r < 0)
		goto out_counts;
	*out = tm;
	return 0;

out_counts:
	free(tm->counts);
out_tm:
	free(tm);
	return r;
}

int pd_tm_create(struct pd_bm *bm, struct pd_tm **out)
{
	uint64_t nr = pd_bm_nr_blocks(bm);
	int r;

	if (nr > PD_SM_MAX_METADATA_BLOCKS)
		nr = PD_SM_MAX_METADATA_BLOCKS;
	if (nr <= PD_TM_SB_LOCATION)
		return -ENOSPC;
	r = tm_alloc_struct(bm, nr, out);
	if (r < 0)
		return r;
	(*out)->counts[PD_TM_SB_LOCATION] = 1;
	(*out)->nr_allocated = 1;
	(*out)->cursor = PD_TM_SB_LOCATION + 1;
	return 0;
}

static int sm_blocks_push(struct pd_tm *tm, uint64_t block)
{
	if (BASE_GROW(tm->sm_blocks, tm->sm_blocks_cap, tm->nr_sm_blocks + 1,
		      64) < 0)
		return -ENOMEM;
	tm->sm_blocks[tm->nr_sm_blocks++] = block;
	return 0;
}

struct open_ctx {
	struct pd_tm *tm;
	int damaged;
	int io_err;	/* a block the device failed to read: its errno */
};

static int open_damage(void *ctx, const struct pd_sm_damage *d)
{
	struct open_ctx *oc = ctx;
	const struct pd_fault *f = d->problem == PD_SM_OVERFLOW ?
				   &d->btree.fault : &d->fault;

	oc->damaged = 1;
	if (f->kind == PD_FAULT_IO && f->err < 0 && !oc->io_err)
		oc->io_err = f->err;
	return 0;
}

static int open_own_block(void *ctx, uint64_t block)
{
	return sm_blocks_push(((struct open_ctx *)ctx)->tm, block);
}

int pd_tm_open(struct pd_bm *bm, const struct pd_sm_root_cpu *root,
	       struct pd_tm **out)
{
	static const struct pd_sm_read_ops ops = {
		.damage = open_damage,
		.own_block_ref = open_own_block,
	};
	struct base_bitmap unknown = { 0 };
	struct open_ctx oc = { 0 };
	struct pd_tm *tm;
	uint32_t *counts = NULL;
	uint64_t nr_counts = 0;
	int r;

	*out = NULL;
	if (root->nr_blocks > pd_bm_nr_blocks(bm) ||
	    root->nr_blocks > PD_SM_MAX_METADATA_BLOCKS ||
	    root->nr_blocks <= PD_TM_SB_LOCATION)
		return -EUCLEAN;
	r = tm_alloc_struct(bm, root->nr_blocks, &tm);
	if (r < 0)
		return r;
	oc.tm = tm;
	r = pd_sm_read(bm, root, &ops, &oc, &counts, &nr_counts, &unknown);
	if (r < 0)
		goto out_tm;
	if (oc.damaged || nr_counts != tm->nr_blocks ||
	    base_bitmap_count(&unknown) || counts[PD_TM_SB_LOCATION] == 0) {
		/* An unreadable space map is an I/O error, not damage. */
		r = oc.io_err ? oc.io_err : -EUCLEAN;
		goto out_counts;
	}
	free(tm->counts);
	tm->counts = counts;
	counts = NULL;
	for (uint64_t b = 0; b < tm->nr_blocks; b++) {
		if (tm->counts[b]) {
			tm->nr_allocated++;
			base_bitmap_set(&tm->committed, b);
		}
	}
	if (tm->nr_allocated != root->nr_allocated) {
		r = -EUCLEAN;
		goto out_counts;
	}
	base_bitmap_release(&unknown);
	*out = tm;
	return 0;

out_counts:
	free(counts);
	base_bitmap_release(&unknown);
out_tm:
	pd_tm_destroy(tm);
	return r;
}

void pd_tm_destroy(struct pd_tm *tm)
{
	if (!tm)
		return;
	free(tm->sm_blocks);
	base_bitmap_release(&tm->committed);
	free(tm->counts);
	free(tm);
}

struct pd_bm *pd_tm_bm(struct pd_tm *tm)
{
	return tm->bm;
}

uint64_t pd_tm_nr_blocks(const struct pd_tm *tm)
{
	return tm->nr_blocks;
}

uint64_t pd_tm_nr_allocated(const struct pd_tm *tm)
{
	return tm->nr_allocated;
}

uint32_t pd_tm_ref_count(const struct pd_tm *tm, uint64_t block)
{
	return block < tm->nr_blocks ? tm->counts[block] : 0;
}

const uint32_t *pd_tm_counts(const struct pd_tm *tm)
{
	return tm->counts;
}

static int allocatable(const struct pd_tm *tm, uint64_t b)
{
	return !tm->counts[b] && !base_bitmap_test(&tm->committed, b);
}

int pd_tm_alloc(struct pd_tm *tm, uint64_t *block)
{
	uint64_t b = tm->cursor;
	int r;

	/* Next fit: one pass from the cursor to the end, one from the start. */
	for (uint64_t n = 0; n < tm->nr_blocks; n++, b++) {
		if (b >= tm->nr_blocks)
			b = 0;
		if (!allocatable(tm, b))
			continue;
		if (tm->recording) {
			r = sm_blocks_push(tm, b);
			if (r < 0)
				return r;
		}
		tm->counts[b] = 1;
		tm->nr_allocated++;
		tm->cursor = b + 1;
		*block = b;
		return 0;
	}
	return -ENOSPC;
}

int pd_tm_new_block(struct pd_tm *tm, const struct pd_validator *v,
		    struct pd_block **out)
{
	uint64_t b;
	int r;

	*out = NULL;
	r = pd_tm_alloc(tm, &b);
	if (r < 0)
		return r;
	return pd_bm_write_lock_zero(tm->bm, b, v, out);
}

int pd_tm_read_lock(struct pd_tm *tm, uint64_t block,
		    const struct pd_validator *v, struct pd_block **out,
		    struct pd_fault *f)
{
	return pd_bm_read_lock(tm->bm, block, v, out, f);
}

int pd_tm_inc(struct pd_tm *tm, uint64_t block)
{
	if (block >= tm->nr_blocks)
		return -EINVAL;
	if (tm->counts[block] == UINT32_MAX)
		return -EUCLEAN;
	if (!tm->counts[block]++)
		tm->nr_allocated++;
	return 0;
}

int pd_tm_dec(struct pd_tm *tm, uint64_t block)
{
	if (block >= tm->nr_blocks)
		return -EINVAL;
	if (!tm->counts[block])
		return -EUCLEAN;
	if (!--tm->counts[block])
		tm->nr_allocated--;
	return 0;
}

int pd_tm_release(struct pd_tm *tm, uint64_t block)
{
	if (block >= tm->nr_blocks)
		return -EINVAL;
	if (tm->counts[block]) {
		tm->counts[block] = 0;
		tm->nr_allocated--;
	}
	return 0;
}

int pd_tm_shadow(struct pd_tm *tm, uint64_t block,
		 const struct pd_validator *v, struct pd_block **out,
		 int *inc_children, struct pd_fault *f)
{
	struct pd_block *orig, *copy;
	uint32_t count;
	int r;

	*out = NULL;
	*inc_children = 0;
	if (block >= tm->nr_blocks)
		return -EINVAL;
	count = tm->counts[block];
	if (!count)
		return -EUCLEAN;
	if (count == 1 && !base_bitmap_test(&tm->committed, block))
		return pd_bm_write_lock(tm->bm, block, v, out, f);

	r = pd_bm_read_lock(tm->bm, block, v, &orig, f);
	if (r < 0)
		return r;
	r = pd_tm_new_block(tm, v, &copy);
	if (r < 0)
		goto out_orig;
	memcpy(pd_block_wdata(copy), pd_block_data(orig), PD_BLOCK_SIZE);
	tm->counts[block]--;	/* count >= 1, so it cannot underflow */
	if (!tm->counts[block])
		tm->nr_allocated--;
	*inc_children = count > 1;
	*out = copy;
out_orig:
	pd_bm_unlock(orig);
	return r;
}

int pd_tm_commit(struct pd_tm *tm, pd_tm_fill_sb_fn fill, void *ctx,
		 const struct pd_validator *sb_validator)
{
	struct pd_sm_root_cpu root;
	struct pd_block *sb;
	int r;

	/*
	 * The old space map's blocks are reachable from the old superblock:
	 * dropping their counts frees them for the next transaction, not this
	 * one (committed still has them).
	 */
	for (uint64_t i = 0; i < tm->nr_sm_blocks; i++) {
		r = pd_tm_dec(tm, tm->sm_blocks[i]);
		if (r < 0)
			return r;
	}
	tm->nr_sm_blocks = 0;
	tm->recording = 1;
	r = pd_sm_write(tm, &root);
	tm->recording = 0;
	if (r < 0)
		return r;

	/* Everything but the superblock reaches stable storage first. */
	r = pd_bm_flush(tm->bm);
	if (r < 0)
		return r;

	r = pd_bm_write_lock_zero(tm->bm, PD_TM_SB_LOCATION, sb_validator, &sb);
	if (r < 0)
		return r;
	r = fill(ctx, pd_block_wdata(sb), &root);
	if (r) {
		/* Leave no half-filled superblock behind to be written. */
		memset(pd_block_wdata(sb), 0, PD_BLOCK_SIZE);
		pd_bm_unlock(sb);
		pd_bm_forget(tm->bm, PD_TM_SB_LOCATION);
		return r;
	}
	pd_bm_unlock(sb);
	r = pd_bm_flush(tm->bm);
	if (r < 0)
		return r;

	/* A new transaction: what is in use now is what the disk reaches. */
	for (uint64_t w = 0; w < (tm->nr_blocks + 63) / 64; w++) {
		uint64_t bits = 0;
		uint64_t end = tm->nr_blocks - w * 64 < 64 ? tm->nr_blocks - w * 64 : 64;

		for (uint64_t j = 0; j < end; j++)
			bits |= (uint64_t)(tm->counts[w * 64 + j] != 0) << j;
		tm->committed.words[w] = bits;
	}
	return 0;
}
