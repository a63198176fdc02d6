// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The metadata space-map writer: turns the transaction manager's in-core
 * reference counts into an index block, 2-bit bitmaps and an overflow btree
 * (FORMAT.md §4), all in newly allocated blocks.
 *
 * The space map counts its own blocks, which it allocates out of the map it
 * is writing.  That needs no iteration to a fixed point here: every block
 * the space map occupies has count 1, so allocating them cannot change which
 * blocks have counts of 3 or more, i.e. cannot change the shape of the
 * overflow tree.  So all of them are allocated first (index, bitmaps, then
 * the overflow tree built from the counts >= 3), and only then are the
 * bitmaps filled from the now final counts.
 *
 * nr_free follows the kernel: each bitmap, the last partial one included,
 * has 16320 slots and nr_free = 16320 - slots in use.  none_free_before is
 * the first free slot (16320 when none is).
 */
#include "pdata/tm.h"

#include <errno.h>
#include <stdlib.h>

#include "base/endian.h"
#include "pdata/btree.h"
#include "pdata/ondisk.h"

/* Fills bitmap block data for counts[0..n); returns the slots in use. */
static uint32_t fill_bitmap(unsigned char *data, const uint32_t *counts,
			    uint32_t n, uint32_t *first_free)
{
	uint32_t used = 0;

	*first_free = PD_SM_ENTRIES_PER_BITMAP;
	for (uint32_t w = 0; w * 32 < n; w++) {
		uint32_t end = n - w * 32 < 32 ? n - w * 32 : 32;
		uint64_t word = 0;

		for (uint32_t k = 0; k < end; k++) {
			uint32_t c = counts[w * 32 + k];
			uint64_t v = c >= 3 ? 3 : c;

			if (!c) {
				if (*first_free == PD_SM_ENTRIES_PER_BITMAP)
					*first_free = w * 32 + k;
				continue;
			}
			used++;
			/* The even bit carries 2, the odd bit carries 1. */
			word |= ((v >> 1) << (2 * k)) | ((v & 1) << (2 * k + 1));
		}
		store_le64(data + sizeof(struct pd_bitmap_header) + 8 * w, word);
	}
	if (*first_free == PD_SM_ENTRIES_PER_BITMAP && n < PD_SM_ENTRIES_PER_BITMAP)
		*first_free = n;	/* slots past the device count as free */
	return used;
}

static int build_overflow(struct pd_tm *tm, uint64_t *root)
{
	const uint32_t *counts = pd_tm_counts(tm);
	uint64_t nr = pd_tm_nr_blocks(tm);
	struct pd_btree_builder *b;
	int r;

	r = pd_btree_builder_create(tm, 4, &b);
	if (r < 0)
		return r;
	for (uint64_t i = 0; i < nr && r == 0; i++) {
		if (counts[i] >= 3) {
			unsigned char v[4];

			store_le32(v, counts[i]);
			r = pd_btree_builder_add(b, i, v);
		}
	}
	if (r == 0)
		r = pd_btree_builder_finish(b, root);
	pd_btree_builder_destroy(b);
	return r;
}

int pd_sm_write(struct pd_tm *tm, struct pd_sm_root_cpu *root)
{
	struct pd_bm *bm = pd_tm_bm(tm);
	uint64_t nr = pd_tm_nr_blocks(tm);
	uint64_t nb = (nr + PD_SM_ENTRIES_PER_BITMAP - 1) / PD_SM_ENTRIES_PER_BITMAP;
	struct pd_index_entry entries[PD_SM_MAX_INDEX_ENTRIES];
	uint64_t index_block, ref_root;
	uint64_t *bitmaps;
	const uint32_t *counts;
	struct pd_block *blk;
	int r;

	if (nb == 0 || nb > PD_SM_MAX_INDEX_ENTRIES)
		return -EINVAL;
	bitmaps = malloc(nb * sizeof(*bitmaps));
	if (!bitmaps)
		return -ENOMEM;
	r = pd_tm_alloc(tm, &index_block);
	for (uint64_t i = 0; i < nb && r == 0; i++)
		r = pd_tm_alloc(tm, &bitmaps[i]);
	if (r == 0)
		r = build_overflow(tm, &ref_root);
	if (r < 0)
		goto out;

	/* Every allocation is done: the counts are final. */
	counts = pd_tm_counts(tm);
	for (uint64_t i = 0; i < nb; i++) {
		uint64_t base = i * PD_SM_ENTRIES_PER_BITMAP;
		uint32_t n = nr - base < PD_SM_ENTRIES_PER_BITMAP ?
			     (uint32_t)(nr - base) : PD_SM_ENTRIES_PER_BITMAP;
		uint32_t used, first_free;

		r = pd_bm_write_lock_zero(bm, bitmaps[i], &pd_bitmap_validator,
					  &blk);
		if (r < 0)
			goto out;
		used = fill_bitmap(pd_block_wdata(blk), counts + base, n,
				   &first_free);
		pd_bm_unlock(blk);
		entries[i].blocknr = cpu_to_le64(bitmaps[i]);
		entries[i].nr_free = cpu_to_le32(PD_SM_ENTRIES_PER_BITMAP - used);
		entries[i].none_free_before = cpu_to_le32(first_free);
	}

	r = pd_bm_write_lock_zero(bm, index_block, &pd_index_validator, &blk);
	if (r < 0)
		goto out;
	{
		struct pd_index_block *ib = pd_block_wdata(blk);

		for (uint64_t i = 0; i < nb; i++)
			ib->entries[i] = entries[i];
	}
	pd_bm_unlock(blk);

	root->nr_blocks = nr;
	root->nr_allocated = pd_tm_nr_allocated(tm);
	root->bitmap_root = index_block;
	root->ref_count_root = ref_root;
out:
	free(bitmaps);
	return r;
}

/*
 * The disk ("data") space map: the same bitmaps, but the index is a btree
 * (key: the bitmap's number, value: a struct pd_index_entry), as dm-thin's
 * data space map has it (thin/THIN.md §4).  counts[] are data blocks, not
 * metadata blocks, so writing this map cannot change them: the bitmaps are
 * filled as they are allocated, then the index and overflow trees built.
 */
/*
 * A disk map's counts, either 32 bits a block or two (base/refcount, whose
 * words are the bitmaps' own layout).
 */
struct disk_counts {
	const uint32_t *c32;
	const struct base_refcount *rc;
	uint64_t nr;
};

/*
 * Fills bitmap block data for entries [base, base + n) from two-bit
 * counts, as fill_bitmap does from 32-bit ones: the words go in as they
 * are.  Entries past nr are 0, so the first free one at or past n is n,
 * fill_bitmap's answer for a partial bitmap too.
 */
static uint32_t fill_bitmap_rc(unsigned char *data,
			       const struct base_refcount *rc, uint64_t base,
			       uint32_t n, uint32_t *first_free)
{
	uint32_t used = 0;

	*first_free = PD_SM_ENTRIES_PER_BITMAP;
	for (uint32_t w = 0; w * 32 < n; w++) {
		uint64_t word = rc->words[base / BASE_REFCOUNT_PER_WORD + w];
		/* One even bit per entry in use. */
		uint64_t inuse = (word | word >> 1) & BASE_REFCOUNT_EVEN;
		uint64_t free_here = ~inuse & BASE_REFCOUNT_EVEN;

		used += (uint32_t)__builtin_popcountll(inuse);
		if (free_here && *first_free == PD_SM_ENTRIES_PER_BITMAP)
			*first_free = w * 32 +
				      (uint32_t)__builtin_ctzll(free_here) / 2;
		store_le64(data + sizeof(struct pd_bitmap_header) + 8 * w, word);
	}
	if (*first_free > n)
		*first_free = n < PD_SM_ENTRIES_PER_BITMAP ?
			      n : PD_SM_ENTRIES_PER_BITMAP;
	return used;
}

/* Adds every count of 3 or more, in block order, to the overflow tree. */
static int add_overflow(struct pd_btree_builder *ob,
			const struct disk_counts *dc)
{
	unsigned char v[4];
	int r = 0;

	if (dc->c32) {
		for (uint64_t i = 0; i < dc->nr && r == 0; i++) {
			if (dc->c32[i] >= 3) {
				store_le32(v, dc->c32[i]);
				r = pd_btree_builder_add(ob, i, v);
			}
		}
		return r;
	}
	for (uint64_t w = 0; w * BASE_REFCOUNT_PER_WORD < dc->nr && r == 0;
	     w++) {
		uint64_t word = dc->rc->words[w];
		uint64_t three = word & word >> 1 & BASE_REFCOUNT_EVEN;

		while (three && r == 0) {
			uint64_t i = w * BASE_REFCOUNT_PER_WORD +
				     (uint64_t)__builtin_ctzll(three) / 2;

			store_le32(v, base_refcount_get_slow(dc->rc, i));
			r = pd_btree_builder_add(ob, i, v);
			three &= three - 1;
		}
	}
	return r;
}

static int write_disk(struct pd_tm *tm, const struct disk_counts *dc,
		      struct pd_sm_root_cpu *root)
{
	struct pd_bm *bm = pd_tm_bm(tm);
	uint64_t nr = dc->nr;
	uint64_t nb = (nr + PD_SM_ENTRIES_PER_BITMAP - 1) / PD_SM_ENTRIES_PER_BITMAP;
	struct pd_btree_builder *ib = NULL, *ob = NULL;
	uint64_t allocated = 0;
	int r;

	r = pd_btree_builder_create(tm, sizeof(struct pd_index_entry), &ib);
	if (r < 0)
		return r;
	for (uint64_t i = 0; i < nb && r == 0; i++) {
		uint64_t base = i * PD_SM_ENTRIES_PER_BITMAP;
		uint32_t n = nr - base < PD_SM_ENTRIES_PER_BITMAP ?
			     (uint32_t)(nr - base) : PD_SM_ENTRIES_PER_BITMAP;
		struct pd_index_entry e;
		struct pd_block *blk;
		uint32_t used, first_free;
		uint64_t b;

		r = pd_tm_alloc(tm, &b);
		if (r < 0)
			break;
		r = pd_bm_write_lock_zero(bm, b, &pd_bitmap_validator, &blk);
		if (r < 0)
			break;
		if (dc->c32)
			used = fill_bitmap(pd_block_wdata(blk), dc->c32 + base,
					   n, &first_free);
		else
			used = fill_bitmap_rc(pd_block_wdata(blk), dc->rc, base,
					      n, &first_free);
		pd_bm_unlock(blk);
		allocated += used;
		e.blocknr = cpu_to_le64(b);
		e.nr_free = cpu_to_le32(PD_SM_ENTRIES_PER_BITMAP - used);
		e.none_free_before = cpu_to_le32(first_free);
		r = pd_btree_builder_add(ib, i, &e);
	}
	if (r == 0)
		r = pd_btree_builder_finish(ib, &root->bitmap_root);
	if (r == 0)
		r = pd_btree_builder_create(tm, 4, &ob);
	if (r == 0)
		r = add_overflow(ob, dc);
	if (r == 0)
		r = pd_btree_builder_finish(ob, &root->ref_count_root);
	if (r == 0) {
		root->nr_blocks = nr;
		root->nr_allocated = allocated;
	}
	pd_btree_builder_destroy(ob);
	pd_btree_builder_destroy(ib);
	return r;
}

int pd_sm_write_disk(struct pd_tm *tm, const uint32_t *counts, uint64_t nr,
		     struct pd_sm_root_cpu *root)
{
	struct disk_counts dc = { counts, NULL, nr };

	return write_disk(tm, &dc, root);
}

int pd_sm_write_disk_rc(struct pd_tm *tm, const struct base_refcount *counts,
			struct pd_sm_root_cpu *root)
{
	struct disk_counts dc = { NULL, counts, counts->nr };

	return write_disk(tm, &dc, root);
}
