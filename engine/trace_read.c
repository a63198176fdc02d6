// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The trace readers (see trace.h): one input layer and one parser per
 * format.
 *
 * The input layer fills one fixed buffer from a file descriptor or a
 * memory buffer, inflating gzip on the way when the input starts with
 * gzip's magic (concatenated members, as `cat a.gz b.gz` makes, are read
 * one after the other).  Text formats are cut into lines in place; the
 * binary native format is read a record at a time from the same buffer.
 *
 * The parsers are hand-written: a trace has hundreds of millions of lines
 * and sscanf would cost more than the simulation (the usual MSR line even
 * takes a one-pass path of its own, msr_fast, leaving every other line
 * and every error to the general parser).  Each is strict about
 * what it needs (numbers that overflow, a missing field, an unknown
 * operation fail the read with the line number) and lenient about what it
 * does not (extra fields after the ones it reads are ignored, as fio and
 * blkparse add fields over time).  A trace is one device: a second fio
 * file, blkparse device or MSR disk fails the read, so that two volumes'
 * offsets are never mixed silently.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "base/endian.h"
#include "engine/trace.h"
#include "engine/trace_native.h"

#define BUF_SIZE (256u * 1024u)
/* A text line longer than this is not a trace line. */
#define MAX_LINE 4096u
/* Bytes readable past a line's NUL: parse_u64 reads eight at a time. */
#define PARSE_SLACK 8u
#define NAME_MAX_LEN 255u

/* MSR timestamps and response times count 100 ns ticks. */
#define MSR_TICK_NS 100u
/* The longest "HOST,DISK," msr_fast compares in one go. */
#define MSR_PREFIX_MAX 64u

struct trace_reader {
	/* Raw input: a descriptor, or a buffer. */
	int fd;
	const uint8_t *mem;
	size_t mem_len, mem_pos;
	int raw_eof;

	/* gzip: raw bytes are read into zin and inflated into buf. */
	int gz;
	int gz_in_member;	/* inside a member (not at its end) */
	z_stream zs;
	uint8_t *zin;

	/* Decoded bytes: [start, end) of buf is unread; buf has one more
	 * byte for the NUL a last line without a newline needs. */
	uint8_t *buf;
	size_t start, end;
	int eof;		/* no more decoded bytes will come */

	enum trace_format fmt;
	int fio_version;
	uint64_t line;		/* lines (native: records) consumed */
	int err;		/* sticky error */
	struct trace_error saved;

	/* The one device the trace is about. */
	int have_dev;
	char dev_name[NAME_MAX_LEN + 1];	/* fio file, MSR host */
	size_t dev_name_len;
	uint64_t dev_a, dev_b;	/* blkparse major,minor; MSR disk */

	uint64_t fio_wait_us;	/* v2: sum of the waits so far */
	uint64_t msr_t0;	/* the first line's timestamp */
	int msr_have_t0;
	/* "HOST,DISK," as the first good line spells them: later lines that
	 * spell them the same take msr_fast; 0 until then. */
	size_t msr_prefix_len;
	char msr_prefix[MSR_PREFIX_MAX];
	uint64_t msr_prefix_word, msr_prefix_mask;	/* its first 8 bytes */
	int no_fast;		/* trace_reader_general_only() */
	int blk_done;		/* the summary after the events began */
	uint64_t native_total;	/* from the header; 0 unknown */
};

static int fail(struct trace_reader *r, struct trace_error *err, int code,
		uint64_t line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int fail(struct trace_reader *r, struct trace_error *err, int code,
		uint64_t line, const char *fmt, ...)
{
	va_list ap;

	r->saved.line = line;
	va_start(ap, fmt);
	vsnprintf(r->saved.msg, sizeof(r->saved.msg), fmt, ap);
	va_end(ap);
	r->err = code;
	if (err)
		*err = r->saved;
	return code;
}

/* ---- input layer ---- */

static ssize_t raw_read(struct trace_reader *r, uint8_t *dst, size_t cap)
{
	ssize_t n;

	if (r->mem) {
		size_t left = r->mem_len - r->mem_pos;

		n = (ssize_t)(left < cap ? left : cap);
		memcpy(dst, r->mem + r->mem_pos, (size_t)n);
		r->mem_pos += (size_t)n;
		return n;
	}
	do
		n = read(r->fd, dst, cap);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* Inflates into dst; returns the bytes made, 0 at the end, or an error. */
static ssize_t gz_read(struct trace_reader *r, uint8_t *dst, size_t cap,
		       struct trace_error *err)
{
	r->zs.next_out = dst;
	r->zs.avail_out = (uInt)cap;
	while (r->zs.avail_out == cap) {
		int z;

		if (r->zs.avail_in == 0 && !r->raw_eof) {
			ssize_t n = raw_read(r, r->zin, BUF_SIZE);

			if (n < 0)
				return fail(r, err, (int)n, 0, "read: %s",
					    strerror((int)-n));
			if (n == 0)
				r->raw_eof = 1;
			r->zs.next_in = r->zin;
			r->zs.avail_in = (uInt)n;
		}
		if (r->zs.avail_in == 0 && r->raw_eof) {
			if (r->gz_in_member)
				return fail(r, err, -EINVAL, 0,
					    "truncated gzip data");
			break;
		}
		if (!r->gz_in_member) {
			/* Another member follows the last one. */
			if (inflateReset(&r->zs) != Z_OK)
				return fail(r, err, -EIO, 0, "zlib reset failed");
			r->gz_in_member = 1;
		}
		z = inflate(&r->zs, Z_NO_FLUSH);
		if (z == Z_STREAM_END) {
			r->gz_in_member = 0;
		} else if (z == Z_MEM_ERROR) {
			return fail(r, err, -ENOMEM, 0, "out of memory");
		} else if (z != Z_OK && z != Z_BUF_ERROR) {
			return fail(r, err, -EIO, 0, "bad gzip data: %s",
				    r->zs.msg ? r->zs.msg : "corrupt");
		}
	}
	return (ssize_t)(cap - r->zs.avail_out);
}

/*
 * Reads more decoded bytes after [start, end), moving what is unread to
 * the front first.  Returns 0 (maybe with eof set) or an error.
 */
static int fill(struct trace_reader *r, struct trace_error *err)
{
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
		r->buf[r->end] = '\0';
	}
	while (!r->eof && r->end < BUF_SIZE) {
		ssize_t n = r->gz ? gz_read(r, r->buf + r->end,
					    BUF_SIZE - r->end, err)
				  : raw_read(r, r->buf + r->end,
					     BUF_SIZE - r->end);

		if (n < 0) {
			if (!r->err)
				fail(r, err, (int)n, 0, "read: %s",
				     strerror((int)-n));
			return r->err;
		}
		if (n == 0)
			r->eof = 1;
		r->end += (size_t)n;
		/* msr_fast's scans stop here. */
		r->buf[r->end] = '\0';
		/* Lines are short: don't wait for a pipe to fill a buffer. */
		if (n > 0 && !r->gz && r->end - r->start >= MAX_LINE)
			break;
		if (n > 0 && r->gz)
			break;
	}
	return 0;
}

/*
 * The next line, NUL-terminated without its newline (and a CR before it),
 * in *line.  Returns 1, 0 at the end, or an error.
 */
static int next_line(struct trace_reader *r, char **line, size_t *len,
		     struct trace_error *err)
{
	for (;;) {
		uint8_t *s = r->buf + r->start;
		size_t avail = r->end - r->start;
		uint8_t *nl = memchr(s, '\n', avail);
		size_t n;
		int rc;

		if (!nl && r->eof && avail == 0)
			return 0;
		if (nl || r->eof) {
			n = nl ? (size_t)(nl - s) : avail;
			r->line++;
			if (n > MAX_LINE)
				return fail(r, err, -EINVAL, r->line,
					    "line longer than %u bytes",
					    MAX_LINE);
			s[n] = '\0';
			if (n > 0 && s[n - 1] == '\r')
				s[--n] = '\0';
			r->start += (nl ? (size_t)(nl - s) + 1 : avail);
			*line = (char *)s;
			*len = n;
			return 1;
		}
		if (avail > MAX_LINE)
			return fail(r, err, -EINVAL, r->line + 1,
				    "line longer than %u bytes", MAX_LINE);
		rc = fill(r, err);
		if (rc < 0)
			return rc;
	}
}

/* Makes n decoded bytes available at buf + start; 1, 0 at a clean end,
 * -EINVAL when the input ends inside them. */
static int need(struct trace_reader *r, size_t n, struct trace_error *err)
{
	while (r->end - r->start < n && !r->eof) {
		int rc = fill(r, err);

		if (rc < 0)
			return rc;
	}
	if (r->end - r->start >= n)
		return 1;
	return r->end == r->start ? 0 : -EINVAL;
}

/* ---- field parsing ---- */

static const char *skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/*
 * Eight ASCII digits at s (any bytes: 0 unless all are digits) as their
 * value in *v, three multiplications instead of eight dependent steps.
 * s must have 8 readable bytes: the line buffers keep PARSE_SLACK spare.
 */
static inline __attribute__((always_inline)) int
digits8(const unsigned char *s, uint64_t *v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t c;

	memcpy(&c, s, 8);
	/* Every byte 0x30..0x39: its high nibble 3, and adding 6 keeps it. */
	if (((c & 0xf0f0f0f0f0f0f0f0ull) |
	     (((c + 0x0606060606060606ull) & 0xf0f0f0f0f0f0f0f0ull) >> 4)) !=
	    0x3333333333333333ull)
		return 0;
	c -= 0x3030303030303030ull;
	c = c * 10 + (c >> 8);	/* pairs of digits in alternate bytes */
	c = ((c & 0x000000ff000000ffull) * (100 + (1000000ull << 32)) +
	     ((c >> 16) & 0x000000ff000000ffull) * (1 + (10000ull << 32))) >>
	    32;
	*v = c;
	return 1;
#else
	(void)s;
	(void)v;
	return 0;
#endif
}

/*
 * A decimal number; *p moves past it.  0 or -EINVAL (none, overflow).
 * Nineteen digits cannot overflow 64 bits, so only a twentieth is
 * checked: this runs several times for every line of a trace, and an
 * MSR timestamp has eighteen digits, so up to sixteen go eight at a time.
 */
static int parse_u64(const char **p, uint64_t *v)
{
	const unsigned char *s = (const unsigned char *)*p;
	uint64_t x = 0, eight;
	unsigned n = 0, d;

	if ((unsigned)(s[0] - '0') > 9)
		return -EINVAL;
	while (s[0] == '0' && (unsigned)(s[1] - '0') <= 9)
		s++;
	while (n < 16 && digits8(s + n, &eight)) {
		x = x * 100000000u + eight;
		n += 8;
	}
	while (n < 19 && (d = (unsigned)(s[n] - '0')) <= 9) {
		x = x * 10 + d;
		n++;
	}
	if ((d = (unsigned)(s[n] - '0')) <= 9) {
		if (x > (UINT64_MAX - d) / 10 ||
		    (unsigned)(s[n + 1] - '0') <= 9)
			return -EINVAL;
		x = x * 10 + d;
		n++;
	}
	*p = (const char *)s + n;
	*v = x;
	return 0;
}

/* A field ends at a blank, the end of the line, or `sep`. */
static int at_field_end(const char *p, char sep)
{
	return *p == '\0' || *p == ' ' || *p == '\t' || (sep && *p == sep);
}

/* The next blank-separated token: start in *tok, length returned. */
static size_t token(const char **p, const char **tok)
{
	const char *s = skip_blanks(*p), *e = s;

	while (*e && *e != ' ' && *e != '\t')
		e++;
	*tok = s;
	*p = e;
	return (size_t)(e - s);
}

static int token_is(const char *tok, size_t len, const char *word)
{
	return strlen(word) == len && !memcmp(tok, word, len);
}

static int bad_line(struct trace_reader *r, struct trace_error *err,
		    const char *what)
{
	return fail(r, err, -EINVAL, r->line, "%s", what);
}

/* The byte range of an I/O: length fits 32 bits, the end fits 64. */
static int set_range(struct trace_reader *r, struct trace_io *io,
		     uint64_t offset, uint64_t len, struct trace_error *err)
{
	if (len > UINT32_MAX)
		return fail(r, err, -EINVAL, r->line,
			    "length %llu is over 4 GiB",
			    (unsigned long long)len);
	if (offset > UINT64_MAX - len)
		return fail(r, err, -EINVAL, r->line,
			    "offset %llu + length %llu is past 2^64",
			    (unsigned long long)offset,
			    (unsigned long long)len);
	if (len == 0 && io->op != TRACE_OP_FLUSH)
		return bad_line(r, err, "an I/O of 0 bytes");
	io->offset = offset;
	io->len = (uint32_t)len;
	return 0;
}

/* Claims the trace's one device for name (and a, b), or refuses another. */
static int same_device(struct trace_reader *r, struct trace_error *err,
		       const char *name, size_t name_len, uint64_t a,
		       uint64_t b, const char *what)
{
	if (name_len > NAME_MAX_LEN)
		return bad_line(r, err, "name longer than 255 bytes");
	if (!r->have_dev) {
		memcpy(r->dev_name, name, name_len);
		r->dev_name[name_len] = '\0';
		r->dev_name_len = name_len;
		r->dev_a = a;
		r->dev_b = b;
		r->have_dev = 1;
		return 0;
	}
	if (r->dev_name_len == name_len &&
	    !memcmp(r->dev_name, name, name_len) && r->dev_a == a &&
	    r->dev_b == b)
		return 0;
	return fail(r, err, -EINVAL, r->line,
		    "a second %s in the trace (one device is replayed)", what);
}

/* ---- fio iolog v2 and v3 ---- */

static int fio_header(struct trace_reader *r, struct trace_error *err)
{
	char *line;
	size_t len;
	int rc = next_line(r, &line, &len, err);

	if (rc < 0)
		return rc;
	if (rc == 0)
		return fail(r, err, -EINVAL, 1, "empty fio iolog (no header)");
	if (!strcmp(line, "fio version 2 iolog"))
		r->fio_version = 2;
	else if (!strcmp(line, "fio version 3 iolog"))
		r->fio_version = 3;
	else
		return fail(r, err, -EINVAL, r->line,
			    "not a fio version 2 or 3 iolog header");
	return 0;
}

static int fio_next(struct trace_reader *r, struct trace_io *io,
		    struct trace_error *err)
{
	char *line;
	size_t len;
	int rc;

	while ((rc = next_line(r, &line, &len, err)) == 1) {
		const char *p = line, *name, *act;
		size_t name_len, act_len;
		uint64_t ts = 0, offset = 0, length = 0;
		int nums;

		p = skip_blanks(p);
		if (*p == '\0')
			continue;
		if (r->fio_version == 3) {
			if (parse_u64(&p, &ts) < 0 || !at_field_end(p, 0))
				return bad_line(r, err,
						"expected a timestamp first");
			if (ts > UINT64_MAX / 1000)
				return bad_line(r, err, "timestamp too large");
		}
		name_len = token(&p, &name);
		act_len = token(&p, &act);
		if (!name_len || !act_len)
			return bad_line(r, err,
					"expected a file name and an action");
		p = skip_blanks(p);
		nums = 0;
		if (*p) {
			if (parse_u64(&p, &offset) < 0 || !at_field_end(p, 0))
				return bad_line(r, err, "bad offset");
			p = skip_blanks(p);
			if (parse_u64(&p, &length) < 0 || !at_field_end(p, 0))
				return bad_line(r, err, "bad length");
			nums = 2;
		}
		if (token_is(act, act_len, "add") ||
		    token_is(act, act_len, "open") ||
		    token_is(act, act_len, "close")) {
			if (nums)
				return bad_line(r, err,
						"file action with numbers");
			rc = same_device(r, err, name, name_len, 0, 0, "file");
			if (rc < 0)
				return rc;
			continue;
		}
		if (token_is(act, act_len, "wait")) {
			if (r->fio_version == 3)
				return bad_line(r, err,
						"'wait' is not allowed in a version 3 iolog");
			if (!nums)
				return bad_line(r, err, "wait without a time");
			if (offset > UINT64_MAX / 1000 - r->fio_wait_us)
				return bad_line(r, err, "wait too long");
			r->fio_wait_us += offset;
			continue;
		}
		memset(io, 0, sizeof(*io));
		if (token_is(act, act_len, "read"))
			io->op = TRACE_OP_READ;
		else if (token_is(act, act_len, "write"))
			io->op = TRACE_OP_WRITE;
		else if (token_is(act, act_len, "trim"))
			io->op = TRACE_OP_DISCARD;
		else if (token_is(act, act_len, "sync") ||
			 token_is(act, act_len, "datasync"))
			io->op = TRACE_OP_FLUSH;
		else
			return fail(r, err, -EINVAL, r->line,
				    "unknown action '%.*s'", (int)act_len, act);
		if (io->op != TRACE_OP_FLUSH && !nums)
			return bad_line(r, err, "expected an offset and a length");
		rc = same_device(r, err, name, name_len, 0, 0, "file");
		if (rc < 0)
			return rc;
		if (io->op == TRACE_OP_FLUSH)
			offset = length = 0;
		rc = set_range(r, io, offset, length, err);
		if (rc < 0)
			return rc;
		io->time_ns = (r->fio_version == 3 ? ts : r->fio_wait_us) * 1000;
		io->done_ns = TRACE_NO_TIME;
		return 1;
	}
	return rc;
}

/* ---- blkparse text ---- */

/* The summary blkparse prints after the events starts with these. */
static int blk_summary(const char *p)
{
	static const char *const heads[] = { "CPU", "Total", "Throughput",
					     "Events", "Skips" };

	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++)
		if (!strncmp(p, heads[i], strlen(heads[i])))
			return 1;
	return 0;
}

/* "maj,min" */
static int parse_dev(const char **p, uint64_t *maj, uint64_t *min)
{
	if (parse_u64(p, maj) < 0 || **p != ',')
		return -EINVAL;
	(*p)++;
	if (parse_u64(p, min) < 0 || !at_field_end(*p, 0))
		return -EINVAL;
	return 0;
}

/* "sec.nsec" (blkparse prints 9 digits; fewer are scaled) */
static int parse_time(const char **p, uint64_t *ns)
{
	uint64_t sec, frac = 0;
	unsigned digits = 0;

	if (parse_u64(p, &sec) < 0 || sec > UINT64_MAX / 1000000000u - 1)
		return -EINVAL;
	if (**p == '.') {
		(*p)++;
		while (**p >= '0' && **p <= '9') {
			if (digits < 9) {
				frac = frac * 10 + (uint64_t)(**p - '0');
				digits++;
			}
			(*p)++;
		}
	}
	if (!at_field_end(*p, 0))
		return -EINVAL;
	for (; digits < 9; digits++)
		frac *= 10;
	*ns = sec * 1000000000u + frac;
	return 0;
}

/*
 * RWBS: an optional F (preflush), the operation (R, W, D, N; DE secure
 * erase counts as a discard, WZ write zeroes as a write), then flags of
 * which only F (FUA) matters here.  Returns the op, -1 for a request
 * that moves no data and flushes nothing, or -EINVAL.
 */
static int parse_rwbs(const char *s, size_t len, uint8_t *flags)
{
	size_t i = 0;
	int op;

	*flags = 0;
	if (i < len && s[i] == 'F') {
		*flags |= TRACE_F_PREFLUSH;
		i++;
	}
	if (i >= len)
		return -EINVAL;
	switch (s[i++]) {
	case 'R':
		op = TRACE_OP_READ;
		break;
	case 'W':
		op = TRACE_OP_WRITE;
		if (i < len && s[i] == 'Z')
			i++;
		break;
	case 'D':
		op = TRACE_OP_DISCARD;
		if (i < len && s[i] == 'E')
			i++;
		break;
	case 'N':
		op = -1;
		break;
	default:
		return -EINVAL;
	}
	for (; i < len; i++) {
		if (s[i] == 'F')
			*flags |= TRACE_F_FUA;
		else if (!strchr("ASMEB", s[i]))
			return -EINVAL;
	}
	if (op == -1 && (*flags & TRACE_F_PREFLUSH))
		op = TRACE_OP_FLUSH;
	return op;
}

static int blk_next(struct trace_reader *r, struct trace_io *io,
		    struct trace_error *err)
{
	char *line;
	size_t len;
	int rc;

	if (r->blk_done)
		return 0;
	while ((rc = next_line(r, &line, &len, err)) == 1) {
		const char *p = skip_blanks(line), *act, *rwbs, *tok;
		size_t act_len, rwbs_len;
		uint64_t maj, min, cpu, seq, ns, pid, sector, count;
		uint8_t flags;
		int op;

		if (*p == '\0')
			continue;
		if (blk_summary(p)) {
			/* The rest is per-CPU and total counts. */
			r->blk_done = 1;
			return 0;
		}
		if (parse_dev(&p, &maj, &min) < 0)
			return bad_line(r, err,
					"not a blkparse event (expected major,minor first)");
		p = skip_blanks(p);
		if (parse_u64(&p, &cpu) < 0 || !at_field_end(p, 0))
			return bad_line(r, err, "bad cpu field");
		p = skip_blanks(p);
		if (parse_u64(&p, &seq) < 0 || !at_field_end(p, 0))
			return bad_line(r, err, "bad sequence field");
		p = skip_blanks(p);
		if (parse_time(&p, &ns) < 0)
			return bad_line(r, err, "bad time field");
		p = skip_blanks(p);
		if (parse_u64(&p, &pid) < 0 || !at_field_end(p, 0))
			return bad_line(r, err, "bad pid field");
		act_len = token(&p, &act);
		if (!act_len)
			return bad_line(r, err, "no action field");
		/* Queue events are what a device-mapper target sees. */
		if (!token_is(act, act_len, "Q"))
			continue;
		rwbs_len = token(&p, &rwbs);
		op = parse_rwbs(rwbs, rwbs_len, &flags);
		if (op == -EINVAL)
			return fail(r, err, -EINVAL, r->line,
				    "unknown RWBS '%.*s'", (int)rwbs_len, rwbs);
		rc = same_device(r, err, "", 0, maj, min, "device");
		if (rc < 0)
			return rc;
		if (op < 0)
			continue;
		memset(io, 0, sizeof(*io));
		io->op = (uint8_t)op;
		io->flags = flags;
		io->time_ns = ns;
		io->done_ns = TRACE_NO_TIME;
		p = skip_blanks(p);
		if (*p == '[' || *p == '\0') {
			/* A flush carries no sector; a preflush write with no
			 * data is a flush. */
			if (op == TRACE_OP_WRITE && (flags & TRACE_F_PREFLUSH))
				io->op = TRACE_OP_FLUSH;
			if (io->op != TRACE_OP_FLUSH)
				return bad_line(r, err, "expected sector + count");
			return 1;
		}
		if (parse_u64(&p, &sector) < 0 || !at_field_end(p, 0))
			return bad_line(r, err, "bad sector");
		if (token(&p, &tok) != 1 || *tok != '+')
			return bad_line(r, err, "expected '+' after the sector");
		p = skip_blanks(p);
		if (parse_u64(&p, &count) < 0 || !at_field_end(p, 0))
			return bad_line(r, err, "bad sector count");
		if (sector > UINT64_MAX / 512 || count > UINT32_MAX / 512)
			return bad_line(r, err, "sector or count too large");
		if (count == 0 && op == TRACE_OP_WRITE &&
		    (flags & TRACE_F_PREFLUSH))
			io->op = TRACE_OP_FLUSH;
		if (io->op == TRACE_OP_FLUSH)
			return 1;
		rc = set_range(r, io, sector * 512, count * 512, err);
		return rc < 0 ? rc : 1;
	}
	return rc;
}

/* ---- MSR Cambridge CSV ---- */

/* The next comma-separated field: start in *f, length returned; *p is
 * left on the comma (or the end). */
static size_t csv_field(const char **p, const char **f)
{
	const char *e = *p;

	while (*e && *e != ',')
		e++;
	*f = *p;
	*p = e;
	return (size_t)(e - *f);
}

/* s starts with lower-case word, in any case (ASCII letters only). */
static int word_is(const char *s, const char *word)
{
	for (; *word; s++, word++)
		if ((*s | 0x20) != *word)
			return 0;
	return 1;
}

static int csv_number(const char **p, uint64_t *v)
{
	if (parse_u64(p, v) < 0 || (**p != ',' && **p != '\0'))
		return -EINVAL;
	return 0;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/*
 * The common MSR line in one pass, straight from the buffer (no memchr
 * for the newline, no NUL written, no second scan of the fields):
 *
 *	TIME,HOST,DISK,Read|Write,OFFSET,SIZE,RESPONSE\n  (or \r\n, or the
 *	end of the input)
 *
 * with HOST,DISK, spelt byte for byte as on the first good line, numbers
 * of at most 19 digits, and nothing the general path would refuse (such
 * a line is shorter than MAX_LINE, so its length needs no check).
 * Anything else, including a line the buffer holds only part of, returns
 * 0 with nothing consumed and goes to the general path, which reads it
 * again and gives the same I/O or the error with its line number: this
 * path only ever takes lines the general one takes the same way.  The
 * scans stop at buf[end], which fill() keeps NUL, and read at most eight
 * bytes past it (PARSE_SLACK).
 */

/*
 * A number of 1-19 digits (so it cannot overflow; leading zeros count):
 * whole runs of eight by digits8, the rest a digit at a time (faster
 * than working out the length of a short field from one load); 0 for
 * anything else.
 */
static inline __attribute__((always_inline)) int
fast_number(const uint8_t **pp, uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t x = 0, eight;
	unsigned d;

	if (digits8(p, &eight)) {
		x = eight;
		p += 8;
		if (digits8(p, &eight)) {
			x = x * 100000000u + eight;
			p += 8;
			if ((unsigned)(p[0] - '0') <= 9 &&
			    (unsigned)(p[1] - '0') <= 9 &&
			    (unsigned)(p[2] - '0') <= 9 &&
			    (unsigned)(p[3] - '0') <= 9)
				return 0;
		}
	}
	while ((d = (unsigned)(*p - '0')) <= 9) {
		x = x * 10 + d;
		p++;
	}
	if (p == *pp)
		return 0;
	*pp = p;
	*v = x;
	return 1;
}

_Static_assert(MSR_PREFIX_MAX + 4 * 19 + 12 < MAX_LINE,
	       "the lines msr_fast takes are never too long");
_Static_assert(sizeof(struct trace_io) == 32 &&
	       offsetof(struct trace_io, len) == 24 &&
	       offsetof(struct trace_io, op) == 28 &&
	       offsetof(struct trace_io, flags) == 29,
	       "msr_fast stores len, op and flags as one word");

static int msr_fast(struct trace_reader *r, struct trace_io *io)
{
	const uint8_t *p = r->buf + r->start, *end = r->buf + r->end, *next;
	uint64_t ts, offset, size, resp, c;
	uint8_t op;

	if (!fast_number(&p, &ts) || *p++ != ',')
		return 0;
	if (r->msr_prefix_len <= 8) {
		memcpy(&c, p, 8);
		if ((c ^ r->msr_prefix_word) & r->msr_prefix_mask)
			return 0;
	} else if ((size_t)(end - p) < r->msr_prefix_len ||
		   memcmp(p, r->msr_prefix, r->msr_prefix_len)) {
		return 0;
	}
	p += r->msr_prefix_len;
	/* "Read," or "Write,", the letters in any case. */
	memcpy(&c, p, 8);
	if (((c | 0x20202020ull) & 0xffffffffffull) == 0x2c64616572ull) {
		op = TRACE_OP_READ;
		p += 5;
	} else if (((c | 0x2020202020ull) & 0xffffffffffffull) ==
		   0x2c6574697277ull) {
		op = TRACE_OP_WRITE;
		p += 6;
	} else {
		return 0;
	}
	if (!fast_number(&p, &offset) || *p++ != ',' ||
	    !fast_number(&p, &size) || *p++ != ',' ||
	    !fast_number(&p, &resp))
		return 0;
	if (*p == '\n')
		next = p + 1;
	else if (*p == '\r' && p[1] == '\n')
		next = ++p + 1;
	else if (p == end && r->eof)
		next = p;
	else
		return 0;
	if (size > UINT32_MAX || size == 0 ||
	    offset > UINT64_MAX - size || ts < r->msr_t0 ||
	    ts - r->msr_t0 > UINT64_MAX / MSR_TICK_NS / 2 ||
	    resp > UINT64_MAX / MSR_TICK_NS / 2)
		return 0;
	io->time_ns = (ts - r->msr_t0) * MSR_TICK_NS;
	io->done_ns = io->time_ns + resp * MSR_TICK_NS;
	io->offset = offset;
	/* len, op, flags 0 and the padding 0, as memset would leave it, in
	 * one store (gcc makes memset of the struct a slow `rep stos`). */
	c = size | (uint64_t)op << 32;
	memcpy((char *)io + offsetof(struct trace_io, len), &c, sizeof(c));
	r->line++;
	r->start = (size_t)(next - r->buf);
	return 1;
}

/* The fast path's "HOST,DISK," from a line the general path took. */
static void msr_set_prefix(struct trace_reader *r, const char *s, size_t n)
{
	if (n > MSR_PREFIX_MAX || r->no_fast)
		return;
	memcpy(r->msr_prefix, s, n);
	r->msr_prefix_word = 0;
	memcpy(&r->msr_prefix_word, s, n < 8 ? n : 8);
	r->msr_prefix_mask = n >= 8 ? UINT64_MAX : (1ull << (8 * n)) - 1;
	r->msr_prefix_len = n;
}
#else
static int msr_fast(struct trace_reader *r, struct trace_io *io)
{
	(void)r;
	(void)io;
	return 0;
}

static void msr_set_prefix(struct trace_reader *r, const char *s, size_t n)
{
	(void)r;
	(void)s;
	(void)n;
}
#endif

static int msr_next(struct trace_reader *r, struct trace_io *io,
		    struct trace_error *err)
{
	char *line;
	size_t len;
	int rc;

	for (;;) {
		const char *p, *host, *type, *disk_end;
		size_t host_len, type_len;
		uint64_t ts, disk, offset, size, resp;

		if (r->msr_prefix_len && msr_fast(r, io))
			return 1;
		rc = next_line(r, &line, &len, err);
		if (rc != 1)
			return rc;
		p = line;

		if (*skip_blanks(p) == '\0')
			continue;
		/* One pass: a field that ends early or a line that goes on
		 * past the seventh is a count of fields that is wrong. */
		if (csv_number(&p, &ts) < 0)
			return bad_line(r, err, *p == ',' || !*p ?
					"expected 7 fields" :
					"bad timestamp field");
		if (*p++ != ',')
			return bad_line(r, err, "expected 7 fields");
		host_len = csv_field(&p, &host);
		if (*p++ != ',')
			return bad_line(r, err, "expected 7 fields");
		if (csv_number(&p, &disk) < 0 || *p++ != ',')
			return bad_line(r, err, "bad disk number field");
		disk_end = p;
		type_len = csv_field(&p, &type);
		if (*p++ != ',')
			return bad_line(r, err, "expected 7 fields");
		if (csv_number(&p, &offset) < 0 || *p++ != ',')
			return bad_line(r, err, "bad offset field");
		if (csv_number(&p, &size) < 0)
			return bad_line(r, err, "bad size field");
		if (*p++ != ',')
			return bad_line(r, err, "expected 7 fields");
		if (csv_number(&p, &resp) < 0)
			return bad_line(r, err, *p == ',' ?
					"expected 7 fields" :
					"bad response time field");
		if (*p == ',')
			return bad_line(r, err, "expected 7 fields");
		memset(io, 0, sizeof(*io));
		/* "Read" or "Write", in any case. */
		if (type_len == 4 && word_is(type, "read"))
			io->op = TRACE_OP_READ;
		else if (type_len == 5 && word_is(type, "write"))
			io->op = TRACE_OP_WRITE;
		else
			return fail(r, err, -EINVAL, r->line,
				    "unknown type '%.*s' (Read or Write)",
				    (int)type_len, type);
		rc = same_device(r, err, host, host_len, disk, 0,
				 "host or disk");
		if (rc < 0)
			return rc;
		rc = set_range(r, io, offset, size, err);
		if (rc < 0)
			return rc;
		if (!r->msr_have_t0) {
			r->msr_t0 = ts;
			r->msr_have_t0 = 1;
		}
		if (ts < r->msr_t0)
			return bad_line(r, err,
					"timestamp before the first line's");
		if ((ts - r->msr_t0) > UINT64_MAX / MSR_TICK_NS / 2 ||
		    resp > UINT64_MAX / MSR_TICK_NS / 2)
			return bad_line(r, err, "time too large");
		io->time_ns = (ts - r->msr_t0) * MSR_TICK_NS;
		io->done_ns = io->time_ns + resp * MSR_TICK_NS;
		if (!r->msr_prefix_len)
			msr_set_prefix(r, host, (size_t)(disk_end - host));
		return 1;
	}
}

/* ---- native ---- */

static int native_header(struct trace_reader *r, struct trace_error *err)
{
	struct trace_native_header h;
	int rc = need(r, sizeof(h), err);

	if (rc < 0 && rc != -EINVAL)
		return rc;
	if (rc <= 0)
		return fail(r, err, -EINVAL, 0,
			    "truncated native trace header");
	memcpy(&h, r->buf + r->start, sizeof(h));
	r->start += sizeof(h);
	if (memcmp(h.magic, TRACE_NATIVE_MAGIC, sizeof(h.magic)))
		return fail(r, err, -EINVAL, 0, "not a native trace (magic)");
	if (le32_to_cpu(h.version) != TRACE_NATIVE_VERSION)
		return fail(r, err, -EINVAL, 0,
			    "native trace version %u (this reads %u)",
			    le32_to_cpu(h.version), TRACE_NATIVE_VERSION);
	if (le32_to_cpu(h.record_size) != sizeof(struct trace_native_record))
		return fail(r, err, -EINVAL, 0,
			    "native trace record size %u (expected %zu)",
			    le32_to_cpu(h.record_size),
			    sizeof(struct trace_native_record));
	if (le64_to_cpu(h.reserved))
		return fail(r, err, -EINVAL, 0,
			    "native trace header: reserved field not 0");
	r->native_total = le64_to_cpu(h.nr_records);
	return 0;
}

static int native_next(struct trace_reader *r, struct trace_io *io,
		       struct trace_error *err)
{
	struct trace_native_record rec;
	uint64_t rec_no = r->line + 1;
	int rc = need(r, sizeof(rec), err);

	if (rc == -EINVAL)
		return fail(r, err, -EINVAL, rec_no,
			    "truncated record (the file ends inside it)");
	if (rc < 0)
		return rc;
	if (rc == 0) {
		if (r->native_total && r->line != r->native_total)
			return fail(r, err, -EINVAL, rec_no,
				    "truncated: %llu records, the header says %llu",
				    (unsigned long long)r->line,
				    (unsigned long long)r->native_total);
		return 0;
	}
	memcpy(&rec, r->buf + r->start, sizeof(rec));
	r->start += sizeof(rec);
	r->line = rec_no;
	if (r->native_total && rec_no > r->native_total)
		return fail(r, err, -EINVAL, rec_no,
			    "more records than the header's %llu",
			    (unsigned long long)r->native_total);
	memset(io, 0, sizeof(*io));
	io->op = rec.op;
	io->flags = rec.flags;
	if (rec.op >= TRACE_OP_COUNT)
		return fail(r, err, -EINVAL, rec_no, "unknown op %u", rec.op);
	if (rec.flags & ~TRACE_F_ALL)
		return fail(r, err, -EINVAL, rec_no, "unknown flags 0x%x",
			    rec.flags);
	if (le16_to_cpu(rec.reserved))
		return fail(r, err, -EINVAL, rec_no, "reserved field not 0");
	if (rec.op == TRACE_OP_FLUSH && (le64_to_cpu(rec.offset) ||
					 le32_to_cpu(rec.len)))
		return fail(r, err, -EINVAL, rec_no,
			    "a flush with an offset or a length");
	rc = set_range(r, io, le64_to_cpu(rec.offset), le32_to_cpu(rec.len),
		       err);
	if (rc < 0)
		return rc;
	io->time_ns = le64_to_cpu(rec.time_ns);
	io->done_ns = le64_to_cpu(rec.done_ns);
	if (io->done_ns != TRACE_NO_TIME && io->done_ns < io->time_ns)
		return fail(r, err, -EINVAL, rec_no,
			    "completes before it starts");
	return 1;
}

/* ---- detection and the public calls ---- */

/* Guesses the format from the first non-blank line of decoded input. */
static int detect(struct trace_reader *r, struct trace_error *err)
{
	const char *s, *nl, *p;
	uint64_t a, b;
	size_t len;
	int commas = 0;

	while (!r->eof && r->end - r->start < MAX_LINE) {
		int rc = fill(r, err);

		if (rc < 0)
			return rc;
	}
	s = (const char *)r->buf + r->start;
	len = r->end - r->start;
	if (len == 0)
		return fail(r, err, -EINVAL, 0,
			    "empty trace: cannot tell its format");
	if (len >= 8 && !memcmp(s, TRACE_NATIVE_MAGIC, 8)) {
		r->fmt = TRACE_FMT_NATIVE;
		return 0;
	}
	if (len >= 12 && !memcmp(s, "fio version ", 12)) {
		r->fmt = TRACE_FMT_FIO;
		return 0;
	}
	/* Look at the first line, copied so it can be NUL-terminated. */
	while (len && (*s == '\n' || *s == '\r' || *s == ' ' || *s == '\t'))
		s++, len--;
	nl = memchr(s, '\n', len);
	if (nl)
		len = (size_t)(nl - s);
	{
		char first[MAX_LINE + PARSE_SLACK] = { 0 };

		if (len > MAX_LINE)
			len = MAX_LINE;
		memcpy(first, s, len);
		first[len] = '\0';
		for (p = first; *p; p++)
			commas += *p == ',';
		p = first;
		if (commas == 6 && parse_u64(&p, &a) == 0 && *p == ',') {
			r->fmt = TRACE_FMT_MSR;
			return 0;
		}
		p = first;
		if (parse_dev(&p, &a, &b) == 0) {
			r->fmt = TRACE_FMT_BLKPARSE;
			return 0;
		}
	}
	return fail(r, err, -EINVAL, 1,
		    "cannot tell the trace format from the first line; name it");
}

static int reader_start(struct trace_reader *r, enum trace_format fmt,
			struct trace_error *err)
{
	uint8_t magic[2];
	ssize_t n;
	int rc;

	/* A NUL after the last line, and parse_u64's eight-byte reads. */
	r->buf = calloc(1, BUF_SIZE + PARSE_SLACK);
	if (!r->buf)
		return -ENOMEM;
	/* Peek at the raw bytes for gzip's magic: read them into buf, and
	 * hand them to zlib from there when it is gzip. */
	n = raw_read(r, magic, 1);
	if (n == 1) {
		ssize_t m = raw_read(r, magic + 1, 1);

		if (m < 0)
			return fail(r, err, (int)m, 0, "read: %s",
				    strerror((int)-m));
		n += m;
	}
	if (n < 0)
		return fail(r, err, (int)n, 0, "read: %s", strerror((int)-n));
	if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
		r->gz = 1;
		r->zin = malloc(BUF_SIZE);
		if (!r->zin)
			return -ENOMEM;
		memcpy(r->zin, magic, 2);
		r->zs.next_in = r->zin;
		r->zs.avail_in = 2;
		/* 16 + window bits: gzip wrapper only. */
		if (inflateInit2(&r->zs, 16 + MAX_WBITS) != Z_OK) {
			free(r->zin);
			r->zin = NULL;
			r->gz = 0;
			return -ENOMEM;
		}
		r->gz_in_member = 1;
	} else {
		memcpy(r->buf, magic, (size_t)n);
		r->end = (size_t)n;
		if (n < 2)
			r->eof = 1;
	}
	r->fmt = fmt;
	if (fmt == TRACE_FMT_AUTO) {
		rc = detect(r, err);
		if (rc < 0)
			return rc;
	}
	switch (r->fmt) {
	case TRACE_FMT_FIO:
		return fio_header(r, err);
	case TRACE_FMT_NATIVE:
		return native_header(r, err);
	case TRACE_FMT_BLKPARSE:
	case TRACE_FMT_MSR:
		return 0;
	default:
		return fail(r, err, -EINVAL, 0, "not a format traces are read in");
	}
}

static int reader_open(struct trace_reader **out, int fd, const void *mem,
		       size_t len, enum trace_format fmt,
		       struct trace_error *err)
{
	struct trace_reader *r = calloc(1, sizeof(*r));
	int rc;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->fd = fd;
	r->mem = mem;
	r->mem_len = len;
	if (!mem && fd < 0)
		r->mem = (const uint8_t *)"";
	rc = reader_start(r, fmt, err);
	if (rc < 0) {
		if (rc == -ENOMEM && err) {
			err->line = 0;
			snprintf(err->msg, sizeof(err->msg), "out of memory");
		}
		trace_reader_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

int trace_reader_open_fd(struct trace_reader **out, int fd,
			 enum trace_format fmt, struct trace_error *err)
{
	return reader_open(out, fd, NULL, 0, fmt, err);
}

int trace_reader_open_mem(struct trace_reader **out, const void *buf,
			  size_t len, enum trace_format fmt,
			  struct trace_error *err)
{
	return reader_open(out, -1, buf ? buf : "", len, fmt, err);
}

int trace_reader_next(struct trace_reader *r, struct trace_io *io,
		      struct trace_error *err)
{
	if (r->err) {
		if (err)
			*err = r->saved;
		return r->err;
	}
	switch (r->fmt) {
	case TRACE_FMT_FIO:
		return fio_next(r, io, err);
	case TRACE_FMT_BLKPARSE:
		return blk_next(r, io, err);
	case TRACE_FMT_MSR:
		return msr_next(r, io, err);
	case TRACE_FMT_NATIVE:
		return native_next(r, io, err);
	default:
		return -EINVAL;
	}
}

void trace_reader_general_only(struct trace_reader *r)
{
	r->no_fast = 1;
	r->msr_prefix_len = 0;
}

uint64_t trace_reader_line(const struct trace_reader *r)
{
	return r->line;
}

enum trace_format trace_reader_format(const struct trace_reader *r)
{
	return r->fmt;
}

int trace_reader_fio_version(const struct trace_reader *r)
{
	return r->fmt == TRACE_FMT_FIO ? r->fio_version : 0;
}

void trace_reader_close(struct trace_reader *r)
{
	if (!r)
		return;
	if (r->gz)
		inflateEnd(&r->zs);
	free(r->zin);
	free(r->buf);
	free(r);
}
