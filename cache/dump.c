// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The dump (see dump.h).  Two phases: first every structure is read into
 * memory and checked (superblock, dirty bitset, discard bitset, mapping
 * array, hint array), then the events are produced from memory.  Reading
 * first is what lets a dump without repair fail cleanly, with no partial
 * XML, and it keeps the emitting loops free of I/O, which is most of what
 * makes them fast.
 *
 * Nothing the superblock says is used to size memory before it is checked
 * against the device: an array of N values needs N / per-block distinct
 * blocks, so a count the device cannot hold is refused, not allocated.
 */
#include "cache/dump.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitmap.h"
#include "base/endian.h"
#include "pdata/array.h"
#include "pdata/bitset.h"
#include "pdata/ondisk.h"

/*
 * Blocks the block manager keeps.  The array walk prefetches the array
 * blocks of one btree leaf at a time (at most 252) and a prefetch may use
 * half the cache, so 1024 blocks (4 MiB) keep a whole leaf in flight;
 * more only costs page faults.
 */
#define DUMP_BM_BLOCKS 1024u

/* Bytes a hint array block can hold (4096 minus the array header). */
#define ARRAY_PAYLOAD (PD_BLOCK_SIZE - (uint32_t)sizeof(struct pd_array_header))

struct dump {
	struct pd_bm *bm;
	struct cache_dump_result *res;
	const struct cache_sb *sb;
	int repair;
	uint64_t nr;			/* cache blocks */
	uint32_t hint_width;
	int have_hints;			/* walk and print the hint array */
	int have_discards;		/* print <discards> */

	uint64_t block_size;		/* as printed (repair: never 0) */
	uint64_t *map;			/* raw le64 mapping values, nr */
	uint64_t nr_valid;		/* valid entries in map */
	uint64_t max_oblock;		/* the largest origin they map */
	unsigned char *hints;		/* hint_width bytes per cache block */
	struct base_bitmap hint_ok;	/* hints that were read */
	struct base_bitmap dirty, dirty_lost;		/* v2 */
	struct base_bitmap discard, discard_lost;

	/* The walk in progress, for the damage callbacks. */
	const char *structure;
	uint64_t structure_len;		/* entries, to clip lost ranges */
	uint64_t *lost;			/* counter of the walk in progress */
};

const char *cache_dump_status_name(enum cache_dump_status s)
{
	switch (s) {
	case CACHE_DUMP_OK:
		return "ok";
	case CACHE_DUMP_SB_UNREADABLE:
		return "superblock cannot be read";
	case CACHE_DUMP_SB_ZEROED:
		return "superblock is all zeroes";
	case CACHE_DUMP_SB_NOT_CACHE:
		return "not dm-cache metadata (bad superblock magic)";
	case CACHE_DUMP_SB_LOCATION:
		return "superblock claims another location";
	case CACHE_DUMP_SB_CSUM:
		return "bad checksum in superblock";
	case CACHE_DUMP_SB_VERSION:
		return "unsupported metadata version";
	case CACHE_DUMP_SB_GEOMETRY:
		return "superblock claims more cache blocks than the device holds";
	case CACHE_DUMP_SB_INVALID:
		return "superblock is invalid";
	case CACHE_DUMP_DAMAGED:
		return "metadata contains errors";
	case CACHE_DUMP_ERROR:
		break;
	}
	return "error";
}

static int fail(struct dump *d, enum cache_dump_status s, int err)
{
	d->res->status = s;
	d->res->err = err;
	return err;
}

/*
 * One damage report: remember the first, count the lost entries, and
 * without repair stop the walk at once (the walkers pass a callback's
 * non-zero value back).
 */
static int damage(struct dump *d, const struct pd_fault *f, uint64_t begin,
		  uint64_t end)
{
	struct cache_dump_result *res = d->res;

	res->nr_damage++;
	if (!res->structure) {
		res->structure = d->structure;
		if (f)
			res->fault = *f;
	}
	if (end > d->structure_len)
		end = d->structure_len;
	if (d->lost && begin < end)
		*d->lost += end - begin;
	return d->repair ? 0 : -EUCLEAN;
}

static int array_damage(void *ctx, const struct pd_array_damage *a)
{
	const struct pd_fault *f =
		a->problem == PD_ARR_BTREE ? &a->btree.fault : &a->fault;

	return damage(ctx, f, a->index_begin, a->index_end);
}

/* Bitset damage comes in word indices; the lost bitmap has the bits. */
static int bitset_damage(void *ctx, const struct pd_array_damage *a)
{
	const struct pd_fault *f =
		a->problem == PD_ARR_BTREE ? &a->btree.fault : &a->fault;

	return damage(ctx, f, 0, 0);
}

/* Damage found here rather than by a walker (a structure that cannot fit). */
static int whole_loss(struct dump *d, const char *structure, uint64_t len,
		      uint64_t *lost)
{
	d->structure = structure;
	d->structure_len = len;
	d->lost = lost;
	return damage(d, NULL, 0, len);
}

static int map_values(void *ctx, uint64_t index, unsigned nr,
		      const void *values, uint64_t block)
{
	struct dump *d = ctx;

	(void)block;
	if (index >= d->nr)
		return 0;
	if (nr > d->nr - index)
		nr = (unsigned)(d->nr - index);
	memcpy(d->map + index, values, (size_t)nr * sizeof(uint64_t));
	/* For check_origins, while the values are in the cache. */
	for (unsigned i = 0; i < nr; i++) {
		uint64_t v = le64_to_cpu(((const le64 *)values)[i]);

		if (cache_mapping_flags(v) & CACHE_M_VALID) {
			d->nr_valid++;
			if (cache_mapping_oblock(v) > d->max_oblock)
				d->max_oblock = cache_mapping_oblock(v);
		}
	}
	return 0;
}

static int hint_values(void *ctx, uint64_t index, unsigned nr,
		       const void *values, uint64_t block)
{
	struct dump *d = ctx;

	(void)block;
	if (index >= d->nr)
		return 0;
	if (nr > d->nr - index)
		nr = (unsigned)(d->nr - index);
	memcpy(d->hints + index * d->hint_width, values,
	       (size_t)nr * d->hint_width);
	base_bitmap_set_range(&d->hint_ok, index, index + nr);
	return 0;
}

/* The walkers return damage() values, -ENOMEM, or 0. */
static int walk_result(struct dump *d, int r)
{
	if (r == -EUCLEAN)
		return fail(d, CACHE_DUMP_DAMAGED, r);
	if (r < 0)
		return fail(d, CACHE_DUMP_ERROR, r);
	return 0;
}

static int is_zero_block(const unsigned char *p)
{
	for (unsigned i = 0; i < PD_BLOCK_SIZE; i++)
		if (p[i])
			return 0;
	return 1;
}

struct sb_first {
	struct cache_dump_result *res;
	struct cache_sb_violation v;	/* the first fatal one */
	int n;				/* fatal ones */
};

/*
 * Rules whose breach does not change how the metadata is read: the dump
 * goes on and the tool notes them.  0.9.0's dump checks none of them.
 */
static int sb_violation_harmless(const struct cache_sb_violation *v)
{
	switch (v->problem) {
	case CACHE_SB_BAD_FLAGS:		/* unknown bits, read anyway */
	case CACHE_SB_METADATA_BLOCK_SIZE:	/* always 4096 bytes here */
	case CACHE_SB_COMPAT_FLAGS:		/* safe to ignore by definition */
	case CACHE_SB_COMPAT_RO_FLAGS:		/* reading is safe by definition */
	case CACHE_SB_SM_NR_BLOCKS:		/* roots are range-checked */
		return 1;
	/*
	 * Not harmless to the reading, but to what is printed: no restore
	 * can write a block size of 0 or a policy name of 16 bytes, so a
	 * dump that printed them would not read back (repair mode fixes
	 * them: enum cache_dump_fix).
	 */
	case CACHE_SB_POLICY_NAME:
	case CACHE_SB_DATA_BLOCK_SIZE:
		return 0;
	case CACHE_SB_INCOMPAT_FLAGS:
		/*
		 * 0.9.0's variable hint size bit is understood here (the hint
		 * width comes from the field); the checker, not the dump, says
		 * the kernel would refuse it.  Other bits are features this
		 * reader does not know.
		 */
		return v->found == CACHE_INCOMPAT_VARIABLE_HINT_SIZE;
	default:
		return 0;
	}
}

static int sb_violation(void *ctx, const struct cache_sb_violation *v)
{
	struct sb_first *s = ctx;

	if (sb_violation_harmless(v)) {
		if (!s->res->nr_sb_notes++)
			s->res->sb_note = *v;
		return 0;
	}
	if (!s->n++)
		s->v = *v;
	return 0;
}

static int read_superblock(struct dump *d, struct cache_sb *sb)
{
	struct cache_dump_result *res = d->res;
	unsigned char *raw;
	struct pd_block *b;
	struct pd_fault f;
	struct sb_first first = { .res = res, .n = 0 };
	int r;

	memset(&f, 0, sizeof(f));
	r = pd_bm_read_lock(d->bm, CACHE_SB_LOCATION, NULL, &b, &f);
	if (r < 0)
		return fail(d, CACHE_DUMP_SB_UNREADABLE, r);
	raw = malloc(PD_BLOCK_SIZE);
	if (!raw) {
		pd_bm_unlock(b);
		return fail(d, CACHE_DUMP_ERROR, -ENOMEM);
	}
	memcpy(raw, pd_block_data(b), PD_BLOCK_SIZE);
	pd_bm_unlock(b);

	cache_sb_unpack(raw, sb);
	res->have_sb = 1;
	res->sb = *sb;
	/* Most telling first: blank, then not ours at all, then broken. */
	if (is_zero_block(raw)) {
		r = fail(d, CACHE_DUMP_SB_ZEROED, -EILSEQ);
		goto out;
	}
	if (sb->magic != CACHE_SB_MAGIC) {
		r = fail(d, CACHE_DUMP_SB_NOT_CACHE, -EILSEQ);
		goto out;
	}
	r = pd_validate(&cache_sb_validator, raw, CACHE_SB_LOCATION, &f);
	if (r < 0) {
		res->fault = f;
		r = fail(d, f.kind == PD_FAULT_LOCATION ? CACHE_DUMP_SB_LOCATION
							: CACHE_DUMP_SB_CSUM,
			 -EILSEQ);
		goto out;
	}
	if (sb->version < CACHE_MIN_VERSION || sb->version > CACHE_MAX_VERSION) {
		r = fail(d, CACHE_DUMP_SB_VERSION, -EILSEQ);
		goto out;
	}
	cache_sb_check(sb, raw, pd_bm_nr_blocks(d->bm), sb_violation, &first);
	if (first.n && !d->repair) {
		res->violation = first.v;
		r = fail(d, CACHE_DUMP_SB_INVALID, -EILSEQ);
		goto out;
	}
	r = 0;
out:
	free(raw);
	return r;
}

/*
 * The v2 dirty bitset.  Bits that cannot be read are set in dirty_lost,
 * and cache_mapping_dirty() then reports those blocks dirty.
 */
static int read_dirty(struct dump *d)
{
	const struct cache_sb *sb = d->sb;
	struct pd_array_walk_ops ops = { .damage = bitset_damage };
	int r;

	d->structure = "dirty bitset";
	d->structure_len = 0;
	d->lost = NULL;
	if (!sb->dirty_root) {
		/* Only reachable in repair mode: the check refused it before. */
		r = whole_loss(d, d->structure, 0, NULL);
		if (r)
			return walk_result(d, r);
		if (base_bitmap_init(&d->dirty, d->nr) < 0 ||
		    base_bitmap_init(&d->dirty_lost, d->nr) < 0)
			return fail(d, CACHE_DUMP_ERROR, -ENOMEM);
		base_bitmap_set_range(&d->dirty_lost, 0, d->nr);
	} else {
		r = pd_bitset_read(d->bm, sb->dirty_root, d->nr,
				   PD_WALK_PREFETCH, &ops, d, &d->dirty,
				   &d->dirty_lost);
		if (r)
			return walk_result(d, r);
	}
	d->res->lost_dirty = base_bitmap_count(&d->dirty_lost);
	return 0;
}

static int read_discards(struct dump *d)
{
	const struct cache_sb *sb = d->sb;
	struct pd_array_walk_ops ops = { .damage = bitset_damage };
	uint64_t n = sb->discard_nr_blocks;
	/* 509 words per array block; compared in words, so nothing overflows. */
	uint64_t fit_words = pd_bm_nr_blocks(d->bm) *
			     pd_array_entries_per_block(sizeof(uint64_t));
	int r;

	d->have_discards = n > 0;
	if (!sb->discard_root && !n)
		return 0;
	if (!sb->discard_root || n / 64 + (n % 64 != 0) > fit_words ||
	    (n && !sb->discard_block_size)) {
		d->have_discards = 0;
		r = whole_loss(d, "discard bitset", n, &d->res->lost_discards);
		return walk_result(d, r);
	}
	d->structure = "discard bitset";
	d->structure_len = 0;
	d->lost = NULL;
	r = pd_bitset_read(d->bm, sb->discard_root, n, PD_WALK_PREFETCH, &ops, d,
			   &d->discard, &d->discard_lost);
	if (r)
		return walk_result(d, r);
	d->res->lost_discards = base_bitmap_count(&d->discard_lost);
	return 0;
}

static int read_mappings(struct dump *d)
{
	struct pd_array_walk_ops ops = {
		.values = map_values,
		.damage = array_damage,
	};
	int r;

	d->map = calloc(d->nr ? d->nr : 1, sizeof(uint64_t));
	if (!d->map)
		return fail(d, CACHE_DUMP_ERROR, -ENOMEM);
	d->structure = "mapping array";
	d->structure_len = d->nr;
	d->lost = &d->res->lost_mappings;
	r = pd_array_walk(d->bm, d->sb->mapping_root, d->nr, sizeof(uint64_t),
			  PD_WALK_PREFETCH, &ops, d);
	return walk_result(d, r);
}

static int read_hints(struct dump *d)
{
	const struct cache_sb *sb = d->sb;
	struct pd_array_walk_ops ops = {
		.values = hint_values,
		.damage = array_damage,
	};
	uint32_t w = d->hint_width;
	int r;

	/* No hint array (the kernel before its first clean shutdown). */
	if (!sb->hint_root || !d->nr)
		return 0;
	if (!w)
		return 0;
	if (w % 4 || w > CACHE_MAX_HINT_SIZE ||
	    d->nr * w > pd_bm_nr_blocks(d->bm) * ARRAY_PAYLOAD) {
		/* Only in repair mode does a bad width get this far. */
		r = whole_loss(d, "hint array", d->nr, &d->res->lost_hints);
		if (!r && (w % 4 || w > CACHE_MAX_HINT_SIZE))
			d->res->fixed |= CACHE_DUMP_FIX_HINT_WIDTH;
		return walk_result(d, r);
	}
	d->hints = malloc((size_t)d->nr * w);
	if (!d->hints || base_bitmap_init(&d->hint_ok, d->nr) < 0)
		return fail(d, CACHE_DUMP_ERROR, -ENOMEM);
	d->have_hints = 1;
	d->structure = "hint array";
	d->structure_len = d->nr;
	d->lost = &d->res->lost_hints;
	r = pd_array_walk(d->bm, sb->hint_root, d->nr, w, PD_WALK_PREFETCH, &ops,
			  d);
	return walk_result(d, r);
}

/*
 * What the restore refuses in the mappings, found before the first event:
 * an origin block mapped by two cache blocks (the kernel would serve one's
 * data for the other), and a mapping past the origin size the discard
 * geometry gives (the kernel refuses the cache; the rule of the restore
 * and the checker).  Without repair either is damage: no XML.  With it,
 * as cache_repair decides: of two mappings of one origin the dirty one
 * stays, else the lower cache block; and against the geometry the
 * mappings win (they may be dirty, discard bits are only a hint), so the
 * discards are left out.
 */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

struct origin {
	uint64_t oblock;
	uint64_t rank;		/* clean (1) after dirty (0), then cblock */
};

static int cmp_origin(const void *a, const void *b)
{
	const struct origin *x = a, *y = b;

	if (x->oblock != y->oblock)
		return x->oblock < y->oblock ? -1 : 1;
	return (x->rank > y->rank) - (x->rank < y->rank);
}

static int mapping_dirty(const struct dump *d, uint64_t v, uint64_t c)
{
	return cache_mapping_dirty(d->sb->version, v, &d->dirty,
				   &d->dirty_lost, c);
}

/* One cache block per origin; the others' entries are cleared. */
static int drop_duplicates(struct dump *d, uint64_t n)
{
	le64 *map = (le64 *)d->map;
	struct origin *o = malloc(n * sizeof(*o));
	uint64_t k = 0;

	if (!o)
		return fail(d, CACHE_DUMP_ERROR, -ENOMEM);
	for (uint64_t c = 0; c < d->nr; c++) {
		uint64_t v = le64_to_cpu(map[c]);

		if (!(cache_mapping_flags(v) & CACHE_M_VALID))
			continue;
		o[k].oblock = cache_mapping_oblock(v);
		o[k].rank = (uint64_t)!mapping_dirty(d, v, c) << 63 | c;
		k++;
	}
	n = k;		/* the walk's count; a repeated index aside */
	qsort(o, n, sizeof(*o), cmp_origin);
	for (k = 1; k < n; k++) {
		if (o[k].oblock != o[k - 1].oblock)
			continue;
		map[o[k].rank & ~(1ull << 63)] = cpu_to_le64(0);
		d->res->nr_duplicates++;
		d->res->fixed |= CACHE_DUMP_FIX_DUPLICATES;
	}
	free(o);
	return 0;
}

static int check_origins(struct dump *d)
{
	const le64 *map = (const le64 *)d->map;
	uint64_t n = d->nr_valid, max = d->max_oblock;
	uint64_t dbs = d->sb->discard_block_size;
	uint64_t dnr = d->sb->discard_nr_blocks;
	struct base_bitmap seen;
	int dup = 0, exact = 0;

	if (n && d->have_discards && dbs && dnr <= UINT64_MAX / dbs) {
		uint64_t sectors = dbs * dnr;
		uint64_t limit = sectors / d->block_size +
				 !!(sectors % d->block_size);

		if (max >= limit) {
			d->structure = "discard geometry";
			d->structure_len = 0;
			d->lost = NULL;
			if (damage(d, NULL, 0, 0))
				return fail(d, CACHE_DUMP_DAMAGED, -EUCLEAN);
			d->have_discards = 0;
			d->res->lost_discards = dnr;
			d->res->fixed |= CACHE_DUMP_FIX_DISCARDS;
		}
	}
	if (n < 2)
		return 0;
	/* A bitmap while origins are dense enough, else straight to a sort. */
	if (max / 64 <= n + (1u << 20) && !base_bitmap_init(&seen, max + 1)) {
		for (uint64_t c = 0; c < d->nr && !dup; c++) {
			uint64_t v = le64_to_cpu(map[c]);

			if (cache_mapping_flags(v) & CACHE_M_VALID)
				dup = base_bitmap_test_and_set(&seen,
						cache_mapping_oblock(v));
		}
		base_bitmap_release(&seen);
		if (!dup)
			return 0;
		exact = 1;
	}
	if (!d->repair && !exact) {
		/* Sparse origins: a sorted copy says whether there is one. */
		uint64_t *o = malloc(n * sizeof(*o)), k = 0;

		if (!o)
			return fail(d, CACHE_DUMP_ERROR, -ENOMEM);
		for (uint64_t c = 0; c < d->nr; c++) {
			uint64_t v = le64_to_cpu(map[c]);

			if (cache_mapping_flags(v) & CACHE_M_VALID)
				o[k++] = cache_mapping_oblock(v);
		}
		n = k;		/* the walk's count; a repeated index aside */
		qsort(o, n, sizeof(*o), cmp_u64);
		for (k = 1; k < n && !dup; k++)
			dup = o[k] == o[k - 1];
		free(o);
		if (!dup)
			return 0;
	}
	if (!d->repair) {
		d->structure = "mapping array";
		d->structure_len = 0;
		d->lost = NULL;
		damage(d, NULL, 0, 0);
		return fail(d, CACHE_DUMP_DAMAGED, -EUCLEAN);
	}
	return drop_duplicates(d, n);
}

/* ---- emitting ---- */

#define EMIT(d, e, call)						\
	do {								\
		int r_ = (call);					\
		if (r_)							\
			return fail((d), CACHE_DUMP_ERROR, r_ < 0 ? r_ : -EIO); \
	} while (0)

/*
 * The superblock as the XML will have it.  In repair mode the fields no
 * restore could write are fixed (enum cache_dump_fix); without it the
 * superblock check refused them already.
 */
static void emit_sb_fill(struct dump *d, struct cache_emit_sb *out)
{
	const struct cache_sb *sb = d->sb;
	struct cache_dump_result *res = d->res;

	memset(out, 0, sizeof(*out));
	memcpy(out->uuid, sb->uuid, sizeof(out->uuid));
	out->block_size = d->block_size;
	if (!sb->data_block_size)
		res->fixed |= CACHE_DUMP_FIX_BLOCK_SIZE;
	out->nr_cache_blocks = sb->cache_blocks;
	memcpy(out->policy, sb->policy_name, sizeof(out->policy));
	if (!sb->policy_name_terminated) {
		out->policy[CACHE_POLICY_NAME_SIZE - 1] = '\0';
		res->fixed |= CACHE_DUMP_FIX_POLICY;
	}
	/*
	 * 0 when there is no hint array to print (hint_root 0, as the kernel
	 * leaves it before its first clean shutdown, and as the restore
	 * writes hint_width 0), or when a width no restore takes had its
	 * hints dropped: a width printed over no array would make the next
	 * restore write one of zeros.  0.9.0 prints 4 (and its restore
	 * cannot read 0).
	 */
	if (!sb->hint_root || (res->fixed & CACHE_DUMP_FIX_HINT_WIDTH))
		out->hint_width = 0;
	else
		out->hint_width = d->hint_width;
	res->hint_width = out->hint_width;
	out->have_binary = 1;
	out->version = sb->version;
	out->flags = sb->flags;
	memcpy(out->policy_version, sb->policy_version,
	       sizeof(out->policy_version));
	out->discard_block_size = sb->discard_block_size;
	out->discard_nr_blocks = sb->discard_nr_blocks;
}

static int emit_mappings(struct dump *d, const struct cache_emitter *e)
{
	const struct base_bitmap *bits = NULL, *lost = NULL;
	uint32_t version = d->sb->version;

	if (version >= 2) {
		bits = &d->dirty;
		lost = &d->dirty_lost;
	}
	if (e->begin_mappings)
		EMIT(d, e, e->begin_mappings(e->ctx));
	for (uint64_t c = 0; c < d->nr; c++) {
		uint64_t v = le64_to_cpu(((const le64 *)d->map)[c]);
		int dirty;

		if (!(cache_mapping_flags(v) & CACHE_M_VALID))
			continue;
		dirty = cache_mapping_dirty(version, v, bits, lost, c);
		d->res->nr_mappings++;
		d->res->nr_dirty += (uint64_t)dirty;
		if (e->mapping)
			EMIT(d, e, e->mapping(e->ctx, c, cache_mapping_oblock(v),
					      dirty));
	}
	if (e->end_mappings)
		EMIT(d, e, e->end_mappings(e->ctx));
	return 0;
}

static int emit_hints(struct dump *d, const struct cache_emitter *e)
{
	if (e->begin_hints)
		EMIT(d, e, e->begin_hints(e->ctx));
	for (uint64_t c = 0; d->have_hints && c < d->nr; c++) {
		uint64_t v = le64_to_cpu(((const le64 *)d->map)[c]);

		/* Hints only for valid mappings, as 0.9.0 prints them. */
		if (!(cache_mapping_flags(v) & CACHE_M_VALID) ||
		    !base_bitmap_test(&d->hint_ok, c))
			continue;
		d->res->nr_hints++;
		if (e->hint)
			EMIT(d, e, e->hint(e->ctx, c,
					   d->hints + c * d->hint_width,
					   d->hint_width));
	}
	if (e->end_hints)
		EMIT(d, e, e->end_hints(e->ctx));
	return 0;
}

static int emit_discards(struct dump *d, const struct cache_emitter *e)
{
	struct cache_emit_discards g = {
		.block_size = d->sb->discard_block_size,
		.nr_blocks = d->sb->discard_nr_blocks,
	};
	uint64_t n = d->discard.nr_bits, b = 0;

	if (!d->have_discards)
		return 0;
	if (e->begin_discards)
		EMIT(d, e, e->begin_discards(e->ctx, &g));
	/* Lost bits are clear in d->discard: not discarded is the safe side. */
	while ((b = base_bitmap_next_set(&d->discard, b)) < n) {
		uint64_t end = base_bitmap_next_clear(&d->discard, b);

		d->res->nr_discarded += end - b;
		if (e->discard)
			EMIT(d, e, e->discard(e->ctx, b, end));
		b = end;
	}
	if (e->end_discards)
		EMIT(d, e, e->end_discards(e->ctx));
	return 0;
}

static int emit_all(struct dump *d, const struct cache_emitter *e)
{
	struct cache_emit_sb esb;
	int r;

	emit_sb_fill(d, &esb);
	if (e->begin_superblock)
		EMIT(d, e, e->begin_superblock(e->ctx, &esb));
	r = emit_mappings(d, e);
	if (!r)
		r = emit_hints(d, e);
	if (!r)
		r = emit_discards(d, e);
	if (r)
		return r;
	if (e->end_superblock)
		EMIT(d, e, e->end_superblock(e->ctx));
	return 0;
}

int cache_dump(struct pd_io *io, const struct cache_dump_opts *opts,
	       const struct cache_emitter *e, struct cache_dump_result *res)
{
	struct dump d;
	struct cache_sb sb;
	uint64_t fit;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&d, 0, sizeof(d));
	d.res = res;
	d.sb = &sb;
	d.repair = opts && (opts->flags & CACHE_DUMP_REPAIR);
	r = pd_bm_create(io, DUMP_BM_BLOCKS, &d.bm);
	if (r < 0)
		return fail(&d, CACHE_DUMP_ERROR, r);

	r = read_superblock(&d, &sb);
	if (r < 0)
		goto out;
	d.nr = sb.cache_blocks;
	d.hint_width = cache_sb_hint_width(&sb);
	/* 0 got here only in repair mode: see CACHE_DUMP_FIX_BLOCK_SIZE. */
	d.block_size = sb.data_block_size ? sb.data_block_size
					  : CACHE_DUMP_GUESS_BLOCK_SIZE;
	/* The mapping array needs a block per 509 entries. */
	fit = pd_bm_nr_blocks(d.bm) * pd_array_entries_per_block(sizeof(uint64_t));
	if (d.nr > fit) {
		r = fail(&d, CACHE_DUMP_SB_GEOMETRY, -EILSEQ);
		goto out;
	}

	if (sb.version >= 2) {
		r = read_dirty(&d);
		if (r < 0)
			goto out;
	}
	r = read_discards(&d);
	if (r < 0)
		goto out;
	r = read_mappings(&d);
	if (r < 0)
		goto out;
	r = read_hints(&d);
	if (r < 0)
		goto out;
	r = check_origins(&d);
	if (r < 0)
		goto out;
	if (opts && opts->before_emit) {
		r = opts->before_emit(opts->ctx, res);
		if (r) {
			r = fail(&d, CACHE_DUMP_ERROR, r < 0 ? r : -EIO);
			goto out;
		}
	}
	r = emit_all(&d, e);
out:
	base_bitmap_release(&d.discard_lost);
	base_bitmap_release(&d.discard);
	base_bitmap_release(&d.dirty_lost);
	base_bitmap_release(&d.dirty);
	base_bitmap_release(&d.hint_ok);
	free(d.hints);
	free(d.map);
	pd_bm_destroy(d.bm);
	return r;
}
