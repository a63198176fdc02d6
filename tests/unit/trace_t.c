// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * engine/trace_*.c: every reader on hand-written lines with the exact
 * I/Os they must give; format detection; gzip (one member, concatenated
 * members, truncated, corrupt); each malformed line failing with its line
 * number and reason; truncated native files; writer round trips (native
 * exactly, fio to microseconds, MSR to 100 ns); MSR's one-pass parser
 * against generated lines of every shape (numbers of every length, CRLF,
 * blank lines, lines across the read buffer's end at every byte, the
 * last line without a newline; from memory, a file and a pipe) and
 * against the general parser on damaged lines; the oracle writer's
 * next-request indexes against a brute-force search; and base/u64map
 * against a linear table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "base/endian.h"
#include "base/u64map.h"
#include "engine/trace.h"
#include "engine/trace_stat.h"

#define MAX_IOS 64

struct parsed {
	struct trace_io io[MAX_IOS];
	int n;
	int rc;			/* the final return: 0 or an error */
	struct trace_error err;
	enum trace_format fmt;
};

static void parse_buf_how(const void *buf, size_t len, enum trace_format fmt,
			  int general_only, struct parsed *p)
{
	struct trace_reader *r;
	int rc;

	memset(p, 0, sizeof(*p));
	rc = trace_reader_open_mem(&r, buf, len, fmt, &p->err);
	if (rc < 0) {
		p->rc = rc;
		return;
	}
	if (general_only)
		trace_reader_general_only(r);
	p->fmt = trace_reader_format(r);
	while ((rc = trace_reader_next(r, &p->io[p->n], &p->err)) == 1) {
		assert_true(p->n < MAX_IOS - 1);
		p->n++;
	}
	p->rc = rc;
	/* Errors are sticky. */
	if (rc < 0) {
		struct trace_io io;

		assert_int_equal(trace_reader_next(r, &io, NULL), rc);
	}
	trace_reader_close(r);
}

static void parse_buf(const void *buf, size_t len, enum trace_format fmt,
		      struct parsed *p)
{
	parse_buf_how(buf, len, fmt, 0, p);
}

static void parse(const char *text, enum trace_format fmt, struct parsed *p)
{
	parse_buf(text, strlen(text), fmt, p);
}

static void expect_io(const struct trace_io *io, uint64_t t, uint8_t op,
		      uint64_t off, uint32_t len, uint8_t flags, uint64_t done)
{
	assert_int_equal(io->time_ns, t);
	assert_int_equal(io->op, op);
	assert_int_equal(io->offset, off);
	assert_int_equal(io->len, len);
	assert_int_equal(io->flags, flags);
	assert_int_equal(io->done_ns, done);
}

/* Both parsers (the MSR one-pass one and the general one) fail text at
 * line with msg. */
static void expect_error(const char *text, enum trace_format fmt,
			 uint64_t line, const char *msg)
{
	struct parsed p;

	for (int general = 0; general <= 1; general++) {
		parse_buf_how(text, strlen(text), fmt, general, &p);
		if (p.rc != -EINVAL || p.err.line != line ||
		    !strstr(p.err.msg, msg))
			fail_msg("'%s'%s: rc %d line %llu msg '%s'; expected "
				 "line %llu '%s'", text,
				 general ? " (general parser)" : "", p.rc,
				 (unsigned long long)p.err.line, p.err.msg,
				 (unsigned long long)line, msg);
	}
}

static void test_fio_v3(void **state)
{
	struct parsed p;

	(void)state;
	parse("fio version 3 iolog\n"
	      "18 j.0.0 add\n"
	      "210 j.0.0 open\n"
	      "215 j.0.0 write 4046848 4096\n"
	      "232 j.0.0 read 56582144 8192\n"
	      "\n"
	      "240 j.0.0 trim 0 65536\n"
	      "241 j.0.0 sync 0 0\n"
	      "242 j.0.0 datasync\n"
	      "251 j.0.0 close\n", TRACE_FMT_AUTO, &p);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.fmt, TRACE_FMT_FIO);
	assert_int_equal(p.n, 5);
	expect_io(&p.io[0], 215000, TRACE_OP_WRITE, 4046848, 4096, 0,
		  TRACE_NO_TIME);
	expect_io(&p.io[1], 232000, TRACE_OP_READ, 56582144, 8192, 0,
		  TRACE_NO_TIME);
	expect_io(&p.io[2], 240000, TRACE_OP_DISCARD, 0, 65536, 0,
		  TRACE_NO_TIME);
	expect_io(&p.io[3], 241000, TRACE_OP_FLUSH, 0, 0, 0, TRACE_NO_TIME);
	expect_io(&p.io[4], 242000, TRACE_OP_FLUSH, 0, 0, 0, TRACE_NO_TIME);
}

static void test_fio_v2(void **state)
{
	struct parsed p;

	(void)state;
	parse("fio version 2 iolog\r\n"
	      "/dev/sdb add\r\n"
	      "/dev/sdb open\n"
	      "/dev/sdb read 0 4096\n"
	      "/dev/sdb wait 1500 0\n"
	      "/dev/sdb write 512 512\n"
	      "/dev/sdb wait 20 0\n"
	      "/dev/sdb read 1024 4096", TRACE_FMT_FIO, &p);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.n, 3);
	expect_io(&p.io[0], 0, TRACE_OP_READ, 0, 4096, 0, TRACE_NO_TIME);
	expect_io(&p.io[1], 1500000, TRACE_OP_WRITE, 512, 512, 0,
		  TRACE_NO_TIME);
	/* The last line has no newline. */
	expect_io(&p.io[2], 1520000, TRACE_OP_READ, 1024, 4096, 0,
		  TRACE_NO_TIME);
}

static void test_fio_errors(void **state)
{
	(void)state;
	expect_error("fio version 4 iolog\n", TRACE_FMT_FIO, 1,
		     "not a fio version 2 or 3 iolog header");
	expect_error("", TRACE_FMT_FIO, 1, "empty fio iolog");
	expect_error("fio version 3 iolog\n1 f add\n2 f read 0\n",
		     TRACE_FMT_AUTO, 3, "bad length");
	expect_error("fio version 3 iolog\n1 f add\n2 f read x 4\n",
		     TRACE_FMT_AUTO, 3, "bad offset");
	expect_error("fio version 3 iolog\nf read 0 4\n", TRACE_FMT_AUTO, 2,
		     "expected a timestamp first");
	expect_error("fio version 3 iolog\n1 f fly 0 4\n", TRACE_FMT_AUTO, 2,
		     "unknown action 'fly'");
	expect_error("fio version 3 iolog\n1 f wait 5 0\n", TRACE_FMT_AUTO,
		     2, "'wait' is not allowed");
	expect_error("fio version 3 iolog\n1 f read 0 4\n2 g read 0 4\n",
		     TRACE_FMT_AUTO, 3, "a second file");
	expect_error("fio version 3 iolog\n1 f read 0 0\n", TRACE_FMT_AUTO, 2,
		     "an I/O of 0 bytes");
	expect_error("fio version 3 iolog\n1 f read 0 4294967296\n",
		     TRACE_FMT_AUTO, 2, "over 4 GiB");
	expect_error("fio version 3 iolog\n1 f read 18446744073709551615 4\n",
		     TRACE_FMT_AUTO, 2, "past 2^64");
	expect_error("fio version 3 iolog\n1 f read 0 18446744073709551616\n",
		     TRACE_FMT_AUTO, 2, "bad length");
	expect_error("fio version 2 iolog\nf add 1 2\n", TRACE_FMT_AUTO, 2,
		     "file action with numbers");
	expect_error("fio version 2 iolog\nf read\n", TRACE_FMT_AUTO, 2,
		     "expected an offset and a length");
}

static void test_blkparse(void **state)
{
	struct parsed p;

	(void)state;
	parse("  8,16   0        1     0.000000000  4242  Q   W 2048 + 8 [fio]\n"
	      "  8,16   0        2     0.000001000  4242  G   W 2048 + 8 [fio]\n"
	      "  8,16   1        3     0.500000000  4242  Q  RA 0 + 16 [fio]\n"
	      "  8,16   1        4     1.000000001  4242  Q  FWFS 64 + 8 [x]\n"
	      "  8,16   1        5     1.5  4242  Q  FWS [kworker]\n"
	      "  8,16   1        6     2.000000000  4242  Q  DS 100 + 2048 [y]\n"
	      "  8,16   1        7     2.1  4242  Q  N [y]\n"
	      "  8,16   1        8     2.2  4242  Q  FN [y]\n"
	      "  8,16   1        9     2.3  4242  Q  WZS 8 + 8 [y]\n"
	      "  8,16   1       10     2.4     0  m   N cfq4242 insert\n"
	      "  8,16   1       11     2.5  4242  C   W 2048 + 8 [0]\n"
	      "CPU0 (8,16):\n"
	      " Reads Queued:           0,        0KiB\n"
	      "garbage after the summary is not read\n", TRACE_FMT_AUTO, &p);
	if (p.rc)
		fail_msg("line %llu: %s", (unsigned long long)p.err.line,
			 p.err.msg);
	assert_int_equal(p.fmt, TRACE_FMT_BLKPARSE);
	assert_int_equal(p.n, 7);
	expect_io(&p.io[0], 0, TRACE_OP_WRITE, 2048 * 512, 4096, 0,
		  TRACE_NO_TIME);
	expect_io(&p.io[1], 500000000, TRACE_OP_READ, 0, 8192, 0,
		  TRACE_NO_TIME);
	expect_io(&p.io[2], 1000000001, TRACE_OP_WRITE, 64 * 512, 4096,
		  TRACE_F_PREFLUSH | TRACE_F_FUA, TRACE_NO_TIME);
	expect_io(&p.io[3], 1500000000, TRACE_OP_FLUSH, 0, 0,
		  TRACE_F_PREFLUSH, TRACE_NO_TIME);
	expect_io(&p.io[4], 2000000000, TRACE_OP_DISCARD, 100 * 512,
		  2048 * 512, 0, TRACE_NO_TIME);
	expect_io(&p.io[5], 2200000000, TRACE_OP_FLUSH, 0, 0,
		  TRACE_F_PREFLUSH, TRACE_NO_TIME);
	expect_io(&p.io[6], 2300000000, TRACE_OP_WRITE, 8 * 512, 4096, 0,
		  TRACE_NO_TIME);
}

static void test_blkparse_errors(void **state)
{
	(void)state;
	expect_error("  8,16 0 1 0.0 1 Q W 0 + 8 [a]\nhello\n",
		     TRACE_FMT_BLKPARSE, 2, "not a blkparse event");
	expect_error("  8,16 0 1 0.0 1 Q W 0 + 8 [a]\n  8,32 0 1 0.0 1 Q W 0 + 8 [a]\n",
		     TRACE_FMT_AUTO, 2, "a second device");
	expect_error("  8,16 0 1 0.0 1 Q X 0 + 8 [a]\n", TRACE_FMT_AUTO, 1,
		     "unknown RWBS 'X'");
	expect_error("  8,16 0 1 0.0 1 Q W 0 8 [a]\n", TRACE_FMT_AUTO, 1,
		     "expected '+'");
	expect_error("  8,16 0 1 0.0 1 Q W [a]\n", TRACE_FMT_AUTO, 1,
		     "expected sector + count");
	expect_error("  8,16 0 1 0.0x 1 Q W 0 + 8 [a]\n", TRACE_FMT_AUTO, 1,
		     "bad time field");
	expect_error("  8,16 0 1 0.0 1 Q W 0 + 0 [a]\n", TRACE_FMT_AUTO, 1,
		     "an I/O of 0 bytes");
}

static void test_msr(void **state)
{
	struct parsed p;

	(void)state;
	parse("128166372000009761,hm,0,Read,17316315136,4096,19761\n"
	      "128166372000019761,hm,0,write,512,65536,100\n"
	      "128166372010009761,hm,0,Write,0,512,0\n", TRACE_FMT_AUTO, &p);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.fmt, TRACE_FMT_MSR);
	assert_int_equal(p.n, 3);
	expect_io(&p.io[0], 0, TRACE_OP_READ, 17316315136ull, 4096, 0,
		  1976100);
	expect_io(&p.io[1], 1000000, TRACE_OP_WRITE, 512, 65536, 0,
		  1010000);
	expect_io(&p.io[2], 1000000000, TRACE_OP_WRITE, 0, 512, 0,
		  1000000000);
	expect_error("1,hm,0,Read,0,4096,1\n2,hm,0,Read,0,4096\n",
		     TRACE_FMT_MSR, 2, "expected 7 fields");
	expect_error("1,hm,0,Read,0,4096,1\n2,hm,1,Read,0,4096,1\n",
		     TRACE_FMT_MSR, 2, "a second host or disk");
	expect_error("1,hm,0,Read,0,4096,1\n2,hm,0,Trim,0,4096,1\n",
		     TRACE_FMT_MSR, 2, "unknown type 'Trim'");
	expect_error("5,hm,0,Read,0,4096,1\n4,hm,0,Read,0,4096,1\n",
		     TRACE_FMT_MSR, 2, "before the first line's");
	expect_error("5,hm,0,Read,0,4096,1,extra\n", TRACE_FMT_MSR, 1,
		     "expected 7 fields");
	expect_error("5,hm,0,Read,0,4096,1x\n", TRACE_FMT_MSR, 1,
		     "bad response time");
	expect_error("5,hm,0,Read,0,40k,1\n", TRACE_FMT_MSR, 1,
		     "bad size field");
}

/*
 * Numbers of every length from 1 to 20 digits, with and without leading
 * zeros, at every place in the line a number can end (the reader converts
 * eight digits at a time where it can), against strtoull; and the 64-bit
 * edge: the largest offset whose end fits, and one past 2^64.
 */
static void test_numbers(void **state)
{
	char line[128], digits[32];
	unsigned len, zeros, i;
	uint64_t seed = 12345;

	(void)state;
	for (len = 1; len <= 19; len++) {
		for (zeros = 0; zeros <= 9; zeros += 3) {
			struct parsed p;
			uint64_t want;

			for (i = 0; i < len; i++) {
				seed = seed * 6364136223846793005ull +
				       1442695040888963407ull;
				digits[i] = (char)('0' + (seed >> 33) % 10);
			}
			if (len > 1 && digits[0] == '0')
				digits[0] = '7';
			digits[len] = '\0';
			want = strtoull(digits, NULL, 10);
			/* The response time in 100 ns ticks must fit 64 bits
			 * in ns: up to 16 digits there. */
			/* The line first (the general parser), and after
			 * one that sets the device (the one-pass parser). */
			snprintf(line, sizeof(line), "1,hm,0,Read,0,512,1\n"
				 "%.*s1,hm,0,Read,%.*s%s,"
				 "512,%.*s%s\n", (int)zeros, "000000000",
				 (int)zeros, "000000000", digits, (int)zeros,
				 "000000000", len <= 16 ? digits : "5");
			for (int second = 0; second <= 1; second++) {
				const char *text = line + (second ? 0 : 20);
				const struct trace_io *io = &p.io[second];

				parse(text, TRACE_FMT_MSR, &p);
				if (p.rc != 0 || p.n != 1 + second ||
				    io->offset != want ||
				    io->done_ns != (len <= 16 ? want : 5) * 100)
					fail_msg("'%s': rc %d n %d offset %llu",
						 text, p.rc, p.n,
						 (unsigned long long)io->offset);
			}
		}
	}
	{
		struct parsed p;

		parse("1,hm,0,Read,18446744073709551103,512,1\n",
		      TRACE_FMT_MSR, &p);
		assert_int_equal(p.rc, 0);
		assert_int_equal(p.io[0].offset, 18446744073709551103ull);
		parse("0000000000000000000000000001,hm,0,Read,"
		      "00000000000000000000012345678901234567,512,1\n",
		      TRACE_FMT_MSR, &p);
		assert_int_equal(p.rc, 0);
		assert_int_equal(p.io[0].offset, 12345678901234567ull);
	}
	expect_error("1,hm,0,Read,18446744073709551616,512,1\n",
		     TRACE_FMT_MSR, 1, "bad offset field");
	expect_error("1,hm,0,Read,123456789012345678901,512,1\n",
		     TRACE_FMT_MSR, 1, "bad offset field");
	expect_error("1,hm,0,Read,1234567a,512,1\n", TRACE_FMT_MSR, 1,
		     "bad offset field");
	/* The same on a second line, where the one-pass parser looks first:
	 * twenty digits that overflow and twenty that do not. */
	expect_error("1,hm,0,Read,0,512,1\n"
		     "1,hm,0,Read,18446744073709551616,512,1\n",
		     TRACE_FMT_MSR, 2, "bad offset field");
	expect_error("1,hm,0,Read,0,512,1\n"
		     "1,hm,0,Read,18446744073709551000,1024,1\n",
		     TRACE_FMT_MSR, 2, "past 2^64");
	expect_error("1,hm,0,Read,0,512,1\n"
		     "1,hm,0,Read,1234567a,512,1\n", TRACE_FMT_MSR, 2,
		     "bad offset field");
	expect_error("1,hm,0,Read,0,512,1\n"
		     "1,hm,0,Read,12345678,5120000000,1\n", TRACE_FMT_MSR, 2,
		     "over 4 GiB");
	expect_error("1,hm,0,Read,0,512,1\n"
		     "1,hm,0,Read,12345678,0,1\n", TRACE_FMT_MSR, 2,
		     "an I/O of 0 bytes");
	expect_error("1,hm,0,Read,0,512,1\n"
		     "1,hm,0,Read,12345678,512,100000000000000000\n",
		     TRACE_FMT_MSR, 2, "time too large");
	{
		struct parsed p;

		parse("1,hm,0,Read,0,512,1\n"
		      "1,hm,0,Read,12345678901234567890,1,1\n",
		      TRACE_FMT_MSR, &p);
		assert_int_equal(p.rc, 0);
		assert_int_equal(p.n, 2);
		assert_int_equal(p.io[1].offset, 12345678901234567890ull);
	}
}

/* ---- MSR: the one-pass parser against generated lines ---- */

static uint64_t rnd(uint64_t *x)
{
	*x = *x * 6364136223846793005ull + 1442695040888963407ull;
	return *x >> 11;
}

/* A random number of `digits` digits (the first not 0), below `below`. */
static uint64_t rnd_digits(uint64_t *x, unsigned digits, uint64_t below)
{
	uint64_t v = 1 + rnd(x) % 9;

	for (unsigned i = 1; i < digits; i++)
		v = v * 10 + rnd(x) % 10;
	return v < below ? v : below - 1 - rnd(x) % 1000;
}

struct msr_text {
	char *text;
	size_t len, cap;
	struct trace_io *ios;
	size_t n, cap_ios;
	uint64_t ts;		/* the last line's timestamp */
	const char *host;	/* "hm" when NULL */
};

static void text_add(struct msr_text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void text_add(struct msr_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->cap - t->len < 512) {
		t->cap = t->cap * 2 + 4096;
		t->text = realloc(t->text, t->cap);
		assert_non_null(t->text);
	}
	va_start(ap, fmt);
	n = vsnprintf(t->text + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < t->cap - t->len);
	t->len += (size_t)n;
}

#define T0 128166372000000000ull

/*
 * Appends a good line (odd: with what the one-pass parser leaves to the
 * general one now and then: leading zeros, the disk spelt "00", a blank
 * line first) and the I/O it must give.  Fields of every length: offsets
 * of 1-19 digits, sizes of 1-10, response times of 1-16; read and write
 * in any case; "\n" or "\r\n" (crlf 0 never, 1 always, 2 at random).
 */
static void msr_add(struct msr_text *t, uint64_t *x, int odd, int crlf)
{
	static const char *const types[] = { "Read", "Write", "read", "WRITE",
					     "rEaD", "wRiTe" };
	unsigned type = (unsigned)(rnd(x) % (odd ? 6 : 2));
	uint64_t size = rnd_digits(x, 1 + (unsigned)(rnd(x) % 10), 1ull << 32);
	uint64_t off = rnd_digits(x, 1 + (unsigned)(rnd(x) % 19),
				  UINT64_MAX - size + 1);
	uint64_t resp = rnd_digits(x, 1 + (unsigned)(rnd(x) % 16),
				   10000000000000000ull);
	int zeros = odd && rnd(x) % 16 == 0 ? 1 + (int)(rnd(x) % 3) : 0;
	const char *nl = crlf == 1 || (crlf == 2 && rnd(x) % 2) ? "\r\n" : "\n";
	struct trace_io *io;

	if (odd && rnd(x) % 32 == 0)
		text_add(t, "%s%s", rnd(x) % 2 ? "" : " \t", nl);
	t->ts = t->n ? t->ts + rnd(x) % 100000 : T0;
	text_add(t, "%.*s%llu,%s,%s,%s,%.*s%llu,%llu,%llu%s", zeros, "000",
		 (unsigned long long)t->ts, t->host ? t->host : "hm",
		 odd && rnd(x) % 16 == 0 ? "00" : "0", types[type], zeros,
		 "000", (unsigned long long)off, (unsigned long long)size,
		 (unsigned long long)resp, nl);
	if (t->n == t->cap_ios) {
		t->cap_ios = t->cap_ios * 2 + 64;
		t->ios = realloc(t->ios, t->cap_ios * sizeof(*t->ios));
		assert_non_null(t->ios);
	}
	io = &t->ios[t->n++];
	memset(io, 0, sizeof(*io));
	io->time_ns = (t->ts - T0) * 100;
	io->done_ns = io->time_ns + resp * 100;
	io->offset = off;
	io->len = (uint32_t)size;
	io->op = type % 2 ? TRACE_OP_WRITE : TRACE_OP_READ;
}

static void msr_free(struct msr_text *t)
{
	free(t->text);
	free(t->ios);
	memset(t, 0, sizeof(*t));
}

enum source { FROM_MEM, FROM_FILE, FROM_PIPE };

/* Every I/O a reader gives, and how it ended. */
struct readout {
	struct trace_io *ios;
	size_t n, cap;
	int rc;
	struct trace_error err;
};

/* Writes text into a pipe in pieces of 1 to `piece` bytes, from a child. */
static int pipe_feed(const char *text, size_t len, size_t piece)
{
	int fds[2];
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint64_t x = len;

		close(fds[0]);
		for (size_t at = 0; at < len;) {
			size_t n = 1 + rnd(&x) % piece;
			ssize_t w;

			if (n > len - at)
				n = len - at;
			w = write(fds[1], text + at, n);
			if (w <= 0)
				_exit(1);
			at += (size_t)w;
		}
		_exit(0);
	}
	close(fds[1]);
	return fds[0];
}

static void read_out(const char *text, size_t len, enum source src,
		     int general_only, struct readout *o)
{
	struct trace_reader *r = NULL;
	char path[] = "/tmp/dmct-trace-XXXXXX";
	int fd = -1, rc;
	pid_t child = -1;

	o->n = 0;
	memset(&o->err, 0, sizeof(o->err));
	if (src == FROM_MEM) {
		rc = trace_reader_open_mem(&r, text, len, TRACE_FMT_MSR,
					   &o->err);
	} else {
		if (src == FROM_FILE) {
			fd = mkstemp(path);
			assert_true(fd >= 0);
			unlink(path);
			assert_int_equal(write(fd, text, len), (ssize_t)len);
			assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		} else {
			fd = pipe_feed(text, len, 9000);
		}
		rc = trace_reader_open_fd(&r, fd, TRACE_FMT_MSR, &o->err);
	}
	assert_int_equal(rc, 0);
	if (general_only)
		trace_reader_general_only(r);
	for (;;) {
		if (o->n == o->cap) {
			o->cap = o->cap * 2 + 64;
			o->ios = realloc(o->ios, o->cap * sizeof(*o->ios));
			assert_non_null(o->ios);
		}
		rc = trace_reader_next(r, &o->ios[o->n], &o->err);
		if (rc != 1)
			break;
		o->n++;
	}
	o->rc = rc;
	trace_reader_close(r);
	if (fd >= 0)
		close(fd);
	if (src == FROM_PIPE) {
		int status;

		child = wait(&status);
		assert_true(child > 0);
	}
}

static void expect_ios(const struct readout *o, const struct msr_text *t,
		       const char *what)
{
	if (o->rc != 0)
		fail_msg("%s: line %llu: %s", what,
			 (unsigned long long)o->err.line, o->err.msg);
	assert_int_equal(o->n, t->n);
	for (size_t i = 0; i < t->n; i++)
		if (memcmp(&o->ios[i], &t->ios[i], sizeof(t->ios[i])))
			fail_msg("%s: I/O %zu: time %llu off %llu len %u op %u "
				 "done %llu", what, i,
				 (unsigned long long)o->ios[i].time_ns,
				 (unsigned long long)o->ios[i].offset,
				 o->ios[i].len, o->ios[i].op,
				 (unsigned long long)o->ios[i].done_ns);
}

/*
 * Generated traces past the read buffer (256 KiB), the first line
 * lengthened a byte at a time (leading zeros in its timestamp) so that
 * the lines about the buffer's end are cut at every byte; three mixes of
 * line endings and odd lines, with and without a newline after the last
 * line; each read from memory, and now and then from a file and a pipe
 * (short writes: lines cut anywhere), by both parsers.
 */
static void test_msr_one_pass(void **state)
{
	static const char *const sources[] = { "memory", "file", "pipe" };
	/* "HOST,DISK," of 5, 8 and 16 bytes (msr_fast compares up to 8 in
	 * one load, more with memcmp). */
	static const char *const hosts[] = { "hm", "src12", "web-server-07" };
	struct readout o = { 0 };
	uint64_t x = 2026;

	(void)state;
	for (int mix = 0; mix < 3; mix++) {
		struct msr_text t = { 0 };
		char *text;

		t.host = hosts[mix];
		/* The first I/O, the body's lines and I/Os after it. */
		t.ios = calloc(64, sizeof(*t.ios));
		assert_non_null(t.ios);
		t.cap_ios = 64;
		t.ios[0].offset = 40960;
		t.ios[0].len = 4096;
		t.ios[0].done_ns = 100;
		t.n = 1;
		t.ts = T0;
		while (t.len < 300000)
			msr_add(&t, &x, mix == 1, mix == 1 ? 2 : mix);
		text = malloc(t.len + 200);
		assert_non_null(text);
		for (unsigned shift = 0; shift < 96; shift++) {
			int last_nl = shift % 4 != 3;
			size_t len;

			len = (size_t)sprintf(text, "%.*s%llu,%s,0,Read,40960,"
					      "4096,1\n", (int)shift,
					      "000000000000000000000000000000"
					      "000000000000000000000000000000"
					      "000000000000000000000000000000"
					      "000000",
					      (unsigned long long)T0, t.host);
			memcpy(text + len, t.text, t.len);
			len += t.len;
			if (!last_nl)
				len -= text[len - 2] == '\r' ? 2 : 1;
			for (int src = FROM_MEM; src <= FROM_PIPE; src++) {
				if (src != FROM_MEM && shift % 16 != (unsigned)src)
					continue;
				for (int general = 0; general <= 1; general++) {
					char what[96];

					snprintf(what, sizeof(what),
						 "mix %d shift %u from %s%s",
						 mix, shift, sources[src],
						 general ? ", general parser"
							 : "");
					read_out(text, len, (enum source)src,
						 general, &o);
					expect_ios(&o, &t, what);
				}
			}
		}
		free(text);
		msr_free(&t);
	}
	free(o.ios);
}

/*
 * Damaged traces: a byte changed (to one that matters in a line or any
 * at all), dropped or added, or the text cut short, anywhere in a trace
 * of a few dozen generated lines; the one-pass parser must give what the
 * general one gives: the same I/Os, the same end, the same error on the
 * same line.
 */
static void test_msr_damaged(void **state)
{
	static const char bytes[] = ",\n\r09aA Rr.-+\t\f\0";
	struct readout a = { 0 }, b = { 0 };
	uint64_t x = 77;
	unsigned fails = 0;

	(void)state;
	for (unsigned round = 0; round < 6000; round++) {
		struct msr_text t = { 0 };
		size_t at, lines = 3 + rnd(&x) % 30;
		char *d;

		/* Short and long host names, and one too long for msr_fast
		 * (every line by the general parser). */
		t.host = round % 4 == 0 ? "hm" : round % 4 == 1 ? "src12" :
			 round % 4 == 2 ? "web-server-07" :
			 "a-host-name-of-more-than-sixty-four-bytes-which-the-"
			 "one-pass-parser-leaves-alone";
		for (size_t i = 0; i < lines; i++)
			msr_add(&t, &x, round % 2, (int)(round % 3));
		d = malloc(t.len + 2);
		assert_non_null(d);
		memcpy(d, t.text, t.len);
		at = rnd(&x) % t.len;
		switch (rnd(&x) % 5) {
		case 0:
			d[at] = bytes[rnd(&x) % (sizeof(bytes) - 1)];
			break;
		case 1:
			d[at] = (char)rnd(&x);
			break;
		case 2:
			memmove(d + at, d + at + 1, t.len - at - 1);
			t.len--;
			break;
		case 3:
			memmove(d + at + 1, d + at, t.len - at);
			d[at] = bytes[rnd(&x) % (sizeof(bytes) - 1)];
			t.len++;
			break;
		default:
			t.len = at;
			break;
		}
		read_out(d, t.len, FROM_MEM, 0, &a);
		read_out(d, t.len, FROM_MEM, 1, &b);
		if (a.rc != b.rc || a.n != b.n || a.err.line != b.err.line ||
		    strcmp(a.err.msg, b.err.msg) ||
		    (a.n && memcmp(a.ios, b.ios, a.n * sizeof(*a.ios))))
			fail_msg("round %u: one-pass rc %d n %zu line %llu '%s'"
				 "; general rc %d n %zu line %llu '%s'", round,
				 a.rc, a.n, (unsigned long long)a.err.line,
				 a.err.msg, b.rc, b.n,
				 (unsigned long long)b.err.line, b.err.msg);
		fails += a.rc != 0;
		free(d);
		msr_free(&t);
	}
	/* The damage does fail reads, often. */
	assert_true(fails > 1000);
	free(a.ios);
	free(b.ios);
}

static void test_detect(void **state)
{
	struct parsed p;
	char longline[5000];

	(void)state;
	expect_error("hello world\n", TRACE_FMT_AUTO, 1,
		     "cannot tell the trace format");
	parse("", TRACE_FMT_AUTO, &p);
	assert_int_equal(p.rc, -EINVAL);
	assert_non_null(strstr(p.err.msg, "empty trace"));
	/* An empty trace in a named text format is a trace of no I/O. */
	parse("", TRACE_FMT_MSR, &p);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.n, 0);
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	memcpy(longline, "fio version 3 iolog\n1 ", 22);
	expect_error(longline, TRACE_FMT_AUTO, 2, "line longer than");
}

/* Lines far past one read buffer: the buffer refills mid-line. */
static void test_many_lines(void **state)
{
	size_t cap = 40u << 20, len = 0;
	char *text = malloc(cap);
	struct trace_reader *r;
	struct trace_error err;
	struct trace_io io;
	uint64_t n = 0;
	int rc;

	(void)state;
	assert_non_null(text);
	len += (size_t)sprintf(text, "fio version 3 iolog\n");
	for (uint64_t i = 0; i < 500000; i++)
		len += (size_t)sprintf(text + len, "%llu dev write %llu 4096\n",
				       (unsigned long long)i,
				       (unsigned long long)(i * 7919 % 100000) * 4096);
	assert_int_equal(trace_reader_open_mem(&r, text, len, TRACE_FMT_AUTO,
					       &err), 0);
	while ((rc = trace_reader_next(r, &io, &err)) == 1) {
		assert_int_equal(io.time_ns, n * 1000);
		assert_int_equal(io.offset, (n * 7919 % 100000) * 4096);
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, 500000);
	trace_reader_close(r);
	free(text);
}

/* gzip of text, possibly as several members. */
static size_t gzip_members(const char *text, unsigned members, uint8_t *out,
			   size_t cap)
{
	size_t len = strlen(text), done = 0, pos = 0;

	for (unsigned m = 0; m < members; m++) {
		size_t part = m + 1 == members ? len - pos : len / members;
		z_stream zs;

		memset(&zs, 0, sizeof(zs));
		assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS,
					      8, Z_DEFAULT_STRATEGY), Z_OK);
		zs.next_in = (Bytef *)(uintptr_t)(text + pos);
		zs.avail_in = (uInt)part;
		zs.next_out = out + done;
		zs.avail_out = (uInt)(cap - done);
		assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
		done = cap - zs.avail_out;
		deflateEnd(&zs);
		pos += part;
	}
	return done;
}

static void test_gzip(void **state)
{
	const char *text = "fio version 3 iolog\n1 f read 0 4096\n"
			   "2 f write 4096 4096\n3 f read 8192 512\n";
	uint8_t gz[4096];
	struct parsed p;
	size_t len;

	(void)state;
	for (unsigned members = 1; members <= 3; members++) {
		len = gzip_members(text, members, gz, sizeof(gz));
		parse_buf(gz, len, TRACE_FMT_AUTO, &p);
		assert_int_equal(p.rc, 0);
		assert_int_equal(p.fmt, TRACE_FMT_FIO);
		assert_int_equal(p.n, 3);
		expect_io(&p.io[2], 3000, TRACE_OP_READ, 8192, 512, 0,
			  TRACE_NO_TIME);
	}
	len = gzip_members(text, 1, gz, sizeof(gz));
	/* Truncated: the data stops before the member's end. */
	parse_buf(gz, len - 10, TRACE_FMT_AUTO, &p);
	assert_int_equal(p.rc, -EINVAL);
	assert_non_null(strstr(p.err.msg, "truncated gzip"));
	/* Corrupt: the CRC no longer matches. */
	gz[len - 6] ^= 0x55;
	parse_buf(gz, len, TRACE_FMT_AUTO, &p);
	assert_int_equal(p.rc, -EIO);
	assert_non_null(strstr(p.err.msg, "bad gzip data"));
}

static void write_all(struct trace_writer *w, const struct trace_io *ios,
		      int n)
{
	for (int i = 0; i < n; i++)
		assert_int_equal(trace_writer_put(w, &ios[i]), 0);
}

/* Writes ios in fmt into memory and returns the buffer (caller frees). */
static char *write_mem(enum trace_format fmt, uint32_t block_bytes,
		       const struct trace_io *ios, int n, size_t *len,
		       struct trace_writer_stats *st)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	struct trace_writer *w;

	assert_non_null(f);
	assert_int_equal(trace_writer_open(&w, f, fmt, block_bytes), 0);
	write_all(w, ios, n);
	assert_int_equal(trace_writer_close(w, st), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static const struct trace_io sample[] = {
	{ 0, 5000, 4096, 4096, TRACE_OP_READ, 0 },
	{ 1234567, TRACE_NO_TIME, 0, 65536, TRACE_OP_WRITE, TRACE_F_FUA },
	{ 2000000, 2100000, 1 << 20, 8192, TRACE_OP_DISCARD, 0 },
	{ 3000000, TRACE_NO_TIME, 0, 0, TRACE_OP_FLUSH, TRACE_F_PREFLUSH },
	{ 4000100, 4000900, 512, 512, TRACE_OP_WRITE, TRACE_F_PREFLUSH },
};
#define NSAMPLE ((int)(sizeof(sample) / sizeof(sample[0])))

static void test_native_roundtrip(void **state)
{
	struct trace_writer_stats st;
	struct parsed p;
	size_t len;
	char *buf;

	(void)state;
	buf = write_mem(TRACE_FMT_NATIVE, 0, sample, NSAMPLE, &len, &st);
	assert_int_equal(len, 32 + 32 * NSAMPLE);
	assert_int_equal(st.written, NSAMPLE);
	assert_memory_equal(buf, "DMCTRACE\1\0\0\0\x20\0\0\0", 16);
	/* A memory stream seeks: the header has the count. */
	assert_int_equal(load_le64(buf + 16), NSAMPLE);
	parse_buf(buf, len, TRACE_FMT_AUTO, &p);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.fmt, TRACE_FMT_NATIVE);
	assert_int_equal(p.n, NSAMPLE);
	for (int i = 0; i < NSAMPLE; i++)
		expect_io(&p.io[i], sample[i].time_ns, sample[i].op,
			  sample[i].offset, sample[i].len, sample[i].flags,
			  sample[i].done_ns);
	/* Cut inside a record, and at a record boundary. */
	parse_buf(buf, len - 5, TRACE_FMT_AUTO, &p);
	assert_int_equal(p.rc, -EINVAL);
	assert_int_equal(p.err.line, NSAMPLE);
	assert_non_null(strstr(p.err.msg, "file ends inside it"));
	parse_buf(buf, len - 32, TRACE_FMT_AUTO, &p);
	assert_int_equal(p.rc, -EINVAL);
	assert_non_null(strstr(p.err.msg, "the header says 5"));
	parse_buf(buf, 20, TRACE_FMT_NATIVE, &p);
	assert_int_equal(p.rc, -EINVAL);
	assert_non_null(strstr(p.err.msg, "truncated native trace header"));
	/* Bad fields of a record name the record. */
	buf[32 + 32 * 2 + 20] = 9;
	parse_buf(buf, len, TRACE_FMT_AUTO, &p);
	assert_int_equal(p.rc, -EINVAL);
	assert_int_equal(p.err.line, 3);
	assert_non_null(strstr(p.err.msg, "unknown op 9"));
	buf[32 + 32 * 2 + 20] = TRACE_OP_DISCARD;
	buf[32 + 32 * 2 + 21] = 4;
	parse_buf(buf, len, TRACE_FMT_AUTO, &p);
	assert_non_null(strstr(p.err.msg, "unknown flags 0x4"));
	buf[32 + 32 * 2 + 21] = 0;
	buf[8] = 2;
	parse_buf(buf, len, TRACE_FMT_AUTO, &p);
	assert_non_null(strstr(p.err.msg, "native trace version 2"));
	free(buf);
}

static void test_fio_roundtrip(void **state)
{
	struct trace_writer_stats st;
	struct parsed p;
	size_t len;
	char *buf;

	(void)state;
	buf = write_mem(TRACE_FMT_FIO, 0, sample, NSAMPLE, &len, &st);
	assert_string_equal(buf, "fio version 3 iolog\n"
				 "0 trace add\n"
				 "0 trace open\n"
				 "0 trace read 4096 4096\n"
				 "1234 trace write 0 65536\n"
				 "2000 trace trim 1048576 8192\n"
				 "3000 trace sync 0 0\n"
				 "4000 trace sync 0 0\n"
				 "4000 trace write 512 512\n"
				 "4000 trace close\n");
	parse_buf(buf, len, TRACE_FMT_AUTO, &p);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.n, 6);
	expect_io(&p.io[1], 1234000, TRACE_OP_WRITE, 0, 65536, 0,
		  TRACE_NO_TIME);
	expect_io(&p.io[5], 4000000, TRACE_OP_WRITE, 512, 512, 0,
		  TRACE_NO_TIME);
	free(buf);
}

static void test_msr_roundtrip(void **state)
{
	struct trace_writer_stats st;
	struct parsed p;
	size_t len;
	char *buf;

	(void)state;
	buf = write_mem(TRACE_FMT_MSR, 0, sample, NSAMPLE, &len, &st);
	assert_int_equal(st.written, 3);
	assert_int_equal(st.dropped, 2);
	assert_string_equal(buf, "128166372000000000,dmct,0,Read,4096,4096,50\n"
				 "128166372000012345,dmct,0,Write,0,65536,0\n"
				 "128166372000040001,dmct,0,Write,512,512,8\n");
	parse_buf(buf, len, TRACE_FMT_AUTO, &p);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.n, 3);
	expect_io(&p.io[0], 0, TRACE_OP_READ, 4096, 4096, 0, 5000);
	expect_io(&p.io[1], 1234500, TRACE_OP_WRITE, 0, 65536, 0, 1234500);
	expect_io(&p.io[2], 4000100, TRACE_OP_WRITE, 512, 512, 0, 4000900);
	free(buf);
}

/* The oracle's next-request index of every record, against a search. */
static void test_oracle(void **state)
{
	enum { N = 3000 };
	struct trace_io *ios = calloc(N, sizeof(*ios));
	uint64_t *blocks = malloc(sizeof(uint64_t) * N * 4);
	uint32_t bb = 4096;
	struct trace_writer_stats st;
	uint64_t nb = 0, x = 12345;
	size_t len;
	char *buf;

	(void)state;
	assert_non_null(ios);
	assert_non_null(blocks);
	for (int i = 0; i < N; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		ios[i].time_ns = (uint64_t)i * 3000000;
		ios[i].op = (x >> 60) & 1 ? TRACE_OP_READ : TRACE_OP_WRITE;
		if ((x >> 50) % 17 == 0)
			ios[i].op = TRACE_OP_DISCARD;
		ios[i].offset = ((x >> 20) % 200) * 2048;
		ios[i].len = (uint32_t)(((x >> 40) % 4) + 1) * 2048;
		ios[i].done_ns = TRACE_NO_TIME;
		if (ios[i].op == TRACE_OP_DISCARD)
			continue;
		for (uint64_t b = ios[i].offset / bb;
		     b <= (ios[i].offset + ios[i].len - 1) / bb; b++)
			blocks[nb++] = b;
	}
	buf = write_mem(TRACE_FMT_ORACLE, bb, ios, N, &len, &st);
	assert_int_equal(st.written, nb);
	assert_int_equal(len, nb * 24);
	for (uint64_t i = 0, k = 0; i < nb; i++) {
		const uint8_t *rec = (const uint8_t *)buf + i * 24;
		int64_t next = -1;

		for (uint64_t j = i + 1; j < nb; j++) {
			if (blocks[j] == blocks[i]) {
				next = (int64_t)j;
				break;
			}
		}
		assert_int_equal(load_le64(rec + 4), blocks[i]);
		assert_int_equal(load_le32(rec + 12), bb);
		assert_int_equal((int64_t)load_le64(rec + 16), next);
		(void)k;
	}
	free(buf);
	free(blocks);
	free(ios);
}

static void test_u64map(void **state)
{
	enum { N = 60000 };
	uint64_t *keys = malloc(N * sizeof(*keys));
	uint64_t *vals = malloc(N * sizeof(*vals));
	struct u64map m;
	uint64_t x = 99, v;
	size_t n = 0;

	(void)state;
	assert_int_equal(u64map_init(&m, 0), 0);
	for (int i = 0; i < N; i++) {
		uint64_t k, val;
		size_t j;

		x = x * 6364136223846793005ull + 1;
		/* Dense keys, sparse keys, and the two edge keys. */
		k = i % 7 == 0 ? UINT64_MAX : i % 11 == 0 ? 0 :
		    (x >> 33) % 3 ? (x >> 40) % 5000 : x;
		val = x ^ 0xabcdef;
		for (j = 0; j < n && keys[j] != k; j++)
			;
		if (j == n) {
			assert_true(n < N);
			keys[n++] = k;
		}
		vals[j] = val;
		assert_int_equal(u64map_put(&m, k, val), 0);
		assert_int_equal(u64map_count(&m), n);
	}
	for (size_t j = 0; j < n; j++) {
		assert_int_equal(u64map_get(&m, keys[j], &v), 1);
		assert_int_equal(v, vals[j]);
	}
	assert_int_equal(u64map_get(&m, 1ull << 62, &v), 0);
	u64map_clear(&m);
	assert_int_equal(u64map_count(&m), 0);
	assert_int_equal(u64map_get(&m, keys[0], &v), 0);
	assert_int_equal(u64map_get(&m, UINT64_MAX, &v), 0);
	u64map_destroy(&m);
	free(keys);
	free(vals);
}

static void test_stat(void **state)
{
	static const struct trace_io ios[] = {
		{ 10, TRACE_NO_TIME, 0, 8192, TRACE_OP_WRITE, 0 },
		{ 20, TRACE_NO_TIME, 8192, 4096, TRACE_OP_READ, 0 },
		{ 30, TRACE_NO_TIME, 0, 4096, TRACE_OP_READ, TRACE_F_FUA },
		{ 40, TRACE_NO_TIME, 0, 0, TRACE_OP_FLUSH, TRACE_F_PREFLUSH },
		{ 5, TRACE_NO_TIME, 65536, 4096, TRACE_OP_DISCARD, 0 },
	};
	struct trace_stat s;

	(void)state;
	assert_int_equal(trace_stat_init(&s, 4096), 0);
	for (size_t i = 0; i < sizeof(ios) / sizeof(ios[0]); i++)
		assert_int_equal(trace_stat_add(&s, &ios[i]), 0);
	trace_stat_finish(&s);
	assert_int_equal(s.ios[TRACE_OP_READ], 2);
	assert_int_equal(s.ios[TRACE_OP_WRITE], 1);
	assert_int_equal(s.bytes[TRACE_OP_WRITE], 8192);
	assert_int_equal(s.fua, 1);
	assert_int_equal(s.preflush, 1);
	assert_int_equal(s.first_ns, 5);
	assert_int_equal(s.last_ns, 40);
	assert_int_equal(s.lowest, 0);
	assert_int_equal(s.highest_end, 65536 + 4096);
	/* Blocks 0 and 1 written, 2 and 0 read. */
	assert_int_equal(s.bios, 4);
	assert_int_equal(s.footprint, 3);
	assert_int_equal(s.read_footprint, 2);
	assert_int_equal(s.write_footprint, 2);
	assert_int_equal(s.cold, 3);
	/* Block 0: requests 0 and 3, distance 3, bucket "<= 4". */
	assert_int_equal(s.reuse_hist[2], 1);
	assert_int_equal(s.size_hist[trace_stat_bucket(8192)], 1);
	assert_int_equal(s.size_hist[trace_stat_bucket(4096)], 3);
	/* Runs: [write 0-8K, read 8K] then [read 0] then [discard]. */
	assert_int_equal(s.run_hist[1], 1);
	assert_int_equal(s.run_hist[0], 2);
	assert_int_equal(trace_stat_bucket(1), 0);
	assert_int_equal(trace_stat_bucket(2), 1);
	assert_int_equal(trace_stat_bucket(3), 2);
	assert_int_equal(trace_stat_bucket(4), 2);
	assert_int_equal(trace_stat_bucket(5), 3);
	trace_stat_destroy(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fio_v3),
		cmocka_unit_test(test_fio_v2),
		cmocka_unit_test(test_fio_errors),
		cmocka_unit_test(test_blkparse),
		cmocka_unit_test(test_blkparse_errors),
		cmocka_unit_test(test_msr),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_msr_one_pass),
		cmocka_unit_test(test_msr_damaged),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_many_lines),
		cmocka_unit_test(test_gzip),
		cmocka_unit_test(test_native_roundtrip),
		cmocka_unit_test(test_fio_roundtrip),
		cmocka_unit_test(test_msr_roundtrip),
		cmocka_unit_test(test_oracle),
		cmocka_unit_test(test_u64map),
		cmocka_unit_test(test_stat),
	};

	return cmocka_run_group_tests_name("trace", tests, NULL, NULL);
}
