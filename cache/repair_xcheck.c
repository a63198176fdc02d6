// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_repair's cross-check of the superblock against the structures
 * (repair.h, "Cross-check").  A checksum proves that the superblock is
 * the one that was written, not that its fields are right: a zeroed
 * cache-block count, a wrong hint size or a wrong version would otherwise
 * throw intact structures away.  Every field that a structure also
 * records is compared with it:
 *
 *   cache blocks      the lengths of the mapping and hint arrays (exact)
 *                     and of the dirty bitset (to 64)
 *   hint width        the value size of the hint array's blocks
 *   version           a dirty bitset of the cache's length at the dirty
 *                     root (2), the v1 dirty flag in mappings (1)
 *   discard geometry  the length of the discard bitset
 *
 * The structures win when they agree among themselves; when they disagree
 * the superblock breaks the tie, else the mapping array (it holds the
 * data) wins; a field nothing contradicts is kept.  The report's why[]
 * says which won and what each said.  Only the shape of a structure is
 * read here (its btree and its last array block); the walk reads the rest.
 *
 * The dirty bitset of a v2 cache whose superblock says v1, or lost its
 * dirty root, is still on disk: allocated in the space map, referenced by
 * nothing.  repair_find_leaked_dirty() looks for it there.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "cache/repair_int.h"
#include "pdata/array.h"
#include "pdata/bitset.h"
#include "pdata/btree.h"
#include "pdata/ondisk.h"
#include "pdata/sm.h"

/* What the root of a dm-array says about the array. */
struct shape {
	int sound;		/* btree sound, keys dense, last block read */
	uint32_t value_size;	/* 0 for an empty array */
	uint64_t length;	/* entries */
};

struct shape_walk {
	uint64_t nr_keys;
	uint64_t max_key;
	uint64_t last_child;
	int damaged;
};

static int shape_leaf(void *ctx, uint64_t block, unsigned nr,
		      const void *keys, const void *values, int counted)
{
	struct shape_walk *w = ctx;

	(void)counted;
	(void)block;
	if (!nr)
		return 0;
	/* Leaves come in key order: the last entry seen is the highest. */
	w->nr_keys += nr;
	w->max_key = load_le64((const unsigned char *)keys + 8 * (nr - 1));
	w->last_child = load_le64((const unsigned char *)values + 8 * (nr - 1));
	return 0;
}

static int shape_damage(void *ctx, const struct pd_btree_damage *d)
{
	(void)d;
	((struct shape_walk *)ctx)->damaged = 1;
	return 0;
}

/*
 * The array's shape from its btree (keys must be exactly 0..k) and its
 * last array block (value size, entries per block, entries in it).  Any
 * doubt leaves sound clear: an unsound shape contradicts nothing.
 */
static int probe_array(const struct cache_salvage *s, struct pd_bm *bm,
		       uint64_t root, struct shape *out)
{
	static const struct pd_btree_walk_ops ops = {
		.leaf = shape_leaf,
		.damage = shape_damage,
	};
	struct shape_walk w = { 0 };
	const struct pd_array_header *h;
	struct pd_block *b;
	uint32_t vs, max, nr;
	int r;

	memset(out, 0, sizeof(*out));
	if (!root_usable(s, root))
		return 0;
	r = pd_btree_walk(bm, root, 8, 0, &ops, &w);
	if (r)
		return r < 0 ? r : -EIO;
	if (w.damaged)
		return 0;
	if (!w.nr_keys) {
		out->sound = 1;		/* an empty array */
		return 0;
	}
	if (w.max_key != w.nr_keys - 1 ||
	    !root_usable(s, w.last_child) ||
	    pd_bm_read_lock(bm, w.last_child, &pd_array_validator, &b,
			    NULL) < 0)
		return 0;
	h = pd_block_data(b);
	vs = le32_to_cpu(h->value_size);
	max = le32_to_cpu(h->max_entries);
	nr = le32_to_cpu(h->nr_entries);
	pd_bm_unlock(b);
	if (!vs || vs > PD_BLOCK_SIZE - sizeof(*h) ||
	    max != pd_array_entries_per_block(vs) || !nr || nr > max)
		return 0;
	out->sound = 1;
	out->value_size = vs;
	out->length = w.max_key * max + nr;
	return 0;
}

static int plausible_width(uint32_t w)
{
	return w && w % 4 == 0 && w <= CACHE_MAX_HINT_SIZE;
}

/* Cache blocks: the mapping and hint arrays' lengths, the dirty bitset's. */
/* Cache blocks whose arrays the larger of input and output could hold. */
static uint64_t max_nr(const struct cache_salvage *s,
		       const struct cache_repair_opts *o)
{
	uint64_t blocks = s->dev_blocks > o->out_blocks ? s->dev_blocks :
							  o->out_blocks;

	return blocks * MAP_PER_BLOCK;
}

static void check_nr(struct cache_salvage *s,
		     const struct cache_repair_opts *o, struct decided *d,
		     const struct shape *map, const struct shape *hint,
		     const struct shape *dirty)
{
	char *why = s->rep.why[CACHE_FIELD_NR_CACHE_BLOCKS];
	size_t len = sizeof(s->rep.why[0]);
	uint64_t m = map->length, h = hint->length, n;
	/*
	 * The same bound as the superblock's count (memory in proportion to
	 * the devices; the format's count is 32 bits): a btree whose dense
	 * keys all point at one array block could claim far more.
	 */
	uint64_t bound = max_nr(s, o) < UINT32_MAX ? max_nr(s, o) : UINT32_MAX;
	/*
	 * An empty array contradicts nothing: any empty leaf looks like
	 * one, and a count of 0 would throw every mapping away.
	 */
	int have_m = map->sound && map->value_size == 8 && m && m <= bound;
	int have_h = hint->sound && d->hint_root && h && h <= bound;
	const char *which, *also = "";
	char tie[64] = "";

	if (!have_m && !have_h) {
		uint64_t w = dirty->length;

		/*
		 * Only the dirty bitset: it gives the count to within 64.
		 * A count outside that is contradicted but cannot be
		 * replaced exactly: the scan guesses it (layer 3).
		 */
		if (!d->have_nr || !d->dirty_root || !dirty->sound ||
		    dirty->value_size != 8 || !w || div_up(s->nr, 64) == w)
			return;
		snprintf(why, len, "the dirty bitset holds %" PRIu64
			 " words, for %" PRIu64 " to %" PRIu64 " cache blocks; "
			 "the superblock said %" PRIu64 ": left to the scan",
			 w, (w - 1) * 64 + 1, w * 64, s->nr);
		d->have_nr = 0;
		return;
	}
	if (have_m && have_h && m != h) {
		/* They disagree: the superblock breaks the tie. */
		if (d->have_sb && (d->sb_nr == m || d->sb_nr == h)) {
			snprintf(why, len, "the superblock agrees with the %s "
				 "array; the %s array holds %" PRIu64,
				 d->sb_nr == m ? "mapping" : "hint",
				 d->sb_nr == m ? "hint" : "mapping",
				 d->sb_nr == m ? h : m);
			if (!d->have_nr) {
				s->nr = d->sb_nr;
				d->have_nr = 1;
			}
			return;
		}
		/* Else the mapping array: it holds the data. */
		n = m;
		which = "the mapping array holds";
		snprintf(tie, sizeof(tie), " (the hint array %" PRIu64 ")", h);
		also = tie;
	} else if (have_m) {
		n = m;
		which = have_h ? "the mapping and hint arrays hold" :
				 "the mapping array holds";
	} else {
		n = h;
		which = "the hint array holds";
	}
	/*
	 * The dirty bitset gives the count only to 64: one that disagrees
	 * with the arrays is the odd one out, and its walk reports it.
	 */
	if (d->have_nr && s->nr == n)
		return;		/* agreed */
	if (d->have_sb)
		snprintf(why, len, "%s %" PRIu64 " entries%s; the superblock "
			 "said %" PRIu64, which, n, also, d->sb_nr);
	else
		snprintf(why, len, "%s %" PRIu64 " entries%s", which, n, also);
	s->nr = n;
	d->have_nr = 1;
	set_source(s, CACHE_FIELD_NR_CACHE_BLOCKS, CACHE_FROM_STRUCTURES);
}

/* Hint width: the hint array's value size, when the array fits the cache. */
static void check_width(struct cache_salvage *s, struct decided *d,
			const struct shape *hint)
{
	uint32_t vs = hint->value_size;

	if (!d->hint_root || !hint->sound || !plausible_width(vs) ||
	    !d->have_nr || hint->length != s->nr)
		return;
	if (d->have_width && s->width == vs)
		return;
	snprintf(s->rep.why[CACHE_FIELD_HINT_WIDTH], sizeof(s->rep.why[0]),
		 "the hint array's values are %" PRIu32 " bytes; the "
		 "superblock said %" PRIu32, vs, d->sb_width);
	s->width = vs;
	d->have_width = 1;
	set_source(s, CACHE_FIELD_HINT_WIDTH, CACHE_FROM_STRUCTURES);
}

/* Version 2 when a dirty bitset of the cache's length is at the root. */
static void check_version(struct cache_salvage *s, struct decided *d,
			  const struct shape *dirty)
{
	if (!d->have_nr || !s->nr || !d->dirty_root || !dirty->sound ||
	    dirty->value_size != 8 ||
	    dirty->length != div_up(s->nr, 64))
		return;
	if (d->have_version && s->version >= 2)
		return;
	snprintf(s->rep.why[CACHE_FIELD_VERSION], sizeof(s->rep.why[0]),
		 "a dirty bitset of the cache's length is at dirty_root "
		 "%" PRIu64 "; the superblock said %" PRIu32, d->dirty_root,
		 d->sb_version);
	s->version = 2;
	d->have_version = 1;
	set_source(s, CACHE_FIELD_VERSION, CACHE_FROM_STRUCTURES);
}

/*
 * The discard geometry against the discard bitset's length.  The bitset
 * gives the count only to 64 and the block size not at all, so a
 * contradiction cannot be settled by either: the geometry is a hint (the
 * kernel sets a new one from the origin at the next load, and trusts the
 * bits only after a clean shutdown), so it is dropped with its bits.
 */
static void check_discards(struct cache_salvage *s, const struct shape *disc)
{
	struct cache_emit_sb *e = &s->rep.sb;
	uint64_t words;

	if (!e->discard_nr_blocks || !disc->sound ||
	    (disc->length && disc->value_size != 8))
		return;
	words = div_up(e->discard_nr_blocks, 64);
	if (disc->length == words)
		return;
	snprintf(s->rep.why[CACHE_FIELD_DISCARDS], sizeof(s->rep.why[0]),
		 "the discard bitset holds %" PRIu64 " words; the "
		 "superblock's %" PRIu64 " blocks need %" PRIu64
		 ": geometry and bits dropped",
		 disc->length, e->discard_nr_blocks, words);
	e->discard_block_size = 0;
	e->discard_nr_blocks = 0;
	set_source(s, CACHE_FIELD_DISCARDS, CACHE_FROM_STRUCTURES);
}

int repair_cross_check(struct cache_salvage *s, struct pd_bm *bm,
		       const struct cache_repair_opts *o, struct decided *d)
{
	struct shape map, hint, dirty, disc;
	int r;

	if (!d->use_roots)
		return 0;
	r = probe_array(s, bm, d->mapping_root, &map);
	if (!r && d->hint_root)
		r = probe_array(s, bm, d->hint_root, &hint);
	else
		memset(&hint, 0, sizeof(hint));
	if (!r && d->dirty_root)
		r = probe_array(s, bm, d->dirty_root, &dirty);
	else
		memset(&dirty, 0, sizeof(dirty));
	if (!r)
		r = probe_array(s, bm, d->discard_root, &disc);
	if (r)
		return r;
	if (!o->have_nr_cache_blocks)
		check_nr(s, o, d, &map, &hint, &dirty);
	if (!o->have_hint_width)
		check_width(s, d, &hint);
	if (!o->have_version)
		check_version(s, d, &dirty);
	check_discards(s, &disc);
	return 0;
}

void repair_version_from_mappings(struct cache_salvage *s,
				  const struct cache_repair_opts *o,
				  struct decided *d)
{
	int unsettled = !d->have_version ||
			(s->version >= 2 && !d->dirty_root);
	char *why = s->rep.why[CACHE_FIELD_VERSION];
	uint64_t flagged = 0;

	if (o->have_version || !unsettled)
		return;
	if (s->map)
		for (uint64_t c = 0; c < s->nr; c++)
			if (base_bitmap_test(&s->known, c) &&
			    (s->map[c] & CACHE_M_VALID) &&
			    (cache_mapping_flags(s->map[c]) & CACHE_M_DIRTY))
				flagged++;
	if (flagged) {
		if (d->have_sb)
			snprintf(why, sizeof(s->rep.why[0]),
				 "%" PRIu64 " mapping(s) carry the v1 dirty "
				 "flag and there is no dirty root; the "
				 "superblock said %" PRIu32,
				 flagged, d->sb_version);
		else
			snprintf(why, sizeof(s->rep.why[0]),
				 "%" PRIu64 " mapping(s) carry the v1 dirty "
				 "flag and there is no dirty root", flagged);
		s->version = 1;
		d->have_version = 1;
		set_source(s, CACHE_FIELD_VERSION, CACHE_FROM_STRUCTURES);
		return;
	}
	if (!d->have_version) {
		s->version = 2;
		d->have_version = 1;
		set_source(s, CACHE_FIELD_VERSION, CACHE_FROM_DEFAULT);
	}
}

/* ---- the dirty bitset left unreferenced ---- */

struct leak_ctx {
	struct cache_salvage *s;
	uint64_t damage;
};

static int mark_own(void *ctx, uint64_t block)
{
	struct leak_ctx *l = ctx;

	if (block < l->s->refd.nr_bits)
		base_bitmap_set(&l->s->refd, block);
	return 0;
}

static int count_damage(void *ctx, const struct pd_array_damage *dmg)
{
	(void)dmg;
	((struct leak_ctx *)ctx)->damage++;
	return 0;
}

#define MAX_LEAK_ROOTS 16u

/*
 * Leaked btree nodes of value size 8 that no other leaked node points at:
 * the roots of whatever was left unreferenced.  At most max of them.
 */
static size_t leaked_roots(struct cache_salvage *s, struct pd_bm *bm,
			   const uint32_t *counts,
			   const struct base_bitmap *unk, uint64_t n,
			   uint64_t *roots, size_t max)
{
	struct base_bitmap child;
	size_t nr = 0;

	if (base_bitmap_init(&child, s->dev_blocks))
		return 0;
	/* First pass: every block a leaked internal node points at. */
	for (int pass = 0; pass < 2; pass++) {
		for (uint64_t b = 1; b < n && b < s->dev_blocks; b++) {
			const struct pd_node_header *h;
			struct pd_block *blk;
			uint32_t flags, nre, max_e;

			if (!counts[b] || base_bitmap_test(unk, b) ||
			    base_bitmap_test(&s->refd, b))
				continue;
			if (pass && base_bitmap_test(&child, b))
				continue;
			if (pd_bm_read_lock(bm, b, &pd_btree_validator, &blk,
					    NULL) < 0)
				continue;
			h = pd_block_data(blk);
			flags = le32_to_cpu(h->flags);
			nre = le32_to_cpu(h->nr_entries);
			max_e = le32_to_cpu(h->max_entries);
			if (le32_to_cpu(h->value_size) == 8 &&
			    max_e == pd_btree_max_entries(8) && nre <= max_e) {
				const unsigned char *v = pd_node_values(h);

				for (uint32_t i = 0; !pass && i < nre &&
						    flags == PD_BTREE_INTERNAL;
				     i++) {
					uint64_t c = load_le64(v + 8 * i);

					if (c < s->dev_blocks)
						base_bitmap_set(&child, c);
				}
				if (pass && nr < max)
					roots[nr++] = b;
			}
			pd_bm_unlock(blk);
		}
	}
	base_bitmap_release(&child);
	return nr;
}

int repair_find_leaked_dirty(struct cache_salvage *s, struct pd_bm *bm,
			     const struct cache_repair_opts *o,
			     const struct decided *d)
{
	static const struct pd_sm_read_ops sm_ops = {
		.own_block_ref = mark_own,
	};
	static const struct pd_array_walk_ops bs_ops = {
		.damage = count_damage,
	};
	struct leak_ctx l = { s, 0 };
	struct base_bitmap unknown = { 0 };
	uint64_t roots[MAX_LEAK_ROOTS];
	uint32_t *counts = NULL;
	uint64_t n = 0;
	size_t nr_roots;
	int r;

	if (s->dirty_read || !s->nr || !s->map || !d->use_roots ||
	    !s->refd.words || !d->sm_root.nr_blocks ||
	    (o->have_version && o->version < 2))
		return 0;
	r = pd_sm_read(bm, &d->sm_root, &sm_ops, &l, &counts, &n, &unknown);
	if (r)
		return r == -ENOMEM ? r : 0;
	base_bitmap_set(&s->refd, 0);
	nr_roots = leaked_roots(s, bm, counts, &unknown, n, roots,
				MAX_LEAK_ROOTS);
	free(counts);
	base_bitmap_release(&unknown);
	/*
	 * Every candidate that reads whole as a bitset of the cache's length
	 * is taken, their bits united: should a lost discard bitset have the
	 * same length, a block may come out dirty that was not, never the
	 * other way round.
	 */
	for (size_t i = 0; i < nr_roots; i++) {
		struct base_bitmap bits, lost;
		int whole;

		l.damage = 0;
		r = pd_bitset_read(bm, roots[i], s->nr, 0, &bs_ops, &l, &bits,
				   &lost);
		if (r == -ENOMEM)
			return r;
		if (r)
			continue;
		whole = !l.damage && !base_bitmap_count(&lost);
		for (uint64_t w = 0; whole && w < div_up(s->nr, 64); w++)
			s->dirty.words[w] |= bits.words[w];
		base_bitmap_release(&bits);
		base_bitmap_release(&lost);
		if (!whole)
			continue;
		if (!s->rep.leaked_dirty_root)
			s->rep.leaked_dirty_root = roots[i];
		s->rep.leaked_dirty_bitsets++;
	}
	if (!s->rep.leaked_dirty_bitsets)
		return 0;
	/* Nothing of it was lost: no state is unknown. */
	memset(s->force_dirty.words, 0, div_up(s->nr, 64) * 8);
	s->dirty_read = 1;
	if (s->version < 2) {
		snprintf(s->rep.why[CACHE_FIELD_VERSION], sizeof(s->rep.why[0]),
			 "an unreferenced dirty bitset of the cache's length "
			 "is at block %" PRIu64 "; the superblock said "
			 "%" PRIu32,
			 s->rep.leaked_dirty_root, s->version);
		s->version = 2;
		set_source(s, CACHE_FIELD_VERSION, CACHE_FROM_STRUCTURES);
	}
	return 0;
}
