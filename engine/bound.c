// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Cold misses, Belady's OPT and the LRU miss curve of a block stream (see
 * bound.h).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/u64map.h"
#include "engine/bound.h"

#define NEVER UINT64_MAX
/* No block number reaches it: blocks are at least 512 bytes. */
#define NO_BLOCK UINT64_MAX
#define CHUNK 65536u

/* ---- LRU stack distances over a Fenwick tree ---- */

struct stack {
	uint32_t *tree;		/* Fenwick tree of marks, 1-based */
	uint64_t *blk;		/* blk[p]: the block marked at p, or NO_BLOCK */
	uint64_t cap;		/* positions */
	uint64_t t;		/* positions used */
	uint64_t live;		/* marks set = distinct blocks seen */
	struct u64map last;	/* block -> its mark's position */
	uint64_t *hist;		/* hist[d]: re-references at distance d */
	uint64_t hist_cap;
	uint64_t cold;
};

static int stack_init(struct stack *s)
{
	memset(s, 0, sizeof(*s));
	s->cap = 1u << 16;
	s->tree = calloc(s->cap + 1, sizeof(*s->tree));
	s->blk = malloc((s->cap + 1) * sizeof(*s->blk));
	s->hist_cap = 1024;
	s->hist = calloc(s->hist_cap, sizeof(*s->hist));
	if (!s->tree || !s->blk || !s->hist ||
	    u64map_init(&s->last, 1024) < 0) {
		free(s->tree);
		free(s->blk);
		free(s->hist);
		return -ENOMEM;
	}
	return 0;
}

static void stack_release(struct stack *s)
{
	free(s->tree);
	free(s->blk);
	free(s->hist);
	u64map_destroy(&s->last);
}

static void fw_add(uint32_t *tree, uint64_t cap, uint64_t i, int32_t v)
{
	for (; i <= cap; i += i & -i)
		tree[i] = (uint32_t)((int32_t)tree[i] + v);
}

static uint64_t fw_sum(const uint32_t *tree, uint64_t i)
{
	uint64_t s = 0;

	for (; i; i -= i & -i)
		s += tree[i];
	return s;
}

/*
 * The tree is full: renumber the live marks 1..live in their order (a
 * walk over the positions, which blk[] turns into blocks) and size the
 * tree at twice that (at least 64 Ki), so memory follows the footprint.
 */
static int stack_compact(struct stack *s)
{
	size_t live = u64map_count(&s->last);
	uint64_t n = 0, cap = live * 2 > (1u << 16) ? live * 2 : 1u << 16;
	uint32_t *tree = calloc(cap + 1, sizeof(*tree));
	uint64_t *blk = malloc((cap + 1) * sizeof(*blk));

	if (!tree || !blk)
		goto nomem;
	for (uint64_t p = 1; p <= s->t; p++) {
		uint64_t b = s->blk[p], *slot;
		int existed;

		if (b == NO_BLOCK)
			continue;
		/* Every live block is in the map: nothing is inserted. */
		slot = u64map_slot(&s->last, b, &existed);
		if (!slot)
			goto nomem;
		*slot = ++n;
		blk[n] = b;
		tree[n] = 1;
	}
	/* Build the Fenwick tree from the all-ones prefix in O(n). */
	for (uint64_t i = 1; i <= cap; i++) {
		uint64_t j = i + (i & -i);

		if (j <= cap)
			tree[j] += tree[i];
	}
	free(s->tree);
	free(s->blk);
	s->tree = tree;
	s->blk = blk;
	s->cap = cap;
	s->t = n;
	return 0;

nomem:
	free(tree);
	free(blk);
	return -ENOMEM;
}

/* One request of block b: records its stack distance (0 = cold). */
static int stack_access(struct stack *s, uint64_t b)
{
	uint64_t *slot;
	int existed, r;

	if (s->t == s->cap) {
		r = stack_compact(s);
		if (r < 0)
			return r;
	}
	slot = u64map_slot(&s->last, b, &existed);
	if (!slot)
		return -ENOMEM;
	if (existed) {
		/* Distinct blocks touched since its last access, itself
		 * included: 1 = reused at once. */
		uint64_t p = *slot, d = s->live - fw_sum(s->tree, p) + 1;

		if (d >= s->hist_cap) {
			uint64_t nc = s->hist_cap;
			uint64_t *h;

			while (nc <= d)
				nc *= 2;
			h = realloc(s->hist, nc * sizeof(*h));
			if (!h)
				return -ENOMEM;
			memset(h + s->hist_cap, 0,
			       (nc - s->hist_cap) * sizeof(*h));
			s->hist = h;
			s->hist_cap = nc;
		}
		s->hist[d]++;
		fw_add(s->tree, s->cap, p, -1);
		s->blk[p] = NO_BLOCK;
	} else {
		s->cold++;
		s->live++;
	}
	*slot = ++s->t;
	s->blk[s->t] = b;
	fw_add(s->tree, s->cap, s->t, 1);
	return 0;
}

/* LRU misses of a c-block cache: cold plus reuses farther than c. */
static uint64_t stack_misses(const struct stack *s, uint64_t c)
{
	uint64_t m = s->cold;

	for (uint64_t d = c + 1; d < s->hist_cap; d++)
		m += s->hist[d];
	return m;
}

int bound_lru_curve(const uint64_t *blocks, size_t n, uint64_t max_c,
		    uint64_t *misses)
{
	struct stack s;
	int r = stack_init(&s);

	for (size_t i = 0; r == 0 && i < n; i++)
		r = stack_access(&s, blocks[i]);
	if (r == 0) {
		/* misses[c] from a suffix sum over the histogram. */
		uint64_t acc = 0;

		for (uint64_t d = s.hist_cap; d-- > max_c + 1;)
			acc += s.hist[d];
		for (uint64_t c = max_c + 1; c-- > 0;) {
			misses[c] = s.cold + acc;
			if (c < s.hist_cap)
				acc += s.hist[c];
		}
	}
	stack_release(&s);
	return r;
}

/* ---- OPT ---- */

struct heap_ent {
	uint64_t next;		/* next use; NEVER is never */
	uint64_t block;
};

struct opt {
	struct heap_ent *h;	/* max-heap on next */
	uint64_t n, cap;
	struct u64map where;	/* block -> heap index */
};

static void heap_set(struct opt *o, uint64_t i, struct heap_ent e)
{
	o->h[i] = e;
	u64map_put(&o->where, e.block, i);	/* present: cannot fail */
}

static void sift_up(struct opt *o, uint64_t i)
{
	struct heap_ent e = o->h[i];

	while (i > 0 && o->h[(i - 1) / 2].next < e.next) {
		heap_set(o, i, o->h[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(o, i, e);
}

static void sift_down(struct opt *o, uint64_t i)
{
	struct heap_ent e = o->h[i];

	for (;;) {
		uint64_t c = 2 * i + 1;

		if (c >= o->n)
			break;
		if (c + 1 < o->n && o->h[c + 1].next > o->h[c].next)
			c++;
		if (o->h[c].next <= e.next)
			break;
		heap_set(o, i, o->h[c]);
		i = c;
	}
	heap_set(o, i, e);
}

/*
 * One pass of MIN with bypass over the spooled stream for a cache of c
 * blocks.  blocks and nexts are read in chunks from the spool files.
 */
static int opt_pass(FILE *bf, FILE *nf, uint64_t n, uint64_t c,
		    uint64_t *misses, uint64_t *insertions)
{
	uint64_t *bb = malloc(CHUNK * sizeof(*bb));
	uint64_t *nb = malloc(CHUNK * sizeof(*nb));
	struct opt o = { 0 };
	int r = 0;

	*misses = *insertions = 0;
	o.cap = c;
	o.h = malloc((c ? c : 1) * sizeof(*o.h));
	if (!bb || !nb || !o.h || u64map_init(&o.where, c) < 0) {
		r = -ENOMEM;
		goto out;
	}
	if (fseeko(bf, 0, SEEK_SET) || fseeko(nf, 0, SEEK_SET)) {
		r = -EIO;
		goto out;
	}
	for (uint64_t done = 0; done < n;) {
		size_t k = n - done < CHUNK ? (size_t)(n - done) : CHUNK;

		if (fread(bb, sizeof(*bb), k, bf) != k ||
		    fread(nb, sizeof(*nb), k, nf) != k) {
			r = -EIO;
			goto out;
		}
		for (size_t i = 0; i < k; i++) {
			uint64_t pos, b = bb[i], nx = nb[i];

			if (u64map_get(&o.where, b, &pos)) {
				/* A hit: its next use moves later. */
				o.h[pos].next = nx;
				sift_up(&o, pos);
				sift_down(&o, pos);
				continue;
			}
			(*misses)++;
			if (nx == NEVER || c == 0)
				continue;	/* bypass */
			if (o.n < c) {
				o.h[o.n] = (struct heap_ent){ nx, b };
				u64map_put(&o.where, b, o.n);
				sift_up(&o, o.n++);
				(*insertions)++;
			} else if (nx < o.h[0].next) {
				u64map_remove(&o.where, o.h[0].block);
				o.h[0] = (struct heap_ent){ nx, b };
				sift_down(&o, 0);
				(*insertions)++;
			}
		}
		done += k;
	}
out:
	u64map_destroy(&o.where);
	free(o.h);
	free(bb);
	free(nb);
	return r;
}

/* Next-use indexes, walking the block spool backwards. */
static int next_uses(FILE *bf, FILE *nf, uint64_t n)
{
	uint64_t *bb = malloc(CHUNK * sizeof(*bb));
	uint64_t *nb = malloc(CHUNK * sizeof(*nb));
	struct u64map seen;
	int r = u64map_init(&seen, 1024);

	if (!bb || !nb || r < 0) {
		r = -ENOMEM;
		goto out;
	}
	for (uint64_t end = n; end > 0;) {
		size_t k = end < CHUNK ? (size_t)end : CHUNK;
		uint64_t first = end - k;

		if (fseeko(bf, (off_t)(first * 8), SEEK_SET) ||
		    fread(bb, 8, k, bf) != k) {
			r = -EIO;
			goto out;
		}
		for (size_t i = k; i-- > 0;) {
			uint64_t v;

			nb[i] = u64map_get(&seen, bb[i], &v) ? v : NEVER;
			r = u64map_put(&seen, bb[i], first + i);
			if (r < 0)
				goto out;
		}
		if (fseeko(nf, (off_t)(first * 8), SEEK_SET) ||
		    fwrite(nb, 8, k, nf) != k) {
			r = -EIO;
			goto out;
		}
		end = first;
	}
	if (fflush(nf))
		r = -EIO;
out:
	u64map_destroy(&seen);
	free(bb);
	free(nb);
	return r;
}

/* ---- the run ---- */

/* SHARDS: a block is followed when its hash falls under the rate. */
static bool sampled(uint64_t b, uint64_t threshold)
{
	uint64_t h = b * 0x9E3779B97F4A7C15ull;

	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ull;
	h ^= h >> 32;
	return (h & ((1ull << 24) - 1)) < threshold;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int bound_run(struct trace_reader *tr, const struct bound_opts *o,
	      struct bound_result *res, struct trace_error *err)
{
	double rate = o->sample > 0 && o->sample < 1 ? o->sample : 1.0;
	uint64_t threshold = (uint64_t)(rate * (1 << 24));
	uint64_t *buf = malloc(CHUNK * sizeof(*buf)), nbuf = 0, n = 0;
	uint64_t *sizes = NULL;
	size_t nsizes = 0;
	FILE *bf = tmpfile(), *nf = tmpfile();
	struct trace_io io;
	struct stack s;
	int r;

	memset(res, 0, sizeof(*res));
	r = stack_init(&s);
	if (r == 0 && (!buf || (!o->no_opt && (!bf || !nf))))
		r = -ENOMEM;
	while (r == 0 && (r = trace_reader_next(tr, &io, err)) == 1) {
		r = 0;
		if (io.op != TRACE_OP_READ && io.op != TRACE_OP_WRITE)
			continue;
		for (uint64_t b = io.offset / o->block_bytes;
		     r == 0 && b <= (io.offset + io.len - 1) / o->block_bytes;
		     b++) {
			res->requests++;
			if (rate < 1.0 && !sampled(b, threshold))
				continue;
			r = stack_access(&s, b);
			n++;
			if (o->no_opt)
				continue;
			buf[nbuf++] = b;
			if (nbuf == CHUNK) {
				if (fwrite(buf, 8, nbuf, bf) != nbuf)
					r = -EIO;
				nbuf = 0;
			}
		}
	}
	if (r == 0 && nbuf && fwrite(buf, 8, nbuf, bf) != nbuf)
		r = -EIO;
	if (r == 0 && !o->no_opt && fflush(bf))
		r = -EIO;
	if (r == 0 && !o->no_opt)
		r = next_uses(bf, nf, n);
	if (r < 0)
		goto out;
	res->sampled_requests = n;
	res->footprint = (uint64_t)llround((double)s.live / rate);

	/* The sizes: given, percentages of the footprint, or 1, 2, 4 ... */
	if (o->nr_sizes) {
		nsizes = o->nr_sizes;
		sizes = malloc(nsizes * sizeof(*sizes));
		if (!sizes) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < nsizes; i++)
			sizes[i] = o->size_percent && o->size_percent[i] > 0 ?
				bound_percent_blocks(o->size_percent[i],
						     res->footprint) :
				o->sizes[i];
		qsort(sizes, nsizes, sizeof(*sizes), cmp_u64);
	} else {
		sizes = malloc(66 * sizeof(*sizes));
		if (!sizes) {
			r = -ENOMEM;
			goto out;
		}
		for (uint64_t c = 1; c < res->footprint; c *= 2)
			sizes[nsizes++] = c;
		sizes[nsizes++] = res->footprint;
	}
	res->rows = calloc(nsizes, sizeof(*res->rows));
	if (!res->rows) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nsizes; i++) {
		struct bound_row *row = &res->rows[i];
		uint64_t sc = (uint64_t)llround((double)sizes[i] * rate);
		uint64_t om = 0, oi = 0;

		r = o->no_opt ? 0 : opt_pass(bf, nf, n, sc, &om, &oi);
		if (r < 0)
			goto out;
		row->cache_blocks = sizes[i];
		row->requests = res->requests;
		row->cold_misses = (uint64_t)llround((double)s.cold / rate);
		row->opt_misses = (uint64_t)llround((double)om / rate);
		row->opt_insertions = (uint64_t)llround((double)oi / rate);
		row->lru_misses =
			(uint64_t)llround((double)stack_misses(&s, sc) / rate);
		res->nr_rows++;
	}
out:
	if (r < 0) {
		free(res->rows);
		res->rows = NULL;
		res->nr_rows = 0;
	}
	free(sizes);
	free(buf);
	if (bf)
		fclose(bf);
	if (nf)
		fclose(nf);
	stack_release(&s);
	return r;
}

void bound_result_release(struct bound_result *res)
{
	free(res->rows);
	res->rows = NULL;
}

uint64_t bound_percent_blocks(double pct, uint64_t footprint)
{
	double want = pct * (double)footprint / 100;
	uint64_t blocks = (uint64_t)want;

	if ((double)blocks < want || !blocks)
		blocks++;
	return blocks;
}
