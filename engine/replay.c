// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_replay's replay and verify over images (see replay.h): the glue
 * between the target model, the live metadata and the data devices.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/bitmap.h"
#include "base/u64map.h"
#include "cache/dump.h"
#include "cache/format.h"
#include "cache/live.h"
#include "pdata/copy.h"
#include "engine/replay.h"
#include "engine/smq.h"
#include "pdata/io.h"

#define SECTOR 512u

struct replay {
	const struct replay_opts *o;
	struct replay_error *err;
	struct cache_live *cl;
	struct target *t;
	struct pd_copy_engine *data;
	int fds[2];		/* PD_COPY_FAST, PD_COPY_ORIGIN */
	int shadow_fd;
	uint64_t block_bytes;
	uint64_t origin_bytes, cache_bytes;
	uint8_t *buf, *buf2;	/* a block each */
	uint64_t commits;
	bool crashed;
	uint64_t verified_reads;
	/* Interval statistics. */
	struct target_counters last;
	uint64_t next_stats_ns;
};

static int fail(struct replay_error *err, enum replay_error_kind kind,
		int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(struct replay_error *err, enum replay_error_kind kind,
		int code, const char *fmt, ...)
{
	va_list ap;

	if (err->kind)
		return code;	/* keep the first */
	err->kind = kind;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

/* ---- the data written ---- */

static uint64_t mix(uint64_t x)
{
	/* splitmix64's finaliser */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t word_at(uint64_t seed, uint64_t word, uint64_t io_index)
{
	return mix(seed * 0x9E3779B97F4A7C15ull ^ mix(word) ^
		   io_index * 0xD6E8FEB86659FD93ull);
}

uint8_t replay_data_byte(uint64_t seed, uint64_t pos, uint64_t io_index)
{
	return (uint8_t)(word_at(seed, pos / 8, io_index) >> (8 * (pos % 8)));
}

/* The bytes of [pos, pos + len) of a write of trace I/O io_index. */
static void make_data(uint64_t seed, uint64_t pos, uint32_t len,
		      uint64_t io_index, uint8_t *out)
{
	uint32_t i = 0;

	while (i < len && (pos + i) % 8)
		out[i] = replay_data_byte(seed, pos + i, io_index), i++;
	for (; i + 8 <= len; i += 8) {
		uint64_t w = word_at(seed, (pos + i) / 8, io_index);

		memcpy(out + i, &w, 8);	/* little-endian machines only */
	}
	for (; i < len; i++)
		out[i] = replay_data_byte(seed, pos + i, io_index);
}

/* ---- device I/O ---- */

static int dev_io(struct replay *rp, int dev, int write, uint64_t offset,
		  void *buf, uint32_t len)
{
	struct iovec iov = { buf, len };
	struct pd_copy_req req = { dev, write, offset, &iov, 1, len, 0, NULL };
	struct pd_copy_req *reqs[1] = { &req }, *done[1];
	int r = rp->data->ops->submit(rp->data, reqs, 1);

	if (r == 0) {
		r = rp->data->ops->reap(rp->data, 1, 1, done);
		r = r < 0 ? r : req.result;
	}
	if (r < 0)
		return fail(rp->err, REPLAY_ERR_IO, r, "%s: %s at byte %" PRIu64
			    ": %s", dev == PD_COPY_FAST ? rp->o->cache_path :
			    rp->o->origin_path, write ? "write" : "read",
			    offset, strerror(-r));
	return 0;
}

static int full_pio(int fd, int write, uint64_t off, void *buf, size_t len)
{
	while (len) {
		ssize_t n = write ? pwrite(fd, buf, len, (off_t)off)
				  : pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			/* Reading past the end of a file reads zeroes. */
			if (write)
				return -EIO;
			memset(buf, 0, len);
			return 0;
		}
		buf = (uint8_t *)buf + n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int shadow_io(struct replay *rp, int write, uint64_t off, void *buf,
		     uint32_t len)
{
	int r = full_pio(rp->shadow_fd, write, off, buf, len);

	if (r < 0)
		return fail(rp->err, REPLAY_ERR_IO, r, "%s: %s: %s",
			    rp->o->shadow_path, write ? "write" : "read",
			    strerror(-r));
	return 0;
}

/* Zeroes len bytes at off: a hole where the file system can. */
static int zero_range(int fd, uint64_t off, uint64_t len, uint8_t *zeroes,
		      uint64_t zlen)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) == 0)
		return 0;
	memset(zeroes, 0, zlen);
	while (len) {
		uint64_t n = len < zlen ? len : zlen;
		int r = full_pio(fd, 1, off, zeroes, (size_t)n);

		if (r < 0)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

/* Compares what a read served with the shadow. */
static int check_read(struct replay *rp, uint64_t pos, const uint8_t *got,
		      uint32_t len)
{
	int r;

	if (!rp->o->verify)
		return 0;
	r = shadow_io(rp, 0, pos, rp->buf2, len);
	if (r < 0)
		return r;
	rp->verified_reads++;
	if (memcmp(got, rp->buf2, len)) {
		uint32_t i = 0;

		while (got[i] == rp->buf2[i])
			i++;
		rp->err->oblock = (pos + i) / rp->block_bytes;
		rp->err->offset = (pos + i) % rp->block_bytes;
		return fail(rp->err, REPLAY_ERR_VERIFY, -EBADMSG,
			    "read of origin block %" PRIu64 " offset %" PRIu64
			    ": got 0x%02x, the shadow has 0x%02x",
			    rp->err->oblock, rp->err->offset, got[i],
			    rp->buf2[i]);
	}
	return 0;
}

static int h_data(void *ctx, const struct target_data_io *d)
{
	struct replay *rp = ctx;
	uint64_t bb = rp->block_bytes;
	uint64_t opos = d->oblock * bb + d->offset;	/* origin position */
	uint64_t cpos = (uint64_t)d->cblock * bb + d->offset;
	int r = 0;

	switch (d->op) {
	case TD_READ_CACHE:
	case TD_READ_ORIGIN:
		r = dev_io(rp, d->op == TD_READ_CACHE ? PD_COPY_FAST
						      : PD_COPY_ORIGIN, 0,
			   d->op == TD_READ_CACHE ? cpos : opos, rp->buf,
			   d->len);
		return r < 0 ? r : check_read(rp, opos, rp->buf, d->len);
	case TD_WRITE_CACHE:
	case TD_WRITE_ORIGIN:
	case TD_WRITE_BOTH:
		make_data(rp->o->seed, opos, d->len, d->io_index, rp->buf);
		if (d->op != TD_WRITE_ORIGIN)
			r = dev_io(rp, PD_COPY_FAST, 1, cpos, rp->buf, d->len);
		if (r == 0 && d->op != TD_WRITE_CACHE)
			r = dev_io(rp, PD_COPY_ORIGIN, 1, opos, rp->buf,
				   d->len);
		if (r == 0 && rp->shadow_fd >= 0)
			r = shadow_io(rp, 1, opos, rp->buf, d->len);
		return r;
	case TD_NEW_WRITE_CACHE:
	case TD_NEW_READ_CACHE:
		/* The block is new to this oblock; what the bio does not
		 * cover is undefined (discarded): make it zeroes. */
		memset(rp->buf, 0, bb);
		if (d->op == TD_NEW_WRITE_CACHE)
			make_data(rp->o->seed, opos, d->len, d->io_index,
				  rp->buf + d->offset);
		r = dev_io(rp, PD_COPY_FAST, 1, (uint64_t)d->cblock * bb,
			   rp->buf, (uint32_t)bb);
		if (r == 0 && d->op == TD_NEW_WRITE_CACHE && rp->shadow_fd >= 0)
			r = shadow_io(rp, 1, opos, rp->buf + d->offset, d->len);
		if (r == 0 && d->op == TD_NEW_READ_CACHE)
			r = check_read(rp, opos, rp->buf + d->offset, d->len);
		return r;
	case TD_PROMOTE_COPY:
		r = dev_io(rp, PD_COPY_ORIGIN, 0, d->oblock * bb, rp->buf,
			   (uint32_t)bb);
		return r < 0 ? r : dev_io(rp, PD_COPY_FAST, 1,
					  (uint64_t)d->cblock * bb, rp->buf,
					  (uint32_t)bb);
	case TD_WRITEBACK_COPY:
		r = dev_io(rp, PD_COPY_FAST, 0, (uint64_t)d->cblock * bb,
			   rp->buf, (uint32_t)bb);
		return r < 0 ? r : dev_io(rp, PD_COPY_ORIGIN, 1,
					  d->oblock * bb, rp->buf,
					  (uint32_t)bb);
	case TD_DISCARD_CACHE:
		r = zero_range(rp->fds[PD_COPY_FAST], (uint64_t)d->cblock * bb,
			       bb, rp->buf, bb);
		break;
	case TD_DISCARD_ORIGIN:
		r = zero_range(rp->fds[PD_COPY_ORIGIN], d->oblock * bb,
			       d->nr_blocks * bb, rp->buf, bb);
		if (r == 0 && rp->shadow_fd >= 0)
			r = zero_range(rp->shadow_fd, d->oblock * bb,
				       d->nr_blocks * bb, rp->buf, bb);
		break;
	}
	if (r < 0)
		return fail(rp->err, REPLAY_ERR_IO, r, "discard: %s",
			    strerror(-r));
	return 0;
}

/* ---- metadata hooks ---- */

static int md_fail(struct replay *rp, int r, const char *what)
{
	return fail(rp->err, REPLAY_ERR_METADATA, r, "%s: %s: %s",
		    rp->o->metadata_path, what, strerror(-r));
}

static int h_insert(void *ctx, uint32_t cblock, uint64_t oblock)
{
	struct replay *rp = ctx;
	int r = cache_live_insert(rp->cl, cblock, oblock);

	return r < 0 ? md_fail(rp, r, "insert mapping") : 0;
}

static int h_remove(void *ctx, uint32_t cblock)
{
	struct replay *rp = ctx;
	int r = cache_live_remove(rp->cl, cblock);

	return r < 0 ? md_fail(rp, r, "remove mapping") : 0;
}

static int h_commit(void *ctx)
{
	struct replay *rp = ctx;
	int r = cache_live_commit(rp->cl, 0);

	if (r < 0)
		return md_fail(rp, r, "commit");
	rp->commits++;
	if (rp->o->crash_at && rp->commits == rp->o->crash_at) {
		rp->crashed = true;
		return 1;
	}
	return 0;
}

/* ---- loading ---- */

static void policy_identity(const struct policy *p,
			    struct cache_live_policy *id)
{
	memset(id, 0, sizeof(*id));
	snprintf(id->name, sizeof(id->name), "%s", p->name);
	memcpy(id->version, p->version, sizeof(id->version));
	id->hint_size = p->hint_size;
}

static int load_one(void *ctx, uint64_t cblock, uint64_t oblock, int dirty,
		    uint32_t hint, int hint_valid)
{
	struct replay *rp = ctx;
	uint64_t origin_blocks = rp->origin_bytes / rp->block_bytes;
	int r;

	if (oblock >= origin_blocks)
		return fail(rp->err, REPLAY_ERR_METADATA, -EINVAL,
			    "%s: cache block %" PRIu64 " maps origin block %"
			    PRIu64 ", past the origin's %" PRIu64 " blocks",
			    rp->o->metadata_path, cblock, oblock,
			    origin_blocks);
	r = target_load_mapping(rp->t, oblock, (uint32_t)cblock, dirty, hint,
				hint_valid);
	if (r < 0)
		return fail(rp->err, REPLAY_ERR_METADATA, r,
			    "%s: cache block %" PRIu64 ": %s",
			    rp->o->metadata_path, cblock,
			    r == -EEXIST ? "mapped twice" : strerror(-r));
	return 0;
}

static int load_discard(void *ctx, uint64_t dbs, uint64_t dblock,
			int discarded)
{
	struct replay *rp = ctx;

	if (discarded && dbs == target_discard_block_sectors(rp->t))
		target_set_discard(rp->t, dblock);
	return 0;
}

/* The data block size of an existing metadata device (block 0). */
static int read_block_size(struct replay *rp, struct pd_io *io,
			   uint32_t *bs)
{
	uint8_t *b = malloc(4096);
	struct cache_sb sb;
	int r;

	if (!b)
		return -ENOMEM;
	r = io->ops->read(io, 0, 1, b);
	if (r == 0) {
		cache_sb_unpack(b, &sb);
		if (sb.magic != CACHE_SB_MAGIC)
			r = fail(rp->err, REPLAY_ERR_METADATA, -EILSEQ,
				 "%s: block 0 is not a cache superblock",
				 rp->o->metadata_path);
		else
			*bs = sb.data_block_size;
	}
	free(b);
	return r;
}

static int open_images(struct replay *rp)
{
	const struct replay_opts *o = rp->o;
	int direct, r;

	r = pd_copy_open_data(o->cache_path, 1, 1, &rp->fds[PD_COPY_FAST],
			       &rp->cache_bytes, &direct);
	if (r < 0)
		return fail(rp->err, REPLAY_ERR_IO, r, "%s: %s", o->cache_path,
			    r == -EBUSY ? "in use" : strerror(-r));
	r = pd_copy_open_data(o->origin_path, 1, 1,
			       &rp->fds[PD_COPY_ORIGIN], &rp->origin_bytes,
			       &direct);
	if (r < 0)
		return fail(rp->err, REPLAY_ERR_IO, r, "%s: %s", o->origin_path,
			    r == -EBUSY ? "in use" : strerror(-r));
	if (o->shadow_path) {
		rp->shadow_fd = open(o->shadow_path, O_RDWR | O_CLOEXEC);
		if (rp->shadow_fd < 0)
			return fail(rp->err, REPLAY_ERR_IO, -errno, "%s: %s",
				    o->shadow_path, strerror(errno));
	}
	r = pd_copy_engine_fd_create(rp->fds, 1, 1, &rp->data);
	if (r < 0)
		return fail(rp->err, REPLAY_ERR_IO, r, "data engine: %s",
			    strerror(-r));
	return 0;
}

static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return a && b && !stat(a, &sa) && !stat(b, &sb) &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* ---- statistics ---- */

static void stats_header(FILE *f)
{
	fprintf(f, "time_s,reads,writes,read_hits,read_misses,write_hits,"
		   "write_misses,promotions,demotions,writebacks,dirty,"
		   "residency,bytes_promoted,bytes_written_back\n");
}

static void stats_row(struct replay *rp, uint64_t time_ns)
{
	const struct target_counters *c = target_counters(rp->t);
	const struct target_counters *l = &rp->last;

	fprintf(rp->o->stats, "%" PRIu64 ".%03" PRIu64 ",%" PRIu64 ",%" PRIu64
		",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
		",%" PRIu64 ",%" PRIu64 ",%u,%u,%" PRIu64 ",%" PRIu64 "\n",
		time_ns / 1000000000u, time_ns / 1000000u % 1000u,
		c->reads - l->reads, c->writes - l->writes,
		c->read_hits - l->read_hits, c->read_misses - l->read_misses,
		c->write_hits - l->write_hits,
		c->write_misses - l->write_misses,
		c->promotions - l->promotions, c->demotions - l->demotions,
		c->writebacks - l->writebacks, target_nr_dirty(rp->t),
		target_residency(rp->t),
		c->bytes_promoted - l->bytes_promoted,
		c->bytes_written_back - l->bytes_written_back);
	rp->last = *c;
}

/* ---- shutdown ---- */

static uint32_t hint_of(void *ctx, uint64_t cblock)
{
	struct policy *p = ctx;

	return p->ops->get_hint(p, (uint32_t)cblock);
}

/* What the kernel writes when it suspends: dirty bits, discards, hints,
 * counters, then a commit with CLEAN_SHUTDOWN. */
static int shutdown_clean(struct replay *rp, uint32_t cache_blocks)
{
	const struct target_counters *c = target_counters(rp->t);
	struct policy *p = target_policy(rp->t);
	struct cache_live_stats st = {
		(uint32_t)c->read_hits, (uint32_t)c->read_misses,
		(uint32_t)c->write_hits, (uint32_t)c->write_misses,
	};
	struct cache_live_policy id;
	struct base_bitmap dirty;
	int r;

	r = base_bitmap_init(&dirty, cache_blocks);
	if (r < 0)
		return md_fail(rp, r, "dirty bits");
	for (uint32_t b = 0; b < cache_blocks; b++)
		if (target_cblock_dirty(rp->t, b))
			base_bitmap_set(&dirty, b);
	r = cache_live_set_dirty_bits(rp->cl, &dirty);
	base_bitmap_release(&dirty);
	if (r < 0)
		return md_fail(rp, r, "write dirty bits");
	for (uint64_t d = 0; r == 0 && d < target_nr_discard_blocks(rp->t); d++)
		r = cache_live_set_discard(rp->cl, d,
					   target_dblock_discarded(rp->t, d));
	if (r < 0)
		return md_fail(rp, r, "write discard bits");
	policy_identity(p, &id);
	r = cache_live_save_hints(rp->cl, &id, hint_of, p);
	if (r < 0)
		return md_fail(rp, r, "write hints");
	cache_live_set_stats(rp->cl, &st);
	r = cache_live_commit(rp->cl, 1);
	return r < 0 ? md_fail(rp, r, "commit") : 0;
}

/* Everything the images must agree on at the end of a replay. */
static int final_verify(struct replay *rp, uint32_t cache_blocks)
{
	uint64_t bb = rp->block_bytes;
	uint64_t origin_blocks = rp->origin_bytes / bb;
	struct base_bitmap overlaid;
	int r;

	r = base_bitmap_init(&overlaid, origin_blocks);
	if (r < 0)
		return r;
	for (uint32_t b = 0; r == 0 && b < cache_blocks; b++) {
		int valid, dirty;
		uint64_t ob;

		r = cache_live_lookup(rp->cl, b, &valid, &ob, &dirty);
		if (r < 0) {
			r = md_fail(rp, r, "look-up");
			break;
		}
		if (!valid)
			continue;
		if (base_bitmap_test(&overlaid, ob)) {
			r = fail(rp->err, REPLAY_ERR_VERIFY, -EBADMSG,
				 "origin block %" PRIu64 " is mapped twice", ob);
			break;
		}
		base_bitmap_set(&overlaid, ob);
		r = dev_io(rp, PD_COPY_FAST, 0, (uint64_t)b * bb, rp->buf,
			   (uint32_t)bb);
		if (r == 0 && !dirty) {
			/* Clean: the origin holds the same. */
			r = dev_io(rp, PD_COPY_ORIGIN, 0, ob * bb, rp->buf2,
				   (uint32_t)bb);
			if (r == 0 && memcmp(rp->buf, rp->buf2, bb)) {
				rp->err->oblock = ob;
				r = fail(rp->err, REPLAY_ERR_VERIFY, -EBADMSG,
					 "clean cache block %u differs from "
					 "origin block %" PRIu64, b, ob);
			}
		}
		if (r == 0)
			r = check_read(rp, ob * bb, rp->buf, (uint32_t)bb);
	}
	for (uint64_t ob = 0; r == 0 && ob < origin_blocks; ob++) {
		if (base_bitmap_test(&overlaid, ob))
			continue;
		r = dev_io(rp, PD_COPY_ORIGIN, 0, ob * bb, rp->buf,
			   (uint32_t)bb);
		if (r == 0)
			r = check_read(rp, ob * bb, rp->buf, (uint32_t)bb);
	}
	base_bitmap_release(&overlaid);
	return r;
}

int replay_run(const struct replay_opts *o, struct trace_reader *trace,
	       struct replay_result *res, struct replay_error *err)
{
	struct replay rp = { .o = o, .err = err, .fds = { -1, -1 },
			     .shadow_fd = -1 };
	struct cache_live_opts lo = { 0 };
	struct target_config cfg = { 0 };
	struct target_hooks hooks = { &rp, h_data, h_insert, h_remove,
				      h_commit };
	struct cache_live_policy id;
	struct pd_io *md = NULL;
	uint64_t cache_bytes, last_ns = 0, index = 0;
	struct trace_error terr = { 0 };
	struct trace_io io;
	uint32_t bs = 0, cache_blocks = 0;
	int r, from_reader = 0;

	memset(res, 0, sizeof(*res));
	memset(err, 0, sizeof(*err));
	if (o->verify && !o->shadow_path)
		return fail(err, REPLAY_ERR_USAGE, -EINVAL,
			    "--verify needs --shadow");
	if (same_file(o->metadata_path, o->cache_path) ||
	    same_file(o->metadata_path, o->origin_path) ||
	    same_file(o->cache_path, o->origin_path) ||
	    same_file(o->shadow_path, o->origin_path) ||
	    same_file(o->shadow_path, o->cache_path) ||
	    same_file(o->shadow_path, o->metadata_path))
		return fail(err, REPLAY_ERR_USAGE, -EINVAL,
			    "the metadata, cache, origin and shadow images "
			    "must be four different files");
	r = open_images(&rp);
	if (r < 0)
		goto out;
	r = pd_io_open(o->metadata_path, PD_IO_WRITE | PD_IO_EXCL, &md);
	if (r < 0) {
		r = fail(err, REPLAY_ERR_METADATA, r, "%s: %s", o->metadata_path,
			 r == -EBUSY ? "in use" : strerror(-r));
		goto out;
	}
	/* An existing device names its block size; a fresh one needs it. */
	{
		uint8_t *b0 = calloc(1, 4096), *z = calloc(1, 4096);
		int zero = 0;

		r = b0 && z ? md->ops->read(md, 0, 1, b0) : -ENOMEM;
		if (r == 0)
			zero = !memcmp(b0, z, 4096);
		free(b0);
		free(z);
		if (r < 0) {
			r = md_fail(&rp, r, "read block 0");
			goto out;
		}
		if (!zero) {
			r = read_block_size(&rp, md, &bs);
			if (r < 0)
				goto out;
			if (o->block_sectors && o->block_sectors != bs) {
				r = fail(err, REPLAY_ERR_USAGE, -EINVAL,
					 "--block-size %" PRIu64 " disagrees with "
					 "the metadata's %u sectors",
					 o->block_sectors, bs);
				goto out;
			}
		} else if (!o->block_sectors) {
			r = fail(err, REPLAY_ERR_USAGE, -EINVAL,
				 "%s is empty (all zeroes): --block-size is "
				 "needed to format it", o->metadata_path);
			goto out;
		} else {
			bs = (uint32_t)o->block_sectors;
		}
	}
	rp.block_bytes = (uint64_t)bs * SECTOR;
	cache_bytes = rp.cache_bytes;
	if (cache_bytes / rp.block_bytes > UINT32_MAX ||
	    cache_bytes < rp.block_bytes || rp.origin_bytes < rp.block_bytes) {
		r = fail(err, REPLAY_ERR_USAGE, -EINVAL,
			 "the cache (%" PRIu64 " bytes) and the origin (%" PRIu64
			 " bytes) must each hold at least one %" PRIu64
			 "-byte block (and the cache at most 2^32 - 1)",
			 cache_bytes, rp.origin_bytes, rp.block_bytes);
		goto out;
	}
	cache_blocks = (uint32_t)(cache_bytes / rp.block_bytes);
	rp.buf = malloc(rp.block_bytes);
	rp.buf2 = malloc(rp.block_bytes);
	if (!rp.buf || !rp.buf2) {
		r = -ENOMEM;
		goto out;
	}

	lo.data_block_size = bs;
	lo.version = o->metadata_version ? o->metadata_version : 2;
	lo.flags = CACHE_LIVE_MAY_FORMAT;
	r = cache_live_open(md, &lo, &rp.cl);
	if (r < 0) {
		r = md_fail(&rp, r, "open");
		goto out;
	}
	res->formatted = cache_live_formatted(rp.cl);
	if (cache_live_needs_check(rp.cl)) {
		r = fail(err, REPLAY_ERR_METADATA, -EUCLEAN,
			 "%s: NEEDS_CHECK is set: run cache_check first",
			 o->metadata_path);
		goto out;
	}

	cfg.block_sectors = bs;
	cfg.cache_blocks = cache_blocks;
	cfg.origin_sectors = rp.origin_bytes / SECTOR;
	cfg.mode = o->mode;
	cfg.migration_threshold = o->migration_threshold;
	cfg.hz = o->hz ? o->hz : 250;
	cfg.tick = o->tick;
	cfg.policy = o->policy ? o->policy : "smq";
	r = target_create(&cfg, &hooks, &rp.t);
	if (r < 0) {
		r = fail(err, REPLAY_ERR_USAGE, r, "cannot set up the model: %s",
			 r == -EINVAL ? "bad configuration" : strerror(-r));
		goto out;
	}
	/* The cache's size and the discard geometry, as the kernel sets
	 * them when it loads a table. */
	if (cache_live_nr_cache_blocks(rp.cl) != cache_blocks) {
		r = cache_live_resize(rp.cl, cache_blocks);
		if (r < 0) {
			r = md_fail(&rp, r, "resize to the cache image's blocks");
			goto out;
		}
	}
	policy_identity(target_policy(rp.t), &id);
	r = cache_live_load_mappings(rp.cl, &id, load_one, &rp);
	if (r == 0)
		r = cache_live_load_discards(rp.cl, load_discard, &rp);
	if (r < 0) {
		if (!err->kind)
			md_fail(&rp, r, "load");
		goto out;
	}
	if (cache_live_discard_block_size(rp.cl) !=
		    target_discard_block_sectors(rp.t) ||
	    cache_live_discard_nr_blocks(rp.cl) !=
		    target_nr_discard_blocks(rp.t)) {
		r = cache_live_discard_resize(rp.cl,
					      target_discard_block_sectors(rp.t),
					      target_nr_discard_blocks(rp.t));
		if (r < 0) {
			r = md_fail(&rp, r, "discard geometry");
			goto out;
		}
	}
	{
		struct cache_live_stats s;

		cache_live_get_stats(rp.cl, &s);
		target_load_counters(rp.t, s.read_hits, s.read_misses,
				     s.write_hits, s.write_misses);
		rp.last = *target_counters(rp.t);
	}
	if (o->stats) {
		stats_header(o->stats);
		rp.next_stats_ns = o->stats_interval_ns;
	}

	for (;;) {
		r = trace_reader_next(trace, &io, &terr);
		if (r <= 0) {
			from_reader = r < 0;
			break;
		}
		if (io.offset + io.len > rp.origin_bytes) {
			err->line = trace_reader_line(trace);
			r = fail(err, REPLAY_ERR_TRACE, -ERANGE,
				 "I/O at byte %" PRIu64 " + %" PRIu32
				 " is past the origin's %" PRIu64 " bytes",
				 io.offset, io.len, rp.origin_bytes);
			break;
		}
		while (o->stats && io.time_ns >= rp.next_stats_ns) {
			stats_row(&rp, rp.next_stats_ns);
			rp.next_stats_ns += o->stats_interval_ns;
		}
		if (io.time_ns > last_ns)
			last_ns = io.time_ns;
		r = target_io(rp.t, &io, index++);
		if (r != 0)
			break;
	}
	if (r < 0 && !err->kind) {
		if (from_reader) {
			err->line = terr.line;
			fail(err, REPLAY_ERR_TRACE, r, "%s", terr.msg);
		} else {
			fail(err, REPLAY_ERR_IO, r, "%s", strerror(-r));
		}
	}
	if (r < 0)
		goto out;
	if (r == 0)
		r = target_finish(rp.t, last_ns, false);
	if (r < 0)
		goto out;
	if (o->stats)
		stats_row(&rp, last_ns);
	if (r == 1 || rp.crashed) {
		/* A crash: what the last commit holds stays. */
		res->crashed = true;
		r = 0;
	} else {
		r = shutdown_clean(&rp, cache_blocks);
		if (r == 0 && o->verify)
			r = final_verify(&rp, cache_blocks);
	}
	if (r == 0) {
		uint64_t used, total;
		FILE *f = fmemopen(res->status, sizeof(res->status), "w");

		cache_live_metadata_usage(rp.cl, &used, &total);
		if (f) {
			target_status_line(rp.t, used, total,
					   (int)cache_live_version(rp.cl), f);
			fclose(f);
		}
	}
out:
	if (rp.t) {
		res->c = *target_counters(rp.t);
		res->residency = target_residency(rp.t);
		res->nr_dirty = target_nr_dirty(rp.t);
	}
	res->cache_blocks = cache_blocks;
	res->verified_reads = rp.verified_reads;
	if (rp.data)
		r = r == 0 ? rp.data->ops->flush(rp.data, PD_COPY_ORIGIN) : r;
	if (r == 0 && rp.data)
		r = rp.data->ops->flush(rp.data, PD_COPY_FAST);
	target_destroy(rp.t);
	cache_live_close(rp.cl);
	pd_io_destroy(md);
	pd_copy_engine_destroy(rp.data);
	for (int i = 0; i < 2; i++)
		if (rp.fds[i] >= 0)
			close(rp.fds[i]);
	if (rp.shadow_fd >= 0)
		close(rp.shadow_fd);
	free(rp.buf);
	free(rp.buf2);
	if (r < 0 && !err->kind)
		fail(err, REPLAY_ERR_IO, r, "%s", strerror(-r));
	return r;
}

/* ---- offline verify ---- */

struct vstate {
	struct replay rp;
	const struct verify_opts *o;
	struct verify_result *res;
	struct base_bitmap overlaid;
	bool have_sb, clean;
	uint64_t block_bytes;
};

static int v_sb(void *ctx, const struct cache_emit_sb *sb)
{
	struct vstate *v = ctx;

	v->have_sb = true;
	v->block_bytes = sb->block_size * SECTOR;
	v->clean = sb->flags & CACHE_SB_CLEAN_SHUTDOWN;
	return 0;
}

static int v_nothing(void *ctx)
{
	(void)ctx;
	return 0;
}

static int v_mapping(void *ctx, uint64_t cblock, uint64_t oblock, int dirty)
{
	struct vstate *v = ctx;
	struct replay *rp = &v->rp;
	uint64_t bb = v->block_bytes;
	int r;

	if (oblock >= v->overlaid.nr_bits)
		return fail(rp->err, REPLAY_ERR_VERIFY, -EBADMSG,
			    "cache block %" PRIu64 " maps origin block %" PRIu64
			    ", past the origin", cblock, oblock);
	if (base_bitmap_test_and_set(&v->overlaid, oblock)) {
		rp->err->oblock = oblock;
		return fail(rp->err, REPLAY_ERR_VERIFY, -EBADMSG,
			    "origin block %" PRIu64 " is mapped twice", oblock);
	}
	/* Not cleanly shut down: the kernel takes every block as dirty. */
	dirty = dirty || !v->clean;
	v->res->mapped++;
	v->res->dirty += (uint64_t)!!dirty;
	r = dev_io(rp, PD_COPY_FAST, 0, cblock * bb, rp->buf, (uint32_t)bb);
	if (r == 0 && !dirty) {
		r = dev_io(rp, PD_COPY_ORIGIN, 0, oblock * bb, rp->buf2,
			   (uint32_t)bb);
		if (r == 0 && memcmp(rp->buf, rp->buf2, bb)) {
			uint32_t i = 0;

			while (rp->buf[i] == rp->buf2[i])
				i++;
			rp->err->oblock = oblock;
			rp->err->offset = i;
			return fail(rp->err, REPLAY_ERR_VERIFY, -EBADMSG,
				    "clean cache block %" PRIu64 " differs "
				    "from origin block %" PRIu64 " at offset %u",
				    cblock, oblock, i);
		}
	}
	if (r == 0 && rp->o->verify)
		r = check_read(rp, oblock * bb, rp->buf, (uint32_t)bb);
	v->res->blocks_compared++;
	return r;
}

static int v_hint(void *ctx, uint64_t cblock, const void *data, uint32_t len)
{
	(void)ctx;
	(void)cblock;
	(void)data;
	(void)len;
	return 0;
}

static int v_discards(void *ctx, const struct cache_emit_discards *d)
{
	(void)ctx;
	(void)d;
	return 0;
}

static int v_discard(void *ctx, uint64_t b, uint64_t e)
{
	(void)ctx;
	(void)b;
	(void)e;
	return 0;
}

/* Sizes the per-origin-block bitmap and the buffers once the superblock
 * is known (before the first mapping). */
static int v_before(void *ctx, const struct cache_dump_result *res)
{
	struct vstate *v = ctx;
	uint64_t bb = (uint64_t)res->sb.data_block_size * SECTOR;

	if (!bb)
		return -EINVAL;
	v->rp.block_bytes = bb;
	v->rp.buf = malloc(bb);
	v->rp.buf2 = malloc(bb);
	if (!v->rp.buf || !v->rp.buf2)
		return -ENOMEM;
	return base_bitmap_init(&v->overlaid, v->rp.origin_bytes / bb);
}

static int verify_open_ro(struct replay *rp)
{
	const struct replay_opts *o = rp->o;
	int direct, r;

	r = pd_copy_open_data(o->cache_path, 0, 1, &rp->fds[PD_COPY_FAST],
			       &rp->cache_bytes, &direct);
	if (r < 0)
		return fail(rp->err, REPLAY_ERR_IO, r, "%s: %s", o->cache_path,
			    r == -EBUSY ? "in use" : strerror(-r));
	r = pd_copy_open_data(o->origin_path, 0, 1, &rp->fds[PD_COPY_ORIGIN],
			       &rp->origin_bytes, &direct);
	if (r < 0)
		return fail(rp->err, REPLAY_ERR_IO, r, "%s: %s", o->origin_path,
			    r == -EBUSY ? "in use" : strerror(-r));
	if (o->shadow_path) {
		rp->shadow_fd = open(o->shadow_path, O_RDONLY | O_CLOEXEC);
		if (rp->shadow_fd < 0)
			return fail(rp->err, REPLAY_ERR_IO, -errno, "%s: %s",
				    o->shadow_path, strerror(errno));
	}
	r = pd_copy_engine_fd_create(rp->fds, 1, 1, &rp->data);
	return r < 0 ? fail(rp->err, REPLAY_ERR_IO, r, "data engine: %s",
			    strerror(-r)) : 0;
}

int verify_images(const struct verify_opts *o, struct verify_result *res,
		  struct replay_error *err)
{
	struct replay_opts ro = { 0 };
	struct vstate v = { 0 };
	const struct cache_emitter e = {
		&v, v_sb, v_nothing, v_nothing, v_mapping, v_nothing,
		v_nothing, v_hint, v_nothing, v_discards, v_discard, v_nothing,
	};
	struct cache_dump_opts dopts = { 0, v_before, &v };
	struct cache_dump_result dres;
	struct pd_io *md = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	memset(err, 0, sizeof(*err));
	ro.metadata_path = o->metadata_path;
	ro.cache_path = o->cache_path;
	ro.origin_path = o->origin_path;
	ro.shadow_path = o->shadow_path;
	ro.verify = o->shadow_path != NULL;
	v.rp.o = &ro;
	v.rp.err = err;
	v.rp.fds[0] = v.rp.fds[1] = v.rp.shadow_fd = -1;
	v.o = o;
	v.res = res;
	r = verify_open_ro(&v.rp);
	if (r == 0) {
		r = pd_io_open(o->metadata_path, PD_IO_RDONLY | PD_IO_EXCL, &md);
		if (r < 0)
			r = md_fail(&v.rp, r, "open");
	}
	if (r == 0) {
		r = cache_dump(md, &dopts, &e, &dres);
		if (r < 0 && !err->kind)
			md_fail(&v.rp, r, "read");
		else if (r == 0 && dres.status != CACHE_DUMP_OK)
			r = fail(err, REPLAY_ERR_METADATA, -EUCLEAN,
				 "%s: the metadata is damaged or not cache "
				 "metadata: run cache_check", o->metadata_path);
	}
	/* Blocks not in the cache: the origin alone is the data. */
	for (uint64_t ob = 0; r == 0 && o->shadow_path &&
			      ob < v.overlaid.nr_bits; ob++) {
		if (base_bitmap_test(&v.overlaid, ob))
			continue;
		r = dev_io(&v.rp, PD_COPY_ORIGIN, 0, ob * v.rp.block_bytes,
			   v.rp.buf, (uint32_t)v.rp.block_bytes);
		if (r == 0)
			r = check_read(&v.rp, ob * v.rp.block_bytes, v.rp.buf,
				       (uint32_t)v.rp.block_bytes);
		res->blocks_compared++;
	}
	free(v.rp.buf);
	free(v.rp.buf2);
	pd_io_destroy(md);
	base_bitmap_release(&v.overlaid);
	pd_copy_engine_destroy(v.rp.data);
	for (int i = 0; i < 2; i++)
		if (v.rp.fds[i] >= 0)
			close(v.rp.fds[i]);
	if (v.rp.shadow_fd >= 0)
		close(v.rp.shadow_fd);
	return r;
}
