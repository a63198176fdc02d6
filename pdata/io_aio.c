// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The libaio engine.  Single reads and writes go straight to pread/pwrite
 * (a one-block aio round trip only adds latency); read_batch is where it
 * earns its keep, keeping up to AIO_DEPTH reads in flight so that a level of
 * a btree, or a run of array blocks, is fetched in one pass over the device.
 */
#include "pdata/io.h"

#include <errno.h>
#include <libaio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "pdata/ondisk.h"

#define AIO_DEPTH 128u

struct aio_io {
	struct pd_io io;
	int fd;
	io_context_t ctx;
	struct iocb iocbs[AIO_DEPTH];
	struct iocb *iocbps[AIO_DEPTH];
	struct io_event events[AIO_DEPTH];
};

static int in_range(const struct pd_io *io, uint64_t block, unsigned nr)
{
	return block < io->nr_blocks && nr <= io->nr_blocks - block;
}

static int aio_read(struct pd_io *io, uint64_t block, unsigned nr, void *buf)
{
	if (!in_range(io, block, nr))
		return -ERANGE;
	return pd_io_fd_read(((struct aio_io *)io)->fd, block, nr, buf);
}

static int aio_write(struct pd_io *io, uint64_t block, unsigned nr,
		     const void *buf)
{
	if (!in_range(io, block, nr))
		return -ERANGE;
	return pd_io_fd_write(((struct aio_io *)io)->fd, block, nr, buf);
}

int pd_io_aio_getevents(struct io_context *ctx, long min_nr, long nr,
			struct io_event *events)
{
	long got = 0;

	while (got < nr) {
		struct timespec ts = { 1, 0 };
		int r = io_getevents(ctx, min_nr > got ? min_nr - got : 0,
				     nr - got, events + got, &ts);

		if (r == -EINTR)
			continue;
		if (r < 0)
			return got ? (int)got : r;
		got += r;
		if (got >= min_nr)
			break;
	}
	return (int)got;
}

/* Submits one chunk of at most AIO_DEPTH reads and reaps all of them. */
static int read_chunk(struct aio_io *a, unsigned n, const uint64_t *blocks,
		      void *const *bufs)
{
	unsigned submitted = 0, done = 0;
	int err = 0;

	for (unsigned i = 0; i < n; i++) {
		io_prep_pread(&a->iocbs[i], a->fd, bufs[i], PD_BLOCK_SIZE,
			      (long long)(blocks[i] * PD_BLOCK_SIZE));
		a->iocbps[i] = &a->iocbs[i];
	}
	while (submitted < n) {
		int r = io_submit(a->ctx, (long)(n - submitted),
				  a->iocbps + submitted);

		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r <= 0) {
			err = r < 0 ? r : -EIO;
			break;
		}
		submitted += (unsigned)r;
	}
	/* Reap everything submitted, even after an error: the buffers are ours. */
	while (done < submitted) {
		int r = pd_io_aio_getevents(a->ctx, 1, (long)(submitted - done),
					    a->events);

		if (r < 0)
			return r;
		for (int i = 0; i < r; i++) {
			long res = (long)a->events[i].res;

			if (res < 0 && !err)
				err = (int)res;
			else if (res != (long)PD_BLOCK_SIZE && !err)
				err = -EIO;
		}
		done += (unsigned)r;
	}
	return err;
}

static int aio_read_batch(struct pd_io *io, unsigned n, const uint64_t *blocks,
			  void *const *bufs)
{
	struct aio_io *a = (struct aio_io *)io;

	for (unsigned i = 0; i < n; i++)
		if (!in_range(io, blocks[i], 1))
			return -ERANGE;
	for (unsigned i = 0; i < n; i += AIO_DEPTH) {
		unsigned chunk = n - i < AIO_DEPTH ? n - i : AIO_DEPTH;
		int r = read_chunk(a, chunk, blocks + i, bufs + i);

		if (r < 0)
			return r;
	}
	return 0;
}

static int aio_flush(struct pd_io *io)
{
	struct aio_io *a = (struct aio_io *)io;

	return fdatasync(a->fd) < 0 ? -errno : 0;
}

static void aio_destroy(struct pd_io *io)
{
	struct aio_io *a = (struct aio_io *)io;

	io_destroy(a->ctx);
	close(a->fd);
	free(a);
}

static const struct pd_io_ops aio_ops = {
	.read = aio_read,
	.read_batch = aio_read_batch,
	.write = aio_write,
	.flush = aio_flush,
	.destroy = aio_destroy,
};

int pd_io_aio_create(int fd, uint64_t size_bytes, int is_blockdev,
		     struct pd_io **out)
{
	struct aio_io *a = calloc(1, sizeof(*a));
	int r;

	*out = NULL;
	if (!a) {
		close(fd);
		return -ENOMEM;
	}
	r = io_setup(AIO_DEPTH, &a->ctx);
	if (r < 0) {
		free(a);
		close(fd);
		return r;
	}
	a->io.ops = &aio_ops;
	a->io.size_bytes = size_bytes;
	a->io.nr_blocks = size_bytes / PD_BLOCK_SIZE;
	a->io.is_blockdev = is_blockdev;
	a->fd = fd;
	*out = &a->io;
	return 0;
}
