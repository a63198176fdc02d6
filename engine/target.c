// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The dm-cache target model (see target.h).  The per-bio path follows the
 * kernel's map_bio; background work runs in the "instant" model; the
 * waker and the policy ticks run on virtual jiffies derived from the
 * trace's timestamps.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "engine/target.h"

/* The kernel's limit on discard blocks over the origin. */
#define MAX_DISCARD_BLOCKS (1u << 14)

/*
 * The policy is created at jiffy 0, when the table is loaded; the resume,
 * time 0 of the trace, comes a jiffy later.  The kernel's loads and
 * resumes are apart (the metadata is read in between), and it matters:
 * smq ends its first hotspot and cache periods at the first tick after
 * its creation, which is then the resume's waker, before any I/O, as in
 * the kernel (tests/kernel s7), not the first bio's tick.
 */
#define RESUME_JIFFIES 1u

struct target {
	struct target_config cfg;
	struct target_hooks hooks;
	struct policy *policy;
	uint64_t jiffies;
	uint64_t next_waker;
	bool woken;			/* the resume-time waker has run */
	uint64_t origin_blocks;
	uint64_t block_bytes;
	unsigned block_shift;		/* log2(block_bytes) when ... */
	bool block_pow2;		/* ... it is a power of two */

	uint64_t *dirty;		/* bit per cache block */
	uint32_t nr_dirty;
	uint64_t discard_sectors;	/* discard block size */
	unsigned dblock_shift;		/* block_sectors << it */
	uint64_t nr_dblocks;
	uint64_t *discarded;		/* bit per discard block */

	uint64_t last_origin_io;	/* jiffies of the last origin I/O */
	bool any_origin_io;
	bool changed;			/* mappings changed since the commit */
	bool stop;			/* a commit hook asked to stop */
	struct target_counters c;
};

static bool test_bit(const uint64_t *b, uint64_t i)
{
	return b[i / 64] >> (i % 64) & 1;
}

static void set_bit(uint64_t *b, uint64_t i)
{
	b[i / 64] |= 1ull << (i % 64);
}

static void clear_bit(uint64_t *b, uint64_t i)
{
	b[i / 64] &= ~(1ull << (i % 64));
}

int target_create(const struct target_config *cfg,
		  const struct target_hooks *hooks, struct target **out)
{
	struct target *t;
	uint64_t dbs;
	int r;

	*out = NULL;
	if (!cfg->block_sectors || !cfg->hz || !cfg->policy ||
	    cfg->block_sectors > UINT32_MAX / 512)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	if (hooks)
		t->hooks = *hooks;
	t->block_bytes = cfg->block_sectors * 512;
	t->block_pow2 = !(t->block_bytes & (t->block_bytes - 1));
	t->block_shift = (unsigned)__builtin_ctzll(t->block_bytes);
	t->origin_blocks = cfg->origin_sectors / cfg->block_sectors;
	/* The discard block size: doubled until it fits 2^14 blocks. */
	dbs = cfg->block_sectors;
	while (cfg->origin_sectors / dbs > MAX_DISCARD_BLOCKS) {
		dbs *= 2;
		t->dblock_shift++;
	}
	t->discard_sectors = dbs;
	t->nr_dblocks = (t->origin_blocks * cfg->block_sectors + dbs - 1) / dbs;
	t->dirty = calloc(((size_t)cfg->cache_blocks + 63) / 64 + 1, 8);
	t->discarded = calloc((size_t)(t->nr_dblocks + 63) / 64 + 1, 8);
	if (!t->dirty || !t->discarded) {
		target_destroy(t);
		return -ENOMEM;
	}
	r = policy_create(cfg->policy, cfg->cache_blocks, cfg->origin_sectors,
			  cfg->block_sectors, &t->jiffies, &t->policy);
	if (r < 0) {
		target_destroy(t);
		return r;
	}
	*out = t;
	return 0;
}

void target_destroy(struct target *t)
{
	if (!t)
		return;
	policy_destroy(t->policy);
	free(t->dirty);
	free(t->discarded);
	free(t);
}

/* ---- dirty and discard state ---- */

static void set_dirty(struct target *t, uint32_t cblock)
{
	if (!test_bit(t->dirty, cblock)) {
		set_bit(t->dirty, cblock);
		t->nr_dirty++;
		t->policy->ops->set_dirty(t->policy, cblock);
	}
}

static void clear_dirty(struct target *t, uint32_t cblock)
{
	if (test_bit(t->dirty, cblock)) {
		clear_bit(t->dirty, cblock);
		t->nr_dirty--;
	}
	t->policy->ops->clear_dirty(t->policy, cblock);
}

/* oblock * block_sectors / discard_sectors, which is exactly this (the
 * discard block is the cache block doubled), without a division on
 * every bio. */
static uint64_t dblock_of(const struct target *t, uint64_t oblock)
{
	return oblock >> t->dblock_shift;
}

static bool discarded(const struct target *t, uint64_t oblock)
{
	uint64_t d = dblock_of(t, oblock);

	return d < t->nr_dblocks && test_bit(t->discarded, d);
}

static void clear_discard(struct target *t, uint64_t oblock)
{
	uint64_t d = dblock_of(t, oblock);

	if (d < t->nr_dblocks)
		clear_bit(t->discarded, d);
}

/* ---- hooks ---- */

static int data(struct target *t, enum target_data_op op, uint32_t cblock,
		uint64_t oblock, uint32_t offset, uint32_t len,
		uint64_t io_index)
{
	struct target_data_io d = { op, cblock, oblock, offset, len,
				    io_index, 0 };

	return t->hooks.data ? t->hooks.data(t->hooks.ctx, &d) : 0;
}

static int commit(struct target *t)
{
	int r = 0;

	if (!t->changed)
		return 0;
	t->changed = false;
	t->c.commits++;
	if (t->hooks.commit)
		r = t->hooks.commit(t->hooks.ctx);
	if (r == 1)
		t->stop = true;
	return r < 0 ? r : 0;
}

static int insert_mapping(struct target *t, uint32_t cblock, uint64_t oblock)
{
	t->changed = true;
	return t->hooks.insert_mapping ?
		       t->hooks.insert_mapping(t->hooks.ctx, cblock, oblock) : 0;
}

static int remove_mapping(struct target *t, uint32_t cblock)
{
	t->changed = true;
	return t->hooks.remove_mapping ?
		       t->hooks.remove_mapping(t->hooks.ctx, cblock) : 0;
}

/* ---- background work ---- */

/*
 * The kernel's spare_migration_bandwidth: no origin I/O for a second,
 * and room for one more migration under the threshold.  Migrations here
 * finish at once, so "in flight" is what this run of the worker started:
 * the kernel's worker stops generating writebacks when that many are
 * running, and is woken again only by the waker or a bio.  A cache that
 * has seen no origin I/O yet counts as quiet, as a kernel that has been
 * up for a while sees it.
 */
static bool idle(const struct target *t, uint64_t started)
{
	bool quiet = !t->any_origin_io ||
		     t->jiffies > t->last_origin_io + t->cfg.hz;

	return quiet && (started + 1) * t->cfg.block_sectors <=
				t->cfg.migration_threshold;
}

/* Performs one migration; the copy-free promotion has its bio's data
 * written by the caller first. */
static int migrate(struct target *t, struct policy_work *w, bool overwrite,
		   uint64_t io_index)
{
	struct policy *p = t->policy;
	int r = 0;

	switch (w->op) {
	case POLICY_PROMOTE:
		clear_discard(t, w->oblock);
		if (!overwrite) {
			r = data(t, TD_PROMOTE_COPY, w->cblock, w->oblock, 0,
				 (uint32_t)t->block_bytes, io_index);
			t->c.bytes_promoted += t->block_bytes;
		}
		if (r == 0)
			r = insert_mapping(t, w->cblock, w->oblock);
		p->ops->complete_background_work(p, w, r == 0);
		if (r == 0) {
			t->c.promotions++;
			/* The policy starts entries dirty; the target says
			 * what they are. */
			if (overwrite) {
				t->c.copy_free_promotions++;
				if (!test_bit(t->dirty, w->cblock)) {
					set_bit(t->dirty, w->cblock);
					t->nr_dirty++;
				}
				p->ops->set_dirty(p, w->cblock);
			} else {
				clear_dirty(t, w->cblock);
			}
		}
		break;
	case POLICY_DEMOTE:
		/* Removed, committed, and only then complete. */
		r = remove_mapping(t, w->cblock);
		if (r == 0)
			r = commit(t);
		if (r == 0) {
			if (test_bit(t->dirty, w->cblock)) {
				clear_bit(t->dirty, w->cblock);
				t->nr_dirty--;
			}
			t->c.demotions++;
		}
		p->ops->complete_background_work(p, w, r == 0);
		break;
	case POLICY_WRITEBACK:
		r = data(t, TD_WRITEBACK_COPY, w->cblock, w->oblock, 0,
			 (uint32_t)t->block_bytes, io_index);
		if (r == 0) {
			t->c.bytes_written_back += t->block_bytes;
			t->c.writebacks++;
			if (test_bit(t->dirty, w->cblock)) {
				clear_bit(t->dirty, w->cblock);
				t->nr_dirty--;
			}
			p->ops->clear_dirty(p, w->cblock);
		}
		p->ops->complete_background_work(p, w, r == 0);
		break;
	}
	return r;
}

static int run_worker(struct target *t, uint64_t io_index)
{
	struct policy_work *w;
	uint64_t started = 0;
	int r = 0;

	if (t->cfg.mode == TARGET_PASSTHROUGH)
		return 0;
	while (r == 0 && !t->stop &&
	       t->policy->ops->get_background_work(t->policy,
						   idle(t, started), &w) == 0) {
		r = migrate(t, w, false, io_index);
		started++;
	}
	return r;
}

static int waker(struct target *t)
{
	int r;

	t->policy->ops->tick(t->policy, true);
	r = run_worker(t, UINT64_MAX);
	if (r == 0 && !t->stop)
		r = commit(t);
	return r;
}

/* Moves virtual time to jiffies j, firing the wakers due on the way. */
static int advance(struct target *t, uint64_t j)
{
	int r = 0;

	if (!t->woken) {
		/* Resume runs the waker at once. */
		t->woken = true;
		t->jiffies = RESUME_JIFFIES;
		t->next_waker = t->jiffies + t->cfg.hz;
		r = waker(t);
	}
	while (r == 0 && !t->stop && t->next_waker <= j) {
		t->jiffies = t->next_waker;
		t->next_waker += t->cfg.hz;
		r = waker(t);
	}
	if (j > t->jiffies)
		t->jiffies = j;
	return r;
}

/*
 * floor(ns * hz / 1e9), as whole seconds and the rest: exactly that (mod
 * 2^64), since the rest times a 32-bit hz fits 64 bits; the divisions by
 * a constant become multiplications, where the 128-bit product needed a
 * library division for every trace I/O.
 */
static uint64_t to_jiffies(const struct target *t, uint64_t ns)
{
	uint64_t sec = ns / 1000000000u, rest = ns % 1000000000u;

	return RESUME_JIFFIES + sec * t->cfg.hz +
	       rest * t->cfg.hz / 1000000000u;
}

/* ---- the bio path ---- */

static void origin_io(struct target *t)
{
	t->any_origin_io = true;
	t->last_origin_io = t->jiffies;
}

/*
 * One bio inside block oblock.  *hit reports a hit for the I/O's
 * counters; *ticks whether the kernel would mark it as the tick bio (the
 * hit and miss paths do; a copy-free promotion's bio and one to the
 * partial end block are remapped without the check).  Returns 0, or a
 * hook's error.
 */
static int map_bio(struct target *t, bool write, uint64_t oblock,
		   uint32_t offset, uint32_t len, uint64_t io_index, bool *hit,
		   bool *ticks)
{
	struct policy *p = t->policy;
	bool full = write && len == t->block_bytes;
	uint32_t cblock = 0;
	bool queued = false;
	int r;

	*hit = false;
	*ticks = false;
	if (p->ops->examine_bio && oblock < t->origin_blocks)
		p->ops->examine_bio(p, oblock * t->cfg.block_sectors +
					       offset / 512,
				    len / 512, discarded(t, oblock));
	if (oblock >= t->origin_blocks) {
		/* The partial block at the end: never cached, not counted. */
		origin_io(t);
		return data(t, write ? TD_WRITE_ORIGIN : TD_READ_ORIGIN, 0,
			    oblock, offset, len, io_index);
	}
	if (t->cfg.mode == TARGET_WRITEBACK &&
	    (discarded(t, oblock) || full)) {
		struct policy_work *w = NULL;

		r = p->ops->lookup_with_work(p, oblock, &cblock, write, true,
					     &w);
		queued = r == -ENOENT && !w && p->wake_after_fast_miss;
		if (r == -ENOENT && w) {
			/* The bio is the promotion's data; not counted. */
			r = data(t, write ? TD_NEW_WRITE_CACHE
					  : TD_NEW_READ_CACHE,
				 w->cblock, oblock, offset, len, io_index);
			if (r == 0)
				r = migrate(t, w, true, io_index);
			else
				p->ops->complete_background_work(p, w, false);
			return r;
		}
	} else {
		r = p->ops->lookup(p, oblock, &cblock, write, false, &queued);
	}
	*ticks = true;
	if (r == -ENOENT) {
		if (write) {
			t->c.write_misses++;
			clear_discard(t, oblock);
		} else {
			t->c.read_misses++;
		}
		origin_io(t);
		r = data(t, write ? TD_WRITE_ORIGIN : TD_READ_ORIGIN, 0, oblock,
			 offset, len, io_index);
	} else {
		*hit = true;
		if (write)
			t->c.write_hits++;
		else
			t->c.read_hits++;
		if (t->cfg.mode == TARGET_PASSTHROUGH) {
			if (write) {
				/* Invalidate, counted as a demotion (passthrough
				 * runs no migrations, so nothing is pending). */
				t->c.demotions++;
				r = p->ops->invalidate_mapping(p, cblock);
				if (r == 0 && test_bit(t->dirty, cblock)) {
					clear_bit(t->dirty, cblock);
					t->nr_dirty--;
				}
				if (r == 0)
					r = remove_mapping(t, cblock);
				if (r == 0)
					r = commit(t);
				origin_io(t);
				if (r == 0)
					r = data(t, TD_WRITE_ORIGIN, 0, oblock,
						 offset, len, io_index);
			} else {
				origin_io(t);
				r = data(t, TD_READ_ORIGIN, 0, oblock, offset,
					 len, io_index);
			}
		} else if (write && t->cfg.mode == TARGET_WRITETHROUGH &&
			   !test_bit(t->dirty, cblock)) {
			origin_io(t);
			r = data(t, TD_WRITE_BOTH, cblock, oblock, offset, len,
				 io_index);
		} else {
			if (write) {
				set_dirty(t, cblock);
				clear_discard(t, oblock);
			}
			r = data(t, write ? TD_WRITE_CACHE : TD_READ_CACHE,
				 cblock, oblock, offset, len, io_index);
		}
	}
	if (r == 0 && queued)
		r = run_worker(t, io_index);
	return r;
}

static int discard(struct target *t, const struct trace_io *io,
		   uint64_t io_index)
{
	uint64_t sb = io->offset / 512, se = (io->offset + io->len) / 512;
	uint64_t b = (sb + t->discard_sectors - 1) / t->discard_sectors, e;
	uint64_t per = t->discard_sectors / t->cfg.block_sectors;
	int r = 0;

	/* Only discard blocks the bio covers whole. */
	e = se - sb < t->discard_sectors ? b : se / t->discard_sectors;
	if (e > t->nr_dblocks)
		e = t->nr_dblocks;
	for (uint64_t d = b; r == 0 && d < e; d++) {
		uint64_t first = d * per, n = per;

		set_bit(t->discarded, d);
		if (!t->hooks.data)
			continue;
		if (first + n > t->origin_blocks)
			n = t->origin_blocks - first;
		/* Cached copies go undefined too (the kernel keeps them
		 * mapped; their data is as undefined as the origin's). */
		for (uint64_t o = first; r == 0 && o < first + n; o++) {
			uint32_t cb;

			if (t->policy->ops->peek(t->policy, o, &cb) == 0)
				r = data(t, TD_DISCARD_CACHE, cb, o, 0,
					 (uint32_t)t->block_bytes, io_index);
		}
		if (r == 0) {
			struct target_data_io x = {
				TD_DISCARD_ORIGIN, 0, first, 0, 0, io_index, n
			};

			r = t->hooks.data(t->hooks.ctx, &x);
		}
	}
	return r;
}

int target_io(struct target *t, const struct trace_io *io, uint64_t io_index)
{
	uint64_t end = io->offset + io->len;
	bool all_hit = true, write = io->op == TRACE_OP_WRITE;
	int r;

	if (t->stop)
		return 1;
	if (end > t->cfg.origin_sectors * 512)
		return -ERANGE;
	r = advance(t, to_jiffies(t, io->time_ns));
	if (r < 0 || t->stop)
		return r < 0 ? r : 1;
	t->c.ios++;
	if (io->flags & TRACE_F_PREFLUSH || io->op == TRACE_OP_FLUSH) {
		r = commit(t);
		if (io->op == TRACE_OP_FLUSH) {
			t->c.flushes++;
			return r < 0 ? r : (t->stop ? 1 : 0);
		}
	}
	if (r == 0 && io->op == TRACE_OP_DISCARD) {
		t->c.discards++;
		return discard(t, io, io_index);
	}
	if (write)
		t->c.writes++;
	else
		t->c.reads++;
	bool tick_bio = false;

	for (uint64_t off = io->offset; r == 0 && !t->stop && off < end;) {
		/* Block sizes are mostly powers of two: no division then. */
		uint64_t oblock = t->block_pow2 ? off >> t->block_shift
					       : off / t->block_bytes;
		uint32_t in = (uint32_t)(off - oblock * t->block_bytes);
		uint64_t len = t->block_bytes - in;
		bool hit, ticks;

		if (len > end - off)
			len = end - off;
		t->c.bios++;
		r = map_bio(t, write, oblock, in, (uint32_t)len, io_index, &hit,
			    &ticks);
		all_hit = all_hit && hit;
		tick_bio = tick_bio || (r == 0 && ticks);
		off += len;
	}
	/*
	 * The tick bio: the policy ticks when it completes.  The pieces of a
	 * split I/O are in flight together, so only the first is marked: one
	 * tick per I/O.
	 */
	if (tick_bio && t->cfg.tick == TARGET_TICK_PER_BIO)
		t->policy->ops->tick(t->policy, false);
	if (r == 0 && (io->flags & TRACE_F_FUA))
		r = commit(t);
	if (write) {
		if (all_hit)
			t->c.io_write_hits++;
		else
			t->c.io_write_misses++;
	} else {
		if (all_hit)
			t->c.io_read_hits++;
		else
			t->c.io_read_misses++;
	}
	return r < 0 ? r : (t->stop ? 1 : 0);
}

int target_finish(struct target *t, uint64_t time_ns, bool drain_idle)
{
	int r;

	if (t->stop)
		return 1;
	r = advance(t, to_jiffies(t, time_ns));
	if (r == 0 && !t->stop && drain_idle) {
		/* A second with no I/O: the worker sees an idle cache. */
		r = advance(t, t->jiffies + t->cfg.hz + 1);
	}
	if (r == 0 && !t->stop)
		r = commit(t);
	return r < 0 ? r : (t->stop ? 1 : 0);
}

/* ---- loading and state ---- */

int target_load_mapping(struct target *t, uint64_t oblock, uint32_t cblock,
			bool dirty, uint32_t hint, bool hint_valid)
{
	int r;

	if (cblock >= t->cfg.cache_blocks)
		return -EINVAL;
	r = t->policy->ops->load_mapping(t->policy, oblock, cblock, dirty, hint,
					 hint_valid);
	if (r == 0 && dirty && !test_bit(t->dirty, cblock)) {
		set_bit(t->dirty, cblock);
		t->nr_dirty++;
	}
	return r;
}

uint64_t target_discard_block_sectors(const struct target *t)
{
	return t->discard_sectors;
}

uint64_t target_nr_discard_blocks(const struct target *t)
{
	return t->nr_dblocks;
}

void target_set_discard(struct target *t, uint64_t dblock)
{
	if (dblock < t->nr_dblocks)
		set_bit(t->discarded, dblock);
}

void target_load_counters(struct target *t, uint64_t read_hits,
			  uint64_t read_misses, uint64_t write_hits,
			  uint64_t write_misses)
{
	t->c.read_hits = read_hits;
	t->c.read_misses = read_misses;
	t->c.write_hits = write_hits;
	t->c.write_misses = write_misses;
}

const struct target_counters *target_counters(const struct target *t)
{
	return &t->c;
}

struct policy *target_policy(struct target *t)
{
	return t->policy;
}

bool target_cblock_dirty(const struct target *t, uint32_t cblock)
{
	return cblock < t->cfg.cache_blocks && test_bit(t->dirty, cblock);
}

bool target_dblock_discarded(const struct target *t, uint64_t dblock)
{
	return dblock < t->nr_dblocks && test_bit(t->discarded, dblock);
}

uint32_t target_nr_dirty(const struct target *t)
{
	return t->nr_dirty;
}

uint32_t target_residency(const struct target *t)
{
	return t->policy->ops->residency(t->policy);
}

uint64_t target_jiffies(const struct target *t)
{
	return t->jiffies;
}

void target_status_line(const struct target *t, uint64_t md_used,
			uint64_t md_total, int metadata_version, FILE *f)
{
	static const char *const modes[] = { "writeback", "writethrough",
					     "passthrough" };
	const struct target_counters *c = &t->c;

	fprintf(f, "8 %" PRIu64 "/%" PRIu64 " %" PRIu64 " %u/%u %" PRIu64
		" %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
		" %u ", md_used, md_total, t->cfg.block_sectors,
		target_residency(t), t->cfg.cache_blocks, c->read_hits,
		c->read_misses, c->write_hits, c->write_misses, c->demotions,
		c->promotions, t->nr_dirty);
	if (metadata_version == 2)
		fprintf(f, "2 metadata2 %s ", modes[t->cfg.mode]);
	else
		fprintf(f, "1 %s ", modes[t->cfg.mode]);
	fprintf(f, "2 migration_threshold %" PRIu64 " %s 0 rw -\n",
		t->cfg.migration_threshold, t->policy->name);
}
