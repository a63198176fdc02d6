/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What cache_replay's subcommands (tools/cache_replay.c, replay_simulate.c)
 * share: opening a trace with one message per way it can fail, numbers and
 * sizes from the command line.  These print (tool code).
 */
#ifndef TOOLS_REPLAY_COMMON_H
#define TOOLS_REPLAY_COMMON_H

#include <stdint.h>

#include "engine/trace.h"

/*
 * Digits with an optional k, M, G or T (powers of 1024, either case); a
 * bare number is in bare_unit bytes.  0, -EINVAL or -ERANGE; prints
 * nothing.
 */
int replay_parse_bytes(const char *s, uint64_t bare_unit, uint64_t *out);

/* A plain number in [min, max]; prints "OPT: 'S' is not a number from
 * MIN to MAX" and returns -EINVAL otherwise. */
int replay_parse_num(const char *opt, const char *s, uint64_t min,
		     uint64_t max, uint64_t *v);

/*
 * Opens the trace at path ("-": standard input) in format (NULL: from the
 * content); prints one line and returns a negative errno on failure.
 */
int replay_open_trace(const char *path, const char *format,
		      struct trace_reader **r, int *fd);
void replay_close_trace(struct trace_reader *r, int fd);

/* "PATH:LINE: what" (or "PATH: what") for a failed read of the trace. */
void replay_trace_error(const char *path, int rc,
			const struct trace_error *err);

#endif
