// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * thin_check: verifies dm-thin metadata (thin/check.c does the work).
 *
 * A drop-in for 0.9.0's thin_check, which LVM runs as
 * `thin_check -q --clear-needs-check-flag TMETA` on every activation: the
 * same options, progress lines on stderr ("examining superblock" ...),
 * findings indented below them, TRANSACTION_ID= and METADATA_FREE_BLOCKS=
 * on stdout (the free count right: 0.9.0's is off), -V printing the bare
 * version, exit 0 when the metadata is usable and 1 when it is not or
 * could not be read.  Unlike 0.9.0, --clear-needs-check-flag is accepted
 * with --skip-mappings and --super-block-only (the slow-boot work-around
 * distributions give).  The device is opened read-only unless a flag that
 * may write is given, and without O_EXCL only for -m (live metadata).
 */
#include <errno.h>
#include <inttypes.h>
#include <popt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdata/bm.h"
#include "pdata/io.h"
#include "thin/check.h"
#include "tools/common.h"
#include "tools/tool.h"

struct check_cli {
	int quiet;
	int sb_only;
	int skip_mappings;
	int clear_needs_check;
	int auto_repair;
	int ignore_non_fatal;
	int snap_flag;
	char *snap_value;
	char *override_root;
	int help;
	int version;
};

static void sink_pass(void *ctx, const char *text)
{
	(void)ctx;
	fprintf(stderr, "%s\n", text);
}

static const char *sev_word(enum thin_severity sev)
{
	return sev == THIN_SEV_FATAL ? "error" : "warning";
}

static void sink_problem(void *ctx, enum thin_problem id,
			 enum thin_severity sev, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "  %s: %s [%s]\n", sev_word(sev), msg,
		thin_problem_name(id));
}

static void sink_more(void *ctx, enum thin_problem id, enum thin_severity sev,
		      uint64_t n)
{
	(void)ctx;
	fprintf(stderr, "  %s: ... and %" PRIu64 " more [%s]\n", sev_word(sev),
		n, thin_problem_name(id));
}

static void sink_action(void *ctx, const char *text)
{
	(void)ctx;
	fprintf(stderr, "  %s\n", text);
}

static const char *open_error(int r)
{
	switch (r) {
	case -ENODEV:
		return "not a block device or regular file";
	case -EBUSY:
		return "device is in use (is the pool active? use -m to check "
		       "a metadata snapshot of live metadata)";
	default:
		return strerror(-r);
	}
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || *end ? -EINVAL : 0;
}

static int run(const struct check_cli *o, const char *path,
	       const struct thin_check_opts *opts)
{
	const struct thin_check_sink sink = {
		.pass = sink_pass,
		.problem = sink_problem,
		.more = sink_more,
		.action = sink_action,
	};
	struct thin_check_result res;
	unsigned oflags = PD_IO_AIO;
	struct pd_io *io;
	int r;

	/* A metadata snapshot is checked while the pool is live. */
	if (!(opts->flags & THIN_CHECK_METADATA_SNAP))
		oflags |= PD_IO_EXCL;
	/* Only the two flags that may write open the device for writing. */
	if (opts->flags & (THIN_CHECK_CLEAR_NEEDS_CHECK | THIN_CHECK_AUTO_REPAIR))
		oflags |= PD_IO_WRITE;
	r = pd_io_open(path, tool_io_engine(path, oflags), &io);
	if (r < 0) {
		tool_error("%s: %s", path, open_error(r));
		return 1;
	}
	r = thin_check(io, opts, o->quiet ? NULL : &sink, &res);
	pd_io_destroy(io);
	if (r < 0) {
		tool_error("%s: check could not complete: %s", path,
			   pd_strerror(r));
		return 1;
	}
	if (!o->quiet && res.have_sb) {
		printf("TRANSACTION_ID=%" PRIu64 "\n", res.trans_id);
		if (res.have_free)
			printf("METADATA_FREE_BLOCKS=%" PRIu64 "\n",
			       res.metadata_free);
	}
	return res.nr_fatal ? 1 : 0;
}

int cmd_thin_check(int argc, const char **argv)
{
	struct check_cli o = { 0 };
	struct poptOption table[] = {
		{ "quiet", 'q', POPT_ARG_NONE, &o.quiet, 0,
		  "print nothing; the exit code says it all", NULL },
		{ "super-block-only", 0, POPT_ARG_NONE, &o.sb_only, 0,
		  "check the superblock only", NULL },
		{ "skip-mappings", 0, POPT_ARG_NONE, &o.skip_mappings, 0,
		  "check the devices and the top level of the mapping tree, "
		  "not each device's mappings", NULL },
		{ "clear-needs-check-flag", 0, POPT_ARG_NONE,
		  &o.clear_needs_check, 0,
		  "free leaked blocks and clear NEEDS_CHECK if no error was "
		  "found", NULL },
		{ "auto-repair", 0, POPT_ARG_NONE, &o.auto_repair, 0,
		  "free leaked blocks and clear NEEDS_CHECK; nothing else",
		  NULL },
		{ "ignore-non-fatal-errors", 0, POPT_ARG_NONE,
		  &o.ignore_non_fatal, 0,
		  "don't report warnings (they never fail the check)", NULL },
		{ "override-mapping-root", 0, POPT_ARG_STRING,
		  &o.override_root, 0,
		  "check the mapping tree at BLOCK instead of the superblock's",
		  "BLOCK" },
		{ "metadata-snap-flag", 0,
		  POPT_ARG_NONE | POPT_ARGFLAG_DOC_HIDDEN, &o.snap_flag, 0,
		  NULL, NULL },
		{ "metadata-snap-value", 0,
		  POPT_ARG_STRING | POPT_ARGFLAG_DOC_HIDDEN, &o.snap_value, 0,
		  NULL, NULL },
		/*
		 * -m and --metadata-snap alone are rewritten before popt
		 * (tool_split_optional); this entry shows them in the help and
		 * catches -m inside a cluster such as -qm.
		 */
		{ "metadata-snap", 'm', POPT_ARG_NONE, &o.snap_flag, 0,
		  "check the held metadata snapshot of live metadata "
		  "(-mBLOCK or --metadata-snap=BLOCK: the one at BLOCK)",
		  NULL },
		TOOL_POPT_HELP_VERSION(&o.help, &o.version)
	};
	const struct tool_parse_spec spec = {
		.help = &o.help,
		.version = &o.version,
	};
	struct thin_check_opts opts = { 0 };
	const char **args;
	const char *path;
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
	/* A tuning knob, in the environment so that LVM's command line
	 * stays 0.9.0's (man page, ENVIRONMENT). */
	{
		const char *t = getenv("THIN_CHECK_THREADS");

		if (t && (!strcmp(t, "1") || !strcmp(t, "2")))
			opts.threads = (unsigned)(t[0] - '0');
	}
	if (o.sb_only)
		opts.flags |= THIN_CHECK_SB_ONLY;
	if (o.skip_mappings)
		opts.flags |= THIN_CHECK_SKIP_MAPPINGS;
	if (o.clear_needs_check)
		opts.flags |= THIN_CHECK_CLEAR_NEEDS_CHECK;
	if (o.auto_repair)
		opts.flags |= THIN_CHECK_AUTO_REPAIR;
	if (o.ignore_non_fatal)
		opts.flags |= THIN_CHECK_IGNORE_WARNINGS;
	if (o.override_root) {
		if (parse_u64(o.override_root, &opts.mapping_root) < 0) {
			tool_error("--override-mapping-root: not a block "
				   "number: '%s'", o.override_root);
			goto out;
		}
		opts.flags |= THIN_CHECK_OVERRIDE_MAPPING_ROOT;
	}
	if (o.snap_flag || o.snap_value) {
		opts.flags |= THIN_CHECK_METADATA_SNAP;
		if (o.snap_value && (parse_u64(o.snap_value,
					       &opts.snap_block) < 0 ||
				     !opts.snap_block)) {
			tool_error("--metadata-snap: not a block number: '%s'",
				   o.snap_value);
			goto out;
		}
		if (o.clear_needs_check || o.auto_repair) {
			tool_error("--metadata-snap checks live metadata: it "
				   "cannot be combined with a flag that writes");
			goto out;
		}
	}
	path = poptGetArg(pc);
	if (!path) {
		tool_error("No input file provided.");
		poptPrintUsage(pc, stderr, 0);
		goto out;
	}
	if (poptPeekArg(pc)) {
		tool_error("only one device may be checked: '%s'",
			   poptPeekArg(pc));
		goto out;
	}
	r = run(&o, path, &opts);
out:
	poptFreeContext(pc);
	tool_free_argv(argc, args, argv);
	free(o.snap_value);
	free(o.override_root);
	return r;
}
