/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cache_replay replay and verify: the target model (engine/target.h) on
 * real images.
 *
 * replay_run opens (or formats) the metadata through the live metadata
 * layer (cache/live.h), loads its mappings, dirty state, hints and
 * discards into the model as the kernel would, pushes every I/O of a
 * trace through the model, and does what the model asks: data moves
 * between the cache and origin images through the copier's data engine
 * (pdata/copy.h), mappings go into the open transaction, commits
 * happen when the model commits.  At the end it writes what the kernel
 * writes at a clean shutdown: dirty state, discards, hints, the hit and
 * miss counters, CLEAN_SHUTDOWN.
 *
 * Data: traces carry no payload, so a write's bytes are made from (seed,
 * byte position, trace I/O index): each 8-byte word is a mix of the
 * three, so any two writes of a byte differ and any byte can be checked.
 * With a shadow image, every write also goes there, and with verify
 * every read the model serves is compared with the shadow.  Discarded
 * data is undefined; the replay makes it zeroes everywhere (origin,
 * shadow and cached copies), so reads stay verifiable.
 *
 * verify_images checks images and metadata offline: no origin block
 * mapped twice, every mapped block inside the origin, every clean cached
 * block equal to its origin block, and with a shadow the origin with the
 * dirty cache blocks laid over it equal to the shadow byte for byte.  It
 * opens everything read-only.
 *
 * Nothing prints.  Errors come back in struct replay_error with what was
 * wrong and where.
 */
#ifndef ENGINE_REPLAY_H
#define ENGINE_REPLAY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/target.h"
#include "engine/trace.h"

struct replay_opts {
	const char *metadata_path;
	const char *cache_path;
	const char *origin_path;
	const char *shadow_path;	/* NULL: none */
	bool verify;			/* needs a shadow */
	uint64_t block_sectors;		/* 0: the metadata's */
	uint32_t metadata_version;	/* for a format: 1 or 2 (0: 2) */
	const char *policy;		/* smq, mq, cleaner, default */
	enum target_mode mode;
	uint64_t migration_threshold;
	enum target_tick tick;
	uint32_t hz;
	uint64_t seed;
	uint64_t crash_at;		/* stop after this commit; 0: never */
	FILE *stats;			/* interval CSV, or NULL */
	uint64_t stats_interval_ns;
};

enum replay_error_kind {
	REPLAY_ERR_USAGE = 1,	/* options or images that do not fit */
	REPLAY_ERR_TRACE,	/* a bad trace line; line set */
	REPLAY_ERR_METADATA,
	REPLAY_ERR_IO,
	REPLAY_ERR_VERIFY,	/* a mismatch; oblock and offset set */
};

struct replay_error {
	enum replay_error_kind kind;
	uint64_t line;		/* trace line (or record), 0 if none */
	uint64_t oblock;	/* verify: the origin block */
	uint64_t offset;	/* verify: byte offset in it */
	char msg[256];
};

struct replay_result {
	struct target_counters c;
	uint32_t cache_blocks;
	uint32_t residency;
	uint32_t nr_dirty;
	bool formatted;		/* the metadata was formatted fresh */
	bool crashed;		/* stopped by crash_at */
	uint64_t verified_reads;
	char status[512];	/* the dmsetup status fields */
};

/*
 * Runs the trace.  Returns 0, or a negative errno with err filled
 * (-EBADMSG for a verification mismatch).
 */
int replay_run(const struct replay_opts *o, struct trace_reader *trace,
	       struct replay_result *res, struct replay_error *err);

struct verify_opts {
	const char *metadata_path;
	const char *cache_path;
	const char *origin_path;
	const char *shadow_path;	/* NULL: no logical-view check */
};

struct verify_result {
	uint64_t mapped, dirty, blocks_compared;
};

/* 0, -EBADMSG for a mismatch, or another error; err says what. */
int verify_images(const struct verify_opts *o, struct verify_result *res,
		  struct replay_error *err);

/* The byte a replayed write put at pos (for tests). */
uint8_t replay_data_byte(uint64_t seed, uint64_t pos, uint64_t io_index);

#endif
