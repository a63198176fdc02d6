// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The thin writers (thin_writer.h), on the buffered line writer.  Each
 * event reserves room for its longest line first, so a line never
 * straddles a flush.
 */
#include "xml/thin_writer.h"

#include <errno.h>
#include <stdlib.h>

#include "xml/textbuf.h"

/* Tags, attribute names and up to seven u64s. */
#define LINE_RESERVE 320u

struct thin_writer {
	struct xml_textbuf t;
	enum thin_writer_format fmt;
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

int thin_writer_flush(struct thin_writer *w)
{
	return xml_textbuf_flush(&w->t);
}

static int done(struct thin_writer *w, char *end)
{
	xml_textbuf_commit(&w->t, end);
	return 0;
}

/* ---- XML ---- */

static int x_begin_sb(void *ctx, const struct thin_emit_sb *sb)
{
	struct thin_writer *w = ctx;
	char *p = xml_textbuf_reserve(&w->t, LINE_RESERVE);

	if (!p)
		return w->t.err;
	p = XML_PUT_LIT(p, "<superblock uuid=\"\" time=\"");
	p = xml_put_u64(p, sb->time);
	p = XML_PUT_LIT(p, "\" transaction=\"");
	p = xml_put_u64(p, sb->trans_id);
	p = XML_PUT_LIT(p, "\" flags=\"");
	p = xml_put_u64(p, sb->flags);
	p = XML_PUT_LIT(p, "\" version=\"");
	p = xml_put_u64(p, sb->version);
	p = XML_PUT_LIT(p, "\" data_block_size=\"");
	p = xml_put_u64(p, sb->data_block_size);
	p = XML_PUT_LIT(p, "\" nr_data_blocks=\"");
	p = xml_put_u64(p, sb->nr_data_blocks);
	if (sb->metadata_snap) {
		p = XML_PUT_LIT(p, "\" metadata_snap=\"");
		p = xml_put_u64(p, sb->metadata_snap);
	}
	p = XML_PUT_LIT(p, "\">\n");
	return done(w, p);
}

static int x_end_sb(void *ctx)
{
	struct thin_writer *w = ctx;
	char *p = xml_textbuf_reserve(&w->t, LINE_RESERVE);

	if (!p)
		return w->t.err;
	p = XML_PUT_LIT(p, "</superblock>\n");
	done(w, p);
	return xml_textbuf_flush(&w->t);
}

static int x_begin_dev(void *ctx, const struct thin_emit_device *d)
{
	struct thin_writer *w = ctx;
	char *p = xml_textbuf_reserve(&w->t, LINE_RESERVE);

	if (!p)
		return w->t.err;
	p = XML_PUT_LIT(p, "  <device dev_id=\"");
	p = xml_put_u64(p, d->dev_id);
	p = XML_PUT_LIT(p, "\" mapped_blocks=\"");
	p = xml_put_u64(p, d->details.mapped_blocks);
	p = XML_PUT_LIT(p, "\" transaction=\"");
	p = xml_put_u64(p, d->details.transaction_id);
	p = XML_PUT_LIT(p, "\" creation_time=\"");
	p = xml_put_u64(p, d->details.creation_time);
	p = XML_PUT_LIT(p, "\" snap_time=\"");
	p = xml_put_u64(p, d->details.snapshotted_time);
	p = XML_PUT_LIT(p, "\">\n");
	return done(w, p);
}

static int x_end_dev(void *ctx)
{
	struct thin_writer *w = ctx;
	char *p = xml_textbuf_reserve(&w->t, LINE_RESERVE);

	if (!p)
		return w->t.err;
	p = XML_PUT_LIT(p, "  </device>\n");
	return done(w, p);
}

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

static int h_begin_sb(void *ctx, const struct thin_emit_sb *sb)
{
	struct thin_writer *w = ctx;
	char *p = xml_textbuf_reserve(&w->t, LINE_RESERVE);

	if (!p)
		return w->t.err;
	p = XML_PUT_LIT(p, "begin superblock: \"\", ");
	p = xml_put_u64(p, sb->time);
	p = XML_PUT_LIT(p, ", ");
	p = xml_put_u64(p, sb->trans_id);
	p = XML_PUT_LIT(p, ", ");
	p = xml_put_u64(p, sb->flags);
	p = XML_PUT_LIT(p, ", ");
	p = xml_put_u64(p, sb->version);
	p = XML_PUT_LIT(p, ", ");
	p = xml_put_u64(p, sb->data_block_size);
	p = XML_PUT_LIT(p, ", ");
	p = xml_put_u64(p, sb->nr_data_blocks);
	if (sb->metadata_snap) {
		p = XML_PUT_LIT(p, ", ");
		p = xml_put_u64(p, sb->metadata_snap);
	}
	p = XML_PUT_LIT(p, "\n");
	return done(w, p);
}

static int h_end_sb(void *ctx)
{
	struct thin_writer *w = ctx;
	char *p = xml_textbuf_reserve(&w->t, LINE_RESERVE);

	if (!p)
		return w->t.err;
	p = XML_PUT_LIT(p, "end superblock\n");
	done(w, p);
	return xml_textbuf_flush(&w->t);
}

static int h_begin_dev(void *ctx, const struct thin_emit_device *d)
{
	struct thin_writer *w = ctx;
	char *p = xml_textbuf_reserve(&w->t, LINE_RESERVE);

	if (!p)
		return w->t.err;
	p = XML_PUT_LIT(p, "device: ");
	p = xml_put_u64(p, d->dev_id);
	p = XML_PUT_LIT(p, "\nmapped_blocks: ");
	p = xml_put_u64(p, d->details.mapped_blocks);
	p = XML_PUT_LIT(p, "\ntransaction: ");
	p = xml_put_u64(p, d->details.transaction_id);
	p = XML_PUT_LIT(p, "\ncreation time: ");
	p = xml_put_u64(p, d->details.creation_time);
	p = XML_PUT_LIT(p, "\nsnap time: ");
	p = xml_put_u64(p, d->details.snapshotted_time);
	p = XML_PUT_LIT(p, "\n");
	return done(w, p);
}

static int h_end_dev(void *ctx)
{
	struct thin_writer *w = ctx;
	char *p = xml_textbuf_reserve(&w->t, LINE_RESERVE);

	if (!p)
		return w->t.err;
	p = XML_PUT_LIT(p, "\n");
	return done(w, p);
}

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
	if (w->fmt == THIN_WRITER_HUMAN) {
		e->begin_superblock = h_begin_sb;
		e->end_superblock = h_end_sb;
		e->begin_device = h_begin_dev;
		e->end_device = h_end_dev;
		e->mapping = h_mapping;
	} else {
		e->begin_superblock = x_begin_sb;
		e->end_superblock = x_end_sb;
		e->begin_device = x_begin_dev;
		e->end_device = x_end_dev;
		e->mapping = x_mapping;
	}
}
