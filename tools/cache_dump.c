// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_dump [-o FILE] [--repair] [-q] DEVICE|FILE: writes cache metadata
 * as XML, byte for byte the way thin-provisioning-tools 0.9.0 does for v1
 * metadata, and with the real dirty state for v2 (0.9.0 ignores the dirty
 * bitset).
 *
 * Exit codes: 0 dumped, 1 anything else, with one message on stderr.  When
 * the reader of the output goes away early (`cache_dump meta | head`, a
 * FIFO whose reader exits), the dump is killed by SIGPIPE with nothing on
 * stderr, as 0.9.0's: a truncated dump never passes for a whole one.  The input is only ever opened read-only.  With -o, the file is
 * created at once (so a bad path fails before any work) but only emptied
 * when the dump starts to write, and a file this run created is removed
 * again if the dump fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <popt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/dump.h"
#include "pdata/io.h"
#include "tools/common.h"
#include "tools/tool.h"
#include "xml/writer.h"

struct dump_opts {
	char *output;
	int repair;
	int quiet;
	int help;
	int version;
};

struct emit_start {
	struct tool_output *out;
	struct xml_writer *w;
	int failed;		/* tool_output_start failed and said why */
};

/* The writer's thread empties an old file while the dump goes on. */
static int empty_output(void *w)
{
	return xml_writer_empty_output(w);
}

static int before_emit(void *ctx, const struct cache_dump_result *res)
{
	struct emit_start *s = ctx;
	int r = tool_output_start_with(s->out, empty_output, s->w);

	(void)res;
	s->failed = r < 0;
	return r;
}

/* One message per way the dump can fail. */
static void report_failure(const char *input, const struct tool_output *out,
			   const struct cache_dump_result *res)
{
	const struct cache_sb *sb = &res->sb;

	switch (res->status) {
	case CACHE_DUMP_SB_UNREADABLE:
		tool_error("%s: cannot read the superblock: %s", input,
			   pd_strerror(res->err));
		break;
	case CACHE_DUMP_SB_ZEROED:
		tool_error("%s: no superblock: block 0 is all zeroes (never "
			   "formatted, or wiped by a failed restore)", input);
		break;
	case CACHE_DUMP_SB_NOT_CACHE:
		if (tool_looks_like_xml(input))
			tool_error_xml_input(input);
		else
			tool_error("%s: not dm-cache metadata (superblock magic "
				   "is %" PRIu64 ", not %u)", input, sb->magic,
				   CACHE_SB_MAGIC);
		break;
	case CACHE_DUMP_SB_LOCATION:
		tool_error("%s: bad superblock: it says it is block %" PRIu64
			   ", not block 0", input, sb->blocknr);
		break;
	case CACHE_DUMP_SB_CSUM:
		/* 0.9.0's words, which scripts may look for. */
		tool_error("%s: bad checksum in superblock", input);
		break;
	case CACHE_DUMP_SB_VERSION:
		tool_error("%s: unsupported metadata version %" PRIu32
			   " (versions %u and %u exist)", input, sb->version,
			   CACHE_MIN_VERSION, CACHE_MAX_VERSION);
		break;
	case CACHE_DUMP_SB_GEOMETRY:
		tool_error("%s: superblock is invalid: %" PRIu32 " cache blocks "
			   "cannot fit in this metadata device", input,
			   sb->cache_blocks);
		break;
	case CACHE_DUMP_SB_INVALID:
		if (res->violation.problem == CACHE_SB_POLICY_NAME)
			tool_error("%s: superblock is invalid: the policy name "
				   "has no NUL in its %u bytes (run cache_check "
				   "for details, or --repair to dump it cut to "
				   "%u)", input, CACHE_POLICY_NAME_SIZE,
				   CACHE_POLICY_NAME_SIZE - 1);
		else
			tool_error("%s: superblock is invalid: %s is %" PRIu64
				   " (run cache_check for details, or --repair "
				   "to dump what can be read)", input,
				   res->violation.field, res->violation.found);
		break;
	case CACHE_DUMP_DAMAGED:
		/* 0.9.0's message, word for word. */
		fprintf(stderr, "metadata contains errors (run cache_check for "
				"details).\nperhaps you wanted to run with "
				"--repair ?\n");
		break;
	case CACHE_DUMP_ERROR:
		if (res->err == -ENOMEM)
			tool_error("out of memory");
		else
			tool_error("%s: cannot write: %s", out->path,
				   strerror(-res->err));
		break;
	case CACHE_DUMP_OK:
		break;
	}
}

static void report_notes(const struct cache_dump_result *res, int repair)
{
	if (res->nr_sb_notes)
		tool_error("note: superblock %s is %" PRIu64 " (%" PRIu64
			   " rule(s) broken that do not affect the dump; run "
			   "cache_check)", res->sb_note.field, res->sb_note.found,
			   res->nr_sb_notes);
	if (res->fixed & CACHE_DUMP_FIX_BLOCK_SIZE)
		tool_error("repair: superblock block_size is 0; printed as %u, "
			   "a guess: put the cache's real block size in the XML "
			   "before restoring (the kernel refuses metadata whose "
			   "block size differs from its table's)",
			   CACHE_DUMP_GUESS_BLOCK_SIZE);
	if (res->fixed & CACHE_DUMP_FIX_POLICY)
		tool_error("repair: superblock policy name has no NUL in its %u "
			   "bytes; printed cut to its first %u",
			   CACHE_POLICY_NAME_SIZE, CACHE_POLICY_NAME_SIZE - 1);
	if (res->fixed & CACHE_DUMP_FIX_HINT_WIDTH)
		tool_error("repair: superblock hint width %" PRIu32 " is not 0 "
			   "or a multiple of 4 up to %u; its hints are dropped "
			   "and hint_width is printed as 0",
			   cache_sb_hint_width(&res->sb), CACHE_MAX_HINT_SIZE);
	if (res->fixed & CACHE_DUMP_FIX_DUPLICATES)
		tool_error("repair: %" PRIu64 " mapping(s) of an origin block "
			   "another cache block maps too left out (the dirty "
			   "one kept, else the lower cache block)",
			   res->nr_duplicates);
	if (res->fixed & CACHE_DUMP_FIX_DISCARDS)
		tool_error("repair: a mapping is past the origin size the "
			   "discard geometry gives; the discards are left out "
			   "(the kernel sets a new geometry on its next load)");
	if (repair && res->nr_damage)
		tool_error("repair: skipped %" PRIu64 " damaged range(s): "
			   "%" PRIu64 " mapping(s) and %" PRIu64 " hint(s) "
			   "lost, %" PRIu64 " unreadable dirty bit(s) reported "
			   "dirty, %" PRIu64 " discard bit(s) lost",
			   res->nr_damage, res->lost_mappings, res->lost_hints,
			   res->lost_dirty, res->lost_discards);
	if (!(res->sb.flags & CACHE_SB_CLEAN_SHUTDOWN))
		tool_error("note: the metadata was not shut down cleanly: the "
			   "kernel treats every mapping as dirty on its next "
			   "load (the dirty flags above are as stored)");
}

static int run(const struct dump_opts *o, const char *input)
{
	struct cache_dump_opts dopts = { 0 };
	struct cache_dump_result res;
	struct tool_output out;
	struct emit_start start = { &out, NULL, 0 };
	struct xml_writer *w = NULL;
	struct cache_emitter e;
	struct pd_io *io = NULL;
	int broken_pipe = 0;
	int r;

	r = tool_open_metadata(input, PD_IO_RDONLY | PD_IO_EXCL | PD_IO_AIO,
			       &io);
	if (r < 0)
		return 1;
	r = tool_output_open(&out, o->output, input);
	if (r < 0)
		goto out_io;
	r = xml_writer_create(out.fd, &w);
	if (r < 0) {
		tool_error("out of memory");
		goto out_abort;
	}
	start.w = w;
	xml_writer_emitter(w, &e);

	/* A closed pipe is an EPIPE from write(2): cleaned up, then SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	dopts.flags = o->repair ? CACHE_DUMP_REPAIR : 0;
	dopts.before_emit = before_emit;
	dopts.ctx = &start;
	r = cache_dump(io, &dopts, &e, &res);
	if (!r)
		r = xml_writer_flush(w);
	if (r == -EPIPE) {
		broken_pipe = 1;
		goto out_abort;
	}
	if (r < 0) {
		if (!res.status) {
			res.status = CACHE_DUMP_ERROR;
			res.err = r;
		}
		if (!start.failed)
			report_failure(input, &out, &res);
		goto out_abort;
	}
	r = tool_output_close(&out);
	if (r < 0)
		goto out_abort;
	if (!o->quiet)
		report_notes(&res, o->repair);
	r = 0;
	goto out_writer;

out_abort:
	tool_output_abort(&out);
	r = -1;
out_writer:
	xml_writer_destroy(w);
out_io:
	pd_io_destroy(io);
	if (broken_pipe)
		tool_die_of_sigpipe();
	return r < 0 ? 1 : 0;
}

int cmd_cache_dump(int argc, const char **argv)
{
	struct dump_opts o = { 0 };
	struct poptOption table[] = {
		{ "output", 'o', POPT_ARG_STRING, &o.output, 0,
		  "write the XML to FILE instead of standard output", "FILE" },
		{ "repair", 0, POPT_ARG_NONE, &o.repair, 0,
		  "skip damaged parts and dump what can be read", NULL },
		{ "quiet", 'q', POPT_ARG_NONE, &o.quiet, 0,
		  "no notes on standard error (errors are still printed)",
		  NULL },
		TOOL_POPT_HELP_VERSION(&o.help, &o.version)
	};
	const char *input;
	const struct tool_parse_spec spec = {
		.help = &o.help,
		.version = &o.version,
	};
	poptContext pc;
	int r;

	pc = poptGetContext(tool_name, argc, argv, table, 0);
	poptSetOtherOptionHelp(pc, "[OPTIONS] {device|file}");
	r = tool_parse(pc, &spec);
	if (r != TOOL_PARSE_RUN)
		goto out;
	input = poptGetArg(pc);
	if (!input) {
		tool_error("No input file provided.");
		poptPrintUsage(pc, stderr, 0);
		r = 1;
		goto out;
	}
	if (poptPeekArg(pc)) {
		tool_error("Unexpected argument: %s", poptPeekArg(pc));
		r = 1;
		goto out;
	}
	r = run(&o, input);
out:
	poptFreeContext(pc);
	free(o.output);
	return r;
}
