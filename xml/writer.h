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
 * Strings from disk are written so that the reader (reader.h) gives back
 * exactly the same bytes, whatever they are: the policy up to its first
 * NUL, the uuid (16 raw bytes) up to its last byte that is not NUL, which
 * for the usual uuids is 0.9.0's "up to the first NUL".  & < > " are
 * escaped as entities (0.9.0 writes them raw, which makes XML nobody can
 * read back), tab, newline and CR as character references, and valid
 * UTF-8 is written as it is.  Every other byte (a NUL inside the uuid,
 * other control characters, DEL, bytes that are not part of valid UTF-8,
 * and the bytes of a character XML cannot carry or of one in the escape
 * range itself) is written as &#xF7HH;, the private-use character
 * U+F700 + the byte.  So a U+F7HH in the XML always stands for one byte.
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

/* U+F700 + byte: a byte of a uuid or policy that XML cannot carry. */
#define XML_BYTE_ESCAPE 0xF700u

/* Writes to fd, which the writer does not own or close. */
int xml_writer_create(int fd, struct xml_writer **out);
/* Accepts NULL.  Does not flush: call xml_writer_flush() first. */
void xml_writer_destroy(struct xml_writer *w);

/* Fills e with the writer's callbacks; e->ctx is w. */
void xml_writer_emitter(struct xml_writer *w, struct cache_emitter *e);

/* Writes out what is buffered.  0 or the (sticky) negative errno. */
int xml_writer_flush(struct xml_writer *w);
/*
 * Empties the output file, a regular file, before the first line: in the
 * writer's thread where it has one (xml_textbuf_empty_file), so the dump
 * need not wait.  0 or a negative errno, now or at the flush.
 */
int xml_writer_empty_output(struct xml_writer *w);

/* Bytes handed to write(2) so far. */
unsigned long long xml_writer_bytes(const struct xml_writer *w);

/*
 * Standard base64 with padding of len bytes into out, which must hold
 * 4 * ((len + 2) / 3) bytes; no NUL is written.  Returns the length.
 */
size_t xml_base64_encode(const void *in, size_t len, char *out);

#endif
