/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Offline writeback: copies the dirty blocks of a cache from the fast
 * device to the origin while the cache is not running (typically because
 * the fast device is failing), then records in the metadata, in a new
 * transaction, that exactly the blocks copied are clean.
 *
 * Two layers.
 *
 * The copier (pd_copy) moves a list of (cache block, origin block)
 * jobs through a data I/O engine: reads sorted by cache block, writes
 * sorted by origin block, adjacent blocks merged into one request, many
 * requests in flight, reads of the next batch overlapping the writes of
 * the one before, and memory bounded by the buffer size.  A failed merged
 * request is split into single blocks, and each block is retried on its
 * own; what still fails is reported per job and never counted as copied.
 * The origin is flushed at the end: a block counts as copied only once its
 * write is on stable storage.
 *
 * The data engines sit behind an ops struct: libaio on two descriptors
 * (falling back to pread/pwrite where aio cannot be set up), memory (for
 * tests), and a fault engine that fails chosen byte ranges of either
 * device a chosen number of times, so tests can inject read and write
 * errors.
 *
 * The operation (cache_writeback) checks the metadata first (cache/check.h)
 * and refuses damaged metadata.  It copies the blocks cache_mapping_dirty()
 * says are dirty, or every valid block when the superblock's CLEAN_SHUTDOWN
 * flag is clear (the kernel then treats every valid block as dirty).  Then,
 * unless told not to, it commits through the transaction manager, the
 * superblock last:
 *   - v1: M_DIRTY cleared in the mapping of each block copied;
 *   - v2: the dirty bit of each block copied cleared;
 *   - when CLEAN_SHUTDOWN was clear: the blocks that failed are marked
 *     dirty (their flags were not trustworthy), every discard bit is
 *     cleared (a stale "discarded" bit would let the kernel promote a block
 *     without copying its data), and CLEAN_SHUTDOWN is set, so the kernel
 *     trusts a dirty state that is now exact;
 *   - every other superblock field, NEEDS_CHECK included, is kept.
 *
 * Nothing here prints.  Return values are 0 or a negative errno.
 */
#ifndef CACHE_WRITEBACK_H
#define CACHE_WRITEBACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "cache/format.h"
#include "pdata/copy.h"

struct pd_io;

/* ---- the operation ---- */

enum cache_writeback_flags {
	CACHE_WB_NO_METADATA_UPDATE = 1 << 0,
	/* Skip cache/check.h's checker (the walks still refuse damage). */
	CACHE_WB_SKIP_CHECK = 1 << 1,
};

struct cache_writeback_opts {
	unsigned flags;
	/*
	 * The data devices: engine when not NULL (tests), otherwise the
	 * paths, opened with pd_copy_open_data once the metadata passed,
	 * driven by libaio with queue_depth requests in flight (0 = 64), or
	 * pread/pwrite with force_sync.
	 */
	struct pd_copy_engine *engine;
	const char *fast_path;
	const char *origin_path;
	unsigned queue_depth;
	int force_sync;
	uint64_t fast_offset_sectors;
	uint64_t origin_offset_sectors;
	uint64_t fast_size;		/* bytes, 0 = unknown */
	uint64_t origin_size;
	uint64_t buffer_bytes;
	unsigned retries;
	/* Called once the jobs are known, before copying.  May be NULL. */
	void (*begin)(void *ctx, uint64_t nr_to_copy, int all_valid);
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
};

enum cache_writeback_status {
	CACHE_WB_OK = 0,		/* all copied, metadata updated as asked */
	CACHE_WB_INCOMPLETE,		/* some blocks failed: see jobs */
	CACHE_WB_SB_UNREADABLE,		/* res.err, res.fault */
	CACHE_WB_SB_INVALID,		/* res.violation */
	CACHE_WB_DAMAGED,		/* the checker or a walk found damage */
	CACHE_WB_OPEN_FAILED,		/* res.bad_path could not be opened */
	CACHE_WB_COPY_ERROR,		/* the copier failed as a whole: res.err */
	CACHE_WB_UPDATE_FAILED,		/* copied, metadata not updated: res.err */
	CACHE_WB_ERROR,			/* -ENOMEM and the like: res.err */
};

struct cache_writeback_result {
	enum cache_writeback_status status;
	int err;
	struct pd_fault fault;
	struct cache_sb_violation violation;
	uint64_t nr_fatal;		/* checker findings */
	char first_problem[200];	/* the first fatal one, as text */
	const char *structure;		/* the walk that found damage */
	const char *bad_path;		/* OPEN_FAILED: which device */
	uint64_t fast_size, origin_size;	/* bytes, as opened */
	int fast_direct, origin_direct;	/* O_DIRECT in use */
	const char *engine_name;

	int have_sb;
	struct cache_sb sb;		/* as read */
	int all_valid;			/* CLEAN_SHUTDOWN was clear */
	uint64_t nr_valid;

	/* The jobs, in cblock order (malloc'd: cache_writeback_release). */
	struct pd_copy_job *jobs;
	uint64_t nr_jobs;
	struct pd_copy_stats stats;

	int metadata_updated;		/* a transaction was committed */
	uint32_t flags_written;
	uint64_t cleared;		/* dirty states cleared */
	uint64_t marked_dirty;		/* failed blocks marked dirty */
	uint64_t discards_cleared;	/* discard words zeroed */
};

/*
 * meta must be open for writing unless CACHE_WB_NO_METADATA_UPDATE.
 * Returns 0 when the status is CACHE_WB_OK or CACHE_WB_INCOMPLETE, else a
 * negative errno; res says more either way.
 */
int cache_writeback(struct pd_io *meta, const struct cache_writeback_opts *o,
		    struct cache_writeback_result *res);
void cache_writeback_release(struct cache_writeback_result *res);

const char *cache_writeback_status_name(enum cache_writeback_status s);

#endif
