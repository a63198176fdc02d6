// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * xml/reader: the events a valid document produces (exactly, in order,
 * including the empty containers the reader supplies), every kind of
 * invalid input with its exact message, line and column, callback errors,
 * the DOCTYPE/entity refusal, base64 edge cases, input spanning many
 * read chunks, and the uuid and policy bytes the writer escapes read back
 * exactly (every byte value).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "xml/reader.h"
#include "xml/writer.h"

/* ---- a recording emitter: one line of text per event ---- */

struct rec {
	char *buf;
	size_t len, cap;
	int fail_at;		/* event number (1-based) to fail, 0 = never */
	int fail_with;
	int events;
	uint64_t progress;
};

__attribute__((format(printf, 2, 3)))
static int add(struct rec *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->len + 512 > r->cap) {
		r->cap = r->cap ? r->cap * 2 : 4096;
		r->buf = realloc(r->buf, r->cap);
		assert_non_null(r->buf);
	}
	va_start(ap, fmt);
	n = vsnprintf(r->buf + r->len, r->cap - r->len, fmt, ap);
	va_end(ap);
	r->len += (size_t)n;
	if (++r->events == r->fail_at)
		return r->fail_with;
	return 0;
}

static int rec_begin_sb(void *ctx, const struct cache_emit_sb *sb)
{
	return add(ctx, "sb uuid=%.16s bs=%" PRIu64 " nr=%" PRIu64
		   " policy=%s hw=%u bin=%d\n", (const char *)sb->uuid,
		   sb->block_size, sb->nr_cache_blocks, sb->policy,
		   sb->hint_width, sb->have_binary);
}

static int rec_end_sb(void *ctx)
{
	return add(ctx, "/sb\n");
}

static int rec_begin_mappings(void *ctx)
{
	return add(ctx, "mappings\n");
}

static int rec_mapping(void *ctx, uint64_t c, uint64_t o, int dirty)
{
	return add(ctx, "m %" PRIu64 " %" PRIu64 " %d\n", c, o, dirty);
}

static int rec_end_mappings(void *ctx)
{
	return add(ctx, "/mappings\n");
}

static int rec_begin_hints(void *ctx)
{
	return add(ctx, "hints\n");
}

static int rec_hint(void *ctx, uint64_t c, const void *data, uint32_t len)
{
	struct rec *r = ctx;
	const unsigned char *d = data;

	add(r, "h %" PRIu64 " ", c);
	r->events--;
	for (uint32_t i = 0; i < len; i++) {
		add(r, "%02x", d[i]);
		r->events--;
	}
	return add(r, "\n");
}

static int rec_end_hints(void *ctx)
{
	return add(ctx, "/hints\n");
}

static int rec_begin_discards(void *ctx, const struct cache_emit_discards *d)
{
	return add(ctx, "discards %" PRIu64 " %" PRIu64 "%s\n", d->block_size,
		   d->nr_blocks, d->no_geometry ? " no-geometry" : "");
}

static int rec_discard(void *ctx, uint64_t b, uint64_t e)
{
	return add(ctx, "d %" PRIu64 " %" PRIu64 "\n", b, e);
}

static int rec_end_discards(void *ctx)
{
	return add(ctx, "/discards\n");
}

static void rec_progress(void *ctx, uint64_t bytes)
{
	((struct rec *)ctx)->progress = bytes;
}

static int fd_of(const char *s, size_t len)
{
	int fd = memfd_create("xml", 0);
	size_t off = 0;

	assert_true(fd >= 0);
	while (off < len) {
		ssize_t n = write(fd, s + off, len - off);

		assert_true(n > 0);
		off += (size_t)n;
	}
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Parses s; returns what xml_read_cache returned. */
static int parse(const char *s, size_t len, struct rec *r,
		 struct xml_reader_error *err)
{
	struct cache_emitter e = {
		.ctx = r,
		.begin_superblock = rec_begin_sb,
		.end_superblock = rec_end_sb,
		.begin_mappings = rec_begin_mappings,
		.mapping = rec_mapping,
		.end_mappings = rec_end_mappings,
		.begin_hints = rec_begin_hints,
		.hint = rec_hint,
		.end_hints = rec_end_hints,
		.begin_discards = rec_begin_discards,
		.discard = rec_discard,
		.end_discards = rec_end_discards,
	};
	struct xml_reader_opts o = { .progress = rec_progress, .ctx = r };
	int fd = fd_of(s, len), ret;

	if (!r->buf) {
		add(r, "%s", "");
		r->events = 0;
	}
	ret = xml_read_cache(fd, &e, &o, err);
	close(fd);
	return ret;
}

#define SB "<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\"16\" " \
	   "policy=\"smq\" hint_width=\"4\">\n"

/* ---- valid input ---- */

static void test_full_document(void **state)
{
	static const char xml[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<!-- a comment -->\n"
		"<superblock uuid=\"abc\" block_size=\"128\" nr_cache_blocks=\"16\" policy=\"smq\" hint_width=\"4\">\n"
		"  <mappings>\n"
		"    <mapping cache_block=\"0\" origin_block=\"5\" dirty=\"false\"/>\n"
		"    <!-- inside -->\n"
		"    <mapping cache_block=\"15\" origin_block=\"281474976710655\" dirty=\"true\"/>\n"
		"    <mapping cache_block=\"1\" origin_block=\"100\" dirty=\"true\"></mapping>\n"
		"  </mappings>\n"
		"  <hints>\n"
		"    <hint cache_block=\"1\" data=\"/////w==\"/>\n"
		"    <hint cache_block=\"0\" data=\"AQIDBA==\"/>\n"
		"  </hints>\n"
		"  <discards discard_block_size=\"256\" discard_nr_blocks=\"100\">\n"
		"    <discard dbegin=\"0\" dend=\"1\"/>\n"
		"    <discard dbegin=\"10\" dend=\"100\"/>\n"
		"  </discards>\n"
		"</superblock>\n";
	static const char want[] =
		"sb uuid=abc bs=128 nr=16 policy=smq hw=4 bin=0\n"
		"mappings\n"
		"m 0 5 0\n"
		"m 15 281474976710655 1\n"
		"m 1 100 1\n"
		"/mappings\n"
		"hints\n"
		"h 1 ffffffff\n"
		"h 0 01020304\n"
		"/hints\n"
		"discards 256 100\n"
		"d 0 1\n"
		"d 10 100\n"
		"/discards\n"
		"/sb\n";
	struct rec r = { 0 };
	struct xml_reader_error err;

	(void)state;
	assert_int_equal(parse(xml, sizeof(xml) - 1, &r, &err), 0);
	assert_string_equal(r.buf, want);
	assert_int_equal(r.progress, sizeof(xml) - 1);
	free(r.buf);
}

/* Containers left out still reach the emitter, empty, in order. */
static void test_missing_containers(void **state)
{
	static const struct {
		const char *xml, *want;
	} cases[] = {
		{ SB "</superblock>",
		  "mappings\n/mappings\nhints\n/hints\n/sb\n" },
		{ SB "<hints/></superblock>",
		  "mappings\n/mappings\nhints\n/hints\n/sb\n" },
		{ SB "<mappings/></superblock>",
		  "mappings\n/mappings\nhints\n/hints\n/sb\n" },
		{ SB "<discards discard_block_size=\"0\" discard_nr_blocks=\"0\"/>"
		     "</superblock>",
		  "mappings\n/mappings\nhints\n/hints\ndiscards 0 0\n"
		  "/discards\n/sb\n" },
		{ SB "<hints></hints><discards discard_block_size=\"8\" "
		     "discard_nr_blocks=\"3\"><discard dbegin=\"2\" dend=\"3\"/>"
		     "</discards></superblock>",
		  "mappings\n/mappings\nhints\n/hints\ndiscards 8 3\nd 2 3\n"
		  "/discards\n/sb\n" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rec r = { 0 };
		struct xml_reader_error err;
		const char *body;

		assert_int_equal(parse(cases[i].xml, strlen(cases[i].xml), &r,
				       &err), 0);
		body = strchr(r.buf, '\n') + 1;
		assert_string_equal(body, cases[i].want);
		free(r.buf);
	}
}

/*
 * The forms the references write or read that are not ours: leaves
 * straight under <superblock> (0.9.0 reads them; its test suite writes
 * them), <discards> without a geometry (0.9.0 and the newer tools), the
 * newer tools' layout (no newline at the end, &apos;), attributes in any
 * order, '+' and leading zeros in numbers, any white space, single
 * quotes, CR LF, and <mapping ...></mapping>.
 */
static void test_reference_forms(void **state)
{
	static const struct {
		const char *xml, *want;
	} cases[] = {
		{ SB "  <mapping cache_block=\"0\" origin_block=\"5\" dirty=\"false\"/>\n"
		     "  <mapping cache_block=\"1\" origin_block=\"6\" dirty=\"true\"/>\n"
		     "  <hint cache_block=\"0\" data=\"AQIDBA==\"/>\n"
		     "  <discard dbegin=\"2\" dend=\"4\"/>\n"
		     "  <discard dbegin=\"7\" dend=\"9\"/>\n"
		     "</superblock>\n",
		  "mappings\nm 0 5 0\nm 1 6 1\n/mappings\nhints\nh 0 01020304\n"
		  "/hints\ndiscards 0 0 no-geometry\nd 2 4\nd 7 9\n/discards\n"
		  "/sb\n" },
		{ SB "<mapping cache_block=\"3\" origin_block=\"5\" dirty=\"false\"/>"
		     "<hints><hint cache_block=\"3\" data=\"AQIDBA==\"/></hints>"
		     "</superblock>",
		  "mappings\nm 3 5 0\n/mappings\nhints\nh 3 01020304\n"
		  "/hints\n/sb\n" },
		{ SB "<hint cache_block=\"3\" data=\"AQIDBA==\"/></superblock>",
		  "mappings\n/mappings\nhints\nh 3 01020304\n/hints\n/sb\n" },
		{ SB "<mappings><mapping cache_block=\"3\" origin_block=\"5\" "
		     "dirty=\"false\"/></mappings>"
		     "<discard dbegin=\"0\" dend=\"100000\"/></superblock>",
		  "mappings\nm 3 5 0\n/mappings\nhints\n/hints\n"
		  "discards 0 0 no-geometry\nd 0 100000\n/discards\n/sb\n" },
		{ SB "<mappings>\n  </mappings>\n  <hints>\n  </hints>\n"
		     "  <discards>\n    <discard dbegin=\"1\" dend=\"2\"/>\n"
		     "  </discards>\n</superblock>",
		  "mappings\n/mappings\nhints\n/hints\n"
		  "discards 0 0 no-geometry\nd 1 2\n/discards\n/sb\n" },
		{ SB "<discards></discards></superblock>",
		  "mappings\n/mappings\nhints\n/hints\n"
		  "discards 0 0 no-geometry\n/discards\n/sb\n" },
		{ "<superblock hint_width='4' policy='smq' nr_cache_blocks=\"+016\"\r\n"
		  "\tblock_size = \"0128\" uuid=\"\">\r\n"
		  "<mappings><mapping dirty=\"true\" origin_block=\"+7\"\n"
		  "  cache_block=\"015\"></mapping></mappings>\r\n"
		  "<hints><hint data=\"AQIDBA==\" cache_block=\"15\" /></hints>"
		  "</superblock>",
		  "mappings\nm 15 7 1\n/mappings\nhints\nh 15 01020304\n"
		  "/hints\n/sb\n" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rec r = { 0 };
		struct xml_reader_error err;
		const char *body;
		int ret = parse(cases[i].xml, strlen(cases[i].xml), &r, &err);

		if (ret)
			fail_msg("case %zu: %d %lu:%lu %s", i, ret, err.line,
				 err.column, err.msg);
		assert_memory_equal(r.buf,
				    "sb uuid= bs=128 nr=16 policy=smq hw=4 bin=0\n",
				    44);
		body = strchr(r.buf, '\n') + 1;
		assert_string_equal(body, cases[i].want);
		free(r.buf);
	}
}

static void test_superblock_values(void **state)
{
	static const char xml[] =
		"<superblock uuid=\"0123456789abcdef\" block_size=\"4294967295\" "
		"nr_cache_blocks=\"4294967295\" policy=\"abcdefghijklmno\" "
		"hint_width=\"128\"/>";
	struct rec r = { 0 };
	struct xml_reader_error err;

	(void)state;
	/* Large nr_cache_blocks: the bitmaps are allocated, 512 MiB each in
	 * the worst case, so refuse it in begin_superblock as a consumer
	 * would. */
	r.fail_at = 1;
	r.fail_with = -ENOSPC;
	assert_int_equal(parse(xml, sizeof(xml) - 1, &r, &err), -ENOSPC);
	assert_string_equal(r.buf, "sb uuid=0123456789abcdef bs=4294967295 "
				   "nr=4294967295 policy=abcdefghijklmno "
				   "hw=128 bin=0\n");
	assert_true(err.in_callback);
	assert_int_equal(err.err, -ENOSPC);
	assert_int_equal(err.line, 1);
	assert_int_equal(err.column, 1);
	assert_string_equal(err.msg, "");
	free(r.buf);
}

/* ---- uuid and policy bytes: what the writer writes comes back ---- */

struct sb_catch {
	struct cache_emit_sb sb;
	int n;
};

static int catch_sb(void *ctx, const struct cache_emit_sb *sb)
{
	struct sb_catch *c = ctx;

	c->sb = *sb;
	c->n++;
	return 0;
}

/* Writes sb's superblock with the writer, reads it back into got. */
static void write_read_sb(const struct cache_emit_sb *sb,
			  struct cache_emit_sb *got)
{
	struct cache_emitter we, re = { .begin_superblock = catch_sb };
	struct sb_catch c = { .n = 0 };
	struct xml_reader_error err;
	struct xml_writer *w;
	int fd = memfd_create("rt", 0);

	assert_true(fd >= 0);
	assert_int_equal(xml_writer_create(fd, &w), 0);
	xml_writer_emitter(w, &we);
	assert_int_equal(we.begin_superblock(we.ctx, sb), 0);
	assert_int_equal(we.begin_mappings(we.ctx), 0);
	assert_int_equal(we.end_mappings(we.ctx), 0);
	assert_int_equal(we.begin_hints(we.ctx), 0);
	assert_int_equal(we.end_hints(we.ctx), 0);
	assert_int_equal(we.end_superblock(we.ctx), 0);
	xml_writer_destroy(w);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	re.ctx = &c;
	if (xml_read_cache(fd, &re, NULL, &err) != 0)
		fail_msg("line %lu column %lu: %s", err.line, err.column,
			 err.msg);
	close(fd);
	assert_int_equal(c.n, 1);
	*got = c.sb;
}

static void check_bytes_back(const unsigned char uuid[16],
			     const unsigned char policy[15])
{
	struct cache_emit_sb sb, got;

	memset(&sb, 0, sizeof(sb));
	sb.block_size = 64;
	sb.nr_cache_blocks = 1;
	memcpy(sb.uuid, uuid, 16);
	memcpy(sb.policy, policy, 15);
	write_read_sb(&sb, &got);
	assert_memory_equal(got.uuid, sb.uuid, sizeof(sb.uuid));
	assert_memory_equal(got.policy, sb.policy, sizeof(sb.policy));
}

static void test_byte_round_trip(void **state)
{
	unsigned char uuid[16], policy[15];
	unsigned seed = 12;

	(void)state;
	/* Every byte value in the uuid (16 at a time), 1..255 in the policy. */
	for (unsigned k = 0; k < 256; k += 16) {
		for (unsigned i = 0; i < 16; i++)
			uuid[i] = (unsigned char)(k + i);
		for (unsigned i = 0; i < 15; i++)
			policy[i] = (unsigned char)(1 + (k / 16 * 15 + i) % 255);
		check_bytes_back(uuid, policy);
	}
	/* NULs inside, at the start and at the end of the uuid. */
	memset(uuid, 0, 16);
	uuid[3] = 'a';
	check_bytes_back(uuid, (const unsigned char *)"smq\0\0\0\0\0\0\0\0\0\0\0");
	memset(uuid, 0, 16);
	uuid[15] = 0xff;
	check_bytes_back(uuid, (const unsigned char *)"\xef\x9c\x80\xef\x9f\xbf\0\0\0\0\0\0\0\0");
	/* Random strings, which mix valid and invalid UTF-8. */
	for (int n = 0; n < 2000; n++) {
		size_t plen = (size_t)(rand_r(&seed) % 16);

		for (unsigned i = 0; i < 16; i++) {
			unsigned v = (unsigned)rand_r(&seed);

			/* Bias toward UTF-8 lead and continuation bytes. */
			uuid[i] = (unsigned char)(v & 1 ? 0x80 | (v >> 8 & 0x7f)
						       : v >> 8);
		}
		memset(policy, 0, sizeof(policy));
		for (size_t i = 0; i < plen && i < 15; i++) {
			unsigned v = (unsigned)rand_r(&seed);

			policy[i] = (unsigned char)(v & 1 ? 0x80 | (v >> 8 & 0x7f)
							  : 1 + (v >> 8) % 255);
		}
		check_bytes_back(uuid, policy);
	}
}

/* What the reader makes of escapes in hand-written XML. */
static void test_byte_escapes(void **state)
{
	static const char ok[] =
		"<superblock uuid=\"&#xF700;a&#xf7ff;\xef\x9c\x81\" block_size=\"1\" "
		"nr_cache_blocks=\"0\" policy=\"&#xF741;&#63297;\xc3\xa9\" "
		"hint_width=\"0\"/>";
	static const struct {
		const char *xml;
		const char *msg;
	} bad[] = {
		/* 17 bytes once decoded, though 2 characters are escapes */
		{ "<superblock uuid=\"0123456789abcde&#xF700;&#xF700;\" "
		  "block_size=\"1\" nr_cache_blocks=\"0\" policy=\"\" "
		  "hint_width=\"0\"/>",
		  "<superblock>: uuid \"0123456789abcde\xef\x9c\x80\xef\x9c\x80\" is longer than 16 bytes" },
		/* U+00E9 is 2 bytes: 8 of them are 16 */
		{ "<superblock uuid=\"\" block_size=\"1\" nr_cache_blocks=\"0\" "
		  "policy=\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\" "
		  "hint_width=\"0\"/>",
		  "<superblock>: policy \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\" is longer than 15 bytes" },
		{ "<superblock uuid=\"\" block_size=\"1\" nr_cache_blocks=\"0\" "
		  "policy=\"a&#xF700;b\" hint_width=\"0\"/>",
		  "<superblock>: policy \"a\xef\x9c\x80\x62\" has a NUL byte (&#xF700;) in it" },
	};
	struct rec r = { 0 };
	struct xml_reader_error err;
	struct cache_emitter re = { .begin_superblock = catch_sb };
	struct sb_catch c = { .n = 0 };
	int fd;

	(void)state;
	fd = fd_of(ok, sizeof(ok) - 1);
	re.ctx = &c;
	assert_int_equal(xml_read_cache(fd, &re, NULL, &err), 0);
	close(fd);
	/* A literal U+F701 is the escape too: the range always means bytes. */
	assert_memory_equal(c.sb.uuid, "\0a\xff\x01\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	assert_string_equal(c.sb.policy, "AA\xc3\xa9");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		free(r.buf);
		memset(&r, 0, sizeof(r));
		assert_int_equal(parse(bad[i].xml, strlen(bad[i].xml), &r, &err),
				 -EINVAL);
		assert_string_equal(err.msg, bad[i].msg);
		assert_string_equal(r.buf, "");
	}
	free(r.buf);
}

static void test_hint_widths(void **state)
{
	static const struct {
		unsigned width;
		const char *data, *hex;
	} cases[] = {
		{ 4, "AAAAAA==", "00000000" },
		{ 8, "AQIDBAUGBwg=", "0102030405060708" },
		{ 12, "AQIDBAUGBwgJCgsM", "0102030405060708090a0b0c" },
		{ 16, "/////////////////////w==", "ffffffffffffffffffffffffffffffff" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char xml[512], want[512];
		struct rec r = { 0 };
		struct xml_reader_error err;

		snprintf(xml, sizeof(xml),
			 "<superblock uuid=\"\" block_size=\"64\" nr_cache_blocks=\"2\" "
			 "policy=\"p\" hint_width=\"%u\"><hints>"
			 "<hint cache_block=\"1\" data=\"%s\"/></hints></superblock>",
			 cases[i].width, cases[i].data);
		snprintf(want, sizeof(want), "h 1 %s\n", cases[i].hex);
		assert_int_equal(parse(xml, strlen(xml), &r, &err), 0);
		assert_non_null(strstr(r.buf, want));
		free(r.buf);
	}
}

/* ---- invalid input: exact message and place ---- */

struct bad {
	const char *xml;
	unsigned long line, column;
	const char *msg;
};

static const struct bad bad_cases[] = {
	/* syntax */
	{ "", 1, 1, "malformed XML: no element found" },
	{ SB "<mappings>\n</superblock>", 3, 3,
	  "malformed XML: mismatched tag" },
	{ SB "</superblock>junk", 2, 14,
	  "malformed XML: junk after document element" },
	{ SB "<mappings>&foo;</mappings></superblock>", 2, 11,
	  "malformed XML: undefined entity" },
	/* structure */
	{ "<mappings/>", 1, 1, "<mappings> is not allowed at the top level" },
	{ "<foo/>", 1, 1, "unknown element <foo>" },
	/* bare leaves: each kind in one run, in the containers' order */
	{ SB "<hints/><mapping cache_block=\"0\" origin_block=\"0\" "
	  "dirty=\"true\"/>", 2, 9,
	  "<mapping> must come before the hints and discards" },
	{ SB "<discard dbegin=\"0\" dend=\"1\"/>\n"
	  "<hint cache_block=\"0\" data=\"AAAAAA==\"/>", 3, 1,
	  "<hint> must come before the discards" },
	{ SB "<mappings/><mapping cache_block=\"0\" origin_block=\"0\" "
	  "dirty=\"true\"/>", 2, 12,
	  "<mapping> after the mappings ended (they must all be together)" },
	{ SB "<mapping cache_block=\"0\" origin_block=\"0\" dirty=\"true\"/>"
	  "<hint cache_block=\"0\" data=\"AAAAAA==\"/>"
	  "<mapping cache_block=\"1\" origin_block=\"1\" dirty=\"true\"/>",
	  2, 96,
	  "<mapping> after the mappings ended (they must all be together)" },
	{ SB "<mapping cache_block=\"0\" origin_block=\"0\" dirty=\"true\"/>"
	  "<mappings/>", 2, 57, "a second <mappings> element" },
	{ SB "<mapping cache_block=\"0\" origin_block=\"0\" dirty=\"true\"/>"
	  "<mapping cache_block=\"0\" origin_block=\"1\" dirty=\"true\"/>",
	  2, 57, "<mapping>: cache block 0 is mapped twice" },
	{ SB "<mapping cache_block=\"0\" origin_block=\"0\"/>", 2, 1,
	  "<mapping>: missing attribute dirty" },
	{ SB "<hints><mapping cache_block=\"0\" origin_block=\"0\" "
	  "dirty=\"true\"/></hints></superblock>",
	  2, 8, "<mapping> is not allowed inside <hints>" },
	{ SB "<mappings><mappings/></mappings></superblock>", 2, 11,
	  "<mappings> is not allowed inside <mappings>" },
	{ SB "<mappings><mapping cache_block=\"0\" origin_block=\"0\" "
	  "dirty=\"true\"><hint cache_block=\"0\" data=\"AAAAAA==\"/>"
	  "</mapping></mappings></superblock>",
	  2, 66, "<hint> is not allowed inside <mapping>" },
	{ SB "<mappings/><mappings/></superblock>", 2, 12,
	  "a second <mappings> element" },
	{ SB "<hints/><mappings/></superblock>", 2, 9,
	  "<mappings> must come before <hints> and <discards>" },
	{ SB "<discards discard_block_size=\"0\" discard_nr_blocks=\"0\"/>"
	  "<hints/></superblock>", 2, 57,
	  "<hints> must come before <discards>" },
	{ SB "<superblock/></superblock>", 2, 1,
	  "<superblock> is not allowed inside <superblock>" },
	{ SB "<mappings>x</mappings></superblock>", 2, 11,
	  "unexpected text \"x\" inside <mappings>" },
	{ SB "  hello world, this is a long text</superblock>", 2, 1,
	  "unexpected text \"hello world, this is...\" inside <superblock>" },
	{ SB "<mappings><mapping cache_block=\"0\" origin_block=\"0\" "
	  "dirty=\"true\">t</mapping></mappings></superblock>", 2, 66,
	  "unexpected text \"t\" inside <mapping>" },
	{ "<!DOCTYPE superblock [<!ENTITY a \"aaaaaaaaaa\">"
	  "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>\n"
	  "<superblock uuid=\"&b;\"/>", 1, 22,
	  "DOCTYPE declarations are not allowed (no DTD, no entities)" },
	{ "<?foo bar?><superblock/>", 1, 1,
	  "processing instruction <?foo?> is not allowed" },
	/* superblock attributes */
	{ "<superblock/>", 1, 1, "<superblock>: missing attribute uuid" },
	{ "<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\"16\" "
	  "policy=\"smq\"/>", 1, 1,
	  "<superblock>: missing attribute hint_width" },
	{ "<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\"16\" "
	  "policy=\"smq\" hint_width=\"4\" version=\"2\"/>", 1, 1,
	  "<superblock>: unknown attribute version" },
	{ "<superblock uuid=\"0123456789abcdefg\" block_size=\"128\" "
	  "nr_cache_blocks=\"16\" policy=\"smq\" hint_width=\"4\"/>", 1, 1,
	  "<superblock>: uuid \"0123456789abcdefg\" is longer than 16 bytes" },
	{ "<superblock uuid=\"\" block_size=\"0\" nr_cache_blocks=\"16\" "
	  "policy=\"smq\" hint_width=\"4\"/>", 1, 1,
	  "<superblock>: block_size 0 is out of range (1 to 4294967295)" },
	{ "<superblock uuid=\"\" block_size=\"4294967296\" nr_cache_blocks=\"16\" "
	  "policy=\"smq\" hint_width=\"4\"/>", 1, 1,
	  "<superblock>: block_size 4294967296 is out of range (the maximum is 4294967295)" },
	{ "<superblock uuid=\"\" block_size=\"-1\" nr_cache_blocks=\"16\" "
	  "policy=\"smq\" hint_width=\"4\"/>", 1, 1,
	  "<superblock>: block_size \"-1\" is not a decimal number" },
	{ "<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\" 16\" "
	  "policy=\"smq\" hint_width=\"4\"/>", 1, 1,
	  "<superblock>: nr_cache_blocks \" 16\" is not a decimal number" },
	{ "<superblock uuid=\"\" block_size=\"+\" nr_cache_blocks=\"16\" "
	  "policy=\"smq\" hint_width=\"4\"/>", 1, 1,
	  "<superblock>: block_size \"+\" is not a decimal number" },
	{ "<superblock uuid=\"\" block_size=\"++1\" nr_cache_blocks=\"16\" "
	  "policy=\"smq\" hint_width=\"4\"/>", 1, 1,
	  "<superblock>: block_size \"++1\" is not a decimal number" },
	{ "<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\"0x10\" "
	  "policy=\"smq\" hint_width=\"4\"/>", 1, 1,
	  "<superblock>: nr_cache_blocks \"0x10\" is not a decimal number" },
	{ "<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\"\" "
	  "policy=\"smq\" hint_width=\"4\"/>", 1, 1,
	  "<superblock>: nr_cache_blocks \"\" is not a decimal number" },
	{ "<superblock uuid=\"\" block_size=\"128\" "
	  "nr_cache_blocks=\"99999999999999999999\" policy=\"smq\" "
	  "hint_width=\"4\"/>", 1, 1,
	  "<superblock>: nr_cache_blocks 99999999999999999999 is out of range (the maximum is 4294967295)" },
	{ "<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\"16\" "
	  "policy=\"0123456789abcdef\" hint_width=\"4\"/>", 1, 1,
	  "<superblock>: policy \"0123456789abcdef\" is longer than 15 bytes" },
	{ "<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\"16\" "
	  "policy=\"smq\" hint_width=\"6\"/>", 1, 1,
	  "<superblock>: hint_width 6 is not 0 or a multiple of 4 from 4 to 128" },
	{ "<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\"16\" "
	  "policy=\"smq\" hint_width=\"132\"/>", 1, 1,
	  "<superblock>: hint_width 132 is not 0 or a multiple of 4 from 4 to 128" },
	{ "<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\"16\" "
	  "policy=\"smq\" hint_width=\"2\"/>", 1, 1,
	  "<superblock>: hint_width 2 is not 0 or a multiple of 4 from 4 to 128" },
	/* mappings */
	{ SB "<mappings>\n  <mapping cache_block=\"0\" origin_block=\"1\"/>",
	  3, 3, "<mapping>: missing attribute dirty" },
	{ SB "<mappings>\n  <mapping cache_block=\"0\" origin_block=\"1\" "
	  "dirty=\"true\" x=\"\"/>", 3, 3,
	  "<mapping>: unknown attribute x" },
	{ SB "<mappings><mapping cache_block=\"16\" origin_block=\"1\" "
	  "dirty=\"true\"/>", 2, 11,
	  "<mapping>: cache_block 16 is out of range (nr_cache_blocks is 16)" },
	{ SB "<mappings><mapping cache_block=\"1\" "
	  "origin_block=\"281474976710656\" dirty=\"true\"/>", 2, 11,
	  "<mapping>: origin_block 281474976710656 is out of range (the maximum is 281474976710655)" },
	{ SB "<mappings><mapping cache_block=\"1\" origin_block=\"1e3\" "
	  "dirty=\"true\"/>", 2, 11,
	  "<mapping>: origin_block \"1e3\" is not a decimal number" },
	{ SB "<mappings><mapping cache_block=\"1\" origin_block=\"1\" "
	  "dirty=\"1\"/>", 2, 11,
	  "<mapping>: dirty \"1\" is not \"true\" or \"false\"" },
	{ SB "<mappings><mapping cache_block=\"1\" origin_block=\"1\" "
	  "dirty=\"TRUE\"/>", 2, 11,
	  "<mapping>: dirty \"TRUE\" is not \"true\" or \"false\"" },
	{ SB "<mappings>\n<mapping cache_block=\"3\" origin_block=\"1\" "
	  "dirty=\"true\"/>\n<mapping cache_block=\"3\" origin_block=\"2\" "
	  "dirty=\"true\"/>", 4, 1,
	  "<mapping>: cache block 3 is mapped twice" },
	{ SB "<mappings><mapping cache_block=\"1\" "
	  "origin_block=\"123456789012345678901234567890123456789\" "
	  "dirty=\"true\"/>", 2, 11,
	  "<mapping>: origin_block 12345678901234567890123456789012... is out of range (the maximum is 281474976710655)" },
	/* hints */
	{ SB "<hints><hint cache_block=\"1\" data=\"AAAA\"/>", 2, 8,
	  "<hint>: data decodes to 3 bytes, but hint_width is 4" },
	{ SB "<hints><hint cache_block=\"1\" data=\"AAAAAAAA\"/>", 2, 8,
	  "<hint>: data decodes to 6 bytes, but hint_width is 4" },
	{ SB "<hints><hint cache_block=\"1\" data=\"\"/>", 2, 8,
	  "<hint>: data decodes to 0 bytes, but hint_width is 4" },
	{ SB "<hints><hint cache_block=\"1\" data=\"AAAAAA=\"/>", 2, 8,
	  "<hint>: data \"AAAAAA=\" is not valid base64" },
	{ SB "<hints><hint cache_block=\"1\" data=\"AAAA*A==\"/>", 2, 8,
	  "<hint>: data \"AAAA*A==\" is not valid base64" },
	{ SB "<hints><hint cache_block=\"1\" data=\"AA==AAAA\"/>", 2, 8,
	  "<hint>: data \"AA==AAAA\" is not valid base64" },
	{ SB "<hints><hint cache_block=\"1\" data=\"AAAAAB==\"/>", 2, 8,
	  "<hint>: data \"AAAAAB==\" is not valid base64" },
	{ SB "<hints><hint cache_block=\"1\" data=\"AAAAA=A=\"/>", 2, 8,
	  "<hint>: data \"AAAAA=A=\" is not valid base64" },
	{ SB "<hints><hint cache_block=\"1\" data=\"AAAA AA=\"/>", 2, 8,
	  "<hint>: data \"AAAA AA=\" is not valid base64" },
	{ SB "<hints><hint cache_block=\"99\" data=\"AAAAAA==\"/>", 2, 8,
	  "<hint>: cache_block 99 is out of range (nr_cache_blocks is 16)" },
	{ SB "<hints><hint cache_block=\"1\"/>", 2, 8,
	  "<hint>: missing attribute data" },
	{ SB "<hints><hint cache_block=\"2\" data=\"AAAAAA==\"/>"
	  "<hint cache_block=\"2\" data=\"AAAAAA==\"/>", 2, 47,
	  "<hint>: a second hint for cache block 2" },
	{ "<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\"16\" "
	  "policy=\"smq\" hint_width=\"0\"><hints>"
	  "<hint cache_block=\"2\" data=\"\"/>", 1, 94,
	  "<hint>: hint_width is 0, so there can be no hints" },
	/* discards */
	{ SB "<discards discard_block_size=\"0\" discard_nr_blocks=\"5\"/>",
	  2, 1,
	  "<discards>: discard_nr_blocks is 5 but discard_block_size is 0" },
	{ SB "<discards discard_block_size=\"8\"/>", 2, 1,
	  "<discards>: missing attribute discard_nr_blocks" },
	{ SB "<discards discard_block_size=\"8\" discard_nr_blocks=\"5\">"
	  "<discard dbegin=\"3\" dend=\"3\"/>", 2, 56,
	  "<discard>: dbegin 3 is not below dend 3" },
	{ SB "<discards discard_block_size=\"8\" discard_nr_blocks=\"5\">"
	  "<discard dbegin=\"3\" dend=\"6\"/>", 2, 56,
	  "<discard>: dend 6 is past discard_nr_blocks 5" },
	{ SB "<discards discard_block_size=\"8\" discard_nr_blocks=\"5\">"
	  "<discard dbegin=\"3\"/>", 2, 56,
	  "<discard>: missing attribute dend" },
	{ SB "<mappings foo=\"1\"/>", 2, 1, "<mappings>: unknown attribute foo" },
	{ SB "<hints foo=\"1\"/>", 2, 1, "<hints>: unknown attribute foo" },
};

static void test_bad_input(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad *b = &bad_cases[i];
		struct rec r = { 0 };
		struct xml_reader_error err;
		int ret = parse(b->xml, strlen(b->xml), &r, &err);

		if (ret != -EINVAL || strcmp(err.msg, b->msg) ||
		    err.line != b->line || err.column != b->column)
			fail_msg("case %zu: %s\n got %d %lu:%lu '%s'\n want "
				 "%lu:%lu '%s'", i, b->xml, ret, err.line,
				 err.column, err.msg, b->line, b->column,
				 b->msg);
		assert_false(err.in_callback);
		assert_int_equal(err.err, -EINVAL);
		free(r.buf);
	}
}

/* A failing callback stops the parse at once and is passed back. */
static void test_callback_error(void **state)
{
	static const char xml[] = SB
		"  <mappings>\n"
		"    <mapping cache_block=\"0\" origin_block=\"5\" dirty=\"false\"/>\n"
		"    <mapping cache_block=\"1\" origin_block=\"6\" dirty=\"false\"/>\n"
		"  </mappings>\n"
		"</superblock>\n";
	struct rec r = { .fail_at = 4, .fail_with = -EUCLEAN };
	struct xml_reader_error err;

	(void)state;
	assert_int_equal(parse(xml, sizeof(xml) - 1, &r, &err), -EUCLEAN);
	assert_true(err.in_callback);
	assert_int_equal(err.line, 4);
	assert_int_equal(err.column, 5);
	assert_string_equal(strchr(r.buf, '\n') + 1,
			    "mappings\nm 0 5 0\nm 1 6 0\n");

	/* end_mappings failing: the place is the end tag */
	free(r.buf);
	memset(&r, 0, sizeof(r));
	r.fail_at = 5;
	r.fail_with = -EUCLEAN;
	assert_int_equal(parse(xml, sizeof(xml) - 1, &r, &err), -EUCLEAN);
	assert_int_equal(err.line, 5);
	assert_int_equal(err.column, 3);
	free(r.buf);
}

/* The billion laughs never gets as far as expanding anything. */
static void test_billion_laughs(void **state)
{
	static const char xml[] =
		"<?xml version=\"1.0\"?>\n"
		"<!DOCTYPE lolz [\n"
		" <!ENTITY lol \"lol\">\n"
		" <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
		" <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
		" <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
		" <!ENTITY lol9 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
		"]>\n"
		"<superblock uuid=\"&lol9;\" block_size=\"1\" nr_cache_blocks=\"1\" policy=\"\" hint_width=\"0\"/>\n";
	struct rec r = { 0 };
	struct xml_reader_error err;

	(void)state;
	assert_int_equal(parse(xml, sizeof(xml) - 1, &r, &err), -EINVAL);
	assert_string_equal(err.msg,
		"DOCTYPE declarations are not allowed (no DTD, no entities)");
	assert_int_equal(err.line, 2);
	assert_int_equal(r.events, 0);
	free(r.buf);
}

/* Many chunks: 60,000 mappings (about 4 MiB) in a 60,000-block cache. */
static void test_many_chunks(void **state)
{
	enum { N = 60000 };
	size_t cap = 100 * (size_t)N + 1000, len = 0;
	char *xml = malloc(cap);
	struct rec r = { 0 };
	struct xml_reader_error err;
	unsigned long lines = 0;

	(void)state;
	assert_non_null(xml);
	len += (size_t)sprintf(xml + len,
		"<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\"%d\" "
		"policy=\"smq\" hint_width=\"4\">\n  <mappings>\n", N);
	for (int c = N - 1; c >= 0; c--)
		len += (size_t)sprintf(xml + len,
			"    <mapping cache_block=\"%d\" origin_block=\"%d\" dirty=\"%s\"/>\n",
			c, 3 * c, c % 3 ? "true" : "false");
	/* then an error at the very end, to check the line count */
	len += (size_t)sprintf(xml + len, "  </mappings>\n  <bad/>\n");
	assert_int_equal(parse(xml, len, &r, &err), -EINVAL);
	assert_int_equal(err.line, N + 4);
	assert_int_equal(err.column, 3);
	assert_string_equal(err.msg, "unknown element <bad>");
	for (size_t i = 0; i < r.len; i++)
		lines += r.buf[i] == '\n';
	assert_int_equal(lines, 1 + 1 + N + 1);
	assert_non_null(strstr(r.buf, "\nm 0 0 0\n/mappings\n"));
	assert_non_null(strstr(r.buf, "\nm 59999 179997 1\nm 59998 179994 1\n"));
	free(r.buf);
	free(xml);
}

/* A read error is reported without a place. */
static void test_read_error(void **state)
{
	struct cache_emitter e = { 0 };
	struct xml_reader_error err;
	int fd = open("/", O_RDONLY);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(xml_read_cache(fd, &e, NULL, &err), -EISDIR);
	assert_int_equal(err.line, 0);
	assert_string_equal(err.msg, "read failed: Is a directory");
	close(fd);
}


/* ---- parallel mode: the same events and errors as one parser ---- */

/*
 * A thread-safe emitter: leaves land in arrays by cache block (two
 * threads never give the same block in valid input), container events are
 * logged in order.  A cache block equal to fail_cblock fails the callback.
 */
struct arr {
	uint64_t n;
	uint64_t *map;		/* oblock * 4 + dirty * 2 + 1, 0 = none */
	uint32_t *hint;		/* first 4 bytes + 1 set flag in a side array */
	unsigned char *hinted;
	char log[256];
	uint64_t fail_cblock;
};

static void arr_log(struct arr *a, const char *what)
{
	strncat(a->log, what, sizeof(a->log) - strlen(a->log) - 1);
}

static int arr_begin_sb(void *ctx, const struct cache_emit_sb *sb)
{
	struct arr *a = ctx;

	a->n = sb->nr_cache_blocks;
	a->map = calloc(a->n, sizeof(*a->map));
	a->hint = calloc(a->n, sizeof(*a->hint));
	a->hinted = calloc(a->n, 1);
	assert_non_null(a->map);
	assert_non_null(a->hint);
	assert_non_null(a->hinted);
	arr_log(a, "S");
	return 0;
}

static int arr_end_sb(void *ctx)
{
	arr_log(ctx, "s");
	return 0;
}

static int arr_bm(void *ctx)
{
	arr_log(ctx, "M");
	return 0;
}

static int arr_em(void *ctx)
{
	arr_log(ctx, "m");
	return 0;
}

static int arr_bh(void *ctx)
{
	arr_log(ctx, "H");
	return 0;
}

static int arr_eh(void *ctx)
{
	arr_log(ctx, "h");
	return 0;
}

static int arr_mapping(void *ctx, uint64_t c, uint64_t o, int dirty)
{
	struct arr *a = ctx;

	if (c == a->fail_cblock)
		return -EDOM;
	__atomic_store_n(&a->map[c], o * 4 + (uint64_t)dirty * 2 + 1,
			 __ATOMIC_RELAXED);
	return 0;
}

static int arr_hint(void *ctx, uint64_t c, const void *data, uint32_t len)
{
	struct arr *a = ctx;
	uint32_t v;

	(void)len;
	if (c == a->fail_cblock)
		return -EDOM;
	memcpy(&v, data, 4);
	__atomic_store_n(&a->hint[c], v, __ATOMIC_RELAXED);
	__atomic_store_n(&a->hinted[c], 1, __ATOMIC_RELAXED);
	return 0;
}

static void arr_free(struct arr *a)
{
	free(a->map);
	free(a->hint);
	free(a->hinted);
}

static int parse_arr(const char *xml, size_t len, int parallel,
		     uint64_t fail_cblock, struct arr *a,
		     struct xml_reader_error *err, unsigned *splits)
{
	struct cache_emitter e = {
		.ctx = a,
		.begin_superblock = arr_begin_sb,
		.end_superblock = arr_end_sb,
		.begin_mappings = arr_bm,
		.mapping = arr_mapping,
		.end_mappings = arr_em,
		.begin_hints = arr_bh,
		.hint = arr_hint,
		.end_hints = arr_eh,
	};
	struct xml_reader_opts o = {
		.parallel = parallel,
		.nr_splits = splits,
		.split_min = 64 * 1024,
	};
	int fd = fd_of(xml, len), r;

	memset(a, 0, sizeof(*a));
	a->fail_cblock = fail_cblock;
	*splits = 0;
	r = xml_read_cache(fd, &e, &o, err);
	close(fd);
	return r;
}

/* N mappings and hints, cache block order reversed or not. */
static char *big_xml(unsigned n, int reverse, size_t *len)
{
	size_t cap = 140 * (size_t)n + 1000, l = 0;
	char *x = malloc(cap);

	assert_non_null(x);
	l += (size_t)sprintf(x + l,
		"<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\"%u\" "
		"policy=\"smq\" hint_width=\"4\">\n  <mappings>\n", n);
	for (unsigned i = 0; i < n; i++) {
		unsigned c = reverse ? n - 1 - i : i;

		l += (size_t)sprintf(x + l,
			"    <mapping cache_block=\"%u\" origin_block=\"%u\" dirty=\"%s\"/>\n",
			c, 7 * c + 3, c % 3 ? "true" : "false");
	}
	l += (size_t)sprintf(x + l, "  </mappings>\n  <hints>\n");
	for (unsigned i = 0; i < n; i++) {
		unsigned c = reverse ? n - 1 - i : i;

		l += (size_t)sprintf(x + l,
			"    <hint cache_block=\"%u\" data=\"%s\"/>\n", c,
			c % 2 ? "AQIDBA==" : "BAMCAQ==");
	}
	l += (size_t)sprintf(x + l, "  </hints>\n</superblock>\n");
	*len = l;
	return x;
}

/* Replaces the first occurrence of what (after from) by with, in place. */
static void patch(char *x, size_t *len, size_t from, const char *what,
		  const char *with)
{
	char *p = strstr(x + from, what);
	size_t wl = strlen(what), nl = strlen(with);

	assert_non_null(p);
	memmove(p + nl, p + wl, *len - (size_t)(p - x) - wl + 1);
	memcpy(p, with, nl);
	*len = *len - wl + nl;
}

#define ANY_SPLITS 99u

/* Both modes on xml: the same result, error and events. */
static void same_both_ways(const char *xml, size_t len, uint64_t fail_cblock,
			   unsigned want_splits)
{
	struct xml_reader_error e1, e2;
	struct arr a1, a2;
	unsigned s1, s2;
	int r1 = parse_arr(xml, len, 0, fail_cblock, &a1, &e1, &s1);
	int r2 = parse_arr(xml, len, 1, fail_cblock, &a2, &e2, &s2);

	assert_int_equal(s1, 0);
	if (want_splits != ANY_SPLITS && s2 != want_splits)
		fail_msg("%u splits, not %u", s2, want_splits);
	assert_int_equal(r1, r2);
	if (r1 < 0) {
		if (e1.line != e2.line || e1.column != e2.column ||
		    strcmp(e1.msg, e2.msg) || e1.in_callback != e2.in_callback)
			fail_msg("serial %lu:%lu '%s' (cb %d), parallel "
				 "%lu:%lu '%s' (cb %d)", e1.line, e1.column,
				 e1.msg, e1.in_callback, e2.line, e2.column,
				 e2.msg, e2.in_callback);
	} else {
		assert_string_equal(a1.log, a2.log);
		assert_int_equal(a1.n, a2.n);
		assert_memory_equal(a1.map, a2.map, a1.n * sizeof(*a1.map));
		assert_memory_equal(a1.hint, a2.hint, a1.n * sizeof(*a1.hint));
		assert_memory_equal(a1.hinted, a2.hinted, a1.n);
	}
	arr_free(&a1);
	arr_free(&a2);
}

enum { PN = 40000 };	/* about 2.8 MiB of mappings, 2 MiB of hints */

static void test_parallel_valid(void **state)
{
	size_t len;
	char *x;

	(void)state;
	x = big_xml(PN, 0, &len);
	same_both_ways(x, len, UINT64_MAX, 2);
	free(x);
	x = big_xml(PN, 1, &len);
	same_both_ways(x, len, UINT64_MAX, 2);
	/* a comment in the first half of the mappings: no split there */
	patch(x, &len, 0, "\n    <mapping cache_block=\"25000\"",
	      "\n<!-- <mapping cache_block=\"1\" origin_block=\"5\" dirty=\"true\"/>\n"
	      "    <mapping cache_block=\"0\" origin_block=\"5\" dirty=\"true\"/> -->"
	      "\n    <mapping cache_block=\"25000\"");
	same_both_ways(x, len, UINT64_MAX, 1);
	free(x);
}

static void test_parallel_errors(void **state)
{
	static const struct {
		size_t at_permille;	/* where to patch: 0..1000 of the file */
		const char *what, *with;
	} cases[] = {
		/* in the main parser's part */
		{ 100, "dirty=\"true\"", "dirty=\"yes\"" },
		/* in the helper's part of the mappings, and of the hints */
		{ 450, "dirty=\"false\"", "dirty=\"nope\"" },
		{ 900, "data=\"AQIDBA==\"", "data=\"AQID\"" },
		/* a tag split over the line the helper starts at */
		{ 300, "\" dirty=\"true\"/>\n", "\"\n dirty=\"true\"/>\n" },
		/* after the helper's part: counted across the skip */
		{ 997, "</hints>", "<bad/></hints>" },
		{ 560, "</mappings>", "<bad/></mappings>" },
		{ 450, "<mapping ", "<mappingx " },
		{ 450, "\n    <mapping", "\n    text <mapping" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		char *x = big_xml(PN, i % 2, &len);

		patch(x, &len, len * cases[i].at_permille / 1000, cases[i].what,
		      cases[i].with);
		same_both_ways(x, len, UINT64_MAX, ANY_SPLITS);
		free(x);
	}
}

/* A cache block in both parts, or twice in the helper's. */
static void test_parallel_twice(void **state)
{
	size_t len;
	char *x;

	(void)state;
	x = big_xml(PN, 0, &len);
	patch(x, &len, len * 400 / 1000, "cache_block=\"",
	      "cache_block=\"17\" origin_block=\"1\" dirty=\"true\"/>\n"
	      "    <mapping cache_block=\"");
	patch(x, &len, len * 400 / 1000, "cache_block=\"17\"",
	      "cache_block=\"30017\"");
	/* now 30017 is mapped twice, both in the helper's half */
	same_both_ways(x, len, UINT64_MAX, ANY_SPLITS);
	free(x);

	x = big_xml(PN, 0, &len);
	patch(x, &len, len * 400 / 1000, "cache_block=\"",
	      "cache_block=\"5\" origin_block=\"1\" dirty=\"true\"/>\n"
	      "    <mapping cache_block=\"");
	same_both_ways(x, len, UINT64_MAX, ANY_SPLITS);
	free(x);

	x = big_xml(PN, 1, &len);
	patch(x, &len, len * 930 / 1000, "cache_block=\"",
	      "cache_block=\"39990\" data=\"AAAAAA==\"/>\n"
	      "    <hint cache_block=\"");
	same_both_ways(x, len, UINT64_MAX, ANY_SPLITS);
	free(x);
}

/* A callback failing in either part. */
static void test_parallel_callback(void **state)
{
	size_t len;
	char *x = big_xml(PN, 0, &len);

	(void)state;
	same_both_ways(x, len, 1000, ANY_SPLITS);
	same_both_ways(x, len, 35000, ANY_SPLITS);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_document),
		cmocka_unit_test(test_missing_containers),
		cmocka_unit_test(test_reference_forms),
		cmocka_unit_test(test_superblock_values),
		cmocka_unit_test(test_hint_widths),
		cmocka_unit_test(test_byte_round_trip),
		cmocka_unit_test(test_byte_escapes),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_callback_error),
		cmocka_unit_test(test_billion_laughs),
		cmocka_unit_test(test_many_chunks),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_parallel_valid),
		cmocka_unit_test(test_parallel_errors),
		cmocka_unit_test(test_parallel_twice),
		cmocka_unit_test(test_parallel_callback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
