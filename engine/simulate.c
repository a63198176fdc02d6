// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The simulator's passes over a trace (see simulate.h): the models in
 * lockstep, a batch of I/Os at a time, and the footprint scan.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/u64map.h"
#include "engine/simulate.h"

/* I/Os read before the models take them in turn: 32 KiB of trace_io. */
#define BATCH 1024u

static int reader_error(struct sim_error *err, int r,
			const struct trace_error *terr)
{
	err->trace = true;
	err->line = terr->line;
	snprintf(err->msg, sizeof(err->msg), "%s",
		 terr->msg[0] ? terr->msg : strerror(-r));
	return r;
}

int sim_run(const struct sim_opts *o, struct sim_model *models, size_t n,
	    struct trace_reader *r, struct sim_error *err)
{
	struct target **ts = calloc(n ? n : 1, sizeof(*ts));
	struct trace_io *batch = malloc(BATCH * sizeof(*batch));
	uint64_t *lines = malloc(BATCH * sizeof(*lines));
	struct trace_error terr = { 0 };
	uint64_t index = 0, last_ns = 0;
	int rc = 0;

	memset(err, 0, sizeof(*err));
	if (!ts || !batch || !lines) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct target_config cfg = {
			.block_sectors = models[i].block_sectors,
			.cache_blocks = models[i].cache_blocks,
			.origin_sectors = o->origin_sectors,
			.mode = o->mode,
			.migration_threshold = o->migration_threshold,
			.hz = o->hz,
			.tick = o->tick,
			.policy = models[i].policy,
		};

		rc = target_create(&cfg, NULL, &ts[i]);
		if (rc < 0) {
			snprintf(err->msg, sizeof(err->msg),
				 "cannot set up %s with %" PRIu32 " blocks of %"
				 PRIu64 " sectors: %s", models[i].policy,
				 models[i].cache_blocks,
				 models[i].block_sectors,
				 rc == -EINVAL ? "bad configuration"
					       : strerror(-rc));
			goto out;
		}
	}
	for (;;) {
		size_t got = 0;
		int rr = 0;

		while (got < BATCH &&
		       (rr = trace_reader_next(r, &batch[got], &terr)) == 1) {
			const struct trace_io *io = &batch[got];

			lines[got] = trace_reader_line(r);
			if (io->offset + io->len > o->origin_sectors * 512) {
				err->trace = true;
				err->line = lines[got];
				snprintf(err->msg, sizeof(err->msg),
					 "I/O at byte %" PRIu64 " + %" PRIu32
					 " is past the origin's %" PRIu64
					 " bytes", io->offset, io->len,
					 o->origin_sectors * 512);
				rc = -ERANGE;
				goto out;
			}
			if (io->time_ns > last_ns)
				last_ns = io->time_ns;
			got++;
		}
		if (rr < 0) {
			rc = reader_error(err, rr, &terr);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			for (size_t k = 0; k < got; k++) {
				rc = target_io(ts[i], &batch[k], index + k);
				if (rc < 0) {
					err->trace = true;
					err->line = lines[k];
					snprintf(err->msg, sizeof(err->msg),
						 "%s", strerror(-rc));
					goto out;
				}
			}
		}
		index += got;
		if (rr == 0)
			break;
	}
	for (size_t i = 0; i < n; i++) {
		rc = target_finish(ts[i], last_ns, false);
		if (rc < 0) {
			snprintf(err->msg, sizeof(err->msg), "%s",
				 strerror(-rc));
			goto out;
		}
		models[i].c = *target_counters(ts[i]);
		models[i].residency = target_residency(ts[i]);
		models[i].nr_dirty = target_nr_dirty(ts[i]);
	}
	rc = 0;
out:
	if (ts)
		for (size_t i = 0; i < n; i++)
			target_destroy(ts[i]);
	free(ts);
	free(batch);
	free(lines);
	return rc;
}

int sim_scan(struct sim_scan *s, struct trace_reader *r,
	     struct sim_error *err)
{
	struct u64map *maps = calloc(s->n ? s->n : 1, sizeof(*maps));
	struct trace_error terr = { 0 };
	struct trace_io io;
	size_t inited = 0;
	int rc = 0;

	memset(err, 0, sizeof(*err));
	s->ios = 0;
	s->highest_end = 0;
	if (!maps)
		return -ENOMEM;
	for (; inited < s->n && rc == 0; inited++)
		rc = u64map_init(&maps[inited], 1024);
	while (rc == 0 && (rc = trace_reader_next(r, &io, &terr)) == 1) {
		rc = 0;
		s->ios++;
		if (io.op == TRACE_OP_FLUSH)
			continue;
		if (io.offset + io.len > s->highest_end)
			s->highest_end = io.offset + io.len;
		if (io.op == TRACE_OP_DISCARD || !io.len)
			continue;
		for (size_t i = 0; rc == 0 && i < s->n; i++) {
			uint64_t bb = s->block_sectors[i] * 512;
			uint64_t last = (io.offset + io.len - 1) / bb;

			for (uint64_t b = io.offset / bb; rc == 0 && b <= last;
			     b++)
				rc = u64map_put(&maps[i], b, 0);
		}
	}
	if (rc < 0 && terr.msg[0])
		reader_error(err, rc, &terr);
	for (size_t i = 0; i < inited; i++) {
		if (rc == 0)
			s->footprint[i] = u64map_count(&maps[i]);
		u64map_destroy(&maps[i]);
	}
	free(maps);
	return rc;
}
