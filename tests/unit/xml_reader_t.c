// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * xml/reader: the events a valid document produces (exactly, in order,
 * including the empty containers the reader supplies), every kind of
 * invalid input with its exact message, line and column, callback errors,
 * the DOCTYPE/entity refusal, base64 edge cases and input spanning many
 * read chunks.
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
	return add(ctx, "discards %" PRIu64 " %" PRIu64 "\n", d->block_size,
		   d->nr_blocks);
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
	{ SB "<mapping cache_block=\"0\" origin_block=\"0\" dirty=\"true\"/>",
	  2, 1, "<mapping> is not allowed inside <superblock>" },
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
	  "<superblock>: policy \"0123456789abcdef\" is longer than 15 characters" },
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_document),
		cmocka_unit_test(test_missing_containers),
		cmocka_unit_test(test_superblock_values),
		cmocka_unit_test(test_hint_widths),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_callback_error),
		cmocka_unit_test(test_billion_laughs),
		cmocka_unit_test(test_many_chunks),
		cmocka_unit_test(test_read_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
