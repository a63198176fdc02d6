// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The XML readers' shared core (xml/core.h): expat hardened alike for
 * every grammar, first-error recording, attribute tables, numbers, and
 * the sequential parse loop.
 */
#include "xml/core.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK (256u << 10)

struct xml_quoted xml_quote(const char *v)
{
	struct xml_quoted q;
	size_t n = strnlen(v, 33);

	if (n > 32)
		snprintf(q.s, sizeof(q.s), "%.32s...", v);
	else
		snprintf(q.s, sizeof(q.s), "%s", v);
	return q;
}

void xml_core_set_place(struct xml_core *c)
{
	c->err->line = (unsigned long)XML_GetCurrentLineNumber(c->p);
	c->err->column = (unsigned long)XML_GetCurrentColumnNumber(c->p) + 1;
	c->err_stream = (uint64_t)XML_GetCurrentByteIndex(c->p);
}

void xml_core_stop(struct xml_core *c)
{
	c->failed = 1;
	XML_StopParser(c->p, XML_FALSE);
}

void xml_core_fail(struct xml_core *c, const char *fmt, ...)
{
	va_list ap;

	if (c->failed)
		return;
	xml_core_set_place(c);
	c->err->err = -EINVAL;
	c->err->in_callback = 0;
	va_start(ap, fmt);
	vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
	va_end(ap);
	xml_core_stop(c);
}

int xml_core_called(struct xml_core *c, int r)
{
	if (!r || c->failed)
		return r;
	xml_core_set_place(c);
	c->err->err = r;
	c->err->in_callback = 1;
	c->err->msg[0] = '\0';
	xml_core_stop(c);
	return r;
}

void xml_core_mark(struct xml_core *c)
{
	c->last_event = (uint64_t)XML_GetCurrentByteIndex(c->p);
}

int xml_core_attrs(struct xml_core *c, const struct xml_attr_spec *spec,
		   const XML_Char **atts, const char **vals)
{
	unsigned i;

	for (i = 0; i < spec->n; i++)
		vals[i] = NULL;
	for (unsigned k = 0; *atts; atts += 2, k++) {
		/*
		 * The tools write attributes in the table's order: try the
		 * k-th name first (one compare each, not up to n).  Expat has
		 * already refused an attribute given twice.
		 */
		if (k < spec->n && !strcmp(atts[0], spec->names[k]))
			i = k;
		else
			for (i = 0; i < spec->n; i++)
				if (!strcmp(atts[0], spec->names[i]))
					break;
		if (i == spec->n) {
			xml_core_fail(c, "<%s>: unknown attribute %s",
				      spec->elem, xml_quote(atts[0]).s);
			return -1;
		}
		vals[i] = atts[1];
	}
	for (i = 0; i < spec->n; i++) {
		if (!vals[i] && !(spec->optional & (1u << i))) {
			xml_core_fail(c, "<%s>: missing attribute %s",
				      spec->elem, spec->names[i]);
			return -1;
		}
	}
	return 0;
}

int xml_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	/* 0.9.0 (boost::lexical_cast) and the newer tools (Rust) take a '+'. */
	if (*p == '+')
		p++;
	if (!*p)
		return 1;
	for (; *p; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (d > 9)
			return 1;
		if (v > (UINT64_MAX - d) / 10)
			return 2;
		v = v * 10 + d;
	}
	if (v > max)
		return 2;
	*out = v;
	return 0;
}

int xml_core_u64(struct xml_core *c, const char *elem, const char *name,
		 const char *s, uint64_t max, uint64_t *out)
{
	switch (xml_parse_u64(s, max, out)) {
	case 0:
		return 0;
	case 1:
		xml_core_fail(c, "<%s>: %s \"%s\" is not a decimal number", elem,
			      name, xml_quote(s).s);
		return -1;
	default:
		xml_core_fail(c, "<%s>: %s %s is out of range (the maximum is "
			      "%llu)", elem, name, xml_quote(s).s,
			      (unsigned long long)max);
		return -1;
	}
}

/* ---- hardening: what no grammar takes ---- */

static void XMLCALL on_text(void *ctx, const XML_Char *s, int len)
{
	struct xml_core *c = ctx;

	xml_core_mark(c);
	if (c->failed)
		return;
	for (int i = 0; i < len; i++) {
		if (s[i] != ' ' && s[i] != '\n' && s[i] != '\t' &&
		    s[i] != '\r') {
			int n = len - i < 20 ? len - i : 20;

			xml_core_fail(c, "unexpected text \"%.*s%s\" %s", n,
				      s + i, len - i > 20 ? "..." : "",
				      c->where(ctx));
			return;
		}
	}
}

static void XMLCALL on_doctype(void *ctx, const XML_Char *name,
			       const XML_Char *sysid, const XML_Char *pubid,
			       int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	xml_core_fail(ctx, "DOCTYPE declarations are not allowed (no DTD, no "
		      "entities)");
}

static void XMLCALL on_pi(void *ctx, const XML_Char *target,
			  const XML_Char *data)
{
	(void)data;
	xml_core_fail(ctx, "processing instruction <?%s?> is not allowed",
		      xml_quote(target).s);
}

static void XMLCALL on_comment(void *ctx, const XML_Char *data)
{
	(void)data;
	xml_core_mark(ctx);
}

static void XMLCALL on_xmldecl(void *ctx, const XML_Char *version,
			       const XML_Char *encoding, int standalone)
{
	(void)version;
	(void)encoding;
	(void)standalone;
	xml_core_mark(ctx);
}

static void XMLCALL on_entity(void *ctx, const XML_Char *name, int is_param,
			      const XML_Char *value, int value_length,
			      const XML_Char *base, const XML_Char *system_id,
			      const XML_Char *public_id,
			      const XML_Char *notation_name)
{
	(void)name;
	(void)is_param;
	(void)value;
	(void)value_length;
	(void)base;
	(void)system_id;
	(void)public_id;
	(void)notation_name;
	xml_core_fail(ctx, "entity declarations are not allowed");
}

int xml_core_init(struct xml_core *c, void *reader,
		  struct xml_reader_error *err, XML_StartElementHandler start,
		  XML_EndElementHandler end)
{
	c->err = err;
	c->p = XML_ParserCreate(NULL);
	if (!c->p)
		return -ENOMEM;
	XML_SetUserData(c->p, reader);
	XML_SetElementHandler(c->p, start, end);
	XML_SetCharacterDataHandler(c->p, on_text);
	XML_SetStartDoctypeDeclHandler(c->p, on_doctype);
	XML_SetProcessingInstructionHandler(c->p, on_pi);
	XML_SetCommentHandler(c->p, on_comment);
	XML_SetXmlDeclHandler(c->p, on_xmldecl);
	XML_SetEntityDeclHandler(c->p, on_entity);
	XML_SetParamEntityParsing(c->p, XML_PARAM_ENTITY_PARSING_NEVER);
	return 0;
}

void xml_core_release(struct xml_core *c)
{
	if (c->p)
		XML_ParserFree(c->p);
	c->p = NULL;
}

/* ---- the parse loop ---- */

int xml_core_read_error(struct xml_core *c, int r)
{
	c->err->line = c->err->column = 0;
	c->err->err = r;
	c->err->in_callback = 0;
	snprintf(c->err->msg, sizeof(c->err->msg), "read failed: %s",
		 strerror(-r));
	c->failed = 1;
	return r;
}

/* expat refused the input (or a handler stopped it: the error is set). */
int xml_core_parse_error(struct xml_core *c)
{
	if (!c->failed) {
		xml_core_set_place(c);
		c->err->err = -EINVAL;
		c->err->in_callback = 0;
		snprintf(c->err->msg, sizeof(c->err->msg), "malformed XML: %s",
			 XML_ErrorString(XML_GetErrorCode(c->p)));
		c->failed = 1;
	}
	return c->err->err;
}

int xml_core_parse(struct xml_core *c, int fd,
		   const struct xml_reader_opts *o)
{
	uint64_t off = 0;

	for (;;) {
		void *buf = XML_GetBuffer(c->p, (int)READ_CHUNK);
		enum XML_Status st;
		ssize_t n;

		if (!buf) {
			xml_core_fail(c, "out of memory");
			c->err->err = -ENOMEM;
			return -ENOMEM;
		}
		do
			n = read(fd, buf, READ_CHUNK);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return xml_core_read_error(c, -errno);
		st = XML_ParseBuffer(c->p, (int)n, n == 0);
		if (st != XML_STATUS_OK)
			return xml_core_parse_error(c);
		if (c->failed)
			return c->err->err;
		c->fed += (uint64_t)n;
		off += (uint64_t)n;
		if (c->fed - c->last_event > XML_CORE_MAX_TOKEN) {
			xml_core_fail(c, "a single tag, comment or name longer "
				      "than %u bytes: not %s", XML_CORE_MAX_TOKEN,
				      c->what);
			return c->err->err;
		}
		if (o && o->progress)
			o->progress(o->ctx, off);
		if (n == 0)
			return 0;
	}
}
