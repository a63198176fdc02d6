/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The thin writers: thin emitters (thin/emit.h) that write a pool's
 * metadata as thin_dump 0.9.0 lays it out, either as XML (two spaces of
 * indentation per level, attributes in a fixed order, runs of one mapping
 * as <single_mapping>, an empty element on two lines, uuid always "") or
 * in its human-readable form ("begin superblock: ...", one "device:" block
 * per device followed by a blank line, runs as "(a..b) -> (c..d), t").
 *
 * Typical use:
 *
 *	struct thin_writer *w;
 *	struct thin_emitter e;
 *	r = thin_writer_create(fd, THIN_WRITER_XML, &w);
 *	thin_writer_emitter(w, &e);
 *	r = producer(..., &e);
 *	if (!r)
 *		r = thin_writer_flush(w);
 *	thin_writer_destroy(w);
 *
 * Errors: every callback returns 0 or a negative errno; the first write
 * error (-EPIPE, -ENOSPC, ...) is sticky.
 */
#ifndef XML_THIN_WRITER_H
#define XML_THIN_WRITER_H

#include "thin/emit.h"

enum thin_writer_format {
	THIN_WRITER_XML,
	THIN_WRITER_HUMAN,
};

struct thin_writer;

int thin_writer_create(int fd, enum thin_writer_format fmt,
		       struct thin_writer **out);
/* Accepts NULL.  Does not flush. */
void thin_writer_destroy(struct thin_writer *w);
void thin_writer_emitter(struct thin_writer *w, struct thin_emitter *e);
int thin_writer_flush(struct thin_writer *w);
/*
 * Empties the output file, a regular file, before the first line: in the
 * writer's thread where it has one (xml_textbuf_empty_file), so the dump
 * need not wait.  0 or a negative errno, now or at the flush.
 */
int thin_writer_empty_output(struct thin_writer *w);

#endif
