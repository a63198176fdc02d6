/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The grammar-independent core of the XML readers ("one core, a grammar
 * per target"): an expat parser hardened the same way for every target
 * (no DOCTYPE so no entities, no processing instructions, no text but
 * white space, no token longer than XML_CORE_MAX_TOKEN), the first error
 * recorded with its line and column, attribute lists checked against a
 * table, decimal numbers as both reference tools take them, and a
 * sequential parse loop over a file descriptor.
 *
 * A grammar embeds struct xml_core as the FIRST member of its reader
 * (expat's user data is the reader, and the core's handlers cast it), sets
 * its element handlers with xml_core_init(), and calls xml_core_fail() for
 * what its grammar refuses.  The cache reader (reader.c) keeps its own
 * parallel parse loop but shares the attribute and number checks; the
 * thin reader (thin_reader.c) uses the core whole.
 */
#ifndef XML_CORE_H
#define XML_CORE_H

#include <expat.h>
#include <stdint.h>

#include "xml/reader.h"

#define XML_CORE_MAX_TOKEN (1u << 20)

struct xml_core {
	XML_Parser p;
	struct xml_reader_error *err;
	int failed;
	/* Where a text message may say what the document claims to be. */
	const char *what;	/* e.g. "thin metadata XML" */
	/* Bytes fed, and where the last event began (the token bound). */
	uint64_t fed, last_event;
	/* Stream offset of the recorded error's event (set_place). */
	uint64_t err_stream;
	/* For on_text messages: where the parser is, in words. */
	const char *(*where)(void *reader);
};

/* At most 32 bytes of a value for a message, then "...". */
struct xml_quoted {
	char s[40];
};
struct xml_quoted xml_quote(const char *v);

void xml_core_set_place(struct xml_core *c);
/* Records the first error (-EINVAL) at the current event and stops. */
void xml_core_fail(struct xml_core *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* An emitter callback's non-zero return: recorded as in_callback. */
int xml_core_called(struct xml_core *c, int r);
/* Every start, end, text or comment event calls it (the token bound). */
void xml_core_mark(struct xml_core *c);

struct xml_attr_spec {
	const char *elem;
	unsigned n;
	unsigned optional;	/* bit i: names[i] may be left out */
	const char *names[8];
};

/* vals[i] = the value of spec->names[i] (NULL if optional and absent). */
int xml_core_attrs(struct xml_core *c, const struct xml_attr_spec *spec,
		   const XML_Char **atts, const char **vals);

/*
 * Decimal digits, at least one, value at most max; leading zeros and one
 * leading '+' are taken, as both references take them.  0 = ok; 1 = not
 * a number; 2 = too big.
 */
int xml_parse_u64(const char *s, uint64_t max, uint64_t *out);
/* The same, failing the parse with a message naming elem and name. */
int xml_core_u64(struct xml_core *c, const char *elem, const char *name,
		 const char *s, uint64_t max, uint64_t *out);

/*
 * Creates the parser with reader as user data, the grammar's element
 * handlers and the core's hardening.  0 or -ENOMEM.
 */
int xml_core_init(struct xml_core *c, void *reader,
		  struct xml_reader_error *err, XML_StartElementHandler start,
		  XML_EndElementHandler end);
void xml_core_release(struct xml_core *c);

/* A failed read (err.line 0), or expat's refusal of the input. */
int xml_core_read_error(struct xml_core *c, int r);
int xml_core_parse_error(struct xml_core *c);
/* Stops the parser; the error (if any) is already recorded. */
void xml_core_stop(struct xml_core *c);

/* Sequential parse of fd to its end. */
int xml_core_parse(struct xml_core *c, int fd,
		   const struct xml_reader_opts *o);

#endif
