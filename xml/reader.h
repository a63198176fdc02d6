/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The XML reader: parses cache metadata XML (FORMAT.md §7) with expat, in
 * 1 MiB chunks (never the whole file in memory), validates all of it and
 * drives a cache emitter (cache/emit.h) with what it found.
 *
 * What is accepted, and nothing else:
 *
 *	[<?xml ...?>] [comments]
 *	<superblock uuid="" block_size="B" nr_cache_blocks="N" policy="P"
 *		    hint_width="W">
 *	  <mappings>  <mapping cache_block="C" origin_block="O"
 *				dirty="true|false"/>*  </mappings>
 *	  <hints>     <hint cache_block="C" data="BASE64"/>*  </hints>
 *	  <discards [discard_block_size="S" discard_nr_blocks="D"]>
 *	    <discard dbegin="X" dend="Y"/>*
 *	  </discards>
 *	</superblock>
 *
 * Each of the three containers may be left out (the emitter still sees an
 * empty <mappings> and <hints>), or replaced by a run of its leaves right
 * under <superblock> (0.9.0 reads that, and its test suite writes it); the
 * emitter sees the container either way.  They must come in this order,
 * at most once each (a run counts as one); mappings and hints may come in
 * any cache-block order.  <discards> without attributes (0.9.0's and the
 * newer tools' form), and a bare run of <discard>, have no geometry: the
 * emitter gets no_geometry and ranges anywhere.  Attributes may come in
 * any order; every one shown is required (the discards pair: both or
 * neither) and none other is allowed (0.9.0 ignores unknown ones, the
 * newer tools refuse them: a misspelt name must not pass silently).
 * Numbers are decimal digits, leading zeros and one leading '+' allowed
 * (both references take them; neither takes white space or hex).  The
 * checks:
 *   - block_size 1..2^32-1, nr_cache_blocks 0..2^32-1 (both are le32 on
 *     disk); hint_width 0 (no hints) or 4..128 in steps of 4; policy at
 *     most 15 bytes, none of them NUL; uuid at most 16 bytes.  Both are
 *     counted as the bytes they stand for: each U+F700..U+F7FF in them is
 *     the one byte 0x00..0xFF the writer escaped (writer.h), even when
 *     written as a literal character (the writer never writes one, so
 *     the range always means bytes), and any other character is its
 *     UTF-8 bytes.
 *   - cache_block < nr_cache_blocks; no cache block mapped twice, no hint
 *     given twice; origin_block < 2^48 (the mapping value keeps 48 bits).
 *     An origin block mapped by two cache blocks is the consumer's to find
 *     (it needs every origin at once; cache/restore.c does it).
 *   - a hint's data is canonical base64 that decodes to exactly hint_width
 *     bytes (0.9.0 accepts longer data and ignores the rest; a length that
 *     differs from the width is a sign the XML is not what it claims).
 *   - discard_nr_blocks > 0 needs discard_block_size > 0;
 *     dbegin < dend <= discard_nr_blocks (when there is a geometry).
 *   - no DOCTYPE (so no entities: "billion laughs" cannot start), no
 *     processing instructions, no text but white space.  The grammar's
 *     depth is 3, and anything deeper is an element in the wrong place, so
 *     nesting is bounded too.
 * Memory: two bitmaps of nr_cache_blocks bits (cache blocks seen in
 * mappings and in hints), allocated only after the emitter's
 * begin_superblock accepted the superblock, so a consumer can refuse a
 * size it cannot hold before the reader allocates for it.
 *
 * Typical use:
 *
 *	struct xml_reader_error err;
 *	int r = xml_read_cache(fd, &emitter, NULL, &err);
 *	if (r < 0 && !err.in_callback)
 *		print "line err.line, column err.column: err.msg"
 *
 * Returns 0, -EINVAL for input that is not valid cache XML (err.msg says
 * what and err.line/err.column where), the negative errno of a failed
 * read(2) (err.line 0), -ENOMEM, or the first non-zero value an emitter
 * callback returned (err.in_callback set, err.msg empty, err.line and
 * err.column at the element that was being reported).  Nothing is printed.
 */
#ifndef XML_READER_H
#define XML_READER_H

#include <stdint.h>

#include "cache/emit.h"
#include "thin/emit.h"

struct xml_reader_error {
	unsigned long line;	/* 1-based; 0 when not about a place */
	unsigned long column;	/* 1-based, in characters */
	int err;		/* the negative errno returned */
	int in_callback;	/* err came from an emitter callback */
	char msg[240];		/* what was wrong, no newline */
};

struct xml_reader_opts {
	/* After each chunk: bytes consumed so far.  May be NULL. */
	void (*progress)(void *ctx, uint64_t bytes);
	void *ctx;
	/*
	 * Read a big regular file (32 MiB and more, read from its start) with
	 * two parsers in two threads.  Only for an emitter whose mapping()
	 * and hint() may be called from two threads at once for different
	 * cache blocks, between begin and end of their container (the
	 * restore's: cache/restore.h).  Events and errors are the same as
	 * without it, except that mappings and hints arrive in another order.
	 */
	int parallel;
	/* Where to count the parts the second parser took (may be NULL). */
	unsigned *nr_splits;
	/*
	 * For tests: the smallest part worth a second parser, in bytes (0:
	 * 8 MiB).  A file is split when it is 4 times that, and a container
	 * when 4 times that of it is ahead.
	 */
	uint64_t split_min;
};

/*
 * Reads fd (a file or a pipe; the reader neither seeks nor closes it) to
 * the end.  o may be NULL.
 */
int xml_read_cache(int fd, const struct cache_emitter *e,
		   const struct xml_reader_opts *o,
		   struct xml_reader_error *err);

/*
 * The thin grammar (xml/thin_reader.c, on the same core): reads the XML
 * thin_dump writes into a thin emitter (thin/emit.h), mappings as they
 * come (a <single_mapping> is a run of length 1).  Errors as for
 * xml_read_cache; o->parallel is ignored (one parser).
 */
int xml_read_thin(int fd, const struct thin_emitter *e,
		  const struct xml_reader_opts *o,
		  struct xml_reader_error *err);

#endif
