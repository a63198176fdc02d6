// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The thin writers (thin_writer.h), on the buffered line writer.  Each
 * event reserves room for its longest line first, so a line never
 * straddles a flush.
 */
#include "xml/thin_writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xml/textbuf.h"

/* Tags, attribute names and up to seven u64s. */
#define LINE_RESERVE 320u

/*
 * The superblock's and a device's lines, which both formats write as
 * literals and numbers in turn: lit[i] before value i, then tail.  The
 * mapping lines, the hot path, have a function each.
 */
struct line_format {
	const char *sb[6], *sb_snap, *sb_tail, *sb_end;
	const char *dev[5], *dev_tail, *dev_end;
};

static const struct line_format xml_lines = {
	.sb = { "<superblock uuid=\"\" time=\"", "\" transaction=\"",
		"\" flags=\"", "\" version=\"", "\" data_block_size=\"",
		"\" nr_data_blocks=\"" },
	.sb_snap = "\" metadata_snap=\"",
	.sb_tail = "\">\n",
	.sb_end = "</superblock>\n",
	.dev = { "  <device dev_id=\"", "\" mapped_blocks=\"",
		 "\" transaction=\"", "\" creation_time=\"", "\" snap_time=\"" },
	.dev_tail = "\">\n",
	.dev_end = "  </device>\n",
};

static const struct line_format human_lines = {
	.sb = { "begin superblock: \"\", ", ", ", ", ", ", ", ", ", ", " },
	.sb_snap = ", ",
	.sb_tail = "\n",
	.sb_end = "end superblock\n",
	.dev = { "device: ", "\nmapped_blocks: ", "\ntransaction: ",
		 "\ncreation time: ", "\nsnap time: " },
	.dev_tail = "\n",
	.dev_end = "\n",
};

struct thin_writer {
	struct xml_textbuf t;
	enum thin_writer_format fmt;
	const struct line_format *lines;
};

int thin_writer_create(int fd, enum thin_writer_format fmt,
		       struct thin_writer **out)
{
	struct thin_writer *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w)
		return -ENOMEM;
	if (xml_textbuf_init(&w->t, fd) < 0) {
		free(w);
		return -ENOMEM;
	}
	w->fmt = fmt;
	w->lines = fmt == THIN_WRITER_HUMAN ? &human_lines : &xml_lines;
	*out = w;
	return 0;
}

void thin_writer_destroy(struct thin_writer *w)
{
	if (!w)
		return;
	xml_textbuf_release(&w->t);
	free(w);
}

int thin_writer_empty_output(struct thin_writer *w)
{
	return xml_textbuf_empty_file(&w->t);
}

int thin_writer_flush(struct thin_writer *w)
{
	return xml_textbuf_flush(&w->t);
}

static int done(struct thin_writer *w, char *end)
{
	xml_textbuf_commit(&w->t, end);
	return 0;
}

static char *put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

/* lit[0] v[0] lit[1] v[1] ... lit[n-1] v[n-1] tail, one reserved line. */
static int put_fields(struct thin_writer *w, const char *const *lit,
		      const uint64_t *v, unsigned n, const char *tail)
{
	char *p = xml_textbuf_reserve(&w->t, LINE_RESERVE);

	if (!p)
		return w->t.err;
	for (unsigned i = 0; i < n; i++)
		p = xml_put_u64(put_str(p, lit[i]), v[i]);
	return done(w, put_str(p, tail));
}

static int begin_sb(void *ctx, const struct thin_emit_sb *sb)
{
	struct thin_writer *w = ctx;
	const struct line_format *f = w->lines;
	const char *lit[7] = { f->sb[0], f->sb[1], f->sb[2], f->sb[3],
			       f->sb[4], f->sb[5], f->sb_snap };
	const uint64_t v[7] = { sb->time, sb->trans_id, sb->flags,
				sb->version, sb->data_block_size,
				sb->nr_data_blocks, sb->metadata_snap };

	return put_fields(w, lit, v, sb->metadata_snap ? 7 : 6, f->sb_tail);
}

static int end_sb(void *ctx)
{
	struct thin_writer *w = ctx;
	int r = put_fields(w, NULL, NULL, 0, w->lines->sb_end);

	return r ? r : xml_textbuf_flush(&w->t);
}

static int begin_dev(void *ctx, const struct thin_emit_device *d)
{
	struct thin_writer *w = ctx;
	const uint64_t v[5] = { d->dev_id, d->details.mapped_blocks,
				d->details.transaction_id,
				d->details.creation_time,
				d->details.snapshotted_time };

	return put_fields(w, w->lines->dev, v, 5, w->lines->dev_tail);
}

static int end_dev(void *ctx)
{
	struct thin_writer *w = ctx;

	return put_fields(w, NULL, NULL, 0, w->lines->dev_end);
}

/* ---- XML ---- */

static int x_mapping(void *ctx, uint64_t vbegin, uint64_t dbegin,
		     uint64_t len, uint32_t time)
{
	struct thin_writer *w = ctx;
	char *p = xml_textbuf_reserve(&w->t, LINE_RESERVE);

	if (!p)
		return w->t.err;
	if (len == 1) {
		p = XML_PUT_LIT(p, "    <single_mapping origin_block=\"");
		p = xml_put_u64(p, vbegin);
		p = XML_PUT_LIT(p, "\" data_block=\"");
		p = xml_put_u64(p, dbegin);
	} else {
		p = XML_PUT_LIT(p, "    <range_mapping origin_begin=\"");
		p = xml_put_u64(p, vbegin);
		p = XML_PUT_LIT(p, "\" data_begin=\"");
		p = xml_put_u64(p, dbegin);
		p = XML_PUT_LIT(p, "\" length=\"");
		p = xml_put_u64(p, len);
	}
	p = XML_PUT_LIT(p, "\" time=\"");
	p = xml_put_u64(p, time);
	p = XML_PUT_LIT(p, "\"/>\n");
	return done(w, p);
}

/* ---- human readable ---- */

static int h_mapping(void *ctx, uint64_t vbegin, uint64_t dbegin,
		     uint64_t len, uint32_t time)
{
	struct thin_writer *w = ctx;
	char *p = xml_textbuf_reserve(&w->t, LINE_RESERVE);

	if (!p)
		return w->t.err;
	if (len == 1) {
		p = XML_PUT_LIT(p, "    ");
		p = xml_put_u64(p, vbegin);
		p = XML_PUT_LIT(p, " -> ");
		p = xml_put_u64(p, dbegin);
	} else {
		p = XML_PUT_LIT(p, "    (");
		p = xml_put_u64(p, vbegin);
		p = XML_PUT_LIT(p, "..");
		p = xml_put_u64(p, vbegin + len - 1);
		p = XML_PUT_LIT(p, ") -> (");
		p = xml_put_u64(p, dbegin);
		p = XML_PUT_LIT(p, "..");
		p = xml_put_u64(p, dbegin + len - 1);
		p = XML_PUT_LIT(p, ")");
	}
	p = XML_PUT_LIT(p, ", ");
	p = xml_put_u64(p, time);
	p = XML_PUT_LIT(p, "\n");
	return done(w, p);
}

void thin_writer_emitter(struct thin_writer *w, struct thin_emitter *e)
{
	memset(e, 0, sizeof(*e));
	e->ctx = w;
	e->begin_superblock = begin_sb;
	e->end_superblock = end_sb;
	e->begin_device = begin_dev;
	e->end_device = end_dev;
	e->mapping = w->fmt == THIN_WRITER_HUMAN ? h_mapping : x_mapping;
}
