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
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <expat.h>

#include "base/bitmap.h"
#include "cache/format.h"
#include "xml/core.h"
#include "xml/reader.h"
#include "xml/writer.h"

#define READ_CHUNK (256u << 10)

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
	struct xml_core c;	/* first: the core's handlers cast to it */
	const struct cache_emitter *e;

	enum where where;
	enum where leaf_parent;		/* where to return after a leaf */
	const char *leaf;		/* the leaf's name, for messages */
	unsigned in_xml, emitted;	/* C_* */
	/*
	 * A run of bare leaves (<mapping> straight under <superblock>, as
	 * 0.9.0 reads and its test fixtures write) is an implicit container:
	 * the C_* of the one open, or 0.  It ends at the next thing at the
	 * superblock level that is not a leaf of its kind.
	 */
	unsigned implicit;

	uint64_t nr_cache_blocks;
	uint32_t hint_width;
	uint64_t discard_nr_blocks;
	int discard_geometry;		/* <discards> gave discard_nr_blocks */
	struct base_bitmap mapped;	/* cache blocks seen in <mapping> */
	struct base_bitmap hinted;	/* cache blocks seen in <hint> */
	unsigned char hint[CACHE_MAX_HINT_SIZE];

	char where_buf[40];		/* "inside <mapping>", for the core */

	/* ---- parallel mode (see "Parallel parsing" below) ---- */
	enum role { R_MAIN, R_HELPER } role;
	int track;			/* main: keep last_end */
	uint64_t last_end;		/* stream offset after the last tag */
	/* helper: file offset = stream offset + stream_to_file */
	int64_t stream_to_file;
	int skip_starts;		/* helper: synthetic tags to ignore */
	int stopped;			/* helper: at a structural event */
	uint64_t stop_at;		/* helper: its file offset */
	int borrowed;			/* bitmaps belong to another reader */
};

static const char *const where_name[] = {
	[W_TOP] = "at the top level",
	[W_SB] = "inside <superblock>",
	[W_MAPPINGS] = "inside <mappings>",
	[W_HINTS] = "inside <hints>",
	[W_DISCARDS] = "inside <discards>",
	[W_END] = "after </superblock>",
};

/* ---- errors (recorded by the core, xml/core.h) ---- */

static void set_place(struct reader *rd)
{
	xml_core_set_place(&rd->c);
}

/*
 * A helper stops (without an error) at the first event that is not a leaf
 * of its container: from there on the main parser takes over.
 */
static void helper_stop(struct reader *rd)
{
	rd->stopped = 1;
	rd->stop_at = (uint64_t)((int64_t)XML_GetCurrentByteIndex(rd->c.p) +
				 rd->stream_to_file);
	xml_core_stop(&rd->c);
}

/* The main parser: where the last start or end tag ended. */
static void track_end(struct reader *rd)
{
	uint64_t end = (uint64_t)XML_GetCurrentByteIndex(rd->c.p) +
		       (uint64_t)XML_GetCurrentByteCount(rd->c.p);

	if (end > rd->last_end)
		rd->last_end = end;
}

#define fail(rd, ...) xml_core_fail(&(rd)->c, __VA_ARGS__)

static void fail_errno(struct reader *rd, int r, const char *what)
{
	if (rd->c.failed)
		return;
	set_place(rd);
	rd->c.err->err = r;
	rd->c.err->in_callback = 0;
	snprintf(rd->c.err->msg, sizeof(rd->c.err->msg), "%s", what);
	xml_core_stop(&rd->c);
}

/* An emitter callback's return value: non-zero stops the parse. */
static int called(struct reader *rd, int r)
{
	return xml_core_called(&rd->c, r);
}

#define quote xml_quote

/* ---- attribute parsing ---- */

static const struct xml_attr_spec sb_attrs = {
	"superblock", 5, 0,
	{ "uuid", "block_size", "nr_cache_blocks", "policy", "hint_width" },
};
static const struct xml_attr_spec mapping_attrs = {
	"mapping", 3, 0, { "cache_block", "origin_block", "dirty" },
};
static const struct xml_attr_spec hint_attrs = {
	"hint", 2, 0, { "cache_block", "data" },
};
static const struct xml_attr_spec discards_attrs = {
	"discards", 2, 0, { "discard_block_size", "discard_nr_blocks" },
};
static const struct xml_attr_spec discard_attrs = {
	"discard", 2, 0, { "dbegin", "dend" },
};

/* vals[i] gets the value of spec->names[i]; every one is required. */
static int get_attrs(struct reader *rd, const struct xml_attr_spec *spec,
		     const XML_Char **atts, const char **vals)
{
	return xml_core_attrs(&rd->c, spec, atts, vals);
}

/* Decimal, as both references take them (xml_parse_u64). */
static int get_u64(struct reader *rd, const char *elem, const char *name,
		   const char *s, uint64_t max, uint64_t *out)
{
	return xml_core_u64(&rd->c, elem, name, s, max, out);
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

/*
 * A uuid or policy value as raw bytes: U+F700..U+F7FF (UTF-8 EF 9C..9F
 * 80..BF) is the byte the writer escaped (writer.h), everything else is
 * taken as it is.  *len gets the decoded length; only the first max bytes
 * are stored.  Runs once per file, so it can afford to be plain.
 */
static void decode_bytes(const char *v, unsigned char *out, size_t max,
			 size_t *len)
{
	const unsigned char *s = (const unsigned char *)v;
	size_t n = 0;

	_Static_assert(XML_BYTE_ESCAPE == 0xF700,
		       "the escape range is EF 9C..9F 80..BF in UTF-8");
	while (*s) {
		unsigned char b = *s++;

		if (b == 0xef && (s[0] & 0xfc) == 0x9c && (s[1] & 0xc0) == 0x80) {
			b = (unsigned char)((s[0] & 3) << 6 | (s[1] & 0x3f));
			s += 2;
		}
		if (n < max)
			out[n] = b;
		n++;
	}
	*len = n;
}

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
	decode_bytes(v[0], sb.uuid, sizeof(sb.uuid), &len);
	if (len > sizeof(sb.uuid)) {
		fail(rd, "<superblock>: uuid \"%s\" is longer than %zu bytes",
		     quote(v[0]).s, sizeof(sb.uuid));
		return;
	}
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
	decode_bytes(v[3], (unsigned char *)sb.policy, CACHE_POLICY_NAME_SIZE,
		     &len);
	if (len >= CACHE_POLICY_NAME_SIZE) {
		fail(rd, "<superblock>: policy \"%s\" is longer than %u bytes",
		     quote(v[3]).s, CACHE_POLICY_NAME_SIZE - 1);
		return;
	}
	if (strlen(sb.policy) != len) {
		/* On disk the name ends at its first NUL. */
		fail(rd, "<superblock>: policy \"%s\" has a NUL byte (&#xF700;) in it",
		     quote(v[3]).s);
		return;
	}
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

/*
 * <mappings>, <hints>, <discards>: at most once each, in that order, each
 * either an element or a run of bare leaves (leaf is then the leaf's name).
 */
static int container_order(struct reader *rd, unsigned c, const char *name,
			   const char *leaf)
{
	if (rd->in_xml & c) {
		if (leaf)
			fail(rd, "<%s> after the %s ended (they must all be together)",
			     leaf, name);
		else
			fail(rd, "a second <%s> element", name);
		return -1;
	}
	if (rd->emitted & ~(c | (c - 1))) {
		if (leaf)
			fail(rd, "<%s> must come before the %s", leaf,
			     c == C_MAPPINGS ? "hints and discards" : "discards");
		else
			fail(rd, "<%s> must come before %s", name,
			     c == C_MAPPINGS ? "<hints> and <discards>"
					     : "<discards>");
		return -1;
	}
	rd->in_xml |= c;
	rd->emitted |= c;
	return 0;
}

/* Ends a run of bare leaves, if one is open. */
static int close_implicit(struct reader *rd)
{
	const struct cache_emitter *e = rd->e;
	unsigned c = rd->implicit;

	rd->implicit = 0;
	if (c == C_MAPPINGS && e->end_mappings)
		return called(rd, e->end_mappings(e->ctx)) ? -1 : 0;
	if (c == C_HINTS && e->end_hints)
		return called(rd, e->end_hints(e->ctx)) ? -1 : 0;
	if (c == C_DISCARDS && e->end_discards)
		return called(rd, e->end_discards(e->ctx)) ? -1 : 0;
	return 0;
}

static int begin_discards(struct reader *rd,
			  const struct cache_emit_discards *d)
{
	const struct cache_emitter *e = rd->e;

	if (emit_mappings_if_missing(rd) < 0 || emit_hints_if_missing(rd) < 0)
		return -1;
	if (e->begin_discards && called(rd, e->begin_discards(e->ctx, d)))
		return -1;
	rd->discard_nr_blocks = d->nr_blocks;
	rd->discard_geometry = !d->no_geometry;
	return 0;
}

/*
 * A bare <mapping>, <hint> or <discard> right under <superblock>: opens
 * its implicit container unless one of its kind is open.  A bare run of
 * discards has no geometry, like an attribute-less <discards>.
 */
static int open_implicit(struct reader *rd, const char *leaf)
{
	const struct cache_emitter *e = rd->e;
	static const struct cache_emit_discards none = { .no_geometry = 1 };
	unsigned c;

	c = !strcmp(leaf, "mapping") ? C_MAPPINGS :
	    !strcmp(leaf, "hint") ? C_HINTS : C_DISCARDS;
	if (rd->implicit == c)
		return 0;
	if (close_implicit(rd) < 0)
		return -1;
	if (container_order(rd, c, c == C_MAPPINGS ? "mappings" :
				   c == C_HINTS ? "hints" : "discards", leaf) < 0)
		return -1;
	rd->implicit = c;
	if (c == C_MAPPINGS)
		return e->begin_mappings &&
		       called(rd, e->begin_mappings(e->ctx)) ? -1 : 0;
	if (c == C_HINTS) {
		if (emit_mappings_if_missing(rd) < 0)
			return -1;
		return e->begin_hints &&
		       called(rd, e->begin_hints(e->ctx)) ? -1 : 0;
	}
	return begin_discards(rd, &none);
}

static void start_mappings(struct reader *rd, const XML_Char **atts)
{
	const struct cache_emitter *e = rd->e;

	if (*atts) {
		fail(rd, "<mappings>: unknown attribute %s", quote(atts[0]).s);
		return;
	}
	if (close_implicit(rd) < 0 ||
	    container_order(rd, C_MAPPINGS, "mappings", NULL) < 0)
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
	if (close_implicit(rd) < 0 ||
	    container_order(rd, C_HINTS, "hints", NULL) < 0)
		return;
	if (emit_mappings_if_missing(rd) < 0)
		return;
	if (e->begin_hints && called(rd, e->begin_hints(e->ctx)))
		return;
	rd->where = W_HINTS;
}

static void start_discards(struct reader *rd, const XML_Char **atts)
{
	struct cache_emit_discards d;
	const char *v[2];

	memset(&d, 0, sizeof(d));
	if (!*atts) {
		/* 0.9.0's and the newer tools' form: ranges, no geometry. */
		d.no_geometry = 1;
	} else {
		if (get_attrs(rd, &discards_attrs, atts, v) < 0)
			return;
		if (get_u64(rd, "discards", "discard_block_size", v[0],
			    UINT64_MAX, &d.block_size) < 0 ||
		    get_u64(rd, "discards", "discard_nr_blocks", v[1],
			    UINT64_MAX, &d.nr_blocks) < 0)
			return;
		if (d.nr_blocks && !d.block_size) {
			fail(rd, "<discards>: discard_nr_blocks is %llu but discard_block_size is 0",
			     (unsigned long long)d.nr_blocks);
			return;
		}
	}
	if (close_implicit(rd) < 0 ||
	    container_order(rd, C_DISCARDS, "discards", NULL) < 0)
		return;
	if (begin_discards(rd, &d) < 0)
		return;
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
	if (rd->discard_geometry && end > rd->discard_nr_blocks) {
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

/* An event: whatever token was pending ended. */
static void mark_event(struct reader *rd)
{
	xml_core_mark(&rd->c);
}

static void XMLCALL on_start(void *ctx, const XML_Char *name,
			     const XML_Char **atts)
{
	struct reader *rd = ctx;
	const struct element *el = NULL;

	mark_event(rd);
	if (rd->c.failed)
		return;
	if (rd->skip_starts) {
		rd->skip_starts--;
		return;
	}
	if (rd->track)
		track_end(rd);
	for (size_t i = 0; i < sizeof(elements) / sizeof(elements[0]); i++) {
		if (!strcmp(name, elements[i].name)) {
			el = &elements[i];
			break;
		}
	}
	if (rd->role == R_HELPER && !(el && el->leaf && el->parent == rd->where)) {
		helper_stop(rd);
		return;
	}
	if (!el) {
		fail(rd, "unknown element <%s>", quote(name).s);
		return;
	}
	if (rd->where == W_SB && el->leaf && open_implicit(rd, el->name) < 0)
		return;
	if (rd->where != el->parent && !(rd->where == W_SB && el->leaf)) {
		if (rd->where == W_LEAF)
			fail(rd, "<%s> is not allowed inside <%s>", name,
			     rd->leaf);
		else
			fail(rd, "<%s> is not allowed %s", name,
			     where_name[rd->where]);
		return;
	}
	el->start(rd, atts);
	if (!rd->c.failed && el->leaf) {
		rd->leaf_parent = rd->where;
		rd->leaf = el->name;
		rd->where = W_LEAF;
	}
}

static void XMLCALL on_end(void *ctx, const XML_Char *name)
{
	struct reader *rd = ctx;

	mark_event(rd);
	const struct cache_emitter *e = rd->e;

	(void)name;	/* expat matched it with the start tag */
	if (rd->c.failed)
		return;
	if (rd->track)
		track_end(rd);
	if (rd->role == R_HELPER && rd->where != W_LEAF) {
		helper_stop(rd);
		return;
	}
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
		if (close_implicit(rd) < 0 ||
		    emit_mappings_if_missing(rd) < 0 ||
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

/* Where the parser is, for the core's "unexpected text" message. */
static const char *where_of(void *ctx)
{
	struct reader *rd = ctx;

	if (rd->where != W_LEAF)
		return where_name[rd->where];
	snprintf(rd->where_buf, sizeof(rd->where_buf), "inside <%s>", rd->leaf);
	return rd->where_buf;
}

/* ---- the parse loop ---- */

static int read_error(struct reader *rd, int r)
{
	return xml_core_read_error(&rd->c, r);
}

/* expat refused the input (or we stopped it: then the error is set). */
static int parse_error(struct reader *rd)
{
	return xml_core_parse_error(&rd->c);
}

/* pread() or read() (off < 0) of up to len bytes; 0 at the end. */
static ssize_t read_at(int fd, void *buf, size_t len, int64_t off)
{
	ssize_t n;

	do
		n = off < 0 ? read(fd, buf, len) : pread(fd, buf, len, off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* Feeds len bytes (at file offset off, or the next ones) to the parser. */
static int feed(struct reader *rd, int fd, int64_t off, size_t len,
		ssize_t *got)
{
	enum XML_Status st;
	ssize_t n = 0;

	if (len) {
		void *buf = XML_GetBuffer(rd->c.p, (int)len);

		if (!buf) {
			fail_errno(rd, -ENOMEM, "out of memory");
			return -ENOMEM;
		}
		n = read_at(fd, buf, len, off);
		if (n < 0)
			return read_error(rd, (int)n);
	}
	*got = n;
	if (n)
		st = XML_ParseBuffer(rd->c.p, (int)n, 0);
	else
		st = XML_Parse(rd->c.p, "", 0, 1);
	if (st != XML_STATUS_OK)
		return rd->stopped ? 0 : parse_error(rd);
	rd->c.fed += (uint64_t)n;
	if (!rd->c.failed && rd->c.fed - rd->c.last_event > XML_CORE_MAX_TOKEN) {
		fail(rd, "a single tag, comment or name longer than %u bytes: "
		     "not %s", XML_CORE_MAX_TOKEN, rd->c.what);
		return rd->c.err->err;
	}
	return rd->c.failed && !rd->stopped ? rd->c.err->err : 0;
}

/*
 * Parallel parsing.
 *
 * expat is the ceiling of a one-thread reader, so a big regular file is
 * read by two parsers at once.  When the main parser is inside <mappings>
 * (or <hints>) with much of that container still ahead, a helper thread
 * starts a second parser at a line S about half-way through the rest of
 * the container, fed with "<superblock><mappings>" first so that it is in
 * the same place, and the main parser reads on up to S only.  The helper
 * emits the leaves it reads (mapping() and hint() may be called from two
 * threads: restore.h) and stops, without emitting it, at the first event
 * that is not a leaf of its container, at file offset T.
 *
 * That is only right if S really is between two leaves of the same
 * container.  Two checks make sure:
 *   - before emitting anything, the helper scans the bytes from the main
 *     parser's last tag to S: every '<' there must open or close a leaf
 *     of the container.  No comment, CDATA, PI or other element can hide
 *     S, and the main parser emits no container event until S.
 *   - at S the main parser must be in that container, with only white
 *     space after its last tag.
 * When the scan fails the helper emits nothing and the main parser just
 * reads on.  When the second check fails, S was inside a tag, which makes
 * the document invalid: the main parser reads on from S and finds the
 * error there.  (If the check ever failed on valid input, re-reading
 * [S, T) would stage the same leaves again, which is harmless.)
 *
 * When both hold, [S, T) is leaves and white space only, so the main
 * parser can skip it: it reads on from T, in the same state.  Cache blocks
 * that both parsers saw are a "mapped twice" error; the exact place is
 * found by reading [S, T) once more against the main parser's bitmaps.
 * An error in the helper's part counts when the main part had none.
 * Errors after a skip have their line and column counted from the file,
 * since expat never saw the skipped lines.
 */

#define PAR_MIN_BYTES (8ull << 20)	/* do not split less than this */
#define MAX_JUMPS 4

struct split {
	pthread_t thread;
	int fd;
	uint64_t scan_from, S, size;
	enum where kind;
	struct reader h;
	struct xml_reader_error err;
	int scan_failed;
	int ran;		/* the helper parsed (and maybe emitted) */
};

struct jump {
	uint64_t stream_at;	/* main stream offset where it happened */
	uint64_t skipped;	/* bytes skipped there */
};

struct main_state {
	int fd;
	uint64_t size;		/* 0: not a regular file, no splits */
	unsigned tried;		/* C_MAPPINGS / C_HINTS split already */
	uint64_t fed;		/* main stream bytes so far */
	struct jump jumps[MAX_JUMPS];
	unsigned nr_jumps;
	int err_in_file;	/* err_file below holds the error's place */
	uint64_t err_file;
	unsigned *nr_splits;
	uint64_t min;		/* PAR_MIN_BYTES or the test's value */
};

static uint64_t file_off(const struct main_state *ms, uint64_t stream)
{
	uint64_t off = stream;

	for (unsigned i = 0; i < ms->nr_jumps; i++)
		if (ms->jumps[i].stream_at <= stream)
			off += ms->jumps[i].skipped;
	return off;
}

static const char *kind_tag(enum where kind)
{
	return kind == W_MAPPINGS ? "mapping" : "hint";
}

/*
 * Does the first line starting after x open a leaf of kind?  *line gets
 * that line's offset.
 */
static int probe(int fd, uint64_t x, enum where kind, uint64_t *line)
{
	char buf[512];
	const char *tag = kind_tag(kind);
	size_t tl = strlen(tag);
	ssize_t n = read_at(fd, buf, sizeof(buf), (int64_t)x);
	char *nl;
	ssize_t i;

	if (n <= 0)
		return 0;
	nl = memchr(buf, '\n', (size_t)n);
	if (!nl)
		return 0;
	i = nl - buf + 1;
	*line = x + (uint64_t)i;
	while (i < n && (buf[i] == ' ' || buf[i] == '\t'))
		i++;
	return i + 1 + (ssize_t)tl < n && buf[i] == '<' &&
	       !memcmp(buf + i + 1, tag, tl) && buf[i + 1 + tl] == ' ';
}

/*
 * Every '<' in [from, to) opens ("<tag ") or closes ("</tag>") a leaf of
 * kind; nothing else is markup there.
 */
static int scan_leaves_only(int fd, uint64_t from, uint64_t to,
			    enum where kind)
{
	enum { BUF = 256 * 1024, LOOK = 16 };
	const char *tag = kind_tag(kind);
	size_t tl = strlen(tag);
	char *buf = malloc(BUF + LOOK);
	int ok = buf != NULL;

	while (ok && from < to) {
		size_t want = to - from < BUF ? to - from : BUF;
		ssize_t n = read_at(fd, buf, want + LOOK, (int64_t)from);
		char *p, *end;

		if (n < (ssize_t)want) {
			ok = 0;
			break;
		}
		end = buf + want;
		for (p = buf; ok && (p = memchr(p, '<', (size_t)(end - p)));
		     p++) {
			const char *q = p + 1;

			if (q + tl + 2 > buf + n) {
				ok = 0;
			} else if (*q == '/') {
				ok = !memcmp(q + 1, tag, tl) && q[1 + tl] == '>';
			} else {
				ok = !memcmp(q, tag, tl) && q[tl] == ' ';
			}
		}
		from += want;
	}
	free(buf);
	return ok;
}

static void *helper_main(void *arg)
{
	struct split *sp = arg;
	struct reader *h = &sp->h;
	char prefix[40];
	int64_t off = (int64_t)sp->S;
	int len;

	if (!scan_leaves_only(sp->fd, sp->scan_from, sp->S, sp->kind)) {
		sp->scan_failed = 1;
		return NULL;
	}
	sp->ran = 1;
	len = snprintf(prefix, sizeof(prefix), "<superblock><%ss>",
		       kind_tag(sp->kind));
	h->stream_to_file = (int64_t)sp->S - len;
	if (XML_Parse(h->c.p, prefix, len, 0) != XML_STATUS_OK) {
		parse_error(h);
		return NULL;
	}
	/* The token bound counts the prefix as fed. */
	h->c.fed += (uint64_t)len;
	for (;;) {
		size_t want = READ_CHUNK;
		ssize_t n = 0;

		if ((uint64_t)off < sp->size && sp->size - (uint64_t)off < want)
			want = sp->size - (uint64_t)off;
		if ((uint64_t)off >= sp->size)
			want = 0;
		if (feed(h, sp->fd, off, want, &n) < 0 || h->stopped || !n)
			break;
		off += n;
	}
	return NULL;
}

static int reader_init(struct reader *rd, const struct cache_emitter *e,
		       struct xml_reader_error *err)
{
	memset(rd, 0, sizeof(*rd));
	rd->e = e;
	rd->where = W_TOP;
	rd->c.what = "cache metadata XML";
	rd->c.where = where_of;
	return xml_core_init(&rd->c, rd, err, on_start, on_end);
}

static void reader_release(struct reader *rd)
{
	xml_core_release(&rd->c);
	if (!rd->borrowed) {
		base_bitmap_release(&rd->mapped);
		base_bitmap_release(&rd->hinted);
	}
}

/* A helper reader in the main reader's container, on its own bitmaps. */
static int helper_init(struct reader *h, const struct reader *rd,
		       const struct cache_emitter *e,
		       struct xml_reader_error *err)
{
	if (reader_init(h, e, err) < 0)
		return -ENOMEM;
	h->role = R_HELPER;
	h->where = rd->where;
	h->in_xml = h->emitted = C_MAPPINGS | C_HINTS | C_DISCARDS;
	h->skip_starts = 2;
	h->nr_cache_blocks = rd->nr_cache_blocks;
	h->hint_width = rd->hint_width;
	h->discard_nr_blocks = rd->discard_nr_blocks;
	if (base_bitmap_init(&h->mapped, rd->nr_cache_blocks) < 0 ||
	    base_bitmap_init(&h->hinted, rd->nr_cache_blocks) < 0)
		return -ENOMEM;
	return 0;
}

/*
 * Between chunks: start a helper when the main parser is in a leaf
 * container with at least 2 * PAR_MIN_BYTES of it ahead.  The container's
 * end is found by bisection over lines.  Returns the split or NULL.
 */
static struct split *try_split(struct reader *rd, struct main_state *ms,
			       uint64_t off)
{
	enum where kind = rd->where;
	unsigned c = kind == W_MAPPINGS ? C_MAPPINGS : C_HINTS;
	uint64_t lo = off, hi = ms->size, line, S;
	struct split *sp;

	if (!ms->size || (kind != W_MAPPINGS && kind != W_HINTS) ||
	    (ms->tried & c) || ms->nr_jumps == MAX_JUMPS ||
	    ms->size - off < 2 * ms->min)
		return NULL;
	ms->tried |= c;
	while (hi - lo > 4096) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (probe(ms->fd, mid, kind, &line))
			lo = mid;
		else
			hi = mid;
	}
	if (lo - off < 2 * ms->min ||
	    !probe(ms->fd, off + (lo - off) / 2, kind, &S))
		return NULL;
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return NULL;
	sp->fd = ms->fd;
	sp->scan_from = file_off(ms, rd->last_end);
	sp->S = S;
	sp->size = ms->size;
	sp->kind = kind;
	if (sp->scan_from > off || helper_init(&sp->h, rd, rd->e, &sp->err) ||
	    pthread_create(&sp->thread, NULL, helper_main, sp)) {
		reader_release(&sp->h);
		free(sp);
		return NULL;
	}
	return sp;
}

static void split_free(struct split *sp)
{
	reader_release(&sp->h);
	free(sp);
}

/* [from, to) of the file is white space only. */
static int blank_between(int fd, uint64_t from, uint64_t to)
{
	char buf[4096];
	ssize_t n;

	if (from > to || to - from > sizeof(buf))
		return 0;
	n = read_at(fd, buf, (size_t)(to - from), (int64_t)from);
	if (n != (ssize_t)(to - from))
		return 0;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' &&
		    buf[i] != '\r')
			return 0;
	return 1;
}

static int bitmaps_meet(const struct base_bitmap *a,
			const struct base_bitmap *b)
{
	for (uint64_t i = 0; i < (a->nr_bits + 63) / 64; i++)
		if (a->words[i] & b->words[i])
			return 1;
	return 0;
}

static void bitmap_merge(struct base_bitmap *into,
			 const struct base_bitmap *from)
{
	for (uint64_t i = 0; i < (into->nr_bits + 63) / 64; i++)
		into->words[i] |= from->words[i];
}

/*
 * A cache block both parsers saw: read the helper's part again, emitting
 * nothing, against the main parser's bitmaps, for the first error there
 * in document order.
 */
static void locate_twice(struct reader *rd, struct split *sp,
			 struct xml_reader_error *out, uint64_t *at)
{
	static const struct cache_emitter none;
	struct split l;

	memset(&l, 0, sizeof(l));
	l.fd = sp->fd;
	l.S = l.scan_from = sp->S;
	l.size = sp->size;
	l.kind = sp->kind;
	if (reader_init(&l.h, &none, &l.err) < 0) {
		out->err = -ENOMEM;
		snprintf(out->msg, sizeof(out->msg), "out of memory");
		return;
	}
	l.h.role = R_HELPER;
	l.h.where = sp->kind;
	l.h.in_xml = l.h.emitted = C_MAPPINGS | C_HINTS | C_DISCARDS;
	l.h.skip_starts = 2;
	l.h.nr_cache_blocks = rd->nr_cache_blocks;
	l.h.hint_width = rd->hint_width;
	l.h.discard_nr_blocks = rd->discard_nr_blocks;
	l.h.mapped = rd->mapped;
	l.h.hinted = rd->hinted;
	l.h.borrowed = 1;
	helper_main(&l);
	*out = l.err;
	*at = (uint64_t)((int64_t)l.h.c.err_stream + l.h.stream_to_file);
	if (!l.err.err) {
		/* cannot happen: both saw a block, so this reading fails */
		out->err = -EINVAL;
		snprintf(out->msg, sizeof(out->msg), "a cache block given twice");
	}
	reader_release(&l.h);
}

/*
 * The main parser has read up to S and the helper has finished: take the
 * helper's part, or not.  Returns 0 to read on from *off, or the error.
 */
static int join(struct reader *rd, struct main_state *ms, struct split *sp,
		uint64_t *off)
{
	pthread_join(sp->thread, NULL);
	if (sp->scan_failed || rd->where != sp->kind ||
	    !blank_between(ms->fd, file_off(ms, rd->last_end), sp->S))
		return 0;	/* read on from S */
	if (bitmaps_meet(&rd->mapped, &sp->h.mapped) ||
	    bitmaps_meet(&rd->hinted, &sp->h.hinted)) {
		struct xml_reader_error e;
		uint64_t at = 0;

		locate_twice(rd, sp, &e, &at);
		*rd->c.err = e;
		ms->err_in_file = e.line != 0;
		ms->err_file = at;
		rd->c.failed = 1;
		return e.err;
	}
	if (sp->h.c.failed && !sp->h.stopped) {
		*rd->c.err = sp->err;
		if (sp->err.line) {
			ms->err_in_file = 1;
			ms->err_file = (uint64_t)((int64_t)sp->h.c.err_stream +
						  sp->h.stream_to_file);
		}
		rd->c.failed = 1;
		return sp->err.err;
	}
	bitmap_merge(&rd->mapped, &sp->h.mapped);
	bitmap_merge(&rd->hinted, &sp->h.hinted);
	if (!sp->h.stopped)
		sp->h.stop_at = ms->size;
	ms->jumps[ms->nr_jumps].stream_at = ms->fed;
	ms->jumps[ms->nr_jumps].skipped = sp->h.stop_at - sp->S;
	ms->nr_jumps++;
	*off = sp->h.stop_at;
	if (ms->nr_splits)
		(*ms->nr_splits)++;
	return 0;
}

static int parse_main(struct reader *rd, struct main_state *ms,
		      const struct xml_reader_opts *o)
{
	struct split *sp = NULL;
	uint64_t off = 0;
	int r = 0;

	for (;;) {
		uint64_t limit = sp ? sp->S : UINT64_MAX;
		size_t want = READ_CHUNK;
		ssize_t n;

		if (limit - off < want)
			want = (size_t)(limit - off);
		if (sp && !want) {
			r = join(rd, ms, sp, &off);
			split_free(sp);
			sp = NULL;
			if (r < 0)
				break;
			continue;
		}
		r = feed(rd, ms->fd, ms->size ? (int64_t)off : -1, want, &n);
		if (r < 0)
			break;
		off += (uint64_t)n;
		ms->fed += (uint64_t)n;
		if (o && o->progress)
			o->progress(o->ctx, off);
		if (n == 0)
			break;
		if (!sp && ms->size)
			sp = try_split(rd, ms, off);
	}
	if (sp) {
		pthread_join(sp->thread, NULL);
		split_free(sp);
	}
	return r;
}

/*
 * Line and column of a file offset, counted as expat counts them: a line
 * ends at LF, CR LF or CR; a column is a character (UTF-8 continuation
 * bytes do not count).
 */
static void place_of(int fd, uint64_t target, unsigned long *line,
		     unsigned long *column)
{
	char buf[65536];
	uint64_t off = 0;
	unsigned long l = 1, c = 0;
	int cr = 0;

	while (off < target) {
		size_t want = target - off < sizeof(buf) ? target - off
							 : sizeof(buf);
		ssize_t n = read_at(fd, buf, want, (int64_t)off);

		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)buf[i];

			if (ch == '\n') {
				if (!cr)
					l++;
				c = 0;
			} else if (ch == '\r') {
				l++;
				c = 0;
			} else if ((ch & 0xc0) != 0x80) {
				c++;
			}
			cr = ch == '\r';
		}
		off += (uint64_t)n;
	}
	*line = l;
	*column = c + 1;
}

int xml_read_cache(int fd, const struct cache_emitter *e,
		   const struct xml_reader_opts *o,
		   struct xml_reader_error *err)
{
	struct main_state ms;
	struct reader rd;
	struct stat st;
	int r;

	memset(err, 0, sizeof(*err));
	memset(&ms, 0, sizeof(ms));
	ms.fd = fd;
	ms.nr_splits = o ? o->nr_splits : NULL;
	ms.min = o && o->split_min ? o->split_min : PAR_MIN_BYTES;
	if (o && o->parallel && !fstat(fd, &st) && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size >= 4 * ms.min &&
	    lseek(fd, 0, SEEK_CUR) == 0)
		ms.size = (uint64_t)st.st_size;
	if (reader_init(&rd, e, err) < 0) {
		reader_release(&rd);
		err->err = -ENOMEM;
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return -ENOMEM;
	}
	rd.track = ms.size != 0;

	r = parse_main(&rd, &ms, o);
	if (!r && rd.where != W_END) {
		/* expat reports an unfinished document itself; belt and braces */
		set_place(&rd);
		err->err = r = -EINVAL;
		snprintf(err->msg, sizeof(err->msg), "no <superblock> element");
	}
	if (r < 0 && err->line && ms.nr_jumps) {
		/* expat's count missed the skipped lines */
		if (!ms.err_in_file) {
			ms.err_in_file = 1;
			ms.err_file = file_off(&ms, rd.c.err_stream);
		}
	}
	if (r < 0 && err->line && ms.err_in_file)
		place_of(fd, ms.err_file, &err->line, &err->column);
	reader_release(&rd);
	return r;
}
