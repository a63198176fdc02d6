/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The dm-cache target model: what the kernel's cache target does with
 * each bio, on virtual time, around a policy (engine/policy.h).
 *
 * An I/O of the trace is split at cache-block boundaries into bios, as
 * device-mapper splits them for the target; hit and miss counters count
 * bios, as `dmsetup status` does.  Per bio:
 *  - a write covering a whole block in writeback mode, or any bio to a
 *    block in a discarded region, is "optimisable": the policy may hand
 *    back a promotion at once, whose data is the bio itself (no copy, no
 *    hit or miss counted, the block dirty after);
 *  - otherwise a hit goes to the cache (a writeback write sets dirty; a
 *    writethrough write to a clean block goes to both; in passthrough a
 *    read goes to the origin and a write invalidates the block, counted
 *    as a demotion) and a miss to the origin (a write clears the block's
 *    discard bit);
 *  - discards set the bits of the discard blocks they cover fully (the
 *    kernel's geometry: the cache block size doubled until at most 16384
 *    discard blocks cover the origin) and unmap nothing; the data of
 *    those blocks becomes undefined, which the hooks are told (the replay
 *    makes it zeroes everywhere, so reads stay verifiable);
 *  - a flush (or FUA) forces a commit.
 * Background work the policy queues is done at once (the "instant"
 * model): the worker runs after a bio that queued work and on every
 * waker tick, passing idle = no origin I/O for a second and
 * (1 block) <= migration_threshold.  A promotion copies origin to cache
 * and inserts the mapping; a writeback copies cache to origin and clears
 * dirty; a demotion removes the mapping and is committed before it
 * completes.  The waker fires every virtual second (hz jiffies): policy
 * tick, worker, commit if anything changed.  In per-bio tick mode the
 * policy also ticks after each remapped bio, as the kernel's tick bio
 * does when I/O is issued one at a time.
 *
 * The model moves no data and writes no metadata itself: it calls the
 * hooks (NULL for a pure simulation), so the same model runs the replay
 * on images and the simulator.  Dirty state, discard bits and hints live
 * here and reach the metadata at shutdown, as in the kernel.
 */
#ifndef ENGINE_TARGET_H
#define ENGINE_TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/policy.h"
#include "engine/trace.h"

enum target_mode { TARGET_WRITEBACK, TARGET_WRITETHROUGH, TARGET_PASSTHROUGH };

enum target_tick { TARGET_TICK_PER_BIO, TARGET_TICK_PER_SECOND };

struct target_config {
	uint64_t block_sectors;
	uint32_t cache_blocks;
	uint64_t origin_sectors;	/* the partial last block is never cached */
	enum target_mode mode;
	uint64_t migration_threshold;	/* sectors; the kernel's default 2048 */
	uint32_t hz;			/* jiffies per second, default 250 */
	enum target_tick tick;
	const char *policy;		/* smq, mq, default, cleaner */
};

/* What the model asks of the data and metadata layers. */
enum target_data_op {
	TD_READ_CACHE,		/* serve a read from the cache block */
	TD_READ_ORIGIN,
	TD_WRITE_CACHE,		/* the bio's data into the cache block */
	TD_WRITE_ORIGIN,
	TD_WRITE_BOTH,		/* writethrough */
	TD_PROMOTE_COPY,	/* whole block, origin -> cache */
	TD_WRITEBACK_COPY,	/* whole block, cache -> origin */
	/*
	 * A copy-free promotion's bio: the block is newly the oblock's, and
	 * bytes of it outside the bio are undefined (a full-block write, or a
	 * block in a discarded region, whose data is undefined anyway).
	 */
	TD_NEW_WRITE_CACHE,
	TD_NEW_READ_CACHE,
	/* A discard made nr_blocks blocks from oblock undefined (on the
	 * origin), or one cached copy (cblock). */
	TD_DISCARD_ORIGIN,
	TD_DISCARD_CACHE,
};

struct target_data_io {
	enum target_data_op op;
	uint32_t cblock;
	uint64_t oblock;
	uint32_t offset;	/* bytes into the block (bios) */
	uint32_t len;		/* bytes */
	uint64_t io_index;	/* the trace I/O this bio belongs to */
	uint64_t nr_blocks;	/* TD_DISCARD_ORIGIN */
};

struct target_hooks {
	void *ctx;
	/* 0 or a negative errno, which stops the run. */
	int (*data)(void *ctx, const struct target_data_io *d);
	int (*insert_mapping)(void *ctx, uint32_t cblock, uint64_t oblock);
	int (*remove_mapping)(void *ctx, uint32_t cblock);
	/* A commit of the metadata transaction; 1 asks the run to stop
	 * right after it (--crash-at). */
	int (*commit)(void *ctx);
};

struct target_counters {
	uint64_t read_hits, read_misses, write_hits, write_misses;
	uint64_t demotions, promotions, writebacks;
	uint64_t copy_free_promotions;	/* overwrites, part of promotions */
	uint64_t ios, bios, reads, writes, discards, flushes;
	/* Per trace I/O: an I/O is a hit when every bio of it hit. */
	uint64_t io_read_hits, io_read_misses, io_write_hits, io_write_misses;
	uint64_t bytes_promoted, bytes_written_back;
	uint64_t commits;
};

struct target;

/*
 * Creates the model and its policy.  jiffies start at 0.  Returns 0,
 * -EINVAL (bad config, unknown policy) or -ENOMEM.
 */
int target_create(const struct target_config *cfg,
		  const struct target_hooks *hooks, struct target **out);
void target_destroy(struct target *t);

/*
 * Before the first I/O: a mapping from the metadata, with its dirty state
 * and hint (hint_valid as the kernel decides it), and the discard bits.
 */
int target_load_mapping(struct target *t, uint64_t oblock, uint32_t cblock,
			bool dirty, uint32_t hint, bool hint_valid);
/* Discard geometry of the metadata, if it matches the model's; else 0. */
uint64_t target_discard_block_sectors(const struct target *t);
uint64_t target_nr_discard_blocks(const struct target *t);
void target_set_discard(struct target *t, uint64_t dblock);
/* The counters a previous run left in the superblock. */
void target_load_counters(struct target *t, uint64_t read_hits,
			  uint64_t read_misses, uint64_t write_hits,
			  uint64_t write_misses);

/*
 * Pushes one trace I/O through the model at its time.  Returns 0, 1 when
 * a commit hook asked to stop, -ERANGE for an I/O past the origin, or the
 * hooks' error.
 */
int target_io(struct target *t, const struct trace_io *io, uint64_t io_index);

/*
 * Runs the waker to time_ns (ticks, worker, commits), then lets the
 * worker drain what an idle cache would do, as the kernel does on
 * suspend with the device idle.  0, 1 (stop) or an error.
 */
int target_finish(struct target *t, uint64_t time_ns, bool drain_idle);

/* State for the shutdown writer and statistics. */
const struct target_counters *target_counters(const struct target *t);
struct policy *target_policy(struct target *t);
bool target_cblock_dirty(const struct target *t, uint32_t cblock);
bool target_dblock_discarded(const struct target *t, uint64_t dblock);
/* The origin block in cblock, or UINT64_MAX when unmapped. */
uint64_t target_cblock_oblock(const struct target *t, uint32_t cblock);
uint32_t target_nr_dirty(const struct target *t);
uint32_t target_residency(const struct target *t);
uint64_t target_jiffies(const struct target *t);

/*
 * The `dmsetup status` fields after the target name, given the metadata
 * device's used and total blocks: "8 27/1024 128 20/256 ... rw -".
 */
void target_status_line(const struct target *t, uint64_t md_used,
			uint64_t md_total, int metadata_version, FILE *f);

#endif
