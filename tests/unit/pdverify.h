/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * An independent checker of whole metadata images, for the write-side unit
 * tests (tm_t, btree_build_t, array_build_t, sm_write_t).
 *
 * It reads a raw image (a memory engine's buffer), not the block manager,
 * and shares no code with the writers beyond the validators: it walks every
 * tree with the rules of FORMAT.md §3.4 and §5.2, counts every block
 * reference, decodes the space map (§4) and demands that the two agree
 * exactly, with the kernel's nr_free convention.  Functions return 0 when
 * the image is sound and -1 with a reason in vimg.why otherwise, so that
 * the crash loops can ask "is this the old state or the new one" without
 * failing on the first look.
 *
 * A tiny test superblock stands in for the cache one, so pdata tests do not
 * depend on cache/:
 *	0 csum, 8 blocknr, 16 magic, 24 generation, 32 space-map root (32 bytes),
 *	64 array root, 72 array length, 80 btree root (u64 -> u64), 88 spare.
 */
#ifndef TESTS_UNIT_PDVERIFY_H
#define TESTS_UNIT_PDVERIFY_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "pdata/bm.h"
#include "pdata/ondisk.h"
#include "pdata/sm.h"

#define TSB_MAGIC 0x5453425f54455354ull	/* "TEST_BST" */
#define TSB_XOR 0x7e57u

static int tsb_check_header(const void *data, uint64_t block,
			    struct pd_fault *f)
{
	(void)block;
	if (load_le64((const unsigned char *)data + 16) != TSB_MAGIC) {
		if (f) {
			f->kind = PD_FAULT_HEADER;
			f->what = "magic";
		}
		return -EILSEQ;
	}
	return 0;
}

static const struct pd_validator tsb_validator = {
	.name = "test superblock",
	.csum_xor = TSB_XOR,
	.blocknr_offset = 8,
	.check_header = tsb_check_header,
};

struct tsb {
	uint64_t generation;
	struct pd_sm_root_cpu sm;
	uint64_t array_root, array_len;
	uint64_t btree_root;
};

/* pd_tm_fill_sb_fn for struct tsb. */
static inline int tsb_fill(void *ctx, void *sb, const struct pd_sm_root_cpu *root)
{
	struct tsb *t = ctx;
	unsigned char *d = sb;

	t->sm = *root;
	store_le64(d + 16, TSB_MAGIC);
	store_le64(d + 24, t->generation);
	pd_sm_root_pack(root, (struct pd_sm_root *)(d + 32));
	store_le64(d + 64, t->array_root);
	store_le64(d + 72, t->array_len);
	store_le64(d + 80, t->btree_root);
	return 0;
}

struct vimg {
	const unsigned char *img;
	uint64_t nr_blocks;		/* of the device */
	uint32_t *expected;		/* references counted by the walks */
	/* Parent keys must equal the child's first key (bulk builds). */
	int exact_keys;
	char why[200];
};

static inline int vfail(struct vimg *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline int vfail(struct vimg *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->why, sizeof(v->why), fmt, ap);
	va_end(ap);
	return -1;
}

static inline const unsigned char *vblock(struct vimg *v, uint64_t b,
					  const struct pd_validator *val)
{
	if (b >= v->nr_blocks || pd_validate(val, v->img + b * PD_BLOCK_SIZE, b,
					     NULL))
		return NULL;
	return v->img + b * PD_BLOCK_SIZE;
}

typedef int (*ventry_fn)(void *ctx, uint64_t key, const unsigned char *value);

/*
 * Walks a tree: every rule of FORMAT.md §3.4 (both parent-key bounds;
 * with exact_keys, a parent key must be the child's first key), each
 * node counted in expected; a node reached twice is a failure (nothing is
 * shared in these tests).  Entries go to fn in key order.
 */
static inline int vtree(struct vimg *v, uint64_t root, uint32_t vs,
			ventry_fn fn, void *ctx)
{
	struct frame { uint64_t b, lo, hi; int has_hi; unsigned depth; };
	size_t cap = PD_BTREE_MAX_DEPTH * 256, n = 0;
	struct frame *st = malloc(cap * sizeof(*st));
	int leaf_depth = -1, first = 1, r = 0;
	uint64_t last = 0;

	if (!st)
		return vfail(v, "no memory");
	st[n++] = (struct frame){ root, 0, 0, 0, 0 };
	while (n && r == 0) {
		struct frame f = st[--n];
		const unsigned char *d = vblock(v, f.b, &pd_btree_validator);
		const struct pd_node_header *h = (const void *)d;
		uint32_t nr, max, nvs, flags;

		if (!d) {
			r = vfail(v, "btree node %llu invalid", (unsigned long long)f.b);
			break;
		}
		if (v->expected[f.b]++) {
			r = vfail(v, "node %llu reached twice", (unsigned long long)f.b);
			break;
		}
		nr = le32_to_cpu(h->nr_entries);
		max = le32_to_cpu(h->max_entries);
		nvs = le32_to_cpu(h->value_size);
		flags = le32_to_cpu(h->flags);
		if (flags != PD_BTREE_LEAF && flags != PD_BTREE_INTERNAL)
			r = vfail(v, "node %llu flags %u", (unsigned long long)f.b, flags);
		else if (nvs != (flags == PD_BTREE_LEAF ? vs : 8) ||
			 max != pd_btree_max_entries(nvs))
			r = vfail(v, "node %llu vs %u max %u", (unsigned long long)f.b,
				  nvs, max);
		else if (nr > max || (f.depth && nr < max / 3) ||
			 (flags == PD_BTREE_INTERNAL && nr == 0))
			r = vfail(v, "node %llu nr %u (max %u, depth %u)",
				  (unsigned long long)f.b, nr, max, f.depth);
		else if (f.depth >= PD_BTREE_MAX_DEPTH)
			r = vfail(v, "too deep");
		for (uint32_t i = 0; i < nr && r == 0; i++) {
			uint64_t k = load_le64(d + 32 + 8 * i);

			if ((i && k <= load_le64(d + 32 + 8 * (i - 1))) ||
			    (v->exact_keys && f.depth && i == 0 && k != f.lo) ||
			    k < f.lo ||
			    (f.has_hi && k >= f.hi))
				r = vfail(v, "node %llu key %u = %llu out of order/bounds",
					  (unsigned long long)f.b, i,
					  (unsigned long long)k);
		}
		if (r)
			break;
		if (flags == PD_BTREE_LEAF) {
			if (leaf_depth < 0)
				leaf_depth = (int)f.depth;
			if ((unsigned)leaf_depth != f.depth) {
				r = vfail(v, "leaves at depths %d and %u", leaf_depth,
					  f.depth);
				break;
			}
			for (uint32_t i = 0; i < nr && r == 0; i++) {
				uint64_t k = load_le64(d + 32 + 8 * i);

				if (!first && k <= last)
					r = vfail(v, "leaf keys overlap");
				first = 0;
				last = k;
				if (r == 0 && fn)
					r = fn(ctx, k, d + 32 + 8 * max + vs * i);
			}
			continue;
		}
		if (n + nr > cap) {
			r = vfail(v, "stack");
			break;
		}
		/* Children pushed last-first, so they pop in key order. */
		for (uint32_t i = nr; i-- > 0;) {
			uint64_t c = load_le64(d + 32 + 8 * max + 8 * i);

			st[n++] = (struct frame){
				c, load_le64(d + 32 + 8 * i),
				i + 1 < nr ? load_le64(d + 32 + 8 * (i + 1)) : f.hi,
				i + 1 < nr ? 1 : f.has_hi, f.depth + 1 };
			if (c >= v->nr_blocks)
				r = vfail(v, "child %llu out of range",
					  (unsigned long long)c);
		}
	}
	free(st);
	return r;
}

struct varray {
	struct vimg *v;
	uint32_t vs, per;
	uint64_t len, next_key;
	unsigned char *out;	/* len * vs bytes */
};

static inline int varray_leaf(void *ctx, uint64_t key, const unsigned char *val)
{
	struct varray *a = ctx;
	uint64_t b = load_le64(val);
	uint64_t nblocks = (a->len + a->per - 1) / a->per;
	uint32_t want;
	const unsigned char *d;
	const struct pd_array_header *h;

	if (key != a->next_key++ || key >= nblocks)
		return vfail(a->v, "array key %llu unexpected", (unsigned long long)key);
	d = vblock(a->v, b, &pd_array_validator);
	if (!d)
		return vfail(a->v, "array block %llu invalid", (unsigned long long)b);
	if (a->v->expected[b]++)
		return vfail(a->v, "array block %llu shared", (unsigned long long)b);
	h = (const void *)d;
	want = key + 1 < nblocks ? a->per : (uint32_t)(a->len - key * a->per);
	if (le32_to_cpu(h->value_size) != a->vs ||
	    le32_to_cpu(h->max_entries) != a->per ||
	    le32_to_cpu(h->nr_entries) != want)
		return vfail(a->v, "array block %llu header", (unsigned long long)b);
	memcpy(a->out + key * a->per * a->vs, d + 24, (size_t)want * a->vs);
	return 0;
}

/* An array of len values of vs bytes into out. */
static inline int varray(struct vimg *v, uint64_t root, uint64_t len,
			 uint32_t vs, unsigned char *out)
{
	struct varray a = { v, vs, pd_array_entries_per_block(vs), len, 0, out };
	int r = vtree(v, root, 8, varray_leaf, &a);

	if (r == 0 && a.next_key != (len + a.per - 1) / a.per)
		r = vfail(v, "array has %llu blocks", (unsigned long long)a.next_key);
	return r;
}

struct vover { uint32_t *disk; unsigned char *seen; uint64_t nr; struct vimg *v; };

static inline int vover_leaf(void *ctx, uint64_t key, const unsigned char *val)
{
	struct vover *o = ctx;

	if (key >= o->nr || o->disk[key] != 3)
		return vfail(o->v, "overflow entry %llu without a 3",
			     (unsigned long long)key);
	if (load_le32(val) < 3)
		return vfail(o->v, "overflow count below 3");
	o->disk[key] = load_le32(val);
	o->seen[key] = 1;
	return 0;
}

/*
 * Decodes the space map at root (counting its own blocks in expected) and
 * compares every count with expected; checks nr_allocated, nr_free and
 * none_free_before.  Call after every other structure has been walked.
 */
static inline int vspace_map(struct vimg *v, const struct pd_sm_root_cpu *root)
{
	uint64_t nr = root->nr_blocks;
	uint64_t nb = (nr + PD_SM_ENTRIES_PER_BITMAP - 1) / PD_SM_ENTRIES_PER_BITMAP;
	const unsigned char *ib;
	uint32_t *disk;
	unsigned char *seen = NULL;
	uint64_t alloc = 0;
	int r = 0;

	if (nr == 0 || nr > v->nr_blocks || nr > PD_SM_MAX_METADATA_BLOCKS)
		return vfail(v, "sm nr_blocks %llu", (unsigned long long)nr);
	ib = vblock(v, root->bitmap_root, &pd_index_validator);
	if (!ib)
		return vfail(v, "index block invalid");
	v->expected[root->bitmap_root]++;
	disk = calloc(nr, sizeof(*disk));
	if (!disk)
		return vfail(v, "no memory");
	for (uint64_t i = 0; i < PD_SM_MAX_INDEX_ENTRIES && r == 0; i++) {
		const unsigned char *e = ib + 16 + 16 * i;
		uint64_t bb = load_le64(e);
		uint32_t used = 0, first_free = PD_SM_ENTRIES_PER_BITMAP;
		const unsigned char *bm;

		if (i >= nb) {
			for (int k = 0; k < 16; k++)
				if (e[k])
					r = vfail(v, "index entry %llu not zero",
						  (unsigned long long)i);
			continue;
		}
		bm = vblock(v, bb, &pd_bitmap_validator);
		if (!bm) {
			r = vfail(v, "bitmap %llu invalid", (unsigned long long)i);
			break;
		}
		v->expected[bb]++;
		for (uint32_t j = 0; j < PD_SM_ENTRIES_PER_BITMAP; j++) {
			uint64_t blk = i * PD_SM_ENTRIES_PER_BITMAP + j;
			unsigned c = pd_bitmap_get(bm, j);

			if (blk >= nr) {
				if (c)
					r = vfail(v, "bitmap entry past the end");
				if (first_free == PD_SM_ENTRIES_PER_BITMAP)
					first_free = j;
				continue;
			}
			disk[blk] = c;
			if (c)
				used++;
			else if (first_free == PD_SM_ENTRIES_PER_BITMAP)
				first_free = j;
		}
		if (load_le32(e + 8) != PD_SM_ENTRIES_PER_BITMAP - used ||
		    load_le32(e + 12) != first_free)
			r = vfail(v, "bitmap %llu nr_free %u nfb %u, want %u %u",
				  (unsigned long long)i, load_le32(e + 8),
				  load_le32(e + 12), PD_SM_ENTRIES_PER_BITMAP - used,
				  first_free);
	}
	seen = calloc(nr, 1);
	if (!seen)
		r = vfail(v, "no memory");
	if (r == 0) {
		struct vover o = { disk, seen, nr, v };

		r = vtree(v, root->ref_count_root, 4, vover_leaf, &o);
	}
	for (uint64_t b = 0; b < nr && r == 0; b++) {
		if (disk[b] == 3 && !seen[b])
			r = vfail(v, "block %llu: 3 in bitmap, no overflow entry",
				  (unsigned long long)b);
		else if (disk[b] != v->expected[b])
			r = vfail(v, "block %llu: space map %u, references %u",
				  (unsigned long long)b, disk[b], v->expected[b]);
		alloc += disk[b] != 0;
	}
	for (uint64_t b = nr; b < v->nr_blocks && r == 0; b++)
		if (v->expected[b])
			r = vfail(v, "block %llu past nr_blocks in use",
				  (unsigned long long)b);
	if (r == 0 && alloc != root->nr_allocated)
		r = vfail(v, "nr_allocated %llu, counted %llu",
			  (unsigned long long)root->nr_allocated,
			  (unsigned long long)alloc);
	free(seen);
	free(disk);
	return r;
}

/* Everything a test image holds, read back. */
struct vstate {
	uint64_t generation;
	uint64_t array_len;
	unsigned char *array;		/* array_len * 8 bytes, malloc'd */
	uint64_t nr_entries;		/* of the btree */
	uint64_t *keys, *vals;		/* malloc'd */
	struct pd_sm_root_cpu sm;
};

static inline void vstate_release(struct vstate *s)
{
	free(s->array);
	free(s->keys);
	free(s->vals);
	memset(s, 0, sizeof(*s));
}

struct vcollect { struct vstate *s; uint64_t cap; };

static inline int vcollect_leaf(void *ctx, uint64_t key, const unsigned char *val)
{
	struct vcollect *c = ctx;

	if (c->s->nr_entries == c->cap) {
		uint64_t cap = c->cap ? c->cap * 2 : 1024;
		uint64_t *k = realloc(c->s->keys, cap * 8), *vv;

		if (!k)
			return -1;
		c->s->keys = k;
		vv = realloc(c->s->vals, cap * 8);
		if (!vv)
			return -1;
		c->s->vals = vv;
		c->cap = cap;
	}
	c->s->keys[c->s->nr_entries] = key;
	c->s->vals[c->s->nr_entries++] = load_le64(val);
	return 0;
}

/*
 * Checks a whole test image: superblock, the array (8-byte values), the
 * btree (u64 -> u64), the space map against recounted references.  0 and s
 * filled, or -1 and v->why.  A root of 0 means "absent".
 */
static inline int vimage_ex(const unsigned char *img, uint64_t nr_blocks,
			    int exact_keys, struct vstate *s, char *why,
			    size_t why_len)
{
	struct vimg v = { img, nr_blocks, NULL, exact_keys, "" };
	const unsigned char *sb;
	uint64_t ar, br;
	int r = -1;

	memset(s, 0, sizeof(*s));
	v.expected = calloc(nr_blocks, sizeof(*v.expected));
	if (!v.expected)
		return -1;
	sb = vblock(&v, 0, &tsb_validator);
	if (!sb) {
		vfail(&v, "no valid superblock");
		goto out;
	}
	v.expected[0]++;
	s->generation = load_le64(sb + 24);
	pd_sm_root_unpack((const struct pd_sm_root *)(sb + 32), &s->sm);
	ar = load_le64(sb + 64);
	s->array_len = load_le64(sb + 72);
	br = load_le64(sb + 80);
	if (ar) {
		s->array = calloc(s->array_len ? s->array_len : 1, 8);
		if (!s->array || varray(&v, ar, s->array_len, 8, s->array))
			goto out;
	}
	if (br) {
		struct vcollect c = { s, 0 };

		if (vtree(&v, br, 8, vcollect_leaf, &c))
			goto out;
	}
	r = vspace_map(&v, &s->sm);
out:
	if (r)
		vstate_release(s);
	snprintf(why, why_len, "%s", v.why);
	free(v.expected);
	return r;
}

static inline int vimage(const unsigned char *img, uint64_t nr_blocks,
			 struct vstate *s, char *why, size_t why_len)
{
	return vimage_ex(img, nr_blocks, 0, s, why, why_len);
}

#endif
