/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Offline writeback: copies the dirty blocks of a cache from the fast
 * device to the origin while the cache is not running (typically because
 * the fast device is failing), then records in the metadata, in a new
 * transaction, that exactly the blocks copied are clean.
 *
 * Two layers.
 *
 * The copier (cache_wb_copy) moves a list of (cache block, origin block)
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

struct pd_io;

/* ---- data I/O engines ---- */

enum cache_wb_dev {
	CACHE_WB_FAST = 0,
	CACHE_WB_ORIGIN = 1,
};

struct cache_wb_req {
	int dev;		/* enum cache_wb_dev */
	int write;
	uint64_t offset;	/* bytes */
	const struct iovec *iov;
	int iovcnt;
	size_t len;		/* sum of the iov lengths */
	/* Set on completion: 0, or a negative errno (a short transfer is -EIO). */
	int result;
	void *priv;		/* the caller's */
};

struct cache_wb_engine;

struct cache_wb_engine_ops {
	/*
	 * Queues n requests (n <= depth - in flight).  Returns 0, or a
	 * negative errno when the engine itself failed (no request of this
	 * call was queued then).
	 */
	int (*submit)(struct cache_wb_engine *e, struct cache_wb_req *const *reqs,
		      unsigned n);
	/*
	 * Waits for at least min (<= in flight) completions and returns how
	 * many it put in done (at most max), or a negative errno.
	 */
	int (*reap)(struct cache_wb_engine *e, unsigned min, unsigned max,
		    struct cache_wb_req **done);
	/* Everything written to dev so far reaches stable storage. */
	int (*flush)(struct cache_wb_engine *e, int dev);
	void (*destroy)(struct cache_wb_engine *e);
};

struct cache_wb_engine {
	const struct cache_wb_engine_ops *ops;
	unsigned depth;		/* requests in flight at most */
	const char *name;	/* "aio", "sync", "mem", "fault" */
};

/*
 * fds[CACHE_WB_FAST], fds[CACHE_WB_ORIGIN]: open descriptors the engine
 * does not own.  Uses libaio with up to depth requests in flight; where
 * io_setup fails, pread/pwrite one at a time.  With force_sync, always
 * the latter.
 */
int cache_wb_engine_fd_create(const int fds[2], unsigned depth, int force_sync,
			      struct cache_wb_engine **out);

/* Two memory "devices" the caller owns, of sizes[dev] bytes. */
int cache_wb_engine_mem_create(unsigned char *const bufs[2],
			       const uint64_t sizes[2],
			       struct cache_wb_engine **out);

/*
 * A request touching bytes [begin, end) of dev in the direction given
 * completes with err instead of running, the first `times` times
 * (UINT32_MAX: always); later ones go through.
 */
struct cache_wb_fault {
	int dev;
	int write;
	uint64_t begin, end;
	uint32_t times;
	int err;
};

/* Wraps inner (which it then owns); faults are copied. */
int cache_wb_engine_fault_create(struct cache_wb_engine *inner,
				 const struct cache_wb_fault *faults,
				 unsigned nr_faults,
				 struct cache_wb_engine **out);
/* Requests the fault engine failed so far. */
uint64_t cache_wb_engine_fault_hits(const struct cache_wb_engine *e);

/* Accepts NULL. */
void cache_wb_engine_destroy(struct cache_wb_engine *e);

/*
 * Opens a data device for the copier.  Block devices get O_EXCL (refusing
 * one in use) and O_DIRECT; regular files O_DIRECT where the file system
 * supports it, buffered where not (tmpfs).  align is the granularity of
 * every offset and length that will be used (the data block size, the
 * offsets): O_DIRECT is used only where it satisfies the device's rule.
 * *size_bytes is the device or file size.  Errors as open(2), or -ENODEV
 * for neither a file nor a block device.
 */
int cache_wb_open_data(const char *path, int write, uint64_t align, int *fd,
		       uint64_t *size_bytes, int *direct);

/* ---- the copier ---- */

enum cache_wb_stage {
	CACHE_WB_NOT_TRIED = 0,	/* not copied yet */
	CACHE_WB_COPIED,
	CACHE_WB_FAILED_FAST_END,	/* lies past the end of the fast device */
	CACHE_WB_FAILED_ORIGIN_END,	/* lies past the end of the origin */
	CACHE_WB_FAILED_READ,
	CACHE_WB_FAILED_WRITE,
	CACHE_WB_FAILED_FLUSH,	/* the origin could not be flushed */
};

struct cache_wb_job {
	uint64_t cblock;
	uint64_t oblock;
	/* Out: */
	uint8_t stage;		/* enum cache_wb_stage */
	int err;		/* negative errno of the last failure */
};

struct cache_wb_copy_opts {
	uint64_t block_bytes;		/* data block size in bytes */
	uint64_t fast_offset;		/* bytes before cache block 0 */
	uint64_t origin_offset;		/* bytes before origin block 0 */
	uint64_t fast_size;		/* bytes; 0 = do not check */
	uint64_t origin_size;
	uint64_t buffer_bytes;		/* the copy buffer, at least 8 KiB */
	/*
	 * Bytes per batch, at most half the buffer (0: half the buffer).
	 * Through the page cache, small batches that stay in the CPU cache
	 * copy faster, and the kernel sorts the writes anyway; with O_DIRECT
	 * big batches give the copier's own sort a wider window.
	 */
	uint64_t batch_bytes;
	unsigned retries;		/* extra tries per block */
	/* Jobs finished so far (copied or failed), after each batch. */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
};

struct cache_wb_copy_stats {
	uint64_t copied;
	uint64_t failed;
	uint64_t read_requests;		/* issued, retries included */
	uint64_t write_requests;
	uint64_t retries;		/* single-block re-tries */
};

/*
 * Copies the jobs, which must be in increasing cblock order.  Every job
 * ends COPIED or FAILED_*.  Returns 0 (failed blocks are not an error), or
 * -ENOMEM / -EINVAL (bad options) / the engine's own error, after which
 * jobs not yet finished are FAILED_* with that error.
 */
int cache_wb_copy(struct cache_wb_engine *e, const struct cache_wb_copy_opts *o,
		  struct cache_wb_job *jobs, uint64_t nr_jobs,
		  struct cache_wb_copy_stats *stats);

/* "read error", "write error", ... */
const char *cache_wb_stage_name(enum cache_wb_stage s);

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
	 * paths, opened with cache_wb_open_data once the metadata passed,
	 * driven by libaio with queue_depth requests in flight (0 = 64), or
	 * pread/pwrite with force_sync.
	 */
	struct cache_wb_engine *engine;
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
	struct cache_wb_job *jobs;
	uint64_t nr_jobs;
	struct cache_wb_copy_stats stats;

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
