// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The btree write side: a streaming bottom-up builder for sorted input, and
 * insert/remove inside a transaction.
 *
 * The builder keeps two node buffers per level and nothing else, so memory
 * is O(height) whatever the number of keys.  A level fills its current node
 * completely, then holds it back as "pending" until the next node is
 * started: only at the end is it known which node is last, and if the last
 * one would be under a third full, the pending node and the last one share
 * their entries evenly.  So every node is full except the last two of a
 * level, and every non-root node is at least half full: the minimum
 * occupancy rule of FORMAT.md §3.4 holds without knowing the number of keys
 * in advance, and the node count is the minimum, ceil(n / max).
 *
 * A sharing builder (pd_btree_builder_create_shared, btree.h) ends nodes
 * where the keys say rather than when full, and looks each finished node up
 * among those written before on the same share (hash, then the bytes read
 * back), referencing an equal one instead of writing it: held back until
 * the next node starts, a node is only written or shared once it can no
 * longer change.
 *
 * Insert and remove follow the kernel: the path from the root is shadowed
 * top-down; on the way down insert splits every full node (the root in
 * place, over two new children; others into a new right sibling) so the
 * parent always has room, and remove first brings every child it descends
 * into above the minimum by merging with or borrowing from a sibling.
 * Depth is capped at PD_BTREE_MAX_DEPTH, so a cycle on disk cannot hang.
 */
#include "pdata/btree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "base/grow.h"
#include "pdata/ondisk.h"
#include "pdata/tm.h"

/* ---- node accessors (on raw 4096-byte node data) ---- */

static uint32_t n_nr(const void *d)
{
	return le32_to_cpu(((const struct pd_node_header *)d)->nr_entries);
}

static uint32_t n_max(const void *d)
{
	return le32_to_cpu(((const struct pd_node_header *)d)->max_entries);
}

static uint32_t n_vs(const void *d)
{
	return le32_to_cpu(((const struct pd_node_header *)d)->value_size);
}

static int n_internal(const void *d)
{
	return le32_to_cpu(((const struct pd_node_header *)d)->flags) ==
	       PD_BTREE_INTERNAL;
}

static void n_set_nr(void *d, uint32_t nr)
{
	((struct pd_node_header *)d)->nr_entries = cpu_to_le32(nr);
}

static unsigned char *key_at(void *d, uint32_t i)
{
	return (unsigned char *)d + PD_NODE_KEYS_OFFSET + 8 * (size_t)i;
}

static unsigned char *val_at(void *d, uint32_t i)
{
	return (unsigned char *)d + PD_NODE_KEYS_OFFSET + 8 * (size_t)n_max(d) +
	       (size_t)n_vs(d) * i;
}

static uint64_t key_get(const void *d, uint32_t i)
{
	return load_le64(key_at((void *)d, i));
}

static void node_init(void *d, uint32_t flags, uint32_t value_size)
{
	struct pd_node_header *h = d;

	memset(d, 0, PD_BLOCK_SIZE);
	h->flags = cpu_to_le32(flags);
	h->max_entries = cpu_to_le32(pd_btree_max_entries(value_size));
	h->value_size = cpu_to_le32(value_size);
}

/* Largest i with key[i] <= key, or -1. */
static int lower_bound(const void *d, uint64_t key)
{
	int lo = -1, hi = (int)n_nr(d);

	while (hi - lo > 1) {
		int mid = lo + (hi - lo) / 2;

		if (key_get(d, (uint32_t)mid) <= key)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Copies entries [from, from + n) of src to dst at to (same geometry). */
static void copy_entries(void *dst, uint32_t to, void *src, uint32_t from,
			 uint32_t n)
{
	memmove(key_at(dst, to), key_at(src, from), 8 * (size_t)n);
	memmove(val_at(dst, to), val_at(src, from), (size_t)n_vs(src) * n);
}

static void insert_at(void *d, uint32_t i, uint64_t key, const void *value)
{
	uint32_t nr = n_nr(d);

	if (i < nr)	/* the builder appends: nothing to move */
		copy_entries(d, i + 1, d, i, nr - i);
	store_le64(key_at(d, i), key);
	memcpy(val_at(d, i), value, n_vs(d));
	n_set_nr(d, nr + 1);
}

static void remove_at(void *d, uint32_t i)
{
	uint32_t nr = n_nr(d);

	copy_entries(d, i, d, i + 1, nr - i - 1);
	n_set_nr(d, nr - 1);
	/* Unused slots stay zero, as in a freshly written node. */
	memset(key_at(d, nr - 1), 0, 8);
	memset(val_at(d, nr - 1), 0, n_vs(d));
}

/* ---- node sharing (pd_btree_share) ---- */

/*
 * The nodes written so far, by a hash of their entries: an open-addressed
 * table of (hash, block), 16 bytes a slot, a quarter to half full, so 32
 * to 64 bytes per node written.  Block 0 (the superblock's) marks a free
 * slot.  A hash match is only a candidate: the block is read back and
 * compared byte for byte before it is shared.
 */
struct share_slot {
	uint64_t hash, block;
};

struct pd_btree_share {
	struct pd_tm *tm;
	struct share_slot *slots;
	size_t nr_slots, used;	/* nr_slots: a power of two */
	struct pd_btree_share_stats stats;
};

int pd_btree_share_create(struct pd_tm *tm, struct pd_btree_share **out)
{
	struct pd_btree_share *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->tm = tm;
	s->nr_slots = 1024;
	s->slots = calloc(s->nr_slots, sizeof(*s->slots));
	if (!s->slots) {
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void pd_btree_share_destroy(struct pd_btree_share *s)
{
	if (!s)
		return;
	free(s->slots);
	free(s);
}

void pd_btree_share_stats(const struct pd_btree_share *s,
			  struct pd_btree_share_stats *st)
{
	*st = s->stats;
}

static uint64_t mix64(uint64_t z)
{
	/* splitmix64's finaliser: every input bit moves every output bit */
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/*
 * Mixes n little-endian words into four lanes, word i into lane i % 4:
 * four chains the CPU runs side by side (one chain through every word of
 * a full leaf was a tenth of a restore's time).
 */
static void hash_words(uint64_t h[4], const unsigned char *p, size_t n)
{
	size_t i = 0;

	for (; i + 4 <= n; i += 4) {
		h[0] = mix64(h[0] ^ load_le64(p + 8 * i));
		h[1] = mix64(h[1] ^ load_le64(p + 8 * i + 8));
		h[2] = mix64(h[2] ^ load_le64(p + 8 * i + 16));
		h[3] = mix64(h[3] ^ load_le64(p + 8 * i + 24));
	}
	for (; i < n; i++)
		h[i % 4] = mix64(h[i % 4] ^ load_le64(p + 8 * i));
}

/*
 * A hash of a node's kind and used entries (keys and values, as stored),
 * for finding an equal node: a match is compared in full (share_find).
 */
static uint64_t node_hash(void *d)
{
	uint32_t nr = n_nr(d);
	size_t vbytes = (size_t)n_vs(d) * nr;
	const unsigned char *v = val_at(d, 0);
	uint64_t h[4];

	h[0] = mix64(nr ^ ((uint64_t)n_vs(d) << 32) ^
		     ((uint64_t)n_internal(d) << 63));
	h[1] = h[0] ^ 0x9E3779B97F4A7C15ull;
	h[2] = h[0] ^ 0xC2B2AE3D27D4EB4Full;
	h[3] = h[0] ^ 0x165667B19E3779F9ull;
	hash_words(h, key_at(d, 0), nr);
	hash_words(h, v, vbytes / 8);
	for (size_t i = vbytes & ~(size_t)7; i < vbytes; i++)
		h[0] = mix64(h[0] ^ v[i]);
	return mix64(h[0] ^ mix64(h[1] ^ mix64(h[2] ^ mix64(h[3]))));
}

static int share_insert(struct pd_btree_share *s, uint64_t hash,
			uint64_t block)
{
	size_t mask, i;

	if (2 * (s->used + 1) > s->nr_slots) {
		size_t n = 2 * s->nr_slots;
		struct share_slot *t = calloc(n, sizeof(*t));

		if (!t)
			return -ENOMEM;
		for (size_t j = 0; j < s->nr_slots; j++) {
			if (!s->slots[j].block)
				continue;
			for (i = s->slots[j].hash & (n - 1); t[i].block;
			     i = (i + 1) & (n - 1))
				;
			t[i] = s->slots[j];
		}
		free(s->slots);
		s->slots = t;
		s->nr_slots = n;
	}
	mask = s->nr_slots - 1;
	for (i = hash & mask; s->slots[i].block; i = (i + 1) & mask)
		;
	s->slots[i].hash = hash;
	s->slots[i].block = block;
	s->used++;
	return 0;
}

/*
 * A block written earlier with exactly d's node contents, or 0.  The
 * header's checksum and block number differ between copies by nature;
 * everything else must match.
 */
static int share_find(struct pd_btree_share *s, uint64_t hash, const void *d,
		      uint64_t *found)
{
	size_t mask = s->nr_slots - 1;
	const unsigned char *want = d;

	*found = 0;
	for (size_t i = hash & mask; s->slots[i].block; i = (i + 1) & mask) {
		struct pd_block *blk;
		const unsigned char *have;
		int same, r;

		if (s->slots[i].hash != hash)
			continue;
		r = pd_tm_read_lock(s->tm, s->slots[i].block,
				    &pd_btree_validator, &blk, NULL);
		if (r < 0)
			return r;
		have = pd_block_data(blk);
		same = !memcmp(have + 4, want + 4, 4) &&
		       !memcmp(have + 16, want + 16, PD_BLOCK_SIZE - 16);
		pd_bm_unlock(blk);
		if (same) {
			*found = s->slots[i].block;
			return 0;
		}
		s->stats.hash_collisions++;
	}
	return 0;
}

/* ---- bottom-up builder ---- */

struct level {
	unsigned char *cur, *pending;
	int has_pending;
	int cut;		/* cur is complete: the next entry starts a node */
	uint64_t emitted;	/* nodes of this level written so far */
};

struct pd_btree_builder {
	struct pd_tm *tm;
	uint32_t value_size;
	unsigned nr_levels;
	int have_key;
	uint64_t last_key;
	int err;		/* sticky: the build is dead after an error */
	/* Content-defined nodes and sharing (pd_btree_builder_create_shared). */
	struct pd_btree_share *share;
	pd_btree_new_leaf_fn new_leaf;
	void *new_leaf_ctx;
	struct level levels[PD_BTREE_MAX_DEPTH];
};

int pd_btree_builder_create(struct pd_tm *tm, uint32_t value_size,
			    struct pd_btree_builder **out)
{
	struct pd_btree_builder *b;

	*out = NULL;
	if (value_size == 0 || pd_btree_max_entries(value_size) < 3)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->tm = tm;
	b->value_size = value_size;
	*out = b;
	return 0;
}

int pd_btree_builder_create_shared(struct pd_tm *tm, uint32_t value_size,
				   struct pd_btree_share *share,
				   pd_btree_new_leaf_fn new_leaf, void *ctx,
				   struct pd_btree_builder **out)
{
	int r = pd_btree_builder_create(tm, value_size, out);

	if (r < 0)
		return r;
	(*out)->share = share;
	(*out)->new_leaf = new_leaf;
	(*out)->new_leaf_ctx = ctx;
	return 0;
}

void pd_btree_builder_destroy(struct pd_btree_builder *b)
{
	if (!b)
		return;
	for (unsigned i = 0; i < b->nr_levels; i++) {
		free(b->levels[i].cur);
		free(b->levels[i].pending);
	}
	free(b);
}

static int level_get(struct pd_btree_builder *b, unsigned l, struct level **out)
{
	struct level *lv;

	if (l >= PD_BTREE_MAX_DEPTH)
		return -EUCLEAN;
	if (l < b->nr_levels) {
		*out = &b->levels[l];
		return 0;
	}
	/* Levels are created in order, one above the top. */
	lv = &b->levels[l];
	lv->cur = malloc(PD_BLOCK_SIZE);
	lv->pending = malloc(PD_BLOCK_SIZE);
	if (!lv->cur || !lv->pending) {
		free(lv->cur);
		free(lv->pending);
		lv->cur = lv->pending = NULL;
		return -ENOMEM;
	}
	if (l == 0)
		node_init(lv->cur, PD_BTREE_LEAF, b->value_size);
	else
		node_init(lv->cur, PD_BTREE_INTERNAL, 8);
	b->nr_levels = l + 1;
	*out = lv;
	return 0;
}

static int level_add(struct pd_btree_builder *b, unsigned l, uint64_t key,
		     const void *value);

/*
 * A finished node of a sharing builder: an earlier node with the same bytes
 * gains a reference (*nr is that block), otherwise *nr is 0 and the caller
 * writes it, then share_written() records it.
 *
 * An equal internal node points at the same children, every one of them
 * shared already (a block written by this build cannot be in an older
 * node), and this builder added a reference to each when it shared it.
 * The kernel's count is one per distinct parent: the shared node is their
 * parent once, so those references go again.
 */
static int share_lookup(struct pd_btree_builder *b, void *data,
			uint64_t *hash, uint64_t *nr)
{
	int r;

	*hash = node_hash(data);
	r = share_find(b->share, *hash, data, nr);
	if (r < 0 || !*nr)
		return r;
	r = pd_tm_inc(b->tm, *nr);
	if (!n_internal(data)) {
		if (r == 0)
			b->share->stats.leaves_shared++;
		return r;
	}
	for (uint32_t i = 0; r == 0 && i < n_nr(data); i++)
		r = pd_tm_dec(b->tm, load_le64(val_at(data, i)));
	if (r == 0)
		b->share->stats.internal_shared++;
	return r;
}

static int share_written(struct pd_btree_builder *b, void *data,
			 uint64_t hash, uint64_t nr)
{
	int r = share_insert(b->share, hash, nr);

	if (r < 0)
		return r;
	if (n_internal(data)) {
		b->share->stats.internal_written++;
		return 0;
	}
	b->share->stats.leaves_written++;
	if (!b->new_leaf)
		return 0;
	return b->new_leaf(b->new_leaf_ctx, n_nr(data), key_at(data, 0),
			   val_at(data, 0));
}

/* Writes node data (a level's buffer) to a new block, and adds it above. */
static int emit(struct pd_btree_builder *b, unsigned l, void *data,
		uint64_t *where)
{
	struct pd_block *blk;
	unsigned char v[8];
	uint64_t nr = 0, hash = 0;
	int sharing = b->share != NULL;
	int r;

	if (sharing) {
		r = share_lookup(b, data, &hash, &nr);
		if (r < 0)
			return r;
	}
	if (!nr) {
		r = pd_tm_new_block(b->tm, &pd_btree_validator, &blk);
		if (r < 0)
			return r;
		memcpy(pd_block_wdata(blk), data, PD_BLOCK_SIZE);
		nr = pd_block_nr(blk);
		pd_bm_unlock(blk);
		if (sharing) {
			r = share_written(b, data, hash, nr);
			if (r < 0)
				return r;
		}
	}
	b->levels[l].emitted++;
	if (where) {
		*where = nr;
		return 0;
	}
	store_le64(v, nr);
	return level_add(b, l + 1, key_get(data, 0), v);
}

static int level_add(struct pd_btree_builder *b, unsigned l, uint64_t key,
		     const void *value)
{
	struct level *lv;
	unsigned char *t;
	int r;

	r = level_get(b, l, &lv);
	if (r < 0)
		return r;
	if (n_nr(lv->cur) == n_max(lv->cur) || lv->cut) {
		lv->cut = 0;
		if (lv->has_pending) {
			r = emit(b, l, lv->pending, NULL);
			if (r < 0)
				return r;
			/* emit may have added levels: lv is still valid (array). */
		}
		t = lv->pending;
		lv->pending = lv->cur;
		lv->cur = t;
		lv->has_pending = 1;
		memcpy(lv->cur, lv->pending, PD_NODE_KEYS_OFFSET);
		memset(lv->cur + PD_NODE_KEYS_OFFSET, 0,
		       PD_BLOCK_SIZE - PD_NODE_KEYS_OFFSET);
		n_set_nr(lv->cur, 0);
	}
	insert_at(lv->cur, n_nr(lv->cur), key, value);
	/*
	 * Content-defined boundaries: a node ends after a key whose hash hits
	 * the mask once it is two thirds full (or when full).  Two trees with
	 * the same keys over a range cut their leaves at the same keys there,
	 * whatever came before, so their leaves can be shared; past an
	 * inserted or removed key the cuts fall in step again at the next hit.
	 * Each level has its own hash, so internal cuts do not line up with
	 * the leaf cuts below (a leaf's first key follows a leaf hit).
	 */
	if (b->share && n_nr(lv->cur) >= n_max(lv->cur) * 2 / 3 &&
	    (mix64(key + l * 0x9E3779B97F4A7C15ull) & PD_BTREE_CDC_MASK) == 0)
		lv->cut = 1;
	return 0;
}

int pd_btree_builder_add(struct pd_btree_builder *b, uint64_t key,
			 const void *value)
{
	int r;

	if (b->err)
		return b->err;
	if (b->have_key && key <= b->last_key)
		return -EINVAL;
	r = level_add(b, 0, key, value);
	if (r < 0) {
		b->err = r;
		return r;
	}
	b->have_key = 1;
	b->last_key = key;
	return 0;
}

/* Moves entries from the full pending node so the last one has half. */
static void balance_last_two(struct level *lv)
{
	uint32_t np = n_nr(lv->pending), nc = n_nr(lv->cur);
	uint32_t move = (np + nc) / 2 - nc;

	copy_entries(lv->cur, move, lv->cur, 0, nc);
	copy_entries(lv->cur, 0, lv->pending, np - move, move);
	n_set_nr(lv->cur, nc + move);
	n_set_nr(lv->pending, np - move);
	memset(key_at(lv->pending, np - move), 0, 8 * (size_t)move);
	memset(val_at(lv->pending, np - move), 0,
	       (size_t)n_vs(lv->pending) * move);
}

int pd_btree_builder_finish(struct pd_btree_builder *b, uint64_t *root)
{
	struct level *lv;
	int r;

	if (b->err)
		return b->err;
	r = level_get(b, 0, &lv);
	for (unsigned l = 0; r == 0; l++) {
		uint32_t nc;

		lv = &b->levels[l];
		nc = n_nr(lv->cur);
		if (b->share && lv->has_pending && nc &&
		    nc < n_max(lv->cur) / 3 &&
		    n_nr(lv->pending) + nc <= n_max(lv->cur)) {
			/*
			 * A sharing builder's short last leaf joins the one
			 * before: the result depends only on the content (two
			 * trees ending alike end with the same leaf), and
			 * neither leaf was written (nor shared) yet.
			 */
			copy_entries(lv->pending, n_nr(lv->pending), lv->cur,
				     0, nc);
			n_set_nr(lv->pending, n_nr(lv->pending) + nc);
			memset(lv->cur + PD_NODE_KEYS_OFFSET, 0,
			       PD_BLOCK_SIZE - PD_NODE_KEYS_OFFSET);
			n_set_nr(lv->cur, 0);
			nc = 0;
		}
		if (!lv->emitted && lv->has_pending + (nc > 0) <= 1) {
			/* One node left at this level: the root. */
			r = emit(b, l, lv->has_pending ? lv->pending : lv->cur,
				 root);
			break;
		}
		if (lv->has_pending && nc && nc < n_max(lv->cur) / 3)
			balance_last_two(lv);
		if (lv->has_pending)
			r = emit(b, l, lv->pending, NULL);
		if (r == 0 && nc)
			r = emit(b, l, lv->cur, NULL);
		lv->has_pending = 0;
		n_set_nr(lv->cur, 0);
	}
	if (r < 0)
		b->err = r;
	else
		b->err = -EINVAL;	/* finished: no more adds */
	return r;
}

int pd_btree_empty(struct pd_tm *tm, uint32_t value_size, uint64_t *root)
{
	struct pd_block *blk;
	int r;

	if (value_size == 0 || pd_btree_max_entries(value_size) < 3)
		return -EINVAL;
	r = pd_tm_new_block(tm, &pd_btree_validator, &blk);
	if (r < 0)
		return r;
	node_init(pd_block_wdata(blk), PD_BTREE_LEAF, value_size);
	*root = pd_block_nr(blk);
	pd_bm_unlock(blk);
	return 0;
}

/* ---- insert and remove in a transaction ---- */

struct op {
	struct pd_tm *tm;
	uint32_t value_size;
	unsigned flags;
};

/* What a node on a write path must look like before it is changed. */
static int node_sane(const struct op *o, const void *d)
{
	uint32_t vs = n_internal(d) ? 8 : o->value_size;

	if (n_vs(d) != vs || n_max(d) < 3 || n_max(d) % 3)
		return -EILSEQ;
	if (n_internal(d) && n_nr(d) == 0)
		return -EUCLEAN;
	return 0;
}

/* Does this node's value area hold block references? */
static int holds_refs(const struct op *o, const void *d)
{
	return n_internal(d) || (o->flags & PD_BTREE_BLOCK_VALUES);
}

static int inc_values(const struct op *o, void *d)
{
	int r = 0;

	for (uint32_t i = 0; i < n_nr(d) && r == 0; i++)
		r = pd_tm_inc(o->tm, load_le64(val_at(d, i)));
	return r;
}

/*
 * Shadows a node; a copy of a shared node becomes one more parent of every
 * block it points to.  busy1/busy2 are blocks we hold write-locked: a
 * pointer to one of them is a cycle, and locking it again would abort.
 */
static int shadow_node(const struct op *o, uint64_t b, uint64_t busy1,
		       uint64_t busy2, struct pd_block **out)
{
	int inc, r;

	if (b == busy1 || b == busy2)
		return -EUCLEAN;
	r = pd_tm_shadow(o->tm, b, &pd_btree_validator, out, &inc, NULL);
	if (r < 0)
		return r;
	r = node_sane(o, pd_block_data(*out));
	if (r == 0 && inc && holds_refs(o, pd_block_data(*out)))
		r = inc_values(o, pd_block_wdata(*out));
	if (r < 0) {
		pd_bm_unlock(*out);
		*out = NULL;
	}
	return r;
}

/* A new empty node with d's geometry. */
static int new_like(const struct op *o, const void *d, struct pd_block **out)
{
	int r = pd_tm_new_block(o->tm, &pd_btree_validator, out);

	if (r == 0)
		memcpy(pd_block_wdata(*out), d, PD_NODE_KEYS_OFFSET);
	if (r == 0)
		n_set_nr(pd_block_wdata(*out), 0);
	return r;
}

/* The full root stays where it is and becomes internal over two halves. */
static int split_beneath(const struct op *o, struct pd_block *root)
{
	void *d = pd_block_wdata(root);
	uint32_t nr = n_nr(d), nl = nr / 2;
	struct pd_block *lb, *rb;
	unsigned char v[8];
	int r;

	r = new_like(o, d, &lb);
	if (r < 0)
		return r;
	r = new_like(o, d, &rb);
	if (r < 0) {
		pd_bm_unlock(lb);
		return r;
	}
	copy_entries(pd_block_wdata(lb), 0, d, 0, nl);
	n_set_nr(pd_block_wdata(lb), nl);
	copy_entries(pd_block_wdata(rb), 0, d, nl, nr - nl);
	n_set_nr(pd_block_wdata(rb), nr - nl);

	node_init(d, PD_BTREE_INTERNAL, 8);
	store_le64(v, pd_block_nr(lb));
	insert_at(d, 0, key_get(pd_block_data(lb), 0), v);
	store_le64(v, pd_block_nr(rb));
	insert_at(d, 1, key_get(pd_block_data(rb), 0), v);
	pd_bm_unlock(lb);
	pd_bm_unlock(rb);
	return 0;
}

/*
 * Splits the full child at parent slot i into itself and a new right
 * sibling; *child becomes whichever of the two key belongs in.
 */
static int split_sibling(const struct op *o, struct pd_block *parent,
			 uint32_t i, struct pd_block **child, uint64_t key)
{
	void *pd = pd_block_wdata(parent);
	void *cd = pd_block_wdata(*child);
	uint32_t nr = n_nr(cd), nl = nr / 2;
	struct pd_block *rb;
	unsigned char v[8];
	uint64_t rkey;
	int r;

	r = new_like(o, cd, &rb);
	if (r < 0)
		return r;
	copy_entries(pd_block_wdata(rb), 0, cd, nl, nr - nl);
	n_set_nr(pd_block_wdata(rb), nr - nl);
	memset(key_at(cd, nl), 0, 8 * (size_t)(nr - nl));
	memset(val_at(cd, nl), 0, (size_t)n_vs(cd) * (nr - nl));
	n_set_nr(cd, nl);

	rkey = key_get(pd_block_data(rb), 0);
	store_le64(v, pd_block_nr(rb));
	insert_at(pd, i + 1, rkey, v);
	if (key >= rkey) {
		pd_bm_unlock(*child);
		*child = rb;
	} else {
		pd_bm_unlock(rb);
	}
	return 0;
}

int pd_btree_insert_flags(struct pd_tm *tm, uint64_t *root,
			  uint32_t value_size, uint64_t key, const void *value,
			  unsigned flags)
{
	struct op o = { tm, value_size, flags };
	struct pd_block *parent = NULL, *blk;
	unsigned depth = 0;
	int r;

	if ((flags & PD_BTREE_BLOCK_VALUES) && value_size != 8)
		return -EINVAL;
	r = shadow_node(&o, *root, UINT64_MAX, UINT64_MAX, &blk);
	if (r < 0)
		return r;
	*root = pd_block_nr(blk);
	for (;;) {
		void *d = pd_block_wdata(blk);
		unsigned char v[8];
		struct pd_block *child;
		int i;

		if (n_nr(d) == n_max(d)) {
			if (!parent) {
				r = split_beneath(&o, blk);
				if (r < 0)
					break;
				continue;
			}
			r = split_sibling(&o, parent,
					  (uint32_t)lower_bound(pd_block_data(parent), key),
					  &blk, key);
			if (r < 0)
				break;
			d = pd_block_wdata(blk);
		}
		if (parent) {
			pd_bm_unlock(parent);
			parent = NULL;
		}
		i = lower_bound(d, key);
		if (!n_internal(d)) {
			if (i >= 0 && key_get(d, (uint32_t)i) == key) {
				unsigned char *old = val_at(d, (uint32_t)i);

				if ((flags & PD_BTREE_BLOCK_VALUES) &&
				    memcmp(old, value, 8)) {
					r = pd_tm_dec(tm, load_le64(old));
					if (r < 0)
						break;
				}
				memcpy(old, value, value_size);
			} else {
				insert_at(d, (uint32_t)(i + 1), key, value);
			}
			r = 0;
			break;
		}
		if (i < 0) {
			/* A new smallest key: the lower bound moves down. */
			i = 0;
			store_le64(key_at(d, 0), key);
		}
		if (++depth >= PD_BTREE_MAX_DEPTH) {
			r = -EUCLEAN;
			break;
		}
		r = shadow_node(&o, load_le64(val_at(d, (uint32_t)i)),
				pd_block_nr(blk), UINT64_MAX, &child);
		if (r < 0)
			break;
		store_le64(v, pd_block_nr(child));
		memcpy(val_at(d, (uint32_t)i), v, 8);
		parent = blk;
		blk = child;
	}
	if (parent)
		pd_bm_unlock(parent);
	pd_bm_unlock(blk);
	return r;
}

int pd_btree_insert(struct pd_tm *tm, uint64_t *root, uint32_t value_size,
		    uint64_t key, const void *value)
{
	return pd_btree_insert_flags(tm, root, value_size, key, value, 0);
}

/*
 * An internal root with a single child: the child's contents move up into
 * the root block, which keeps its place, and the child is released.
 */
static int collapse_root(const struct op *o, struct pd_block *root)
{
	void *d = pd_block_wdata(root);
	struct pd_block *child;
	uint64_t cnr;
	int r;

	r = shadow_node(o, load_le64(val_at(d, 0)), pd_block_nr(root),
			UINT64_MAX, &child);
	if (r < 0)
		return r;
	/* The copy now holds the child's references; the child goes. */
	memcpy(d, pd_block_data(child), PD_BLOCK_SIZE);
	cnr = pd_block_nr(child);
	pd_bm_unlock(child);
	return pd_tm_dec(o->tm, cnr);
}

/*
 * Before descending into child slot i of parent, makes sure the child can
 * lose an entry: merges it with a sibling, or evens the two out.  *child is
 * the shadowed child on entry and whichever node holds key on return.
 */
static int rebalance(const struct op *o, struct pd_block *parent, uint32_t i,
		     struct pd_block **child, uint64_t key)
{
	void *pd = pd_block_wdata(parent);
	uint32_t j = i + 1 < n_nr(pd) ? i + 1 : i - 1;
	uint32_t li = i < j ? i : j;
	struct pd_block *sib, *lb, *rb;
	void *ld, *rd;
	uint32_t nl, nr, max;
	unsigned char v[8];
	int r;

	r = shadow_node(o, load_le64(val_at(pd, j)), pd_block_nr(parent),
			pd_block_nr(*child), &sib);
	if (r < 0)
		return r;
	store_le64(v, pd_block_nr(sib));
	memcpy(val_at(pd, j), v, 8);
	lb = i < j ? *child : sib;
	rb = i < j ? sib : *child;
	ld = pd_block_wdata(lb);
	rd = pd_block_wdata(rb);
	nl = n_nr(ld);
	nr = n_nr(rd);
	max = n_max(ld);
	if (n_internal(ld) != n_internal(rd) || n_max(rd) != max ||
	    n_vs(rd) != n_vs(ld)) {
		pd_bm_unlock(sib);
		return -EUCLEAN;
	}

	if (nl + nr <= max) {
		uint64_t rnr = pd_block_nr(rb);

		copy_entries(ld, nl, rd, 0, nr);
		n_set_nr(ld, nl + nr);
		remove_at(pd, li + 1);
		pd_bm_unlock(rb);
		*child = lb;
		return pd_tm_dec(o->tm, rnr);
	}

	/* Even the two out; the right node's first key changes. */
	{
		uint32_t want_l = (nl + nr) / 2;

		if (nl > want_l) {
			uint32_t m = nl - want_l;

			copy_entries(rd, m, rd, 0, nr);
			copy_entries(rd, 0, ld, want_l, m);
			memset(key_at(ld, want_l), 0, 8 * (size_t)m);
			memset(val_at(ld, want_l), 0, (size_t)n_vs(ld) * m);
		} else {
			uint32_t m = want_l - nl;

			copy_entries(ld, nl, rd, 0, m);
			copy_entries(rd, 0, rd, m, nr - m);
			memset(key_at(rd, nr - m), 0, 8 * (size_t)m);
			memset(val_at(rd, nr - m), 0, (size_t)n_vs(rd) * m);
		}
		n_set_nr(ld, want_l);
		n_set_nr(rd, nl + nr - want_l);
		store_le64(key_at(pd, li + 1), key_get(rd, 0));
	}
	if (key >= key_get(rd, 0)) {
		pd_bm_unlock(lb);
		*child = rb;
	} else {
		pd_bm_unlock(rb);
		*child = lb;
	}
	return 0;
}

int pd_btree_remove_flags(struct pd_tm *tm, uint64_t *root,
			  uint32_t value_size, uint64_t key, unsigned flags)
{
	struct op o = { tm, value_size, flags };
	struct pd_block *blk, *child;
	unsigned depth = 0;
	int is_root = 1;
	int r;

	if ((flags & PD_BTREE_BLOCK_VALUES) && value_size != 8)
		return -EINVAL;
	r = shadow_node(&o, *root, UINT64_MAX, UINT64_MAX, &blk);
	if (r < 0)
		return r;
	*root = pd_block_nr(blk);
	for (;;) {
		void *d = pd_block_wdata(blk);
		unsigned char v[8];
		int i;

		if (++depth > PD_BTREE_MAX_DEPTH) {
			r = -EUCLEAN;
			break;
		}
		if (is_root && n_internal(d) && n_nr(d) == 1) {
			r = collapse_root(&o, blk);
			if (r < 0)
				break;
			continue;
		}
		i = lower_bound(d, key);
		if (i < 0) {
			r = -ENODATA;
			break;
		}
		if (!n_internal(d)) {
			if (key_get(d, (uint32_t)i) != key) {
				r = -ENODATA;
				break;
			}
			if (flags & PD_BTREE_BLOCK_VALUES) {
				r = pd_tm_dec(tm, load_le64(val_at(d, (uint32_t)i)));
				if (r < 0)
					break;
			}
			remove_at(d, (uint32_t)i);
			r = 0;
			break;
		}
		r = shadow_node(&o, load_le64(val_at(d, (uint32_t)i)),
				pd_block_nr(blk), UINT64_MAX, &child);
		if (r < 0)
			break;
		store_le64(v, pd_block_nr(child));
		memcpy(val_at(d, (uint32_t)i), v, 8);
		if (n_nr(pd_block_data(child)) <= n_max(pd_block_data(child)) / 3 &&
		    n_nr(d) > 1) {
			r = rebalance(&o, blk, (uint32_t)i, &child, key);
			if (r < 0) {
				pd_bm_unlock(child);
				break;
			}
			if (is_root && n_nr(d) == 1) {
				/* The merge left the root one child: lift it. */
				memcpy(d, pd_block_data(child), PD_BLOCK_SIZE);
				{
					uint64_t cnr = pd_block_nr(child);

					pd_bm_unlock(child);
					r = pd_tm_dec(tm, cnr);
				}
				if (r < 0)
					break;
				continue;
			}
		}
		pd_bm_unlock(blk);
		blk = child;
		is_root = 0;
	}
	pd_bm_unlock(blk);
	return r;
}

int pd_btree_remove(struct pd_tm *tm, uint64_t *root, uint32_t value_size,
		    uint64_t key)
{
	return pd_btree_remove_flags(tm, root, value_size, key, 0);
}

/* ---- delete ---- */

struct del_stack {
	uint64_t *b;
	size_t n, cap;
};

static int del_push(struct del_stack *s, uint64_t block)
{
	if (BASE_GROW(s->b, s->cap, s->n + 1, 256) < 0)
		return -ENOMEM;
	s->b[s->n++] = block;
	return 0;
}

int pd_btree_del(struct pd_tm *tm, uint64_t root, uint32_t value_size,
		 unsigned flags)
{
	struct del_stack s = { 0 };
	int r;

	if ((flags & PD_BTREE_BLOCK_VALUES) && value_size != 8)
		return -EINVAL;
	r = del_push(&s, root);
	while (r == 0 && s.n) {
		uint64_t b = s.b[--s.n];
		struct pd_block *blk;
		const void *d;

		/*
		 * Only the last reference frees a node and its children; a node
		 * freed already (count 0: a cycle or a node reached twice) makes
		 * pd_tm_dec fail, so every node is opened at most once.
		 */
		if (pd_tm_ref_count(tm, b) != 1) {
			r = pd_tm_dec(tm, b);
			continue;
		}
		r = pd_tm_read_lock(tm, b, &pd_btree_validator, &blk, NULL);
		if (r < 0)
			break;
		d = pd_block_data(blk);
		if (n_vs(d) != (n_internal(d) ? 8 : value_size) ||
		    n_nr(d) > n_max(d) ||
		    PD_NODE_KEYS_OFFSET + (size_t)n_max(d) * (8 + n_vs(d)) >
			    PD_BLOCK_SIZE)
			r = -EUCLEAN;
		for (uint32_t i = 0; r == 0 && i < n_nr(d); i++) {
			uint64_t v = load_le64(val_at((void *)d, i));

			if (n_internal(d))
				r = del_push(&s, v);
			else if (flags & PD_BTREE_BLOCK_VALUES)
				r = pd_tm_dec(tm, v);
			else
				break;
		}
		pd_bm_unlock(blk);
		if (r == 0)
			r = pd_tm_dec(tm, b);
	}
	free(s.b);
	return r;
}
