// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Offline writeback (cache/writeback.h): the copier, and the operation
 * that checks the metadata, picks the blocks, copies them and commits the
 * new dirty state.
 *
 * The copier works in batches, each filling half of the copy buffer.  A
 * batch is read in cache-block order (adjacent blocks merged into one
 * request), then written in origin-block order (adjacent origin blocks
 * merged into one vectored request), and the next batch is read into the
 * other half while those writes run.  Blocks larger than half the buffer
 * are copied in page-aligned parts; a block counts as copied only when all
 * its parts were, and only after the origin was flushed.
 *
 * Failures: a merged request that fails is split into one request per
 * part, so one bad block never takes its neighbours down; a single part
 * that fails is retried `retries` times, and then its block is failed with
 * the error.  A block that failed to read is not written.  A block whose
 * later part fails after an earlier part was written leaves the origin
 * partly updated; that is harmless, because the block stays dirty and the
 * cache copy is the one that counts.
 */
#include "cache/writeback.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/bitmap.h"
#include "cache/check.h"
#include "pdata/array.h"
#include "pdata/bitset.h"
#include "pdata/bm.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"
#include "pdata/tm.h"

typedef unsigned __int128 u128;

/* One request moves at most this much, and names at most this many parts. */
#define MAX_REQ_BYTES (8u << 20)
#define MAX_IOV 256u
#define DEFAULT_DEPTH 64u
#define MIN_BUFFER (8u << 10)
/* Batch size through the page cache: two of them fit in a CPU cache. */
#define BUFFERED_BATCH (2u << 20)

const char *cache_wb_stage_name(enum cache_wb_stage s)
{
	switch (s) {
	case CACHE_WB_NOT_TRIED:
		return "not copied";
	case CACHE_WB_COPIED:
		return "copied";
	case CACHE_WB_FAILED_FAST_END:
		return "past the end of the fast device";
	case CACHE_WB_FAILED_ORIGIN_END:
		return "past the end of the origin device";
	case CACHE_WB_FAILED_READ:
		return "read error";
	case CACHE_WB_FAILED_WRITE:
		return "write error";
	case CACHE_WB_FAILED_FLUSH:
		return "origin flush failed";
	}
	return "unknown";
}

/* ---- the copier ---- */

/* A part of a block: the unit of I/O. */
struct unit {
	uint64_t job;
	uint64_t fast_off;
	uint64_t origin_off;
	uint32_t len;
	unsigned char *buf;
};

struct worder {
	uint64_t origin_off;
	unsigned unit;
};

struct batch {
	struct unit *units;
	struct worder *order;	/* write order: by origin offset */
	unsigned nr, nr_order;
	unsigned char *buf;
	uint64_t outstanding;	/* ops queued or in flight */
	uint64_t jobs_end;	/* jobs before this index are complete */
};

/* Reads name units[first..], writes order[first..]. */
struct op {
	struct batch *b;
	int write;
	unsigned first, count;
	unsigned attempts;
};

struct slot {
	struct cache_wb_req req;
	struct op op;
	struct iovec iov[MAX_IOV];
};

struct copier {
	struct cache_wb_engine *e;
	const struct cache_wb_copy_opts *o;
	struct cache_wb_job *jobs;
	uint64_t nr_jobs;
	struct cache_wb_copy_stats *st;

	uint32_t unit_bytes;
	uint64_t parts;		/* units per block */
	unsigned max_units;	/* per batch */
	uint64_t jc, pc;	/* fill cursor: job, part */

	struct op *queue;
	size_t qcap, qhead, qnr;

	struct slot *slots;
	struct slot **free;
	unsigned nr_free, nr_slots;
	struct cache_wb_req **done;
	struct cache_wb_req **subs;
};

static struct unit *op_unit(const struct op *op, unsigned k)
{
	struct batch *b = op->b;

	return op->write ? &b->units[b->order[op->first + k].unit] :
			   &b->units[op->first + k];
}

static void fail_job(struct copier *c, uint64_t job, enum cache_wb_stage s,
		     int err)
{
	struct cache_wb_job *j = &c->jobs[job];

	if (j->stage == CACHE_WB_NOT_TRIED) {
		j->stage = (uint8_t)s;
		j->err = err;
	}
}

static void enqueue(struct copier *c, const struct op *op)
{
	/* qcap covers every op two batches can have outstanding. */
	c->queue[(c->qhead + c->qnr) % c->qcap] = *op;
	c->qnr++;
	op->b->outstanding++;
}

static void build_req(struct slot *s)
{
	struct op *op = &s->op;
	struct cache_wb_req *r = &s->req;
	int n = 0;

	r->dev = op->write ? CACHE_WB_ORIGIN : CACHE_WB_FAST;
	r->write = op->write;
	r->len = 0;
	for (unsigned k = 0; k < op->count; k++) {
		struct unit *u = op_unit(op, k);

		if (!k)
			r->offset = op->write ? u->origin_off : u->fast_off;
		/* Parts adjacent in memory share one iovec. */
		if (n && (unsigned char *)s->iov[n - 1].iov_base +
				 s->iov[n - 1].iov_len == u->buf) {
			s->iov[n - 1].iov_len += u->len;
		} else {
			s->iov[n].iov_base = u->buf;
			s->iov[n].iov_len = u->len;
			n++;
		}
		r->len += u->len;
	}
	r->iov = s->iov;
	r->iovcnt = n;
	r->result = 0;
	r->priv = s;
}

static int submit_queued(struct copier *c)
{
	unsigned n = 0;
	int r;

	while (c->qnr && c->nr_free) {
		struct slot *s = c->free[--c->nr_free];

		s->op = c->queue[c->qhead];
		c->qhead = (c->qhead + 1) % c->qcap;
		c->qnr--;
		build_req(s);
		if (s->op.write)
			c->st->write_requests++;
		else
			c->st->read_requests++;
		c->subs[n++] = &s->req;
	}
	if (!n)
		return 0;
	r = c->e->ops->submit(c->e, c->subs, n);
	if (r < 0) {
		/* Nothing of this call is in flight: take the slots back. */
		for (unsigned i = 0; i < n; i++)
			c->free[c->nr_free++] = c->subs[i]->priv;
	}
	return r;
}

static void complete(struct copier *c, struct slot *s)
{
	struct op op = s->op;
	int err = s->req.result;

	c->free[c->nr_free++] = s;
	if (err) {
		if (op.count > 1) {
			/* Find the bad part: split, each on its own. */
			for (unsigned k = 0; k < op.count; k++) {
				struct op one = op;

				one.first = op.first + k;
				one.count = 1;
				one.attempts = 0;
				enqueue(c, &one);
			}
		} else if (op.attempts < c->o->retries) {
			op.attempts++;
			c->st->retries++;
			enqueue(c, &op);
		} else {
			fail_job(c, op_unit(&op, 0)->job,
				 op.write ? CACHE_WB_FAILED_WRITE :
					    CACHE_WB_FAILED_READ, err);
		}
	}
	op.b->outstanding--;
}

/* Runs the engine until batch b has nothing outstanding. */
static int pump(struct copier *c, struct batch *b)
{
	while (b->outstanding) {
		int r = submit_queued(c);

		if (r < 0)
			return r;
		if (c->nr_free == c->nr_slots)
			return -EIO;	/* outstanding, yet nothing in flight */
		r = c->e->ops->reap(c->e, 1, c->nr_slots, c->done);
		if (r < 0)
			return r;
		for (int i = 0; i < r; i++)
			complete(c, c->done[i]->priv);
	}
	return 0;
}

/* Waits for whatever is in flight; on failure the buffers are kept. */
static int drain(struct copier *c)
{
	c->qnr = 0;
	while (c->nr_free < c->nr_slots) {
		int r = c->e->ops->reap(c->e, 1, c->nr_slots, c->done);

		if (r <= 0)
			return -EIO;
		for (int i = 0; i < r; i++)
			c->free[c->nr_free++] = c->done[i]->priv;
	}
	return 0;
}

static void fill(struct copier *c, struct batch *b)
{
	uint64_t bb = c->o->block_bytes;

	b->nr = 0;
	while (b->nr < c->max_units && c->jc < c->nr_jobs) {
		struct cache_wb_job *j = &c->jobs[c->jc];
		uint64_t off = c->pc * c->unit_bytes;
		struct unit *u;

		if (j->stage != CACHE_WB_NOT_TRIED) {
			/* Failed already (a range, or an earlier part). */
			c->jc++;
			c->pc = 0;
			continue;
		}
		u = &b->units[b->nr];
		u->job = c->jc;
		u->len = (uint32_t)(bb - off < c->unit_bytes ? bb - off :
							       c->unit_bytes);
		u->fast_off = c->o->fast_offset + j->cblock * bb + off;
		u->origin_off = c->o->origin_offset + j->oblock * bb + off;
		/* Fixed-size slots keep every part page aligned. */
		u->buf = b->buf + (size_t)b->nr * c->unit_bytes;
		b->nr++;
		if (++c->pc == c->parts) {
			c->pc = 0;
			c->jc++;
		}
	}
	b->jobs_end = c->jc;
}

static void plan_reads(struct copier *c, struct batch *b)
{
	unsigned i = 0;

	while (i < b->nr) {
		struct op op = { .b = b, .write = 0, .first = i, .count = 1 };
		uint64_t bytes = b->units[i].len;

		for (i++; i < b->nr && op.count < MAX_IOV; i++) {
			struct unit *p = &b->units[i - 1], *u = &b->units[i];

			if (u->fast_off != p->fast_off + p->len ||
			    bytes + u->len > MAX_REQ_BYTES)
				break;
			bytes += u->len;
			op.count++;
		}
		enqueue(c, &op);
	}
}

static int cmp_worder(const void *a, const void *b)
{
	const struct worder *x = a, *y = b;

	return x->origin_off < y->origin_off ? -1 :
	       x->origin_off > y->origin_off;
}

static void plan_writes(struct copier *c, struct batch *b)
{
	unsigned i = 0;

	b->nr_order = 0;
	for (unsigned k = 0; k < b->nr; k++) {
		/* A block that failed to read is not written. */
		if (c->jobs[b->units[k].job].stage != CACHE_WB_NOT_TRIED)
			continue;
		b->order[b->nr_order].origin_off = b->units[k].origin_off;
		b->order[b->nr_order].unit = k;
		b->nr_order++;
	}
	qsort(b->order, b->nr_order, sizeof(b->order[0]), cmp_worder);

	while (i < b->nr_order) {
		struct op op = { .b = b, .write = 1, .first = i, .count = 1 };
		uint64_t bytes = b->units[b->order[i].unit].len;

		for (i++; i < b->nr_order && op.count < MAX_IOV; i++) {
			struct unit *p = &b->units[b->order[i - 1].unit];
			struct unit *u = &b->units[b->order[i].unit];

			if (u->origin_off != p->origin_off + p->len ||
			    bytes + u->len > MAX_REQ_BYTES)
				break;
			bytes += u->len;
			op.count++;
		}
		enqueue(c, &op);
	}
}

/* Blocks that lie past the end of a device fail before any I/O. */
static void check_ranges(struct copier *c)
{
	const struct cache_wb_copy_opts *o = c->o;

	for (uint64_t i = 0; i < c->nr_jobs; i++) {
		struct cache_wb_job *j = &c->jobs[i];
		u128 fend = (u128)o->fast_offset +
			    ((u128)j->cblock + 1) * o->block_bytes;
		u128 oend = (u128)o->origin_offset +
			    ((u128)j->oblock + 1) * o->block_bytes;

		if ((o->fast_size && fend > o->fast_size) ||
		    fend > (u128)INT64_MAX)
			fail_job(c, i, CACHE_WB_FAILED_FAST_END, -ENXIO);
		else if ((o->origin_size && oend > o->origin_size) ||
			 oend > (u128)INT64_MAX)
			fail_job(c, i, CACHE_WB_FAILED_ORIGIN_END, -ENOSPC);
	}
}

static int copier_init(struct copier *c, uint64_t half)
{
	uint64_t bb = c->o->block_bytes;

	if (bb <= half) {
		c->unit_bytes = (uint32_t)(bb < MAX_REQ_BYTES ? bb :
							MAX_REQ_BYTES);
	} else {
		uint64_t chunk = half - half % 4096;

		c->unit_bytes = (uint32_t)(chunk < MAX_REQ_BYTES ? chunk :
							   MAX_REQ_BYTES);
	}
	/* A block no bigger than a request stays one unit. */
	if (bb <= c->unit_bytes)
		c->unit_bytes = (uint32_t)bb;
	c->parts = (bb + c->unit_bytes - 1) / c->unit_bytes;
	c->max_units = (unsigned)(half / c->unit_bytes);
	if (!c->max_units)
		c->max_units = 1;

	c->nr_slots = c->e->depth ? c->e->depth : 1;
	c->slots = calloc(c->nr_slots, sizeof(*c->slots));
	c->free = calloc(c->nr_slots, sizeof(*c->free));
	c->done = calloc(c->nr_slots, sizeof(*c->done));
	c->subs = calloc(c->nr_slots, sizeof(*c->subs));
	/* Two batches, every unit of each split into its own op. */
	c->qcap = 2 * (size_t)c->max_units + c->nr_slots;
	c->queue = calloc(c->qcap, sizeof(*c->queue));
	if (!c->slots || !c->free || !c->done || !c->subs || !c->queue)
		return -ENOMEM;
	for (unsigned i = 0; i < c->nr_slots; i++)
		c->free[i] = &c->slots[i];
	c->nr_free = c->nr_slots;
	return 0;
}

static void copier_release(struct copier *c)
{
	free(c->slots);
	free(c->free);
	free(c->done);
	free(c->subs);
	free(c->queue);
}

static int batch_init(struct batch *b, unsigned max_units)
{
	b->units = calloc(max_units, sizeof(*b->units));
	b->order = calloc(max_units, sizeof(*b->order));
	return b->units && b->order ? 0 : -ENOMEM;
}

static void batch_release(struct batch *b)
{
	free(b->units);
	free(b->order);
}

static void finish_jobs(struct copier *c, enum cache_wb_stage s, int err)
{
	for (uint64_t i = 0; i < c->nr_jobs; i++)
		if (c->jobs[i].stage == CACHE_WB_NOT_TRIED)
			fail_job(c, i, s, err);
}

static int copy_batches(struct copier *c, struct batch *bs)
{
	struct batch *cur = &bs[0], *prev = NULL;
	int r;

	fill(c, cur);
	plan_reads(c, cur);
	while (cur->nr) {
		r = pump(c, cur);		/* its reads (prev's writes run) */
		if (r < 0)
			return r;
		plan_writes(c, cur);
		if (prev) {
			r = pump(c, prev);
			if (r < 0)
				return r;
			if (c->o->progress)
				c->o->progress(c->o->ctx, prev->jobs_end,
					       c->nr_jobs);
		}
		/* The next batch reads into prev's half while cur writes. */
		prev = cur;
		cur = cur == &bs[0] ? &bs[1] : &bs[0];
		fill(c, cur);
		plan_reads(c, cur);
	}
	r = prev ? pump(c, prev) : 0;
	if (r < 0)
		return r;
	if (prev && c->o->progress)
		c->o->progress(c->o->ctx, c->nr_jobs, c->nr_jobs);
	return 0;
}

int cache_wb_copy(struct cache_wb_engine *e, const struct cache_wb_copy_opts *o,
		  struct cache_wb_job *jobs, uint64_t nr_jobs,
		  struct cache_wb_copy_stats *stats)
{
	struct copier c = { .e = e, .o = o, .jobs = jobs, .nr_jobs = nr_jobs,
			    .st = stats };
	struct batch bs[2] = { { 0 } };
	unsigned char *buf = NULL;
	uint64_t half;
	int r;

	memset(stats, 0, sizeof(*stats));
	for (uint64_t i = 0; i < nr_jobs; i++) {
		jobs[i].stage = CACHE_WB_NOT_TRIED;
		jobs[i].err = 0;
	}
	if (!o->block_bytes || o->block_bytes % 512 ||
	    o->buffer_bytes < MIN_BUFFER) {
		r = -EINVAL;
		goto out_fail;
	}
	half = o->buffer_bytes / 2;
	if (o->batch_bytes && o->batch_bytes < half)
		half = o->batch_bytes < 4096 ? 4096 : o->batch_bytes;
	r = copier_init(&c, half);
	if (r < 0)
		goto out_release;
	if (posix_memalign((void **)&buf, 4096,
			   2 * (size_t)c.max_units * c.unit_bytes)) {
		buf = NULL;
		r = -ENOMEM;
		goto out_release;
	}
	r = batch_init(&bs[0], c.max_units);
	if (!r)
		r = batch_init(&bs[1], c.max_units);
	if (r < 0)
		goto out_batches;
	bs[0].buf = buf;
	bs[1].buf = buf + (size_t)c.max_units * c.unit_bytes;

	check_ranges(&c);
	r = copy_batches(&c, bs);
	if (r < 0) {
		if (drain(&c) < 0)
			buf = NULL;	/* still in the kernel's hands: leak */
		goto out_batches;
	}
	r = e->ops->flush(e, CACHE_WB_ORIGIN);
	if (r < 0)
		finish_jobs(&c, CACHE_WB_FAILED_FLUSH, r);
	for (uint64_t i = 0; i < nr_jobs; i++) {
		if (jobs[i].stage == CACHE_WB_NOT_TRIED)
			jobs[i].stage = CACHE_WB_COPIED;
		if (jobs[i].stage == CACHE_WB_COPIED)
			stats->copied++;
		else
			stats->failed++;
	}
	r = 0;

out_batches:
	batch_release(&bs[0]);
	batch_release(&bs[1]);
	free(buf);
out_release:
	copier_release(&c);
out_fail:
	if (r < 0) {
		finish_jobs(&c, CACHE_WB_FAILED_WRITE, r);
		stats->copied = 0;
		stats->failed = nr_jobs;
	}
	return r;
}

/* ---- the operation ---- */

const char *cache_writeback_status_name(enum cache_writeback_status s)
{
	switch (s) {
	case CACHE_WB_OK:
		return "all blocks copied";
	case CACHE_WB_INCOMPLETE:
		return "some blocks were not copied";
	case CACHE_WB_SB_UNREADABLE:
		return "the superblock cannot be read";
	case CACHE_WB_SB_INVALID:
		return "the superblock is invalid";
	case CACHE_WB_DAMAGED:
		return "the metadata is damaged";
	case CACHE_WB_OPEN_FAILED:
		return "a data device cannot be opened";
	case CACHE_WB_COPY_ERROR:
		return "the copy failed";
	case CACHE_WB_UPDATE_FAILED:
		return "the metadata could not be updated";
	case CACHE_WB_ERROR:
		return "internal error";
	}
	return "unknown";
}

struct wb {
	const struct cache_writeback_opts *o;
	struct cache_writeback_result *res;
	struct pd_bm *bm;
	struct base_bitmap dirty, dirty_lost;	/* v2, clean shutdown */
	uint8_t *was_dirty;			/* per job */
	uint64_t cap;
	int damaged;
};

static int first_violation(void *ctx, const struct cache_sb_violation *v)
{
	struct cache_writeback_result *res = ctx;

	res->violation = *v;
	return 1;	/* one is enough to refuse */
}

static void check_problem(void *ctx, enum cache_problem id,
			  enum cache_severity sev, const char *msg)
{
	struct cache_writeback_result *res = ctx;

	(void)id;
	if (sev == CACHE_SEV_FATAL && !res->first_problem[0])
		snprintf(res->first_problem, sizeof(res->first_problem), "%s",
			 msg);
}

static int walk_damage(void *ctx, const struct pd_array_damage *d)
{
	struct wb *w = ctx;

	/* A block the device failed to read: say so, not "damaged". */
	if (!w->damaged)
		w->res->fault = d->problem == PD_ARR_BTREE ? d->btree.fault :
							     d->fault;
	w->damaged = 1;
	return 0;
}

static int add_job(struct wb *w, uint64_t cblock, uint64_t oblock, int dirty)
{
	struct cache_writeback_result *res = w->res;

	if (res->nr_jobs == w->cap) {
		uint64_t cap = w->cap ? w->cap * 2 : 1024;
		void *j = realloc(res->jobs, cap * sizeof(*res->jobs));
		void *d;

		if (!j)
			return -ENOMEM;
		res->jobs = j;
		d = realloc(w->was_dirty, cap);
		if (!d)
			return -ENOMEM;
		w->was_dirty = d;
		w->cap = cap;
	}
	res->jobs[res->nr_jobs] = (struct cache_wb_job){ .cblock = cblock,
							 .oblock = oblock };
	w->was_dirty[res->nr_jobs] = (uint8_t)dirty;
	res->nr_jobs++;
	return 0;
}

static int mapping_values(void *ctx, uint64_t index, unsigned nr,
			  const void *values, uint64_t block)
{
	struct wb *w = ctx;
	const struct cache_sb *sb = &w->res->sb;
	const unsigned char *p = values;

	(void)block;
	for (unsigned i = 0; i < nr; i++) {
		uint64_t v, cblock = index + i;
		int dirty;

		memcpy(&v, p + 8 * (size_t)i, 8);
		v = le64toh(v);
		if (!(cache_mapping_flags(v) & CACHE_M_VALID))
			continue;
		w->res->nr_valid++;
		dirty = cache_mapping_dirty(sb->version, v, &w->dirty,
					    &w->dirty_lost, cblock);
		if (!dirty && !w->res->all_valid)
			continue;
		if (add_job(w, cblock, cache_mapping_oblock(v), dirty) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Reads the superblock and runs the checker; 0 or the status's errno. */
static int examine(struct wb *w, struct pd_io *meta)
{
	struct cache_writeback_result *res = w->res;
	struct pd_block *b;
	int r;

	r = pd_bm_read_lock(w->bm, CACHE_SB_LOCATION, &cache_sb_validator, &b,
			    &res->fault);
	if (r < 0) {
		res->status = CACHE_WB_SB_UNREADABLE;
		res->err = r;
		return r;
	}
	cache_sb_unpack(pd_block_data(b), &res->sb);
	res->have_sb = 1;
	r = cache_sb_check(&res->sb, pd_block_data(b), pd_bm_nr_blocks(w->bm),
			   first_violation, res);
	pd_bm_unlock(b);
	if (r) {
		res->status = CACHE_WB_SB_INVALID;
		res->err = -EILSEQ;
		return res->err;
	}
	res->all_valid = !(res->sb.flags & CACHE_SB_CLEAN_SHUTDOWN);

	if (!(w->o->flags & CACHE_WB_SKIP_CHECK)) {
		struct cache_check_opts co = { .flags = 0 };
		struct cache_check_sink sink = { .ctx = res,
						 .problem = check_problem };
		struct cache_check_result cr;

		r = cache_check(meta, &co, &sink, &cr);
		if (r < 0) {
			res->status = CACHE_WB_ERROR;
			res->err = r;
			return r;
		}
		res->nr_fatal = cr.nr_fatal;
		if (cr.nr_fatal) {
			res->status = CACHE_WB_DAMAGED;
			res->structure = "metadata";
			res->err = -EUCLEAN;
			return res->err;
		}
	}
	return 0;
}

/* The jobs, in cblock order, from the mapping array and dirty bitset. */
static int collect(struct wb *w)
{
	struct cache_writeback_result *res = w->res;
	const struct cache_sb *sb = &res->sb;
	struct pd_array_walk_ops ops = { .values = mapping_values,
					 .damage = walk_damage };
	int r;

	if (sb->version >= 2 && !res->all_valid) {
		struct pd_array_walk_ops dops = { .damage = walk_damage };

		r = pd_bitset_read(w->bm, sb->dirty_root, sb->cache_blocks,
				   PD_WALK_PREFETCH, &dops, w, &w->dirty,
				   &w->dirty_lost);
		if (r < 0)
			goto out_err;
		if (base_bitmap_count(&w->dirty_lost)) {
			res->status = CACHE_WB_DAMAGED;
			res->structure = "dirty bitset";
			return -EUCLEAN;
		}
	}
	r = pd_array_walk(w->bm, sb->mapping_root, sb->cache_blocks, 8,
			  PD_WALK_PREFETCH, &ops, w);
	if (r < 0)
		goto out_err;
	if (w->damaged) {
		res->status = CACHE_WB_DAMAGED;
		res->structure = "mapping array";
		return -EUCLEAN;
	}
	return 0;

out_err:
	res->status = CACHE_WB_ERROR;
	res->err = r;
	return r;
}

static int open_engine(struct wb *w, struct cache_wb_engine **e, int fds[2])
{
	const struct cache_writeback_opts *o = w->o;
	struct cache_writeback_result *res = w->res;
	uint64_t align = (uint64_t)res->sb.data_block_size * 512;
	int r;

	if (o->engine) {
		*e = o->engine;
		res->fast_size = o->fast_size;
		res->origin_size = o->origin_size;
		res->engine_name = o->engine->name;
		return 0;
	}
	align |= o->fast_offset_sectors * 512 | o->origin_offset_sectors * 512;
	r = cache_wb_open_data(o->fast_path, 0, align, &fds[CACHE_WB_FAST],
			       &res->fast_size, &res->fast_direct);
	if (r < 0) {
		res->bad_path = o->fast_path;
		goto out_fail;
	}
	r = cache_wb_open_data(o->origin_path, 1, align, &fds[CACHE_WB_ORIGIN],
			       &res->origin_size, &res->origin_direct);
	if (r < 0) {
		res->bad_path = o->origin_path;
		goto out_fail;
	}
	r = cache_wb_engine_fd_create(fds, o->queue_depth ? o->queue_depth :
							  DEFAULT_DEPTH,
				      o->force_sync, e);
	if (r < 0)
		goto out_err;
	res->engine_name = (*e)->name;
	return 0;

out_fail:
	res->status = CACHE_WB_OPEN_FAILED;
	res->err = r;
	return r;
out_err:
	res->status = CACHE_WB_ERROR;
	res->err = r;
	return r;
}

struct fill_ctx {
	struct cache_sb sb;
};

static int fill_sb(void *ctx, void *data, const struct pd_sm_root_cpu *root)
{
	struct fill_ctx *f = ctx;

	f->sb.sm_root = *root;
	cache_sb_pack(&f->sb, data);
	return 0;
}

static void clear_m_dirty(void *value, void *ctx)
{
	uint64_t v;

	(void)ctx;
	memcpy(&v, value, 8);
	v = htole64(le64toh(v) & ~(uint64_t)CACHE_M_DIRTY);
	memcpy(value, &v, 8);
}

static void set_m_dirty(void *value, void *ctx)
{
	uint64_t v;

	(void)ctx;
	memcpy(&v, value, 8);
	v = htole64(le64toh(v) | CACHE_M_DIRTY);
	memcpy(value, &v, 8);
}

/* Zeroes every discard word with a bit set; counts them. */
static int clear_discards(struct wb *w, struct pd_tm *tm, uint64_t *root)
{
	const struct cache_sb *sb = &w->res->sb;
	struct base_bitmap bits = { 0 }, lost = { 0 };
	uint64_t nr_words = (sb->discard_nr_blocks + 63) / 64;
	const uint64_t zero = 0;
	int r;

	if (!sb->discard_nr_blocks)
		return 0;
	r = pd_bitset_read(w->bm, *root, sb->discard_nr_blocks, 0, NULL, NULL,
			   &bits, &lost);
	if (r < 0)
		return r;
	for (uint64_t wd = 0; wd < nr_words; wd++) {
		/* An unreadable word may hold anything: zero it too. */
		if (!bits.words[wd] && !lost.words[wd])
			continue;
		r = pd_array_set(tm, root, 8, nr_words, wd, &zero);
		if (r < 0)
			break;
		w->res->discards_cleared++;
	}
	base_bitmap_release(&bits);
	base_bitmap_release(&lost);
	return r;
}

static int update(struct wb *w)
{
	struct cache_writeback_result *res = w->res;
	struct fill_ctx f = { .sb = res->sb };
	struct cache_sb *sb = &f.sb;
	struct pd_tm *tm;
	int r;

	r = pd_tm_open(w->bm, &res->sb.sm_root, &tm);
	if (r < 0)
		return r;
	for (uint64_t i = 0; i < res->nr_jobs; i++) {
		struct cache_wb_job *j = &res->jobs[i];
		int copied = j->stage == CACHE_WB_COPIED;

		if (copied && w->was_dirty[i]) {
			if (sb->version >= 2)
				r = pd_bitset_clear(tm, &sb->dirty_root,
						    sb->cache_blocks, j->cblock);
			else
				r = pd_array_update(tm, &sb->mapping_root, 8,
						    sb->cache_blocks, j->cblock,
						    clear_m_dirty, NULL);
			res->cleared++;
		} else if (!copied && !w->was_dirty[i] && res->all_valid) {
			/*
			 * Its flag said clean, but after an unclean shutdown
			 * nothing says so: once CLEAN_SHUTDOWN is set below,
			 * only an explicit dirty mark keeps it dirty.
			 */
			if (sb->version >= 2)
				r = pd_bitset_set(tm, &sb->dirty_root,
						  sb->cache_blocks, j->cblock);
			else
				r = pd_array_update(tm, &sb->mapping_root, 8,
						    sb->cache_blocks, j->cblock,
						    set_m_dirty, NULL);
			res->marked_dirty++;
		}
		if (r < 0)
			goto out_tm;
	}
	if (res->all_valid) {
		r = clear_discards(w, tm, &sb->discard_root);
		if (r < 0)
			goto out_tm;
		sb->flags |= CACHE_SB_CLEAN_SHUTDOWN;
	}
	if (!res->cleared && !res->marked_dirty && !res->all_valid)
		goto out_tm;	/* nothing to say: no transaction */
	r = pd_tm_commit(tm, fill_sb, &f, &cache_sb_validator);
	if (r < 0)
		goto out_tm;
	res->metadata_updated = 1;
	res->flags_written = sb->flags;
out_tm:
	pd_tm_destroy(tm);
	return r;
}

/*
 * In the unclean case every valid block is a job; its was_dirty says what
 * its own flag or bit claimed, so that update() knows what to change.
 */
static int read_claimed_dirty(struct wb *w)
{
	struct cache_writeback_result *res = w->res;
	const struct cache_sb *sb = &res->sb;
	int r;

	/* Clean: every job is dirty.  v1: the flags came with the mappings. */
	if (!res->all_valid || sb->version < 2)
		return 0;
	r = pd_bitset_read(w->bm, sb->dirty_root, sb->cache_blocks,
			   PD_WALK_PREFETCH, NULL, NULL, &w->dirty,
			   &w->dirty_lost);
	if (r < 0)
		return r;
	for (uint64_t i = 0; i < res->nr_jobs; i++) {
		uint64_t c = res->jobs[i].cblock;

		/* A lost bit: set it anyway, setting is always safe. */
		w->was_dirty[i] = base_bitmap_test(&w->dirty, c) &&
				  !base_bitmap_test(&w->dirty_lost, c);
	}
	return 0;
}

int cache_writeback(struct pd_io *meta, const struct cache_writeback_opts *o,
		    struct cache_writeback_result *res)
{
	struct wb w = { .o = o, .res = res };
	struct cache_wb_engine *e = NULL;
	int fds[2] = { -1, -1 };
	struct cache_wb_copy_opts co;
	int r;

	memset(res, 0, sizeof(*res));
	r = pd_bm_create(meta, 1024, &w.bm);
	if (r < 0) {
		res->status = CACHE_WB_ERROR;
		res->err = r;
		return r;
	}
	r = examine(&w, meta);
	if (r < 0)
		goto out_bm;
	/* The checker read around our cache: start afresh. */
	pd_bm_destroy(w.bm);
	w.bm = NULL;
	r = pd_bm_create(meta, 1024, &w.bm);
	if (r < 0) {
		res->status = CACHE_WB_ERROR;
		res->err = r;
		return r;
	}
	r = collect(&w);
	if (r < 0)
		goto out_bm;
	base_bitmap_release(&w.dirty);
	base_bitmap_release(&w.dirty_lost);
	r = read_claimed_dirty(&w);
	if (r < 0) {
		res->status = CACHE_WB_ERROR;
		res->err = r;
		goto out_bm;
	}
	if (o->begin)
		o->begin(o->ctx, res->nr_jobs, res->all_valid);

	r = open_engine(&w, &e, fds);
	if (r < 0)
		goto out_data;
	co = (struct cache_wb_copy_opts){
		.block_bytes = (uint64_t)res->sb.data_block_size * 512,
		.fast_offset = o->fast_offset_sectors * 512,
		.origin_offset = o->origin_offset_sectors * 512,
		.fast_size = res->fast_size,
		.origin_size = res->origin_size,
		.buffer_bytes = o->buffer_bytes,
		.batch_bytes = res->fast_direct && res->origin_direct ? 0 :
			       BUFFERED_BATCH,
		.retries = o->retries,
		.progress = o->progress,
		.ctx = o->ctx,
	};
	r = cache_wb_copy(e, &co, res->jobs, res->nr_jobs, &res->stats);
	if (r < 0) {
		res->status = CACHE_WB_COPY_ERROR;
		res->err = r;
		goto out_data;
	}
	res->status = res->stats.failed ? CACHE_WB_INCOMPLETE : CACHE_WB_OK;

	if (!(o->flags & CACHE_WB_NO_METADATA_UPDATE)) {
		r = update(&w);
		if (r < 0) {
			res->status = CACHE_WB_UPDATE_FAILED;
			res->err = r;
			goto out_data;
		}
	}
	r = 0;

out_data:
	if (e && e != o->engine)
		cache_wb_engine_destroy(e);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
out_bm:
	base_bitmap_release(&w.dirty);
	base_bitmap_release(&w.dirty_lost);
	free(w.was_dirty);
	pd_bm_destroy(w.bm);
	return r;
}

void cache_writeback_release(struct cache_writeback_result *res)
{
	free(res->jobs);
	res->jobs = NULL;
	res->nr_jobs = 0;
}
