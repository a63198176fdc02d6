// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The XML writer (see writer.h).  Each event appends one line to
 * xml/textbuf's 1 MiB buffer; a line never straddles a flush because each
 * event first makes sure the longest line it can produce fits.  Numbers
 * are formatted two digits at a time from a table (xml_put_u64), which is
 * what makes a dump of millions of mappings cost little more than the
 * memory traffic.
 */
#include "xml/writer.h"
#include "xml/textbuf.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Room for any fixed-shape line: tags, attribute names, five u64s. */
#define LINE_RESERVE 256u
/* An escaped byte is at most 8 characters ("&#xF7HH;"). */
#define ESC_MAX 8u

/* The line buffer and the number formatting are xml/textbuf's, shared
 * with the thin writers. */
struct xml_writer {
	struct xml_textbuf tb;
};

static const char b64_table[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t xml_base64_encode(const void *in, size_t len, char *out)
{
	const unsigned char *s = in;
	char *p = out;
	size_t i = 0;

	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 |
			     s[i + 2];

		p[0] = b64_table[v >> 18];
		p[1] = b64_table[(v >> 12) & 63];
		p[2] = b64_table[(v >> 6) & 63];
		p[3] = b64_table[v & 63];
		p += 4;
	}
	if (len - i == 1) {
		p[0] = b64_table[s[i] >> 2];
		p[1] = b64_table[(s[i] & 3) << 4];
		p[2] = '=';
		p[3] = '=';
		p += 4;
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)s[i] << 8 | s[i + 1];

		p[0] = b64_table[v >> 10];
		p[1] = b64_table[(v >> 4) & 63];
		p[2] = b64_table[(v << 2) & 63];
		p[3] = '=';
		p += 4;
	}
	return (size_t)(p - out);
}

static size_t utf8_char(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (len > n)
		return 0;
	cp = s[0] & (0x7fu >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    cp == 0xfffe || cp == 0xffff ||
	    (cp >= XML_BYTE_ESCAPE && cp <= XML_BYTE_ESCAPE + 0xff))
		return 0;
	return len;
}

/*
 * n raw bytes, escaped for a double-quoted attribute: at most
 * ESC_MAX * n characters.  0.9.0 writes the bytes raw; escaping only
 * differs for strings that would otherwise make the XML unreadable, and
 * every byte string comes back from the reader as it was (writer.h).
 */
static char *put_attr_bytes(char *p, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		size_t len;

		switch (c) {
		case '&':
			p = XML_PUT_LIT(p, "&amp;");
			continue;
		case '<':
			p = XML_PUT_LIT(p, "&lt;");
			continue;
		case '>':
			p = XML_PUT_LIT(p, "&gt;");
			continue;
		case '"':
			p = XML_PUT_LIT(p, "&quot;");
			continue;
		/* As references, these three survive attribute normalisation. */
		case '\t':
			p = XML_PUT_LIT(p, "&#9;");
			continue;
		case '\n':
			p = XML_PUT_LIT(p, "&#10;");
			continue;
		case '\r':
			p = XML_PUT_LIT(p, "&#13;");
			continue;
		default:
			break;
		}
		if (c >= 0x20 && c < 0x7f) {
			*p++ = (char)c;
			continue;
		}
		len = c >= 0x80 ? utf8_char(s + i, n - i) : 0;
		if (len) {
			memcpy(p, s + i, len);
			p += len;
			i += len - 1;
			continue;
		}
		/* A byte XML cannot carry: &#xF7HH; (U+F700 + the byte). */
		p = XML_PUT_LIT(p, "&#xF7");
		*p++ = hex[c >> 4];
		*p++ = hex[c & 15];
		*p++ = ';';
	}
	return p;
}

int xml_writer_empty_output(struct xml_writer *w)
{
	return xml_textbuf_empty_file(&w->tb);
}

int xml_writer_flush(struct xml_writer *w)
{
	return xml_textbuf_flush(&w->tb);
}

/* Room for n bytes, or NULL with the buffer's error set. */
static char *reserve(struct xml_writer *w, size_t n)
{
	return xml_textbuf_reserve(&w->tb, n);
}

static int commit(struct xml_writer *w, const char *end)
{
	xml_textbuf_commit(&w->tb, end);
	return 0;
}

static int put_line(struct xml_writer *w, const char *s, size_t n)
{
	char *p = reserve(w, n);

	if (!p)
		return w->tb.err;
	memcpy(p, s, n);
	return commit(w, p + n);
}

#define PUT_LINE(w, s) put_line((w), (s), sizeof(s) - 1)

static int w_begin_superblock(void *ctx, const struct cache_emit_sb *sb)
{
	struct xml_writer *w = ctx;
	size_t uuid_len = sizeof(sb->uuid);
	char *p = reserve(w, LINE_RESERVE + ESC_MAX * (sizeof(sb->uuid) +
						       sizeof(sb->policy)));

	if (!p)
		return w->tb.err;
	p = XML_PUT_LIT(p, "<superblock uuid=\"");
	/* Raw bytes: all up to the last that is not NUL (writer.h). */
	while (uuid_len && !sb->uuid[uuid_len - 1])
		uuid_len--;
	p = put_attr_bytes(p, sb->uuid, uuid_len);
	p = XML_PUT_LIT(p, "\" block_size=\"");
	p = xml_put_u64(p, sb->block_size);
	p = XML_PUT_LIT(p, "\" nr_cache_blocks=\"");
	p = xml_put_u64(p, sb->nr_cache_blocks);
	p = XML_PUT_LIT(p, "\" policy=\"");
	p = put_attr_bytes(p, (const unsigned char *)sb->policy,
			   strnlen(sb->policy, sizeof(sb->policy)));
	p = XML_PUT_LIT(p, "\" hint_width=\"");
	p = xml_put_u64(p, sb->hint_width);
	p = XML_PUT_LIT(p, "\">\n");
	return commit(w, p);
}

static int w_end_superblock(void *ctx)
{
	struct xml_writer *w = ctx;
	int r = PUT_LINE(w, "</superblock>\n");

	return r ? r : xml_writer_flush(w);
}

static int w_begin_mappings(void *ctx)
{
	return PUT_LINE((struct xml_writer *)ctx, "  <mappings>\n");
}

static int w_end_mappings(void *ctx)
{
	return PUT_LINE((struct xml_writer *)ctx, "  </mappings>\n");
}

static int w_mapping(void *ctx, uint64_t cblock, uint64_t oblock, int dirty)
{
	struct xml_writer *w = ctx;
	char *p;

	/* Inlined fast path of reserve(): this runs once per mapping. */
	if (w->tb.err)
		return w->tb.err;
	if (XML_TEXTBUF_SIZE - w->tb.used < LINE_RESERVE && xml_writer_flush(w) < 0)
		return w->tb.err;
	p = w->tb.buf + w->tb.used;
	p = XML_PUT_LIT(p, "    <mapping cache_block=\"");
	p = xml_put_u64(p, cblock);
	p = XML_PUT_LIT(p, "\" origin_block=\"");
	p = xml_put_u64(p, oblock);
	if (dirty)
		p = XML_PUT_LIT(p, "\" dirty=\"true\"/>\n");
	else
		p = XML_PUT_LIT(p, "\" dirty=\"false\"/>\n");
	w->tb.used = (size_t)(p - w->tb.buf);
	return 0;
}

static int w_begin_hints(void *ctx)
{
	return PUT_LINE((struct xml_writer *)ctx, "  <hints>\n");
}

static int w_end_hints(void *ctx)
{
	return PUT_LINE((struct xml_writer *)ctx, "  </hints>\n");
}

static int w_hint(void *ctx, uint64_t cblock, const void *data, uint32_t len)
{
	struct xml_writer *w = ctx;
	char *p = reserve(w, LINE_RESERVE + 4 * (((size_t)len + 2) / 3));

	if (!p)
		return w->tb.err;
	p = XML_PUT_LIT(p, "    <hint cache_block=\"");
	p = xml_put_u64(p, cblock);
	p = XML_PUT_LIT(p, "\" data=\"");
	p += xml_base64_encode(data, len, p);
	p = XML_PUT_LIT(p, "\"/>\n");
	return commit(w, p);
}

static int w_begin_discards(void *ctx, const struct cache_emit_discards *d)
{
	struct xml_writer *w = ctx;
	char *p = reserve(w, LINE_RESERVE);

	if (!p)
		return w->tb.err;
	p = XML_PUT_LIT(p, "  <discards discard_block_size=\"");
	p = xml_put_u64(p, d->block_size);
	p = XML_PUT_LIT(p, "\" discard_nr_blocks=\"");
	p = xml_put_u64(p, d->nr_blocks);
	p = XML_PUT_LIT(p, "\">\n");
	return commit(w, p);
}

static int w_discard(void *ctx, uint64_t dbegin, uint64_t dend)
{
	struct xml_writer *w = ctx;
	char *p = reserve(w, LINE_RESERVE);

	if (!p)
		return w->tb.err;
	p = XML_PUT_LIT(p, "    <discard dbegin=\"");
	p = xml_put_u64(p, dbegin);
	p = XML_PUT_LIT(p, "\" dend=\"");
	p = xml_put_u64(p, dend);
	p = XML_PUT_LIT(p, "\"/>\n");
	return commit(w, p);
}

static int w_end_discards(void *ctx)
{
	return PUT_LINE((struct xml_writer *)ctx, "  </discards>\n");
}

void xml_writer_emitter(struct xml_writer *w, struct cache_emitter *e)
{
	memset(e, 0, sizeof(*e));
	e->ctx = w;
	e->begin_superblock = w_begin_superblock;
	e->end_superblock = w_end_superblock;
	e->begin_mappings = w_begin_mappings;
	e->mapping = w_mapping;
	e->end_mappings = w_end_mappings;
	e->begin_hints = w_begin_hints;
	e->hint = w_hint;
	e->end_hints = w_end_hints;
	e->begin_discards = w_begin_discards;
	e->discard = w_discard;
	e->end_discards = w_end_discards;
}

int xml_writer_create(int fd, struct xml_writer **out)
{
	struct xml_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	if (xml_textbuf_init(&w->tb, fd) < 0) {
		free(w);
		return -ENOMEM;
	}
	*out = w;
	return 0;
}

void xml_writer_destroy(struct xml_writer *w)
{
	if (!w)
		return;
	xml_textbuf_release(&w->tb);
	free(w);
}

unsigned long long xml_writer_bytes(const struct xml_writer *w)
{
	return w->tb.written;
}
