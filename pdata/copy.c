// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The copier (pdata/copy.h).
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
#include "pdata/copy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

/* One request moves at most this much, and names at most this many parts. */
#define MAX_REQ_BYTES (8u << 20)
#define MAX_IOV 256u
#define MIN_BUFFER (8u << 10)
const char *pd_copy_stage_name(enum pd_copy_stage s)
{
	switch (s) {
	case PD_COPY_NOT_TRIED:
		return "not copied";
	case PD_COPY_COPIED:
		return "copied";
	case PD_COPY_FAILED_FAST_END:
		return "past the end of the fast device";
	case PD_COPY_FAILED_ORIGIN_END:
		return "past the end of the origin device";
	case PD_COPY_FAILED_READ:
		return "read error";
	case PD_COPY_FAILED_WRITE:
		return "write error";
	case PD_COPY_FAILED_FLUSH:
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
	struct pd_copy_req req;
	struct op op;
	struct iovec iov[MAX_IOV];
};

struct copier {
	struct pd_copy_engine *e;
	const struct pd_copy_opts *o;
	struct pd_copy_job *jobs;
	uint64_t nr_jobs;
	struct pd_copy_stats *st;

	uint32_t unit_bytes;
	uint64_t parts;		/* units per block */
	unsigned max_units;	/* per batch */
	uint64_t jc, pc;	/* fill cursor: job, part */

	struct op *queue;
	size_t qcap, qhead, qnr;

	struct slot *slots;
	struct slot **free;
	unsigned nr_free, nr_slots;
	struct pd_copy_req **done;
	struct pd_copy_req **subs;
};

static struct unit *op_unit(const struct op *op, unsigned k)
{
	struct batch *b = op->b;

	return op->write ? &b->units[b->order[op->first + k].unit] :
			   &b->units[op->first + k];
}

static void fail_job(struct copier *c, uint64_t job, enum pd_copy_stage s,
		     int err)
{
	struct pd_copy_job *j = &c->jobs[job];

	if (j->stage == PD_COPY_NOT_TRIED) {
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
	struct pd_copy_req *r = &s->req;
	int n = 0;

	r->dev = op->write ? PD_COPY_ORIGIN : PD_COPY_FAST;
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
				 op.write ? PD_COPY_FAILED_WRITE :
					    PD_COPY_FAILED_READ, err);
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
		struct pd_copy_job *j = &c->jobs[c->jc];
		uint64_t off = c->pc * c->unit_bytes;
		struct unit *u;

		if (j->stage != PD_COPY_NOT_TRIED) {
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
		if (c->jobs[b->units[k].job].stage != PD_COPY_NOT_TRIED)
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
	const struct pd_copy_opts *o = c->o;

	for (uint64_t i = 0; i < c->nr_jobs; i++) {
		struct pd_copy_job *j = &c->jobs[i];
		u128 fend = (u128)o->fast_offset +
			    ((u128)j->cblock + 1) * o->block_bytes;
		u128 oend = (u128)o->origin_offset +
			    ((u128)j->oblock + 1) * o->block_bytes;

		if ((o->fast_size && fend > o->fast_size) ||
		    fend > (u128)INT64_MAX)
			fail_job(c, i, PD_COPY_FAILED_FAST_END, -ENXIO);
		else if ((o->origin_size && oend > o->origin_size) ||
			 oend > (u128)INT64_MAX)
			fail_job(c, i, PD_COPY_FAILED_ORIGIN_END, -ENOSPC);
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

static void finish_jobs(struct copier *c, enum pd_copy_stage s, int err)
{
	for (uint64_t i = 0; i < c->nr_jobs; i++)
		if (c->jobs[i].stage == PD_COPY_NOT_TRIED)
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

int pd_copy(struct pd_copy_engine *e, const struct pd_copy_opts *o,
		  struct pd_copy_job *jobs, uint64_t nr_jobs,
		  struct pd_copy_stats *stats)
{
	struct copier c = { .e = e, .o = o, .jobs = jobs, .nr_jobs = nr_jobs,
			    .st = stats };
	struct batch bs[2] = { { 0 } };
	unsigned char *buf = NULL;
	uint64_t half;
	int r;

	memset(stats, 0, sizeof(*stats));
	for (uint64_t i = 0; i < nr_jobs; i++) {
		jobs[i].stage = PD_COPY_NOT_TRIED;
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
	r = e->ops->flush(e, PD_COPY_ORIGIN);
	if (r < 0)
		finish_jobs(&c, PD_COPY_FAILED_FLUSH, r);
	for (uint64_t i = 0; i < nr_jobs; i++) {
		if (jobs[i].stage == PD_COPY_NOT_TRIED)
			jobs[i].stage = PD_COPY_COPIED;
		if (jobs[i].stage == PD_COPY_COPIED)
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
		finish_jobs(&c, PD_COPY_FAILED_WRITE, r);
		stats->copied = 0;
		stats->failed = nr_jobs;
	}
	return r;
}

