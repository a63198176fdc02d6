// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * thin_check: verify dm-thin metadata, as a table of passes.
 *
 *  pass  what it checks                           what it leaves for later
 *  ----  ---------------------------------------  -------------------------
 *  1     superblock: location, magic, checksum,   a bad location, magic or
 *        version, metadata and data block sizes,  checksum stops everything
 *        compat/incompat flags, roots inside the
 *        device, metadata sm size, held root;
 *        NEEDS_CHECK and a wrapped time noted
 *  2     device details tree: structure; times    the device list
 *        and transaction ids not after the pool's
 *  3     mapping tree, top level: structure; the  mrefs[] (metadata
 *        same devices as the details tree         references), the roots
 *  4     each device's tree: structure, times     drefs[] (data references),
 *        not after the pool time, data blocks     per-node mapping totals
 *        inside the data device, mapped_blocks
 *        equal to the mappings under the root
 *  5     held metadata snapshot: the copy, its    more mrefs[] and drefs[]
 *        details and mapping trees (nodes shared
 *        with the live trees are not walked
 *        again)
 *  6     data space map (pd_sm_read_disk) against
 *        drefs[]; its own blocks into mrefs[]
 *  7     metadata space map (pd_sm_read) against
 *        mrefs[]
 *
 * Sharing.  A snapshot shares its origin's tree: the top-level entries of
 * both point at one root, whose metadata count is 2, while the nodes below
 * keep count 1 (one parent node points at them) and each data block is
 * counted once per leaf that holds it, however many trees share the leaf.
 * So each node is walked once: the walker's enter hook skips a node walked
 * before (from another device or the live tree), after its pointer was
 * counted, and the mapping total memoised for that node at its first walk
 * stands in for the subtree when a device's mapped_blocks is checked.
 * Pointers are counted per distinct parent, data references per distinct
 * leaf: exactly the kernel's counts.
 *
 * Counts are judged as in cache_check: referenced more than counted is
 * fatal (the kernel would hand out an in-use block); counted but never
 * referenced is a leak (warning); any other difference is fatal.  Leaks
 * and over-counts are only judged when every structure was walked whole.
 *
 * Writes (only with CLEAR_NEEDS_CHECK or AUTO_REPAIR, and only when no
 * fatal problem was found; accepted with --skip-mappings and
 * --super-block-only, which 0.9.0 refuses although distributions give it
 * as the slow-boot work-around): leaked blocks (counted, referenced by
 * nothing, every structure walked whole) are freed in one transaction
 * (thin/leaks.h: new space maps in free blocks, the superblock last, so a
 * crash or torn write leaves the old metadata whole); without leaks, or
 * with no free block to write into, only the superblock is rewritten with
 * NEEDS_CHECK cleared.
 */
#include "thin/check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitmap.h"
#include "pdata/bm.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"
#include "thin/check_int.h"
#include "thin/format.h"

#define DEFAULT_MAX_REPORTS 10u
#define BM_CACHE_BLOCKS 512u

/* ---- pass 1: superblock ---- */

static const enum thin_problem sb_problem_ids[THIN_SB_NR_PROBLEMS] = {
	[THIN_SB_BAD_LOCATION] = THIN_P_SB_LOCATION,
	[THIN_SB_BAD_MAGIC] = THIN_P_SB_MAGIC,
	[THIN_SB_BAD_CSUM] = THIN_P_SB_CHECKSUM,
	[THIN_SB_BAD_VERSION] = THIN_P_SB_VERSION,
	[THIN_SB_BAD_FLAGS] = THIN_P_SB_FLAGS,
	[THIN_SB_METADATA_BLOCK_SIZE] = THIN_P_SB_METADATA_BLOCK_SIZE,
	[THIN_SB_DATA_BLOCK_SIZE] = THIN_P_SB_DATA_BLOCK_SIZE,
	[THIN_SB_COMPAT_FLAGS] = THIN_P_SB_COMPAT_FLAGS,
	[THIN_SB_COMPAT_RO_FLAGS] = THIN_P_SB_COMPAT_RO_FLAGS,
	[THIN_SB_INCOMPAT_FLAGS] = THIN_P_SB_INCOMPAT_FLAGS,
	[THIN_SB_ROOT_RANGE] = THIN_P_SB_ROOT_RANGE,
	[THIN_SB_SM_NR_BLOCKS] = THIN_P_SB_SM_NR_BLOCKS,
	[THIN_SB_HELD_ROOT] = THIN_P_SB_HELD_ROOT,
};

static unsigned root_bit(const char *field)
{
	if (!strcmp(field, "data_mapping_root"))
		return ROOT_MAPPING;
	if (!strcmp(field, "device_details_root"))
		return ROOT_DETAILS;
	if (!strncmp(field, "data sm", 7))
		return ROOT_DATA_SM;
	return ROOT_META_SM;
}

int tc_sb_violation(void *ctx, const struct thin_sb_violation *v)
{
	struct sb_state *s = ctx;
	struct checker *c = s->c;
	enum thin_problem id = sb_problem_ids[v->problem];

	switch (v->problem) {
	case THIN_SB_BAD_LOCATION:
		s->bad |= SB_UNUSABLE;
		tc_report(c, id, "%s: blocknr is %" PRIu64
			  ", expected %" PRIu64, s->name, v->found,
			  v->expected);
		break;
	case THIN_SB_BAD_MAGIC:
		s->bad |= SB_UNUSABLE;
		tc_report(c, id, "%s: magic is %" PRIu64 ", expected %" PRIu64
			  " (not dm-thin metadata)", s->name, v->found,
			  v->expected);
		break;
	case THIN_SB_BAD_CSUM:
		s->bad |= SB_UNUSABLE;
		tc_report(c, id, "%s: bad checksum (found 0x%08" PRIx64
			  ", expected 0x%08" PRIx64 ")", s->name, v->found,
			  v->expected);
		break;
	case THIN_SB_BAD_VERSION:
		tc_report(c, id, "%s: version is %" PRIu64 ", expected 1 or 2",
			  s->name, v->found);
		break;
	case THIN_SB_BAD_FLAGS:
		tc_report(c, id, "%s: flags are 0x%" PRIx64 ", only 0x%" PRIx64
			  " is defined", s->name, v->found, v->expected);
		break;
	case THIN_SB_DATA_BLOCK_SIZE:
		tc_report(c, id, "%s: data_block_size is %" PRIu64 " sectors, "
			  "expected a multiple of 128 from 128 to 2097152",
			  s->name, v->found);
		break;
	case THIN_SB_SM_NR_BLOCKS:
		c->sb_reported_nr_blocks = 1;
		tc_report(c, id, "%s: the metadata space map covers %" PRIu64
			  " blocks, the device has %" PRIu64 " (truncated?)",
			  s->name, v->found, v->expected);
		break;
	case THIN_SB_ROOT_RANGE:
		s->bad |= root_bit(v->field);
		if (v->found == 0)
			tc_report(c, id, "%s: %s is 0 (the superblock)",
				  s->name, v->field);
		else
			tc_report(c, id, "%s: %s is %" PRIu64 ", past the "
				  "end of the metadata (%" PRIu64 " blocks)",
				  s->name, v->field, v->found, v->expected);
		break;
	case THIN_SB_HELD_ROOT:
		s->bad |= ROOT_HELD;
		tc_report(c, id, "%s: held_root is %" PRIu64 ", not a block of "
			  "the metadata (%" PRIu64 " blocks)", s->name,
			  v->found, v->expected);
		break;
	default:
		tc_report(c, id, "%s: %s is %" PRIu64 ", expected %" PRIu64,
			  s->name, v->field, v->found, v->expected);
		break;
	}
	return 0;
}

/* Returns 1 when later passes may run. */
static int pass_superblock(struct checker *c, struct sb_state *s)
{
	struct pd_block *b;
	struct pd_fault f;
	int r;

	tc_pass(c, "examining superblock");
	if (c->io->nr_blocks < 1) {
		tc_report(c, THIN_P_SB_UNREADABLE,
			  "superblock: the device holds %" PRIu64
			  " bytes, less than one %u-byte block",
			  c->io->size_bytes, PD_BLOCK_SIZE);
		return 0;
	}
	memset(&f, 0, sizeof(f));
	r = pd_bm_read_lock(c->bm, THIN_SB_LOCATION, NULL, &b, &f);
	if (r < 0) {
		tc_report(c, THIN_P_SB_UNREADABLE, "superblock: %s",
			  pd_strerror(r));
		return 0;
	}
	memcpy(c->sb_raw, pd_block_data(b), PD_BLOCK_SIZE);
	pd_bm_unlock(b);

	if (pd_block_data_is_zero(c->sb_raw)) {
		tc_report(c, THIN_P_SB_MAGIC,
			  "superblock: block 0 is all zeros (no metadata, or a "
			  "restore that failed)");
		return 0;
	}
	thin_sb_unpack(c->sb_raw, &c->sb);
	thin_sb_check(&c->sb, c->sb_raw, THIN_SB_LOCATION, c->io->nr_blocks, 0,
		      tc_sb_violation, s);
	c->bad_roots = s->bad;
	if (s->bad & SB_UNUSABLE)
		return 0;
	c->res->have_sb = 1;
	c->res->trans_id = c->sb.trans_id;
	if (c->sb.flags & THIN_SB_NEEDS_CHECK)
		tc_report(c, THIN_P_SB_NEEDS_CHECK,
			  "superblock: NEEDS_CHECK is set (the kernel refuses "
			  "to load it read-write until it is cleared)");
	if (c->sb.time > THIN_TIME_MASK)
		tc_report(c, THIN_P_SB_TIME_WRAP,
			  "superblock: pool time is %" PRIu32 ", past 2^24: "
			  "mapping times have wrapped and are not checked",
			  c->sb.time);
	return 1;
}

/* ---- the driver ---- */

static int setup_counts(struct checker *c)
{
	uint64_t nb = pd_bm_nr_blocks(c->bm);
	int r;

	c->nr_mrefs = c->sb.metadata_sm.nr_blocks;
	if (c->nr_mrefs > nb)
		c->nr_mrefs = nb;
	if (c->nr_mrefs > PD_SM_MAX_METADATA_BLOCKS)
		c->nr_mrefs = PD_SM_MAX_METADATA_BLOCKS;
	r = base_refcount_init(&c->mrefs, c->nr_mrefs);
	if (r < 0)
		return r;
	/* The data device: every block a bitmap could describe, at most. */
	c->nr_drefs = c->sb.data_sm.nr_blocks;
	if (nb <= UINT64_MAX / PD_SM_ENTRIES_PER_BITMAP &&
	    c->nr_drefs > nb * PD_SM_ENTRIES_PER_BITMAP)
		c->nr_drefs = nb * PD_SM_ENTRIES_PER_BITMAP;
	r = base_refcount_init(&c->drefs, c->nr_drefs);
	if (r < 0)
		return r;
	c->memo = malloc((nb ? nb : 1) * sizeof(*c->memo));
	if (!c->memo)
		return -ENOMEM;
	r = base_bitmap_init(&c->seen, nb);
	if (r < 0)
		return r;
	c->pool_time = c->sb.time;
	c->check_times = c->sb.time <= THIN_TIME_MASK;
	return 0;
}

static int run_passes(struct checker *c)
{
	unsigned f = c->opts->flags;
	uint64_t mapping_root = c->sb.mapping_root;
	int details_ok = !(c->bad_roots & ROOT_DETAILS);
	int top_ok = !(c->bad_roots & ROOT_MAPPING);
	uint64_t fatal;
	int r;

	if (f & THIN_CHECK_OVERRIDE_MAPPING_ROOT) {
		mapping_root = c->opts->mapping_root;
		top_ok = mapping_root && mapping_root < pd_bm_nr_blocks(c->bm);
		if (!top_ok)
			tc_report(c, THIN_P_SB_ROOT_RANGE,
				  "--override-mapping-root %" PRIu64 " is not "
				  "a block of the metadata (%" PRIu64
				  " blocks)",
				  mapping_root, pd_bm_nr_blocks(c->bm));
	}
	tc_mref_inc(c, THIN_SB_LOCATION);

	if (f & THIN_CHECK_METADATA_SNAP) {
		uint64_t block = c->opts->snap_block ? c->opts->snap_block :
						       c->sb.held_root;

		if (!block) {
			tc_report(c, THIN_P_SB_HELD_ROOT,
				  "superblock: no metadata snapshot is held");
			return 0;
		}
		r = tc_pass_held(c, block, 1);
		tc_end_pass(c);
		return r;
	}

	tc_pass(c, "examining devices tree");
	if (details_ok) {
		fatal = c->res->nr_fatal;
		r = tc_walk_details(c, c->sb.details_root, 1);
		if (r < 0)
			return r;
		details_ok = fatal == c->res->nr_fatal;
		tc_check_details(c);
	} else {
		c->mrefs_incomplete = 1;
	}
	tc_end_pass(c);

	tc_pass(c, "examining mapping tree");
	if (top_ok) {
		fatal = c->res->nr_fatal;
		r = tc_walk_top(c, mapping_root);
		if (r < 0)
			return r;
		top_ok = fatal == c->res->nr_fatal;
	} else {
		c->mrefs_incomplete = 1;
		c->drefs_incomplete = 1;
	}
	tc_match_devices(c, details_ok, top_ok);
	tc_end_pass(c);
	if (f & THIN_CHECK_SKIP_MAPPINGS) {
		c->mrefs_incomplete = 1;
		c->drefs_incomplete = 1;
	} else {
		r = tc_pass_devices(c, 1);
		tc_end_pass(c);
		if (r < 0)
			return r;
	}

	if (c->sb.held_root && !(c->bad_roots & ROOT_HELD)) {
		r = tc_pass_held(c, c->sb.held_root, 0);
		tc_end_pass(c);
		if (r < 0)
			return r;
	}
	if (!(c->bad_roots & ROOT_DATA_SM)) {
		r = tc_pass_data_sm(c);
		tc_end_pass(c);
		if (r < 0)
			return r;
	} else {
		c->mrefs_incomplete = 1;
	}
	if (!(c->bad_roots & ROOT_META_SM)) {
		r = tc_pass_metadata_sm(c);
		tc_end_pass(c);
		if (r < 0)
			return r;
	}
	return 0;
}

int thin_check(struct pd_io *io, const struct thin_check_opts *opts,
	       const struct thin_check_sink *sink,
	       struct thin_check_result *res)
{
	static const struct thin_check_sink no_sink;
	struct checker *c;
	struct sb_state s = { 0 };
	int r;

	memset(res, 0, sizeof(*res));
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->io = io;
	c->opts = opts;
	c->sink = sink ? sink : &no_sink;
	c->res = res;
	c->rep = (struct pd_report){
		.nr_ids = THIN_NR_PROBLEMS, .fatal = tc_problem_is_fatal,
		.counts = res->counts, .pass_counts = c->pass_counts,
		.nr_fatal = &res->nr_fatal, .nr_warn = &res->nr_warn,
		.max_reports = opts->max_reports ? opts->max_reports
						 : DEFAULT_MAX_REPORTS,
		.mute_warnings = !!(opts->flags & THIN_CHECK_IGNORE_WARNINGS),
		.emit = tc_emit, .emit_more = tc_emit_more,
		.ctx = (void *)c->sink,
	};
	s.c = c;
	s.name = "superblock";
	r = pd_bm_create(io, BM_CACHE_BLOCKS, &c->bm);
	if (r < 0)
		goto out_free;

	if (!pass_superblock(c, &s)) {
		tc_end_pass(c);
		goto out_bm;
	}
	tc_end_pass(c);
	if (opts->flags & THIN_CHECK_SB_ONLY) {
		r = tc_repair(c);
		goto out_bm;
	}
	r = setup_counts(c);
	if (r < 0)
		goto out_bm;
	r = run_passes(c);
	if (r == 0 && c->nomem)
		r = -ENOMEM;
	if (r < 0)
		goto out_bm;
	if (!(opts->flags & THIN_CHECK_METADATA_SNAP))
		r = tc_repair(c);
out_bm:
	base_refcount_release(&c->mrefs);
	base_refcount_release(&c->drefs);
	free(c->memo);
	free(c->details.v);
	free(c->top.v);
	base_bitmap_release(&c->seen);
	base_bitmap_release(&c->data_leaks);
	base_bitmap_release(&c->meta_leaks);
	pd_bm_destroy(c->bm);
out_free:
	free(c);
	return r;
}
