// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * thin_dump [-f xml|human_readable] [-r] [-m[BLOCK]] [--dev-id N]
 * [--skip-mappings] [-o FILE] DEVICE|FILE: writes thin-pool metadata as
 * XML, byte for byte the way thin-provisioning-tools 0.9.0 does, or in its
 * human-readable form.  LVM reads only the first line, for transaction="N".
 *
 * Exit codes: 0 dumped (also when the reader of a pipe went away early),
 * 1 anything else, with one message on stderr.  The input is only ever
 * opened read-only (O_EXCL on a block device, except with -m: a metadata
 * snapshot is read from live metadata).  With -o, the file is created at
 * once but only emptied when the dump starts to write, and a file this run
 * created is removed again if the dump fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <popt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdata/io.h"
#include "thin/dump.h"
#include "tools/common.h"
#include "tools/tool.h"
#include "xml/thin_writer.h"

struct dump_opts {
	char *output;
	char *format;
	char *dev_id;
	char *snap_value;
	int snap_flag;
	int repair;
	int skip_mappings;
	int quiet;
	int help;
	int version;
};

struct emit_start {
	struct tool_output *out;
	struct thin_writer *w;
	int failed;
};

/* The writer's thread empties an old file while the dump goes on. */
static int empty_output(void *w)
{
	return thin_writer_empty_output(w);
}

static int before_emit(void *ctx, const struct thin_dump_result *res)
{
	struct emit_start *s = ctx;
	int r = tool_output_start_with(s->out, empty_output, s->w);

	(void)res;
	s->failed = r < 0;
	return r;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

static void report_failure(const char *input, const struct tool_output *out,
			   const struct thin_dump_result *res)
{
	char buf[256];

	switch (res->status) {
	case THIN_DUMP_SB_UNREADABLE:
		tool_error("%s: cannot read the superblock: %s", input,
			   pd_strerror(res->err));
		break;
	case THIN_DUMP_SB_ZEROED:
		tool_error("%s: no superblock: block 0 is all zeroes (never "
			   "formatted, or wiped)", input);
		break;
	case THIN_DUMP_SB_NOT_THIN:
		if (tool_looks_like_xml(input))
			tool_error_xml_input(input);
		else
			tool_error("%s: not dm-thin metadata (superblock magic "
				   "is %" PRIu64 ", not %u)", input,
				   res->sb.magic, THIN_SB_MAGIC);
		break;
	case THIN_DUMP_SB_LOCATION:
		tool_error("%s: bad superblock: it says it is block %" PRIu64
			   ", not block 0", input, res->sb.blocknr);
		break;
	case THIN_DUMP_SB_CSUM:
		/* 0.9.0's words, which scripts may look for. */
		tool_error("%s: bad checksum in superblock, wanted %" PRIu64,
			   input, res->fault.expected);
		break;
	case THIN_DUMP_NO_SNAP:
		tool_error("%s: no current metadata snap", input);
		break;
	case THIN_DUMP_SNAP_BAD:
		pd_fault_format(&res->fault, buf, sizeof(buf));
		tool_error("%s: cannot read the metadata snapshot: %s", input,
			   buf);
		break;
	case THIN_DUMP_DAMAGED:
		pd_fault_format(&res->fault, buf, sizeof(buf));
		if (!strcmp(res->structure, "device mapping tree"))
			tool_error("%s: the mapping tree of device %" PRIu64
				   " is damaged: %s", input, res->dev_id, buf);
		else
			tool_error("%s: %s damaged: %s", input, res->structure,
				   buf);
		/* 0.9.0's message, word for word. */
		fprintf(stderr, "metadata contains errors (run thin_check for "
				"details).\nperhaps you wanted to run with "
				"--repair\n");
		break;
	case THIN_DUMP_ERROR:
		if (res->err == -ENOMEM)
			tool_error("out of memory");
		else
			tool_error("%s: cannot write: %s", out->path,
				   strerror(-res->err));
		break;
	case THIN_DUMP_OK:
		break;
	}
}

static int run(const struct dump_opts *o, const char *input,
	       const struct thin_dump_opts *dopts_in, enum thin_writer_format fmt)
{
	struct thin_dump_opts dopts = *dopts_in;
	struct thin_dump_result res;
	struct tool_output out;
	struct emit_start start = { &out, NULL, 0 };
	struct thin_writer *w = NULL;
	struct thin_emitter e;
	struct pd_io *io = NULL;
	unsigned oflags = PD_IO_RDONLY | PD_IO_AIO;
	int r;

	/* A metadata snapshot is read while the pool is live. */
	if (!(dopts.flags & THIN_DUMP_METADATA_SNAP))
		oflags |= PD_IO_EXCL;
	r = tool_open_metadata(input, tool_io_engine(input, oflags), &io);
	if (r < 0)
		return 1;
	r = tool_output_open(&out, o->output, input);
	if (r < 0)
		goto out_io;
	r = thin_writer_create(out.fd, fmt, &w);
	if (r < 0) {
		tool_error("out of memory");
		goto out_abort;
	}
	start.w = w;
	thin_writer_emitter(w, &e);
	signal(SIGPIPE, SIG_IGN);
	dopts.before_emit = before_emit;
	dopts.ctx = &start;
	r = thin_dump(io, &dopts, &e, &res);
	if (!r)
		r = thin_writer_flush(w);
	if (r == -EPIPE && out.is_stdout) {
		r = 0;
		goto out_writer;
	}
	if (r < 0) {
		if (!res.status) {
			res.status = THIN_DUMP_ERROR;
			res.err = r;
		}
		if (!start.failed)
			report_failure(input, &out, &res);
		goto out_abort;
	}
	r = tool_output_close(&out);
	if (r < 0)
		goto out_abort;
	if (!o->quiet && (dopts.flags & THIN_DUMP_REPAIR) && res.nr_damage)
		tool_error("repair: skipped %" PRIu64 " damaged part(s); first: "
			   "%s; %" PRIu64 " device(s) dropped or without "
			   "mappings", res.nr_damage, res.structure,
			   res.lost_devices);
	r = 0;
	goto out_writer;

out_abort:
	tool_output_abort(&out);
	r = -1;
out_writer:
	thin_writer_destroy(w);
out_io:
	pd_io_destroy(io);
	return r < 0 ? 1 : 0;
}

int cmd_thin_dump(int argc, const char **argv)
{
	struct dump_opts o = { 0 };
	struct poptOption table[] = {
		{ "format", 'f', POPT_ARG_STRING, &o.format, 0,
		  "xml (the default) or human_readable", "FORMAT" },
		{ "repair", 'r', POPT_ARG_NONE, &o.repair, 0,
		  "skip damaged parts and dump what can be read", NULL },
		{ "metadata-snap-flag", 0, POPT_ARG_NONE | POPT_ARGFLAG_DOC_HIDDEN,
		  &o.snap_flag, 0, NULL, NULL },
		{ "metadata-snap-value", 0,
		  POPT_ARG_STRING | POPT_ARGFLAG_DOC_HIDDEN, &o.snap_value, 0,
		  NULL, NULL },
		/*
		 * -m and --metadata-snap alone are rewritten before popt
		 * (tool_split_optional); this entry shows them in the help and
		 * catches -m inside a cluster such as -qm.
		 */
		{ "metadata-snap", 'm', POPT_ARG_NONE, &o.snap_flag, 0,
		  "dump the held metadata snapshot (-mBLOCK or "
		  "--metadata-snap=BLOCK: the one at BLOCK)", NULL },
		{ "output", 'o', POPT_ARG_STRING, &o.output, 0,
		  "write to FILE instead of standard output", "FILE" },
		{ "dev-id", 0, POPT_ARG_STRING, &o.dev_id, 0,
		  "dump only this device", "ID" },
		{ "skip-mappings", 0, POPT_ARG_NONE, &o.skip_mappings, 0,
		  "devices only, without their mappings", NULL },
		{ "quiet", 'q', POPT_ARG_NONE, &o.quiet, 0,
		  "no notes on standard error (errors are still printed)",
		  NULL },
		TOOL_POPT_HELP_VERSION(&o.help, &o.version)
	};
	const struct tool_parse_spec spec = {
		.help = &o.help,
		.version = &o.version,
	};
	struct thin_dump_opts dopts = { 0 };
	enum thin_writer_format fmt = THIN_WRITER_XML;
	const char **args;
	const char *input;
	poptContext pc;
	int r;

	args = tool_split_optional(argc, argv, 'm', "metadata-snap");
	if (!args) {
		tool_error("out of memory");
		return 1;
	}
	pc = poptGetContext(tool_name, argc, args, table, 0);
	poptSetOtherOptionHelp(pc, "[OPTIONS] {device|file}");
	r = tool_parse(pc, &spec);
	if (r != TOOL_PARSE_RUN)
		goto out;
	r = 1;
	if (o.format && !strcmp(o.format, "human_readable")) {
		fmt = THIN_WRITER_HUMAN;
	} else if (o.format && strcmp(o.format, "xml")) {
		tool_error("unknown format '%s' (xml or human_readable)",
			   o.format);
		goto out;
	}
	if (o.dev_id) {
		if (parse_u64(o.dev_id, &dopts.dev_id) < 0) {
			tool_error("couldn't parse <dev-id>: '%s'", o.dev_id);
			goto out;
		}
		dopts.flags |= THIN_DUMP_DEV_ID;
	}
	if (o.snap_flag || o.snap_value) {
		dopts.flags |= THIN_DUMP_METADATA_SNAP;
		if (o.snap_value &&
		    (parse_u64(o.snap_value, &dopts.snap_block) < 0 ||
		     !dopts.snap_block)) {
			tool_error("couldn't parse the metadata snapshot block: "
				   "'%s'", o.snap_value);
			goto out;
		}
	}
	if (o.repair)
		dopts.flags |= THIN_DUMP_REPAIR;
	if (o.skip_mappings)
		dopts.flags |= THIN_DUMP_SKIP_MAPPINGS;
	input = poptGetArg(pc);
	if (!input) {
		tool_error("No input file provided.");
		poptPrintUsage(pc, stderr, 0);
		goto out;
	}
	if (poptPeekArg(pc)) {
		tool_error("Unexpected argument: %s", poptPeekArg(pc));
		goto out;
	}
	r = run(&o, input, &dopts, fmt);
out:
	poptFreeContext(pc);
	tool_free_argv(argc, args, argv);
	free(o.output);
	free(o.format);
	free(o.dev_id);
	free(o.snap_value);
	return r;
}
