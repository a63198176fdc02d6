// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Frees a thin pool's leaked metadata and data blocks in one transaction
 * (leaks.h says how, and why nothing is written in place).
 */
#include "thin/leaks.h"

#include <errno.h>
#include <string.h>

#include "base/endian.h"
#include "pdata/bm.h"
#include "pdata/btree.h"
#include "pdata/ondisk.h"
#include "pdata/sm.h"
#include "pdata/tm.h"

struct fill {
	const struct thin_leaks *l;
	struct pd_sm_root_cpu data_sm;
};

static int fill_sb(void *ctx, void *data, const struct pd_sm_root_cpu *root)
{
	struct fill *f = ctx;
	struct thin_disk_sb *d = data;

	memcpy(data, f->l->sb_raw, PD_BLOCK_SIZE);
	d->flags = cpu_to_le32(f->l->flags);
	pd_sm_root_pack(root, (struct pd_sm_root *)d->metadata_space_map_root);
	pd_sm_root_pack(&f->data_sm,
			(struct pd_sm_root *)d->data_space_map_root);
	return 0;
}

/*
 * Data bitmap i: a copy with its leaks zeroed in a new block, the index
 * entry pointed at it, the old block released.
 */
static int free_in_data_bitmap(struct pd_tm *tm, struct pd_sm_root_cpu *dsm,
			       uint64_t i, const struct base_bitmap *leaks,
			       uint64_t *freed)
{
	uint64_t base = i * PD_SM_ENTRIES_PER_BITMAP;
	uint64_t end = base + PD_SM_ENTRIES_PER_BITMAP, old_nr;
	unsigned char buf[PD_BLOCK_SIZE];
	uint32_t n = 0, first = UINT32_MAX;
	struct pd_index_entry ie;
	struct pd_block *b;
	int r;

	if (end > leaks->nr_bits)
		end = leaks->nr_bits;
	r = pd_btree_lookup(pd_tm_bm(tm), dsm->bitmap_root, sizeof(ie), i,
			    &ie, NULL);
	if (r < 0)
		return r == -ENODATA ? -EUCLEAN : r;
	old_nr = le64_to_cpu(ie.blocknr);
	r = pd_tm_read_lock(tm, old_nr, &pd_bitmap_validator, &b, NULL);
	if (r < 0)
		return r;
	memcpy(buf, pd_block_data(b), PD_BLOCK_SIZE);
	pd_bm_unlock(b);
	for (uint64_t j = base_bitmap_next_set(leaks, base); j < end;
	     j = base_bitmap_next_set(leaks, j + 1)) {
		uint32_t e = (uint32_t)(j - base);

		/* 3 means "see the overflow tree": that entry goes too. */
		if (pd_bitmap_get(buf, e) == 3) {
			r = pd_btree_remove(tm, &dsm->ref_count_root, 4, j);
			if (r < 0)
				return r == -ENODATA ? -EUCLEAN : r;
		}
		pd_bitmap_set(buf, e, 0);
		if (e < first)
			first = e;
		n++;
	}
	if (!n)
		return 0;
	r = pd_tm_new_block(tm, &pd_bitmap_validator, &b);
	if (r < 0)
		return r;
	memcpy(pd_block_wdata(b), buf, PD_BLOCK_SIZE);
	ie.blocknr = cpu_to_le64(pd_block_nr(b));
	pd_bm_unlock(b);
	r = pd_tm_dec(tm, old_nr);
	if (r < 0)
		return r;
	ie.nr_free = cpu_to_le32(le32_to_cpu(ie.nr_free) + n);
	if (first < le32_to_cpu(ie.none_free_before))
		ie.none_free_before = cpu_to_le32(first);
	r = pd_btree_insert(tm, &dsm->bitmap_root, sizeof(ie), i, &ie);
	if (!r)
		*freed += n;
	return r;
}

int thin_free_leaks(struct pd_bm *bm, struct thin_leaks *l)
{
	struct fill f = { l, l->sb->data_sm };
	struct pd_sm_root_cpu msm = l->sb->metadata_sm;
	const struct base_bitmap *dl = l->data_leaks, *ml = l->meta_leaks;
	uint64_t dfreed = 0, mfreed = 0;
	struct pd_tm *tm;
	int r;

	l->meta_freed = l->data_freed = 0;
	/* nr_allocated may be off (a warning): the new root has the truth. */
	msm.nr_allocated = l->meta_in_use;
	r = pd_tm_open(bm, &msm, &tm);
	if (r < 0)
		return r;
	for (uint64_t i = 0; dl && i * PD_SM_ENTRIES_PER_BITMAP < dl->nr_bits;
	     i++) {
		uint64_t base = i * PD_SM_ENTRIES_PER_BITMAP;

		if (base_bitmap_next_set(dl, base) >=
		    base + PD_SM_ENTRIES_PER_BITMAP)
			continue;
		r = free_in_data_bitmap(tm, &f.data_sm, i, dl, &dfreed);
		if (r < 0)
			goto out;
	}
	for (uint64_t j = ml ? base_bitmap_next_set(ml, 0) : 0;
	     ml && j < ml->nr_bits; j = base_bitmap_next_set(ml, j + 1)) {
		r = pd_tm_release(tm, j);
		if (r < 0)
			goto out;
		mfreed++;
	}
	f.data_sm.nr_allocated = l->data_in_use - dfreed;
	r = pd_tm_commit(tm, fill_sb, &f, &thin_sb_validator);
	if (!r) {
		l->meta_freed = mfreed;
		l->data_freed = dfreed;
	}
out:
	pd_tm_destroy(tm);
	return r;
}
