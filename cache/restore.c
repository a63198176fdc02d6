// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The restore (see restore.h): emitter callbacks that stage the input in
 * memory and check it, and a commit that bulk-builds every structure with
 * the transaction manager and writes the superblock last.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitmap.h"
#include "cache/format.h"
#include "cache/metadata_size.h"
#include "cache/restore.h"
#include "pdata/array.h"
#include "pdata/bitset.h"
#include "pdata/bm.h"
#include "pdata/ondisk.h"
#include "pdata/tm.h"

/* Blocks the block manager keeps: the builders hold a few at a time. */
#define RESTORE_BM_BLOCKS 256u

enum stage {
	S_NEW,		/* nothing yet */
	S_SB,		/* inside the superblock */
	S_MAPPINGS,
	S_HINTS,
	S_DISCARDS,
	S_COMPLETE,	/* end_superblock seen */
	S_COMMITTED,
};

struct cache_restore {
	struct pd_io *io;
	struct cache_restore_opts opts;
	enum stage stage;
	unsigned containers_seen;	/* 1 mappings, 2 hints, 4 discards */

	struct cache_emit_sb sb;
	uint32_t version;
	uint64_t discard_block_size, discard_nr_blocks;

	uint64_t *mappings;	/* packed values by cache block; 0 unmapped */
	int borrowed;		/* mappings and hints are the caller's */
	uint64_t nr_mapped;
	uint64_t oblock_min, oblock_max;
	unsigned char *hints;	/* hint_width bytes per cache block, or NULL */
	struct base_bitmap discards;
	/* <discards> without a geometry: chosen at its end (choose_geometry) */
	int discard_pending;
	uint64_t discard_max_end;

	/*
	 * The device is too small for what the input declared so far: the
	 * rest is still checked, but not kept, and end_superblock fails with
	 * the size the whole input needs.
	 */
	int short_of_space;
	uint64_t blocks_needed;
	char msg[200];
	enum cache_restore_left left;	/* what a failed commit left */
};

__attribute__((format(printf, 3, 4)))
static int failf(struct cache_restore *rs, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rs->msg, sizeof(rs->msg), fmt, ap);
	va_end(ap);
	return err;
}

int cache_restore_create(struct pd_io *io, const struct cache_restore_opts *o,
			 struct cache_restore **out)
{
	struct cache_restore *rs;

	*out = NULL;
	if (o->version > CACHE_MAX_VERSION)
		return -EINVAL;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	rs->io = io;
	rs->opts = *o;
	*out = rs;
	return 0;
}

void cache_restore_destroy(struct cache_restore *rs)
{
	if (!rs)
		return;
	if (!rs->borrowed) {
		free(rs->mappings);
		free(rs->hints);
	}
	base_bitmap_release(&rs->discards);
	free(rs);
}

const char *cache_restore_message(const struct cache_restore *rs)
{
	return rs->msg[0] ? rs->msg : NULL;
}

uint64_t cache_restore_blocks_needed(const struct cache_restore *rs)
{
	return rs->blocks_needed;
}

/* ---- staging ---- */

/*
 * Is the device big enough for the metadata described so far?  The space
 * map covers the whole device (up to the format's cap), so its bitmaps
 * grow with the device; cache_msize_exact() gives the smallest device that
 * holds everything, and any device at least that big holds it too.
 */
static int check_size(struct cache_restore *rs)
{
	struct cache_msize_layout l = {
		.version = rs->version,
		.hint_width = rs->sb.hint_width,
		.nr_cache_blocks = rs->sb.nr_cache_blocks,
		.discard_nr_blocks = rs->discard_nr_blocks,
	};
	struct cache_msize_exact e;
	uint64_t have = rs->io->nr_blocks;
	int r;

	r = cache_msize_exact(&l, &e);
	if (r < 0)
		return failf(rs, r, "cannot size metadata for %llu cache blocks",
			     (unsigned long long)l.nr_cache_blocks);
	if (have > PD_SM_MAX_METADATA_BLOCKS)
		have = PD_SM_MAX_METADATA_BLOCKS;
	if (!e.fits) {
		rs->blocks_needed = 0;
		return failf(rs, -ENOSPC,
			     "this metadata needs %llu blocks of 4 KiB, more than the %llu a metadata device can have",
			     (unsigned long long)e.total,
			     (unsigned long long)PD_SM_MAX_METADATA_BLOCKS);
	}
	if (e.total > have) {
		rs->blocks_needed = e.total;
		return failf(rs, -ENOSPC,
			     "the output holds %llu blocks of 4 KiB but this metadata needs %llu (%llu bytes)",
			     (unsigned long long)rs->io->nr_blocks,
			     (unsigned long long)e.total,
			     (unsigned long long)e.total * PD_BLOCK_SIZE);
	}
	return 0;
}

/* begin_superblock's checks, without the staging array. */
static int begin_sb(struct cache_restore *rs, const struct cache_emit_sb *sb)
{
	uint32_t w = sb->hint_width;
	int r;

	if (rs->stage != S_NEW)
		return failf(rs, -EINVAL, "a second superblock");
	if (!sb->block_size || sb->block_size > UINT32_MAX)
		return failf(rs, -EINVAL, "block_size %llu is out of range",
			     (unsigned long long)sb->block_size);
	if (sb->nr_cache_blocks > UINT32_MAX)
		return failf(rs, -EINVAL, "nr_cache_blocks %llu is out of range",
			     (unsigned long long)sb->nr_cache_blocks);
	if (w && (w < 4 || w > CACHE_MAX_HINT_SIZE || w % 4))
		return failf(rs, -EINVAL, "hint_width %u is not supported", w);
	if (strnlen(sb->policy, sizeof(sb->policy)) >= CACHE_POLICY_NAME_SIZE)
		return failf(rs, -EINVAL, "the policy name is too long");
	rs->sb = *sb;
	rs->version = rs->opts.version;
	if (!rs->version)
		rs->version = sb->have_binary && sb->version >= CACHE_MIN_VERSION &&
			      sb->version <= CACHE_MAX_VERSION ?
			      sb->version : CACHE_RESTORE_DEFAULT_VERSION;
	if (sb->have_binary) {
		/* A salvage keeps the geometry even without <discards>. */
		rs->discard_block_size = sb->discard_block_size;
		rs->discard_nr_blocks = sb->discard_nr_blocks;
	}
	rs->stage = S_SB;
	r = check_size(rs);
	if (r == -ENOSPC) {
		/* Keep checking; end_superblock fails with the full size. */
		rs->short_of_space = 1;
		rs->msg[0] = '\0';
		return 0;
	}
	return r;
}

static int st_begin_superblock(void *ctx, const struct cache_emit_sb *sb)
{
	struct cache_restore *rs = ctx;
	int r;

	r = begin_sb(rs, sb);
	if (r < 0 || rs->short_of_space)
		return r;
	rs->mappings = calloc(sb->nr_cache_blocks ? sb->nr_cache_blocks : 1,
			      sizeof(*rs->mappings));
	if (!rs->mappings)
		return -ENOMEM;
	return 0;
}

static int st_begin_mappings(void *ctx)
{
	struct cache_restore *rs = ctx;

	if (rs->stage != S_SB || rs->containers_seen)
		return failf(rs, -EINVAL, "mappings out of order");
	rs->containers_seen |= 1;
	rs->stage = S_MAPPINGS;
	return 0;
}

static int st_mapping(void *ctx, uint64_t cblock, uint64_t oblock, int dirty)
{
	struct cache_restore *rs = ctx;
	uint32_t flags = CACHE_M_VALID | (dirty ? CACHE_M_DIRTY : 0);

	if (rs->stage != S_MAPPINGS)
		return failf(rs, -EINVAL, "a mapping outside the mappings");
	if (cblock >= rs->sb.nr_cache_blocks)
		return failf(rs, -EINVAL,
			     "cache block %llu is out of range (nr_cache_blocks is %llu)",
			     (unsigned long long)cblock,
			     (unsigned long long)rs->sb.nr_cache_blocks);
	if (oblock > CACHE_MAX_OBLOCK)
		return failf(rs, -EINVAL, "origin block %llu is out of range",
			     (unsigned long long)oblock);
	if (rs->short_of_space)
		return 0;
	/*
	 * Relaxed atomic: two reader threads may stage at once (restore.h);
	 * for different cache blocks that is no race at all, and a cache
	 * block given twice fails the input anyway.
	 */
	__atomic_store_n(&rs->mappings[cblock],
			 cache_mapping_pack(oblock, flags), __ATOMIC_RELAXED);
	return 0;
}

/* How many mappings, and their origin range: one pass once all are in. */
static void count_mappings(struct cache_restore *rs)
{
	rs->nr_mapped = 0;
	rs->oblock_min = UINT64_MAX;
	rs->oblock_max = 0;
	for (uint64_t c = 0; c < rs->sb.nr_cache_blocks; c++) {
		uint64_t o;

		if (!rs->mappings[c])
			continue;
		o = cache_mapping_oblock(rs->mappings[c]);
		rs->nr_mapped++;
		if (o < rs->oblock_min)
			rs->oblock_min = o;
		if (o > rs->oblock_max)
			rs->oblock_max = o;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The two cache blocks mapping oblock: an O(n) scan, on the error path. */
static int report_twice(struct cache_restore *rs, uint64_t oblock)
{
	uint64_t c, first = UINT64_MAX;

	for (c = 0; c < rs->sb.nr_cache_blocks; c++) {
		uint64_t v = rs->mappings[c];

		if (!(cache_mapping_flags(v) & CACHE_M_VALID) ||
		    cache_mapping_oblock(v) != oblock)
			continue;
		if (first == UINT64_MAX) {
			first = c;
			continue;
		}
		break;
	}
	return failf(rs, -EINVAL,
		     "origin block %llu is mapped by cache blocks %llu and %llu",
		     (unsigned long long)oblock, (unsigned long long)first,
		     (unsigned long long)c);
}

/*
 * No origin block may be mapped twice: the kernel would serve one cache
 * block's data for the other's origin.  A bitmap over [min, max] when it
 * is no bigger than a sorted copy of the origins (the usual case: origins
 * are dense), else the sorted copy.  Either way memory stays within 8
 * bytes per mapping.
 */
static int check_origins(struct cache_restore *rs)
{
	uint64_t n = rs->nr_mapped, range, c, k = 0;
	int r = 0;

	if (n < 2)
		return 0;
	range = rs->oblock_max - rs->oblock_min + 1;
	if (range / 64 <= n) {
		struct base_bitmap seen;

		if (base_bitmap_init(&seen, range) < 0)
			return -ENOMEM;
		for (c = 0; c < rs->sb.nr_cache_blocks; c++) {
			uint64_t v = rs->mappings[c];

			if (!v)
				continue;
			if (base_bitmap_test_and_set(&seen,
					cache_mapping_oblock(v) - rs->oblock_min)) {
				r = report_twice(rs, cache_mapping_oblock(v));
				break;
			}
		}
		base_bitmap_release(&seen);
		return r;
	}

	uint64_t *o = malloc(n * sizeof(*o));

	if (!o)
		return -ENOMEM;
	for (c = 0; c < rs->sb.nr_cache_blocks; c++)
		if (rs->mappings[c])
			o[k++] = cache_mapping_oblock(rs->mappings[c]);
	qsort(o, n, sizeof(*o), cmp_u64);
	for (k = 1; k < n; k++) {
		if (o[k] == o[k - 1]) {
			r = report_twice(rs, o[k]);
			break;
		}
	}
	free(o);
	return r;
}

/*
 * A discard geometry says how big the origin is (rounded up to whole
 * discard blocks), and the kernel refuses a cache whose mappings point
 * past it; so does cache_check.  Same rule as the checker's.
 */
static int check_origin_size(struct cache_restore *rs)
{
	uint64_t dbs = rs->discard_block_size, dnr = rs->discard_nr_blocks;
	uint64_t sectors, limit, c;

	if (!dbs || !dnr || !rs->nr_mapped || dnr > UINT64_MAX / dbs)
		return 0;
	sectors = dbs * dnr;
	limit = sectors / rs->sb.block_size + !!(sectors % rs->sb.block_size);
	if (rs->oblock_max < limit)
		return 0;
	for (c = 0; c < rs->sb.nr_cache_blocks; c++)
		if (rs->mappings[c] &&
		    cache_mapping_oblock(rs->mappings[c]) >= limit)
			break;
	return failf(rs, -EINVAL,
		     "cache block %llu maps origin block %llu, past the %llu blocks the discard geometry gives the origin",
		     (unsigned long long)c,
		     (unsigned long long)cache_mapping_oblock(rs->mappings[c]),
		     (unsigned long long)limit);
}

static int st_end_mappings(void *ctx)
{
	struct cache_restore *rs = ctx;
	int r;

	if (rs->stage != S_MAPPINGS)
		return failf(rs, -EINVAL, "mappings out of order");
	rs->stage = S_SB;
	if (rs->short_of_space)
		return 0;
	count_mappings(rs);
	r = check_origins(rs);
	if (!r)
		r = check_origin_size(rs);
	return r;
}

static int st_begin_hints(void *ctx)
{
	struct cache_restore *rs = ctx;

	if (rs->stage != S_SB || rs->containers_seen & ~1u)
		return failf(rs, -EINVAL, "hints out of order");
	rs->containers_seen |= 2;
	rs->stage = S_HINTS;
	/*
	 * Here rather than at the first hint, so that two threads can stage
	 * hints at once.  calloc'd pages cost nothing until a hint lands.
	 */
	if (rs->sb.hint_width && rs->sb.nr_cache_blocks && !rs->short_of_space) {
		rs->hints = calloc(rs->sb.nr_cache_blocks, rs->sb.hint_width);
		if (!rs->hints)
			return -ENOMEM;
	}
	return 0;
}

static int st_hint(void *ctx, uint64_t cblock, const void *data, uint32_t len)
{
	struct cache_restore *rs = ctx;
	uint32_t w = rs->sb.hint_width;

	if (rs->stage != S_HINTS)
		return failf(rs, -EINVAL, "a hint outside the hints");
	if (cblock >= rs->sb.nr_cache_blocks)
		return failf(rs, -EINVAL,
			     "cache block %llu is out of range (nr_cache_blocks is %llu)",
			     (unsigned long long)cblock,
			     (unsigned long long)rs->sb.nr_cache_blocks);
	if (len != w)
		return failf(rs, -EINVAL, "a hint of %u bytes, but hint_width is %u",
			     len, w);
	if (rs->short_of_space)
		return 0;
	/* 4 bytes at a time, relaxed atomic: see st_mapping. */
	for (uint32_t i = 0; i < w; i += 4) {
		uint32_t v;

		memcpy(&v, (const unsigned char *)data + i, 4);
		__atomic_store_n((uint32_t *)(rs->hints + cblock * w + i), v,
				 __ATOMIC_RELAXED);
	}
	return 0;
}

static int st_end_hints(void *ctx)
{
	struct cache_restore *rs = ctx;

	if (rs->stage != S_HINTS)
		return failf(rs, -EINVAL, "hints out of order");
	rs->stage = S_SB;
	return 0;
}

/*
 * The kernel's discard geometry (dm-cache-target.c): the cache block size,
 * doubled until the origin holds at most 2^14 discard blocks, and as many
 * discard blocks as cover the origin.  The origin size is not in the XML,
 * so it is taken as the smallest one the input fits: every mapped origin
 * block and every discard range.  Ranges count in discard blocks of the
 * size being chosen, so the first doubling k at which both fit in 2^14
 * blocks is the answer; ranges past 2^14 blocks (no kernel writes those)
 * keep the cache block size and as many blocks as they need.  No mapping
 * and no range: no geometry (0/0), as 0.9.0 and a fresh kernel write.
 */
#define KERNEL_MAX_DISCARD_BLOCKS (1u << 14)

/* n discard blocks of size sectors; no blocks is no geometry (0/0). */
static void set_geometry(struct cache_restore *rs, uint64_t size, uint64_t n)
{
	rs->discard_block_size = n ? size : 0;
	rs->discard_nr_blocks = n;
}

static void choose_geometry(struct cache_restore *rs)
{
	uint64_t bs = rs->sb.block_size, ranges = rs->discard_max_end;
	/* <= 2^48: no overflow below */
	uint64_t omax1 = rs->nr_mapped ? rs->oblock_max + 1 : 0;
	unsigned k;

	for (k = 0; k < 64 && (bs << k) >> k == bs; k++) {
		uint64_t by_map = k >= 49 ? !!omax1
					  : (omax1 + (1ull << k) - 1) >> k;
		uint64_t n = by_map > ranges ? by_map : ranges;

		if (n <= KERNEL_MAX_DISCARD_BLOCKS) {
			set_geometry(rs, bs << k, n);
			return;
		}
	}
	set_geometry(rs, bs, omax1 > ranges ? omax1 : ranges);
}

/*
 * The most discard bits the output could hold (509 words per array
 * block): a range past it is refused before any memory is given to it.
 */
static uint64_t discard_bits_limit(const struct cache_restore *rs)
{
	uint64_t blocks = rs->io->nr_blocks;

	if (blocks > PD_SM_MAX_METADATA_BLOCKS)
		blocks = PD_SM_MAX_METADATA_BLOCKS;
	return blocks * pd_array_entries_per_block(sizeof(uint64_t)) * 64;
}

static int st_begin_discards(void *ctx, const struct cache_emit_discards *d)
{
	struct cache_restore *rs = ctx;
	int r;

	if (rs->stage != S_SB || rs->containers_seen & 4u)
		return failf(rs, -EINVAL, "discards out of order");
	if (d->no_geometry) {
		rs->containers_seen |= 4;
		rs->stage = S_DISCARDS;
		rs->discard_pending = 1;
		rs->discard_max_end = 0;
		rs->discard_block_size = rs->discard_nr_blocks = 0;
		base_bitmap_release(&rs->discards);
		if (rs->short_of_space)
			return 0;
		return base_bitmap_init(&rs->discards, 0) < 0 ? -ENOMEM : 0;
	}
	if (d->nr_blocks && !d->block_size)
		return failf(rs, -EINVAL,
			     "%llu discard blocks of size 0",
			     (unsigned long long)d->nr_blocks);
	rs->containers_seen |= 4;
	rs->discard_block_size = d->block_size;
	rs->discard_nr_blocks = d->nr_blocks;
	rs->stage = S_DISCARDS;
	if (!rs->short_of_space && check_size(rs) == -ENOSPC) {
		rs->short_of_space = 1;
		rs->msg[0] = '\0';
	}
	if (rs->short_of_space)
		return 0;
	r = check_origin_size(rs);
	if (r < 0)
		return r;
	if (base_bitmap_init(&rs->discards, d->nr_blocks) < 0)
		return -ENOMEM;
	return 0;
}

static int st_discard(void *ctx, uint64_t b, uint64_t e)
{
	struct cache_restore *rs = ctx;

	if (rs->stage != S_DISCARDS)
		return failf(rs, -EINVAL, "a discard outside the discards");
	if (rs->discard_pending) {
		uint64_t limit = discard_bits_limit(rs), want;

		if (b >= e || e > limit)
			return failf(rs, -EINVAL,
				     "discard range [%llu, %llu) is not within the [0, %llu) the output can hold",
				     (unsigned long long)b, (unsigned long long)e,
				     (unsigned long long)limit);
		if (e > rs->discard_max_end)
			rs->discard_max_end = e;
		if (rs->short_of_space)
			return 0;
		if (e > rs->discards.nr_bits) {
			/* Doubling: many ranges cost a few reallocations. */
			want = rs->discards.nr_bits * 2;
			if (want < e)
				want = e;
			if (want > limit)
				want = limit;
			if (base_bitmap_resize(&rs->discards, want) < 0)
				return -ENOMEM;
		}
		base_bitmap_set_range(&rs->discards, b, e);
		return 0;
	}
	if (b >= e || e > rs->discard_nr_blocks)
		return failf(rs, -EINVAL,
			     "discard range [%llu, %llu) is not within [0, %llu)",
			     (unsigned long long)b, (unsigned long long)e,
			     (unsigned long long)rs->discard_nr_blocks);
	if (!rs->short_of_space)
		base_bitmap_set_range(&rs->discards, b, e);
	return 0;
}

static int st_end_discards(void *ctx)
{
	struct cache_restore *rs = ctx;

	if (rs->stage != S_DISCARDS)
		return failf(rs, -EINVAL, "discards out of order");
	rs->stage = S_SB;
	if (!rs->discard_pending)
		return 0;
	rs->discard_pending = 0;
	choose_geometry(rs);
	if (!rs->short_of_space && check_size(rs) == -ENOSPC) {
		rs->short_of_space = 1;
		rs->msg[0] = '\0';
	}
	if (rs->short_of_space)
		return 0;
	/* Every bit set is below discard_max_end <= discard_nr_blocks. */
	if (base_bitmap_resize(&rs->discards, rs->discard_nr_blocks) < 0)
		return -ENOMEM;
	return check_origin_size(rs);
}

static int st_end_superblock(void *ctx)
{
	struct cache_restore *rs = ctx;

	if (rs->stage != S_SB)
		return failf(rs, -EINVAL, "the superblock ended out of order");
	if (rs->short_of_space)
		return check_size(rs);
	rs->stage = S_COMPLETE;
	return 0;
}

void cache_restore_emitter(struct cache_restore *rs, struct cache_emitter *e)
{
	memset(e, 0, sizeof(*e));
	e->ctx = rs;
	e->begin_superblock = st_begin_superblock;
	e->end_superblock = st_end_superblock;
	e->begin_mappings = st_begin_mappings;
	e->mapping = st_mapping;
	e->end_mappings = st_end_mappings;
	e->begin_hints = st_begin_hints;
	e->hint = st_hint;
	e->end_hints = st_end_hints;
	e->begin_discards = st_begin_discards;
	e->discard = st_discard;
	e->end_discards = st_end_discards;
}

/*
 * The arrays' checks are the events': each mapping value as st_mapping
 * would have packed it, then what end_mappings checks.  Counting is done
 * in the same pass as the checks, so the mappings are read twice in all
 * (here and in check_origins), never copied.
 */
int cache_restore_stage_arrays(struct cache_restore *rs,
			       const struct cache_emit_sb *sb,
			       const uint64_t *mappings,
			       const unsigned char *hints,
			       const struct base_bitmap *discards)
{
	uint64_t n = 0, lo = UINT64_MAX, hi = 0, c;
	int r;

	if (rs->containers_seen)
		return failf(rs, -EINVAL, "the input was staged twice");
	r = begin_sb(rs, sb);
	if (r < 0)
		return r;
	rs->containers_seen = 7;
	if (rs->short_of_space)
		return check_size(rs);
	for (c = 0; c < sb->nr_cache_blocks; c++) {
		uint64_t v = mappings[c], o;
		uint32_t flags = cache_mapping_flags(v);

		if (!v)
			continue;
		if (!(flags & CACHE_M_VALID) ||
		    (flags & ~(uint32_t)(CACHE_M_VALID | CACHE_M_DIRTY)))
			return failf(rs, -EINVAL,
				     "cache block %llu has mapping flags %#x",
				     (unsigned long long)c, flags);
		o = cache_mapping_oblock(v);
		if (o > CACHE_MAX_OBLOCK)
			return failf(rs, -EINVAL,
				     "origin block %llu is out of range",
				     (unsigned long long)o);
		n++;
		if (o < lo)
			lo = o;
		if (o > hi)
			hi = o;
	}
	rs->mappings = (uint64_t *)mappings;
	rs->hints = (unsigned char *)hints;
	rs->borrowed = 1;
	rs->nr_mapped = n;
	rs->oblock_min = lo;
	rs->oblock_max = hi;
	r = check_origins(rs);
	if (!r)
		r = check_origin_size(rs);
	if (r)
		return r;
	if (discards) {
		if (discards->nr_bits != rs->discard_nr_blocks)
			return failf(rs, -EINVAL,
				     "%llu discard bits for %llu discard blocks",
				     (unsigned long long)discards->nr_bits,
				     (unsigned long long)rs->discard_nr_blocks);
		if (base_bitmap_init(&rs->discards, discards->nr_bits) < 0)
			return -ENOMEM;
		if (discards->nr_bits)
			memcpy(rs->discards.words, discards->words,
			       (discards->nr_bits + 63) / 64 *
				       sizeof(*discards->words));
	}
	rs->stage = S_COMPLETE;
	return 0;
}

/* ---- commit ---- */

struct roots {
	uint64_t mapping, dirty, hint, discard;
};

static int build_mappings(struct cache_restore *rs, struct pd_tm *tm,
			  uint64_t *root)
{
	struct pd_array_builder *ab;
	uint64_t nr = rs->sb.nr_cache_blocks;
	uint64_t keep = rs->version >= 2 ? ~(uint64_t)CACHE_M_DIRTY : ~0ull;
	int r;

	r = pd_array_builder_create(tm, sizeof(uint64_t), &ab);
	if (r < 0)
		return r;
	/* A block's worth at a time: one builder call per array block. */
	for (uint64_t c = 0; c < nr && !r;) {
		unsigned char v[8 * 512];
		uint64_t k = nr - c < 512 ? nr - c : 512;

		for (uint64_t i = 0; i < k; i++)
			store_le64(v + 8 * i, rs->mappings[c + i] & keep);
		r = pd_array_builder_add_many(ab, v, k);
		c += k;
	}
	if (!r)
		r = pd_array_builder_finish(ab, root);
	pd_array_builder_destroy(ab);
	return r;
}

/* v2: a bit for each dirty mapped block and nothing else (padding 0). */
static int build_dirty(struct cache_restore *rs, struct pd_tm *tm,
		       uint64_t *root)
{
	struct base_bitmap bits;
	uint64_t nr = rs->sb.nr_cache_blocks;
	int r;

	if (base_bitmap_init(&bits, nr) < 0)
		return -ENOMEM;
	for (uint64_t c = 0; c < nr; c++)
		if (cache_mapping_flags(rs->mappings[c]) & CACHE_M_DIRTY)
			base_bitmap_set(&bits, c);
	r = pd_bitset_build(tm, &bits, root);
	base_bitmap_release(&bits);
	return r;
}

static int build_hints(struct cache_restore *rs, struct pd_tm *tm,
		       uint64_t *root)
{
	static const unsigned char zero[CACHE_MAX_HINT_SIZE];
	struct pd_array_builder *ab;
	uint64_t nr = rs->sb.nr_cache_blocks;
	uint32_t w = rs->sb.hint_width;
	int r;

	r = pd_array_builder_create(tm, w, &ab);
	if (r < 0)
		return r;
	if (!rs->hints)
		r = pd_array_builder_add_fill(ab, zero, nr);
	else
		r = pd_array_builder_add_many(ab, rs->hints, nr);
	if (!r)
		r = pd_array_builder_finish(ab, root);
	pd_array_builder_destroy(ab);
	return r;
}

static void policy_version(const struct cache_restore *rs, uint32_t v[3])
{
	static const char *const smq_module[] = { "smq", "mq", "cleaner" };

	v[0] = v[1] = v[2] = 0;
	if (rs->sb.have_binary) {
		memcpy(v, rs->sb.policy_version, 3 * sizeof(v[0]));
		return;
	}
	for (size_t i = 0; i < sizeof(smq_module) / sizeof(smq_module[0]); i++)
		if (!strcmp(rs->sb.policy, smq_module[i]))
			v[0] = 2;
}

struct fill_ctx {
	const struct cache_restore *rs;
	const struct roots *roots;
};

static int fill_sb(void *ctx, void *data, const struct pd_sm_root_cpu *root)
{
	const struct fill_ctx *f = ctx;
	const struct cache_restore *rs = f->rs;
	struct cache_sb sb;

	memset(&sb, 0, sizeof(sb));
	sb.flags = rs->opts.flags & CACHE_RESTORE_OMIT_CLEAN_SHUTDOWN ?
		   0 : CACHE_SB_CLEAN_SHUTDOWN;
	memcpy(sb.uuid, rs->sb.uuid, sizeof(sb.uuid));
	sb.magic = CACHE_SB_MAGIC;
	sb.version = rs->version;
	memcpy(sb.policy_name, rs->sb.policy, CACHE_POLICY_NAME_SIZE);
	sb.policy_hint_size = rs->sb.hint_width;
	sb.sm_root = *root;
	sb.mapping_root = f->roots->mapping;
	sb.hint_root = f->roots->hint;
	sb.discard_root = f->roots->discard;
	sb.discard_block_size = rs->discard_block_size;
	sb.discard_nr_blocks = rs->discard_nr_blocks;
	sb.data_block_size = (uint32_t)rs->sb.block_size;
	sb.metadata_block_size = PD_SECTORS_PER_BLOCK;
	sb.cache_blocks = (uint32_t)rs->sb.nr_cache_blocks;
	policy_version(rs, sb.policy_version);
	sb.dirty_root = f->roots->dirty;
	cache_sb_pack(&sb, data);
	return 0;
}

/*
 * Old metadata on the device goes first: with block 0 zeroed and flushed,
 * the blocks below can be overwritten in any order and a crash shows an
 * unformatted device, never an old superblock over a half-new tree.
 */
static int zero_superblock(struct cache_restore *rs)
{
	static const unsigned char zero[PD_BLOCK_SIZE];
	struct pd_io *io = rs->io;
	int r;

	r = io->ops->write(io, PD_TM_SB_LOCATION, 1, zero);
	if (r < 0)
		return r;
	rs->left = CACHE_RESTORE_LEFT_ZEROED;
	return io->ops->flush(io);
}

/*
 * After a failed commit: a block 0 that reads back non-zero is the new
 * superblock, written before the last flush failed.
 */
static void note_left(struct cache_restore *rs)
{
	unsigned char *b;

	if (rs->left != CACHE_RESTORE_LEFT_ZEROED)
		return;
	b = malloc(PD_BLOCK_SIZE);
	if (!b)
		return;
	if (!rs->io->ops->read(rs->io, PD_TM_SB_LOCATION, 1, b) &&
	    (b[0] || memcmp(b, b + 1, PD_BLOCK_SIZE - 1)))
		rs->left = CACHE_RESTORE_LEFT_UNFLUSHED;
	free(b);
}

uint64_t cache_restore_block_size(const struct cache_restore *rs)
{
	return rs->sb.block_size;
}

enum cache_restore_left cache_restore_left(const struct cache_restore *rs)
{
	return rs->left;
}

int cache_restore_commit(struct cache_restore *rs)
{
	struct roots roots = { 0 };
	struct fill_ctx f = { rs, &roots };
	struct pd_bm *bm;
	struct pd_tm *tm;
	int r;

	if (rs->stage != S_COMPLETE)
		return failf(rs, -EINVAL, "the input was not complete");
	rs->stage = S_COMMITTED;
	r = zero_superblock(rs);
	if (r < 0)
		return r;
	r = pd_bm_create(rs->io, RESTORE_BM_BLOCKS, &bm);
	if (r < 0)
		return r;
	r = pd_tm_create(bm, &tm);
	if (r < 0)
		goto out_bm;

	/* A salvaged geometry without <discards>: all bits clear. */
	if (rs->discards.nr_bits != rs->discard_nr_blocks) {
		base_bitmap_release(&rs->discards);
		r = base_bitmap_init(&rs->discards, rs->discard_nr_blocks);
		if (r < 0)
			goto out_tm;
	}
	r = build_mappings(rs, tm, &roots.mapping);
	if (!r && rs->version >= 2)
		r = build_dirty(rs, tm, &roots.dirty);
	/* Done with the mappings: give the memory back before the hints. */
	if (!rs->borrowed) {
		free(rs->mappings);
		rs->mappings = NULL;
	}
	if (!r && rs->sb.hint_width)
		r = build_hints(rs, tm, &roots.hint);
	if (!r)
		r = pd_bitset_build(tm, &rs->discards, &roots.discard);
	if (!r)
		r = pd_tm_commit(tm, fill_sb, &f, &cache_sb_validator);

out_tm:
	pd_tm_destroy(tm);
out_bm:
	pd_bm_destroy(bm);
	if (r < 0)
		note_left(rs);
	return r;
}
