// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_repair's engine (see repair.h for the layers and the rules); the
 * cross-check of the superblock's fields against the structures (layer 0)
 * is in repair_xcheck.c.
 *
 * Everything salvaged lives in flat in-core arrays indexed by cache block:
 * the raw mapping values, a "known" bit per index, the hints, and the
 * dirty decision.  Layer 1 (the walk) fills what it can reach; layer 2 (the
 * scan) only ever fills indices that are still unknown, so a block reached
 * from the roots always wins over a copy found lying around.  The final
 * pass turns raw values into what is written: flags cleaned up, dirty
 * decided (toward dirty), duplicate origin blocks resolved.
 */
#include "cache/repair_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/bitmap.h"
#include "base/endian.h"
#include "base/sorted.h"
#include "cache/restore.h"
#include "pdata/array.h"
#include "pdata/bitset.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"
#include "pdata/scan.h"

#define BM_CACHE_BLOCKS 512u
#define DEFAULT_POLICY "smq"
#define DEFAULT_VERSION 2u
#define MAX_DATA_BLOCK_SIZE 2097152u	/* sectors, the kernel's limit */

/* What the scan keeps of an array block. */
enum {
	ARR_PLAUSIBLE_MAP = 1 << 0,	/* vs 8, every value a mapping */
	ARR_ZERO = 1 << 1,		/* every value 0 */
	ARR_V1_DIRTY = 1 << 2,		/* some mapping has M_DIRTY */
};

struct scan_array {
	uint64_t block;
	uint32_t value_size;
	uint32_t nr;
	uint32_t kind;
};

/* One (key -> array block) entry of a leaf found by the scan. */
struct scan_entry {
	uint64_t leaf;
	uint64_t key;
	uint64_t child;
};

/* Per array-block index: the best candidate found so far. */
struct candidate {
	uint64_t block;		/* 0 = none (block 0 is the superblock) */
	unsigned score;
};

const char *cache_repair_source_name(enum cache_repair_source s)
{
	switch (s) {
	case CACHE_FROM_SB:
		return "superblock";
	case CACHE_FROM_DAMAGED_SB:
		return "damaged superblock";
	case CACHE_FROM_OPTION:
		return "command line";
	case CACHE_FROM_SCAN:
		return "scan";
	case CACHE_FROM_DEFAULT:
		return "default";
	case CACHE_FROM_STRUCTURES:
		return "structures";
	}
	return "unknown";
}

const char *cache_repair_field_name(enum cache_repair_field f)
{
	switch (f) {
	case CACHE_FIELD_VERSION:
		return "metadata version";
	case CACHE_FIELD_BLOCK_SIZE:
		return "block size";
	case CACHE_FIELD_NR_CACHE_BLOCKS:
		return "cache blocks";
	case CACHE_FIELD_POLICY:
		return "policy";
	case CACHE_FIELD_HINT_WIDTH:
		return "hint width";
	case CACHE_FIELD_FLAGS:
		return "flags";
	case CACHE_FIELD_DISCARDS:
		return "discard geometry";
	case CACHE_NR_FIELDS:
		break;
	}
	return "unknown";
}

const struct cache_repair_report *
cache_salvage_report(const struct cache_salvage *s)
{
	return &s->rep;
}

const char *cache_salvage_missing(const struct cache_salvage *s)
{
	return s->missing;
}

void cache_salvage_destroy(struct cache_salvage *s)
{
	if (!s)
		return;
	free(s->map);
	free(s->hints);
	base_bitmap_release(&s->known);
	base_bitmap_release(&s->scanned);
	base_bitmap_release(&s->dirty);
	base_bitmap_release(&s->force_dirty);
	base_bitmap_release(&s->hint_known);
	base_bitmap_release(&s->discards);
	base_bitmap_release(&s->live);
	base_bitmap_release(&s->refd);
	free(s->arrays);
	free(s->entries);
	free(s);
}

/* ---- small rules ---- */

/* A mapping value the format allows: flags VALID (and v1 DIRTY), or 0. */
static int plausible_mapping(uint64_t v)
{
	uint32_t flags = cache_mapping_flags(v);

	if (flags & ~(CACHE_M_VALID | CACHE_M_DIRTY))
		return 0;
	return (flags & CACHE_M_VALID) || v == 0;
}

static int plausible_block_size(uint64_t bs)
{
	return bs >= 1 && bs <= MAX_DATA_BLOCK_SIZE;
}

static int plausible_hint_width(uint32_t w)
{
	return w % 4 == 0 && w <= CACHE_MAX_HINT_SIZE;
}

static int plausible_policy(const struct cache_sb *sb)
{
	if (!sb->policy_name_terminated)
		return 0;
	for (const char *p = sb->policy_name; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return 0;
	return 1;
}

/* The mapping array of nr entries must fit the device. */
static uint64_t max_cache_blocks(uint64_t dev_blocks)
{
	return dev_blocks * MAP_PER_BLOCK;
}

/* Entries array block k of an array of n entries holds (0 = none). */
static uint64_t block_entries(uint64_t n, uint32_t per, uint64_t k)
{
	if (k >= div_up(n, per))
		return 0;
	return n - k * per < per ? n - k * per : per;
}

/* ---- allocation of the per-cache-block state ---- */

#define HUGE_PAGE (2u << 20)

/*
 * A zeroed array that free() takes.  The big ones (8 MiB of mappings at
 * 1M cache blocks) are written once in full, and faulting them in 4 KiB
 * at a time was a good part of a repair's time: aligned to 2 MiB and
 * marked for transparent huge pages they take a fault per 2 MiB instead.
 * The hint is only a hint: without huge pages it is an ordinary array.
 */
static void *alloc_zeroed(uint64_t n, size_t size)
{
	uint64_t bytes;
	void *p;

	if (!n)
		n = 1;
	if (n > SIZE_MAX / size)
		return NULL;
	bytes = n * size;
	if (bytes < HUGE_PAGE)
		return calloc(n, size);
	bytes = div_up(bytes, HUGE_PAGE) * HUGE_PAGE;
	if (posix_memalign(&p, HUGE_PAGE, bytes))
		return NULL;
	(void)madvise(p, bytes, MADV_HUGEPAGE);
	memset(p, 0, bytes);
	return p;
}

static int alloc_state(struct cache_salvage *s)
{
	int r;

	s->map = alloc_zeroed(s->nr, sizeof(*s->map));
	if (!s->map)
		return -ENOMEM;
	if (s->width) {
		s->hints = alloc_zeroed(s->nr, s->width);
		if (!s->hints)
			return -ENOMEM;
	}
	r = base_bitmap_init(&s->known, s->nr);
	if (!r)
		r = base_bitmap_init(&s->scanned, s->nr);
	if (!r)
		r = base_bitmap_init(&s->dirty, s->nr);
	if (!r)
		r = base_bitmap_init(&s->force_dirty, s->nr);
	if (!r)
		r = base_bitmap_init(&s->hint_known, s->nr);
	return r;
}

/* ---- layer 1: the walk ---- */

struct walk_ctx {
	struct cache_salvage *s;
	int hints;		/* walking the hint array */
};

static int walk_values(void *ctx, uint64_t index, unsigned nr,
		       const void *values, uint64_t block)
{
	struct walk_ctx *w = ctx;
	struct cache_salvage *s = w->s;

	(void)block;
	if (index >= s->nr)
		return 0;
	if (nr > s->nr - index)
		nr = (unsigned)(s->nr - index);
	if (w->hints) {
		memcpy(s->hints + index * s->width, values,
		       (size_t)nr * s->width);
		base_bitmap_set_range(&s->hint_known, index, index + nr);
	} else {
		const unsigned char *p = values;

		for (unsigned i = 0; i < nr; i++)
			s->map[index + i] = load_le64(p + 8 * i);
		base_bitmap_set_range(&s->known, index, index + nr);
	}
	return 0;
}

static int walk_damage(void *ctx, const struct pd_array_damage *d)
{
	struct walk_ctx *w = ctx;

	(void)d;
	w->s->rep.walk_damage++;
	return 0;
}

/* Every block a walk reaches: what is left over may be a lost structure. */
static int walk_ref(void *ctx, uint64_t block)
{
	struct cache_salvage *s = ((struct walk_ctx *)ctx)->s;

	if (block < s->refd.nr_bits)
		base_bitmap_set(&s->refd, block);
	return 0;
}

static const struct pd_array_walk_ops walk_ops = {
	.values = walk_values,
	.damage = walk_damage,
	.block_ref = walk_ref,
};

static int walk_dirty(struct cache_salvage *s, struct pd_bm *bm,
		      uint64_t root)
{
	struct walk_ctx w = { s, 0 };
	struct base_bitmap bits, lost;
	int r;

	if (!root_usable(s, root)) {
		/* No dirty bitset to read: every block's state is unknown. */
		base_bitmap_set_range(&s->force_dirty, 0, s->nr);
		return 0;
	}
	r = pd_bitset_read(bm, root, s->nr, PD_WALK_PREFETCH, &walk_ops, &w,
			   &bits, &lost);
	if (r)
		return r < 0 ? r : -EIO;
	for (uint64_t i = 0; i < div_up(s->nr, 64); i++) {
		s->dirty.words[i] |= bits.words[i];
		s->force_dirty.words[i] |= lost.words[i];
	}
	/* A root that led to no bit at all may not be the dirty bitset's. */
	s->dirty_read = base_bitmap_count(&lost) < s->nr;
	base_bitmap_release(&bits);
	base_bitmap_release(&lost);
	return 0;
}

static int walk_discards(struct cache_salvage *s, struct pd_bm *bm,
			 uint64_t root, uint64_t nr_bits)
{
	struct walk_ctx w = { s, 0 };
	struct base_bitmap lost;
	uint64_t before = s->rep.walk_damage;
	int r;

	if (!root_usable(s, root)) {
		s->rep.lost_discards = nr_bits;
		return base_bitmap_init(&s->discards, nr_bits);
	}
	r = pd_bitset_read(bm, root, nr_bits, PD_WALK_PREFETCH, &walk_ops, &w,
			   &s->discards, &lost);
	if (r)
		return r < 0 ? r : -EIO;
	/* A lost discard bit reads as "not discarded": harmless. */
	s->rep.lost_discards = base_bitmap_count(&lost);
	base_bitmap_release(&lost);
	/* Discard damage is not worth a scan: don't count it as such. */
	s->rep.walk_damage = before;
	return 0;
}

/* ---- layer 2: the scan ---- */

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static int scan_block(void *ctx, uint64_t block, enum pd_scan_kind kind,
		      const void *data)
{
	struct cache_salvage *s = ctx;
	int r;

	if (kind == PD_SCAN_ARRAY) {
		const struct pd_array_header *h = data;
		const unsigned char *v = (const unsigned char *)data +
					 sizeof(*h);
		struct scan_array a = {
			.block = block,
			.value_size = le32_to_cpu(h->value_size),
			.nr = le32_to_cpu(h->nr_entries),
		};

		if (a.value_size == 8) {
			a.kind = ARR_PLAUSIBLE_MAP | ARR_ZERO;
			for (uint32_t i = 0; i < a.nr; i++) {
				uint64_t x = load_le64(v + 8 * i);

				if (x)
					a.kind &= ~(uint32_t)ARR_ZERO;
				if (!plausible_mapping(x))
					a.kind &= ~(uint32_t)ARR_PLAUSIBLE_MAP;
				else if (cache_mapping_flags(x) & CACHE_M_DIRTY)
					a.kind |= ARR_V1_DIRTY;
			}
		}
		r = grow((void **)&s->arrays, &s->cap_arrays,
			 s->nr_arrays + 1, sizeof(*s->arrays));
		if (r)
			return r;
		s->arrays[s->nr_arrays++] = a;
		s->rep.scan_arrays++;
	} else if (kind == PD_SCAN_BTREE_LEAF) {
		const struct pd_node_header *h = data;
		uint32_t nr = le32_to_cpu(h->nr_entries);
		uint32_t max = le32_to_cpu(h->max_entries);
		const unsigned char *keys = (const unsigned char *)data +
					    PD_NODE_KEYS_OFFSET;
		const unsigned char *vals = keys + 8 * (size_t)max;

		/* Array btrees have 8-byte values: block numbers. */
		if (le32_to_cpu(h->value_size) != 8 || !nr)
			return 0;
		r = grow((void **)&s->entries, &s->cap_entries,
			 s->nr_entries + nr, sizeof(*s->entries));
		if (r)
			return r;
		for (uint32_t i = 0; i < nr; i++) {
			struct scan_entry *e = &s->entries[s->nr_entries++];

			e->leaf = block;
			e->key = load_le64(keys + 8 * i);
			e->child = load_le64(vals + 8 * i);
		}
		s->rep.scan_leaves++;
	}
	return 0;
}

static const struct scan_array *find_array(const struct cache_salvage *s,
					   uint64_t block)
{
	/* The scan reports blocks in increasing order: sorted already. */
	return BASE_FIND(s->arrays, s->nr_arrays, block, block);
}

static int is_live(const struct cache_salvage *s, uint64_t block)
{
	if (!s->have_live)
		return 1;
	return block < s->live.nr_bits && base_bitmap_test(&s->live, block);
}

/*
 * Liveness from the on-disk metadata space map: a block whose count is not
 * 0 is live.  Only the index and the bitmaps are needed (an overflow count
 * is 3 in the bitmap, which is not 0).  A bitmap that cannot be read makes
 * its blocks count as live, so that nothing is thrown away for want of
 * information; an unreadable index means no liveness at all.
 */
static int read_liveness(struct cache_salvage *s, struct pd_bm *bm,
			 const struct pd_sm_root_cpu *root)
{
	struct pd_block *ib, *bb;
	const struct pd_index_block *idx;
	uint64_t nr = root->nr_blocks;
	uint64_t nr_bitmaps;
	int r;

	if (!nr || nr > s->dev_blocks || nr > PD_SM_MAX_METADATA_BLOCKS ||
	    !root_usable(s, root->bitmap_root))
		return 0;
	if (pd_bm_read_lock(bm, root->bitmap_root, &pd_index_validator, &ib,
			    NULL) < 0)
		return 0;
	r = base_bitmap_init(&s->live, s->dev_blocks);
	if (r)
		goto out_unlock;
	/* Blocks past what the space map covers are never live. */
	idx = pd_block_data(ib);
	nr_bitmaps = div_up(nr, PD_SM_ENTRIES_PER_BITMAP);
	for (uint64_t i = 0; i < nr_bitmaps; i++) {
		uint64_t bnr = le64_to_cpu(idx->entries[i].blocknr);
		uint64_t first = i * PD_SM_ENTRIES_PER_BITMAP;
		uint64_t n = nr - first < PD_SM_ENTRIES_PER_BITMAP ?
				     nr - first :
				     PD_SM_ENTRIES_PER_BITMAP;

		if (!root_usable(s, bnr) ||
		    pd_bm_read_lock(bm, bnr, &pd_bitmap_validator, &bb,
				    NULL) < 0) {
			base_bitmap_set_range(&s->live, first, first + n);
			continue;
		}
		for (uint32_t j = 0; j < n; j++)
			if (pd_bitmap_get(pd_block_data(bb), j))
				base_bitmap_set(&s->live, first + j);
		pd_bm_unlock(bb);
	}
	s->have_live = 1;
	s->rep.space_map_used = 1;
out_unlock:
	pd_bm_unlock(ib);
	return r;
}

enum leaf_class { LEAF_NONE, LEAF_MAP, LEAF_ZERO, LEAF_BITSET, LEAF_HINT };

/*
 * What a leaf's array blocks say it is.  Mixed value sizes, or no valid
 * array block at all, make it nothing.
 */
static enum leaf_class classify_leaf(const struct cache_salvage *s,
				     size_t first, size_t end)
{
	uint32_t vs = 0;
	int plausible = 1, zero = 1, any = 0;

	for (size_t i = first; i < end; i++) {
		const struct scan_array *a = find_array(s, s->entries[i].child);

		if (!a)
			continue;
		if (any && a->value_size != vs)
			return LEAF_NONE;
		vs = a->value_size;
		any = 1;
		if (!(a->kind & ARR_PLAUSIBLE_MAP))
			plausible = 0;
		if (!(a->kind & ARR_ZERO))
			zero = 0;
	}
	if (!any)
		return LEAF_NONE;
	if (vs == 8)
		return !plausible ? LEAF_BITSET : zero ? LEAF_ZERO : LEAF_MAP;
	if (s->width && vs == s->width)
		return LEAF_HINT;
	return LEAF_NONE;
}

/* Higher is better: live, then non-zero, then the later block. */
static void offer(struct candidate *c, uint64_t block, unsigned score)
{
	if (!c->block || score > c->score ||
	    (score == c->score && block > c->block)) {
		c->block = block;
		c->score = score;
	}
}

/*
 * Walks the leaf entries grouped by leaf (the scan stored them leaf by
 * leaf) and calls fn for each entry of a leaf of class want.
 */
static void for_each_entry(struct cache_salvage *s, enum leaf_class want,
			   enum leaf_class also,
			   void (*fn)(struct cache_salvage *s,
				      const struct scan_entry *e,
				      const struct scan_array *a,
				      enum leaf_class c, void *ctx),
			   void *ctx)
{
	size_t i = 0;

	while (i < s->nr_entries) {
		size_t j = i;
		enum leaf_class c;

		while (j < s->nr_entries &&
		       s->entries[j].leaf == s->entries[i].leaf)
			j++;
		c = classify_leaf(s, i, j);
		if ((c == want || c == also) && is_live(s, s->entries[i].leaf)) {
			for (size_t k = i; k < j; k++) {
				const struct scan_array *a =
					find_array(s, s->entries[k].child);

				if (a && is_live(s, a->block))
					fn(s, &s->entries[k], a, c, ctx);
			}
		}
		i = j;
	}
}

struct guess {
	uint64_t nr;		/* cache blocks seen so far */
	int v1_dirty;		/* a mapping with M_DIRTY */
	uint32_t hint_vs;
};

static void guess_from_map(struct cache_salvage *s, const struct scan_entry *e,
			   const struct scan_array *a, enum leaf_class c,
			   void *ctx)
{
	struct guess *g = ctx;
	uint64_t end;

	(void)s;
	(void)c;
	if (e->key >= max_cache_blocks(s->dev_blocks) / MAP_PER_BLOCK)
		return;
	end = e->key * MAP_PER_BLOCK + a->nr;
	if (end > g->nr)
		g->nr = end;
	if (a->kind & ARR_V1_DIRTY)
		g->v1_dirty = 1;
}

struct fill {
	struct candidate *cand;
	uint64_t nr_blocks;	/* candidates */
	uint32_t per;
	uint32_t vs;
	uint64_t n;		/* array length */
};

static void offer_entry(struct cache_salvage *s, const struct scan_entry *e,
			const struct scan_array *a, enum leaf_class c,
			void *ctx)
{
	struct fill *f = ctx;
	unsigned score = 0;

	if (e->key >= f->nr_blocks || a->value_size != f->vs ||
	    a->nr != block_entries(f->n, f->per, e->key))
		return;
	if (c != LEAF_ZERO && !(a->kind & ARR_ZERO))
		score |= 1;
	(void)s;
	offer(&f->cand[e->key], a->block, score);
}

static void count_stale(struct cache_salvage *s)
{
	if (!s->have_live)
		return;
	for (size_t i = 0; i < s->nr_arrays; i++)
		if (!is_live(s, s->arrays[i].block))
			s->rep.stale_ignored++;
}

/* Reads candidate array block and fills still-unknown indices from it. */
static int fill_from(struct cache_salvage *s, struct pd_bm *bm,
		     const struct fill *f, uint64_t k, int hints)
{
	struct pd_block *b;
	const unsigned char *v;
	uint64_t first = k * f->per;
	uint32_t nr;
	int r;

	r = pd_bm_read_lock(bm, f->cand[k].block, &pd_array_validator, &b,
			    NULL);
	if (r < 0)
		return 0;	/* it was valid during the scan: a bad read */
	nr = le32_to_cpu(((const struct pd_array_header *)pd_block_data(b))
				 ->nr_entries);
	v = (const unsigned char *)pd_block_data(b) +
	    sizeof(struct pd_array_header);
	for (uint32_t i = 0; i < nr && first + i < s->nr; i++) {
		uint64_t idx = first + i;

		if (hints) {
			if (base_bitmap_test(&s->hint_known, idx))
				continue;
			memcpy(s->hints + idx * s->width, v + i * s->width,
			       s->width);
			base_bitmap_set(&s->hint_known, idx);
		} else {
			if (base_bitmap_test(&s->known, idx))
				continue;
			s->map[idx] = load_le64(v + 8 * i);
			base_bitmap_set(&s->known, idx);
			base_bitmap_set(&s->scanned, idx);
		}
	}
	pd_bm_unlock(b);
	return 0;
}

static int fill_array(struct cache_salvage *s, struct pd_bm *bm, int hints)
{
	struct fill f = {
		.per = hints ? pd_array_entries_per_block(s->width) :
			       MAP_PER_BLOCK,
		.vs = hints ? s->width : 8,
		.n = s->nr,
	};
	int r = 0;

	f.nr_blocks = div_up(s->nr, f.per);
	if (!f.nr_blocks)
		return 0;
	f.cand = calloc(f.nr_blocks, sizeof(*f.cand));
	if (!f.cand)
		return -ENOMEM;
	if (hints)
		for_each_entry(s, LEAF_HINT, LEAF_HINT, offer_entry, &f);
	else
		for_each_entry(s, LEAF_MAP, LEAF_ZERO, offer_entry, &f);
	for (uint64_t k = 0; k < f.nr_blocks && !r; k++)
		if (f.cand[k].block)
			r = fill_from(s, bm, &f, k, hints);
	free(f.cand);
	return r;
}

static int scan_device(struct cache_salvage *s, struct pd_io *io)
{
	struct pd_scan_ops ops = { .block = scan_block };

	s->rep.scanned = 1;
	return pd_scan(io, 0, io->nr_blocks, &ops, s);
}

/* ---- layer 3: the superblock's values ---- */

struct sb_read {
	int valid;		/* passed the validator, version 1..2 */
	int damaged;		/* something was read but it failed */
	int csum_ok;		/* passed the validator (the version may not) */
	struct cache_sb sb;
};

static void read_sb(struct cache_salvage *s, struct pd_bm *bm,
		    struct sb_read *in)
{
	struct pd_block *b;
	struct pd_fault f = { 0 };
	int r;

	memset(in, 0, sizeof(*in));
	r = pd_bm_read_lock(bm, CACHE_SB_LOCATION, &cache_sb_validator, &b, &f);
	if (!r) {
		cache_sb_unpack(pd_block_data(b), &in->sb);
		pd_bm_unlock(b);
		in->csum_ok = 1;
		if (in->sb.version >= CACHE_MIN_VERSION &&
		    in->sb.version <= CACHE_MAX_VERSION) {
			in->valid = 1;
			s->rep.sb_state = CACHE_REPAIR_SB_VALID;
			return;
		}
		f.block = 0;
		f.validator = "superblock";
		f.kind = PD_FAULT_HEADER;
		f.what = "version";
		f.found = in->sb.version;
		f.expected = CACHE_MAX_VERSION;
		f.err = -EILSEQ;
		in->damaged = 1;
		s->rep.sb_state = CACHE_REPAIR_SB_DAMAGED;
		s->rep.sb_fault = f;
		return;
	}
	s->rep.sb_fault = f;
	pd_bm_forget(bm, CACHE_SB_LOCATION);
	if (pd_bm_read_lock(bm, CACHE_SB_LOCATION, NULL, &b, NULL) < 0) {
		s->rep.sb_state = CACHE_REPAIR_SB_UNREADABLE;
		return;
	}
	{
		const unsigned char *d = pd_block_data(b);

		if (pd_block_data_is_zero(d)) {
			s->rep.sb_state = CACHE_REPAIR_SB_ZEROED;
		} else {
			cache_sb_unpack(d, &in->sb);
			in->damaged = 1;
			s->rep.sb_state = CACHE_REPAIR_SB_DAMAGED;
		}
	}
	pd_bm_unlock(b);
}

/*
 * Decides every superblock value that does not need the scan: options
 * first, then a valid superblock, then a plausible field of a damaged one
 * (struct decided, repair_int.h).
 */
static int decide_sb(struct cache_salvage *s, const struct cache_repair_opts *o,
		     const struct sb_read *in, struct decided *d)
{
	const struct cache_sb *sb = &in->sb;
	struct cache_emit_sb *e = &s->rep.sb;
	enum cache_repair_source from = in->valid ? CACHE_FROM_SB :
						    CACHE_FROM_DAMAGED_SB;
	int have = in->valid || in->damaged;

	memset(d, 0, sizeof(*d));
	e->have_binary = 1;
	d->have_sb = have;
	d->sb_nr = sb->cache_blocks;
	d->sb_width = cache_sb_hint_width(sb);
	d->sb_version = sb->version;

	/* Block size: cannot be guessed. */
	if (o->have_block_size) {
		e->block_size = o->block_size;
		set_source(s, CACHE_FIELD_BLOCK_SIZE, CACHE_FROM_OPTION);
	} else if (have && plausible_block_size(sb->data_block_size)) {
		e->block_size = sb->data_block_size;
		set_source(s, CACHE_FIELD_BLOCK_SIZE, from);
	} else {
		set_source(s, CACHE_FIELD_BLOCK_SIZE, CACHE_FROM_DEFAULT);
		s->missing = "--block-size";
		s->rep.missing_field = CACHE_FIELD_BLOCK_SIZE;
		return -EINVAL;
	}

	if (o->have_version) {
		s->version = o->version;
		d->have_version = 1;
		set_source(s, CACHE_FIELD_VERSION, CACHE_FROM_OPTION);
	} else if (have && sb->version >= CACHE_MIN_VERSION &&
		   sb->version <= CACHE_MAX_VERSION) {
		s->version = sb->version;
		d->have_version = 1;
		set_source(s, CACHE_FIELD_VERSION, from);
	}

	if (o->have_nr_cache_blocks) {
		s->nr = o->nr_cache_blocks;
		d->have_nr = 1;
		set_source(s, CACHE_FIELD_NR_CACHE_BLOCKS, CACHE_FROM_OPTION);
	} else if (have && sb->cache_blocks <= max_cache_blocks(
					   s->dev_blocks > o->out_blocks ?
						   s->dev_blocks :
						   o->out_blocks)) {
		/* What the output can hold: the input may be cut short. */
		s->nr = sb->cache_blocks;
		d->have_nr = 1;
		set_source(s, CACHE_FIELD_NR_CACHE_BLOCKS, from);
	}

	if (o->have_hint_width) {
		s->width = o->hint_width;
		d->have_width = 1;
		set_source(s, CACHE_FIELD_HINT_WIDTH, CACHE_FROM_OPTION);
	} else if (have && plausible_hint_width(cache_sb_hint_width(sb))) {
		s->width = cache_sb_hint_width(sb);
		d->have_width = 1;
		set_source(s, CACHE_FIELD_HINT_WIDTH, from);
	}

	if (o->policy) {
		strncpy(e->policy, o->policy, CACHE_POLICY_NAME_SIZE - 1);
		set_source(s, CACHE_FIELD_POLICY, CACHE_FROM_OPTION);
	} else if (have && plausible_policy(sb)) {
		memcpy(e->policy, sb->policy_name, sizeof(e->policy));
		set_source(s, CACHE_FIELD_POLICY, from);
	} else {
		strcpy(e->policy, DEFAULT_POLICY);
		set_source(s, CACHE_FIELD_POLICY, CACHE_FROM_DEFAULT);
	}

	if (in->valid) {
		s->rep.input_flags = sb->flags;
		set_source(s, CACHE_FIELD_FLAGS, CACHE_FROM_SB);
	} else if (in->csum_ok) {
		/*
		 * Only the version is wrong, and the structures settle it:
		 * the checksum vouches for the flags as the kernel wrote
		 * them, so the clean state is not thrown away with it.
		 */
		s->rep.input_flags = sb->flags;
		set_source(s, CACHE_FIELD_FLAGS, CACHE_FROM_DAMAGED_SB);
		snprintf(s->rep.why[CACHE_FIELD_FLAGS], sizeof(s->rep.why[0]),
			 "the checksum is right and only the version is "
			 "wrong: the flags are as written");
	} else {
		set_source(s, CACHE_FIELD_FLAGS, CACHE_FROM_DEFAULT);
	}

	if (have) {
		memcpy(e->uuid, sb->uuid, sizeof(e->uuid));
		memcpy(e->policy_version, sb->policy_version,
		       sizeof(e->policy_version));
		d->use_roots = 1;
		d->mapping_root = sb->mapping_root;
		d->hint_root = sb->hint_root;
		d->dirty_root = sb->dirty_root;
		d->discard_root = sb->discard_root;
		d->sm_root = sb->sm_root;
		/* A discard bitset that could fit no device is noise. */
		if (sb->discard_block_size && sb->discard_nr_blocks &&
		    div_up(sb->discard_nr_blocks, 64) <=
			    max_cache_blocks(s->dev_blocks > o->out_blocks ?
						     s->dev_blocks :
						     o->out_blocks)) {
			e->discard_block_size = sb->discard_block_size;
			e->discard_nr_blocks = sb->discard_nr_blocks;
		}
	}
	return 0;
}

/* ---- the final pass ---- */

static uint64_t count_unknown(const struct base_bitmap *known)
{
	return known->nr_bits - base_bitmap_count(known);
}


struct origin {
	uint64_t oblock;
	uint64_t cblock;
	unsigned rank;		/* lower is better */
};

static int cmp_origin(const void *a, const void *b)
{
	const struct origin *x = a, *y = b;

	if (x->oblock != y->oblock)
		return x->oblock < y->oblock ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->cblock < y->cblock ? -1 : x->cblock > y->cblock;
}

/*
 * The common case has no duplicate at all, and a bitmap over the origin
 * blocks finds that in one pass.  It is used only while it costs at most
 * about 8 bytes per mapping (origin numbers are usually dense); sparse
 * origins go straight to the sort.  Returns 1 when there may be one.
 */
static int has_duplicates(const struct cache_salvage *s, uint64_t nr_valid,
			  uint64_t max)
{
	struct base_bitmap seen;
	int dup = 0;

	if (max / 64 > nr_valid + (1u << 20) ||
	    base_bitmap_init(&seen, max + 1))
		return 1;
	for (uint64_t c = 0; c < s->nr && !dup; c++)
		if (s->map[c] & CACHE_M_VALID)
			dup = base_bitmap_test_and_set(
				&seen, cache_mapping_oblock(s->map[c]));
	base_bitmap_release(&seen);
	return dup;
}

/*
 * One cache block per origin block.  The walked mapping beats a scanned
 * one (the scan may have found a stale copy), a dirty one beats a clean
 * one (dropping it would lose data), then the lower cache block.
 */
static int drop_duplicates(struct cache_salvage *s, uint64_t nr_valid,
			   uint64_t max_oblock)
{
	struct origin *o;
	uint64_t n = 0;

	if (nr_valid < 2 || !has_duplicates(s, nr_valid, max_oblock))
		return 0;
	o = malloc(nr_valid * sizeof(*o));
	if (!o)
		return -ENOMEM;
	for (uint64_t c = 0; c < s->nr; c++) {
		if (!(s->map[c] & CACHE_M_VALID))
			continue;
		o[n].oblock = cache_mapping_oblock(s->map[c]);
		o[n].cblock = c;
		o[n].rank = 2 * base_bitmap_test(&s->scanned, c) +
			    !base_bitmap_test(&s->dirty, c);
		n++;
	}
	qsort(o, n, sizeof(*o), cmp_origin);
	for (uint64_t i = 1; i < n; i++) {
		if (o[i].oblock != o[i - 1].oblock)
			continue;
		s->map[o[i].cblock] = 0;
		base_bitmap_clear(&s->dirty, o[i].cblock);
		s->rep.duplicates_dropped++;
	}
	free(o);
	return 0;
}

/*
 * The discard geometry gives the origin's size (rounded up to whole discard
 * blocks), the same rule as the restore's and the checker's, and the kernel
 * refuses a cache with a mapping past it.  Which one is wrong cannot be
 * known, and a mapping may be dirty while discard bits are only a hint: so
 * the geometry and its bits are dropped (the kernel sets a new geometry
 * from the real origin at the next load), never the mappings.
 */
static void check_origin_size(struct cache_salvage *s)
{
	uint64_t dbs = s->rep.sb.discard_block_size;
	uint64_t dnr = s->rep.sb.discard_nr_blocks;
	uint64_t bs = s->rep.sb.block_size, sectors, limit;

	if (!dbs || !dnr || !bs || dnr > UINT64_MAX / dbs)
		return;
	sectors = dbs * dnr;
	limit = sectors / bs + (sectors % bs != 0);
	for (uint64_t c = 0; c < s->nr; c++)
		if ((s->map[c] & CACHE_M_VALID) &&
		    cache_mapping_oblock(s->map[c]) >= limit)
			s->rep.past_origin++;
	if (!s->rep.past_origin)
		return;
	s->rep.discards_dropped = dnr;
	s->rep.sb.discard_block_size = 0;
	s->rep.sb.discard_nr_blocks = 0;
	s->rep.lost_discards = 0;
	base_bitmap_release(&s->discards);
}

/*
 * The first half of finish() for the 64 cache blocks of bitmap word w:
 * raw values become what is written, dirty decided.  Returns the word's
 * valid-mapping bits; *max_oblock grows to the largest origin seen.
 */
static uint64_t finish_word(struct cache_salvage *s, uint64_t w, int clean,
			    uint64_t *max_oblock)
{
	uint64_t kn = s->known.words[w], sc = s->scanned.words[w];
	uint64_t fd = s->force_dirty.words[w], db = s->dirty.words[w];
	uint64_t valid = 0, dirty_out = 0;
	uint64_t first = w * 64;
	unsigned n = s->nr - first < 64 ? (unsigned)(s->nr - first) : 64;

	for (unsigned i = 0; i < n; i++) {
		uint64_t c = first + i, v = s->map[c], o;
		uint32_t flags = cache_mapping_flags(v);
		int dirty;

		if (!((kn >> i) & 1) || !(flags & CACHE_M_VALID)) {
			s->map[c] = 0;
			continue;
		}
		if (s->version < 2)
			dirty = (flags & CACHE_M_DIRTY) != 0;
		else
			dirty = ((db >> i) & 1) || (flags & CACHE_M_DIRTY);
		if (flags & ~(CACHE_M_VALID | CACHE_M_DIRTY)) {
			s->rep.bad_flags++;
			dirty = 1;
		}
		if (((sc | fd) >> i) & 1 || !clean) {
			if (!dirty)
				s->rep.dirty_assumed++;
			dirty = 1;
		}
		o = cache_mapping_oblock(v);
		if (o > *max_oblock)
			*max_oblock = o;
		/* The restore's packing: the dirty bit rides in the value. */
		s->map[c] = cache_mapping_pack(o, CACHE_M_VALID |
						  (dirty ? CACHE_M_DIRTY : 0));
		valid |= 1ull << i;
		dirty_out |= (uint64_t)dirty << i;
	}
	s->dirty.words[w] = dirty_out;
	return valid;
}

/*
 * The restore takes the hint array as it is: what is not written as a
 * hint (unmapped, or lost) must be 0.
 */
static void zero_unwritten_hints(struct cache_salvage *s, uint64_t w,
				 uint64_t valid)
{
	uint64_t keep = valid & s->hint_known.words[w];
	uint64_t first = w * 64;
	unsigned n = s->nr - first < 64 ? (unsigned)(s->nr - first) : 64;

	if (!s->width || (n == 64 && keep == ~0ull))
		return;
	if (s->width == 4) {
		/* The usual width: masked in place, no branch per block. */
		unsigned char *h = s->hints + first * 4;

		for (unsigned i = 0; i < n; i++) {
			uint32_t v;

			memcpy(&v, h + 4 * i, 4);
			v &= -(uint32_t)((keep >> i) & 1);
			memcpy(h + 4 * i, &v, 4);
		}
		return;
	}
	for (unsigned i = 0; i < n; i++)
		if (!((keep >> i) & 1))
			memset(s->hints + (first + i) * s->width, 0, s->width);
}

static uint64_t valid_word(const struct cache_salvage *s, uint64_t w)
{
	uint64_t first = w * 64, valid = 0;
	unsigned n = s->nr - first < 64 ? (unsigned)(s->nr - first) : 64;

	/* Branch-free: mapped blocks come in no predictable pattern. */
	for (unsigned i = 0; i < n; i++)
		valid |= (uint64_t)((s->map[first + i] & CACHE_M_VALID) != 0)
			 << i;
	return valid;
}

/*
 * Works a bitmap word (64 cache blocks) at a time: the counts are
 * popcounts of the words, so the per-block work is only the values.
 */
static int finish(struct cache_salvage *s)
{
	int clean = (s->rep.source[CACHE_FIELD_FLAGS] == CACHE_FROM_SB ||
		     s->rep.source[CACHE_FIELD_FLAGS] ==
			     CACHE_FROM_DAMAGED_SB) &&
		    (s->rep.input_flags & CACHE_SB_CLEAN_SHUTDOWN);
	uint64_t nr_valid = 0, max_oblock = 0, words = div_up(s->nr, 64);
	int r;

	for (uint64_t w = 0; w < words; w++)
		nr_valid += (uint64_t)__builtin_popcountll(
			finish_word(s, w, clean, &max_oblock));
	r = drop_duplicates(s, nr_valid, max_oblock);
	if (r)
		return r;
	check_origin_size(s);

	s->rep.lost_mappings = count_unknown(&s->known);
	for (uint64_t w = 0; w < words; w++) {
		uint64_t valid = valid_word(s, w);

		zero_unwritten_hints(s, w, valid);
		s->rep.nr_mappings += (uint64_t)__builtin_popcountll(valid);
		s->rep.mappings_scanned += (uint64_t)__builtin_popcountll(
			valid & s->scanned.words[w]);
		s->rep.nr_dirty += (uint64_t)__builtin_popcountll(
			valid & s->dirty.words[w]);
		if (s->width)
			s->rep.nr_hints += (uint64_t)__builtin_popcountll(
				valid & s->hint_known.words[w]);
	}
	s->rep.mappings_walked = s->rep.nr_mappings - s->rep.mappings_scanned;
	if (s->width)
		s->rep.lost_hints = s->rep.nr_mappings - s->rep.nr_hints;
	if (s->discards.words)
		s->rep.nr_discarded = base_bitmap_count(&s->discards);

	s->rep.sb.version = s->version;
	s->rep.sb.nr_cache_blocks = s->nr;
	s->rep.sb.hint_width = s->width;
	/*
	 * Not clean (or not known to be): leave CLEAN_SHUTDOWN clear, so the
	 * kernel treats every mapping as dirty, as it would have the input.
	 * NEEDS_CHECK is what this repair answers: never carried over.
	 */
	s->rep.sb.flags = clean ? CACHE_SB_CLEAN_SHUTDOWN : 0;
	return 0;
}

int cache_repair_salvage(struct pd_io *io, const struct cache_repair_opts *o,
			 struct cache_salvage **out)
{
	struct cache_salvage *s;
	struct pd_bm *bm = NULL;
	struct sb_read in;
	struct decided d;
	int r;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*out = s;
	s->dev_blocks = io->nr_blocks;
	r = pd_bm_create(io, BM_CACHE_BLOCKS, &bm);
	if (r)
		return r;

	read_sb(s, bm, &in);
	r = decide_sb(s, o, &in, &d);
	if (r)
		goto out_bm;

	/* The superblock's fields against what the structures record. */
	if (d.use_roots) {
		r = base_bitmap_init(&s->refd, s->dev_blocks);
		if (!r)
			r = repair_cross_check(s, bm, o, &d);
		if (r)
			goto out_bm;
	}
	if (s->rep.sb.discard_nr_blocks) {
		r = walk_discards(s, bm, d.discard_root,
				  s->rep.sb.discard_nr_blocks);
		if (r)
			goto out_bm;
	}

	/*
	 * Layer 1 needs only the cache-block count: a hint width or version
	 * that nothing settles must not stop the mappings being read.
	 */
	if (d.have_nr) {
		struct walk_ctx w = { s, 0 };

		if (!d.have_width) {
			s->width = CACHE_DEFAULT_HINT_SIZE;
			d.have_width = 1;
			set_source(s, CACHE_FIELD_HINT_WIDTH,
					  CACHE_FROM_DEFAULT);
		}
		r = alloc_state(s);
		if (r)
			goto out_bm;
		if (d.use_roots && root_usable(s, d.mapping_root)) {
			r = pd_array_walk(bm, d.mapping_root, s->nr, 8,
					  PD_WALK_PREFETCH, &walk_ops, &w);
			if (r)
				goto out_bm;
		}
		if (d.use_roots && s->width &&
		    root_usable(s, d.hint_root)) {
			w.hints = 1;
			r = pd_array_walk(bm, d.hint_root, s->nr, s->width,
					  PD_WALK_PREFETCH, &walk_ops, &w);
			if (r)
				goto out_bm;
		}
		repair_version_from_mappings(s, o, &d);
		if (s->version >= 2) {
			r = walk_dirty(s, bm, d.use_roots ? d.dirty_root : 0);
			if (r)
				goto out_bm;
		}
		r = repair_find_leaked_dirty(s, bm, o, &d);
		if (r)
			goto out_bm;
	}

	/* Layer 2: the scan, where the walk could not do it all. */
	if (!in.valid || !s->map || count_unknown(&s->known) ||
	    (s->width && d.hint_root && count_unknown(&s->hint_known))) {
		struct guess g = { 0 };

		r = scan_device(s, io);
		if (r)
			goto out_bm;
		if (d.use_roots) {
			r = read_liveness(s, bm, &d.sm_root);
			if (r)
				goto out_bm;
		}
		count_stale(s);
		for_each_entry(s, LEAF_MAP, LEAF_ZERO, guess_from_map, &g);
		if (!s->map) {
			/* Layer 3: what the superblock could not tell. */
			if (!d.have_nr && !g.nr) {
				/*
				 * No mapping array anywhere: a count of 0
				 * would be no guess but an empty cache.
				 */
				s->missing = "--nr-cache-blocks";
				s->rep.missing_field =
					CACHE_FIELD_NR_CACHE_BLOCKS;
				r = -EINVAL;
				goto out_bm;
			}
			if (!d.have_nr) {
				s->nr = g.nr;
				set_source(s, CACHE_FIELD_NR_CACHE_BLOCKS,
					   CACHE_FROM_SCAN);
			}
			if (!d.have_version) {
				s->version = g.v1_dirty ? 1 : DEFAULT_VERSION;
				set_source(s, CACHE_FIELD_VERSION,
					   g.v1_dirty ? CACHE_FROM_SCAN :
							CACHE_FROM_DEFAULT);
			}
			if (!d.have_width) {
				s->width = CACHE_DEFAULT_HINT_SIZE;
				set_source(s, CACHE_FIELD_HINT_WIDTH,
					   CACHE_FROM_DEFAULT);
			}
			r = alloc_state(s);
			if (r)
				goto out_bm;
			/* No dirty bitset was read: all unknown. */
			if (s->version >= 2)
				base_bitmap_set_range(&s->force_dirty, 0,
						      s->nr);
		}
		r = fill_array(s, bm, 0);
		if (!r && s->width)
			r = fill_array(s, bm, 1);
		if (r)
			goto out_bm;
	}
	r = finish(s);

out_bm:
	pd_bm_destroy(bm);
	return r;
}

/* ---- output ---- */

struct range_ctx {
	int (*fn)(void *ctx, uint64_t begin, uint64_t end);
	void *ctx;
};

int cache_salvage_lost_ranges(const struct cache_salvage *s, int which,
			      int (*fn)(void *ctx, uint64_t begin,
					uint64_t end),
			      void *ctx)
{
	const struct base_bitmap *known = which ? &s->hint_known : &s->known;
	uint64_t i = 0;
	int r;

	if (!known->words || (which && !s->width))
		return 0;
	for (;;) {
		uint64_t b = base_bitmap_next_clear(known, i), e;

		if (b >= s->nr)
			return 0;
		/* Lost hints matter only for blocks that are mapped. */
		if (which && !(s->map[b] & CACHE_M_VALID)) {
			i = b + 1;
			continue;
		}
		e = base_bitmap_next_set(known, b);
		if (which)
			for (e = b + 1; e < s->nr &&
					!base_bitmap_test(known, e) &&
					(s->map[e] & CACHE_M_VALID);
			     e++)
				;
		r = fn(ctx, b, e);
		if (r)
			return r;
		i = e;
	}
}

int cache_salvage_emit(const struct cache_salvage *s,
		       const struct cache_emitter *e)
{
	static const unsigned char zero_hint[CACHE_MAX_HINT_SIZE];
	int r = 0;

#define CALL(cb, ...) (e->cb ? e->cb(e->ctx, ##__VA_ARGS__) : 0)
	r = CALL(begin_superblock, &s->rep.sb);
	if (!r)
		r = CALL(begin_mappings);
	for (uint64_t c = 0; c < s->nr && !r; c++)
		if (s->map[c] & CACHE_M_VALID)
			r = CALL(mapping, c, cache_mapping_oblock(s->map[c]),
				 base_bitmap_test(&s->dirty, c));
	if (!r)
		r = CALL(end_mappings);
	if (!r)
		r = CALL(begin_hints);
	if (s->width) {
		for (uint64_t c = 0; c < s->nr && !r; c++) {
			if (!(s->map[c] & CACHE_M_VALID))
				continue;
			/* A lost hint is written as 0: the policy's default. */
			r = CALL(hint, c,
				 base_bitmap_test(&s->hint_known, c) ?
					 s->hints + c * s->width :
					 zero_hint,
				 s->width);
		}
	}
	if (!r)
		r = CALL(end_hints);
	if (!r && s->rep.sb.discard_nr_blocks && s->discards.words) {
		struct cache_emit_discards dd = {
			.block_size = s->rep.sb.discard_block_size,
			.nr_blocks = s->rep.sb.discard_nr_blocks,
		};
		uint64_t i = 0;

		r = CALL(begin_discards, &dd);
		while (!r) {
			uint64_t b = base_bitmap_next_set(&s->discards, i);
			uint64_t end;

			if (b >= s->discards.nr_bits)
				break;
			end = base_bitmap_next_clear(&s->discards, b);
			r = CALL(discard, b, end);
			i = end;
		}
		if (!r)
			r = CALL(end_discards);
	}
	if (!r)
		r = CALL(end_superblock);
#undef CALL
	return r;
}

/*
 * The restore does the writing: it checks what was salvaged, zeroes block
 * 0, builds everything and writes the superblock last.  The salvage's
 * arrays are already in the restore's layout (finish() made them so), so
 * they are handed over as they are rather than replayed as events and
 * staged a second time.  The version comes from the salvaged superblock
 * (have_binary); the clean-shutdown flag is left off when the input was
 * not known to be clean.
 */
int cache_repair_write(const struct cache_salvage *s, struct pd_io *out,
		       char *msg, size_t msg_len)
{
	struct cache_restore_opts o = { .version = s->version };
	struct cache_restore *rs;
	int r;

	if (msg_len)
		*msg = '\0';
	if (!(s->rep.sb.flags & CACHE_SB_CLEAN_SHUTDOWN))
		o.flags |= CACHE_RESTORE_OMIT_CLEAN_SHUTDOWN;
	r = cache_restore_create(out, &o, &rs);
	if (r)
		return r;
	r = cache_restore_stage_arrays(rs, &s->rep.sb, s->map,
				       s->width ? s->hints : NULL,
				       s->rep.sb.discard_nr_blocks &&
						       s->discards.words ?
					       &s->discards :
					       NULL);
	if (!r)
		r = cache_restore_commit(rs);
	if (r && msg_len && cache_restore_message(rs))
		snprintf(msg, msg_len, "%s", cache_restore_message(rs));
	cache_restore_destroy(rs);
	return r;
}
