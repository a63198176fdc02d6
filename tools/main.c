// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The multi-call binary: every tool name is a link to it, and it runs the
 * tool its name says.  `dm-cache-tools TOOL ARGS...` works as well, for
 * running from the build tree without links.
 */
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tool.h"

const char *tool_name = "dm-cache-tools";

static const struct {
	const char *name;
	int (*run)(int argc, const char **argv);
	const char *summary;
} commands[] = {
	{ "cache_check", cmd_cache_check, "check cache metadata" },
	{ "cache_dump", cmd_cache_dump, "dump cache metadata as XML" },
	{ "cache_metadata_size", cmd_cache_metadata_size,
	  "estimate the size of cache metadata" },
	{ "cache_repair", cmd_cache_repair, "repair cache metadata" },
	{ "cache_restore", cmd_cache_restore,
	  "write cache metadata from XML" },
	{ "cache_writeback", cmd_cache_writeback,
	  "copy dirty blocks to the origin device offline" },
	{ "thin_check", cmd_thin_check, "check thin-pool metadata" },
	{ "thin_dump", cmd_thin_dump, "dump thin-pool metadata as XML" },
	{ "thin_metadata_size", cmd_thin_metadata_size,
	  "estimate the size of thin-pool metadata" },
};

void tool_print_version(void)
{
	printf("%s\n", DMCT_VERSION);
}

void tool_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", tool_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int run(const char *name, int argc, const char **argv)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(name, commands[i].name)) {
			tool_name = commands[i].name;
			return commands[i].run(argc, argv);
		}
	}
	return -1;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: dm-cache-tools TOOL [OPTIONS...]\n"
		   "       TOOL [OPTIONS...]   (through a link named TOOL)\n\n"
		   "Tools:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-22s %s\n", commands[i].name,
			commands[i].summary);
}

int main(int argc, char **argv)
{
	char *copy = strdup(argv[0] ? argv[0] : "");
	const char *base = copy ? basename(copy) : "";
	int r;

	r = run(base, argc, (const char **)argv);
	free(copy);
	if (r >= 0)
		return r;
	if (argc >= 2) {
		if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
			tool_print_version();
			return 0;
		}
		if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
			usage(stdout);
			return 0;
		}
		r = run(argv[1], argc - 1, (const char **)argv + 1);
		if (r >= 0)
			return r;
		fprintf(stderr, "dm-cache-tools: unknown tool '%s'\n", argv[1]);
	}
	usage(stderr);
	return 1;
}
