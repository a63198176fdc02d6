// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * thin_repair -i IN -o OUT [--transaction-id N] [--data-block-size N]
 *             [--nr-data-blocks N] [-q] [-h] [-V]
 *
 * Salvages damaged thin-pool metadata from IN (thin/repair.h says how:
 * the superblock's trees, then a scan for lost trees, older copies and
 * orphans) and writes it to OUT with the restore writer (thin/restore.h),
 * superblock last.  Every decision and every difference from what the
 * superblock claimed is printed on standard output, one line each (not
 * with -q): the transaction chosen, devices lost or adopted, ranges
 * patched from older copies, mapped_blocks corrected.
 *
 * Order of work, so that a bad input never costs the output anything: IN
 * is opened read-only (O_EXCL on a block device), OUT is checked (it must
 * exist, not be IN, not be in use), the whole salvage happens in memory,
 * OUT's size is checked against what the salvage needs, and only then is
 * OUT written.  The three numeric options override the recovered values,
 * as 0.9.0's do.  LVM passes its empty thin_repair_options as one ""
 * argument: one such argument is accepted and ignored.
 *
 * Exit codes: 0 repaired; 1 anything else, with one line on stderr
 * (an empty pool from non-empty evidence is refused).
 */
#include <errno.h>
#include <inttypes.h>
#include <popt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdata/io.h"
#include "thin/format.h"
#include "thin/repair.h"
#include "thin/restore.h"
#include "tools/common.h"
#include "tools/tool.h"

struct repair_opts {
	char *input;
	char *output;
	char *trans_id;
	char *data_block_size;
	char *nr_data_blocks;
	int quiet;
	int help;
	int show_version;
};

static void print_note(void *ctx, const char *line)
{
	(void)ctx;
	printf("%s\n", line);
}

static int parse_overrides(const struct repair_opts *o,
			   struct thin_repair_opts *ro)
{
	uint64_t x;

	if (o->trans_id) {
		if (tool_parse_natural("--transaction-id", o->trans_id,
				       UINT64_MAX, &ro->trans_id) < 0)
			return -1;
		ro->set_trans_id = 1;
	}
	if (o->data_block_size) {
		if (tool_parse_natural("--data-block-size", o->data_block_size,
				       UINT32_MAX, &x) < 0)
			return -1;
		if (!thin_data_block_size_ok(x)) {
			tool_error("--data-block-size: %" PRIu64 " sectors: the "
				   "kernel takes 128 to 2097152, a multiple of "
				   "128", x);
			return -1;
		}
		ro->data_block_size = (uint32_t)x;
		ro->set_data_block_size = 1;
	}
	if (o->nr_data_blocks) {
		if (tool_parse_natural("--nr-data-blocks", o->nr_data_blocks,
				       THIN_MAX_DATA_BLOCK + 1,
				       &ro->nr_data_blocks) < 0)
			return -1;
		ro->set_nr_data_blocks = 1;
	}
	return 0;
}

static int write_output(const struct repair_opts *o, struct thin_repair *rp,
			struct pd_io *out)
{
	struct thin_restore *rs = NULL;
	struct thin_emitter e;
	int r;

	r = thin_restore_create(out, NULL, &rs);
	if (r < 0) {
		tool_error("out of memory");
		return -1;
	}
	thin_restore_emitter(rs, &e);
	r = thin_repair_emit(rp, &e);
	if (!r)
		r = thin_restore_commit(rs);
	if (r < 0) {
		const char *why = thin_restore_message(rs);

		if (r == -ENOSPC)
			tool_error("%s: Output file too small: %s", o->output,
				   why ? why : pd_strerror(r));
		else
			tool_error("%s: writing the repaired metadata failed: %s",
				   o->output, why ? why : pd_strerror(r));
	}
	thin_restore_destroy(rs);
	return r < 0 ? -1 : 0;
}

static int run(const struct repair_opts *o)
{
	struct thin_repair_opts ro = { 0 };
	struct thin_repair *rp = NULL;
	struct pd_io *in = NULL, *out = NULL;
	uint64_t need;
	char msg[256];
	int r, ret = 1;

	if (parse_overrides(o, &ro) < 0)
		return 1;
	if (tool_refuse_input(o->output, o->input, NULL) < 0)
		return 1;
	r = tool_open_metadata(o->input,
			       tool_io_engine(o->input, PD_IO_RDONLY |
							       PD_IO_EXCL |
							       PD_IO_AIO),
			       &in);
	if (r < 0)
		return 1;
	if (tool_open_restore_output(o->output, o->input, NULL, &out) < 0)
		goto out;
	if (!o->quiet) {
		ro.note = print_note;
		ro.ctx = NULL;
	}
	r = thin_repair_read(in, &ro, &rp, msg, sizeof(msg));
	if (r < 0) {
		if (r == -EILSEQ && tool_looks_like_xml(o->input))
			tool_error_xml_input(o->input);
		else
			tool_error("%s: %s", o->input, msg[0] ? msg :
				   pd_strerror(r));
		goto out;
	}
	if (!o->quiet)
		printf("repaired: transaction %" PRIu64 ", %" PRIu64
		       " device(s), %" PRIu64 " mapping(s)\n",
		       thin_repair_trans_id(rp), thin_repair_nr_devices(rp),
		       thin_repair_nr_mappings(rp));
	/* A lost report stops the repair before OUT is touched. */
	if (tool_flush_stdout() < 0)
		goto out;
	need = thin_repair_blocks_needed(rp);
	if (out->nr_blocks < need) {
		tool_error("%s: Output file too small: %" PRIu64 " blocks, "
			   "the repaired metadata needs about %" PRIu64,
			   o->output, out->nr_blocks, need);
		goto out;
	}
	if (write_output(o, rp, out) < 0)
		goto out;
	ret = 0;
out:
	thin_repair_destroy(rp);
	pd_io_destroy(out);
	pd_io_destroy(in);
	return ret;
}

int cmd_thin_repair(int argc, const char **argv)
{
	struct repair_opts o = { 0 };
	char **const slots[] = { NULL, &o.input, &o.output, &o.trans_id,
				 &o.data_block_size, &o.nr_data_blocks };
	struct poptOption table[] = {
		{ "input", 'i', POPT_ARG_STRING, NULL, 1,
		  "the damaged metadata (opened read-only)", "FILE" },
		{ "output", 'o', POPT_ARG_STRING, NULL, 2,
		  "where to write the repaired metadata (must exist)",
		  "DEVICE" },
		{ "transaction-id", 0, POPT_ARG_STRING, NULL, 3,
		  "the pool's transaction id, instead of the recovered one",
		  "N" },
		{ "data-block-size", 0, POPT_ARG_STRING, NULL, 4,
		  "the data block size in sectors, instead of the recovered "
		  "one", "N" },
		{ "nr-data-blocks", 0, POPT_ARG_STRING, NULL, 5,
		  "the number of data blocks, instead of the recovered one",
		  "N" },
		{ "quiet", 'q', POPT_ARG_NONE, &o.quiet, 0,
		  "do not report what was recovered", NULL },
		TOOL_POPT_HELP_VERSION(&o.help, &o.show_version)
	};
	const struct tool_parse_spec spec = {
		.slots = slots,
		.nr_slots = sizeof(slots) / sizeof(slots[0]),
		.help = &o.help,
		.version = &o.show_version,
	};
	const char *extra;
	poptContext pc;
	int r;

	pc = poptGetContext(tool_name, argc, argv, table, 0);
	poptSetOtherOptionHelp(pc, "-i INPUT -o OUTPUT [OPTIONS]");
	r = tool_parse(pc, &spec);
	if (r != TOOL_PARSE_RUN)
		goto out;
	/* LVM's empty thin_repair_options arrives as one "" argument. */
	extra = poptGetArg(pc);
	if ((extra && *extra) || poptPeekArg(pc)) {
		tool_error("unexpected argument: %s",
			   extra && *extra ? extra : poptPeekArg(pc));
		r = 1;
		goto out;
	}
	r = 1;
	if (!o.input)
		tool_error("No input file provided (-i)");
	else if (!o.output)
		tool_error("No output file provided (-o)");
	else
		r = run(&o);
out:
	poptFreeContext(pc);
	tool_free_slots(&spec);
	return r;
}
