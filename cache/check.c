// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_check: verify dm-cache metadata, as a table of passes.
 *
 *  pass  what it checks                           what it leaves for later
 *  ----  ---------------------------------------  -------------------------
 *  1     superblock: location, magic, checksum,    a bad location, magic,
 *        version, flags, policy name, hint size,   checksum or version stops
 *        metadata block size, compat/incompat      everything: no field of
 *        flags, roots and sizes inside the device, such a block is trusted
 *        v2 dirty root; NEEDS_CHECK and a missing
 *        CLEAN_SHUTDOWN are noted (warnings)
 *  2     mapping array: every btree node and       which block numbers are
 *        array block (pd_array_walk), length ==    referenced: counted into
 *        cache_blocks, flags allowed by the        refs[] for pass 6
 *        version, unmapped entries zero, no
 *        origin block mapped twice, origin blocks
 *        inside the origin when its size is known
 *  3     dirty bitset (v2): structure, length,     -
 *        dirty bits only on mapped blocks (a
 *        warning: 0.9.0's restore sets them all).
 *        A v1 superblock with dirty_root set is
 *        v2 metadata mislabelled: read the same
 *        way, and fatal (sb-v1-dirty-bitset)
 *  4     hint array: structure and length, width   -
 *        from the superblock; hint_root 0 = none
 *  5     discard bitset: structure, length         -
 *        against discard_nr_blocks
 *  6     space map: the counts read from disk      -
 *        (pd_sm_read) against the references
 *        counted in passes 1-5 plus the space
 *        map's own blocks.  A block's expected
 *        count is the number of parents pointing
 *        to it: a block shared by two keys or two
 *        structures counts each pointer, and the
 *        blocks below a shared node count once
 *        (PD_WALK_COUNTED).  Sharing is legal;
 *        only a node reached twice within one
 *        tree is damage (the walk reports it
 *        as btree-shared).  Referenced more than
 *        counted is fatal (the kernel would hand
 *        an in-use block out again and panic on
 *        it); counted 1 but unreferenced is a
 *        leak (warning: 0.9.0's v1 restore leaks
 *        a block in every image); any other
 *        difference is fatal.  nr_allocated
 *        against the blocks in use is a warning:
 *        the kernel only uses it to report free
 *        space.  nr_free and none_free_before
 *        are advisory and not checked (the
 *        kernel and 0.9.0 disagree on them).
 *        In v1, leaked blocks that form a dirty
 *        bitset of the cache's length are v2
 *        metadata mislabelled, dirty_root
 *        cleared too: fatal, so nothing is freed
 *        (find_orphan_dirty_bitset).
 *
 * Leaks and over-counts can only be judged when every structure was walked
 * whole: when a pass was skipped or a structure is damaged (children of an
 * unreadable node are never counted), pass 6 only looks for blocks that
 * are referenced but counted too low.
 *
 * Writes (only with CACHE_CHECK_AUTO_REPAIR or CLEAR_NEEDS_CHECK, and only
 * when no fatal problem was found): leaks are freed in one transaction, as
 * the kernel commits (pd_tm_open, pd_tm_release, pd_tm_commit): the whole
 * space map is written anew into blocks that were free, then a flush, then
 * the superblock (new space-map root, NEEDS_CHECK cleared) and a flush.
 * Nothing the old superblock reaches is written in place, so a crash or a
 * torn write before the superblock leaves the old metadata whole.  Without
 * leaks, or with no free block to write the new map into (the leaks are
 * then left: they only waste space), only the superblock is rewritten.
 *
 * This file holds the reporting, the reference counting, passes 1-5 and
 * the driver; check_sm.c pass 6 and the writes; check_int.h what they
 * share.
 */
#include "cache/check.h"
#include "cache/check_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitmap.h"
#include "base/endian.h"
#include "cache/format.h"
#include "pdata/array.h"
#include "pdata/bitset.h"
#include "pdata/bm.h"
#include "pdata/btree.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"
#include "pdata/sm.h"

#define DEFAULT_MAX_REPORTS 10u
/*
 * 2 MiB of block cache: the walk streams, and a bigger pool only costs a
 * page fault per fresh buffer (512 blocks: 30 ms of CPU at 1M cache blocks
 * against 76 ms with 4096, and 0.55 s against 0.68 s at 40M).
 */
#define BM_CACHE_BLOCKS 512u

/* ---- the problem table ---- */

static const struct {
	enum cache_severity sev;
	const char *name;
	const char *desc;
} problems[CACHE_NR_PROBLEMS] = {
#define CACHE_PROBLEM_ROW(id, sev, name, desc) \
	[CACHE_P_##id] = { CACHE_SEV_##sev, name, desc },
	CACHE_PROBLEMS(CACHE_PROBLEM_ROW)
#undef CACHE_PROBLEM_ROW
};

/* The severities as pd_report wants them. */
static const unsigned char problem_is_fatal[CACHE_NR_PROBLEMS] = {
#define CACHE_PROBLEM_FATAL(id, sev, name, desc) \
	[CACHE_P_##id] = CACHE_SEV_##sev == CACHE_SEV_FATAL,
	CACHE_PROBLEMS(CACHE_PROBLEM_FATAL)
#undef CACHE_PROBLEM_FATAL
};

enum cache_severity cache_problem_severity(enum cache_problem p)
{
	return p < CACHE_NR_PROBLEMS ? problems[p].sev : CACHE_SEV_FATAL;
}

const char *cache_problem_name(enum cache_problem p)
{
	return p < CACHE_NR_PROBLEMS ? problems[p].name : "unknown";
}

const char *cache_problem_desc(enum cache_problem p)
{
	return p < CACHE_NR_PROBLEMS ? problems[p].desc : "unknown problem";
}

/* ---- reporting ---- */

__attribute__((format(printf, 3, 4)))
void ck_report(struct checker *c, enum cache_problem id, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pd_report_v(&c->rep, id, fmt, ap);
	va_end(ap);
}

/* pd_report's callbacks: the sink's, with the problem's enum types. */
static void emit(void *ctx, unsigned id, int fatal, const char *msg)
{
	const struct cache_check_sink *sink = ctx;

	if (sink->problem)
		sink->problem(sink->ctx, (enum cache_problem)id,
			      fatal ? CACHE_SEV_FATAL : CACHE_SEV_WARN, msg);
}

static void emit_more(void *ctx, unsigned id, int fatal, uint64_t n)
{
	const struct cache_check_sink *sink = ctx;

	if (sink->more)
		sink->more(sink->ctx, (enum cache_problem)id,
			   fatal ? CACHE_SEV_FATAL : CACHE_SEV_WARN, n);
}

static void end_pass(struct checker *c)
{
	pd_report_end_pass(&c->rep);
}

void ck_pass(struct checker *c, const char *text)
{
	if (c->sink->pass)
		c->sink->pass(c->sink->ctx, text);
}

void ck_action(struct checker *c, const char *text)
{
	if (c->sink->action)
		c->sink->action(c->sink->ctx, text);
}

/*
 * A validator's record, under the structure it belongs to: "mapping array:
 * array block 8: bad checksum (found 0x..., expected 0x...)".  lost is
 * appended as is ("; entries [0, 509) lost").
 */
void ck_report_fault(struct checker *c, const char *structure,
		     const struct pd_fault *f, const char *lost)
{
	static const struct pd_fault_ids ids = {
		CACHE_P_BLOCK_RANGE, CACHE_P_BLOCK_LOCATION,
		CACHE_P_BLOCK_CHECKSUM, CACHE_P_BLOCK_HEADER, CACHE_P_BLOCK_IO,
	};

	pd_report_fault(&c->rep, &ids, structure, f, pd_bm_nr_blocks(c->bm),
			lost);
}

/* ---- reference counting (pass 6's expectations) ---- */

/*
 * One pointer to block.  Returns 1 when the block was referenced before:
 * its own pointers were counted then, and a block's count is the number of
 * parents pointing at it, so they must not be counted again (a subtree two
 * structures share has its root counted twice, the rest once).
 */
int ck_ref_inc(struct checker *c, uint64_t block)
{
	if (!c->refs)
		return 0;
	if (block >= c->nr_refs) {
		/*
		 * The walkers report pointers past the device; a block inside
		 * the device but past what the space map covers is only
		 * visible here.
		 */
		if (block < pd_bm_nr_blocks(c->bm))
			ck_report(c, CACHE_P_BLOCK_RANGE,
				  "%s: block %" PRIu64 " is past the %" PRIu64
				  " blocks the space map covers",
				  c->structure, block, c->nr_refs);
		return 0;
	}
	if (c->refs[block] == UINT32_MAX)
		return 1;
	return c->refs[block]++ != 0;
}

/* The walkers' block_ref: see ref_inc and PD_WALK_COUNTED. */
static int cb_block_ref(void *ctx, uint64_t block)
{
	return ck_ref_inc(ctx, block) ? PD_WALK_COUNTED : 0;
}

/* ---- damage from the walkers ---- */

void ck_report_btree_damage(struct checker *c,
			    const struct pd_btree_damage *d,
			    uint64_t begin, uint64_t end, const char *unit)
{
	const struct pd_fault *f = &d->fault;
	enum cache_problem id;
	char buf[96];
	const char *lost;

	c->refs_incomplete = 1;
	switch (d->problem) {
	case PD_BT_BLOCK:
		ck_report_fault(c, c->structure, f,
				pd_report_lost_range(buf, sizeof(buf), unit, begin,
					      end));
		return;
	case PD_BT_VALUE_SIZE:
		id = CACHE_P_BTREE_VALUE_SIZE;
		break;
	case PD_BT_MAX_ENTRIES:
		id = CACHE_P_BTREE_MAX_ENTRIES;
		break;
	case PD_BT_UNDERFULL:
		id = CACHE_P_BTREE_UNDERFULL;
		break;
	case PD_BT_EMPTY_INTERNAL:
		id = CACHE_P_BTREE_EMPTY_INTERNAL;
		break;
	case PD_BT_KEY_ORDER:
		id = CACHE_P_BTREE_KEY_ORDER;
		break;
	case PD_BT_KEY_LOW:
	case PD_BT_KEY_HIGH:
		id = CACHE_P_BTREE_KEY_RANGE;
		break;
	case PD_BT_DEPTH:
	case PD_BT_TOO_DEEP:
		id = CACHE_P_BTREE_DEPTH;
		break;
	case PD_BT_CYCLE:
	case PD_BT_SHARED:
		/*
		 * The walker counted the pointer before it saw the node was
		 * visited already; take it back, so that pass 6 reports the
		 * bad pointer once, here, and not again as a count mismatch.
		 */
		if (!d->ref_skipped && c->refs && f->block < c->nr_refs &&
		    c->refs[f->block])
			c->refs[f->block]--;
		id = d->problem == PD_BT_CYCLE ? CACHE_P_BTREE_CYCLE
					       : CACHE_P_BTREE_SHARED;
		break;
	default:
		id = CACHE_P_BLOCK_HEADER;
		break;
	}
	lost = pd_report_lost_range(buf, sizeof(buf), unit, begin, end);
	switch (d->problem) {
	case PD_BT_CYCLE:
		ck_report(c, id, "%s: btree node %" PRIu64 " (depth %u) is its "
			  "own ancestor: a cycle%s", c->structure, f->block,
			  d->depth, lost);
		return;
	case PD_BT_SHARED:
		ck_report(c, id, "%s: btree node %" PRIu64 " (depth %u) is "
			  "reached a second time%s", c->structure, f->block,
			  d->depth, lost);
		return;
	case PD_BT_EMPTY_INTERNAL:
		ck_report(c, id, "%s: btree node %" PRIu64 " (depth %u) is an "
			  "internal node without entries%s", c->structure,
			  f->block, d->depth, lost);
		return;
	case PD_BT_KEY_ORDER:
		/* expected is one past the key before it */
		ck_report(c, id, "%s: btree node %" PRIu64 " (depth %u): key %"
			  PRIu64 " follows key %" PRIu64 "%s", c->structure,
			  f->block, d->depth, f->found, f->expected - 1, lost);
		return;
	default:
		break;
	}
	ck_report(c, id,
		  "%s: btree node %" PRIu64 " (depth %u): %s %" PRIu64
		  ", expected %s%" PRIu64 "%s",
		  c->structure, f->block, d->depth, f->what ? f->what : "value",
		  f->found,
		  d->problem == PD_BT_UNDERFULL || d->problem == PD_BT_KEY_LOW ?
		       "at least " :
		  d->problem == PD_BT_KEY_HIGH ? "at most " : "",
		  f->expected, lost);
}

static int cb_array_damage(void *ctx, const struct pd_array_damage *d)
{
	struct checker *c = ctx;
	const struct pd_fault *f = &d->fault;
	const char *unit = "entries";
	char lost[96];

	c->damage_in_walk++;
	c->refs_incomplete = 1;
	switch (d->problem) {
	case PD_ARR_BTREE:
		ck_report_btree_damage(c, &d->btree, d->index_begin,
				       d->index_end, unit);
		break;
	case PD_ARR_BLOCK:
		ck_report_fault(c, c->structure, f,
				pd_report_lost_range(lost, sizeof(lost), unit,
					d->index_begin, d->index_end));
		break;
	case PD_ARR_VALUE_SIZE:
		ck_report(c, CACHE_P_ARRAY_VALUE_SIZE,
			  "%s: array block %" PRIu64 ": value size %" PRIu64
			  ", expected %" PRIu64 "; entries [%" PRIu64
			  ", %" PRIu64 ") lost", c->structure, f->block,
			  f->found, f->expected, d->index_begin,
			  d->index_end);
		break;
	case PD_ARR_NR_ENTRIES:
		ck_report(c, CACHE_P_ARRAY_NR_ENTRIES,
			  "%s: array block %" PRIu64 ": %s %" PRIu64
			  ", expected %" PRIu64 "; entries [%" PRIu64
			  ", %" PRIu64 ") lost", c->structure, f->block,
			  f->what ? f->what : "nr_entries", f->found,
			  f->expected, d->index_begin, d->index_end);
		break;
	case PD_ARR_MISSING:
		ck_report(c, CACHE_P_ARRAY_MISSING,
			  "%s: entries [%" PRIu64 ", %" PRIu64
			  ") are missing (no array block holds them)",
			  c->structure, d->index_begin, d->index_end);
		break;
	case PD_ARR_EXTRA:
		ck_report(c, CACHE_P_ARRAY_EXTRA,
			  "%s: array block %" PRIu64 " holds entries [%" PRIu64
			  ", %" PRIu64 ") past the array's length",
			  c->structure, f->block, d->index_begin, d->index_end);
		break;
	}
	return 0;
}

/* ---- pass 1: superblock ---- */

static const enum cache_problem sb_problem_ids[CACHE_SB_NR_PROBLEMS] = {
	[CACHE_SB_BAD_LOCATION] = CACHE_P_SB_LOCATION,
	[CACHE_SB_BAD_MAGIC] = CACHE_P_SB_MAGIC,
	[CACHE_SB_BAD_CSUM] = CACHE_P_SB_CHECKSUM,
	[CACHE_SB_BAD_VERSION] = CACHE_P_SB_VERSION,
	[CACHE_SB_BAD_FLAGS] = CACHE_P_SB_FLAGS,
	[CACHE_SB_POLICY_NAME] = CACHE_P_SB_POLICY_NAME,
	[CACHE_SB_HINT_SIZE] = CACHE_P_SB_HINT_SIZE,
	[CACHE_SB_METADATA_BLOCK_SIZE] = CACHE_P_SB_METADATA_BLOCK_SIZE,
	[CACHE_SB_COMPAT_FLAGS] = CACHE_P_SB_COMPAT_FLAGS,
	[CACHE_SB_COMPAT_RO_FLAGS] = CACHE_P_SB_COMPAT_RO_FLAGS,
	[CACHE_SB_INCOMPAT_FLAGS] = CACHE_P_SB_INCOMPAT_FLAGS,
	[CACHE_SB_ROOT_RANGE] = CACHE_P_SB_ROOT_RANGE,
	[CACHE_SB_DIRTY_ROOT] = CACHE_P_SB_DIRTY_ROOT,
	[CACHE_SB_SM_NR_BLOCKS] = CACHE_P_SB_SM_NR_BLOCKS,
	[CACHE_SB_DATA_BLOCK_SIZE] = CACHE_P_SB_DATA_BLOCK_SIZE,
	[CACHE_SB_DISCARD_GEOMETRY] = CACHE_P_SB_DISCARD_GEOMETRY,
};

struct sb_state {
	struct checker *c;
	int unusable;			/* nothing past the superblock is trusted */
	unsigned bad_roots;		/* bit per root, see root_bit() */
};

enum { ROOT_MAPPING = 1, ROOT_HINT = 2, ROOT_DISCARD = 4, ROOT_SM = 8,
       ROOT_DIRTY = 16 };

static unsigned root_bit(const char *field)
{
	if (!strcmp(field, "mapping_root"))
		return ROOT_MAPPING;
	if (!strcmp(field, "hint_root"))
		return ROOT_HINT;
	if (!strcmp(field, "discard_root"))
		return ROOT_DISCARD;
	if (!strcmp(field, "dirty_root"))
		return ROOT_DIRTY;
	return ROOT_SM;
}

static int sb_violation(void *ctx, const struct cache_sb_violation *v)
{
	struct sb_state *s = ctx;
	struct checker *c = s->c;
	enum cache_problem id = sb_problem_ids[v->problem];

	switch (v->problem) {
	case CACHE_SB_BAD_LOCATION:
		s->unusable = 1;
		ck_report(c, id, "superblock: blocknr is %" PRIu64
			  ", expected 0", v->found);
		break;
	case CACHE_SB_BAD_MAGIC:
		s->unusable = 1;
		ck_report(c, id, "superblock: magic is %" PRIu64 ", expected %"
			  PRIu64 " (not dm-cache metadata)", v->found,
			  v->expected);
		break;
	case CACHE_SB_BAD_CSUM:
		s->unusable = 1;
		ck_report(c, id, "bad checksum in superblock (found 0x%08"
			  PRIx64 ", expected 0x%08" PRIx64 ")", v->found,
			  v->expected);
		break;
	case CACHE_SB_BAD_VERSION:
		s->unusable = 1;
		ck_report(c, id, "superblock: version is %" PRIu64
			  ", expected 1 or 2", v->found);
		break;
	case CACHE_SB_BAD_FLAGS:
		ck_report(c, id, "superblock: flags are 0x%" PRIx64
			  ", only 0x%" PRIx64 " are defined", v->found,
			  v->expected);
		break;
	case CACHE_SB_POLICY_NAME:
		ck_report(c, id, "superblock: policy name has no NUL within "
			  "%u bytes", CACHE_POLICY_NAME_SIZE);
		break;
	case CACHE_SB_HINT_SIZE:
		ck_report(c, id, "superblock: policy hint size is %" PRIu64
			  ", expected a multiple of 4 up to %" PRIu64, v->found,
			  v->expected);
		break;
	case CACHE_SB_SM_NR_BLOCKS:
		c->sb_reported_nr_blocks = 1;
		ck_report(c, id, "superblock: the space map covers %" PRIu64
			  " blocks, the device has %" PRIu64 " (truncated?)",
			  v->found, v->expected);
		break;
	case CACHE_SB_ROOT_RANGE:
		s->bad_roots |= root_bit(v->field);
		ck_report(c, id, "superblock: %s is %" PRIu64
			  ", past the end of the metadata (%" PRIu64 " blocks)",
			  v->field, v->found, v->expected);
		break;
	case CACHE_SB_DIRTY_ROOT:
		s->bad_roots |= ROOT_DIRTY;
		ck_report(c, id, "superblock: version 2 but dirty_root is 0");
		break;
	default:
		ck_report(c, id, "superblock: %s is %" PRIu64 ", expected %"
			  PRIu64, v->field, v->found, v->expected);
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

	ck_pass(c, "examining superblock");
	if (c->io->nr_blocks < 1) {
		ck_report(c, CACHE_P_SB_UNREADABLE,
			  "Metadata device/file too small.  Is this binary "
			  "metadata? (the device holds %" PRIu64
			  " bytes, less than one %u-byte block)",
			  c->io->size_bytes, PD_BLOCK_SIZE);
		return 0;
	}
	memset(&f, 0, sizeof(f));
	r = pd_bm_read_lock(c->bm, CACHE_SB_LOCATION, NULL, &b, &f);
	if (r < 0) {
		ck_report(c, CACHE_P_SB_UNREADABLE, "superblock: %s",
			  pd_strerror(r));
		return 0;
	}
	memcpy(c->sb_raw, pd_block_data(b), PD_BLOCK_SIZE);
	pd_bm_unlock(b);

	if (pd_block_data_is_zero(c->sb_raw)) {
		ck_report(c, CACHE_P_SB_MAGIC,
			  "superblock: block 0 is all zeros (no metadata, or a "
			  "restore that failed)");
		return 0;
	}
	cache_sb_unpack(c->sb_raw, &c->sb);
	cache_sb_check(&c->sb, c->sb_raw, c->io->nr_blocks, sb_violation, s);
	if (s->unusable)
		return 0;
	c->res->data_block_size = c->sb.data_block_size;
	/*
	 * Version 2 metadata under a version 1 superblock: v2 mapping entries
	 * hold no dirty flag, so read as v1 every dirty block looks clean and
	 * the kernel would drop the dirty data on activation.  The kernel
	 * leaves dirty_root 0 in v1, and so does every writer; when it is
	 * set, pass 3 reads it as the dirty bitset it is.  With dirty_root
	 * cleared too, pass 6 looks for the bitset among the leaked blocks
	 * (find_orphan_dirty_bitset).
	 */
	if (c->sb.version < 2 && c->sb.dirty_root) {
		ck_report(c, CACHE_P_SB_V1_DIRTY_BITSET,
			  "superblock: version 1 but dirty_root is %" PRIu64
			  ": version 2 metadata labelled version 1 (read as "
			  "version 1, every dirty block looks clean)",
			  c->sb.dirty_root);
		if (c->sb.dirty_root >= c->io->nr_blocks)
			s->bad_roots |= ROOT_DIRTY;
	}
	if (c->sb.flags & CACHE_SB_NEEDS_CHECK)
		ck_report(c, CACHE_P_SB_NEEDS_CHECK,
			  "superblock: NEEDS_CHECK is set (the kernel refuses "
			  "to load it read-write until it is cleared)");
	if (!(c->sb.flags & CACHE_SB_CLEAN_SHUTDOWN))
		ck_report(c, CACHE_P_SB_NOT_CLEAN,
			  "superblock: CLEAN_SHUTDOWN is clear (the kernel "
			  "will treat every mapping as dirty)");
	return 1;
}

/* ---- origin set ---- */

static int origin_set_init(struct origin_set *o, uint64_t cache_blocks)
{
	memset(o, 0, sizeof(*o));
	/* 16 MiB of bitmap at least, 32 bits per cache block at most. */
	o->limit_bits = 1ull << 27;
	if (cache_blocks * 32 > o->limit_bits)
		o->limit_bits = cache_blocks * 32;
	return 0;
}

static void origin_set_release(struct origin_set *o)
{
	free(o->words);
	free(o->far);
	memset(o, 0, sizeof(*o));
}

/* Grows the bitmap to hold oblock (below limit_bits).  0 or -ENOMEM. */
static int origin_set_reserve(struct origin_set *o, uint64_t oblock)
{
	uint64_t w = oblock / 64, n;
	uint64_t *p;

	if (w < o->nr_words)
		return 0;
	n = o->nr_words ? o->nr_words : 1024;
	while (n <= w)
		n *= 2;
	p = realloc(o->words, n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p + o->nr_words, 0, (n - o->nr_words) * sizeof(*p));
	o->words = p;
	o->nr_words = n;
	return 0;
}

/* 1 if oblock was seen before, 0 if not, -ENOMEM. */
static int origin_set_add(struct origin_set *o, uint64_t oblock,
			  uint64_t cblock)
{
	if (oblock < o->limit_bits) {
		uint64_t w = oblock / 64, m = 1ull << (oblock % 64);
		int r = origin_set_reserve(o, oblock);

		if (r < 0)
			return r;
		if (o->words[w] & m)
			return 1;
		o->words[w] |= m;
		return 0;
	}
	if (o->nr_far == o->cap_far) {
		size_t n = o->cap_far ? o->cap_far * 2 : 256;
		struct far_origin *p = realloc(o->far, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		o->far = p;
		o->cap_far = n;
	}
	o->far[o->nr_far].oblock = oblock;
	o->far[o->nr_far].cblock = cblock;
	o->nr_far++;
	return 0;
}

static int cmp_far(const void *a, const void *b)
{
	const struct far_origin *x = a, *y = b;

	if (x->oblock != y->oblock)
		return x->oblock < y->oblock ? -1 : 1;
	return x->cblock < y->cblock ? -1 : x->cblock > y->cblock;
}

static void origin_set_finish(struct checker *c)
{
	struct origin_set *o = &c->origins;

	if (o->nr_far < 2)
		return;
	qsort(o->far, o->nr_far, sizeof(*o->far), cmp_far);
	for (size_t i = 1; i < o->nr_far; i++)
		if (o->far[i].oblock == o->far[i - 1].oblock)
			ck_report(c, CACHE_P_MAP_DUPLICATE,
				  "mapping array: origin block %" PRIu64
				  " is mapped by cache blocks %" PRIu64
				  " and %" PRIu64, o->far[i].oblock,
				  o->far[i - 1].cblock, o->far[i].cblock);
}

/* ---- pass 2: mappings ---- */

static int cb_mapping_values(void *ctx, uint64_t index, unsigned nr,
			     const void *values, uint64_t block)
{
	struct checker *c = ctx;
	const unsigned char *p = values;
	uint32_t allowed = CACHE_M_VALID |
			   (c->sb.version < 2 ? CACHE_M_DIRTY : 0);
	uint64_t top = 0;
	int r;

	/*
	 * Origin blocks are scattered over a bitmap of up to hundreds of MiB,
	 * so nearly every test is a cache miss: grow the bitmap once for the
	 * whole array block, then start all its loads before using any, so
	 * that the misses overlap instead of queueing.
	 */
	for (unsigned i = 0; i < nr; i++) {
		uint64_t v = load_le64(p + 8 * (size_t)i);
		uint64_t ob = cache_mapping_oblock(v);

		if ((v & CACHE_M_VALID) && ob < c->origins.limit_bits && ob > top)
			top = ob;
	}
	r = origin_set_reserve(&c->origins, top);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < nr; i++) {
		uint64_t v = load_le64(p + 8 * (size_t)i);
		uint64_t ob = cache_mapping_oblock(v);

		if ((v & CACHE_M_VALID) && ob < c->origins.limit_bits)
			__builtin_prefetch(&c->origins.words[ob / 64], 1);
	}
	for (unsigned i = 0; i < nr; i++, p += 8) {
		uint64_t v = load_le64(p), cblock = index + i;
		uint32_t flags = cache_mapping_flags(v);
		uint64_t oblock = cache_mapping_oblock(v);

		if (flags & ~allowed) {
			ck_report(c, CACHE_P_MAP_FLAGS,
				  "mapping array: cache block %" PRIu64
				  " (array block %" PRIu64 "): flags 0x%x, "
				  "version %u allows only 0x%x", cblock, block,
				  flags, c->sb.version, allowed);
			/* An unknown bit says the entry is garbage: skip it. */
			continue;
		}
		if (!(flags & CACHE_M_VALID)) {
			if (v)
				ck_report(c, CACHE_P_MAP_UNMAPPED,
					  "mapping array: unmapped cache "
					  "block %" PRIu64 " holds 0x%016"
					  PRIx64 ", expected 0", cblock, v);
			continue;
		}
		if (cblock < c->mapped.nr_bits)
			base_bitmap_set(&c->mapped, cblock);
		if (c->origin_blocks && oblock >= c->origin_blocks)
			ck_report(c, CACHE_P_MAP_ORIGIN_RANGE,
				  "mapping array: cache block %" PRIu64
				  " maps origin block %" PRIu64
				  ", past the origin's %" PRIu64 " blocks",
				  cblock, oblock, c->origin_blocks);
		r = origin_set_add(&c->origins, oblock, cblock);
		if (r < 0)
			return r;
		if (r)
			ck_report(c, CACHE_P_MAP_DUPLICATE,
				  "mapping array: origin block %" PRIu64
				  " is mapped twice (again by cache block %"
				  PRIu64 ")", oblock, cblock);
	}
	return 0;
}

static int cb_mapping_damage(void *ctx, const struct pd_array_damage *d)
{
	struct checker *c = ctx;
	uint64_t end = d->index_end;

	if (end > c->map_lost.nr_bits)
		end = c->map_lost.nr_bits;
	if (d->index_begin < end)
		base_bitmap_set_range(&c->map_lost, d->index_begin, end);
	return cb_array_damage(ctx, d);
}

/*
 * The most entries of value_size bytes the metadata can hold: a length
 * past it cannot be right, and sizing memory by it would let one corrupt
 * field exhaust memory.
 */
static uint64_t max_entries(struct checker *c, uint32_t value_size)
{
	return c->nr_refs * (uint64_t)pd_array_entries_per_block(value_size);
}

static int pass_mappings(struct checker *c)
{
	static const struct pd_array_walk_ops ops = {
		.values = cb_mapping_values,
		.damage = cb_mapping_damage,
		.block_ref = cb_block_ref,
	};
	const struct cache_sb *sb = &c->sb;
	uint64_t n = sb->cache_blocks;
	int r;

	ck_pass(c, "examining mapping array");
	c->structure = "mapping array";
	if (n > max_entries(c, 8)) {
		ck_report(c, CACHE_P_ARRAY_MISSING,
			  "mapping array: cache_blocks is %" PRIu64
			  ", more than %" PRIu64 " metadata blocks can hold",
			  n, c->nr_refs);
		c->refs_incomplete = 1;
		return 0;
	}
	r = base_bitmap_init(&c->mapped, n);
	if (!r)
		r = base_bitmap_init(&c->map_lost, n);
	if (!r)
		r = origin_set_init(&c->origins, n);
	if (r)
		return r;
	if (sb->discard_block_size && sb->discard_nr_blocks &&
	    sb->data_block_size && (sb->flags & CACHE_SB_CLEAN_SHUTDOWN) &&
	    sb->discard_nr_blocks <= UINT64_MAX / sb->discard_block_size) {
		uint64_t sectors = sb->discard_block_size * sb->discard_nr_blocks;

		/* Rounded up: the discard blocks may overhang the origin. */
		c->origin_blocks = sectors / sb->data_block_size +
				   !!(sectors % sb->data_block_size);
	}
	r = pd_array_walk(c->bm, sb->mapping_root, n, 8, PD_WALK_PREFETCH, &ops,
			  c);
	if (r < 0)
		return r;
	origin_set_finish(c);
	c->mappings_walked = 1;
	return 0;
}

/* ---- pass 3: dirty bitset ---- */

/*
 * Dirty bits of the bitset words [index, index + nr) that fall on mapped
 * cache blocks (on every block when the mappings were not walked); bits
 * past the cache's n blocks are padding.
 */
uint64_t ck_dirty_mapped(const struct checker *c, uint64_t n, uint64_t index,
			 unsigned nr, const unsigned char *le_words,
			 const uint64_t *words)
{
	uint64_t count = 0;

	for (unsigned i = 0; i < nr; i++) {
		uint64_t w = index + i;
		uint64_t x = le_words ? load_le64(le_words + 8 * (size_t)i)
				      : words[i];

		if (w >= (n + 63) / 64)
			break;
		if (w == n / 64)
			x &= (1ull << (n % 64)) - 1;
		if (c->mappings_walked)
			x &= c->mapped.words[w];
		count += (uint64_t)__builtin_popcountll(x);
	}
	return count;
}

static int pass_dirty(struct checker *c)
{
	static const struct pd_array_walk_ops ops = {
		.damage = cb_array_damage,
		.block_ref = cb_block_ref,
	};
	struct base_bitmap bits = { 0 }, lost = { 0 };
	uint64_t n = c->sb.cache_blocks, count = 0, first = 0;
	char note[160];
	int r;

	ck_pass(c, "examining dirty bitset");
	c->structure = "dirty bitset";
	if ((n + 63) / 64 > max_entries(c, 8)) {
		c->refs_incomplete = 1;
		return 0;	/* pass 2 reported the impossible length */
	}
	r = pd_bitset_read(c->bm, c->sb.dirty_root, n, PD_WALK_PREFETCH, &ops, c,
			   &bits, &lost);
	if (r < 0)
		return r;
	if (c->sb.version < 2) {
		/* Pass 1 reported sb-v1-dirty-bitset: say what is at stake. */
		snprintf(note, sizeof(note),
			 "  (read as version 1, the %" PRIu64 " mapped cache "
			 "blocks this bitset marks dirty would be taken as "
			 "clean)", ck_dirty_mapped(c, n, 0,
						 (unsigned)((n + 63) / 64),
						 NULL, bits.words));
		ck_pass(c, note);
	}
	if (c->mappings_walked) {
		uint64_t words = (n + 63) / 64;

		for (uint64_t w = 0; w < words; w++) {
			uint64_t x = bits.words[w] & ~c->mapped.words[w] &
				     ~c->map_lost.words[w];

			if (w == words - 1 && n % 64)
				x &= (1ull << (n % 64)) - 1;
			if (!x)
				continue;
			if (!count)
				first = w * 64 + (uint64_t)__builtin_ctzll(x);
			count += (uint64_t)__builtin_popcountll(x);
		}
	}
	if (count)
		ck_report(c, CACHE_P_DIRTY_UNMAPPED,
			  "dirty bitset: %" PRIu64 " unmapped cache blocks are "
			  "marked dirty (the first is %" PRIu64 ")", count,
			  first);
	base_bitmap_release(&bits);
	base_bitmap_release(&lost);
	return 0;
}

/* ---- pass 4: hints ---- */

static int pass_hints(struct checker *c)
{
	static const struct pd_array_walk_ops ops = {
		.damage = cb_array_damage,
		.block_ref = cb_block_ref,
	};
	uint64_t n = c->sb.cache_blocks;
	uint32_t width = cache_sb_hint_width(&c->sb);

	if (!c->sb.hint_root) {
		ck_pass(c, "no hint array present");
		return 0;
	}
	ck_pass(c, "examining hint array");
	c->structure = "hint array";
	if (!width) {
		ck_report(c, CACHE_P_HINT_WIDTH,
			  "hint array: root %" PRIu64
			  " present but the hint width is 0", c->sb.hint_root);
		c->refs_incomplete = 1;
		return 0;
	}
	if (width % 4 || width > CACHE_MAX_HINT_SIZE ||
	    n > max_entries(c, width)) {
		c->refs_incomplete = 1;	/* pass 1 or 2 said why */
		return 0;
	}
	return pd_array_walk(c->bm, c->sb.hint_root, n, width, PD_WALK_PREFETCH,
			     &ops, c);
}

/* ---- pass 5: discards ---- */

static int pass_discards(struct checker *c)
{
	static const struct pd_array_walk_ops ops = {
		.damage = cb_array_damage,
		.block_ref = cb_block_ref,
	};
	uint64_t words = c->sb.discard_nr_blocks / 64 +
			 !!(c->sb.discard_nr_blocks % 64);

	if (!c->sb.discard_root) {
		ck_pass(c, "no discard bitset present");
		return 0;
	}
	ck_pass(c, "examining discard bitset");
	c->structure = "discard bitset";
	if (words > max_entries(c, 8)) {
		ck_report(c, CACHE_P_ARRAY_MISSING,
			  "discard bitset: discard_nr_blocks is %" PRIu64
			  ", more than %" PRIu64 " metadata blocks can hold",
			  c->sb.discard_nr_blocks, c->nr_refs);
		c->refs_incomplete = 1;
		return 0;
	}
	return pd_array_walk(c->bm, c->sb.discard_root, words, 8,
			     PD_WALK_PREFETCH, &ops, c);
}

/* ---- the driver ---- */

int cache_check(struct pd_io *io, const struct cache_check_opts *opts,
		const struct cache_check_sink *sink,
		struct cache_check_result *res)
{
	static const struct cache_check_sink no_sink;
	struct checker *c;
	struct sb_state s = { 0 };
	struct sm_result smr;
	int have_sm = 0, r;

	memset(res, 0, sizeof(*res));
	memset(&smr, 0, sizeof(smr));
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->io = io;
	c->opts = opts;
	c->sink = sink ? sink : &no_sink;
	c->res = res;
	c->rep = (struct pd_report){
		.nr_ids = CACHE_NR_PROBLEMS, .fatal = problem_is_fatal,
		.counts = res->counts, .pass_counts = c->pass_counts,
		.nr_fatal = &res->nr_fatal, .nr_warn = &res->nr_warn,
		.max_reports = opts->max_reports ? opts->max_reports
						 : DEFAULT_MAX_REPORTS,
		.mute_warnings = !!(opts->flags & CACHE_CHECK_IGNORE_WARNINGS),
		.emit = emit, .emit_more = emit_more,
		.ctx = (void *)c->sink,
	};
	s.c = c;
	r = pd_bm_create(io, BM_CACHE_BLOCKS, &c->bm);
	if (r < 0)
		goto out_free;

	if (!pass_superblock(c, &s) || (opts->flags & CACHE_CHECK_SB_ONLY)) {
		end_pass(c);
		if (!(opts->flags & CACHE_CHECK_SB_ONLY) || res->nr_fatal)
			goto out_bm;
		r = ck_write(c, NULL);
		goto out_bm;
	}
	end_pass(c);

	/* What the space map covers and the device holds. */
	c->nr_refs = c->sb.sm_root.nr_blocks;
	if (c->nr_refs > io->nr_blocks)
		c->nr_refs = io->nr_blocks;
	if (c->nr_refs > PD_SM_MAX_METADATA_BLOCKS)
		c->nr_refs = PD_SM_MAX_METADATA_BLOCKS;
	c->refs = calloc(c->nr_refs ? c->nr_refs : 1, sizeof(*c->refs));
	if (!c->refs) {
		r = -ENOMEM;
		goto out_bm;
	}
	c->structure = "superblock";
	ck_ref_inc(c, CACHE_SB_LOCATION);

	if ((opts->flags & CACHE_CHECK_SKIP_MAPPINGS) ||
	    (s.bad_roots & ROOT_MAPPING)) {
		c->refs_incomplete = 1;
	} else {
		r = pass_mappings(c);
		end_pass(c);
		if (r < 0)
			goto out_bm;
	}
	if (c->sb.version >= 2 || c->sb.dirty_root) {
		/* In v1, a dirty_root is version 2 metadata: read it. */
		if (s.bad_roots & ROOT_DIRTY) {
			c->refs_incomplete = 1;
		} else {
			r = pass_dirty(c);
			end_pass(c);
			if (r < 0)
				goto out_bm;
		}
	}
	if ((opts->flags & CACHE_CHECK_SKIP_HINTS) || (s.bad_roots & ROOT_HINT)) {
		c->refs_incomplete = 1;
	} else {
		r = pass_hints(c);
		end_pass(c);
		if (r < 0)
			goto out_bm;
	}
	if ((opts->flags & CACHE_CHECK_SKIP_DISCARDS) ||
	    (s.bad_roots & ROOT_DISCARD)) {
		c->refs_incomplete = 1;
	} else {
		r = pass_discards(c);
		end_pass(c);
		if (r < 0)
			goto out_bm;
	}
	if (!(s.bad_roots & ROOT_SM)) {
		r = ck_pass_space_map(c, &smr);
		have_sm = 1;
		end_pass(c);
		if (r < 0)
			goto out_bm;
	}
	r = ck_write(c, have_sm ? &smr : NULL);
out_bm:
	ck_sm_result_release(&smr);
	base_bitmap_release(&c->mapped);
	base_bitmap_release(&c->map_lost);
	origin_set_release(&c->origins);
	free(c->refs);
	pd_bm_destroy(c->bm);
out_free:
	free(c);
	return r;
}
