// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Offline writeback (cache/writeback.h): the operation that checks the
 * metadata, picks the blocks, has pdata/copy.h's copier copy them and
 * commits the new dirty state.
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
#include "base/grow.h"
#include "cache/check.h"
#include "pdata/array.h"
#include "pdata/bitset.h"
#include "pdata/bm.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"
#include "pdata/tm.h"

#define DEFAULT_DEPTH 64u
/* Batch size through the page cache: two of them fit in a CPU cache. */
#define BUFFERED_BATCH (2u << 20)

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
	size_t cap_jobs, cap_dirty;
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

	if (BASE_GROW(res->jobs, w->cap_jobs, res->nr_jobs + 1, 1024) < 0 ||
	    BASE_GROW(w->was_dirty, w->cap_dirty, res->nr_jobs + 1, 1024) < 0)
		return -ENOMEM;
	res->jobs[res->nr_jobs] = (struct pd_copy_job){ .cblock = cblock,
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

static int open_engine(struct wb *w, struct pd_copy_engine **e, int fds[2])
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
	r = pd_copy_open_data(o->fast_path, 0, align, &fds[PD_COPY_FAST],
			       &res->fast_size, &res->fast_direct);
	if (r < 0) {
		res->bad_path = o->fast_path;
		goto out_fail;
	}
	r = pd_copy_open_data(o->origin_path, 1, align, &fds[PD_COPY_ORIGIN],
			       &res->origin_size, &res->origin_direct);
	if (r < 0) {
		res->bad_path = o->origin_path;
		goto out_fail;
	}
	r = pd_copy_engine_fd_create(fds, o->queue_depth ? o->queue_depth :
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
		struct pd_copy_job *j = &res->jobs[i];
		int copied = j->stage == PD_COPY_COPIED;

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
	struct pd_copy_engine *e = NULL;
	int fds[2] = { -1, -1 };
	struct pd_copy_opts co;
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
	co = (struct pd_copy_opts){
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
	r = pd_copy(e, &co, res->jobs, res->nr_jobs, &res->stats);
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
		pd_copy_engine_destroy(e);
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
