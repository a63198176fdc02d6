/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * An in-memory builder of persistent-data structures for unit tests.
 *
 * It writes blocks straight into a memory engine's buffer, independently of
 * the library's own writers (btree_build.c, sm_write.c), so the read side
 * can be tested against structures built from FORMAT.md alone, and so tests
 * can build shapes no correct writer would (underfull nodes, cycles, shared
 * nodes, wrong headers).  Blocks are handed out in order from `next`; every
 * structure records where it put its blocks, so a test can find one and
 * corrupt it.  After a change, pdb_seal_*() re-stamps location and checksum
 * so that only the intended rule is broken.
 *
 *	struct pdb b;
 *	pdb_init(&b, 1024);
 *	uint64_t root = pdb_tree(&b, n, keys, vals, 8, 0);
 *	struct pd_bm *bm = pdb_bm(&b);	(create after building)
 *	...
 *	pdb_release(&b);
 *
 * Everything asserts on failure: this is test code.
 */
#ifndef TESTS_UNIT_PDBUILD_H
#define TESTS_UNIT_PDBUILD_H

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "pdata/bm.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"

struct pdb {
	struct pd_io *io;
	unsigned char *data;
	uint64_t nr_blocks;
	uint64_t next;		/* next block to hand out */
	struct pd_bm *bm;
	/* Blocks of the last pdb_tree(), leaves first, root last. */
	uint64_t *nodes;
	unsigned nr_nodes, nr_leaves;
};

static inline void pdb_init(struct pdb *b, uint64_t nr_blocks)
{
	int r;

	memset(b, 0, sizeof(*b));
	r = pd_io_mem_create(nr_blocks, &b->io);
	assert(r == 0);
	b->data = pd_io_mem_data(b->io);
	b->nr_blocks = nr_blocks;
	b->next = 1;		/* block 0 is the superblock's */
}

static inline void pdb_release(struct pdb *b)
{
	pd_bm_destroy(b->bm);
	pd_io_destroy(b->io);
	free(b->nodes);
	memset(b, 0, sizeof(*b));
}

/* The block manager over the image; created on first use. */
static inline struct pd_bm *pdb_bm(struct pdb *b)
{
	if (!b->bm) {
		int r = pd_bm_create(b->io, 1024, &b->bm);

		assert(r == 0);
	}
	return b->bm;
}

static inline unsigned char *pdb_block(struct pdb *b, uint64_t nr)
{
	assert(nr < b->nr_blocks);
	return b->data + nr * PD_BLOCK_SIZE;
}

static inline uint64_t pdb_alloc(struct pdb *b)
{
	assert(b->next < b->nr_blocks);
	memset(pdb_block(b, b->next), 0, PD_BLOCK_SIZE);
	return b->next++;
}

static inline void pdb_seal(struct pdb *b, uint64_t nr,
			    const struct pd_validator *v)
{
	pd_validator_prepare(v, pdb_block(b, nr), nr);
	if (b->bm)
		pd_bm_forget(b->bm, nr);
}

static inline void pdb_seal_node(struct pdb *b, uint64_t nr)
{
	pdb_seal(b, nr, &pd_btree_validator);
}

/* ---- btree nodes ---- */

static inline struct pd_node_header *pdb_hdr(struct pdb *b, uint64_t nr)
{
	return (struct pd_node_header *)pdb_block(b, nr);
}

static inline uint32_t pdb_node_max(struct pdb *b, uint64_t nr)
{
	return le32_to_cpu(pdb_hdr(b, nr)->max_entries);
}

static inline uint64_t pdb_node_key(struct pdb *b, uint64_t nr, unsigned i)
{
	return load_le64(pdb_block(b, nr) + PD_NODE_KEYS_OFFSET + 8 * i);
}

static inline void pdb_set_key(struct pdb *b, uint64_t nr, unsigned i,
			       uint64_t key)
{
	store_le64(pdb_block(b, nr) + PD_NODE_KEYS_OFFSET + 8 * i, key);
}

static inline unsigned char *pdb_node_value(struct pdb *b, uint64_t nr,
					    unsigned i)
{
	struct pd_node_header *h = pdb_hdr(b, nr);

	return pdb_block(b, nr) + PD_NODE_KEYS_OFFSET +
	       8 * le32_to_cpu(h->max_entries) +
	       (size_t)i * le32_to_cpu(h->value_size);
}

/* Writes a node at block nr with n entries; values holds n * vs bytes. */
static inline void pdb_node_at(struct pdb *b, uint64_t nr, uint32_t flags,
			       uint32_t vs, unsigned n, const uint64_t *keys,
			       const void *values)
{
	struct pd_node_header *h = pdb_hdr(b, nr);
	uint32_t max = pd_btree_max_entries(vs);

	assert(n <= max);
	memset(h, 0, PD_BLOCK_SIZE);
	h->flags = cpu_to_le32(flags);
	h->nr_entries = cpu_to_le32(n);
	h->max_entries = cpu_to_le32(max);
	h->value_size = cpu_to_le32(vs);
	for (unsigned i = 0; i < n; i++)
		pdb_set_key(b, nr, i, keys[i]);
	if (n)
		memcpy(pdb_node_value(b, nr, 0), values, (size_t)n * vs);
	pdb_seal_node(b, nr);
}

static inline uint64_t pdb_node(struct pdb *b, uint32_t flags, uint32_t vs,
				unsigned n, const uint64_t *keys,
				const void *values)
{
	uint64_t nr = pdb_alloc(b);

	pdb_node_at(b, nr, flags, vs, n, keys, values);
	return nr;
}

/* Internal node over children (le64 child pointers built here). */
static inline uint64_t pdb_internal(struct pdb *b, unsigned n,
				    const uint64_t *keys,
				    const uint64_t *children)
{
	unsigned char *v = malloc((size_t)n * 8 + 1);
	uint64_t nr;

	assert(v);
	for (unsigned i = 0; i < n; i++)
		store_le64(v + 8 * i, children[i]);
	nr = pdb_node(b, PD_BTREE_INTERNAL, 8, n, keys, v);
	free(v);
	return nr;
}

static inline void pdb_record(struct pdb *b, uint64_t nr)
{
	b->nodes = realloc(b->nodes, (b->nr_nodes + 1) * sizeof(uint64_t));
	assert(b->nodes);
	b->nodes[b->nr_nodes++] = nr;
}

/*
 * Bottom-up build of n sorted entries, FORMAT.md §3.5: ceil(n / fill)
 * nodes per level with entries spread evenly.  fill = 0 means max_entries.
 * Records the nodes in b->nodes (leaves first, root last).  n = 0 gives an
 * empty root leaf.
 */
static inline uint64_t pdb_tree(struct pdb *b, uint64_t n,
				const uint64_t *keys, const void *values,
				uint32_t vs, unsigned fill)
{
	uint64_t *lkeys, *lptrs, nodes, level_n;
	const unsigned char *vp = values;
	uint32_t flags = PD_BTREE_LEAF;
	uint32_t cur_vs = vs;
	const uint64_t *cur_keys = keys;
	unsigned char *ptrbytes = NULL;

	free(b->nodes);
	b->nodes = NULL;
	b->nr_nodes = 0;
	b->nr_leaves = 0;
	if (n == 0) {
		uint64_t nr = pdb_node(b, PD_BTREE_LEAF, vs, 0, NULL, NULL);

		pdb_record(b, nr);
		b->nr_leaves = 1;
		return nr;
	}
	level_n = n;
	for (;;) {
		unsigned f = fill ? fill : pd_btree_max_entries(cur_vs);
		uint64_t done = 0;

		if (flags == PD_BTREE_INTERNAL)
			f = fill ? fill : pd_btree_max_entries(8);
		nodes = (level_n + f - 1) / f;
		lkeys = malloc(nodes * sizeof(uint64_t));
		lptrs = malloc(nodes * sizeof(uint64_t));
		assert(lkeys && lptrs);
		for (uint64_t i = 0; i < nodes; i++) {
			unsigned cnt = (unsigned)(level_n / nodes +
						  (i < level_n % nodes));

			lptrs[i] = pdb_node(b, flags, cur_vs, cnt,
					    cur_keys + done,
					    vp + done * cur_vs);
			lkeys[i] = cur_keys[done];
			pdb_record(b, lptrs[i]);
			if (flags == PD_BTREE_LEAF)
				b->nr_leaves++;
			done += cnt;
		}
		if (flags == PD_BTREE_INTERNAL) {
			free((void *)cur_keys);
			free(ptrbytes);
		}
		if (nodes == 1) {
			uint64_t root = lptrs[0];

			free(lkeys);
			free(lptrs);
			return root;
		}
		ptrbytes = malloc(nodes * 8);
		assert(ptrbytes);
		for (uint64_t i = 0; i < nodes; i++)
			store_le64(ptrbytes + 8 * i, lptrs[i]);
		free(lptrs);
		cur_keys = lkeys;
		vp = ptrbytes;
		cur_vs = 8;
		flags = PD_BTREE_INTERNAL;
		level_n = nodes;
	}
}

/* Keys 0..n-1 (times step) with le64 values key * 10 + 1. */
static inline uint64_t pdb_tree_seq(struct pdb *b, uint64_t n, uint64_t step,
				    unsigned fill)
{
	uint64_t *keys = malloc((n + 1) * sizeof(uint64_t));
	unsigned char *vals = malloc((n + 1) * 8);
	uint64_t root;

	assert(keys && vals);
	for (uint64_t i = 0; i < n; i++) {
		keys[i] = i * step;
		store_le64(vals + 8 * i, keys[i] * 10 + 1);
	}
	root = pdb_tree(b, n, keys, vals, 8, fill);
	free(keys);
	free(vals);
	return root;
}

/* ---- arrays ---- */

struct pdb_array {
	uint64_t root;
	uint64_t nblocks;
	uint64_t *blocks;	/* array block k */
};

static inline struct pd_array_header *pdb_ahdr(struct pdb *b, uint64_t nr)
{
	return (struct pd_array_header *)pdb_block(b, nr);
}

static inline void pdb_seal_array(struct pdb *b, uint64_t nr)
{
	pdb_seal(b, nr, &pd_array_validator);
}

/*
 * An array of n values of vs bytes (values: n * vs bytes), one block per
 * entries_per_block values, under a btree with keys 0..nblocks-1.
 */
static inline void pdb_array(struct pdb *b, uint32_t vs, uint64_t n,
			     const void *values, struct pdb_array *a)
{
	uint32_t per = pd_array_entries_per_block(vs);
	const unsigned char *vp = values;
	uint64_t *keys;
	unsigned char *ptrs;

	a->nblocks = (n + per - 1) / per;
	a->blocks = malloc((a->nblocks + 1) * sizeof(uint64_t));
	keys = malloc((a->nblocks + 1) * sizeof(uint64_t));
	ptrs = malloc((a->nblocks + 1) * 8);
	assert(a->blocks && keys && ptrs);
	for (uint64_t k = 0; k < a->nblocks; k++) {
		uint64_t nr = pdb_alloc(b);
		struct pd_array_header *h = pdb_ahdr(b, nr);
		uint64_t cnt = k + 1 < a->nblocks ? per : n - k * per;

		h->max_entries = cpu_to_le32(per);
		h->nr_entries = cpu_to_le32((uint32_t)cnt);
		h->value_size = cpu_to_le32(vs);
		memcpy((unsigned char *)h + sizeof(*h), vp + k * per * vs,
		       cnt * vs);
		pdb_seal_array(b, nr);
		a->blocks[k] = nr;
		keys[k] = k;
		store_le64(ptrs + 8 * k, nr);
	}
	a->root = pdb_tree(b, a->nblocks, keys, ptrs, 8, 0);
	free(keys);
	free(ptrs);
}

static inline void pdb_array_release(struct pdb_array *a)
{
	free(a->blocks);
	a->blocks = NULL;
}

/* ---- the metadata space map ---- */

struct pdb_sm {
	uint64_t index;		/* index block */
	uint64_t bitmaps[PD_SM_MAX_INDEX_ENTRIES];
	unsigned nr_bitmaps;
	uint64_t overflow_root;
};

/*
 * A space map of nr_blocks counts.  Bitmaps hold min(count, 3); counts of
 * 3 or more also go into the overflow tree (value size 4).
 */
static inline void pdb_sm(struct pdb *b, uint64_t nr_blocks,
			  const uint32_t *counts, struct pdb_sm *s)
{
	struct pd_index_block *ix;
	uint64_t *okeys;
	unsigned char *ovals;
	uint64_t nover = 0;

	memset(s, 0, sizeof(*s));
	s->index = pdb_alloc(b);
	s->nr_bitmaps = (unsigned)((nr_blocks + PD_SM_ENTRIES_PER_BITMAP - 1) /
				   PD_SM_ENTRIES_PER_BITMAP);
	assert(s->nr_bitmaps <= PD_SM_MAX_INDEX_ENTRIES);
	ix = (struct pd_index_block *)pdb_block(b, s->index);
	for (unsigned i = 0; i < s->nr_bitmaps; i++) {
		uint64_t nr = pdb_alloc(b);
		uint32_t free_ = 0;

		for (uint32_t j = 0; j < PD_SM_ENTRIES_PER_BITMAP; j++) {
			uint64_t blk = (uint64_t)i * PD_SM_ENTRIES_PER_BITMAP + j;

			if (blk >= nr_blocks)
				break;
			pd_bitmap_set(pdb_block(b, nr), j, counts[blk]);
			free_ += counts[blk] == 0;
		}
		pdb_seal(b, nr, &pd_bitmap_validator);
		s->bitmaps[i] = nr;
		ix->entries[i].blocknr = cpu_to_le64(nr);
		ix->entries[i].nr_free = cpu_to_le32(free_);
	}
	pdb_seal(b, s->index, &pd_index_validator);
	okeys = malloc((nr_blocks + 1) * sizeof(uint64_t));
	ovals = malloc((nr_blocks + 1) * 4);
	assert(okeys && ovals);
	for (uint64_t blk = 0; blk < nr_blocks; blk++) {
		if (counts[blk] < 3)
			continue;
		okeys[nover] = blk;
		store_le32(ovals + 4 * nover, counts[blk]);
		nover++;
	}
	s->overflow_root = pdb_tree(b, nover, okeys, ovals, 4, 0);
	free(okeys);
	free(ovals);
}

#endif
