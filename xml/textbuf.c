// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The buffered line writer (textbuf.h).  Numbers are formatted two digits
 * at a time from a table, so that a dump of millions of mappings costs
 * little more than the memory traffic.
 */
#include "xml/textbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static const char digits2[] =
	"00010203040506070809101112131415161718192021222324252627282930313233"
	"34353637383940414243444546474849505152535455565758596061626364656667"
	"68697071727374757677787980818283848586878889909192939495969798"
	"99";

char *xml_put_u64(char *p, uint64_t v)
{
	char tmp[20];
	char *t = tmp + sizeof(tmp);
	size_t n;

	while (v >= 100) {
		unsigned d = (unsigned)(v % 100);

		v /= 100;
		t -= 2;
		memcpy(t, digits2 + 2 * d, 2);
	}
	if (v >= 10) {
		t -= 2;
		memcpy(t, digits2 + 2 * v, 2);
	} else {
		*--t = (char)('0' + v);
	}
	n = (size_t)(tmp + sizeof(tmp) - t);
	memcpy(p, t, n);
	return p + n;
}

int xml_textbuf_init(struct xml_textbuf *t, int fd)
{
	memset(t, 0, sizeof(*t));
	t->fd = fd;
	t->buf = malloc(XML_TEXTBUF_SIZE);
	return t->buf ? 0 : -ENOMEM;
}

void xml_textbuf_release(struct xml_textbuf *t)
{
	free(t->buf);
	t->buf = NULL;
}

int xml_textbuf_flush(struct xml_textbuf *t)
{
	const char *p = t->buf;
	size_t n = t->used;

	if (t->err)
		return t->err;
	while (n) {
		ssize_t w = write(t->fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			t->err = -errno;
			return t->err;
		}
		/* Nothing written and no error: never loop on it. */
		if (w == 0) {
			t->err = -EIO;
			return t->err;
		}
		p += w;
		n -= (size_t)w;
		t->written += (unsigned long long)w;
	}
	t->used = 0;
	return 0;
}

char *xml_textbuf_reserve(struct xml_textbuf *t, size_t n)
{
	if (t->err)
		return NULL;
	if (n > XML_TEXTBUF_SIZE) {
		t->err = -EINVAL;
		return NULL;
	}
	if (XML_TEXTBUF_SIZE - t->used < n && xml_textbuf_flush(t) < 0)
		return NULL;
	return t->buf + t->used;
}
