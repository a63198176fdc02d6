// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_check: verifies dm-cache metadata (cache/check.c does the work).
 *
 * A drop-in for 0.9.0's cache_check, which LVM runs as
 * `cache_check -q --clear-needs-check-flag DEV` on every activation: the
 * same options, the same progress lines on stderr ("examining superblock"
 * ...), findings indented below them, -V printing the bare version, exit 0
 * when the metadata is usable and 1 when it is not or could not be read.
 * Added from the 1.x tools: --auto-repair and --ignore-non-fatal-errors.
 * A cache block size the kernel cannot use gets one warning line after the
 * passes (the exit code is unchanged).
 * The device is opened read-only unless a flag that may write is given.
 */
#include <errno.h>
#include <inttypes.h>
#include <popt.h>
#include <stdio.h>
#include <string.h>

#include "cache/check.h"
#include "pdata/bm.h"
#include "pdata/io.h"
#include "tools/common.h"
#include "tools/tool.h"

struct check_cli {
	int quiet;
	int sb_only;
	int skip_mappings;
	int skip_hints;
	int skip_discards;
	int clear_needs_check;
	int auto_repair;
	int ignore_non_fatal;
	int help;
	int version;
};

static void sink_pass(void *ctx, const char *text)
{
	(void)ctx;
	fprintf(stderr, "%s\n", text);
}

static const char *sev_word(enum cache_severity sev)
{
	return sev == CACHE_SEV_FATAL ? "error" : "warning";
}

static void sink_problem(void *ctx, enum cache_problem id,
			 enum cache_severity sev, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "  %s: %s [%s]\n", sev_word(sev), msg,
		cache_problem_name(id));
}

static void sink_more(void *ctx, enum cache_problem id,
		      enum cache_severity sev, uint64_t n)
{
	(void)ctx;
	fprintf(stderr, "  %s: ... and %" PRIu64 " more [%s]\n", sev_word(sev),
		n, cache_problem_name(id));
}

static void sink_action(void *ctx, const char *text)
{
	(void)ctx;
	fprintf(stderr, "  %s\n", text);
}

static const char *open_error(int r)
{
	switch (r) {
	/* 0.9.0's words, which scripts search for. */
	case -EISDIR:
		return "Not a block device or regular file (a directory)";
	case -ENODEV:
		return "Not a block device or regular file";
	case -EBUSY:
		return "device is in use (is the cache active?)";
	default:
		return strerror(-r);
	}
}

/*
 * An XML file given as metadata (cache_dump's output, where cache_restore's
 * input belongs): one line, cache_dump's own (tools/common.c), instead of a
 * screen of superblock errors.  Only when block 0 is not dm-cache's: a
 * superblock whose checksum bytes happened to read as a tag is metadata.
 */
static int is_xml_input(struct pd_io *io, const char *path)
{
	const struct cache_check_opts sb_only = { .flags = CACHE_CHECK_SB_ONLY };
	struct cache_check_result res;

	if (!tool_looks_like_xml(path))
		return 0;
	if (cache_check(io, &sb_only, NULL, &res) < 0)
		return 0;
	return res.counts[CACHE_P_SB_MAGIC] || res.counts[CACHE_P_SB_UNREADABLE];
}

static int run(const struct check_cli *o, const char *path)
{
	const struct cache_check_sink sink = {
		.pass = sink_pass,
		.problem = sink_problem,
		.more = sink_more,
		.action = sink_action,
	};
	struct cache_check_opts opts = { 0 };
	struct cache_check_result res;
	unsigned oflags = PD_IO_EXCL | PD_IO_AIO;
	struct pd_io *io;
	int r;

	if (o->sb_only)
		opts.flags |= CACHE_CHECK_SB_ONLY;
	if (o->skip_mappings)
		opts.flags |= CACHE_CHECK_SKIP_MAPPINGS;
	if (o->skip_hints)
		opts.flags |= CACHE_CHECK_SKIP_HINTS;
	if (o->skip_discards)
		opts.flags |= CACHE_CHECK_SKIP_DISCARDS;
	if (o->clear_needs_check)
		opts.flags |= CACHE_CHECK_CLEAR_NEEDS_CHECK;
	if (o->auto_repair)
		opts.flags |= CACHE_CHECK_AUTO_REPAIR;
	if (o->ignore_non_fatal)
		opts.flags |= CACHE_CHECK_IGNORE_WARNINGS;
	/* Only the two flags that may write open the device for writing. */
	if (o->clear_needs_check || o->auto_repair)
		oflags |= PD_IO_WRITE;

	r = pd_io_open(path, tool_io_engine(path, oflags), &io);
	if (r < 0) {
		tool_error("%s: %s", path, open_error(r));
		return 1;
	}
	if (is_xml_input(io, path)) {
		if (!o->quiet)
			tool_error_xml_input(path);
		pd_io_destroy(io);
		return 1;
	}
	r = cache_check(io, &opts, o->quiet ? NULL : &sink, &res);
	/* Kept here, not a problem ID: the metadata itself is sound. */
	if (r >= 0 && !o->quiet && !o->ignore_non_fatal)
		tool_warn_block_size_value(res.data_block_size);
	pd_io_destroy(io);
	if (r < 0) {
		tool_error("%s: check could not complete: %s", path,
			   pd_strerror(r));
		return 1;
	}
	return res.nr_fatal ? 1 : 0;
}

int cmd_cache_check(int argc, const char **argv)
{
	struct check_cli o = { 0 };
	struct poptOption table[] = {
		{ "quiet", 'q', POPT_ARG_NONE, &o.quiet, 0,
		  "print nothing; the exit code says it all", NULL },
		{ "super-block-only", 0, POPT_ARG_NONE, &o.sb_only, 0,
		  "check the superblock only", NULL },
		{ "skip-mappings", 0, POPT_ARG_NONE, &o.skip_mappings, 0,
		  "don't check the mapping array", NULL },
		{ "skip-hints", 0, POPT_ARG_NONE, &o.skip_hints, 0,
		  "don't check the hint array", NULL },
		{ "skip-discards", 0, POPT_ARG_NONE, &o.skip_discards, 0,
		  "don't check the discard bitset", NULL },
		{ "clear-needs-check-flag", 0, POPT_ARG_NONE,
		  &o.clear_needs_check, 0,
		  "clear NEEDS_CHECK (and free leaked blocks) if the check "
		  "passes", NULL },
		{ "auto-repair", 0, POPT_ARG_NONE, &o.auto_repair, 0,
		  "free leaked blocks and clear NEEDS_CHECK; nothing else",
		  NULL },
		{ "ignore-non-fatal-errors", 0, POPT_ARG_NONE,
		  &o.ignore_non_fatal, 0,
		  "don't report warnings (they never fail the check)", NULL },
		TOOL_POPT_HELP_VERSION(&o.help, &o.version)
	};
	poptContext pc;
	const char *path, *extra;
	int rc, r = 1;

	pc = poptGetContext(tool_name, argc, argv, table, 0);
	poptSetOtherOptionHelp(pc, "[OPTIONS] {device|file}");
	rc = poptGetNextOpt(pc);
	if (rc < -1) {
		tool_error("%s: %s", poptBadOption(pc, POPT_BADOPTION_NOALIAS),
			   poptStrerror(rc));
		poptPrintUsage(pc, stderr, 0);
		goto out;
	}
	if (o.help) {
		poptPrintHelp(pc, stdout, 0);
		r = 0;
		goto out;
	}
	if (o.version) {
		tool_print_version();
		r = 0;
		goto out;
	}
	path = poptGetArg(pc);
	extra = poptGetArg(pc);
	if (!path) {
		tool_error("No input file provided.");
		poptPrintUsage(pc, stderr, 0);
		goto out;
	}
	if (extra) {
		tool_error("only one device may be checked: '%s'", extra);
		goto out;
	}
	r = run(&o, path);
out:
	poptFreeContext(pc);
	return r;
}
