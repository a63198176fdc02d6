// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * xml/textbuf: the buffered line writer, past its first buffer, where a
 * thread writes each full buffer while the next fills.  Many megabytes of
 * numbered lines arrive byte for byte and in order, with and without the
 * thread (one CPU); a full device (/dev/full) and a closed pipe give their
 * error, sticky, from reserve and flush; release mid-stream neither writes
 * nor leaks.  Emptying a longer old file first (the thread truncates
 * before its first write) leaves exactly the new lines; a descriptor that
 * cannot be truncated gives its error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "xml/textbuf.h"

/* Line i: "<line n="i"/>" and a run of i % 50 x's, so lines vary. */
static char *put_line(char *p, uint64_t i)
{
	p = XML_PUT_LIT(p, "<line n=\"");
	p = xml_put_u64(p, i);
	p = XML_PUT_LIT(p, "\"/>");
	memset(p, 'x', i % 50);
	p += i % 50;
	*p++ = '\n';
	return p;
}

/* Writes lines 0..n-1 through t; 0 or the first error seen. */
static int write_lines(struct xml_textbuf *t, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		char *p = xml_textbuf_reserve(t, 128);

		if (!p)
			return t->err;
		xml_textbuf_commit(t, put_line(p, i));
	}
	return 0;
}

static void expect_lines(FILE *f, uint64_t n)
{
	char want[128], got[160];

	for (uint64_t i = 0; i < n; i++) {
		char *e = put_line(want, i);

		*e = 0;
		if (!fgets(got, sizeof(got), f))
			fail_msg("line %lu missing", (unsigned long)i);
		if (strcmp(got, want))
			fail_msg("line %lu: %s", (unsigned long)i, got);
	}
	assert_null(fgets(got, sizeof(got), f));
}

/* over: bytes of old content to empty away first (0: a new file). */
static void roundtrip_over(uint64_t n, size_t over)
{
	struct xml_textbuf t;
	FILE *f = tmpfile();
	long size;

	assert_non_null(f);
	if (over) {
		char *old = malloc(over);

		assert_non_null(old);
		memset(old, 'Z', over);
		/* pwrite: the descriptor's offset stays at 0, as after open. */
		assert_int_equal(pwrite(fileno(f), old, over, 0),
				 (ssize_t)over);
		free(old);
	}
	assert_int_equal(xml_textbuf_init(&t, fileno(f)), 0);
	if (over)
		assert_int_equal(xml_textbuf_empty_file(&t), 0);
	assert_int_equal(write_lines(&t, n), 0);
	assert_int_equal(xml_textbuf_flush(&t), 0);
	/* Flushing again with nothing buffered is harmless. */
	assert_int_equal(xml_textbuf_flush(&t), 0);
	size = lseek(fileno(f), 0, SEEK_END);
	assert_int_equal((unsigned long long)size, t.written);
	xml_textbuf_release(&t);
	rewind(f);
	expect_lines(f, n);
	fclose(f);
}

static void roundtrip(uint64_t n)
{
	roundtrip_over(n, 0);
}

/* About 15 MiB: fifteen hand-overs to the thread, and a partial last one. */
static void test_many_buffers(void **state)
{
	(void)state;
	roundtrip(300000);
	roundtrip(10);			/* never fills a buffer */
}

/* The old file is longer than the new one, by more than a buffer. */
static void test_empty_old_file(void **state)
{
	(void)state;
	roundtrip_over(300000, 20u << 20);
	roundtrip_over(10, 3u << 20);
	roundtrip_over(0, 4096);
}

/* A pipe cannot be truncated: EINVAL, now or at the flush, and sticky. */
static void test_empty_fails(void **state)
{
	struct xml_textbuf t;
	int p[2], r;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(xml_textbuf_init(&t, p[1]), 0);
	r = xml_textbuf_empty_file(&t);
	if (r == 0)
		r = xml_textbuf_flush(&t);
	assert_int_equal(r, -EINVAL);
	assert_null(xml_textbuf_reserve(&t, 10));
	assert_int_equal(xml_textbuf_flush(&t), -EINVAL);
	xml_textbuf_release(&t);
	close(p[0]);
	close(p[1]);
}

static void test_empty_fails(void **state);

static void test_one_cpu(void **state)
{
	cpu_set_t old, one;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(old), &old), 0);
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &old)) {
			CPU_SET(c, &one);
			break;
		}
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	roundtrip(100000);
	roundtrip_over(100000, 8u << 20);
	test_empty_fails(state);
	assert_int_equal(sched_setaffinity(0, sizeof(old), &old), 0);
}

static void test_device_full(void **state)
{
	struct xml_textbuf t;
	int fd = open("/dev/full", O_WRONLY);
	int r;

	(void)state;
	if (fd < 0)
		skip();
	assert_int_equal(xml_textbuf_init(&t, fd), 0);
	r = write_lines(&t, 300000);
	assert_int_equal(r, -ENOSPC);
	/* Sticky: every later call says so, nothing more is tried. */
	assert_null(xml_textbuf_reserve(&t, 10));
	assert_int_equal(xml_textbuf_flush(&t), -ENOSPC);
	assert_int_equal(t.written, 0);
	xml_textbuf_release(&t);
	close(fd);
}

static void test_closed_pipe(void **state)
{
	struct xml_textbuf t;
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	int p[2];
	int r;

	(void)state;
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	assert_int_equal(xml_textbuf_init(&t, p[1]), 0);
	r = write_lines(&t, 300000);
	if (r == 0)
		r = xml_textbuf_flush(&t);
	assert_int_equal(r, -EPIPE);
	assert_int_equal(xml_textbuf_flush(&t), -EPIPE);
	xml_textbuf_release(&t);
	close(p[1]);
	signal(SIGPIPE, old);
}

/* Released with buffers under way and unflushed: waits, frees, no more. */
static void test_release_midway(void **state)
{
	struct xml_textbuf t;
	FILE *f = tmpfile();
	long size;

	(void)state;
	assert_non_null(f);
	assert_int_equal(xml_textbuf_init(&t, fileno(f)), 0);
	assert_int_equal(write_lines(&t, 100000), 0);
	xml_textbuf_release(&t);
	size = lseek(fileno(f), 0, SEEK_END);
	/* What was handed over, whole lines from the first; not the rest. */
	assert_true(size > 0);
	rewind(f);
	{
		char want[128], got[160];
		uint64_t i = 0;

		while (fgets(got, sizeof(got), f)) {
			*put_line(want, i) = 0;
			assert_string_equal(got, want);
			i++;
		}
		assert_true(i > 0 && i < 100000);
	}
	xml_textbuf_release(&t);	/* twice: harmless */
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_buffers),
		cmocka_unit_test(test_one_cpu),
		cmocka_unit_test(test_empty_old_file),
		cmocka_unit_test(test_empty_fails),
		cmocka_unit_test(test_device_full),
		cmocka_unit_test(test_closed_pipe),
		cmocka_unit_test(test_release_midway),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
