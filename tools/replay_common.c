// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_replay's shared front-end helpers (see replay_common.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tools/replay_common.h"
#include "tools/tool.h"

int replay_parse_bytes(const char *s, uint64_t bare_unit, uint64_t *out)
{
	uint64_t v = 0, mult = bare_unit;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p) {
		static const char units[] = "kmgt";
		const char *u = p[1] ? NULL : strchr(units, *p | 0x20);

		if (!u || !*u)
			return -EINVAL;
		mult = 1ull << (10 * (u - units + 1));
	}
	if (v && mult > UINT64_MAX / v)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

int replay_parse_num(const char *opt, const char *s, uint64_t min,
		     uint64_t max, uint64_t *v)
{
	uint64_t x;

	if (replay_parse_bytes(s, 1, &x) < 0 || strpbrk(s, "kKmMgGtT") ||
	    x < min || x > max) {
		tool_error("%s: '%s' is not a number from %" PRIu64 " to %"
			   PRIu64, opt, s, min, max);
		return -EINVAL;
	}
	*v = x;
	return 0;
}

void replay_trace_error(const char *path, int rc,
			const struct trace_error *err)
{
	if (err->line)
		tool_error("%s:%" PRIu64 ": %s", path, err->line, err->msg);
	else
		tool_error("%s: %s", path, err->msg[0] ? err->msg
						       : strerror(-rc));
}

int replay_open_trace(const char *path, const char *format,
		      struct trace_reader **r, int *fd)
{
	enum trace_format fmt = TRACE_FMT_AUTO;
	struct trace_error err = { 0 };
	int rc;

	if (format) {
		if (trace_format_parse(format, &fmt) < 0) {
			tool_error("--trace-format: unknown trace format '%s'",
				   format);
			return -EINVAL;
		}
		if (fmt == TRACE_FMT_ORACLE) {
			tool_error("--trace-format: oracle traces are written, "
				   "not read");
			return -EINVAL;
		}
	}
	if (!strcmp(path, "-")) {
		*fd = STDIN_FILENO;
	} else {
		*fd = open(path, O_RDONLY | O_CLOEXEC);
		if (*fd < 0) {
			rc = -errno;
			tool_error("%s: %s", path, strerror(-rc));
			return rc;
		}
	}
	rc = trace_reader_open_fd(r, *fd, fmt, &err);
	if (rc < 0) {
		replay_trace_error(path, rc, &err);
		if (*fd != STDIN_FILENO)
			close(*fd);
	}
	return rc;
}

void replay_close_trace(struct trace_reader *r, int fd)
{
	trace_reader_close(r);
	if (fd != STDIN_FILENO)
		close(fd);
}
