/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Policy-independent limits on a trace's block stream, for
 * `cache_replay bound`: what no cache policy can beat.
 *
 * The stream is the one the cache target sees: each read and write split
 * into one request per cache block it touches (discards and flushes are
 * not requests).  For each cache size C (in blocks):
 *   - cold misses: the first request of each block, which any cache
 *     misses;
 *   - OPT: Belady's MIN with bypass, the fewest misses any cache of C
 *     blocks can have, and the number of blocks it inserts doing so
 *     (dm-cache pays a block copy per promotion, so OPT's hits at OPT's
 *     insertions is the honest comparison for a policy's hits at its
 *     promotions).  On a miss MIN inserts the block only if it is used
 *     again sooner than some cached block, evicting the one used again
 *     latest;
 *   - LRU misses for every size at once, from stack distances (Mattson's
 *     algorithm over a Fenwick tree of "last access" marks, renumbered
 *     when it fills, so memory follows the footprint, not the trace).
 * With a sampling rate R < 1 (SHARDS, Waldspurger et al., FAST '15) only
 * blocks whose hash falls under R are followed: distances and counts are
 * scaled by 1/R and cache sizes by R, for curves of traces too big to
 * follow exactly.
 *
 * OPT needs the future: the block stream is spooled to a temporary file,
 * next-use times are computed walking it backwards, and each cache size
 * is one forward pass with a heap.
 */
#ifndef ENGINE_BOUND_H
#define ENGINE_BOUND_H

#include <stddef.h>
#include <stdint.h>

#include "engine/trace.h"

struct bound_row {
	uint64_t cache_blocks;
	uint64_t requests;		/* block requests (scaled when sampled) */
	uint64_t cold_misses;
	uint64_t opt_misses;
	uint64_t opt_insertions;
	uint64_t lru_misses;
};

struct bound_opts {
	uint64_t block_bytes;
	double sample;			/* 0 or 1: exact */
	const uint64_t *sizes;		/* cache sizes in blocks, or NULL ... */
	size_t nr_sizes;		/* ... for 1, 2, 4 ... up to the footprint */
	/* Sizes given as a percentage of the footprint (0 when absolute). */
	const double *size_percent;
	/* LRU and cold misses only: no spool, no OPT (opt_* stay 0). */
	int no_opt;
};

struct bound_result {
	struct bound_row *rows;		/* malloc'd, one per size, ascending */
	size_t nr_rows;
	uint64_t requests;
	uint64_t footprint;		/* distinct blocks (scaled) */
	uint64_t sampled_requests;	/* requests followed */
};

/*
 * Reads the trace to its end and computes the rows.  Returns 0, the
 * reader's error (err filled by it), -ENOMEM, or an I/O error of the
 * spool.
 */
int bound_run(struct trace_reader *r, const struct bound_opts *o,
	      struct bound_result *res, struct trace_error *err);
void bound_result_release(struct bound_result *res);

/*
 * The LRU miss curve alone, from a block stream in memory (for tests and
 * for simulate's comparisons): misses[c] for c = 0..max_c.
 */
int bound_lru_curve(const uint64_t *blocks, size_t n, uint64_t max_c,
		    uint64_t *misses);

#endif
