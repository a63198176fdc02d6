/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The XML writer: a cache emitter (cache/emit.h) that writes the metadata
 * XML exactly as cache_dump 0.9.0 lays it out (FORMAT.md §7): no XML
 * declaration, two spaces of indentation per level, attributes in a fixed
 * order, dirty="true|false", hints in base64, an empty container on two
 * lines, a newline after the last line.  The <discards> section, which
 * 0.9.0 never writes, has the same shape.
 *
 * It is built for dumping millions of mappings: lines are assembled in its
 * own large buffer with hand-rolled integer formatting and written with
 * write(2) in big chunks, never one stdio call per line.
 *
 * Typical use:
 *
 *	struct xml_writer *w;
 *	struct cache_emitter e;
 *	int r = xml_writer_create(fd, &w);
 *	if (r < 0)
 *		return r;
 *	xml_writer_emitter(w, &e);
 *	r = producer(..., &e);		(end_superblock flushes)
 *	if (!r)
 *		r = xml_writer_flush(w);
 *	xml_writer_destroy(w);
 *
 * Strings from disk (uuid, policy) are written up to their first NUL, as
 * 0.9.0 does, but with the XML special characters escaped (0.9.0 writes them
 * raw, which makes XML nobody can read back); control characters that XML
 * cannot carry become '?'.
 *
 * Errors: every callback returns 0 or a negative errno.  The first write
 * error (-EPIPE when the reader has gone, -ENOSPC, -EIO ...) is kept and
 * returned by every later call, so a producer stops at once.
 */
#ifndef XML_WRITER_H
#define XML_WRITER_H

#include <stddef.h>

#include "cache/emit.h"

struct xml_writer;

/* Writes to fd, which the writer does not own or close. */
int xml_writer_create(int fd, struct xml_writer **out);
/* Accepts NULL.  Does not flush: call xml_writer_flush() first. */
void xml_writer_destroy(struct xml_writer *w);

/* Fills e with the writer's callbacks; e->ctx is w. */
void xml_writer_emitter(struct xml_writer *w, struct cache_emitter *e);

/* Writes out what is buffered.  0 or the (sticky) negative errno. */
int xml_writer_flush(struct xml_writer *w);

/* Bytes handed to write(2) so far. */
unsigned long long xml_writer_bytes(const struct xml_writer *w);

/*
 * Standard base64 with padding of len bytes into out, which must hold
 * 4 * ((len + 2) / 3) bytes; no NUL is written.  Returns the length.
 */
size_t xml_base64_encode(const void *in, size_t len, char *out);

#endif
