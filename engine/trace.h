/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Block I/O traces: the readers and writers cache_replay runs on.
 *
 * A trace is a stream of I/Os on one device, each with a time, a byte
 * range, an operation and flags.  The readers turn the formats people
 * have into that stream: fio iolog v2 and v3, blkparse's default text
 * output, MSR Cambridge CSV and our own compact binary format ("native",
 * below), each optionally gzip-compressed (read through zlib, detected
 * from the magic, concatenated members allowed).  The format is detected
 * from the content when the caller does not name it.  The writers produce
 * fio v3, MSR CSV, native and libCacheSim's oracleGeneral (the last is a
 * per-block stream with next-access times, so other simulators can run on
 * exactly the block stream we simulate).
 *
 * Reading is streamed through one fixed buffer: memory does not grow
 * with the trace.  Nothing is printed; a malformed line fails the read
 * with its 1-based line number (record number for native) and what was
 * wrong, and the caller names the file.
 *
 * Times are nanoseconds since the trace's first I/O (fio v3 and blkparse
 * already count from the start of the run; MSR counts from its first
 * line).  Traces are not required to be sorted by time.
 *
 * The native format, all little-endian:
 *	header, 32 bytes:
 *	  0  magic "DMCTRACE"
 *	  8  le32 version (1)
 *	 12  le32 record size (32)
 *	 16  le64 number of records, 0 when written to a stream (unknown)
 *	 24  le64 reserved, 0
 *	record, 32 bytes:
 *	  0  le64 time_ns
 *	  8  le64 offset (bytes)
 *	 16  le32 length (bytes)
 *	 20  u8   op (enum trace_op)
 *	 21  u8   flags (TRACE_F_*)
 *	 22  le16 reserved, 0
 *	 24  le64 completion time_ns, or UINT64_MAX when unknown
 * A file that ends inside a record, or holds fewer records than its
 * header says, is truncated and fails the read.
 */
#ifndef ENGINE_TRACE_H
#define ENGINE_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum trace_op {
	TRACE_OP_READ = 0,
	TRACE_OP_WRITE = 1,
	TRACE_OP_DISCARD = 2,
	TRACE_OP_FLUSH = 3,	/* no data; len is 0 */
	TRACE_OP_COUNT
};

#define TRACE_F_FUA		0x01u	/* write through to stable media */
#define TRACE_F_PREFLUSH	0x02u	/* a flush before the data */
#define TRACE_F_ALL		0x03u

#define TRACE_NO_TIME UINT64_MAX

struct trace_io {
	uint64_t time_ns;
	uint64_t done_ns;	/* completion, TRACE_NO_TIME if unknown */
	uint64_t offset;	/* bytes */
	uint32_t len;		/* bytes */
	uint8_t op;		/* enum trace_op */
	uint8_t flags;		/* TRACE_F_* */
};

enum trace_format {
	TRACE_FMT_AUTO = 0,	/* readers only: tell from the content */
	TRACE_FMT_FIO,		/* fio iolog; v2 or v3 read, v3 written */
	TRACE_FMT_BLKPARSE,	/* read only */
	TRACE_FMT_MSR,
	TRACE_FMT_NATIVE,
	TRACE_FMT_ORACLE,	/* written only: libCacheSim oracleGeneral */
};

/* "fio", "blkparse", "msr", "native", "oracle"; 0 or -EINVAL. */
int trace_format_parse(const char *name, enum trace_format *fmt);
const char *trace_format_name(enum trace_format fmt);

/* Where a read went wrong; line 0 when not about one line. */
struct trace_error {
	uint64_t line;
	char msg[200];
};

struct trace_reader;

/*
 * Opens a reader on fd (not closed by the reader) or on a buffer that must
 * outlive it.  fmt TRACE_FMT_AUTO detects the format from the first line;
 * TRACE_FMT_ORACLE is -EINVAL.  Returns 0, -EINVAL (err says why: unknown
 * content, a bad header), -ENOMEM or the errno of a failed read.
 */
int trace_reader_open_fd(struct trace_reader **out, int fd,
			 enum trace_format fmt, struct trace_error *err);
int trace_reader_open_mem(struct trace_reader **out, const void *buf,
			  size_t len, enum trace_format fmt,
			  struct trace_error *err);

/*
 * The next I/O: 1 with *io filled, 0 at the end of the trace, or a
 * negative errno: -EINVAL for a malformed line or a truncated file (err
 * has the line and the reason), -EIO for bad compressed data, the errno of
 * a failed read.  After an error every later call returns it again.
 */
int trace_reader_next(struct trace_reader *r, struct trace_io *io,
		      struct trace_error *err);

/*
 * For tests: read every line by the general parser, the one that names
 * what is wrong with a line, and not by the one-pass parser of the usual
 * MSR line, so that the two can be compared on the same input.  Call it
 * before the first trace_reader_next.
 */
void trace_reader_general_only(struct trace_reader *r);

/* The line (native: record) the last I/O came from, 1-based. */
uint64_t trace_reader_line(const struct trace_reader *r);

/* What the reader found (after open: never TRACE_FMT_AUTO). */
enum trace_format trace_reader_format(const struct trace_reader *r);
/* For fio traces, the iolog version read (2 or 3); 0 otherwise. */
int trace_reader_fio_version(const struct trace_reader *r);

void trace_reader_close(struct trace_reader *r);

/*
 * Writers.  trace_writer_open never fails on the stream (nothing is
 * written before the first I/O or close, except the native header);
 * oracle needs block_bytes > 0 and spools to temporary files (it writes
 * the next-access times working backwards), others ignore block_bytes.
 * trace_writer_put returns 0, -EINVAL for an I/O the format cannot hold
 * (counted in dropped instead when the format has no such operation:
 * discards and flushes in MSR; flushes in oracle) or the errno of a failed
 * write; trace_writer_close flushes everything and returns 0 or an errno
 * (the writer is freed either way).
 */
struct trace_writer;

struct trace_writer_stats {
	uint64_t written;	/* I/Os (oracle: block requests) written */
	uint64_t dropped;	/* I/Os the format cannot express */
};

int trace_writer_open(struct trace_writer **out, FILE *f,
		      enum trace_format fmt, uint32_t block_bytes);
int trace_writer_put(struct trace_writer *w, const struct trace_io *io);
int trace_writer_close(struct trace_writer *w,
		       struct trace_writer_stats *stats);

#endif
