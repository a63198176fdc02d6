// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * thin_check passes 6 and 7: the data and metadata space maps read from
 * disk and compared, block by block, with the reference counts the tree
 * passes rebuilt (referenced more than counted: fatal; counted but never
 * referenced: a leak, a warning); then the only writes thin_check makes,
 * freeing leaked blocks and clearing NEEDS_CHECK (the order is at the top
 * of check.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitmap.h"
#include "base/endian.h"
#include "pdata/bm.h"
#include "pdata/btree.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"
#include "pdata/report.h"
#include "pdata/sm.h"
#include "thin/check_int.h"
#include "thin/format.h"
#include "thin/leaks.h"

/* ---- passes 6 and 7: the space maps ---- */

struct sm_pass {
	struct checker *c;
	const char *name;	/* "data space map", "metadata space map" */
};

static int cb_sm_damage(void *ctx, const struct pd_sm_damage *d)
{
	struct sm_pass *p = ctx;
	struct checker *c = p->c;
	char lost[96];

	c->structure = p->name;
	switch (d->problem) {
	case PD_SM_NR_BLOCKS:
		if (!c->sb_reported_nr_blocks)
			tc_report(c, THIN_P_SB_SM_NR_BLOCKS,
				  "%s: nr_blocks is %" PRIu64
				  ", more than %" PRIu64, p->name,
				  d->fault.found, d->fault.expected);
		break;
	case PD_SM_INDEX:
		/* The data map's index is a btree: its damage says how. */
		if (d->btree.fault.validator) {
			tc_report_btree_damage(c, &d->btree, "bitmap indexes");
			break;
		}
		tc_report_fault(c, &d->fault,
				pd_report_lost_range(lost, sizeof(lost),
					      "counts of blocks",
					      d->block_begin, d->block_end));
		break;
	case PD_SM_BITMAP:
		tc_report_fault(c, &d->fault,
				pd_report_lost_range(lost, sizeof(lost),
					      "counts of blocks",
					      d->block_begin, d->block_end));
		break;
	case PD_SM_INDEX_ENTRY:
		tc_report(c, THIN_P_SM_INDEX_ENTRY,
			  "%s: index entry for blocks [%" PRIu64 ", %" PRIu64
			  ") points to block %" PRIu64, p->name, d->block_begin,
		       d->block_end, d->fault.found);
		break;
	case PD_SM_OVERFLOW:
		tc_report_btree_damage(c, &d->btree, "counts of blocks");
		break;
	case PD_SM_OVERFLOW_MISSING:
		tc_report(c, THIN_P_SM_OVERFLOW,
			  "%s: block %" PRIu64 " has bitmap count 3 but no "
			  "overflow entry", p->name, d->block_begin);
		break;
	case PD_SM_OVERFLOW_EXTRA:
		tc_report(c, THIN_P_SM_OVERFLOW,
			  "%s: overflow entry for block %" PRIu64 " (count %"
			  PRIu64 ") whose bitmap count is not 3", p->name,
			  d->block_begin, d->fault.found);
		break;
	case PD_SM_OVERFLOW_LOW:
		tc_report(c, THIN_P_SM_OVERFLOW,
			  "%s: overflow entry for block %" PRIu64
			  " holds count %" PRIu64 ", below 3", p->name,
			  d->block_begin, d->fault.found);
		break;
	}
	return 0;
}

static int cb_sm_own_ref(void *ctx, uint64_t block)
{
	struct sm_pass *p = ctx;

	p->c->structure = p->name;
	tc_mref_inc(p->c, block);
	return 0;
}

struct compare_ids {
	enum thin_problem under, over, leak, nr_allocated;
	const char *what;	/* "block", "data block" */
};

/*
 * One block whose count on disk differs from the references found.
 * leak_set (nr_leak_bits long, for the leak repair) is allocated at the
 * first leak: most pools have none, and a bitmap of every metadata block
 * is half a megabyte to clear.
 */
static void compare_one(struct checker *c, const struct compare_ids *ids,
			const char *name, uint64_t b, uint32_t have,
			uint32_t want, int incomplete, uint64_t *leaks,
			struct base_bitmap *leak_set, uint64_t nr_leak_bits)
{
	if (have < want) {
		tc_report(c, ids->under,
			  "%s: %s %" PRIu64 " is referenced %" PRIu32
			  " time%s but its count is %" PRIu32 "%s", name,
			  ids->what, b, want, want == 1 ? "" : "s", have,
			  have ? "" : " (free: it would be handed out again)");
		return;
	}
	if (incomplete)
		return;
	if (want == 0) {
		(*leaks)++;
		if (!leak_set->words &&
		    base_bitmap_init(leak_set, nr_leak_bits) < 0) {
			c->nomem = 1;
			leak_set->words = NULL;
			leak_set->nr_bits = 0;
		}
		if (b < leak_set->nr_bits)
			base_bitmap_set(leak_set, b);
		tc_report(c, ids->leak,
			  "%s: %s %" PRIu64 " has count %" PRIu32 " but "
			  "nothing references it (leaked)", name, ids->what, b,
			  have);
		return;
	}
	tc_report(c, ids->over,
		  "%s: %s %" PRIu64 " is referenced %" PRIu32 " time%s but "
		  "its count is %" PRIu32, name, ids->what, b, want,
		  want == 1 ? "" : "s", have);
}

/* The checked blocks of word w whose counts differ; see compare_counts. */
static void compare_word(struct checker *c, const struct compare_ids *ids,
			 const char *name, const struct base_refcount *have_rc,
			 const struct base_bitmap *unknown,
			 const struct base_refcount *want_rc, int incomplete,
			 uint64_t n, uint64_t w, uint64_t x, uint64_t y,
			 uint64_t *leaks, struct base_bitmap *leak_set)
{
	uint64_t m, base = w * BASE_REFCOUNT_PER_WORD;

	if (x == y && !(x & (x >> 1) & BASE_REFCOUNT_EVEN))
		return;
	/*
	 * Incomplete (some references never counted): only want above have
	 * is wrong for sure.
	 */
	m = incomplete ? base_refcount_words_above(y, x) :
			 base_refcount_words_differ(x, y);
	for (; m; m &= m - 1) {
		uint64_t b = base + (unsigned)__builtin_ctzll(m) / 2;
		uint32_t want, have;

		if (b >= n)
			break;
		want = base_refcount_get(want_rc, b);
		have = base_refcount_get(have_rc, b);
		if (want == have || base_bitmap_test(unknown, b))
			continue;
		compare_one(c, ids, name, b, have, want, incomplete, leaks,
			    leak_set, have_rc->nr);
	}
}

static uint64_t word_of(const struct base_refcount *rc, uint64_t w)
{
	return base_refcount_chunk_touched(rc, w / BASE_REFCOUNT_CHUNK_WORDS) ?
		       rc->words[w] : 0;
}

/*
 * Counts on disk against the references found; returns the blocks in use
 * in a complete check, 0 in an incomplete one (which finds no leak, so the
 * leak repair, the only reader, never runs; the data map's counts would be
 * read whole for nothing on every --skip-mappings run).
 * Both are two-bit counts in the same layout, so 32 blocks compare in one
 * step, and only the entries that differ (in an incomplete check: that are
 * referenced more often than counted), or hold a 3, are looked at one by
 * one.  Chunks of words neither side ever wrote are all 0 on both and are
 * not read at all (base/refcount.h): a metadata space map of millions of
 * blocks, nearly all free, costs only its used pages.  An incomplete check
 * needs nothing where no reference was counted.
 *
 * With differs (pd_sm_read_disk_rc_diff), only the words it marks can
 * differ, and in_use was counted as the bitmaps were read.
 */
static uint64_t compare_counts(struct checker *c, const struct compare_ids *ids,
			       const char *name,
			       const struct base_refcount *have_rc,
			       const struct base_bitmap *unknown,
			       const struct base_refcount *want_rc,
			       const struct base_bitmap *differs,
			       uint64_t read_in_use,
			       int incomplete, uint64_t nr_allocated,
			       uint64_t *leaks, struct base_bitmap *leak_set)
{
	uint64_t nr_have = have_rc->nr, nr_want = want_rc->nr;
	uint64_t n = nr_have < nr_want ? nr_have : nr_want;
	uint64_t nw = (n + BASE_REFCOUNT_PER_WORD - 1) / BASE_REFCOUNT_PER_WORD;
	uint64_t in_use = 0;

	if (!incomplete)
		in_use = differs ? read_in_use : base_refcount_nonzero(have_rc);
	if (differs) {
		for (uint64_t w = base_bitmap_next_set_before(differs, 0, nw);
		     w < nw; w = base_bitmap_next_set_before(differs, w + 1, nw))
			compare_word(c, ids, name, have_rc, unknown, want_rc,
				     incomplete, n, w, word_of(have_rc, w),
				     word_of(want_rc, w), leaks, leak_set);
		goto done;
	}
	for (uint64_t w = 0; w < nw;) {
		uint64_t chunk = w / BASE_REFCOUNT_CHUNK_WORDS;
		uint64_t ce = (chunk + 1) * BASE_REFCOUNT_CHUNK_WORDS;
		int th = base_refcount_chunk_touched(have_rc, chunk);
		int tw = base_refcount_chunk_touched(want_rc, chunk);

		if (ce > nw)
			ce = nw;
		if (!tw && (!th || incomplete)) {
			w = ce;
			continue;
		}
		for (; w < ce; w++)
			compare_word(c, ids, name, have_rc, unknown, want_rc,
				     incomplete, n, w,
				     th ? have_rc->words[w] : 0,
				     tw ? want_rc->words[w] : 0, leaks,
				     leak_set);
	}
done:
	if (!incomplete && in_use != nr_allocated && !c->res->nr_fatal)
		tc_report(c, ids->nr_allocated,
			  "%s: nr_allocated is %" PRIu64 ", but %" PRIu64
			  " blocks are in use", name, nr_allocated, in_use);
	return in_use;
}

int tc_pass_data_sm(struct checker *c)
{
	static const struct pd_sm_read_ops ops = {
		.damage = cb_sm_damage,
		.own_block_ref = cb_sm_own_ref,
	};
	static const struct compare_ids ids = {
		THIN_P_DATA_UNDERCOUNT, THIN_P_DATA_OVERCOUNT, THIN_P_DATA_LEAK,
		THIN_P_DATA_NR_ALLOCATED, "data block",
	};
	struct sm_pass p = { c, "data space map" };
	struct base_bitmap unknown, differs = { 0 };
	struct base_refcount counts;
	uint64_t in_use = 0, fatal_before = c->res->nr_fatal;
	int r;

	tc_pass(c, "examining data space map");
	c->structure = p.name;
	tc_totals_reset(c);
	/*
	 * The mapping pass counted without the chunk flags (ten million
	 * increments; the counts are dense where there are mappings at all).
	 * With none, the flags are clear and right: an incomplete check then
	 * keeps no data count.
	 */
	if (c->drefs_dense)
		base_refcount_touch_all(&c->drefs);
	/*
	 * Incomplete already (--skip-mappings, damage): only blocks a
	 * mapping reached can be wrong, so only their counts are kept.
	 * Complete: the bitmaps are compared with every reference as they
	 * are read, and only the words that differ are kept.
	 */
	if (c->drefs_incomplete)
		r = pd_sm_read_disk_rc_only(c->bm, &c->sb.data_sm, &c->drefs,
					    &ops, &p, &counts, &unknown);
	else
		r = pd_sm_read_disk_rc_diff(c->bm, &c->sb.data_sm, &c->drefs,
					    &ops, &p, &counts, &differs,
					    &in_use, &unknown);
	if (r < 0)
		return r;
	if (c->res->nr_fatal != fatal_before)
		c->drefs_incomplete = 1;
	c->data_in_use = compare_counts(c, &ids, p.name, &counts, &unknown,
					&c->drefs,
					differs.words ? &differs : NULL,
					in_use, c->drefs_incomplete,
					c->sb.data_sm.nr_allocated,
					&c->res->leaked_data, &c->data_leaks);
	c->data_sm_read = 1;
	base_refcount_release(&counts);
	base_bitmap_release(&unknown);
	base_bitmap_release(&differs);
	return 0;
}

int tc_pass_metadata_sm(struct checker *c)
{
	static const struct pd_sm_read_ops ops = {
		.damage = cb_sm_damage,
		.own_block_ref = cb_sm_own_ref,
	};
	static const struct compare_ids ids = {
		THIN_P_SM_UNDERCOUNT, THIN_P_SM_OVERCOUNT, THIN_P_SM_LEAK,
		THIN_P_SM_NR_ALLOCATED, "block",
	};
	struct sm_pass p = { c, "metadata space map" };
	struct base_bitmap unknown;
	struct base_refcount counts;
	uint64_t nr, in_use, fatal_before = c->res->nr_fatal;
	int r;

	tc_pass(c, "examining metadata space map");
	c->structure = p.name;
	tc_totals_reset(c);
	r = pd_sm_read_rc(c->bm, &c->sb.metadata_sm, &ops, &p, &counts,
			  &unknown);
	if (r < 0)
		return r;
	nr = counts.nr;
	if (c->res->nr_fatal != fatal_before)
		c->mrefs_incomplete = 1;
	in_use = compare_counts(c, &ids, p.name, &counts, &unknown, &c->mrefs,
				NULL, 0, c->mrefs_incomplete,
				c->sb.metadata_sm.nr_allocated,
				&c->res->leaked_metadata, &c->meta_leaks);
	c->meta_in_use = in_use;
	c->meta_sm_read = 1;
	/*
	 * What the kernel will report as free (nr_blocks - nr_allocated, from
	 * the root), unless the root is nonsense; the bitmaps' own count can
	 * differ (0.9.0's restore leaves nr_allocated one high: a warning).
	 */
	c->res->have_free = 1;
	if (c->sb.metadata_sm.nr_allocated <= c->sb.metadata_sm.nr_blocks)
		c->res->metadata_free = c->sb.metadata_sm.nr_blocks -
					c->sb.metadata_sm.nr_allocated;
	else
		c->res->metadata_free =
			nr - (c->mrefs_incomplete ?
				      base_refcount_nonzero(&counts) : in_use);
	if (c->mrefs_incomplete)
		tc_pass(c,
			"  (structures damaged or skipped: only checked that "
			"every referenced block is counted)");
	base_refcount_release(&counts);
	base_bitmap_release(&unknown);
	return 0;
}

/* ---- writes: leaks and NEEDS_CHECK ---- */

static int write_block(struct checker *c, uint64_t block, const void *data)
{
	int r = pd_bm_write_direct(c->bm, block, data);

	if (!r)
		c->res->wrote = 1;
	return r;
}

int tc_repair(struct checker *c)
{
	unsigned f = c->opts->flags;
	struct thin_disk_sb *d = (struct thin_disk_sb *)c->sb_raw;
	int r;

	if (!(f & (THIN_CHECK_AUTO_REPAIR | THIN_CHECK_CLEAR_NEEDS_CHECK)))
		return 0;
	if (c->res->nr_fatal) {
		tc_action(c, "not writing anything: the metadata has errors "
			     "(thin_repair rebuilds it)");
		return 0;
	}
	if ((c->data_sm_read && c->res->leaked_data) ||
	    (c->meta_sm_read && c->res->leaked_metadata)) {
		struct thin_leaks l = {
			.sb = &c->sb, .sb_raw = c->sb_raw,
			.flags = c->sb.flags & ~(uint32_t)THIN_SB_NEEDS_CHECK,
			.meta_in_use = c->meta_in_use,
			.data_in_use = c->data_in_use,
			.meta_leaks = c->meta_sm_read && c->res->leaked_metadata ?
				      &c->meta_leaks : NULL,
			.data_leaks = c->data_sm_read && c->res->leaked_data ?
				      &c->data_leaks : NULL,
		};

		c->res->wrote = 1;	/* from here on blocks may be written */
		r = thin_free_leaks(c->bm, &l);
		if (r == -ENOSPC) {
			/* Leaks are harmless; NEEDS_CHECK is still cleared. */
			tc_action(c, "leaks left as they are: no free metadata "
				     "block to write the new space maps into");
		} else if (r < 0) {
			return r;
		} else {
			uint64_t mfreed = l.meta_freed, dfreed = l.data_freed;
			char msg[128];

			snprintf(msg, sizeof(msg), "freed %" PRIu64 " leaked "
				 "metadata block%s and %" PRIu64 " leaked data "
				 "block%s", mfreed, mfreed == 1 ? "" : "s",
				 dfreed, dfreed == 1 ? "" : "s");
			tc_action(c, msg);
			c->res->freed_blocks = mfreed + dfreed;
			goto done;
		}
	}
	if (!(c->sb.flags & THIN_SB_NEEDS_CHECK))
		return 0;
	d->flags = cpu_to_le32(c->sb.flags & ~THIN_SB_NEEDS_CHECK);
	/* The superblock last, once everything it describes is on disk. */
	d->csum = cpu_to_le32(pd_block_csum(c->sb_raw, THIN_SB_CSUM_XOR));
	r = write_block(c, THIN_SB_LOCATION, c->sb_raw);
	if (!r)
		r = c->io->ops->flush(c->io);
	if (r < 0)
		return r;
done:
	if (c->sb.flags & THIN_SB_NEEDS_CHECK) {
		c->res->cleared_needs_check = 1;
		tc_action(c, "cleared NEEDS_CHECK");
	}
	return 0;
}
