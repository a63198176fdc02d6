// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * expat_parse: parses an XML file with expat and no handlers at all, the
 * floor any expat-based reader can reach.  bench/restore.bench.sh times
 * cache_restore against it.  Reads in the same 1 MiB chunks as xml/reader.c
 * and exits 1 with expat's message on malformed input.
 *
 * expat_parse FILE
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <expat.h>

#define CHUNK (1u << 20)

int main(int argc, char **argv)
{
	XML_Parser p;
	int fd, r = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: expat_parse FILE\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "expat_parse: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	p = XML_ParserCreate(NULL);
	if (!p)
		goto out_close;
	for (;;) {
		void *buf = XML_GetBuffer(p, CHUNK);
		ssize_t n;

		if (!buf)
			goto out_parser;
		n = read(fd, buf, CHUNK);
		if (n < 0)
			goto out_parser;
		if (XML_ParseBuffer(p, (int)n, n == 0) != XML_STATUS_OK) {
			fprintf(stderr, "expat_parse: line %lu: %s\n",
				(unsigned long)XML_GetCurrentLineNumber(p),
				XML_ErrorString(XML_GetErrorCode(p)));
			goto out_parser;
		}
		if (n == 0)
			break;
	}
	r = 0;
out_parser:
	XML_ParserFree(p);
out_close:
	close(fd);
	return r;
}
