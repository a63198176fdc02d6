/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What `cache_replay trace stat` reports about a trace: counts and bytes
 * by operation, the time span, the address range, the footprint in cache
 * blocks, and three histograms in power-of-two buckets: I/O sizes, reuse
 * distances (block requests since the last request of the same block)
 * and sequential runs (I/Os that each start where the one before ended).
 *
 * Blocks are counted as the cache target splits I/Os: each read or write
 * is one request per block it touches ("bios").  Memory is one map entry
 * per distinct block.
 */
#ifndef ENGINE_TRACE_STAT_H
#define ENGINE_TRACE_STAT_H

#include <stdint.h>

#include "base/u64map.h"
#include "engine/trace.h"

#define TRACE_STAT_BUCKETS 64

struct trace_stat {
	uint64_t block_bytes;
	uint64_t ios[TRACE_OP_COUNT];
	uint64_t bytes[TRACE_OP_COUNT];
	uint64_t fua, preflush;
	uint64_t first_ns, last_ns;	/* first_ns UINT64_MAX: no I/O yet */
	uint64_t lowest, highest_end;	/* bytes, over reads/writes/discards */
	uint64_t bios;			/* block requests of reads and writes */
	uint64_t footprint;		/* distinct blocks read or written */
	uint64_t read_footprint, write_footprint;
	/* Bucket i counts values v with 2^(i-1) < v <= 2^i (bucket 0: v <= 1). */
	uint64_t size_hist[TRACE_STAT_BUCKETS];
	uint64_t reuse_hist[TRACE_STAT_BUCKETS];
	uint64_t cold;			/* first requests of a block */
	uint64_t run_hist[TRACE_STAT_BUCKETS];

	/* Running state. */
	struct u64map last;	/* block -> (index << 2) | read 1 | written 2 */
	uint64_t run_len, run_end;
};

/* 0 or -ENOMEM; block_bytes > 0. */
int trace_stat_init(struct trace_stat *s, uint64_t block_bytes);
/* Adds one I/O; 0 or -ENOMEM. */
int trace_stat_add(struct trace_stat *s, const struct trace_io *io);
/* Closes the last sequential run. */
void trace_stat_finish(struct trace_stat *s);
void trace_stat_destroy(struct trace_stat *s);

/* The bucket of v, as the histograms count it. */
unsigned trace_stat_bucket(uint64_t v);

#endif
