// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Trace statistics (see trace_stat.h).  One pass, one map lookup per
 * block request.
 */
#include <errno.h>
#include <string.h>

#include "engine/trace_stat.h"

#define SEEN_READ 1u
#define SEEN_WRITE 2u

unsigned trace_stat_bucket(uint64_t v)
{
	if (v <= 1)
		return 0;
	return 64u - (unsigned)__builtin_clzll(v - 1);
}

int trace_stat_init(struct trace_stat *s, uint64_t block_bytes)
{
	memset(s, 0, sizeof(*s));
	if (!block_bytes)
		return -EINVAL;
	s->block_bytes = block_bytes;
	s->first_ns = UINT64_MAX;
	s->lowest = UINT64_MAX;
	return u64map_init(&s->last, 1024);
}

void trace_stat_destroy(struct trace_stat *s)
{
	u64map_destroy(&s->last);
}

static void end_run(struct trace_stat *s)
{
	if (s->run_len)
		s->run_hist[trace_stat_bucket(s->run_len)]++;
	s->run_len = 0;
}

void trace_stat_finish(struct trace_stat *s)
{
	end_run(s);
}

/* One block request of a read or a write. */
static int touch(struct trace_stat *s, uint64_t block, unsigned how)
{
	uint64_t v, index = s->bios++;

	if (u64map_get(&s->last, block, &v)) {
		s->reuse_hist[trace_stat_bucket(index - (v >> 2))]++;
		if (!(v & how)) {
			if (how == SEEN_READ)
				s->read_footprint++;
			else
				s->write_footprint++;
		}
		v = (index << 2) | (v & 3) | how;
	} else {
		s->cold++;
		s->footprint++;
		if (how == SEEN_READ)
			s->read_footprint++;
		else
			s->write_footprint++;
		v = (index << 2) | how;
	}
	return u64map_put(&s->last, block, v);
}

int trace_stat_add(struct trace_stat *s, const struct trace_io *io)
{
	uint64_t end = io->offset + io->len;

	s->ios[io->op]++;
	s->bytes[io->op] += io->len;
	s->fua += !!(io->flags & TRACE_F_FUA);
	s->preflush += !!(io->flags & TRACE_F_PREFLUSH);
	if (s->first_ns == UINT64_MAX || io->time_ns < s->first_ns)
		s->first_ns = io->time_ns;
	if (io->time_ns > s->last_ns)
		s->last_ns = io->time_ns;
	if (io->op == TRACE_OP_FLUSH)
		return 0;
	if (io->offset < s->lowest)
		s->lowest = io->offset;
	if (end > s->highest_end)
		s->highest_end = end;
	s->size_hist[trace_stat_bucket(io->len)]++;
	if (s->run_len && io->offset == s->run_end) {
		s->run_len++;
	} else {
		end_run(s);
		s->run_len = 1;
	}
	s->run_end = end;
	if (io->op == TRACE_OP_DISCARD)
		return 0;
	for (uint64_t b = io->offset / s->block_bytes;
	     b <= (end - 1) / s->block_bytes; b++) {
		int r = touch(s, b, io->op == TRACE_OP_READ ? SEEN_READ
							     : SEEN_WRITE);

		if (r < 0)
			return r;
	}
	return 0;
}
