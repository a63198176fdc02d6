/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Block I/O engines behind one ops struct.
 *
 * Everything above this layer reads and writes whole 4 KiB metadata blocks
 * through a struct pd_io and never learns whether the blocks live in a file,
 * a block device or memory.  Engines:
 *
 *   sync   pread/pwrite on a file or block device (pd_io_open)
 *   aio    the same device through libaio, so that read_batch keeps many
 *          reads in flight (pd_io_open with PD_IO_AIO); prefetching whole
 *          btree levels is what it is for
 *   mem    a heap buffer, for unit tests and fuzzing (pd_io_mem_create)
 *   fault  wraps another engine and fails chosen I/Os, for crash tests
 *          (pd_io_fault_create)
 *
 * Typical use:
 *
 *	struct pd_io *io;
 *	int r = pd_io_open(path, PD_IO_RDONLY | PD_IO_EXCL, &io);
 *	if (r < 0)
 *		return r;
 *	r = io->ops->read(io, 0, 1, buf);
 *	...
 *	pd_io_destroy(io);
 *
 * All functions return 0 or a negative errno.  pd_io_destroy accepts NULL.
 */
#ifndef PDATA_IO_H
#define PDATA_IO_H

#include <stdint.h>

struct pd_io;

struct pd_io_ops {
	/* nr contiguous blocks starting at block into buf. */
	int (*read)(struct pd_io *io, uint64_t block, unsigned nr, void *buf);
	/*
	 * n scattered blocks, each into its own 4 KiB buffer, all in flight at
	 * once where the engine can.  Fails with the first error; which of the
	 * buffers were filled is then undefined.
	 */
	int (*read_batch)(struct pd_io *io, unsigned n, const uint64_t *blocks,
			  void *const *bufs);
	int (*write)(struct pd_io *io, uint64_t block, unsigned nr,
		     const void *buf);
	/* Everything written so far reaches stable storage. */
	int (*flush)(struct pd_io *io);
	void (*destroy)(struct pd_io *io);
};

struct pd_io {
	const struct pd_io_ops *ops;
	uint64_t size_bytes;	/* device or file size */
	uint64_t nr_blocks;	/* whole 4 KiB blocks: size_bytes / 4096 */
	int is_blockdev;
	/*
	 * read and read_batch may run in two threads at once: the engine
	 * keeps no state between calls (pread on one descriptor, memcpy).
	 */
	int concurrent_reads;
};

enum pd_io_flags {
	PD_IO_RDONLY = 0,
	PD_IO_WRITE = 1 << 0,	/* open read-write */
	PD_IO_EXCL = 1 << 1,	/* block devices: O_EXCL, refuse a live one */
	PD_IO_AIO = 1 << 2,	/* use the libaio engine */
	PD_IO_DIRECT = 1 << 3,	/* O_DIRECT where the device supports it */
};

/*
 * Opens a regular file or a block device.  Errors: -ENOENT, -EACCES,
 * -EISDIR (a directory), -ENODEV (neither a file nor a block device),
 * -EBUSY (block device in use, with PD_IO_EXCL), or what open(2) says.
 * Nothing is ever created or truncated.
 */
int pd_io_open(const char *path, unsigned flags, struct pd_io **out);

/* A zero-filled in-memory device of nr_blocks blocks. */
int pd_io_mem_create(uint64_t nr_blocks, struct pd_io **out);
/* The memory engine's buffer (nr_blocks * 4096 bytes), for tests. */
unsigned char *pd_io_mem_data(struct pd_io *io);

/*
 * Fault injection.  Counts the I/Os going through to `inner` (which the
 * fault engine then owns).  When the counter of writes reaches fail_write_at
 * (1-based; 0 = never) that write fails with -EIO and, with `sticky`, so do
 * all later writes and flushes, which models a device that died mid-way.
 * Reads likewise with fail_read_at.  fail_block, when not UINT64_MAX, makes
 * every read or write touching that block fail.
 */
struct pd_io_fault_plan {
	uint64_t fail_write_at;
	uint64_t fail_read_at;
	uint64_t fail_block;
	int sticky;
};

int pd_io_fault_create(struct pd_io *inner, const struct pd_io_fault_plan *p,
		       struct pd_io **out);
/* Writes and reads seen so far (including the failed ones). */
uint64_t pd_io_fault_writes(const struct pd_io *io);
uint64_t pd_io_fault_reads(const struct pd_io *io);

void pd_io_destroy(struct pd_io *io);

/*
 * Internal to pdata: whole-block pread/pwrite on a descriptor, retried
 * until done (-EIO at end of file), shared by the sync and aio engines.
 */
int pd_io_fd_read(int fd, uint64_t block, unsigned nr, void *buf);
int pd_io_fd_write(int fd, uint64_t block, unsigned nr, const void *buf);

/* Internal to pdata: the libaio engine on an open descriptor. */
int pd_io_aio_create(int fd, uint64_t size_bytes, int is_blockdev,
		     struct pd_io **out);

/*
 * Internal to pdata: io_getevents(2) for at least min_nr and at most nr
 * events, never asleep for good on a wakeup the kernel lost.  A test
 * machine's 6.18 kernel once left a reader asleep in read_events for 20
 * minutes with its reads complete: the events were reaped at once when the
 * sleep was interrupted.  So each sleep is bounded and the ring looked at
 * again; EINTR is retried.  Returns the events reaped or a negative errno.
 */
struct io_context;
struct io_event;
int pd_io_aio_getevents(struct io_context *ctx, long min_nr, long nr,
			struct io_event *events);

#endif
