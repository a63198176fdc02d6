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
#include "thin/leaks.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitmap.h"
#include "base/endian.h"
#include "pdata/bm.h"
#include "pdata/btree.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"
#include "pdata/sm.h"
#include "thin/format.h"

#define DEFAULT_MAX_REPORTS 10u
#define BM_CACHE_BLOCKS 512u
#define MEMO_UNKNOWN UINT64_MAX
/*
 * Every thin tree: leaves may be under a third full, as range removal in
 * the kernel leaves them (pdata/btree.h); internal nodes may not.
 */
#define THIN_WALK (PD_WALK_PREFETCH | PD_WALK_LEAF_UNDERFULL_OK)

/* ---- the problem table ---- */

static const struct {
	enum thin_severity sev;
	const char *name;
	const char *desc;
} problems[THIN_NR_PROBLEMS] = {
#define THIN_PROBLEM_ROW(id, sev, name, desc) \
	[THIN_P_##id] = { THIN_SEV_##sev, name, desc },
	THIN_PROBLEMS(THIN_PROBLEM_ROW)
#undef THIN_PROBLEM_ROW
};

enum thin_severity thin_problem_severity(enum thin_problem p)
{
	return p < THIN_NR_PROBLEMS ? problems[p].sev : THIN_SEV_FATAL;
}

const char *thin_problem_name(enum thin_problem p)
{
	return p < THIN_NR_PROBLEMS ? problems[p].name : "unknown";
}

const char *thin_problem_desc(enum thin_problem p)
{
	return p < THIN_NR_PROBLEMS ? problems[p].desc : "unknown problem";
}

struct device {
	uint64_t id;
	uint64_t root;
	int have_details, have_root;
	struct thin_details details;
};

struct dev_list {
	struct device *v;
	size_t n, cap;
};

/* A subtree being walked: the mappings under it so far. */
struct total {
	uint64_t block;
	uint64_t n;
	int ok;
};

struct checker {
	struct pd_io *io;
	struct pd_bm *bm;
	const struct thin_check_opts *opts;
	const struct thin_check_sink *sink;
	struct thin_check_result *res;
	unsigned max_reports;
	uint64_t pass_counts[THIN_NR_PROBLEMS];

	unsigned char sb_raw[PD_BLOCK_SIZE];
	struct thin_sb sb;
	int sb_reported_nr_blocks;
	unsigned bad_roots;

	/* Expected metadata reference count per block (pass 7). */
	uint32_t *mrefs;
	uint64_t nr_mrefs;
	int mrefs_incomplete;
	/* Expected data reference count per data block (pass 6). */
	uint32_t *drefs;
	uint64_t nr_drefs;
	int drefs_incomplete;

	/* Nodes walked, across every tree; totals per node (pass 4). */
	struct base_bitmap seen;
	uint64_t *memo;
	struct total totals[PD_BTREE_MAX_DEPTH + 2];
	unsigned nt;

	struct dev_list details;	/* pass 2 */
	struct dev_list top;		/* pass 3 */
	int collect;			/* leaves go to the lists */

	/* What the space-map passes leave for the leak repair. */
	struct base_bitmap data_leaks, meta_leaks;
	uint64_t data_in_use, meta_in_use;
	int data_sm_read, meta_sm_read;

	const char *structure;		/* for messages */
	uint64_t cur_dev;
	uint32_t pool_time;
	int check_times;
};

/* ---- reporting ---- */

__attribute__((format(printf, 3, 4)))
static void report(struct checker *c, enum thin_problem id, const char *fmt,
		   ...)
{
	enum thin_severity sev = problems[id].sev;
	char msg[512];
	va_list ap;

	c->res->counts[id]++;
	if (sev == THIN_SEV_FATAL)
		c->res->nr_fatal++;
	else
		c->res->nr_warn++;
	if (sev == THIN_SEV_WARN &&
	    (c->opts->flags & THIN_CHECK_IGNORE_WARNINGS))
		return;
	if (c->pass_counts[id]++ >= c->max_reports)
		return;
	if (!c->sink->problem)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->sink->problem(c->sink->ctx, id, sev, msg);
}

static void end_pass(struct checker *c)
{
	for (unsigned i = 0; i < THIN_NR_PROBLEMS; i++) {
		if (c->pass_counts[i] > c->max_reports && c->sink->more)
			c->sink->more(c->sink->ctx, (enum thin_problem)i,
				      problems[i].sev,
				      c->pass_counts[i] - c->max_reports);
		c->pass_counts[i] = 0;
	}
}

static void pass(struct checker *c, const char *text)
{
	if (c->sink->pass)
		c->sink->pass(c->sink->ctx, text);
}

static void action(struct checker *c, const char *text)
{
	if (c->sink->action)
		c->sink->action(c->sink->ctx, text);
}

/* "device 4 mapping tree" or the structure's name. */
static const char *where(struct checker *c, char *buf, size_t len)
{
	if (c->structure && !strcmp(c->structure, "device"))
		snprintf(buf, len, "device %" PRIu64 " mapping tree", c->cur_dev);
	else
		snprintf(buf, len, "%s", c->structure ? c->structure : "?");
	return buf;
}

static void report_fault(struct checker *c, const struct pd_fault *f,
			 const char *lost)
{
	const char *v = f->validator ? f->validator : "block";
	char s[96];

	where(c, s, sizeof(s));
	switch (f->kind) {
	case PD_FAULT_RANGE:
		report(c, THIN_P_BLOCK_RANGE,
		       "%s: %s %" PRIu64 " is past the end of the device (%"
		       PRIu64 " blocks)%s", s, v, f->block,
		       pd_bm_nr_blocks(c->bm), lost);
		return;
	case PD_FAULT_LOCATION:
		report(c, THIN_P_BLOCK_LOCATION,
		       "%s: %s %" PRIu64 " claims to be block %" PRIu64 "%s",
		       s, v, f->block, f->found, lost);
		return;
	case PD_FAULT_CHECKSUM:
		report(c, THIN_P_BLOCK_CHECKSUM,
		       "%s: %s %" PRIu64 ": bad checksum (found 0x%08" PRIx64
		       ", expected 0x%08" PRIx64 ")%s", s, v, f->block,
		       f->found, f->expected, lost);
		return;
	case PD_FAULT_HEADER:
		report(c, THIN_P_BLOCK_HEADER, "%s: %s %" PRIu64 ": bad %s (found %"
		       PRIu64 ", expected %" PRIu64 ")%s", s, v, f->block,
		       f->what ? f->what : "header", f->found, f->expected,
		       lost);
		return;
	default:
		report(c, THIN_P_BLOCK_IO, "%s: %s %" PRIu64 ": %s%s", s, v,
		       f->block, pd_strerror(f->err), lost);
		return;
	}
}

static const char *lost_range(char *buf, size_t len, const char *unit,
			      uint64_t begin, uint64_t end)
{
	if (begin >= end)
		return "";
	if (end == UINT64_MAX)
		snprintf(buf, len, "; %s from %" PRIu64 " on lost", unit, begin);
	else
		snprintf(buf, len, "; %s [%" PRIu64 ", %" PRIu64 ") lost", unit,
			 begin, end);
	return buf;
}

/* ---- metadata references ---- */

static void mref_inc(struct checker *c, uint64_t block)
{
	char s[96];

	if (!c->mrefs)
		return;
	if (block >= c->nr_mrefs) {
		if (block < pd_bm_nr_blocks(c->bm))
			report(c, THIN_P_BLOCK_RANGE,
			       "%s: block %" PRIu64 " is past the %" PRIu64
			       " blocks the space map covers",
			       where(c, s, sizeof(s)), block, c->nr_mrefs);
		return;
	}
	if (c->mrefs[block] != UINT32_MAX)
		c->mrefs[block]++;
}

static int cb_node_ref(void *ctx, uint64_t block)
{
	mref_inc(ctx, block);
	return 0;
}

/* ---- subtree totals and sharing (the walker's enter/leave) ---- */

static void totals_reset(struct checker *c)
{
	c->nt = 1;
	c->totals[0] = (struct total){ 0, 0, 1 };
}

static int cb_enter(void *ctx, uint64_t block, unsigned depth)
{
	struct checker *c = ctx;
	struct total *top = &c->totals[c->nt - 1];

	(void)depth;
	if (base_bitmap_test_and_set(&c->seen, block)) {
		/* Walked from another tree: its total stands in. */
		if (!c->memo || c->memo[block] == MEMO_UNKNOWN)
			top->ok = 0;
		else
			top->n += c->memo[block];
		return 1;
	}
	if (c->nt >= sizeof(c->totals) / sizeof(c->totals[0]))
		return -EOVERFLOW;	/* the walker caps depth first */
	c->totals[c->nt++] = (struct total){ block, 0, 1 };
	return 0;
}

static void cb_leave(void *ctx, uint64_t block)
{
	struct checker *c = ctx;
	struct total t = c->totals[--c->nt];
	struct total *parent = &c->totals[c->nt - 1];

	(void)block;
	if (c->memo)
		c->memo[t.block] = t.ok ? t.n : MEMO_UNKNOWN;
	parent->n += t.n;
	if (!t.ok)
		parent->ok = 0;
}

static void report_btree_damage(struct checker *c,
				const struct pd_btree_damage *d,
				const char *unit)
{
	const struct pd_fault *f = &d->fault;
	enum thin_problem id;
	char buf[96], s[96];
	const char *lost;

	/* Every subtree being walked is now incomplete. */
	for (unsigned i = 0; i < c->nt; i++)
		c->totals[i].ok = 0;
	c->mrefs_incomplete = 1;
	c->drefs_incomplete = 1;
	lost = lost_range(buf, sizeof(buf), unit, d->key_begin, d->key_end);
	switch (d->problem) {
	case PD_BT_BLOCK:
		report_fault(c, f, lost);
		return;
	case PD_BT_VALUE_SIZE:
		id = THIN_P_BTREE_VALUE_SIZE;
		break;
	case PD_BT_MAX_ENTRIES:
		id = THIN_P_BTREE_MAX_ENTRIES;
		break;
	case PD_BT_UNDERFULL:
		id = THIN_P_BTREE_UNDERFULL;
		break;
	case PD_BT_EMPTY_INTERNAL:
		id = THIN_P_BTREE_EMPTY_INTERNAL;
		break;
	case PD_BT_KEY_ORDER:
		id = THIN_P_BTREE_KEY_ORDER;
		break;
	case PD_BT_KEY_LOW:
	case PD_BT_KEY_HIGH:
		id = THIN_P_BTREE_KEY_RANGE;
		break;
	case PD_BT_DEPTH:
	case PD_BT_TOO_DEEP:
		id = THIN_P_BTREE_DEPTH;
		break;
	case PD_BT_CYCLE:
	case PD_BT_SHARED:
		/* Counted before it was found visited: take it back. */
		if (c->mrefs && f->block < c->nr_mrefs && c->mrefs[f->block])
			c->mrefs[f->block]--;
		id = d->problem == PD_BT_CYCLE ? THIN_P_BTREE_CYCLE
					       : THIN_P_BTREE_SHARED;
		break;
	default:
		id = THIN_P_BLOCK_HEADER;
		break;
	}
	where(c, s, sizeof(s));
	switch (d->problem) {
	case PD_BT_CYCLE:
		report(c, id, "%s: btree node %" PRIu64 " (depth %u) is its "
		       "own ancestor: a cycle%s", s, f->block, d->depth, lost);
		return;
	case PD_BT_SHARED:
		report(c, id, "%s: btree node %" PRIu64 " (depth %u) is "
		       "reached a second time%s", s, f->block, d->depth, lost);
		return;
	case PD_BT_EMPTY_INTERNAL:
		report(c, id, "%s: btree node %" PRIu64 " (depth %u) is an "
		       "internal node without entries%s", s, f->block,
		       d->depth, lost);
		return;
	case PD_BT_KEY_ORDER:
		report(c, id, "%s: btree node %" PRIu64 " (depth %u): key %"
		       PRIu64 " follows key %" PRIu64 "%s", s, f->block,
		       d->depth, f->found, f->expected - 1, lost);
		return;
	default:
		break;
	}
	report(c, id,
	       "%s: btree node %" PRIu64 " (depth %u): %s %" PRIu64
	       ", expected %s%" PRIu64 "%s",
	       s, f->block, d->depth, f->what ? f->what : "value", f->found,
	       d->problem == PD_BT_UNDERFULL || d->problem == PD_BT_KEY_LOW ?
		       "at least " :
	       d->problem == PD_BT_KEY_HIGH ? "at most " : "",
	       f->expected, lost);
}

static int cb_damage_devs(void *ctx, const struct pd_btree_damage *d)
{
	report_btree_damage(ctx, d, "devices");
	return 0;
}

static int cb_damage_blocks(void *ctx, const struct pd_btree_damage *d)
{
	report_btree_damage(ctx, d, "virtual blocks");
	return 0;
}

/* ---- device lists ---- */

static struct device *dev_add(struct dev_list *l, uint64_t id)
{
	struct device *x;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;

		x = realloc(l->v, cap * sizeof(*x));
		if (!x)
			return NULL;
		l->v = x;
		l->cap = cap;
	}
	x = &l->v[l->n++];
	memset(x, 0, sizeof(*x));
	x->id = id;
	return x;
}

static int cb_details_leaf(void *ctx, uint64_t block, unsigned nr,
			   const void *keys, const void *values, int counted)
{
	struct checker *c = ctx;
	const unsigned char *kp = keys, *vp = values;

	(void)counted;
	(void)block;
	if (!c->collect)
		return 0;
	for (unsigned i = 0; i < nr; i++) {
		struct device *x = dev_add(&c->details,
					   load_le64(kp + 8 * (size_t)i));

		if (!x)
			return -ENOMEM;
		x->have_details = 1;
		thin_details_unpack(vp + sizeof(struct thin_disk_details) * i,
				    &x->details);
	}
	return 0;
}

static int cb_top_leaf(void *ctx, uint64_t block, unsigned nr,
		       const void *keys, const void *values, int counted)
{
	struct checker *c = ctx;
	const unsigned char *kp = keys, *vp = values;

	(void)counted;
	(void)block;
	for (unsigned i = 0; i < nr; i++) {
		struct device *x = dev_add(&c->top,
					   load_le64(kp + 8 * (size_t)i));

		if (!x)
			return -ENOMEM;
		x->have_root = 1;
		x->root = load_le64(vp + 8 * (size_t)i);
	}
	return 0;
}

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

enum {
	ROOT_MAPPING = 1, ROOT_DETAILS = 2, ROOT_DATA_SM = 4, ROOT_META_SM = 8,
	ROOT_HELD = 16, SB_UNUSABLE = 32,
};

struct sb_state {
	struct checker *c;
	const char *name;	/* "superblock", "metadata snapshot" */
	unsigned bad;
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

static int sb_violation(void *ctx, const struct thin_sb_violation *v)
{
	struct sb_state *s = ctx;
	struct checker *c = s->c;
	enum thin_problem id = sb_problem_ids[v->problem];

	switch (v->problem) {
	case THIN_SB_BAD_LOCATION:
		s->bad |= SB_UNUSABLE;
		report(c, id, "%s: blocknr is %" PRIu64 ", expected %" PRIu64,
		       s->name, v->found, v->expected);
		break;
	case THIN_SB_BAD_MAGIC:
		s->bad |= SB_UNUSABLE;
		report(c, id, "%s: magic is %" PRIu64 ", expected %" PRIu64
		       " (not dm-thin metadata)", s->name, v->found,
		       v->expected);
		break;
	case THIN_SB_BAD_CSUM:
		s->bad |= SB_UNUSABLE;
		report(c, id, "%s: bad checksum (found 0x%08" PRIx64
		       ", expected 0x%08" PRIx64 ")", s->name, v->found,
		       v->expected);
		break;
	case THIN_SB_BAD_VERSION:
		report(c, id, "%s: version is %" PRIu64 ", expected 1 or 2",
		       s->name, v->found);
		break;
	case THIN_SB_BAD_FLAGS:
		report(c, id, "%s: flags are 0x%" PRIx64 ", only 0x%" PRIx64
		       " is defined", s->name, v->found, v->expected);
		break;
	case THIN_SB_DATA_BLOCK_SIZE:
		report(c, id, "%s: data_block_size is %" PRIu64 " sectors, "
		       "expected a multiple of 128 from 128 to 2097152",
		       s->name, v->found);
		break;
	case THIN_SB_SM_NR_BLOCKS:
		c->sb_reported_nr_blocks = 1;
		report(c, id, "%s: the metadata space map covers %" PRIu64
		       " blocks, the device has %" PRIu64 " (truncated?)",
		       s->name, v->found, v->expected);
		break;
	case THIN_SB_ROOT_RANGE:
		s->bad |= root_bit(v->field);
		if (v->found == 0)
			report(c, id, "%s: %s is 0 (the superblock)", s->name,
			       v->field);
		else
			report(c, id, "%s: %s is %" PRIu64 ", past the end of "
			       "the metadata (%" PRIu64 " blocks)", s->name,
			       v->field, v->found, v->expected);
		break;
	case THIN_SB_HELD_ROOT:
		s->bad |= ROOT_HELD;
		report(c, id, "%s: held_root is %" PRIu64 ", not a block of "
		       "the metadata (%" PRIu64 " blocks)", s->name, v->found,
		       v->expected);
		break;
	default:
		report(c, id, "%s: %s is %" PRIu64 ", expected %" PRIu64,
		       s->name, v->field, v->found, v->expected);
		break;
	}
	return 0;
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* Returns 1 when later passes may run. */
static int pass_superblock(struct checker *c, struct sb_state *s)
{
	struct pd_block *b;
	struct pd_fault f;
	int r;

	pass(c, "examining superblock");
	if (c->io->nr_blocks < 1) {
		report(c, THIN_P_SB_UNREADABLE,
		       "superblock: the device holds %" PRIu64
		       " bytes, less than one %u-byte block",
		       c->io->size_bytes, PD_BLOCK_SIZE);
		return 0;
	}
	memset(&f, 0, sizeof(f));
	r = pd_bm_read_lock(c->bm, THIN_SB_LOCATION, NULL, &b, &f);
	if (r < 0) {
		report(c, THIN_P_SB_UNREADABLE, "superblock: %s",
		       pd_strerror(r));
		return 0;
	}
	memcpy(c->sb_raw, pd_block_data(b), PD_BLOCK_SIZE);
	pd_bm_unlock(b);

	if (all_zero(c->sb_raw, PD_BLOCK_SIZE)) {
		report(c, THIN_P_SB_MAGIC,
		       "superblock: block 0 is all zeros (no metadata, or a "
		       "restore that failed)");
		return 0;
	}
	thin_sb_unpack(c->sb_raw, &c->sb);
	thin_sb_check(&c->sb, c->sb_raw, THIN_SB_LOCATION, c->io->nr_blocks, 0,
		      sb_violation, s);
	c->bad_roots = s->bad;
	if (s->bad & SB_UNUSABLE)
		return 0;
	c->res->have_sb = 1;
	c->res->trans_id = c->sb.trans_id;
	if (c->sb.flags & THIN_SB_NEEDS_CHECK)
		report(c, THIN_P_SB_NEEDS_CHECK,
		       "superblock: NEEDS_CHECK is set (the kernel refuses to "
		       "load it read-write until it is cleared)");
	if (c->sb.time > THIN_TIME_MASK)
		report(c, THIN_P_SB_TIME_WRAP,
		       "superblock: pool time is %" PRIu32 ", past 2^24: "
		       "mapping times have wrapped and are not checked",
		       c->sb.time);
	return 1;
}

/* ---- passes 2 and 3: details and the top level ---- */

static int walk_details(struct checker *c, uint64_t root, int collect)
{
	static const struct pd_btree_walk_ops ops = {
		.leaf = cb_details_leaf,
		.damage = cb_damage_devs,
		.node_ref = cb_node_ref,
		.enter = cb_enter,
		.leave = cb_leave,
	};

	c->structure = "device details tree";
	c->collect = collect;
	totals_reset(c);
	return pd_btree_walk(c->bm, root, sizeof(struct thin_disk_details),
			     THIN_WALK, &ops, c);
}

static int walk_top(struct checker *c, uint64_t root)
{
	static const struct pd_btree_walk_ops ops = {
		.leaf = cb_top_leaf,
		.damage = cb_damage_devs,
		.node_ref = cb_node_ref,
		.enter = cb_enter,
		.leave = cb_leave,
	};

	c->structure = "mapping tree (top level)";
	totals_reset(c);
	return pd_btree_walk(c->bm, root, 8, THIN_WALK, &ops, c);
}

static void check_details(struct checker *c)
{
	for (size_t i = 0; i < c->details.n; i++) {
		const struct device *x = &c->details.v[i];
		const struct thin_details *d = &x->details;

		if (d->creation_time > c->sb.time ||
		    d->snapshotted_time > c->sb.time)
			report(c, THIN_P_DEV_TIME,
			       "device %" PRIu64 ": creation time %" PRIu32
			       ", snapshot time %" PRIu32 ", but the pool "
			       "time is %" PRIu32, x->id, d->creation_time,
			       d->snapshotted_time, c->sb.time);
		if (d->transaction_id > c->sb.trans_id)
			report(c, THIN_P_DEV_TRANSACTION,
			       "device %" PRIu64 ": transaction id %" PRIu64
			       " is after the pool's %" PRIu64, x->id,
			       d->transaction_id, c->sb.trans_id);
	}
}

/* Both lists are in id order: a merge finds the devices only one names. */
static void match_devices(struct checker *c, int details_whole, int top_whole)
{
	size_t i = 0, j = 0;

	while (i < c->details.n || j < c->top.n) {
		if (j == c->top.n ||
		    (i < c->details.n && c->details.v[i].id < c->top.v[j].id)) {
			if (top_whole)
				report(c, THIN_P_DEV_NO_MAPPINGS,
				       "device %" PRIu64 " has details but no "
				       "mapping tree", c->details.v[i].id);
			i++;
		} else if (i == c->details.n ||
			   c->top.v[j].id < c->details.v[i].id) {
			if (details_whole)
				report(c, THIN_P_DEV_NO_DETAILS,
				       "device %" PRIu64 " has a mapping tree "
				       "(root %" PRIu64 ") but no details",
				       c->top.v[j].id, c->top.v[j].root);
			j++;
		} else {
			c->top.v[j].have_details = 1;
			c->top.v[j].details = c->details.v[i].details;
			i++;
			j++;
		}
	}
}

/* ---- pass 4: each device's tree ---- */

static int cb_map_leaf(void *ctx, uint64_t block, unsigned nr,
		       const void *keys, const void *values, int counted)
{
	struct checker *c = ctx;
	const unsigned char *kp = keys, *vp = values;

	(void)counted;
	c->totals[c->nt - 1].n += nr;
	c->res->nr_mappings += nr;
	for (unsigned i = 0; i < nr; i++) {
		uint64_t bt = load_le64(vp + 8 * (size_t)i);
		uint64_t db = thin_block_time_block(bt);
		uint32_t t = thin_block_time_time(bt);

		if (c->check_times && t > c->pool_time)
			report(c, THIN_P_MAP_TIME,
			       "device %" PRIu64 " mapping tree: leaf %" PRIu64
			       ": virtual block %" PRIu64 " has time %" PRIu32
			       ", after the pool time %" PRIu32, c->cur_dev,
			       block, load_le64(kp + 8 * (size_t)i), t,
			       c->pool_time);
		if (db >= c->nr_drefs) {
			report(c, THIN_P_MAP_DATA_RANGE,
			       "device %" PRIu64 " mapping tree: leaf %" PRIu64
			       ": virtual block %" PRIu64 " maps to data block %"
			       PRIu64 ", past the data device (%" PRIu64
			       " blocks)", c->cur_dev, block,
			       load_le64(kp + 8 * (size_t)i), db, c->nr_drefs);
			continue;
		}
		if (c->drefs && c->drefs[db] != UINT32_MAX)
			c->drefs[db]++;
	}
	return 0;
}

/* Walks one device's tree; *count and *known: the mappings under root. */
static int walk_device(struct checker *c, uint64_t id, uint64_t root,
		       uint64_t *count, int *known)
{
	static const struct pd_btree_walk_ops ops = {
		.leaf = cb_map_leaf,
		.damage = cb_damage_blocks,
		.node_ref = cb_node_ref,
		.enter = cb_enter,
		.leave = cb_leave,
	};
	int r;

	c->structure = "device";
	c->cur_dev = id;
	totals_reset(c);
	r = pd_btree_walk(c->bm, root, 8, THIN_WALK, &ops, c);
	*count = c->totals[0].n;
	*known = c->totals[0].ok;
	return r;
}

static int pass_devices(struct checker *c, int compare)
{
	for (size_t i = 0; i < c->top.n; i++) {
		const struct device *x = &c->top.v[i];
		uint64_t n;
		int known, r;

		r = walk_device(c, x->id, x->root, &n, &known);
		if (r < 0)
			return r;
		c->res->nr_devices++;
		if (compare && known && x->have_details &&
		    n != x->details.mapped_blocks)
			report(c, THIN_P_DEV_MAPPED_BLOCKS,
			       "device %" PRIu64 ": mapped_blocks is %" PRIu64
			       ", but its tree maps %" PRIu64 " blocks", x->id,
			       x->details.mapped_blocks, n);
	}
	return 0;
}

/* ---- pass 5: the held metadata snapshot ---- */

/* Reads and checks the copy at block; 0 and *snap filled when usable. */
static int read_snapshot(struct checker *c, uint64_t block,
			 struct thin_sb *snap)
{
	struct sb_state s = { c, "metadata snapshot", 0 };
	struct pd_block *b;
	struct pd_fault f;
	int r;

	if (block >= pd_bm_nr_blocks(c->bm) || block == THIN_SB_LOCATION) {
		report(c, THIN_P_SB_HELD_ROOT, "metadata snapshot: block %"
		       PRIu64 " is not a block of the metadata (%" PRIu64
		       " blocks)", block, pd_bm_nr_blocks(c->bm));
		return -EINVAL;
	}
	memset(&f, 0, sizeof(f));
	r = pd_bm_read_lock(c->bm, block, NULL, &b, &f);
	if (r < 0) {
		report(c, THIN_P_SB_HELD_ROOT, "metadata snapshot: block %"
		       PRIu64 ": %s", block, pd_strerror(r));
		return -EINVAL;
	}
	thin_sb_unpack(pd_block_data(b), snap);
	thin_sb_check(snap, pd_block_data(b), block, c->io->nr_blocks, 1,
		      sb_violation, &s);
	pd_bm_unlock(b);
	if (s.bad & (SB_UNUSABLE | ROOT_MAPPING | ROOT_DETAILS)) {
		c->mrefs_incomplete = 1;
		c->drefs_incomplete = 1;
		return -EINVAL;
	}
	return 0;
}

static void dev_list_clear(struct dev_list *l)
{
	l->n = 0;
}

static int pass_held(struct checker *c, uint64_t block, int primary)
{
	struct thin_sb snap;
	int r;

	pass(c, "examining metadata snapshot");
	mref_inc(c, block);
	if (read_snapshot(c, block, &snap) < 0)
		return 0;
	/*
	 * Only the nodes the live trees do not share are walked, so the
	 * lists hold the snapshot's own leaves' devices.  When the snapshot
	 * is what is being checked (-m) it is walked whole, first.
	 */
	dev_list_clear(&c->details);
	dev_list_clear(&c->top);
	r = walk_details(c, snap.details_root, 1);
	if (r < 0)
		return r;
	r = walk_top(c, snap.mapping_root);
	if (r < 0)
		return r;
	if (primary)
		match_devices(c, !c->mrefs_incomplete, !c->mrefs_incomplete);
	return pass_devices(c, primary);
}

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
			report(c, THIN_P_SB_SM_NR_BLOCKS,
			       "%s: nr_blocks is %" PRIu64 ", more than %" PRIu64,
			       p->name, d->fault.found, d->fault.expected);
		break;
	case PD_SM_INDEX:
		/* The data map's index is a btree: its damage says how. */
		if (d->btree.fault.validator) {
			report_btree_damage(c, &d->btree, "bitmap indexes");
			break;
		}
		report_fault(c, &d->fault,
			     lost_range(lost, sizeof(lost), "counts of blocks",
					d->block_begin, d->block_end));
		break;
	case PD_SM_BITMAP:
		report_fault(c, &d->fault,
			     lost_range(lost, sizeof(lost), "counts of blocks",
					d->block_begin, d->block_end));
		break;
	case PD_SM_INDEX_ENTRY:
		report(c, THIN_P_SM_INDEX_ENTRY,
		       "%s: index entry for blocks [%" PRIu64 ", %" PRIu64
		       ") points to block %" PRIu64, p->name, d->block_begin,
		       d->block_end, d->fault.found);
		break;
	case PD_SM_OVERFLOW:
		report_btree_damage(c, &d->btree, "counts of blocks");
		break;
	case PD_SM_OVERFLOW_MISSING:
		report(c, THIN_P_SM_OVERFLOW,
		       "%s: block %" PRIu64 " has bitmap count 3 but no "
		       "overflow entry", p->name, d->block_begin);
		break;
	case PD_SM_OVERFLOW_EXTRA:
		report(c, THIN_P_SM_OVERFLOW,
		       "%s: overflow entry for block %" PRIu64 " (count %"
		       PRIu64 ") whose bitmap count is not 3", p->name,
		       d->block_begin, d->fault.found);
		break;
	case PD_SM_OVERFLOW_LOW:
		report(c, THIN_P_SM_OVERFLOW,
		       "%s: overflow entry for block %" PRIu64 " holds count %"
		       PRIu64 ", below 3", p->name, d->block_begin,
		       d->fault.found);
		break;
	}
	return 0;
}

static int cb_sm_own_ref(void *ctx, uint64_t block)
{
	struct sm_pass *p = ctx;

	p->c->structure = p->name;
	mref_inc(p->c, block);
	return 0;
}

struct compare_ids {
	enum thin_problem under, over, leak, nr_allocated;
	const char *what;	/* "block", "data block" */
};

/* Counts on disk against the references found; returns blocks in use. */
static uint64_t compare_counts(struct checker *c, const struct compare_ids *ids,
			       const char *name, const uint32_t *have_v,
			       uint64_t nr_have, const struct base_bitmap *unknown,
			       const uint32_t *want_v, uint64_t nr_want,
			       int incomplete, uint64_t nr_allocated,
			       uint64_t *leaks, struct base_bitmap *leak_set)
{
	uint64_t n = nr_have < nr_want ? nr_have : nr_want, in_use = 0;

	for (uint64_t b = 0; b < nr_have; b++)
		in_use += have_v[b] != 0;
	for (uint64_t b = 0; b < n; b++) {
		uint32_t want = want_v[b], have = have_v[b];

		if (want == have || base_bitmap_test(unknown, b))
			continue;
		if (have < want) {
			report(c, ids->under,
			       "%s: %s %" PRIu64 " is referenced %" PRIu32
			       " time%s but its count is %" PRIu32 "%s", name,
			       ids->what, b, want, want == 1 ? "" : "s", have,
			       have ? "" : " (free: it would be handed out "
					   "again)");
			continue;
		}
		if (incomplete)
			continue;
		if (want == 0) {
			(*leaks)++;
			if (leak_set && b < leak_set->nr_bits)
				base_bitmap_set(leak_set, b);
			report(c, ids->leak,
			       "%s: %s %" PRIu64 " has count %" PRIu32 " but "
			       "nothing references it (leaked)", name, ids->what,
			       b, have);
			continue;
		}
		report(c, ids->over,
		       "%s: %s %" PRIu64 " is referenced %" PRIu32 " time%s but "
		       "its count is %" PRIu32, name, ids->what, b, want,
		       want == 1 ? "" : "s", have);
	}
	if (!incomplete && in_use != nr_allocated && !c->res->nr_fatal)
		report(c, ids->nr_allocated,
		       "%s: nr_allocated is %" PRIu64 ", but %" PRIu64
		       " blocks are in use", name, nr_allocated, in_use);
	return in_use;
}

static int pass_data_sm(struct checker *c)
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
	struct base_bitmap unknown;
	uint32_t *counts;
	uint64_t nr, fatal_before = c->res->nr_fatal;
	int r;

	pass(c, "examining data space map");
	c->structure = p.name;
	totals_reset(c);
	r = pd_sm_read_disk(c->bm, &c->sb.data_sm, &ops, &p, &counts, &nr,
			    &unknown);
	if (r < 0)
		return r;
	if (c->res->nr_fatal != fatal_before)
		c->drefs_incomplete = 1;
	r = base_bitmap_init(&c->data_leaks, nr);
	if (r < 0)
		goto out;
	if (c->drefs) {
		c->data_in_use = compare_counts(c, &ids, p.name, counts, nr,
						&unknown, c->drefs, c->nr_drefs,
						c->drefs_incomplete,
						c->sb.data_sm.nr_allocated,
						&c->res->leaked_data,
						&c->data_leaks);
		c->data_sm_read = 1;
	}
out:
	free(counts);
	base_bitmap_release(&unknown);
	return r;
}

static int pass_metadata_sm(struct checker *c)
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
	uint32_t *counts;
	uint64_t nr, in_use, fatal_before = c->res->nr_fatal;
	int r;

	pass(c, "examining metadata space map");
	c->structure = p.name;
	totals_reset(c);
	r = pd_sm_read(c->bm, &c->sb.metadata_sm, &ops, &p, &counts, &nr,
		       &unknown);
	if (r < 0)
		return r;
	if (c->res->nr_fatal != fatal_before)
		c->mrefs_incomplete = 1;
	r = base_bitmap_init(&c->meta_leaks, nr);
	if (r < 0) {
		free(counts);
		base_bitmap_release(&unknown);
		return r;
	}
	in_use = compare_counts(c, &ids, p.name, counts, nr, &unknown, c->mrefs,
				c->nr_mrefs, c->mrefs_incomplete,
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
	c->res->metadata_free =
		c->sb.metadata_sm.nr_allocated <= c->sb.metadata_sm.nr_blocks ?
			c->sb.metadata_sm.nr_blocks -
				c->sb.metadata_sm.nr_allocated :
			nr - in_use;
	if (c->mrefs_incomplete)
		pass(c, "  (structures damaged or skipped: only checked that "
			"every referenced block is counted)");
	free(counts);
	base_bitmap_release(&unknown);
	return 0;
}

/* ---- writes: leaks and NEEDS_CHECK ---- */

static int write_block(struct checker *c, uint64_t block, const void *data)
{
	int r = c->io->ops->write(c->io, block, 1, data);

	if (!r)
		c->res->wrote = 1;
	pd_bm_forget(c->bm, block);
	return r;
}

static int repair(struct checker *c)
{
	unsigned f = c->opts->flags;
	struct thin_disk_sb *d = (struct thin_disk_sb *)c->sb_raw;
	int r;

	if (!(f & (THIN_CHECK_AUTO_REPAIR | THIN_CHECK_CLEAR_NEEDS_CHECK)))
		return 0;
	if (c->res->nr_fatal) {
		action(c, "not writing anything: the metadata has errors "
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
			action(c, "leaks left as they are: no free metadata "
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
			action(c, msg);
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
		action(c, "cleared NEEDS_CHECK");
	}
	return 0;
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
	c->mrefs = calloc(c->nr_mrefs ? c->nr_mrefs : 1, sizeof(*c->mrefs));
	/* The data device: every block a bitmap could describe, at most. */
	c->nr_drefs = c->sb.data_sm.nr_blocks;
	if (nb <= UINT64_MAX / PD_SM_ENTRIES_PER_BITMAP &&
	    c->nr_drefs > nb * PD_SM_ENTRIES_PER_BITMAP)
		c->nr_drefs = nb * PD_SM_ENTRIES_PER_BITMAP;
	c->drefs = calloc(c->nr_drefs ? c->nr_drefs : 1, sizeof(*c->drefs));
	c->memo = malloc((nb ? nb : 1) * sizeof(*c->memo));
	if (!c->mrefs || !c->drefs || !c->memo)
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
			report(c, THIN_P_SB_ROOT_RANGE,
			       "--override-mapping-root %" PRIu64 " is not a "
			       "block of the metadata (%" PRIu64 " blocks)",
			       mapping_root, pd_bm_nr_blocks(c->bm));
	}
	mref_inc(c, THIN_SB_LOCATION);

	if (f & THIN_CHECK_METADATA_SNAP) {
		uint64_t block = c->opts->snap_block ? c->opts->snap_block :
						       c->sb.held_root;

		if (!block) {
			report(c, THIN_P_SB_HELD_ROOT,
			       "superblock: no metadata snapshot is held");
			return 0;
		}
		r = pass_held(c, block, 1);
		end_pass(c);
		return r;
	}

	pass(c, "examining devices tree");
	if (details_ok) {
		fatal = c->res->nr_fatal;
		r = walk_details(c, c->sb.details_root, 1);
		if (r < 0)
			return r;
		details_ok = fatal == c->res->nr_fatal;
		check_details(c);
	} else {
		c->mrefs_incomplete = 1;
	}
	end_pass(c);

	pass(c, "examining mapping tree");
	if (top_ok) {
		fatal = c->res->nr_fatal;
		r = walk_top(c, mapping_root);
		if (r < 0)
			return r;
		top_ok = fatal == c->res->nr_fatal;
	} else {
		c->mrefs_incomplete = 1;
		c->drefs_incomplete = 1;
	}
	match_devices(c, details_ok, top_ok);
	end_pass(c);
	if (f & THIN_CHECK_SKIP_MAPPINGS) {
		c->mrefs_incomplete = 1;
		c->drefs_incomplete = 1;
	} else {
		r = pass_devices(c, 1);
		end_pass(c);
		if (r < 0)
			return r;
	}

	if (c->sb.held_root && !(c->bad_roots & ROOT_HELD)) {
		r = pass_held(c, c->sb.held_root, 0);
		end_pass(c);
		if (r < 0)
			return r;
	}
	if (!(c->bad_roots & ROOT_DATA_SM)) {
		r = pass_data_sm(c);
		end_pass(c);
		if (r < 0)
			return r;
	} else {
		c->mrefs_incomplete = 1;
	}
	if (!(c->bad_roots & ROOT_META_SM)) {
		r = pass_metadata_sm(c);
		end_pass(c);
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
	c->max_reports = opts->max_reports ? opts->max_reports
					   : DEFAULT_MAX_REPORTS;
	s.c = c;
	s.name = "superblock";
	r = pd_bm_create(io, BM_CACHE_BLOCKS, &c->bm);
	if (r < 0)
		goto out_free;

	if (!pass_superblock(c, &s)) {
		end_pass(c);
		goto out_bm;
	}
	end_pass(c);
	if (opts->flags & THIN_CHECK_SB_ONLY) {
		r = repair(c);
		goto out_bm;
	}
	r = setup_counts(c);
	if (r < 0)
		goto out_bm;
	r = run_passes(c);
	if (r < 0)
		goto out_bm;
	if (!(opts->flags & THIN_CHECK_METADATA_SNAP))
		r = repair(c);
out_bm:
	free(c->mrefs);
	free(c->drefs);
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
