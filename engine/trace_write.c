// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The trace writers (see trace.h): fio iolog v3, MSR CSV, native, and
 * libCacheSim's oracleGeneral.
 *
 * What a format cannot say is dropped and counted, never bent into
 * something else: MSR has only reads and writes, so discards and flushes
 * are dropped; fio has no FUA, so the flag is lost (a preflush becomes a
 * "sync" line before the I/O, which is what it means).  oracleGeneral is
 * a stream of block requests: each read and write becomes one record per
 * block it touches, with the index of the next request for the same block
 * (-1 for none, as libCacheSim reads it); discards and flushes are
 * dropped.  Those next-request indexes need the future, so the oracle
 * writer spools (time, block) pairs to a temporary file, walks it
 * backwards once with a block -> next index map, writing the indexes to a
 * second temporary file, and then merges both forwards into the output.
 * Memory is the map: 16 bytes per distinct block, at most twice that.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "base/u64map.h"
#include "engine/trace.h"
#include "engine/trace_native.h"

/* MSR timestamps: 100 ns ticks since 1601; ours start on 2007-02-22, as
 * the published traces do, so tools that expect that range accept them. */
#define MSR_BASE UINT64_C(128166372000000000)
#define MSR_TICK_NS 100u

/* Records of the oracle spool, and how many are moved per I/O call. */
struct spool_rec {
	uint32_t time_s;
	uint64_t block;
} __attribute__((packed));

#define CHUNK 8192u

struct trace_writer {
	FILE *f;
	enum trace_format fmt;
	uint32_t block_bytes;
	struct trace_writer_stats stats;
	uint64_t last_us;	/* fio: the last timestamp written */
	int started;		/* fio: header and file lines written */
	FILE *spool;		/* oracle: (time, block) pairs */
};

int trace_format_parse(const char *name, enum trace_format *fmt)
{
	static const struct {
		const char *name;
		enum trace_format fmt;
	} names[] = {
		{ "fio", TRACE_FMT_FIO },	{ "blkparse", TRACE_FMT_BLKPARSE },
		{ "msr", TRACE_FMT_MSR },	{ "native", TRACE_FMT_NATIVE },
		{ "oracle", TRACE_FMT_ORACLE },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(name, names[i].name)) {
			*fmt = names[i].fmt;
			return 0;
		}
	}
	return -EINVAL;
}

const char *trace_format_name(enum trace_format fmt)
{
	switch (fmt) {
	case TRACE_FMT_FIO:
		return "fio";
	case TRACE_FMT_BLKPARSE:
		return "blkparse";
	case TRACE_FMT_MSR:
		return "msr";
	case TRACE_FMT_NATIVE:
		return "native";
	case TRACE_FMT_ORACLE:
		return "oracle";
	default:
		return "auto";
	}
}

static int put_native_header(struct trace_writer *w, uint64_t nr)
{
	struct trace_native_header h;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, TRACE_NATIVE_MAGIC, sizeof(h.magic));
	h.version = cpu_to_le32(TRACE_NATIVE_VERSION);
	h.record_size = cpu_to_le32(sizeof(struct trace_native_record));
	h.nr_records = cpu_to_le64(nr);
	return fwrite(&h, sizeof(h), 1, w->f) == 1 ? 0 : -EIO;
}

int trace_writer_open(struct trace_writer **out, FILE *f,
		      enum trace_format fmt, uint32_t block_bytes)
{
	struct trace_writer *w;
	int r = 0;

	*out = NULL;
	if (fmt != TRACE_FMT_FIO && fmt != TRACE_FMT_MSR &&
	    fmt != TRACE_FMT_NATIVE && fmt != TRACE_FMT_ORACLE)
		return -EINVAL;
	if (fmt == TRACE_FMT_ORACLE && block_bytes == 0)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->f = f;
	w->fmt = fmt;
	w->block_bytes = block_bytes;
	if (fmt == TRACE_FMT_NATIVE)
		r = put_native_header(w, 0);
	if (fmt == TRACE_FMT_ORACLE) {
		w->spool = tmpfile();
		if (!w->spool)
			r = -errno;
	}
	if (r < 0) {
		free(w);
		return r;
	}
	*out = w;
	return 0;
}

static int put_fio(struct trace_writer *w, const struct trace_io *io)
{
	static const char *const ops[] = { "read", "write", "trim", "sync" };
	uint64_t us = io->time_ns / 1000;
	int n = 0;

	if (!w->started) {
		if (fprintf(w->f, "fio version 3 iolog\n0 trace add\n"
				  "0 trace open\n") < 0)
			return -EIO;
		w->started = 1;
	}
	if ((io->flags & TRACE_F_PREFLUSH) && io->op != TRACE_OP_FLUSH)
		n = fprintf(w->f, "%" PRIu64 " trace sync 0 0\n", us);
	if (n >= 0)
		n = fprintf(w->f, "%" PRIu64 " trace %s %" PRIu64 " %" PRIu32
			    "\n", us, ops[io->op], io->offset, io->len);
	if (us > w->last_us)
		w->last_us = us;
	return n < 0 ? -EIO : 0;
}

static int put_msr(struct trace_writer *w, const struct trace_io *io)
{
	uint64_t resp = 0;

	if (io->op != TRACE_OP_READ && io->op != TRACE_OP_WRITE) {
		w->stats.dropped++;
		return 1;
	}
	if (io->done_ns != TRACE_NO_TIME && io->done_ns >= io->time_ns)
		resp = (io->done_ns - io->time_ns) / MSR_TICK_NS;
	if (fprintf(w->f, "%" PRIu64 ",dmct,0,%s,%" PRIu64 ",%" PRIu32
		    ",%" PRIu64 "\n", MSR_BASE + io->time_ns / MSR_TICK_NS,
		    io->op == TRACE_OP_READ ? "Read" : "Write", io->offset,
		    io->len, resp) < 0)
		return -EIO;
	return 0;
}

static int put_native(struct trace_writer *w, const struct trace_io *io)
{
	struct trace_native_record rec;

	memset(&rec, 0, sizeof(rec));
	rec.time_ns = cpu_to_le64(io->time_ns);
	rec.offset = cpu_to_le64(io->offset);
	rec.len = cpu_to_le32(io->len);
	rec.op = io->op;
	rec.flags = io->flags;
	rec.done_ns = cpu_to_le64(io->done_ns);
	return fwrite(&rec, sizeof(rec), 1, w->f) == 1 ? 0 : -EIO;
}

static int put_oracle(struct trace_writer *w, const struct trace_io *io)
{
	uint64_t first, last;
	uint64_t secs = io->time_ns / 1000000000u;
	struct spool_rec rec;

	if (io->op != TRACE_OP_READ && io->op != TRACE_OP_WRITE) {
		w->stats.dropped++;
		return 1;
	}
	first = io->offset / w->block_bytes;
	last = (io->offset + io->len - 1) / w->block_bytes;
	rec.time_s = secs > UINT32_MAX ? UINT32_MAX : (uint32_t)secs;
	for (uint64_t b = first; b <= last; b++) {
		rec.block = b;
		if (fwrite(&rec, sizeof(rec), 1, w->spool) != 1)
			return -EIO;
		w->stats.written++;
	}
	return 1;
}

int trace_writer_put(struct trace_writer *w, const struct trace_io *io)
{
	int r;

	if (io->op >= TRACE_OP_COUNT || (io->flags & ~TRACE_F_ALL))
		return -EINVAL;
	switch (w->fmt) {
	case TRACE_FMT_FIO:
		r = put_fio(w, io);
		break;
	case TRACE_FMT_MSR:
		r = put_msr(w, io);
		break;
	case TRACE_FMT_NATIVE:
		r = put_native(w, io);
		break;
	default:
		r = put_oracle(w, io);
		break;
	}
	if (r == 0)
		w->stats.written++;
	return r < 0 ? r : 0;
}

/* Reads records [first, first + n) of a spool file of `size`-byte records. */
static int spool_read(FILE *f, uint64_t first, size_t n, size_t size,
		      void *dst)
{
	if (fseeko(f, (off_t)(first * size), SEEK_SET) < 0)
		return -errno;
	return fread(dst, size, n, f) == n ? 0 : -EIO;
}

/*
 * The oracle output: a backward pass over the spool writes each request's
 * next index into `next` (chunk by chunk, from the end), then a forward
 * pass over both writes the 24-byte records.
 */
static int finish_oracle(struct trace_writer *w)
{
	uint64_t n = w->stats.written;
	struct spool_rec *recs = NULL;
	int64_t *next = NULL;
	FILE *nextf = NULL;
	struct u64map seen;
	int have_map = 0;
	int r = 0;

	recs = malloc(CHUNK * sizeof(*recs));
	next = malloc(CHUNK * sizeof(*next));
	nextf = tmpfile();
	if (!recs || !next || !nextf) {
		r = nextf ? -ENOMEM : -errno;
		goto out;
	}
	r = u64map_init(&seen, 1024);
	if (r < 0)
		goto out;
	have_map = 1;
	if (fflush(w->spool) != 0) {
		r = -EIO;
		goto out;
	}
	for (uint64_t end = n; end > 0;) {
		size_t cnt = end < CHUNK ? (size_t)end : CHUNK;
		uint64_t first = end - cnt;

		r = spool_read(w->spool, first, cnt, sizeof(*recs), recs);
		if (r < 0)
			goto out;
		for (size_t i = cnt; i-- > 0;) {
			uint64_t v;

			next[i] = u64map_get(&seen, recs[i].block, &v) ?
					  (int64_t)v : -1;
			r = u64map_put(&seen, recs[i].block, first + i);
			if (r < 0)
				goto out;
		}
		if (fseeko(nextf, (off_t)(first * sizeof(*next)), SEEK_SET) < 0 ||
		    fwrite(next, sizeof(*next), cnt, nextf) != cnt) {
			r = -EIO;
			goto out;
		}
		end = first;
	}
	if (fflush(nextf) != 0) {
		r = -EIO;
		goto out;
	}
	for (uint64_t first = 0; first < n;) {
		size_t cnt = n - first < CHUNK ? (size_t)(n - first) : CHUNK;

		r = spool_read(w->spool, first, cnt, sizeof(*recs), recs);
		if (r == 0)
			r = spool_read(nextf, first, cnt, sizeof(*next), next);
		if (r < 0)
			goto out;
		for (size_t i = 0; i < cnt; i++) {
			uint8_t out[24];

			store_le32(out, recs[i].time_s);
			store_le64(out + 4, recs[i].block);
			store_le32(out + 12, w->block_bytes);
			store_le64(out + 16, (uint64_t)next[i]);
			if (fwrite(out, sizeof(out), 1, w->f) != 1) {
				r = -EIO;
				goto out;
			}
		}
		first += cnt;
	}
out:
	if (have_map)
		u64map_destroy(&seen);
	if (nextf)
		fclose(nextf);
	free(recs);
	free(next);
	return r;
}

int trace_writer_close(struct trace_writer *w,
		       struct trace_writer_stats *stats)
{
	int r = 0;

	switch (w->fmt) {
	case TRACE_FMT_FIO:
		if (!w->started && fprintf(w->f, "fio version 3 iolog\n"
						 "0 trace add\n0 trace open\n") < 0)
			r = -EIO;
		if (r == 0 && fprintf(w->f, "%" PRIu64 " trace close\n",
				      w->last_us) < 0)
			r = -EIO;
		break;
	case TRACE_FMT_NATIVE:
		/* A file gets its record count; a pipe keeps 0 (unknown). */
		{
			off_t end = ftello(w->f);

			if (end >= 0 && fflush(w->f) == 0 &&
			    fseeko(w->f, 0, SEEK_SET) == 0) {
				r = put_native_header(w, w->stats.written);
				if (fseeko(w->f, end, SEEK_SET) < 0 && r == 0)
					r = -errno;
			}
		}
		break;
	case TRACE_FMT_ORACLE:
		r = finish_oracle(w);
		break;
	default:
		break;
	}
	if (fflush(w->f) != 0 && r == 0)
		r = errno ? -errno : -EIO;
	if (ferror(w->f) && r == 0)
		r = -EIO;
	if (w->spool)
		fclose(w->spool);
	if (stats)
		*stats = w->stats;
	free(w);
	return r;
}
