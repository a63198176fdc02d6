// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Reading the metadata space map into a flat array of reference counts
 * (FORMAT.md §4.1-4.5), for the checker to compare with the counts it
 * rebuilds by walking every structure.
 *
 * Order: the index block, then every bitmap it names (prefetched together),
 * decoded a le64 word (32 entries) at a time, then the overflow btree, which
 * must hold exactly the blocks whose bitmap entry is 3.  A temporary bitmap
 * of "bitmap said 3, no overflow entry yet" blocks finds the missing ones at
 * the end.  Wherever a count cannot be learnt it is left 0 and marked in
 * `unknown`, so the checker can skip those blocks rather than report
 * thousands of bogus mismatches behind one bad bitmap.
 *
 * Two-bit counts (base/refcount.h) can be had three ways: all of them
 * (free words never stored, so a large free map costs no page); only in
 * the chunks a checker counted references in (_only: an incomplete check
 * judges nothing else); or only the words that differ from the checker's
 * counts, compared as each bitmap is read (_diff: a complete check of a
 * sound pool stores nothing).  Reports are the same whichever way.
 */
#include "pdata/sm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "base/refcount.h"

const char *pd_sm_problem_name(enum pd_sm_problem p)
{
	switch (p) {
	case PD_SM_NR_BLOCKS:
		return "space map larger than the device";
	case PD_SM_INDEX:
		return "bad space map index block";
	case PD_SM_INDEX_ENTRY:
		return "bad space map index entry";
	case PD_SM_BITMAP:
		return "bad space map bitmap";
	case PD_SM_OVERFLOW:
		return "damaged reference count tree";
	case PD_SM_OVERFLOW_MISSING:
		return "reference count missing from the overflow tree";
	case PD_SM_OVERFLOW_EXTRA:
		return "overflow entry for a block whose bitmap count is not 3";
	case PD_SM_OVERFLOW_LOW:
		return "overflow entry holds a count below 3";
	}
	return "unknown space map problem";
}

struct smread {
	struct pd_bm *bm;
	const struct pd_sm_read_ops *ops;
	void *ctx;
	uint64_t nr;		/* blocks covered, capped */
	uint32_t *counts;	/* one of these two holds the counts */
	struct base_refcount *rc;
	struct base_bitmap *unknown;
	struct base_bitmap pending;	/* bitmap 3, overflow entry not seen */
	/*
	 * Every bit of pending lies in [pend_lo, pend_hi): the searches stay
	 * there rather than read a bitmap of millions of blocks, nearly all
	 * free, page by page.
	 */
	uint64_t pend_lo, pend_hi;
	/*
	 * Counts are stored only in the chunks keep has touched (all, when
	 * NULL); kept_bn[] (the bitmap of each 16,320 blocks, when keep is
	 * set) finds a count that was not stored when a message needs it.
	 */
	const struct base_refcount *keep;
	uint64_t *kept_bn;
	/*
	 * Or: counts are stored only in the words that differ from ref's (or
	 * hold a 3), marked in differs; in_use counts the blocks in use as
	 * read, less those lost after (pd_sm_read_disk_rc_diff).
	 */
	const struct base_refcount *ref;
	struct base_bitmap *differs;
	uint64_t in_use;
};

static void mark_pending(struct smread *s, uint64_t k)
{
	base_bitmap_set(&s->pending, k);
	if (k < s->pend_lo)
		s->pend_lo = k;
	if (k >= s->pend_hi)
		s->pend_hi = k + 1;
}

/* [b, e) clipped to where pending bits can be; empty: b >= e. */
static void clip_pending(const struct smread *s, uint64_t *b, uint64_t *e)
{
	if (*b < s->pend_lo)
		*b = s->pend_lo;
	if (*e > s->pend_hi)
		*e = s->pend_hi;
}

static int report(struct smread *s, struct pd_sm_damage *d)
{
	return s->ops && s->ops->damage ? s->ops->damage(s->ctx, d) : 0;
}

static int own_ref(struct smread *s, uint64_t block)
{
	return s->ops && s->ops->own_block_ref ?
		       s->ops->own_block_ref(s->ctx, block) : 0;
}

static void init_damage(struct pd_sm_damage *d, enum pd_sm_problem p,
			uint64_t begin, uint64_t end)
{
	memset(d, 0, sizeof(*d));
	d->problem = p;
	d->block_begin = begin;
	d->block_end = end;
}

static void set_field(struct pd_fault *f, uint64_t block, const char *validator,
		      const char *what, uint64_t found, uint64_t expected)
{
	f->block = block;
	f->validator = validator;
	f->kind = PD_FAULT_HEADER;
	f->what = what;
	f->found = found;
	f->expected = expected;
	f->err = -EUCLEAN;
}

/* Counts in [b, e) cannot be trusted. */
static void lose(struct smread *s, uint64_t b, uint64_t e)
{
	if (e > s->nr)
		e = s->nr;
	if (b >= e)
		return;
	base_bitmap_set_range(s->unknown, b, e);
	{
		uint64_t pb = b, pe = e;

		clip_pending(s, &pb, &pe);
		if (pb < pe)
			base_bitmap_clear_range(&s->pending, pb, pe);
	}
	if (s->rc)
		base_refcount_clear_range(s->rc, b, e);
	else
		memset(s->counts + b, 0, (e - b) * sizeof(*s->counts));
}

static uint32_t get_count(const struct smread *s, uint64_t k)
{
	return s->rc ? base_refcount_get(s->rc, k) : s->counts[k];
}

/* Whether the counts of word w (of 32 blocks) are stored. */
static int keeps_word(const struct smread *s, uint64_t w)
{
	uint64_t c = w / BASE_REFCOUNT_CHUNK_WORDS;

	return !s->keep || (c < base_refcount_nr_chunks(s->keep) &&
			    base_refcount_chunk_touched(s->keep, c));
}

/*
 * Block k's count as its bitmap (read, not lost) gave it, or with an
 * overflow count already applied: from the counts, or from the bitmap
 * again where the counts were not kept.  0 or the read's error.
 */
static int bitmap_count(struct smread *s, uint64_t k, uint32_t *v)
{
	struct pd_block *blk;
	int r;

	if (s->differs &&
	    !base_bitmap_test(s->differs, k / BASE_REFCOUNT_PER_WORD)) {
		*v = base_refcount_get2(s->ref, k);	/* the same, not 3 */
		return 0;
	}
	if (!s->rc || keeps_word(s, k / BASE_REFCOUNT_PER_WORD)) {
		*v = get_count(s, k);
		return 0;
	}
	r = pd_bm_read_lock(s->bm, s->kept_bn[k / PD_SM_ENTRIES_PER_BITMAP],
			    &pd_bitmap_validator, &blk, NULL);
	if (r < 0)
		return r;
	*v = pd_bitmap_get(pd_block_data(blk),
			   (uint32_t)(k % PD_SM_ENTRIES_PER_BITMAP));
	pd_bm_unlock(blk);
	if (*v == 3)
		*v = get_count(s, k);	/* the overflow count, if set */
	return 0;
}

static int set_count(struct smread *s, uint64_t k, uint32_t v)
{
	if (s->rc)
		return base_refcount_set(s->rc, k, v);
	s->counts[k] = v;
	return 0;
}

/* 64 bytes (8 words: 256 entries) of free blocks. */
static int free_run(const unsigned char *p)
{
	uint64_t v[8];

	memcpy(v, p, sizeof(v));
	return !(v[0] | v[1] | v[2] | v[3] | v[4] | v[5] | v[6] | v[7]);
}

/*
 * A whole bitmap's entries: the OR of its words, or of their 3s (both
 * bits of an entry set), 16 bytes a step (a GNU vector type, as gcc and
 * clang both have it: x86-64's baseline SSE2); most bitmaps of a large
 * metadata space map are free.
 */
#define BITMAP_WORDS (PD_SM_ENTRIES_PER_BITMAP / BASE_REFCOUNT_PER_WORD)
_Static_assert(BITMAP_WORDS % 2 == 0, "bitmap words in pairs");

typedef uint64_t word_pair __attribute__((vector_size(16)));

static uint64_t bitmap_or(const unsigned char *p)
{
	word_pair acc = { 0, 0 };

	for (unsigned i = 0; i < BITMAP_WORDS / 2; i++) {
		word_pair v;

		memcpy(&v, p + 16 * (size_t)i, sizeof(v));
		acc |= v;
	}
	return acc[0] | acc[1];
}

static uint64_t bitmap_threes(const unsigned char *p)
{
	word_pair acc = { 0, 0 };

	for (unsigned i = 0; i < BITMAP_WORDS / 2; i++) {
		word_pair v;

		memcpy(&v, p + 16 * (size_t)i, sizeof(v));
		acc |= v & v >> 1;
	}
	return (acc[0] | acc[1]) & BASE_REFCOUNT_EVEN;
}

/*
 * Counts kept two bits each are the bitmap's own words: copied, with the
 * 3s (both bits set) marked pending for the overflow tree.  The counts
 * start 0 and each bitmap is copied once, so free words are not stored
 * at all: a map of millions of free blocks costs no page of counts
 * (base/refcount.h), and its free bitmaps and free runs are passed over
 * whole.  Where no count is kept (keep: the chunks a bitmap touches, two
 * at most, as it is shorter than a chunk) only the 3s are looked for.
 */
static void copy_bitmap(struct smread *s, const unsigned char *data,
			uint64_t base, uint64_t end)
{
	const unsigned char *p = data + sizeof(struct pd_bitmap_header);
	uint64_t w0 = base / BASE_REFCOUNT_PER_WORD;
	uint64_t nw = (end - base + BASE_REFCOUNT_PER_WORD - 1) /
		      BASE_REFCOUNT_PER_WORD;
	unsigned tail = (unsigned)((end - base) % BASE_REFCOUNT_PER_WORD);
	uint64_t last_mask = tail ? (1ull << (2 * tail)) - 1 : ~0ull;
	int first = keeps_word(s, w0), last = keeps_word(s, w0 + nw - 1);

	if (nw == BITMAP_WORDS &&
	    !(first || last ? bitmap_or(p) : bitmap_threes(p)))
		return;
	for (uint64_t w = 0; w < nw; w++) {
		uint64_t x, threes;

		if (w % 8 == 0 && w + 8 <= nw && free_run(p + 8 * w)) {
			w += 7;
			continue;
		}
		x = load_le64(p + 8 * w);
		if (w == nw - 1)
			x &= last_mask;
		if (!x)
			continue;
		if (first == last ? first : keeps_word(s, w0 + w))
			base_refcount_store_word(s->rc, w0 + w, x);
		threes = x & (x >> 1) & BASE_REFCOUNT_EVEN;
		for (; threes; threes &= threes - 1)
			mark_pending(s, base + w * BASE_REFCOUNT_PER_WORD +
					       (unsigned)__builtin_ctzll(threes) / 2);
	}
}

/* ref's word w, 0 past its end or in a chunk it never wrote. */
static uint64_t ref_word(const struct smread *s, uint64_t w)
{
	const struct base_refcount *r = s->ref;

	if (w >= base_refcount_nr_words(r) ||
	    !base_refcount_chunk_touched(r, w / BASE_REFCOUNT_CHUNK_WORDS))
		return 0;
	return r->words[w];
}

/*
 * The bitmap against ref as it is read: a word equal to ref's (and
 * without a 3) is counted in use and left at that; any other is stored
 * and marked in differs.  No page of counts is written where the map
 * agrees with the checker, which for a sound pool is everywhere.
 */
static void diff_bitmap(struct smread *s, const unsigned char *data,
			uint64_t base, uint64_t end)
{
	const unsigned char *p = data + sizeof(struct pd_bitmap_header);
	uint64_t w0 = base / BASE_REFCOUNT_PER_WORD;
	uint64_t nw = (end - base + BASE_REFCOUNT_PER_WORD - 1) /
		      BASE_REFCOUNT_PER_WORD;
	unsigned tail = (unsigned)((end - base) % BASE_REFCOUNT_PER_WORD);
	uint64_t last_mask = tail ? (1ull << (2 * tail)) - 1 : ~0ull;

	for (uint64_t w = 0; w < nw; w++) {
		uint64_t x = load_le64(p + 8 * w), threes;

		if (w == nw - 1)
			x &= last_mask;
		threes = x & (x >> 1) & BASE_REFCOUNT_EVEN;
		s->in_use += base_refcount_word_nonzero(x);
		if (x == ref_word(s, w0 + w) && !threes)
			continue;
		base_bitmap_set(s->differs, w0 + w);
		base_refcount_store_word(s->rc, w0 + w, x);
		for (; threes; threes &= threes - 1)
			mark_pending(s, base + w * BASE_REFCOUNT_PER_WORD +
					       (unsigned)__builtin_ctzll(threes) / 2);
	}
}

static void decode_bitmap(struct smread *s, const unsigned char *data,
			  uint64_t base)
{
	uint64_t end = base + PD_SM_ENTRIES_PER_BITMAP;

	if (end > s->nr)
		end = s->nr;
	if (s->differs) {
		diff_bitmap(s, data, base, end);
		return;
	}
	if (s->rc) {
		copy_bitmap(s, data, base, end);
		return;
	}
	for (unsigned w = 0; base < end; w++, base += 32) {
		uint64_t x = load_le64(data + sizeof(struct pd_bitmap_header) +
				       8 * (size_t)w);
		unsigned n = end - base < 32 ? (unsigned)(end - base) : 32;

		if (!x)
			continue;	/* 32 free blocks: counts stay 0 */
		for (unsigned k = 0; k < n; k++, x >>= 2) {
			/* The even bit carries 2, the odd bit 1. */
			uint32_t c = (uint32_t)(((x & 1) << 1) | ((x >> 1) & 1));

			s->counts[base + k] = c;
			if (c == 3)
				mark_pending(s, base + k);
		}
	}
}

/*
 * Reads bitmaps bn[0..nb) (0 = no entry: lost; UINT64_MAX = lost and
 * already reported), prefetched together.
 * index_block names the structure that pointed at them, for messages.
 */
static int read_bitmap_list(struct smread *s, const uint64_t *bn, uint64_t nb,
			    uint64_t index_block, const char *index_name)
{
	uint64_t dev = pd_bm_nr_blocks(s->bm);
	struct pd_sm_damage d;
	struct pd_block *blk;
	int r;

	for (uint64_t i = 0; i < nb; i += 256)
		pd_bm_prefetch(s->bm, bn + i,
			       (unsigned)(nb - i < 256 ? nb - i : 256));
	for (uint64_t i = 0; i < nb; i++) {
		uint64_t base = i * PD_SM_ENTRIES_PER_BITMAP;
		uint64_t end = base + PD_SM_ENTRIES_PER_BITMAP;

		if (bn[i] == UINT64_MAX)
			continue;	/* lost with its index node: reported */
		if (bn[i] == 0 || bn[i] >= dev) {
			init_damage(&d, PD_SM_INDEX_ENTRY, base,
				    end < s->nr ? end : s->nr);
			set_field(&d.fault, index_block, index_name,
				  "bitmap blocknr", bn[i], dev);
			d.fault.kind = bn[i] ? PD_FAULT_RANGE : PD_FAULT_HEADER;
			lose(s, base, end);
			r = report(s, &d);
			if (r)
				return r;
			continue;
		}
		r = own_ref(s, bn[i]);
		if (r)
			return r;
		init_damage(&d, PD_SM_BITMAP, base, end < s->nr ? end : s->nr);
		r = pd_bm_read_lock(s->bm, bn[i], &pd_bitmap_validator, &blk,
				    &d.fault);
		if (r == -ENOMEM || r == -EBUSY)
			return r;
		if (r < 0) {
			lose(s, base, end);
			r = report(s, &d);
			if (r)
				return r;
			continue;
		}
		decode_bitmap(s, pd_block_data(blk), base);
		pd_bm_unlock(blk);
	}
	return 0;
}

static int read_bitmaps(struct smread *s, uint64_t index_block)
{
	uint64_t nb = s->nr / PD_SM_ENTRIES_PER_BITMAP +
		      (s->nr % PD_SM_ENTRIES_PER_BITMAP != 0);
	uint64_t bn[PD_SM_MAX_INDEX_ENTRIES];
	const struct pd_index_block *ix;
	struct pd_sm_damage d;
	struct pd_block *blk;
	int r;

	init_damage(&d, PD_SM_INDEX, 0, s->nr);
	if (index_block == 0) {
		/* Block 0 is the superblock: never an index. */
		set_field(&d.fault, 0, pd_index_validator.name, "bitmap_root",
			  0, 1);
		lose(s, 0, s->nr);
		return report(s, &d);
	}
	r = own_ref(s, index_block);
	if (r)
		return r;
	r = pd_bm_read_lock(s->bm, index_block, &pd_index_validator, &blk,
			    &d.fault);
	if (r == -ENOMEM || r == -EBUSY)
		return r;
	if (r < 0) {
		lose(s, 0, s->nr);
		return report(s, &d);
	}
	ix = pd_block_data(blk);
	for (uint64_t i = 0; i < nb; i++)
		bn[i] = le64_to_cpu(ix->entries[i].blocknr);
	pd_bm_unlock(blk);
	if (s->kept_bn)
		memcpy(s->kept_bn, bn, nb * sizeof(*bn));
	return read_bitmap_list(s, bn, nb, index_block,
				pd_index_validator.name);
}

/* ---- the disk space map's index: a btree of index entries ---- */

struct disk_index {
	struct smread *s;
	uint64_t *bn;
	uint64_t nb;
};

static int di_leaf(void *ctx, uint64_t block, unsigned nr, const void *keys,
		   const void *values, int counted)
{
	struct disk_index *x = ctx;
	const unsigned char *kp = keys, *vp = values;

	(void)counted;
	(void)block;
	for (unsigned i = 0; i < nr; i++) {
		uint64_t k = load_le64(kp + 8 * (size_t)i);

		/* Keys past the space map are unused: the kernel never reads them. */
		if (k < x->nb)
			x->bn[k] = load_le64(vp + 16 * (size_t)i);
	}
	return 0;
}

static int di_damage(void *ctx, const struct pd_btree_damage *bd)
{
	struct disk_index *x = ctx;
	struct smread *s = x->s;
	struct pd_sm_damage d;
	uint64_t b = bd->key_begin, e = bd->key_end;
	uint64_t bb = b > x->nb ? x->nb : b, be = e > x->nb ? x->nb : e;

	/* Bitmaps in [bb, be) stay 0: lost, without a second report. */
	for (uint64_t i = bb; i < be; i++)
		x->bn[i] = UINT64_MAX;
	init_damage(&d, PD_SM_INDEX,
		    bb * PD_SM_ENTRIES_PER_BITMAP > s->nr ?
			    s->nr : bb * PD_SM_ENTRIES_PER_BITMAP,
		    be * PD_SM_ENTRIES_PER_BITMAP > s->nr ?
			    s->nr : be * PD_SM_ENTRIES_PER_BITMAP);
	d.fault = bd->fault;
	d.btree = *bd;
	lose(s, d.block_begin, d.block_end);
	return report(s, &d);
}

static int di_node_ref(void *ctx, uint64_t block)
{
	struct disk_index *x = ctx;

	return own_ref(x->s, block);
}

static int read_disk_bitmaps(struct smread *s, uint64_t index_root)
{
	static const struct pd_btree_walk_ops ops = {
		.leaf = di_leaf,
		.damage = di_damage,
		.node_ref = di_node_ref,
	};
	struct disk_index x = { .s = s };
	int r;

	x.nb = s->nr / PD_SM_ENTRIES_PER_BITMAP +
	       (s->nr % PD_SM_ENTRIES_PER_BITMAP != 0);
	x.bn = calloc(x.nb ? x.nb : 1, sizeof(*x.bn));
	if (!x.bn)
		return -ENOMEM;
	r = pd_btree_walk(s->bm, index_root, sizeof(struct pd_index_entry),
			  PD_WALK_PREFETCH, &ops, &x);
	if (r)
		goto out;
	if (s->kept_bn)
		memcpy(s->kept_bn, x.bn, x.nb * sizeof(*x.bn));
	r = read_bitmap_list(s, x.bn, x.nb, index_root, "index btree");
out:
	free(x.bn);
	return r;
}
/* ---- the overflow tree ---- */

static int ov_leaf(void *ctx, uint64_t block, unsigned nr, const void *keys,
		   const void *values, int counted)
{
	struct smread *s = ctx;
	const unsigned char *kp = keys, *vp = values;
	struct pd_sm_damage d;
	int r;

	(void)block;
	(void)counted;	/* counts, not pointers */
	for (unsigned i = 0; i < nr; i++) {
		uint64_t k = load_le64(kp + 8 * (size_t)i);
		uint32_t v = load_le32(vp + 4 * (size_t)i);

		if (k >= s->nr) {
			init_damage(&d, PD_SM_OVERFLOW_EXTRA, k, k + 1);
			set_field(&d.fault, block, pd_btree_validator.name,
				  "key", k, s->nr);
		} else if (base_bitmap_test(s->unknown, k)) {
			continue;	/* its bitmap is lost: nothing to check */
		} else if (!base_bitmap_test(&s->pending, k)) {
			uint32_t c;

			r = bitmap_count(s, k, &c);
			if (r < 0)
				return r;
			s->in_use -= c != 0;	/* lost: no longer in use */
			init_damage(&d, PD_SM_OVERFLOW_EXTRA, k, k + 1);
			set_field(&d.fault, block, pd_btree_validator.name,
				  "bitmap count", c, 3);
			lose(s, k, k + 1);
		} else if (v < 3) {
			s->in_use--;	/* a 3, lost */
			init_damage(&d, PD_SM_OVERFLOW_LOW, k, k + 1);
			set_field(&d.fault, block, pd_btree_validator.name,
				  "count", v, 3);
			lose(s, k, k + 1);
		} else {
			r = set_count(s, k, v);
			if (r)
				return r;
			base_bitmap_clear(&s->pending, k);
			continue;
		}
		r = report(s, &d);
		if (r)
			return r;
	}
	return 0;
}

static int ov_damage(void *ctx, const struct pd_btree_damage *bd)
{
	struct smread *s = ctx;
	struct pd_sm_damage d;
	uint64_t b = bd->key_begin, e = bd->key_end;

	if (b > s->nr)
		b = s->nr;
	if (e > s->nr)
		e = s->nr;
	init_damage(&d, PD_SM_OVERFLOW, b, e);
	d.fault = bd->fault;
	d.btree = *bd;
	/* Only the blocks that needed the tree lose their counts. */
	clip_pending(s, &b, &e);
	for (uint64_t k = base_bitmap_next_set_before(&s->pending, b, e);
	     k < e; k = base_bitmap_next_set_before(&s->pending, k + 1, e)) {
		base_bitmap_set(s->unknown, k);
		base_bitmap_clear(&s->pending, k);
		set_count(s, k, 0);	/* to 0: never allocates */
		s->in_use--;		/* a 3, lost */
	}
	return report(s, &d);
}

static int ov_node_ref(void *ctx, uint64_t block)
{
	return own_ref(ctx, block);
}

/* Runs of blocks whose bitmap said 3 and that the tree never mentioned. */
static int report_missing(struct smread *s)
{
	struct pd_sm_damage d;
	uint64_t b = base_bitmap_next_set_before(&s->pending, s->pend_lo,
						 s->pend_hi);
	int r;

	while (b < s->pend_hi) {
		uint64_t e = base_bitmap_next_clear(&s->pending, b);

		init_damage(&d, PD_SM_OVERFLOW_MISSING, b, e);
		set_field(&d.fault, b, pd_bitmap_validator.name, "count", 3, 3);
		d.fault.kind = PD_FAULT_NONE;
		lose(s, b, e);
		s->in_use -= e - b;	/* 3s, lost */
		r = report(s, &d);
		if (r)
			return r;
		b = base_bitmap_next_set_before(&s->pending, e, s->pend_hi);
	}
	return 0;
}

static int sm_read(struct pd_bm *bm, const struct pd_sm_root_cpu *root,
		   int disk, const struct pd_sm_read_ops *ops, void *ctx,
		   uint32_t **counts, struct base_refcount *rc,
		   const struct base_refcount *keep,
		   const struct base_refcount *ref, struct base_bitmap *differs,
		   uint64_t *nr_counts, struct base_bitmap *unknown)
{
	static const struct pd_btree_walk_ops bops = {
		.leaf = ov_leaf,
		.damage = ov_damage,
		.node_ref = ov_node_ref,
	};
	struct smread s = {
		.bm = bm,
		.ops = ops,
		.ctx = ctx,
		.unknown = unknown,
		.pend_lo = UINT64_MAX,
		.keep = keep,
		.ref = ref,
	};
	uint64_t cap = pd_bm_nr_blocks(bm);
	int r;

	if (counts)
		*counts = NULL;
	*nr_counts = 0;
	memset(unknown, 0, sizeof(*unknown));
	if (disk)
		cap = cap > UINT64_MAX / PD_SM_ENTRIES_PER_BITMAP ?
			      UINT64_MAX : cap * PD_SM_ENTRIES_PER_BITMAP;
	else if (cap > PD_SM_MAX_METADATA_BLOCKS)
		cap = PD_SM_MAX_METADATA_BLOCKS;
	s.nr = root->nr_blocks;
	if (s.nr > cap)
		s.nr = cap;

	if (rc) {
		r = base_refcount_init(rc, s.nr);
		if (r < 0)
			return r;
		s.rc = rc;
	} else {
		s.counts = calloc(s.nr ? s.nr : 1, sizeof(*s.counts));
		if (!s.counts)
			return -ENOMEM;
	}
	r = base_bitmap_init(unknown, s.nr);
	if (r < 0)
		goto out_counts;
	r = base_bitmap_init(&s.pending, s.nr);
	if (r < 0)
		goto out_unknown;
	if (keep) {
		s.kept_bn = calloc(s.nr / PD_SM_ENTRIES_PER_BITMAP + 1,
				   sizeof(*s.kept_bn));
		r = -ENOMEM;
		if (!s.kept_bn)
			goto out_pending;
	}
	if (ref) {
		r = base_bitmap_init(differs, s.nr / BASE_REFCOUNT_PER_WORD + 1);
		if (r < 0)
			goto out_pending;
		s.differs = differs;
	}

	if (root->nr_blocks > s.nr) {
		struct pd_sm_damage d;

		init_damage(&d, PD_SM_NR_BLOCKS, s.nr, root->nr_blocks);
		set_field(&d.fault, 0, "space map root", "nr_blocks",
			  root->nr_blocks, s.nr);
		r = report(&s, &d);
		if (r)
			goto out_pending;
	}
	if (disk)
		r = read_disk_bitmaps(&s, root->bitmap_root);
	else
		r = read_bitmaps(&s, root->bitmap_root);
	if (r)
		goto out_pending;
	r = pd_btree_walk(bm, root->ref_count_root, 4, PD_WALK_PREFETCH, &bops,
			  &s);
	if (r)
		goto out_pending;
	r = report_missing(&s);
	if (r)
		goto out_pending;

	free(s.kept_bn);
	base_bitmap_release(&s.pending);
	if (counts)
		*counts = s.counts;
	/* pd_sm_read_disk_rc_diff's in_use comes back in its place. */
	*nr_counts = ref ? s.in_use : s.nr;
	return 0;

out_pending:
	if (s.differs)
		base_bitmap_release(s.differs);
	free(s.kept_bn);
	base_bitmap_release(&s.pending);
out_unknown:
	base_bitmap_release(unknown);
out_counts:
	free(s.counts);
	if (rc)
		base_refcount_release(rc);
	return r;
}

int pd_sm_read(struct pd_bm *bm, const struct pd_sm_root_cpu *root,
	       const struct pd_sm_read_ops *ops, void *ctx, uint32_t **counts,
	       uint64_t *nr_counts, struct base_bitmap *unknown)
{
	return sm_read(bm, root, 0, ops, ctx, counts, NULL, NULL, NULL, NULL,
		       nr_counts, unknown);
}

int pd_sm_read_disk(struct pd_bm *bm, const struct pd_sm_root_cpu *root,
		    const struct pd_sm_read_ops *ops, void *ctx,
		    uint32_t **counts, uint64_t *nr_counts,
		    struct base_bitmap *unknown)
{
	return sm_read(bm, root, 1, ops, ctx, counts, NULL, NULL, NULL, NULL,
		       nr_counts, unknown);
}

int pd_sm_read_rc(struct pd_bm *bm, const struct pd_sm_root_cpu *root,
		  const struct pd_sm_read_ops *ops, void *ctx,
		  struct base_refcount *counts, struct base_bitmap *unknown)
{
	uint64_t nr;

	return sm_read(bm, root, 0, ops, ctx, NULL, counts, NULL, NULL, NULL,
		       &nr, unknown);
}

int pd_sm_read_disk_rc(struct pd_bm *bm, const struct pd_sm_root_cpu *root,
		       const struct pd_sm_read_ops *ops, void *ctx,
		       struct base_refcount *counts,
		       struct base_bitmap *unknown)
{
	uint64_t nr;

	return sm_read(bm, root, 1, ops, ctx, NULL, counts, NULL, NULL, NULL,
		       &nr, unknown);
}

int pd_sm_read_disk_rc_only(struct pd_bm *bm, const struct pd_sm_root_cpu *root,
			    const struct base_refcount *keep,
			    const struct pd_sm_read_ops *ops, void *ctx,
			    struct base_refcount *counts,
			    struct base_bitmap *unknown)
{
	uint64_t nr;

	return sm_read(bm, root, 1, ops, ctx, NULL, counts, keep, NULL, NULL,
		       &nr, unknown);
}

int pd_sm_read_disk_rc_diff(struct pd_bm *bm, const struct pd_sm_root_cpu *root,
			    const struct base_refcount *ref,
			    const struct pd_sm_read_ops *ops, void *ctx,
			    struct base_refcount *counts,
			    struct base_bitmap *differs, uint64_t *in_use,
			    struct base_bitmap *unknown)
{
	return sm_read(bm, root, 1, ops, ctx, NULL, counts, NULL, ref, differs,
		       in_use, unknown);
}
