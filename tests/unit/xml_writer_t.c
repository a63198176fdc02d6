// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The XML writer: exact bytes of 0.9.0's layout (the FORMAT.md §7.1 example,
 * empty containers), base64 against the RFC 4648 vectors, number formatting
 * against printf over edge and random values, escaping, the discards
 * section, output larger than the writer's buffer, and sticky errors
 * (EPIPE, EBADF).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "xml/writer.h"

/* A writer on a temporary file, and a way to read back what it wrote. */
struct sink {
	FILE *f;
	struct xml_writer *w;
	struct cache_emitter e;
};

static void sink_open(struct sink *s)
{
	s->f = tmpfile();
	assert_non_null(s->f);
	assert_int_equal(xml_writer_create(fileno(s->f), &s->w), 0);
	xml_writer_emitter(s->w, &s->e);
	assert_ptr_equal(s->e.ctx, s->w);
}

/* Flushes, returns the whole file as a NUL-terminated string. */
static char *sink_close(struct sink *s)
{
	long n;
	char *buf;

	assert_int_equal(xml_writer_flush(s->w), 0);
	n = lseek(fileno(s->f), 0, SEEK_END);
	assert_true(n >= 0);
	assert_int_equal(xml_writer_bytes(s->w), (unsigned long long)n);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fileno(s->f), buf, (size_t)n, 0), n);
	buf[n] = '\0';
	xml_writer_destroy(s->w);
	fclose(s->f);
	return buf;
}

static struct cache_emit_sb make_sb(uint64_t nr, const char *policy)
{
	struct cache_emit_sb sb;

	memset(&sb, 0, sizeof(sb));
	sb.block_size = 128;
	sb.nr_cache_blocks = nr;
	strcpy(sb.policy, policy);
	sb.hint_width = 4;
	return sb;
}

static void test_format_example(void **state)
{
	/* FORMAT.md §7.1: real 0.9.0 output for a v1 image. */
	static const char want[] =
		"<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\"16\" policy=\"smq\" hint_width=\"4\">\n"
		"  <mappings>\n"
		"    <mapping cache_block=\"0\" origin_block=\"5\" dirty=\"false\"/>\n"
		"    <mapping cache_block=\"1\" origin_block=\"100\" dirty=\"true\"/>\n"
		"    <mapping cache_block=\"15\" origin_block=\"70000000000\" dirty=\"true\"/>\n"
		"  </mappings>\n"
		"  <hints>\n"
		"    <hint cache_block=\"0\" data=\"AQIDBA==\"/>\n"
		"    <hint cache_block=\"1\" data=\"/////w==\"/>\n"
		"    <hint cache_block=\"15\" data=\"AAAAAA==\"/>\n"
		"  </hints>\n"
		"</superblock>\n";
	static const unsigned char h0[4] = { 1, 2, 3, 4 };
	static const unsigned char h1[4] = { 0xff, 0xff, 0xff, 0xff };
	static const unsigned char h15[4] = { 0 };
	struct cache_emit_sb sb = make_sb(16, "smq");
	struct sink s;
	char *got;

	(void)state;
	sink_open(&s);
	assert_int_equal(s.e.begin_superblock(s.e.ctx, &sb), 0);
	assert_int_equal(s.e.begin_mappings(s.e.ctx), 0);
	assert_int_equal(s.e.mapping(s.e.ctx, 0, 5, 0), 0);
	assert_int_equal(s.e.mapping(s.e.ctx, 1, 100, 1), 0);
	assert_int_equal(s.e.mapping(s.e.ctx, 15, 70000000000ull, 1), 0);
	assert_int_equal(s.e.end_mappings(s.e.ctx), 0);
	assert_int_equal(s.e.begin_hints(s.e.ctx), 0);
	assert_int_equal(s.e.hint(s.e.ctx, 0, h0, 4), 0);
	assert_int_equal(s.e.hint(s.e.ctx, 1, h1, 4), 0);
	assert_int_equal(s.e.hint(s.e.ctx, 15, h15, 4), 0);
	assert_int_equal(s.e.end_hints(s.e.ctx), 0);
	assert_int_equal(s.e.end_superblock(s.e.ctx), 0);
	got = sink_close(&s);
	assert_string_equal(got, want);
	free(got);
}

static void test_empty_and_discards(void **state)
{
	static const char want[] =
		"<superblock uuid=\"abc&#xF700;zzz\" block_size=\"64\" nr_cache_blocks=\"0\" policy=\"\" hint_width=\"4\">\n"
		"  <mappings>\n"
		"  </mappings>\n"
		"  <hints>\n"
		"  </hints>\n"
		"  <discards discard_block_size=\"128\" discard_nr_blocks=\"1024\">\n"
		"    <discard dbegin=\"0\" dend=\"1\"/>\n"
		"    <discard dbegin=\"7\" dend=\"1024\"/>\n"
		"  </discards>\n"
		"</superblock>\n";
	struct cache_emit_sb sb = make_sb(0, "");
	struct cache_emit_discards d = { 128, 1024 };
	struct sink s;
	char *got;

	(void)state;
	sb.block_size = 64;
	/* Up to the last byte that is not NUL; the NUL inside escaped. */
	memcpy(sb.uuid, "abc\0zzz", 7);
	sink_open(&s);
	assert_int_equal(s.e.begin_superblock(s.e.ctx, &sb), 0);
	assert_int_equal(s.e.begin_mappings(s.e.ctx), 0);
	assert_int_equal(s.e.end_mappings(s.e.ctx), 0);
	assert_int_equal(s.e.begin_hints(s.e.ctx), 0);
	assert_int_equal(s.e.end_hints(s.e.ctx), 0);
	assert_int_equal(s.e.begin_discards(s.e.ctx, &d), 0);
	assert_int_equal(s.e.discard(s.e.ctx, 0, 1), 0);
	assert_int_equal(s.e.discard(s.e.ctx, 7, 1024), 0);
	assert_int_equal(s.e.end_discards(s.e.ctx), 0);
	assert_int_equal(s.e.end_superblock(s.e.ctx), 0);
	got = sink_close(&s);
	assert_string_equal(got, want);
	free(got);
}

static void test_strings(void **state)
{
	/* 16 uuid bytes without a NUL are all printed; specials escaped. */
	static const char want[] =
		"<superblock uuid=\"0123456789abcdef\" block_size=\"128\" nr_cache_blocks=\"1\" policy=\"a&amp;b&quot;&lt;&gt;&#xF701;&#9;\" hint_width=\"4\">\n";
	struct cache_emit_sb sb = make_sb(1, "a&b\"<>\x01\t");
	struct sink s;
	char *got;

	(void)state;
	memcpy(sb.uuid, "0123456789abcdef", 16);
	sink_open(&s);
	assert_int_equal(s.e.begin_superblock(s.e.ctx, &sb), 0);
	got = sink_close(&s);
	assert_string_equal(got, want);
	free(got);
}

/*
 * Bytes XML cannot carry become U+F700 + byte; valid UTF-8 stays as it is,
 * except a character of the escape range itself and U+FFFE/U+FFFF.
 */
static void test_byte_escapes(void **state)
{
	static const char want[] =
		"<superblock uuid=\""
		"&#xF7FF;&#xF780;"		/* not UTF-8 at all */
		"\xc3\xa9"			/* U+00E9, valid: raw */
		"&#xF7C0;&#xF7AF;"		/* overlong '/' */
		"&#xF7ED;&#xF7A0;&#xF780;"	/* a surrogate, U+D800 */
		"&#xF7EF;&#xF79C;&#xF780;"	/* U+F700 itself */
		"&#xF7E2;&#xF782;"		/* a sequence cut short */
		"\" block_size=\"128\" nr_cache_blocks=\"1\" policy=\""
		"&#xF71F;&#xF77F;&#13;&#10;"	/* controls, DEL, CR, LF */
		"\xef\xbf\xbd"			/* U+FFFD, valid: raw */
		"&#xF7EF;&#xF7BF;&#xF7BF;"	/* U+FFFF, not an XML char */
		"\xf0\x9f\x98\x80"		/* U+1F600, 4 bytes: raw */
		"\" hint_width=\"4\">\n";
	static const unsigned char uuid[16] = {
		0xff, 0x80, 0xc3, 0xa9, 0xc0, 0xaf, 0xed, 0xa0, 0x80,
		0xef, 0x9c, 0x80, 0xe2, 0x82,
	};
	struct cache_emit_sb sb = make_sb(1, "");
	struct sink s;
	char *got;

	(void)state;
	memcpy(sb.uuid, uuid, sizeof(uuid));
	memcpy(sb.policy, "\x1f\x7f\r\n\xef\xbf\xbd\xef\xbf\xbf\xf0\x9f\x98\x80",
	       15);
	sink_open(&s);
	assert_int_equal(s.e.begin_superblock(s.e.ctx, &sb), 0);
	got = sink_close(&s);
	assert_string_equal(got, want);
	free(got);
}

static void test_base64(void **state)
{
	static const struct { const char *in, *out; } v[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
		{ "\xff\xff\xff\xff", "/////w==" },
		{ "\xfb\xef\xbe", "++++" },
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = xml_base64_encode(v[i].in, strlen(v[i].in), out);

		out[n] = '\0';
		assert_string_equal(out, v[i].out);
	}
}

/* Numbers: edges and a deterministic pseudo-random spread, vs printf. */
static void test_numbers(void **state)
{
	static const uint64_t edge[] = {
		0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65535, 65536,
		4294967295ull, 4294967296ull, (1ull << 48) - 1, 1ull << 48,
		9999999999999999999ull, 10000000000000000000ull, UINT64_MAX,
	};
	enum { N_RANDOM = 2000 };
	uint64_t x = 88172645463325252ull;
	struct cache_emit_sb sb = make_sb(0, "smq");
	struct sink s;
	char *got, *want, *p;
	size_t cap = (sizeof(edge) / sizeof(edge[0]) + N_RANDOM) * 128 + 4096;

	(void)state;
	want = malloc(cap);
	assert_non_null(want);
	p = want;
	sink_open(&s);
	assert_int_equal(s.e.begin_superblock(s.e.ctx, &sb), 0);
	p += sprintf(p, "<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\"0\" policy=\"smq\" hint_width=\"4\">\n");
	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]) + N_RANDOM; i++) {
		uint64_t a, b;

		if (i < sizeof(edge) / sizeof(edge[0])) {
			a = edge[i];
			b = edge[sizeof(edge) / sizeof(edge[0]) - 1 - i];
		} else {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			a = x >> (x % 64);
			b = x;
		}
		assert_int_equal(s.e.mapping(s.e.ctx, a, b, (int)(i & 1)), 0);
		p += sprintf(p, "    <mapping cache_block=\"%" PRIu64
			     "\" origin_block=\"%" PRIu64 "\" dirty=\"%s\"/>\n",
			     a, b, (i & 1) ? "true" : "false");
	}
	got = sink_close(&s);
	assert_string_equal(got, want);
	free(got);
	free(want);
}

/* Several times the buffer: nothing lost or reordered at the seams. */
static void test_large(void **state)
{
	enum { N = 200000 };
	struct cache_emit_sb sb = make_sb(N, "smq");
	struct sink s;
	char *got, *p, *want;
	size_t cap = (size_t)N * 200 + 4096;

	(void)state;
	want = malloc(cap);
	assert_non_null(want);
	p = want;
	sink_open(&s);
	assert_int_equal(s.e.begin_superblock(s.e.ctx, &sb), 0);
	p += sprintf(p, "<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\"%d\" policy=\"smq\" hint_width=\"4\">\n", N);
	assert_int_equal(s.e.begin_mappings(s.e.ctx), 0);
	p += sprintf(p, "  <mappings>\n");
	for (uint64_t i = 0; i < N; i++) {
		assert_int_equal(s.e.mapping(s.e.ctx, i, i * 7919, i % 3 == 0), 0);
		p += sprintf(p, "    <mapping cache_block=\"%" PRIu64
			     "\" origin_block=\"%" PRIu64 "\" dirty=\"%s\"/>\n",
			     i, i * 7919, i % 3 == 0 ? "true" : "false");
	}
	assert_int_equal(s.e.end_mappings(s.e.ctx), 0);
	p += sprintf(p, "  </mappings>\n  <hints>\n");
	assert_int_equal(s.e.begin_hints(s.e.ctx), 0);
	for (uint32_t i = 0; i < N; i++) {
		unsigned char h[8];
		char b64[16];

		memcpy(h, &i, 4);
		memcpy(h + 4, &i, 4);
		assert_int_equal(s.e.hint(s.e.ctx, i, h, 8), 0);
		b64[xml_base64_encode(h, 8, b64)] = '\0';
		p += sprintf(p, "    <hint cache_block=\"%u\" data=\"%s\"/>\n",
			     i, b64);
	}
	assert_int_equal(s.e.end_hints(s.e.ctx), 0);
	assert_int_equal(s.e.end_superblock(s.e.ctx), 0);
	p += sprintf(p, "  </hints>\n</superblock>\n");
	got = sink_close(&s);
	assert_int_equal(strlen(got), (size_t)(p - want));
	assert_memory_equal(got, want, (size_t)(p - want));
	free(got);
	free(want);
}

/* A reader that went away: -EPIPE, and it sticks. */
static void test_epipe(void **state)
{
	struct cache_emit_sb sb = make_sb(1, "smq");
	struct xml_writer *w;
	struct cache_emitter e;
	int fds[2];
	void (*old)(int);

	(void)state;
	old = signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe(fds), 0);
	close(fds[0]);
	assert_int_equal(xml_writer_create(fds[1], &w), 0);
	xml_writer_emitter(w, &e);
	/* Buffered: nothing is written yet. */
	assert_int_equal(e.begin_superblock(e.ctx, &sb), 0);
	assert_int_equal(xml_writer_flush(w), -EPIPE);
	assert_int_equal(e.mapping(e.ctx, 0, 1, 0), -EPIPE);
	assert_int_equal(e.end_superblock(e.ctx), -EPIPE);
	assert_int_equal(xml_writer_flush(w), -EPIPE);
	xml_writer_destroy(w);
	close(fds[1]);
	signal(SIGPIPE, old);
}

/* A buffer's worth of lines into a descriptor that cannot be written. */
static void test_ebadf(void **state)
{
	struct cache_emit_sb sb = make_sb(1, "smq");
	struct xml_writer *w;
	struct cache_emitter e;
	int r = 0;

	(void)state;
	assert_int_equal(xml_writer_create(-1, &w), 0);
	xml_writer_emitter(w, &e);
	assert_int_equal(e.begin_superblock(e.ctx, &sb), 0);
	for (uint64_t i = 0; i < 100000 && !r; i++)
		r = e.mapping(e.ctx, i, i, 0);
	assert_int_equal(r, -EBADF);
	assert_int_equal(e.end_superblock(e.ctx), -EBADF);
	xml_writer_destroy(w);
	xml_writer_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_example),
		cmocka_unit_test(test_empty_and_discards),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_byte_escapes),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_epipe),
		cmocka_unit_test(test_ebadf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
