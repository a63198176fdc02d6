// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The multi-call binary: every tool name is a link to it, and it runs the
 * tool its name says.  `dm-cache-tools TOOL ARGS...` works as well, for
 * running from the build tree without links.
 */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	{ "cache_replay", cmd_cache_replay,
	  "replay, simulate and convert block I/O traces" },
	{ "cache_restore", cmd_cache_restore,
	  "write cache metadata from XML" },
	{ "cache_writeback", cmd_cache_writeback,
	  "copy dirty blocks to the origin device offline" },
	{ "thin_check", cmd_thin_check, "check thin-pool metadata" },
	{ "thin_dump", cmd_thin_dump, "dump thin-pool metadata as XML" },
	{ "thin_restore", cmd_thin_restore,
	  "write thin-pool metadata from XML" },
	{ "thin_repair", cmd_thin_repair,
	  "salvage damaged thin-pool metadata" },
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

void tool_die_of_sigpipe(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(SIGPIPE);
	_exit(1);	/* not reached: SIGPIPE's default action ends us */
}

/*
 * What a tool printed on stdout (sizes, reports, help) must have arrived:
 * a full disk fails the run with a message (0.9.0 exits 0 there), a
 * closed pipe ends it by SIGPIPE.
 */
int tool_flush_stdout(void)
{
	static int reported;
	int err = 0;

	if (fflush(stdout) != 0)
		err = errno;
	else if (!ferror(stdout))
		return 0;
	if (err == EPIPE)
		tool_die_of_sigpipe();
	/* An earlier write failed and was reported by whoever flushed. */
	if (reported)
		return -1;
	reported = 1;
	if (err)
		tool_error("standard output: cannot write: %s", strerror(err));
	else
		tool_error("standard output: cannot write");
	return -1;
}

static int finish_stdout(int rc)
{
	return tool_flush_stdout() < 0 ? 1 : rc;
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

	signal(SIGPIPE, SIG_DFL);
	r = run(base, argc, (const char **)argv);
	free(copy);
	if (r >= 0)
		return finish_stdout(r);
	if (argc >= 2) {
		if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
			tool_print_version();
			return finish_stdout(0);
		}
		if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
			usage(stdout);
			return finish_stdout(0);
		}
		r = run(argv[1], argc - 1, (const char **)argv + 1);
		if (r >= 0)
			return finish_stdout(r);
		fprintf(stderr, "dm-cache-tools: unknown tool '%s'\n", argv[1]);
	}
	usage(stderr);
	return 1;
}
