// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_restore -i XML -o DEVICE|FILE [--metadata-version 1|2]
 *               [--omit-clean-shutdown] [-q] [-h] [-V]
 *
 * Writes fresh cache metadata from XML.  The XML is read once, from a file
 * or from standard input (-i -), and checked in full before the output is
 * written (cache/restore.h): bad XML leaves the output as it was.  The
 * output must already exist, as a regular file or a block device (opened
 * O_EXCL, so a device in use is refused), and be big enough; when it is
 * not, the message says how big it must be.
 *
 * The default metadata version is 2, as the kernel and the current
 * upstream tools write (0.9.0 defaulted to 1).
 * --debug-override-metadata-version N does what 0.9.0's does, for tests
 * that need metadata the kernel refuses: any N from 0 to 2^32-1 goes into
 * the superblock, over the layout of version 2 for N >= 2 and of version 1
 * otherwise (the dirty bitset is written from 2 on), whatever
 * --metadata-version says.  The restore is done for that layout, then
 * block 0 is rewritten with N (re-checksummed).
 *
 * A block size the kernel cannot use (not 64..2097152 sectors in steps of
 * 64) is restored as asked, with one warning line.
 *
 * Exit codes: 0 restored; 1 anything else, with one line on stderr.  A
 * failure while writing leaves block 0 zeroed (an unformatted device, as
 * 0.9.0 does), never a superblock over half-written blocks.  A progress bar
 * is drawn on stderr for inputs over 16 MiB when stderr is a terminal and
 * -q was not given.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <popt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/format.h"
#include "cache/restore.h"
#include "pdata/bm.h"
#include "pdata/io.h"
#include "tools/common.h"
#include "tools/tool.h"
#include "xml/reader.h"

#define PROGRESS_MIN_BYTES (16ull << 20)

struct restore_opts {
	char *input;
	char *output;
	char *version;
	char *override_version;
	int omit_clean_shutdown;
	int quiet;
	int help;
	int show_version;
};

/* ---- progress bar ---- */

struct bar {
	uint64_t total;
	int shown;	/* percent last drawn, -1 before the first */
};

static void bar_draw(void *ctx, uint64_t bytes)
{
	struct bar *b = ctx;
	int pct = (int)(bytes >= b->total ? 100 : bytes * 100 / b->total);
	int fill = pct / 2;

	if (pct == b->shown)
		return;
	b->shown = pct;
	fprintf(stderr, "\r[%.*s%*s] %3d%%", fill,
		"==================================================",
		50 - fill, "", pct);
}

static void bar_end(const struct bar *b)
{
	if (b->shown >= 0)
		fputc('\n', stderr);
}

/* ---- the restore ---- */

static void report_read_error(const char *in, const char *out,
			      const struct xml_reader_error *err,
			      const struct cache_restore *rs)
{
	const char *what = err->msg;

	if (err->in_callback) {
		what = cache_restore_message(rs);
		if (!what)
			what = err->err == -ENOMEM ? "out of memory"
						   : pd_strerror(err->err);
		if (err->err == -ENOSPC) {
			tool_error("%s: Output file too small: %s", out, what);
			return;
		}
	}
	if (err->line)
		tool_error("%s: line %lu, column %lu: %s", in, err->line,
			   err->column, what);
	else
		tool_error("%s: %s", in, what);
}

static int parse_version(const char *opt, const char *s, uint32_t *v)
{
	if (!strcmp(s, "1") || !strcmp(s, "2")) {
		*v = (uint32_t)(s[0] - '0');
		return 0;
	}
	tool_error("Bad metadata version: %s must be 1 or 2, not '%s'", opt,
		   s);
	return -1;
}

/* 0.9.0's override takes any u32, even one no tool or kernel reads. */
static int parse_override(const char *s, uint32_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 10);
	if (!*s || *s == '-' || *s == '+' || *end || errno || x > UINT32_MAX) {
		tool_error("--debug-override-metadata-version: not a number "
			   "from 0 to %u: '%s'", UINT32_MAX, s);
		return -1;
	}
	*v = (uint32_t)x;
	return 0;
}

/* Writes version into the superblock the restore committed. */
static int override_version(struct pd_io *io, const char *path,
			    uint32_t version)
{
	struct cache_disk_sb *sb = aligned_alloc(PD_BLOCK_SIZE, PD_BLOCK_SIZE);
	int r = -ENOMEM;

	if (!sb)
		goto out;
	r = io->ops->read(io, CACHE_SB_LOCATION, 1, sb);
	if (r < 0)
		goto out;
	sb->version = cpu_to_le32(version);
	pd_validator_prepare(&cache_sb_validator, sb, CACHE_SB_LOCATION);
	r = io->ops->write(io, CACHE_SB_LOCATION, 1, sb);
	if (!r)
		r = io->ops->flush(io);
out:
	if (r < 0)
		tool_error("%s: writing version %" PRIu32 " into the superblock "
			   "failed: %s", path, version, pd_strerror(r));
	free(sb);
	return r;
}

static int run(const struct restore_opts *o)
{
	struct cache_restore_opts ro = { 0 };
	struct xml_reader_opts xo = { 0 };
	struct xml_reader_error err;
	struct cache_restore *rs = NULL;
	struct cache_emitter e;
	struct bar bar = { 0, -1 };
	struct pd_io *io = NULL;
	struct stat st;
	uint32_t override = 0;
	int fd, r, ret = 1;

	if (!o->input) {
		tool_error("No input file provided (-i FILE, or -i - for "
			   "standard input)");
		return 1;
	}
	if (!o->output) {
		tool_error("No output file provided (-o DEVICE or FILE)");
		return 1;
	}
	ro.version = CACHE_RESTORE_DEFAULT_VERSION;
	if (o->version &&
	    parse_version("--metadata-version", o->version, &ro.version) < 0)
		return 1;
	if (o->override_version) {
		if (parse_override(o->override_version, &override) < 0)
			return 1;
		ro.version = override >= 2 ? 2 : 1;
	}
	if (o->omit_clean_shutdown)
		ro.flags |= CACHE_RESTORE_OMIT_CLEAN_SHUTDOWN;

	if (tool_open_xml_input(o->input, &fd, &st) < 0)
		return 1;
	if (tool_open_restore_output(o->output, o->input, &st, &io) < 0)
		goto out_input;
	r = cache_restore_create(io, &ro, &rs);
	if (r < 0) {
		tool_error("%s", pd_strerror(r));
		goto out_io;
	}
	cache_restore_emitter(rs, &e);
	/* The restore's staging takes mappings and hints from two threads. */
	xo.parallel = 1;
	if (!o->quiet && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size >= PROGRESS_MIN_BYTES && isatty(STDERR_FILENO)) {
		bar.total = (uint64_t)st.st_size;
		xo.progress = bar_draw;
		xo.ctx = &bar;
	}

	r = xml_read_cache(fd, &e, &xo, &err);
	bar_end(&bar);
	if (r < 0) {
		report_read_error(o->input, o->output, &err, rs);
		goto out_restore;
	}
	r = cache_restore_commit(rs);
	if (r < 0) {
		static const char *const left[] = {
			[CACHE_RESTORE_LEFT_UNCHANGED] = "the device is unchanged",
			[CACHE_RESTORE_LEFT_ZEROED] = "block 0 is left zeroed",
			[CACHE_RESTORE_LEFT_UNFLUSHED] =
				"the new metadata is written but may not be on disk",
		};

		tool_error("%s: writing the metadata failed: %s (%s)",
			   o->output,
			   cache_restore_message(rs) ? cache_restore_message(rs)
						     : pd_strerror(r),
			   left[cache_restore_left(rs)]);
		goto out_restore;
	}
	if (o->override_version &&
	    override_version(io, o->output, override) < 0)
		goto out_restore;
	/* From the XML: the restore never reads its output back. */
	tool_warn_block_size_value(cache_restore_block_size(rs));
	ret = 0;
out_restore:
	cache_restore_destroy(rs);
out_io:
	pd_io_destroy(io);
out_input:
	if (fd != STDIN_FILENO)
		close(fd);
	return ret;
}

int cmd_cache_restore(int argc, const char **argv)
{
	struct restore_opts o = { 0 };
	char **const slots[] = { NULL, &o.input, &o.output, &o.version,
				 &o.override_version };
	struct poptOption table[] = {
		{ "input", 'i', POPT_ARG_STRING, NULL, 1,
		  "the XML to restore ('-' for standard input)", "FILE" },
		{ "output", 'o', POPT_ARG_STRING, NULL, 2,
		  "the metadata device or file to write (must exist)",
		  "DEVICE" },
		{ "metadata-version", 0, POPT_ARG_STRING, NULL, 3,
		  "metadata format version, 1 or 2 (default 2)", "{1|2}" },
		{ "omit-clean-shutdown", 0, POPT_ARG_NONE,
		  &o.omit_clean_shutdown, 0,
		  "leave the clean-shutdown flag clear (the kernel then "
		  "treats every mapped block as dirty)", NULL },
		{ "debug-override-metadata-version", 0, POPT_ARG_STRING, NULL,
		  4, "write N as the superblock's version, whatever it is "
		  "(for tests: metadata the kernel refuses)", "N" },
		{ "quiet", 'q', POPT_ARG_NONE, &o.quiet, 0,
		  "no progress bar", NULL },
		TOOL_POPT_HELP_VERSION(&o.help, &o.show_version)
	};
	const struct tool_parse_spec spec = {
		.slots = slots,
		.nr_slots = sizeof(slots) / sizeof(slots[0]),
		.help = &o.help,
		.no_args = 1,
		.version = &o.show_version,
	};
	poptContext pc;
	int r;

	pc = poptGetContext(tool_name, argc, argv, table, 0);
	poptSetOtherOptionHelp(pc, "-i XML -o DEVICE [OPTIONS]");
	r = tool_parse(pc, &spec);
	if (r != TOOL_PARSE_RUN)
		goto out;
	r = run(&o);
out:
	poptFreeContext(pc);
	tool_free_slots(&spec);
	return r;
}
