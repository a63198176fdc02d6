// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Fuzz harness: the trace readers (engine/trace_read.c) on any bytes, in
 * every format and with detection, gzip included.  Every I/O a reader
 * hands out must be well-formed (a known op, known flags, a range that
 * does not wrap, a flush without data), and each one is written back
 * through the native writer and read again to the same I/O, so the
 * writer is exercised on whatever the readers accept.  MSR's one-pass
 * parser must give what the general one gives (trace_reader_general_only):
 * the same I/Os, the same end, the same error on the same line.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_io(const struct trace_io *io)
{
	if (io->op >= TRACE_OP_COUNT || (io->flags & ~TRACE_F_ALL) ||
	    io->offset > UINT64_MAX - io->len ||
	    (io->op == TRACE_OP_FLUSH && io->len) ||
	    (io->op != TRACE_OP_FLUSH && !io->len))
		abort();
}

static void roundtrip(const struct trace_io *ios, size_t n)
{
	struct trace_writer *w;
	struct trace_reader *r;
	struct trace_error err;
	struct trace_io io;
	char *buf = NULL;
	size_t len = 0, i = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	if (trace_writer_open(&w, f, TRACE_FMT_NATIVE, 0) == 0) {
		for (size_t k = 0; k < n; k++)
			if (trace_writer_put(w, &ios[k]) < 0)
				abort();
		if (trace_writer_close(w, NULL) < 0)
			abort();
	}
	fclose(f);
	if (trace_reader_open_mem(&r, buf, len, TRACE_FMT_AUTO, &err) < 0)
		abort();
	while (trace_reader_next(r, &io, &err) == 1) {
		if (i >= n || memcmp(&io, &ios[i], sizeof(io)))
			abort();
		i++;
	}
	if (i != n)
		abort();
	trace_reader_close(r);
	free(buf);
}

enum { KEEP = 256 };

struct readout {
	struct trace_io ios[KEEP];
	size_t n;		/* I/Os read (the first KEEP kept) */
	int rc;
	struct trace_error err;
};

static int same_ios(const struct readout *a, const struct readout *b)
{
	for (size_t i = 0; i < a->n && i < KEEP; i++) {
		const struct trace_io *x = &a->ios[i], *y = &b->ios[i];

		if (x->time_ns != y->time_ns || x->done_ns != y->done_ns ||
		    x->offset != y->offset || x->len != y->len ||
		    x->op != y->op || x->flags != y->flags)
			return 0;
	}
	return 1;
}

/* Reads everything; 0, or -1 when the reader would not open. */
static int read_all(const uint8_t *data, size_t size, enum trace_format fmt,
		    int general_only, struct readout *o)
{
	struct trace_reader *r;
	struct trace_io io;

	memset(o, 0, sizeof(*o));
	if (trace_reader_open_mem(&r, data, size, fmt, &o->err) < 0)
		return -1;
	if (general_only)
		trace_reader_general_only(r);
	while ((o->rc = trace_reader_next(r, &io, &o->err)) == 1) {
		check_io(&io);
		if (o->n < KEEP)
			o->ios[o->n] = io;
		o->n++;
	}
	trace_reader_close(r);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum trace_format fmts[] = {
		TRACE_FMT_AUTO, TRACE_FMT_FIO, TRACE_FMT_BLKPARSE,
		TRACE_FMT_MSR, TRACE_FMT_NATIVE,
	};
	static struct readout a, b;

	for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++) {
		if (read_all(data, size, fmts[f], 0, &a) < 0)
			continue;
		if (a.rc == 0 && a.n < KEEP)
			roundtrip(a.ios, a.n);
		if (fmts[f] != TRACE_FMT_MSR && fmts[f] != TRACE_FMT_AUTO)
			continue;
		if (read_all(data, size, fmts[f], 1, &b) < 0 || a.rc != b.rc ||
		    a.n != b.n || a.err.line != b.err.line ||
		    (a.rc && strcmp(a.err.msg, b.err.msg)) || !same_ios(&a, &b))
			abort();
	}
	return 0;
}
