/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Helpers the tool front ends share beyond tool.h: opening the metadata
 * input with one clear message per way it can be wrong, telling an XML file
 * given as metadata apart from garbage, and an output file that is only
 * created or truncated once there is something to write into it.
 *
 * These print (they are tool code) and return 0 or a negative errno.
 */
#ifndef TOOLS_COMMON_H
#define TOOLS_COMMON_H

#include <popt.h>
#include <stddef.h>
#include <sys/stat.h>

#include "pdata/io.h"

/*
 * Opens a metadata device or file with pd_io_open(flags) and checks that it
 * holds at least a superblock.  On failure prints one line
 * ("<tool>: PATH: why") and returns the negative errno.  A file shorter
 * than one block is -EINVAL, and the message says so, or that it looks like
 * XML.  With PD_IO_AIO, falls back to plain reads where libaio cannot be
 * set up (no aio in the kernel, or aio-max-nr reached).
 */
int tool_open_metadata(const char *path, unsigned flags, struct pd_io **out);

/*
 * The engine for a metadata path: PD_IO_AIO is dropped for a regular file.
 * Buffered reads of a file come from the page cache synchronously even
 * through libaio, so aio buys nothing there, and tearing its context down
 * (io_destroy waits for an RCU grace period) cost 30 ms of a 60 ms check
 * of 1M cache blocks.  Block devices keep aio.
 */
unsigned tool_io_engine(const char *path, unsigned flags);

/* 1 when the file starts (after blanks or a BOM) like an XML document. */
int tool_looks_like_xml(const char *path);

/* The one line printed for an XML file given where metadata belongs. */
void tool_error_xml_input(const char *path);

/*
 * An output file, opened early (so a path that cannot be created fails
 * before any work) but emptied only by tool_output_start().  A file that
 * did not exist before is removed by tool_output_abort().  A NULL or "-"
 * path means standard output.
 */
struct tool_output {
	const char *path;	/* for messages: "standard output" for stdout */
	int fd;
	int created;		/* we created it: remove it on failure */
	int started;
	int is_stdout;
};

/*
 * 1 when a and b are one file: the same device and inode (which a symlink,
 * a hard link, /proc/self/fd/N or a bind mount all share), or two nodes
 * of the same block device (st_rdev).
 */
int tool_same_file(const struct stat *a, const struct stat *b);

/*
 * Refuses an output that is the input, whatever name either goes by:
 * -EEXIST and one line, "OUTPUT: the output is the input (INPUT);
 * refusing to overwrite it".  in is the input's stat, or NULL to stat
 * input.  An output or input that cannot be stat'ed is not refused here
 * (0): opening it says what is wrong.  Call before anything is written.
 */
int tool_refuse_input(const char *output, const char *input,
		      const struct stat *in);

/*
 * The restores' XML input: a file, or "-" for standard input; not a
 * directory.  0 with *fd and *st, or -1 after one line (0.9.0's words
 * first: scripts search for them).
 */
int tool_open_xml_input(const char *path, int *fd, struct stat *st);
/*
 * The restores' output: an existing regular file or block device, not the
 * input (in: its stat), not in use, opened for writing.  0, or -1 after
 * one line.
 */
int tool_open_restore_output(const char *path, const char *input,
			     const struct stat *in, struct pd_io **io);

/*
 * Refuses (-EEXIST) an output that is the input file itself; input may be
 * NULL.  Prints on failure.
 */
int tool_output_open(struct tool_output *o, const char *path,
		     const char *input);
/* Truncates a regular output file; call before writing the first byte. */
int tool_output_start(struct tool_output *o);
/*
 * The same, but a regular file is emptied by empty(ctx) (a writer that
 * truncates in its own thread), not here.
 */
int tool_output_start_with(struct tool_output *o, int (*empty)(void *),
			   void *ctx);
/* Closes (fsync-free); 0 or the close error, printed. */
int tool_output_close(struct tool_output *o);
/* Closes and removes a file this run created; keeps anything else. */
void tool_output_abort(struct tool_output *o);

/*
 * The option loop the tools share.  Options whose popt val is an index into
 * slots (1..nr_slots-1) store their string argument there, the last one
 * given winning; popt's own errors, -h and -V are handled here.  Messages
 * go through tool_error, or bare (no "<tool>: " prefix) with bare set, as
 * 0.9.0's cache_metadata_size prints them.  With no_args, a stray
 * argument is refused ("unexpected argument: X", exit 1).  Returns TOOL_PARSE_RUN when the
 * tool should go on, otherwise the exit code to return.
 */
#define TOOL_PARSE_RUN (-1)

/* Every tool's -h and -V entries, which end its popt table. */
#define TOOL_POPT_HELP_VERSION(help, version)                              \
	{ "help", 'h', POPT_ARG_NONE, (help), 0, "show this help", NULL }, \
	{ "version", 'V', POPT_ARG_NONE, (version), 0,                     \
	  "print the version", NULL },                                     \
	POPT_TABLEEND

struct tool_parse_spec {
	char **const *slots;
	size_t nr_slots;
	const int *help;
	const int *version;
	void (*more_help)(void);	/* printed after popt's help; may be NULL */
	int bare;
	/* Refuse any argument that is not an option. */
	int no_args;
};

int tool_parse(poptContext pc, const struct tool_parse_spec *spec);

/*
 * An option whose argument is optional and must be attached, as getopt's
 * "m::" in 0.9.0: `-m` and `--metadata-snap` alone are a flag, and the
 * next word is never taken as their value (`thin_dump -m /dev/x` dumps
 * /dev/x), while `-m5` and `--metadata-snap=5` carry one.  popt would take
 * the next word, so the argument vector is rewritten before popt sees it:
 * the bare forms become `--LONG-flag`, the valued ones `--LONG-value=V`
 * (hidden options the tool declares).  Words after "--" are left alone.
 * Returns a malloc'd vector (free it, not its strings, except the ones it
 * made: tool_free_argv) or NULL when out of memory.
 */
const char **tool_split_optional(int argc, const char **argv, char short_name,
				 const char *long_name);
void tool_free_argv(int argc, const char **argv, const char **orig);
/* Frees what tool_parse stored in the slots. */
void tool_free_slots(const struct tool_parse_spec *spec);

/*
 * Issue 12 finding 7: for a cache block size (sectors) the kernel cannot
 * use (cache/metadata_size.h), prints one warning line saying so; 0 (a
 * superblock that could not be read, or a size the tools refuse or report
 * already) prints nothing.  Never changes an exit code.  The size comes
 * from what the tool read anyway (the checker's superblock, the restore's
 * XML): a tool that only reads never reads twice, and a restore never
 * reads back what it wrote.
 */
void tool_warn_block_size_value(uint64_t sectors);

/*
 * 0.9.0's <natural> for an option's value: decimal digits only, no sign,
 * at most max.  0, or -1 after one line naming opt and the value.
 */
int tool_parse_natural(const char *opt, const char *s, uint64_t max,
		       uint64_t *v);

#endif
