/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Moving data blocks between a fast device and a slow one: the copier that
 * cache_writeback runs (dirty cache blocks to the origin) and the data I/O
 * engines under it, which cache_replay also drives for every bio and
 * migration it replays.  One module for both, below cache/ and engine/.
 *
 * The copier (pd_copy) moves a list of (fast block, origin block) jobs
 * through a data I/O engine: reads sorted by fast block, writes sorted by
 * origin block, adjacent blocks merged into one request, many requests in
 * flight, reads of the next batch overlapping the writes of the one
 * before, and memory bounded by the buffer size.  A failed merged request
 * is split into single blocks, and each block is retried on its own; what
 * still fails is reported per job and never counted as copied.  The
 * origin is flushed at the end: a block counts as copied only once its
 * write is on stable storage.  (Jobs name the blocks cblock and oblock,
 * the cache's names for them, which is what both users mean.)
 *
 * The data engines sit behind an ops struct: libaio on two descriptors
 * (falling back to pread/pwrite where aio cannot be set up), plain
 * pread/pwrite, memory (for tests), and a fault engine that fails chosen
 * byte ranges of either device a chosen number of times, so tests can
 * inject read and write errors.
 *
 * Nothing here prints.  Return values are 0 or a negative errno.
 */
#ifndef PDATA_COPY_H
#define PDATA_COPY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* ---- data I/O engines ---- */

enum pd_copy_dev {
	PD_COPY_FAST = 0,
	PD_COPY_ORIGIN = 1,
};

struct pd_copy_req {
	int dev;		/* enum pd_copy_dev */
	int write;
	uint64_t offset;	/* bytes */
	const struct iovec *iov;
	int iovcnt;
	size_t len;		/* sum of the iov lengths */
	/* Set on completion: 0, or a negative errno (a short transfer is -EIO). */
	int result;
	void *priv;		/* the caller's */
};

struct pd_copy_engine;

struct pd_copy_engine_ops {
	/*
	 * Queues n requests (n <= depth - in flight).  Returns 0, or a
	 * negative errno when the engine itself failed (no request of this
	 * call was queued then).
	 */
	int (*submit)(struct pd_copy_engine *e, struct pd_copy_req *const *reqs,
		      unsigned n);
	/*
	 * Waits for at least min (<= in flight) completions and returns how
	 * many it put in done (at most max), or a negative errno.
	 */
	int (*reap)(struct pd_copy_engine *e, unsigned min, unsigned max,
		    struct pd_copy_req **done);
	/* Everything written to dev so far reaches stable storage. */
	int (*flush)(struct pd_copy_engine *e, int dev);
	void (*destroy)(struct pd_copy_engine *e);
};

struct pd_copy_engine {
	const struct pd_copy_engine_ops *ops;
	unsigned depth;		/* requests in flight at most */
	const char *name;	/* "aio", "sync", "mem", "fault" */
};

/*
 * fds[PD_COPY_FAST], fds[PD_COPY_ORIGIN]: open descriptors the engine
 * does not own.  Uses libaio with up to depth requests in flight; where
 * io_setup fails, pread/pwrite one at a time.  With force_sync, always
 * the latter.
 */
int pd_copy_engine_fd_create(const int fds[2], unsigned depth, int force_sync,
			      struct pd_copy_engine **out);

/* Two memory "devices" the caller owns, of sizes[dev] bytes. */
int pd_copy_engine_mem_create(unsigned char *const bufs[2],
			       const uint64_t sizes[2],
			       struct pd_copy_engine **out);

/*
 * A request touching bytes [begin, end) of dev in the direction given
 * completes with err instead of running, the first `times` times
 * (UINT32_MAX: always); later ones go through.
 */
struct pd_copy_fault {
	int dev;
	int write;
	uint64_t begin, end;
	uint32_t times;
	int err;
};

/* Wraps inner (which it then owns); faults are copied. */
int pd_copy_engine_fault_create(struct pd_copy_engine *inner,
				 const struct pd_copy_fault *faults,
				 unsigned nr_faults,
				 struct pd_copy_engine **out);
/* Requests the fault engine failed so far. */
uint64_t pd_copy_engine_fault_hits(const struct pd_copy_engine *e);

/* Accepts NULL. */
void pd_copy_engine_destroy(struct pd_copy_engine *e);

/*
 * Opens a data device for the copier.  Block devices get O_EXCL (refusing
 * one in use) and O_DIRECT; regular files O_DIRECT where the file system
 * supports it, buffered where not (tmpfs).  align is the granularity of
 * every offset and length that will be used (the data block size, the
 * offsets): O_DIRECT is used only where it satisfies the device's rule.
 * *size_bytes is the device or file size.  Errors as open(2), or -ENODEV
 * for neither a file nor a block device.
 */
int pd_copy_open_data(const char *path, int write, uint64_t align, int *fd,
		       uint64_t *size_bytes, int *direct);

/* ---- the copier ---- */

enum pd_copy_stage {
	PD_COPY_NOT_TRIED = 0,	/* not copied yet */
	PD_COPY_COPIED,
	PD_COPY_FAILED_FAST_END,	/* lies past the end of the fast device */
	PD_COPY_FAILED_ORIGIN_END,	/* lies past the end of the origin */
	PD_COPY_FAILED_READ,
	PD_COPY_FAILED_WRITE,
	PD_COPY_FAILED_FLUSH,	/* the origin could not be flushed */
};

struct pd_copy_job {
	uint64_t cblock;
	uint64_t oblock;
	/* Out: */
	uint8_t stage;		/* enum pd_copy_stage */
	int err;		/* negative errno of the last failure */
};

struct pd_copy_opts {
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

struct pd_copy_stats {
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
int pd_copy(struct pd_copy_engine *e, const struct pd_copy_opts *o,
		  struct pd_copy_job *jobs, uint64_t nr_jobs,
		  struct pd_copy_stats *stats);

/* "read error", "write error", ... */
const char *pd_copy_stage_name(enum pd_copy_stage s);

#endif
