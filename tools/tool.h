/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What the tool front ends share: the entry point of each tool, and the
 * small helpers every one of them needs (version, error lines, opening
 * output files).  Each tool is a popt table, an options struct, one library
 * call and an exit code.
 */
#ifndef TOOLS_TOOL_H
#define TOOLS_TOOL_H

#include <stdio.h>

int cmd_cache_check(int argc, const char **argv);
int cmd_cache_dump(int argc, const char **argv);
int cmd_cache_restore(int argc, const char **argv);
int cmd_cache_repair(int argc, const char **argv);
int cmd_cache_metadata_size(int argc, const char **argv);
int cmd_cache_writeback(int argc, const char **argv);
int cmd_cache_replay(int argc, const char **argv);
int cmd_thin_check(int argc, const char **argv);
int cmd_thin_dump(int argc, const char **argv);
int cmd_thin_restore(int argc, const char **argv);
int cmd_thin_repair(int argc, const char **argv);
int cmd_thin_metadata_size(int argc, const char **argv);

/* The name the tool was called by, for messages. */
extern const char *tool_name;

/* Prints the bare version ("1.0.0\n") on stdout: LVM parses it. */
void tool_print_version(void);

/* "<tool>: <message>\n" on stderr. */
void tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The reader of a stream this tool writes went away (a write failed with
 * EPIPE): end as 0.9.0 does, killed by SIGPIPE with nothing on stderr, so
 * the truncated output never passes for a whole one.  A tool that ignores
 * SIGPIPE to clean up first calls this once it has.  Every tool starts
 * with SIGPIPE at its default, whatever the parent left it as, so plain
 * stdio writes to a closed pipe end the same way.
 */
void tool_die_of_sigpipe(void) __attribute__((noreturn));

/*
 * Flushes stdout: 0, or -1 after one line saying why it could not be
 * written (a closed pipe ends the tool by SIGPIPE instead).  Every tool's
 * stdout is flushed this way after it returns; a tool that must stop when
 * its report is lost calls it first.
 */
int tool_flush_stdout(void);

#endif
