// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Fuzz harness: the trace readers (engine/trace_read.c) on any bytes, in
 * every format and with detection, gzip included.  Every I/O a reader
 * hands out must be well-formed (a known op, known flags, a range that
 * does not wrap, a flush without data), and each one is written back
 * through the native writer and read again to the same I/O, so the
 * writer is exercised on whatever the readers accept.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum trace_format fmts[] = {
		TRACE_FMT_AUTO, TRACE_FMT_FIO, TRACE_FMT_BLKPARSE,
		TRACE_FMT_MSR, TRACE_FMT_NATIVE,
	};
	enum { KEEP = 256 };

	for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++) {
		struct trace_io ios[KEEP];
		struct trace_reader *r;
		struct trace_error err;
		size_t n = 0;
		int rc;

		if (trace_reader_open_mem(&r, data, size, fmts[f], &err) < 0)
			continue;
		while ((rc = trace_reader_next(r, &ios[n < KEEP ? n : 0],
					       &err)) == 1) {
			check_io(&ios[n < KEEP ? n : 0]);
			if (n < KEEP)
				n++;
		}
		trace_reader_close(r);
		if (rc == 0 && n < KEEP)
			roundtrip(ios, n);
	}
	return 0;
}
