/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A buffered line writer on a file descriptor, for writers that produce
 * millions of short lines: lines are assembled in a 1 MiB buffer with
 * hand-rolled integer formatting and written with write(2) in big chunks.
 * The first write error is kept and returned by every later call.
 *
 *	char *p = xml_textbuf_reserve(t, 256);	(NULL: t->err says why)
 *	p = XML_PUT_LIT(p, "<device dev_id=\"");
 *	p = xml_put_u64(p, id);
 *	xml_textbuf_commit(t, p);
 *
 * The format-neutral part of the XML writers: the cache writer
 * (xml/writer.c) and the thin writers (xml/thin_writer.c) both use it.
 */
#ifndef XML_TEXTBUF_H
#define XML_TEXTBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct xml_textbuf_writer;

struct xml_textbuf {
	int fd;
	int err;		/* first write error, sticky */
	size_t used;
	unsigned long long written;	/* up to date after a flush */
	char *buf;
	/*
	 * Once a buffer's worth has gone out, and where a second CPU is
	 * ours, a thread writes each full buffer while the next one fills.
	 */
	char *spare;
	struct xml_textbuf_writer *wr;
};

#define XML_TEXTBUF_SIZE (1u << 20)

/* 0 or -ENOMEM.  fd is not owned. */
int xml_textbuf_init(struct xml_textbuf *t, int fd);
/* Frees the buffer; does not flush (waits for a write under way). */
void xml_textbuf_release(struct xml_textbuf *t);
/* Room for n (<= XML_TEXTBUF_SIZE) bytes, or NULL with t->err set. */
char *xml_textbuf_reserve(struct xml_textbuf *t, size_t n);
static inline void xml_textbuf_commit(struct xml_textbuf *t, const char *end)
{
	t->used = (size_t)(end - t->buf);
}
/*
 * Writes out what is buffered, and waits until all of it is written.  0 or
 * the sticky negative errno.
 */
int xml_textbuf_flush(struct xml_textbuf *t);

/*
 * Truncates the file to nothing before anything is written: in the writer
 * thread where there is one (it is started here), so the caller goes on at
 * once; else now.  Call before the first reserve.  0 or a negative errno,
 * now or, from the thread, at the next hand-over or flush.
 */
int xml_textbuf_empty_file(struct xml_textbuf *t);

/* Decimal digits of v at p; returns the end.  At most 20 bytes. */
char *xml_put_u64(char *p, uint64_t v);

/* Appends a string literal; sizeof includes the NUL, hence the - 1. */
#define XML_PUT_LIT(p, s) (memcpy((p), (s), sizeof(s) - 1), (p) + sizeof(s) - 1)

#endif
