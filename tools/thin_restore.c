// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * thin_restore -i XML -o DEVICE|FILE [--transaction-id N]
 *              [--data-block-size N] [--nr-data-blocks N] [-q] [-h] [-V]
 *
 * Writes fresh thin-pool metadata from the XML thin_dump writes (0.9.0's
 * form; xml/reader.h, xml_read_thin), streaming: each device's mapping
 * tree is built as its mappings are read (thin/restore.h).  The three
 * numeric options override the <superblock>'s values, as 0.9.0's do.  The
 * output must already exist, as a regular file or a block device (opened
 * O_EXCL, so a device in use is refused), and not be the input.
 *
 * Block 0 is zeroed as soon as the <superblock> is read and the new
 * superblock is written last, so bad XML or a failure while writing
 * leaves an unformatted device, never a superblock over half-written
 * trees.
 *
 * A data block size the kernel cannot use (not 128..2097152 sectors in
 * steps of 128) is restored as asked, with one warning line.
 *
 * Exit codes: 0 restored; 1 anything else, with one line on stderr.
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

#include "pdata/io.h"
#include "thin/format.h"
#include "thin/restore.h"
#include "tools/common.h"
#include "tools/tool.h"
#include "xml/reader.h"

struct restore_opts {
	char *input;
	char *output;
	char *trans_id;
	char *data_block_size;
	char *nr_data_blocks;
	int quiet;
	int help;
	int show_version;
};

static void report_read_error(const char *in, const char *out,
			      const struct xml_reader_error *err,
			      const struct thin_restore *rs)
{
	const char *what = err->msg;

	if (err->in_callback) {
		what = thin_restore_message(rs);
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

static int run(const struct restore_opts *o)
{
	struct thin_restore_opts ro = { 0 };
	struct xml_reader_error err;
	struct thin_restore *rs = NULL;
	struct thin_emitter e;
	struct pd_io *io = NULL;
	struct stat st;
	uint64_t x;
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
	if (o->trans_id) {
		if (tool_parse_natural("--transaction-id", o->trans_id,
				       UINT64_MAX, &ro.trans_id) < 0)
			return 1;
		ro.set_trans_id = 1;
	}
	if (o->data_block_size) {
		if (tool_parse_natural("--data-block-size", o->data_block_size,
				       UINT32_MAX, &x) < 0)
			return 1;
		ro.data_block_size = (uint32_t)x;
		ro.set_data_block_size = 1;
	}
	if (o->nr_data_blocks) {
		if (tool_parse_natural("--nr-data-blocks", o->nr_data_blocks,
				       THIN_MAX_DATA_BLOCK + 1,
				       &ro.nr_data_blocks) < 0)
			return 1;
		ro.set_nr_data_blocks = 1;
	}

	if (tool_open_xml_input(o->input, &fd, &st) < 0)
		return 1;
	if (tool_open_restore_output(o->output, o->input, &st, &io) < 0)
		goto out_input;
	r = thin_restore_create(io, &ro, &rs);
	if (r < 0) {
		tool_error("%s", pd_strerror(r));
		goto out_io;
	}
	thin_restore_emitter(rs, &e);
	r = xml_read_thin(fd, &e, NULL, &err);
	if (r < 0) {
		report_read_error(o->input, o->output, &err, rs);
		goto out_restore;
	}
	r = thin_restore_commit(rs);
	if (r < 0) {
		static const char *const left[] = {
			[THIN_RESTORE_LEFT_UNCHANGED] = "the device is unchanged",
			[THIN_RESTORE_LEFT_ZEROED] = "block 0 is left zeroed",
			[THIN_RESTORE_LEFT_UNFLUSHED] =
				"the new metadata is written but may not be on disk",
		};

		/* The reason last: a message corpus line ends with it. */
		tool_error("%s: writing the metadata failed (%s): %s",
			   o->output, left[thin_restore_left(rs)],
			   thin_restore_message(rs) ? thin_restore_message(rs)
						    : pd_strerror(r));
		goto out_restore;
	}
	/* Restored as asked, as 0.9.0 does; but said, since no kernel takes it. */
	if (!thin_data_block_size_ok(thin_restore_block_size(rs)))
		tool_error("warning: the data block size is %" PRIu32 " sectors: "
			   "the kernel takes 128 to 2097152 sectors, a multiple "
			   "of 128, and cannot use this metadata (thin_check "
			   "refuses it)", thin_restore_block_size(rs));
	ret = 0;
out_restore:
	thin_restore_destroy(rs);
out_io:
	pd_io_destroy(io);
out_input:
	if (fd != STDIN_FILENO)
		close(fd);
	return ret;
}

int cmd_thin_restore(int argc, const char **argv)
{
	struct restore_opts o = { 0 };
	char **const slots[] = { NULL, &o.input, &o.output, &o.trans_id,
				 &o.data_block_size, &o.nr_data_blocks };
	struct poptOption table[] = {
		{ "input", 'i', POPT_ARG_STRING, NULL, 1,
		  "the XML to restore ('-' for standard input)", "FILE" },
		{ "output", 'o', POPT_ARG_STRING, NULL, 2,
		  "the metadata device or file to write (must exist)",
		  "DEVICE" },
		{ "transaction-id", 0, POPT_ARG_STRING, NULL, 3,
		  "the pool's transaction id, instead of the XML's", "N" },
		{ "data-block-size", 0, POPT_ARG_STRING, NULL, 4,
		  "the data block size in sectors, instead of the XML's", "N" },
		{ "nr-data-blocks", 0, POPT_ARG_STRING, NULL, 5,
		  "the number of data blocks, instead of the XML's", "N" },
		{ "quiet", 'q', POPT_ARG_NONE, &o.quiet, 0,
		  "no progress output (there is none: accepted as 0.9.0 does)",
		  NULL },
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
