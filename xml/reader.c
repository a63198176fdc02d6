// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The XML reader (see reader.h for what it accepts).  A small state machine
 * over expat's start/end callbacks: `where` is the container being read,
 * and every element is checked against it before its attributes are
 * parsed, so a misplaced element is reported as such and never reaches the
 * emitter.  The first error stops expat at once and is the only one
 * reported: after it, positions and state mean nothing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <expat.h>

#include "base/bitmap.h"
#include "cache/format.h"
#include "xml/reader.h"

#define READ_CHUNK (1u << 20)

enum where {
	W_TOP,		/* before <superblock> */
	W_SB,		/* inside <superblock> */
	W_MAPPINGS,
	W_HINTS,
	W_DISCARDS,
	W_LEAF,		/* inside <mapping>, <hint> or <discard> */
	W_END,		/* after </superblock> */
};

/* Containers: which the XML had, which the emitter has been told about. */
enum {
	C_MAPPINGS = 1 << 0,
	C_HINTS = 1 << 1,
	C_DISCARDS = 1 << 2,
};

struct reader {
	XML_Parser p;
	const struct cache_emitter *e;
	struct xml_reader_error *err;
	int failed;

	enum where where;
	enum where leaf_parent;		/* where to return after a leaf */
	const char *leaf;		/* the leaf's name, for messages */
	unsigned in_xml, emitted;	/* C_* */

	uint64_t nr_cache_blocks;
	uint32_t hint_width;
	uint64_t discard_nr_blocks;
	struct base_bitmap mapped;	/* cache blocks seen in <mapping> */
	struct base_bitmap hinted;	/* cache blocks seen in <hint> */
	unsigned char hint[CACHE_MAX_HINT_SIZE];
};

static const char *const where_name[] = {
	[W_TOP] = "at the top level",
	[W_SB] = "inside <superblock>",
	[W_MAPPINGS] = "inside <mappings>",
	[W_HINTS] = "inside <hints>",
	[W_DISCARDS] = "inside <discards>",
	[W_END] = "after </superblock>",
};

/* ---- errors ---- */

static void set_place(struct reader *rd)
{
	rd->err->line = (unsigned long)XML_GetCurrentLineNumber(rd->p);
	rd->err->column = (unsigned long)XML_GetCurrentColumnNumber(rd->p) + 1;
}

static void fail_stop(struct reader *rd)
{
	rd->failed = 1;
	XML_StopParser(rd->p, XML_FALSE);
}

/* Records the first error, at the current event's place, and stops. */
__attribute__((format(printf, 2, 3)))
static void fail(struct reader *rd, const char *fmt, ...)
{
	va_list ap;

	if (rd->failed)
		return;
	set_place(rd);
	rd->err->err = -EINVAL;
	rd->err->in_callback = 0;
	va_start(ap, fmt);
	vsnprintf(rd->err->msg, sizeof(rd->err->msg), fmt, ap);
	va_end(ap);
	fail_stop(rd);
}

static void fail_errno(struct reader *rd, int r, const char *what)
{
	if (rd->failed)
		return;
	set_place(rd);
	rd->err->err = r;
	rd->err->in_callback = 0;
	snprintf(rd->err->msg, sizeof(rd->err->msg), "%s", what);
	fail_stop(rd);
}

/* An emitter callback's return value: non-zero stops the parse. */
static int called(struct reader *rd, int r)
{
	if (!r || rd->failed)
		return r;
	set_place(rd);
	rd->err->err = r;
	rd->err->in_callback = 1;
	rd->err->msg[0] = '\0';
	fail_stop(rd);
	return r;
}

/*
 * Attribute values go into messages; a hostile one may be megabytes long.
 * Shows at most 32 bytes, then "...".
 */
struct quoted {
	char s[40];
};

static struct quoted quote(const char *v)
{
	struct quoted q;
	size_t n = strnlen(v, 33);

	if (n > 32)
		snprintf(q.s, sizeof(q.s), "%.32s...", v);
	else
		snprintf(q.s, sizeof(q.s), "%s", v);
	return q;
}

/* ---- attribute parsing ---- */

struct attr_spec {
	const char *elem;
	unsigned n;
	const char *names[5];
};

static const struct attr_spec sb_attrs = {
	"superblock", 5,
	{ "uuid", "block_size", "nr_cache_blocks", "policy", "hint_width" },
};
static const struct attr_spec mapping_attrs = {
	"mapping", 3, { "cache_block", "origin_block", "dirty" },
};
static const struct attr_spec hint_attrs = {
	"hint", 2, { "cache_block", "data" },
};
static const struct attr_spec discards_attrs = {
	"discards", 2, { "discard_block_size", "discard_nr_blocks" },
};
static const struct attr_spec discard_attrs = {
	"discard", 2, { "dbegin", "dend" },
};

/* vals[i] gets the value of spec->names[i]; every one is required. */
static int get_attrs(struct reader *rd, const struct attr_spec *spec,
		     const XML_Char **atts, const char **vals)
{
	unsigned i;

	for (i = 0; i < spec->n; i++)
		vals[i] = NULL;
	for (; *atts; atts += 2) {
		for (i = 0; i < spec->n; i++)
			if (!strcmp(atts[0], spec->names[i]))
				break;
		if (i == spec->n) {
			fail(rd, "<%s>: unknown attribute %s", spec->elem,
			     quote(atts[0]).s);
			return -1;
		}
		vals[i] = atts[1];
	}
	for (i = 0; i < spec->n; i++) {
		if (!vals[i]) {
			fail(rd, "<%s>: missing attribute %s", spec->elem,
			     spec->names[i]);
			return -1;
		}
	}
	return 0;
}

/* Plain decimal digits, at least one, at most max. */
static int get_u64(struct reader *rd, const char *elem, const char *name,
		   const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *c = s;

	if (!*c)
		goto bad;
	for (; *c; c++) {
		unsigned d = (unsigned)(*c - '0');

		if (d > 9)
			goto bad;
		if (v > (UINT64_MAX - d) / 10)
			goto too_big;
		v = v * 10 + d;
	}
	if (v > max)
		goto too_big;
	*out = v;
	return 0;
bad:
	fail(rd, "<%s>: %s \"%s\" is not a decimal number", elem, name,
	     quote(s).s);
	return -1;
too_big:
	fail(rd, "<%s>: %s %s is out of range (the maximum is %llu)", elem,
	     name, quote(s).s, (unsigned long long)max);
	return -1;
}

static int get_bool(struct reader *rd, const char *elem, const char *name,
		    const char *s, int *out)
{
	if (!strcmp(s, "true")) {
		*out = 1;
		return 0;
	}
	if (!strcmp(s, "false")) {
		*out = 0;
		return 0;
	}
	fail(rd, "<%s>: %s \"%s\" is not \"true\" or \"false\"", elem, name,
	     quote(s).s);
	return -1;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Canonical standard base64: groups of four, '=' padding only at the end,
 * and the bits the padding leaves over zero (so one byte string has one
 * spelling).  Decodes into out (room for max bytes) when the result fits;
 * *len gets the decoded length either way.  0 or -1.
 */
static int b64_decode(const char *s, unsigned char *out, size_t max,
		      size_t *len)
{
	size_t n = strlen(s), pad = 0, i, o = 0;

	if (n % 4)
		return -1;
	if (n && s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 1] == '=' && s[n - 2] == '=')
		pad++;
	*len = n / 4 * 3 - pad;
	for (i = 0; i < n; i += 4) {
		int v[4];
		int last = i + 4 == n;
		uint32_t w;

		for (int k = 0; k < 4; k++) {
			v[k] = b64_value((unsigned char)s[i + k]);
			if (v[k] < 0 && !(last && k >= 4 - (int)pad))
				return -1;
		}
		if (last && pad == 2 && (v[1] & 15))
			return -1;
		if (last && pad == 1 && (v[2] & 3))
			return -1;
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12;
		if (!(last && pad == 2))
			w |= (uint32_t)v[2] << 6;
		if (!(last && pad))
			w |= (uint32_t)v[3];
		for (int k = 0; k < 3 - (last ? (int)pad : 0); k++) {
			if (o < max)
				out[o] = (unsigned char)(w >> (16 - 8 * k));
			o++;
		}
	}
	return 0;
}

/* ---- the containers the emitter must always see ---- */

static int emit_mappings_if_missing(struct reader *rd)
{
	const struct cache_emitter *e = rd->e;

	if (rd->emitted & C_MAPPINGS)
		return 0;
	rd->emitted |= C_MAPPINGS;
	if (e->begin_mappings && called(rd, e->begin_mappings(e->ctx)))
		return -1;
	if (e->end_mappings && called(rd, e->end_mappings(e->ctx)))
		return -1;
	return 0;
}

static int emit_hints_if_missing(struct reader *rd)
{
	const struct cache_emitter *e = rd->e;

	if (rd->emitted & C_HINTS)
		return 0;
	rd->emitted |= C_HINTS;
	if (e->begin_hints && called(rd, e->begin_hints(e->ctx)))
		return -1;
	if (e->end_hints && called(rd, e->end_hints(e->ctx)))
		return -1;
	return 0;
}

/* ---- elements ---- */

static void start_superblock(struct reader *rd, const XML_Char **atts)
{
	const struct cache_emitter *e = rd->e;
	struct cache_emit_sb sb;
	const char *v[5];
	uint64_t bs, nr, hw;
	size_t len;

	if (get_attrs(rd, &sb_attrs, atts, v) < 0)
		return;
	memset(&sb, 0, sizeof(sb));
	len = strlen(v[0]);
	if (len > sizeof(sb.uuid)) {
		fail(rd, "<superblock>: uuid \"%s\" is longer than %zu bytes",
		     quote(v[0]).s, sizeof(sb.uuid));
		return;
	}
	memcpy(sb.uuid, v[0], len);
	if (get_u64(rd, "superblock", "block_size", v[1], UINT32_MAX, &bs) < 0)
		return;
	if (!bs) {
		fail(rd, "<superblock>: block_size 0 is out of range (1 to %u)",
		     UINT32_MAX);
		return;
	}
	if (get_u64(rd, "superblock", "nr_cache_blocks", v[2], UINT32_MAX,
		    &nr) < 0)
		return;
	len = strlen(v[3]);
	if (len >= CACHE_POLICY_NAME_SIZE) {
		fail(rd, "<superblock>: policy \"%s\" is longer than %u characters",
		     quote(v[3]).s, CACHE_POLICY_NAME_SIZE - 1);
		return;
	}
	memcpy(sb.policy, v[3], len);
	if (get_u64(rd, "superblock", "hint_width", v[4], UINT32_MAX, &hw) < 0)
		return;
	if (hw && (hw < 4 || hw > CACHE_MAX_HINT_SIZE || hw % 4)) {
		fail(rd, "<superblock>: hint_width %llu is not 0 or a multiple of 4 from 4 to %u",
		     (unsigned long long)hw, CACHE_MAX_HINT_SIZE);
		return;
	}
	sb.block_size = bs;
	sb.nr_cache_blocks = nr;
	sb.hint_width = (uint32_t)hw;
	rd->nr_cache_blocks = nr;
	rd->hint_width = (uint32_t)hw;
	if (e->begin_superblock && called(rd, e->begin_superblock(e->ctx, &sb)))
		return;
	if (base_bitmap_init(&rd->mapped, nr) < 0 ||
	    base_bitmap_init(&rd->hinted, nr) < 0) {
		fail_errno(rd, -ENOMEM, "out of memory");
		return;
	}
	rd->where = W_SB;
}

/* <mappings>, <hints>, <discards>: at most once each, in that order. */
static int container_order(struct reader *rd, unsigned c, const char *name)
{
	if (rd->in_xml & c) {
		fail(rd, "a second <%s> element", name);
		return -1;
	}
	if (rd->emitted & ~(c | (c - 1))) {
		fail(rd, "<%s> must come before %s", name,
		     c == C_MAPPINGS ? "<hints> and <discards>" : "<discards>");
		return -1;
	}
	rd->in_xml |= c;
	rd->emitted |= c;
	return 0;
}

static void start_mappings(struct reader *rd, const XML_Char **atts)
{
	const struct cache_emitter *e = rd->e;

	if (*atts) {
		fail(rd, "<mappings>: unknown attribute %s", quote(atts[0]).s);
		return;
	}
	if (container_order(rd, C_MAPPINGS, "mappings") < 0)
		return;
	if (e->begin_mappings && called(rd, e->begin_mappings(e->ctx)))
		return;
	rd->where = W_MAPPINGS;
}

static void start_hints(struct reader *rd, const XML_Char **atts)
{
	const struct cache_emitter *e = rd->e;

	if (*atts) {
		fail(rd, "<hints>: unknown attribute %s", quote(atts[0]).s);
		return;
	}
	if (container_order(rd, C_HINTS, "hints") < 0)
		return;
	if (emit_mappings_if_missing(rd) < 0)
		return;
	if (e->begin_hints && called(rd, e->begin_hints(e->ctx)))
		return;
	rd->where = W_HINTS;
}

static void start_discards(struct reader *rd, const XML_Char **atts)
{
	const struct cache_emitter *e = rd->e;
	struct cache_emit_discards d;
	const char *v[2];

	if (get_attrs(rd, &discards_attrs, atts, v) < 0)
		return;
	if (get_u64(rd, "discards", "discard_block_size", v[0], UINT64_MAX,
		    &d.block_size) < 0 ||
	    get_u64(rd, "discards", "discard_nr_blocks", v[1], UINT64_MAX,
		    &d.nr_blocks) < 0)
		return;
	if (d.nr_blocks && !d.block_size) {
		fail(rd, "<discards>: discard_nr_blocks is %llu but discard_block_size is 0",
		     (unsigned long long)d.nr_blocks);
		return;
	}
	if (container_order(rd, C_DISCARDS, "discards") < 0)
		return;
	if (emit_mappings_if_missing(rd) < 0 || emit_hints_if_missing(rd) < 0)
		return;
	if (e->begin_discards && called(rd, e->begin_discards(e->ctx, &d)))
		return;
	rd->discard_nr_blocks = d.nr_blocks;
	rd->where = W_DISCARDS;
}

static int get_cblock(struct reader *rd, const char *elem, const char *s,
		      uint64_t *cblock)
{
	if (get_u64(rd, elem, "cache_block", s, UINT64_MAX, cblock) < 0)
		return -1;
	if (*cblock >= rd->nr_cache_blocks) {
		fail(rd, "<%s>: cache_block %llu is out of range (nr_cache_blocks is %llu)",
		     elem, (unsigned long long)*cblock,
		     (unsigned long long)rd->nr_cache_blocks);
		return -1;
	}
	return 0;
}

static void start_mapping(struct reader *rd, const XML_Char **atts)
{
	const struct cache_emitter *e = rd->e;
	const char *v[3];
	uint64_t cblock, oblock;
	int dirty;

	if (get_attrs(rd, &mapping_attrs, atts, v) < 0 ||
	    get_cblock(rd, "mapping", v[0], &cblock) < 0 ||
	    get_u64(rd, "mapping", "origin_block", v[1], CACHE_MAX_OBLOCK,
		    &oblock) < 0 ||
	    get_bool(rd, "mapping", "dirty", v[2], &dirty) < 0)
		return;
	if (base_bitmap_test_and_set(&rd->mapped, cblock)) {
		fail(rd, "<mapping>: cache block %llu is mapped twice",
		     (unsigned long long)cblock);
		return;
	}
	if (e->mapping)
		called(rd, e->mapping(e->ctx, cblock, oblock, dirty));
}

static void start_hint(struct reader *rd, const XML_Char **atts)
{
	const struct cache_emitter *e = rd->e;
	const char *v[2];
	uint64_t cblock;
	size_t len;

	if (get_attrs(rd, &hint_attrs, atts, v) < 0 ||
	    get_cblock(rd, "hint", v[0], &cblock) < 0)
		return;
	if (!rd->hint_width) {
		fail(rd, "<hint>: hint_width is 0, so there can be no hints");
		return;
	}
	if (b64_decode(v[1], rd->hint, sizeof(rd->hint), &len) < 0) {
		fail(rd, "<hint>: data \"%s\" is not valid base64",
		     quote(v[1]).s);
		return;
	}
	if (len != rd->hint_width) {
		fail(rd, "<hint>: data decodes to %zu bytes, but hint_width is %u",
		     len, rd->hint_width);
		return;
	}
	if (base_bitmap_test_and_set(&rd->hinted, cblock)) {
		fail(rd, "<hint>: a second hint for cache block %llu",
		     (unsigned long long)cblock);
		return;
	}
	if (e->hint)
		called(rd, e->hint(e->ctx, cblock, rd->hint, rd->hint_width));
}

static void start_discard(struct reader *rd, const XML_Char **atts)
{
	const struct cache_emitter *e = rd->e;
	const char *v[2];
	uint64_t b, end;

	if (get_attrs(rd, &discard_attrs, atts, v) < 0 ||
	    get_u64(rd, "discard", "dbegin", v[0], UINT64_MAX, &b) < 0 ||
	    get_u64(rd, "discard", "dend", v[1], UINT64_MAX, &end) < 0)
		return;
	if (b >= end) {
		fail(rd, "<discard>: dbegin %llu is not below dend %llu",
		     (unsigned long long)b, (unsigned long long)end);
		return;
	}
	if (end > rd->discard_nr_blocks) {
		fail(rd, "<discard>: dend %llu is past discard_nr_blocks %llu",
		     (unsigned long long)end,
		     (unsigned long long)rd->discard_nr_blocks);
		return;
	}
	if (e->discard)
		called(rd, e->discard(e->ctx, b, end));
}

/* ---- expat callbacks ---- */

struct element {
	const char *name;
	enum where parent;	/* where it may appear */
	void (*start)(struct reader *rd, const XML_Char **atts);
	int leaf;
};

static const struct element elements[] = {
	{ "mapping", W_MAPPINGS, start_mapping, 1 },
	{ "hint", W_HINTS, start_hint, 1 },
	{ "discard", W_DISCARDS, start_discard, 1 },
	{ "mappings", W_SB, start_mappings, 0 },
	{ "hints", W_SB, start_hints, 0 },
	{ "discards", W_SB, start_discards, 0 },
	{ "superblock", W_TOP, start_superblock, 0 },
};

static void XMLCALL on_start(void *ctx, const XML_Char *name,
			     const XML_Char **atts)
{
	struct reader *rd = ctx;
	const struct element *el = NULL;

	if (rd->failed)
		return;
	for (size_t i = 0; i < sizeof(elements) / sizeof(elements[0]); i++) {
		if (!strcmp(name, elements[i].name)) {
			el = &elements[i];
			break;
		}
	}
	if (!el) {
		fail(rd, "unknown element <%s>", quote(name).s);
		return;
	}
	if (rd->where != el->parent) {
		if (rd->where == W_LEAF)
			fail(rd, "<%s> is not allowed inside <%s>", name,
			     rd->leaf);
		else
			fail(rd, "<%s> is not allowed %s", name,
			     where_name[rd->where]);
		return;
	}
	el->start(rd, atts);
	if (!rd->failed && el->leaf) {
		rd->leaf_parent = rd->where;
		rd->leaf = el->name;
		rd->where = W_LEAF;
	}
}

static void XMLCALL on_end(void *ctx, const XML_Char *name)
{
	struct reader *rd = ctx;
	const struct cache_emitter *e = rd->e;

	(void)name;	/* expat matched it with the start tag */
	if (rd->failed)
		return;
	switch (rd->where) {
	case W_LEAF:
		rd->where = rd->leaf_parent;
		break;
	case W_MAPPINGS:
		rd->where = W_SB;
		if (e->end_mappings)
			called(rd, e->end_mappings(e->ctx));
		break;
	case W_HINTS:
		rd->where = W_SB;
		if (e->end_hints)
			called(rd, e->end_hints(e->ctx));
		break;
	case W_DISCARDS:
		rd->where = W_SB;
		if (e->end_discards)
			called(rd, e->end_discards(e->ctx));
		break;
	case W_SB:
		rd->where = W_END;
		if (emit_mappings_if_missing(rd) < 0 ||
		    emit_hints_if_missing(rd) < 0)
			return;
		if (e->end_superblock)
			called(rd, e->end_superblock(e->ctx));
		break;
	case W_TOP:
	case W_END:
		/* expat never ends an element that was not started */
		break;
	}
}

static void XMLCALL on_text(void *ctx, const XML_Char *s, int len)
{
	struct reader *rd = ctx;

	if (rd->failed)
		return;
	for (int i = 0; i < len; i++) {
		if (s[i] != ' ' && s[i] != '\n' && s[i] != '\t' &&
		    s[i] != '\r') {
			int n = len - i < 20 ? len - i : 20;

			if (rd->where == W_LEAF)
				fail(rd, "unexpected text \"%.*s%s\" inside <%s>",
				     n, s + i, len - i > 20 ? "..." : "",
				     rd->leaf);
			else
				fail(rd, "unexpected text \"%.*s%s\" %s", n,
				     s + i, len - i > 20 ? "..." : "",
				     where_name[rd->where]);
			return;
		}
	}
}

static void XMLCALL on_doctype(void *ctx, const XML_Char *name,
			       const XML_Char *sysid, const XML_Char *pubid,
			       int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	fail(ctx, "DOCTYPE declarations are not allowed (no DTD, no entities)");
}

static void XMLCALL on_pi(void *ctx, const XML_Char *target,
			  const XML_Char *data)
{
	(void)data;
	fail(ctx, "processing instruction <?%s?> is not allowed",
	     quote(target).s);
}

/* Entities cannot be declared without a DOCTYPE; this is belt and braces. */
static void XMLCALL on_entity(void *ctx, const XML_Char *name, int is_param,
			      const XML_Char *value, int value_length,
			      const XML_Char *base, const XML_Char *system_id,
			      const XML_Char *public_id,
			      const XML_Char *notation_name)
{
	(void)name;
	(void)is_param;
	(void)value;
	(void)value_length;
	(void)base;
	(void)system_id;
	(void)public_id;
	(void)notation_name;
	fail(ctx, "entity declarations are not allowed");
}

/* ---- the parse loop ---- */

static int parse_fd(struct reader *rd, int fd, const struct xml_reader_opts *o)
{
	uint64_t total = 0;

	for (;;) {
		void *buf = XML_GetBuffer(rd->p, READ_CHUNK);
		ssize_t n;

		if (!buf) {
			fail_errno(rd, -ENOMEM, "out of memory");
			return rd->err->err;
		}
		do
			n = read(fd, buf, READ_CHUNK);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			int r = -errno;

			rd->err->line = rd->err->column = 0;
			rd->err->err = r;
			snprintf(rd->err->msg, sizeof(rd->err->msg),
				 "read failed: %s", strerror(-r));
			return r;
		}
		total += (uint64_t)n;
		if (XML_ParseBuffer(rd->p, (int)n, n == 0) != XML_STATUS_OK) {
			if (!rd->failed) {
				set_place(rd);
				rd->err->err = -EINVAL;
				snprintf(rd->err->msg, sizeof(rd->err->msg),
					 "malformed XML: %s",
					 XML_ErrorString(XML_GetErrorCode(rd->p)));
				rd->failed = 1;
			}
			return rd->err->err;
		}
		if (rd->failed)	/* stopped in the very last callback */
			return rd->err->err;
		if (o && o->progress)
			o->progress(o->ctx, total);
		if (n == 0)
			return 0;
	}
}

int xml_read_cache(int fd, const struct cache_emitter *e,
		   const struct xml_reader_opts *o,
		   struct xml_reader_error *err)
{
	struct reader rd;
	int r;

	memset(err, 0, sizeof(*err));
	memset(&rd, 0, sizeof(rd));
	rd.e = e;
	rd.err = err;
	rd.where = W_TOP;
	rd.p = XML_ParserCreate(NULL);
	if (!rd.p) {
		err->err = -ENOMEM;
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return -ENOMEM;
	}
	XML_SetUserData(rd.p, &rd);
	XML_SetElementHandler(rd.p, on_start, on_end);
	XML_SetCharacterDataHandler(rd.p, on_text);
	XML_SetStartDoctypeDeclHandler(rd.p, on_doctype);
	XML_SetProcessingInstructionHandler(rd.p, on_pi);
	XML_SetEntityDeclHandler(rd.p, on_entity);
	XML_SetParamEntityParsing(rd.p, XML_PARAM_ENTITY_PARSING_NEVER);

	r = parse_fd(&rd, fd, o);
	if (!r && rd.where != W_END) {
		/* expat reports an unfinished document itself; belt and braces */
		set_place(&rd);
		err->err = r = -EINVAL;
		snprintf(err->msg, sizeof(err->msg), "no <superblock> element");
	}
	XML_ParserFree(rd.p);
	base_bitmap_release(&rd.mapped);
	base_bitmap_release(&rd.hinted);
	return r;
}
