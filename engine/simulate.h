/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cache_replay simulate: the target model (engine/target.h) with no
 * images, no data and no metadata, for several configurations (policy,
 * block size, cache blocks) at once.
 *
 * sim_run streams a trace once and pushes each I/O through every
 * configuration's model, in batches of I/Os so that one model's tables
 * stay in the processor's caches while it takes a batch.  Memory is the
 * models' (each bounded by its cache and origin sizes) and one batch: it
 * does not grow with the trace.  The counters come out exactly as a
 * replay on images of the same sizes would leave them, since the model
 * makes the same decisions with or without hooks.
 *
 * sim_scan is the first pass that sizes given as a share of the trace
 * need: the highest byte touched and the footprint (distinct blocks read
 * or written) at each block size.  Its memory is one map entry per
 * distinct block of each size.
 *
 * Nothing prints; a bad trace line comes back with its line number.
 */
#ifndef ENGINE_SIMULATE_H
#define ENGINE_SIMULATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/target.h"
#include "engine/trace.h"

struct sim_model {
	/* in */
	const char *policy;
	uint64_t block_sectors;
	uint32_t cache_blocks;
	/* out */
	struct target_counters c;
	uint32_t residency;
	uint32_t nr_dirty;
};

struct sim_opts {
	uint64_t origin_sectors;
	enum target_mode mode;
	uint64_t migration_threshold;	/* sectors */
	uint32_t hz;
	enum target_tick tick;
};

struct sim_error {
	bool trace;		/* about the trace (else the configuration) */
	uint64_t line;		/* the trace line, 0 when not about one */
	char msg[256];
};

/*
 * Runs every model over the trace and fills their counters.  Returns 0,
 * -EINVAL for a bad configuration or a bad trace line (err says which),
 * -ERANGE for an I/O past the origin (err->line set), -ENOMEM, or the
 * reader's error.
 */
int sim_run(const struct sim_opts *o, struct sim_model *models, size_t n,
	    struct trace_reader *r, struct sim_error *err);

struct sim_scan {
	uint64_t ios;
	uint64_t highest_end;	/* bytes, reads/writes/discards */
	size_t n;		/* block sizes */
	const uint64_t *block_sectors;
	uint64_t *footprint;	/* blocks, by block size */
};

/*
 * The first pass: s->n block sizes in s->block_sectors, s->footprint an
 * array of s->n.  0, -ENOMEM, or the reader's error (err filled).
 */
int sim_scan(struct sim_scan *s, struct trace_reader *r,
	     struct sim_error *err);

#endif
