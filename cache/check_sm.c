// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_check's pass 6 and its only writes (the table of passes is at the
 * top of check.c): the space map's counts against the references passes
 * 1-5 counted, leaks, the dirty bitset a version 1 superblock may have
 * leaked, and, when asked and nothing is fatal, freeing the leaks and
 * clearing NEEDS_CHECK, the superblock written last.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitmap.h"
#include "base/endian.h"
#include "cache/check_int.h"
#include "cache/format.h"
#include "pdata/array.h"
#include "pdata/bm.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"
#include "pdata/sm.h"
#include "pdata/tm.h"

/* ---- pass 6: space map ---- */

static int cb_sm_damage(void *ctx, const struct pd_sm_damage *d)
{
	struct checker *c = ctx;
	char lost[96];

	switch (d->problem) {
	case PD_SM_NR_BLOCKS:
		if (!c->sb_reported_nr_blocks)
			ck_report(c, CACHE_P_SB_SM_NR_BLOCKS,
				  "space map: nr_blocks is %" PRIu64
				  ", more than %" PRIu64, d->fault.found,
				  d->fault.expected);
		break;
	case PD_SM_INDEX:
	case PD_SM_BITMAP:
		ck_report_fault(c, "space map", &d->fault,
				pd_report_lost_range(lost, sizeof(lost),
					      "counts of blocks",
					      d->block_begin, d->block_end));
		break;
	case PD_SM_INDEX_ENTRY:
		ck_report(c, CACHE_P_SM_INDEX_ENTRY,
			  "space map: index entry for blocks [%" PRIu64 ", %"
			  PRIu64 ") points to block %" PRIu64,
			  d->block_begin, d->block_end, d->fault.found);
		break;
	case PD_SM_OVERFLOW:
		c->structure = "space map overflow tree";
		ck_report_btree_damage(c, &d->btree, d->block_begin,
				       d->block_end, "counts of blocks");
		break;
	case PD_SM_OVERFLOW_MISSING:
		ck_report(c, CACHE_P_SM_OVERFLOW,
			  "space map: block %" PRIu64 " has bitmap count 3 but "
			  "no overflow entry", d->block_begin);
		break;
	case PD_SM_OVERFLOW_EXTRA:
		ck_report(c, CACHE_P_SM_OVERFLOW,
			  "space map: overflow entry for block %" PRIu64
			  " (count %" PRIu64 ") whose bitmap count is not 3",
			  d->block_begin, d->fault.found);
		break;
	case PD_SM_OVERFLOW_LOW:
		ck_report(c, CACHE_P_SM_OVERFLOW,
			  "space map: overflow entry for block %" PRIu64
			  " holds count %" PRIu64 ", below 3",
			  d->block_begin, d->fault.found);
		break;
	}
	return 0;
}

static int cb_sm_own_ref(void *ctx, uint64_t block)
{
	struct checker *c = ctx;

	c->structure = "space map";
	ck_ref_inc(c, block);
	return 0;
}

/*
 * The second sign of version 2 metadata under a version 1 superblock
 * (pass 1 has the first): dirty_root cleared as well, but the
 * bitset still on disk, leaked.  Among the leaked blocks, an array btree
 * that no other leaked node points to, whose walk finds exactly the
 * cache's bitset length without damage and only leaked blocks, is that
 * bitset: freeing it as a leak would destroy the only record of which
 * blocks are dirty.  Only runs when a v1 check found leaks (0.9.0's v1
 * restore leaks one empty btree leaf, which has the wrong length), reads
 * each leaked block once and walks at most MAX_ORPHAN_ROOTS candidates,
 * each stopping at its first flaw.
 */
#define MAX_ORPHAN_ROOTS 16u
#define ORPHAN_NO 2	/* a walk callback's "not it": stops the walk */

struct orphan_walk {
	struct checker *c;
	const struct base_bitmap *leaks;
	uint64_t dirty;
};

static int ow_values(void *ctx, uint64_t index, unsigned nr,
		     const void *values, uint64_t block)
{
	struct orphan_walk *o = ctx;

	(void)block;
	o->dirty += ck_dirty_mapped(o->c, o->c->sb.cache_blocks, index, nr,
				    values, NULL);
	return 0;
}

static int ow_damage(void *ctx, const struct pd_array_damage *d)
{
	(void)ctx;
	(void)d;
	return ORPHAN_NO;
}

static int ow_block_ref(void *ctx, uint64_t block)
{
	struct orphan_walk *o = ctx;

	return block < o->leaks->nr_bits && base_bitmap_test(o->leaks, block) ?
		       0 : ORPHAN_NO;
}

static int find_orphan_dirty_bitset(struct checker *c, struct sm_result *s)
{
	static const struct pd_array_walk_ops ops = {
		.values = ow_values,
		.damage = ow_damage,
		.block_ref = ow_block_ref,
	};
	struct base_bitmap nodes = { 0 }, children = { 0 };
	struct orphan_walk o = { .c = c, .leaks = &s->leaks };
	uint64_t n = s->leaks.nr_bits, words = (c->sb.cache_blocks + 63) / 64;
	unsigned tries = 0;
	int r;

	if (c->sb.version >= 2 || c->sb.dirty_root || !words || !s->nr_leaks)
		return 0;
	r = base_bitmap_init(&nodes, n);
	if (!r)
		r = base_bitmap_init(&children, n);
	if (r)
		goto out;
	for (uint64_t b = base_bitmap_next_set(&s->leaks, 0); b < n;
	     b = base_bitmap_next_set(&s->leaks, b + 1)) {
		const struct pd_node_header *h;
		const unsigned char *vals;
		struct pd_block *blk;
		uint32_t nr;

		struct pd_fault f = { 0 };

		r = pd_bm_read_lock(c->bm, b, &pd_btree_validator, &blk, &f);
		if (r == -ENOMEM || r == -EBUSY)
			goto out;
		/*
		 * Not a btree node: not a candidate.  Unreadable: the device
		 * failed, and that block may be the very bitset; say so.
		 */
		if (r < 0 && f.kind == PD_FAULT_IO)
			ck_report(c, CACHE_P_BLOCK_IO, "space map: leaked block "
				  "%" PRIu64 ", a possible version 2 dirty "
				  "bitset: %s", b, pd_strerror(f.err));
		if (r < 0)
			continue;
		h = pd_block_data(blk);
		nr = le32_to_cpu(h->nr_entries);
		if (le32_to_cpu(h->value_size) == 8) {
			base_bitmap_set(&nodes, b);
			vals = pd_node_values(h);
			for (uint32_t i = 0; i < nr &&
			     le32_to_cpu(h->flags) == PD_BTREE_INTERNAL; i++) {
				uint64_t kid = load_le64(vals + 8 * (size_t)i);

				if (kid < n)
					base_bitmap_set(&children, kid);
			}
		}
		pd_bm_unlock(blk);
	}
	for (uint64_t b = base_bitmap_next_set(&nodes, 0);
	     b < n && tries < MAX_ORPHAN_ROOTS;
	     b = base_bitmap_next_set(&nodes, b + 1)) {
		if (base_bitmap_test(&children, b))
			continue;
		tries++;
		o.dirty = 0;
		r = pd_array_walk(c->bm, b, words, 8, 0, &ops, &o);
		if (r == ORPHAN_NO)
			continue;
		if (r)
			goto out;
		ck_report(c, CACHE_P_SB_V1_DIRTY_BITSET,
			  "space map: the leaked blocks under block %" PRIu64
			  " are a dirty bitset of the cache's %" PRIu32
			  " blocks: this is version 2 metadata under a "
			  "version 1 superblock, and read as version 1 its %"
			  PRIu64
			  " dirty cache blocks would be taken as clean", b,
			  c->sb.cache_blocks, o.dirty);
		break;
	}
	r = 0;
out:
	base_bitmap_release(&nodes);
	base_bitmap_release(&children);
	return r;
}

int ck_pass_space_map(struct checker *c, struct sm_result *s)
{
	static const struct pd_sm_read_ops ops = {
		.damage = cb_sm_damage,
		.own_block_ref = cb_sm_own_ref,
	};
	uint64_t fatal_before = c->res->nr_fatal, n;
	int r;

	ck_pass(c, "examining space map");
	c->structure = "space map";
	r = pd_sm_read(c->bm, &c->sb.sm_root, &ops, c, &s->counts,
		       &s->nr_counts, &s->unknown);
	if (r < 0)
		return r;
	if (c->res->nr_fatal != fatal_before)
		c->refs_incomplete = 1;
	n = s->nr_counts < c->nr_refs ? s->nr_counts : c->nr_refs;
	r = base_bitmap_init(&s->leaks, n);
	if (r < 0)
		return r;
	for (uint64_t b = 0; b < s->nr_counts; b++)
		if (s->counts[b])
			s->in_use++;
	/*
	 * A block referenced more than once is shared, which the format
	 * allows (the kernel's arrays share blocks copy-on-write): only the
	 * count must agree.  Sharing that cannot be right (a node reached
	 * twice within one tree) was reported by the walk.
	 */
	for (uint64_t b = 0; b < n; b++) {
		uint32_t want = c->refs[b], have = s->counts[b];

		if (want == have || base_bitmap_test(&s->unknown, b))
			continue;
		if (have < want) {
			ck_report(c, CACHE_P_SM_UNDERCOUNT,
				  "space map: block %" PRIu64 " is referenced %"
				  PRIu32 " time%s but its count is %" PRIu32
				  "%s",
				  b, want, want == 1 ? "" : "s", have,
				  have ? "" : " (free: it would be handed out "
					   "again)");
			continue;
		}
		if (c->refs_incomplete)
			continue;
		if (want == 0 && have == 1) {
			base_bitmap_set(&s->leaks, b);
			s->nr_leaks++;
			ck_report(c, CACHE_P_SM_LEAK,
				  "space map: block %" PRIu64 " is allocated "
				  "but nothing references it (leaked)", b);
			continue;
		}
		ck_report(c, CACHE_P_SM_OVERCOUNT,
			  "space map: block %" PRIu64 " is referenced %" PRIu32
			  " time%s but its count is %" PRIu32, b, want,
			  want == 1 ? "" : "s", have);
	}
	c->res->leaked_blocks = s->nr_leaks;
	r = find_orphan_dirty_bitset(c, s);
	if (r < 0)
		return r;
	if (c->refs_incomplete) {
		ck_pass(c, "  (structures damaged or skipped: only checked "
			"that every referenced block is counted)");
	} else if (s->in_use != c->sb.sm_root.nr_allocated &&
		   !c->res->nr_fatal) {
		ck_report(c, CACHE_P_SM_NR_ALLOCATED,
			  "space map: nr_allocated is %" PRIu64
			  ", but %" PRIu64 " blocks are in use",
			  c->sb.sm_root.nr_allocated, s->in_use);
	}
	return 0;
}

void ck_sm_result_release(struct sm_result *s)
{
	free(s->counts);
	base_bitmap_release(&s->unknown);
	base_bitmap_release(&s->leaks);
}

/* ---- writes: leak repair and NEEDS_CHECK ---- */

static int write_block(struct checker *c, uint64_t block, const void *data)
{
	int r = pd_bm_write_direct(c->bm, block, data);

	if (!r)
		c->res->wrote = 1;
	return r;
}

/*
 * The superblock as it was, with new flags and, when the space map was
 * rewritten, its new root: every other byte stays what it was.
 */
struct sb_update {
	struct checker *c;
	uint32_t flags;
};

static int fill_sb(void *ctx, void *data, const struct pd_sm_root_cpu *root)
{
	struct sb_update *u = ctx;
	struct cache_disk_sb *d = data;

	memcpy(data, u->c->sb_raw, PD_BLOCK_SIZE);
	d->flags = cpu_to_le32(u->flags);
	pd_sm_root_pack(root, (struct pd_sm_root *)d->metadata_space_map_root);
	return 0;
}

/*
 * Frees the leaks in one transaction, as the kernel would: the space map
 * is written anew into blocks that were free (pd_tm_commit), the old index
 * and bitmaps are left untouched, and the superblock, written last,
 * switches to the new map.  A crash or a torn write anywhere before the
 * superblock leaves the old metadata whole; the superblock's fields live
 * in its first sector.  -ENOSPC when no free block is left to write the
 * new map into: the caller then leaves the leaks alone.
 */
static int free_leaks(struct checker *c, struct sm_result *s, uint32_t flags)
{
	struct sb_update u = { c, flags };
	struct pd_sm_root_cpu root = c->sb.sm_root;
	struct pd_tm *tm;
	uint64_t freed = 0;
	int r;

	/*
	 * nr_allocated may be off (a warning pass 6 made): the counts were
	 * read and judged, and the new root will hold the right one.
	 */
	root.nr_allocated = s->in_use;
	r = pd_tm_open(c->bm, &root, &tm);
	if (r < 0)
		return r;
	for (uint64_t j = base_bitmap_next_set(&s->leaks, 0); j < s->leaks.nr_bits;
	     j = base_bitmap_next_set(&s->leaks, j + 1)) {
		r = pd_tm_release(tm, j);
		if (r < 0)
			goto out;
		freed++;
	}
	/* From here on blocks may have been written. */
	c->res->wrote = 1;
	r = pd_tm_commit(tm, fill_sb, &u, &cache_sb_validator);
	if (!r)
		c->res->freed_blocks = freed;
out:
	pd_tm_destroy(tm);
	return r;
}

static int write_superblock(struct checker *c, uint32_t flags,
			    uint64_t nr_allocated)
{
	struct cache_disk_sb *d = (struct cache_disk_sb *)c->sb_raw;
	struct pd_sm_root *smr = (struct pd_sm_root *)d->metadata_space_map_root;
	int r;

	d->flags = cpu_to_le32(flags);
	smr->nr_allocated = cpu_to_le64(nr_allocated);
	d->csum = cpu_to_le32(pd_block_csum(c->sb_raw, CACHE_SB_CSUM_XOR));
	r = write_block(c, CACHE_SB_LOCATION, c->sb_raw);
	if (!r)
		r = c->io->ops->flush(c->io);
	return r;
}

int ck_write(struct checker *c, struct sm_result *s)
{
	unsigned f = c->opts->flags;
	uint32_t flags = c->sb.flags & ~(uint32_t)CACHE_SB_NEEDS_CHECK;
	char msg[128];
	int r;

	if (!(f & (CACHE_CHECK_AUTO_REPAIR | CACHE_CHECK_CLEAR_NEEDS_CHECK)))
		return 0;
	if (c->res->nr_fatal) {
		ck_action(c, "not writing anything: the metadata has errors "
			  "(cache_repair rebuilds it)");
		return 0;
	}
	if (s && s->nr_leaks) {
		r = free_leaks(c, s, flags);
		if (r == -ENOSPC) {
			/* Leaks are harmless; NEEDS_CHECK is still cleared. */
			ck_action(c, "leaks left as they are: no free metadata "
				  "block to write the new space map into");
		} else if (r < 0) {
			return r;
		} else {
			snprintf(msg, sizeof(msg),
				 "freed %" PRIu64 " leaked block%s",
				 c->res->freed_blocks,
				 c->res->freed_blocks == 1 ? "" : "s");
			ck_action(c, msg);
			goto done;
		}
	}
	if (flags == c->sb.flags)
		return 0;
	r = write_superblock(c, flags, c->sb.sm_root.nr_allocated);
	if (r < 0)
		return r;
done:
	if (flags != c->sb.flags) {
		c->res->cleared_needs_check = 1;
		ck_action(c, "cleared NEEDS_CHECK");
	}
	return 0;
}
