/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Synthetic traces for `cache_replay trace gen`: the workload shapes used
 * to stress cache policies, seeded and deterministic.
 *
 * The origin is cut into slots of io_size bytes; each I/O reads or writes
 * one slot.  Patterns:
 *   uniform  every slot equally likely;
 *   zipf     slot ranks drawn from a Zipf distribution of exponent theta
 *            (rejection-inversion sampling: O(1) memory whatever the
 *            origin's size), ranks scattered over the origin by a keyed
 *            permutation, so hot slots are not all at the start;
 *   hotset   90% of I/Os go to a hot 10% of the origin, a contiguous
 *            range that moves to a new random place every tenth of the
 *            trace;
 *   scan     one sequential pass after another over the origin;
 *   mix      zipf, with a sequential scan of 256 slots started at a
 *            random place every 2048 I/Os.
 * Each I/O is a read with probability read_ratio; times step by
 * 1 / iops seconds.
 */
#ifndef ENGINE_TRACEGEN_H
#define ENGINE_TRACEGEN_H

#include <stdint.h>

#include "engine/trace.h"

enum tracegen_pattern {
	TRACEGEN_UNIFORM,
	TRACEGEN_ZIPF,
	TRACEGEN_HOTSET,
	TRACEGEN_SCAN,
	TRACEGEN_MIX,
};

struct tracegen_opts {
	enum tracegen_pattern pattern;
	uint64_t ios;
	uint64_t origin_bytes;
	uint32_t io_size;	/* bytes, > 0, <= origin_bytes */
	double read_ratio;	/* 0..1 */
	double theta;		/* zipf exponent, > 0 */
	uint64_t seed;
	uint64_t iops;		/* > 0 */
};

struct tracegen;

/* 0 or -EINVAL (bad options) / -ENOMEM. */
int tracegen_create(const struct tracegen_opts *o, struct tracegen **out);
/* The next I/O: 1, or 0 after o->ios of them. */
int tracegen_next(struct tracegen *g, struct trace_io *io);
void tracegen_destroy(struct tracegen *g);

/* "uniform", "zipf", ...: 0 or -EINVAL. */
int tracegen_pattern_parse(const char *name, enum tracegen_pattern *p);

#endif
