// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The synchronous (pread/pwrite), in-memory and fault-injecting I/O engines,
 * and pd_io_open, which decides what a path may be opened as.  The libaio
 * engine lives in io_aio.c.
 */
#include "pdata/io.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pdata/ondisk.h"

/* ---- sync engine ---- */

struct sync_io {
	struct pd_io io;
	int fd;
};

static int full_pread(int fd, void *buf, size_t len, off_t off)
{
	unsigned char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;	/* past the end: a short device */
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int full_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int pd_io_fd_read(int fd, uint64_t block, unsigned nr, void *buf)
{
	return full_pread(fd, buf, (size_t)nr * PD_BLOCK_SIZE,
			  (off_t)(block * PD_BLOCK_SIZE));
}

int pd_io_fd_write(int fd, uint64_t block, unsigned nr, const void *buf)
{
	return full_pwrite(fd, buf, (size_t)nr * PD_BLOCK_SIZE,
			   (off_t)(block * PD_BLOCK_SIZE));
}

static int check_range(const struct pd_io *io, uint64_t block, unsigned nr)
{
	if (block >= io->nr_blocks || nr > io->nr_blocks - block)
		return -ERANGE;
	return 0;
}

static int sync_read(struct pd_io *io, uint64_t block, unsigned nr, void *buf)
{
	struct sync_io *s = (struct sync_io *)io;
	int r = check_range(io, block, nr);

	if (r < 0)
		return r;
	return pd_io_fd_read(s->fd, block, nr, buf);
}

/*
 * Runs of consecutive blocks go out as one preadv: a freshly written image
 * keeps each array's blocks together, so a batch is a few system calls
 * instead of one per block.
 */
static int sync_read_batch(struct pd_io *io, unsigned n, const uint64_t *blocks,
			   void *const *bufs)
{
	struct sync_io *s = (struct sync_io *)io;
	struct iovec iov[64];

	for (unsigned i = 0; i < n;) {
		unsigned k = 1;
		ssize_t got;
		int r = check_range(io, blocks[i], 1);

		if (r < 0)
			return r;
		while (i + k < n && k < 64 && blocks[i + k] == blocks[i] + k &&
		       blocks[i + k] < io->nr_blocks)
			k++;
		for (unsigned j = 0; j < k; j++) {
			iov[j].iov_base = bufs[i + j];
			iov[j].iov_len = PD_BLOCK_SIZE;
		}
		got = k > 1 ? preadv(s->fd, iov, (int)k,
				     (off_t)(blocks[i] * PD_BLOCK_SIZE)) : 0;
		if (got != (ssize_t)k * PD_BLOCK_SIZE) {
			/* Short, interrupted or single: block by block. */
			for (unsigned j = 0; j < k; j++) {
				r = pd_io_fd_read(s->fd, blocks[i + j], 1,
						  bufs[i + j]);
				if (r < 0)
					return r;
			}
		}
		i += k;
	}
	return 0;
}

static int sync_write(struct pd_io *io, uint64_t block, unsigned nr,
		      const void *buf)
{
	struct sync_io *s = (struct sync_io *)io;
	int r = check_range(io, block, nr);

	if (r < 0)
		return r;
	return pd_io_fd_write(s->fd, block, nr, buf);
}

static int sync_flush(struct pd_io *io)
{
	struct sync_io *s = (struct sync_io *)io;

	return fdatasync(s->fd) < 0 ? -errno : 0;
}

static void sync_destroy(struct pd_io *io)
{
	struct sync_io *s = (struct sync_io *)io;

	close(s->fd);
	free(s);
}

static const struct pd_io_ops sync_ops = {
	.read = sync_read,
	.read_batch = sync_read_batch,
	.write = sync_write,
	.flush = sync_flush,
	.destroy = sync_destroy,
};

int pd_io_open(const char *path, unsigned flags, struct pd_io **out)
{
	struct stat st;
	uint64_t size;
	int is_blockdev, fd, r;
	int oflags = O_CLOEXEC | ((flags & PD_IO_WRITE) ? O_RDWR : O_RDONLY);
	struct sync_io *s;

	*out = NULL;
	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	is_blockdev = S_ISBLK(st.st_mode);
	if (!is_blockdev && !S_ISREG(st.st_mode))
		return -ENODEV;
	if (is_blockdev && (flags & PD_IO_EXCL))
		oflags |= O_EXCL;
	if (flags & PD_IO_DIRECT)
		oflags |= O_DIRECT;

	fd = open(path, oflags);
	if (fd < 0)
		return -errno;
	/* The path may have changed under us: trust the descriptor. */
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out_close;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
			r = -errno;
			goto out_close;
		}
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -ENODEV;
		goto out_close;
	}

	if (flags & PD_IO_AIO)
		return pd_io_aio_create(fd, size, S_ISBLK(st.st_mode), out);

	s = calloc(1, sizeof(*s));
	if (!s) {
		r = -ENOMEM;
		goto out_close;
	}
	s->io.ops = &sync_ops;
	s->io.size_bytes = size;
	s->io.nr_blocks = size / PD_BLOCK_SIZE;
	s->io.is_blockdev = S_ISBLK(st.st_mode);
	s->io.concurrent_reads = 1;
	s->fd = fd;
	*out = &s->io;
	return 0;

out_close:
	close(fd);
	return r;
}

/* ---- memory engine ---- */

struct mem_io {
	struct pd_io io;
	unsigned char *data;
};

static int mem_read(struct pd_io *io, uint64_t block, unsigned nr, void *buf)
{
	struct mem_io *m = (struct mem_io *)io;
	int r = check_range(io, block, nr);

	if (r < 0)
		return r;
	memcpy(buf, m->data + block * PD_BLOCK_SIZE, (size_t)nr * PD_BLOCK_SIZE);
	return 0;
}

static int mem_read_batch(struct pd_io *io, unsigned n, const uint64_t *blocks,
			  void *const *bufs)
{
	for (unsigned i = 0; i < n; i++) {
		int r = mem_read(io, blocks[i], 1, bufs[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

static int mem_write(struct pd_io *io, uint64_t block, unsigned nr,
		     const void *buf)
{
	struct mem_io *m = (struct mem_io *)io;
	int r = check_range(io, block, nr);

	if (r < 0)
		return r;
	memcpy(m->data + block * PD_BLOCK_SIZE, buf, (size_t)nr * PD_BLOCK_SIZE);
	return 0;
}

static int mem_flush(struct pd_io *io)
{
	(void)io;
	return 0;
}

static void mem_destroy(struct pd_io *io)
{
	struct mem_io *m = (struct mem_io *)io;

	free(m->data);
	free(m);
}

static const struct pd_io_ops mem_ops = {
	.read = mem_read,
	.read_batch = mem_read_batch,
	.write = mem_write,
	.flush = mem_flush,
	.destroy = mem_destroy,
};

int pd_io_mem_create(uint64_t nr_blocks, struct pd_io **out)
{
	struct mem_io *m;

	*out = NULL;
	if (nr_blocks > SIZE_MAX / PD_BLOCK_SIZE)
		return -ENOMEM;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->data = calloc(nr_blocks ? nr_blocks : 1, PD_BLOCK_SIZE);
	if (!m->data) {
		free(m);
		return -ENOMEM;
	}
	m->io.ops = &mem_ops;
	m->io.nr_blocks = nr_blocks;
	m->io.concurrent_reads = 1;
	m->io.size_bytes = nr_blocks * PD_BLOCK_SIZE;
	*out = &m->io;
	return 0;
}

unsigned char *pd_io_mem_data(struct pd_io *io)
{
	return io->ops == &mem_ops ? ((struct mem_io *)io)->data : NULL;
}

/* ---- fault engine ---- */

struct fault_io {
	struct pd_io io;
	struct pd_io *inner;
	struct pd_io_fault_plan plan;
	uint64_t writes, reads;
	int dead;
};

static int touches(const struct fault_io *f, uint64_t block, unsigned nr)
{
	return f->plan.fail_block != UINT64_MAX && f->plan.fail_block >= block &&
	       f->plan.fail_block - block < nr;
}

static int fault_read(struct pd_io *io, uint64_t block, unsigned nr, void *buf)
{
	struct fault_io *f = (struct fault_io *)io;

	f->reads++;
	if (touches(f, block, nr) || f->reads == f->plan.fail_read_at)
		return -EIO;
	return f->inner->ops->read(f->inner, block, nr, buf);
}

static int fault_read_batch(struct pd_io *io, unsigned n, const uint64_t *blocks,
			    void *const *bufs)
{
	for (unsigned i = 0; i < n; i++) {
		int r = fault_read(io, blocks[i], 1, bufs[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

static int fault_write(struct pd_io *io, uint64_t block, unsigned nr,
		       const void *buf)
{
	struct fault_io *f = (struct fault_io *)io;

	f->writes++;
	if (f->dead)
		return -EIO;
	if (touches(f, block, nr) || f->writes == f->plan.fail_write_at) {
		if (f->plan.sticky)
			f->dead = 1;
		return -EIO;
	}
	return f->inner->ops->write(f->inner, block, nr, buf);
}

static int fault_flush(struct pd_io *io)
{
	struct fault_io *f = (struct fault_io *)io;

	if (f->dead)
		return -EIO;
	return f->inner->ops->flush(f->inner);
}

static void fault_destroy(struct pd_io *io)
{
	struct fault_io *f = (struct fault_io *)io;

	pd_io_destroy(f->inner);
	free(f);
}

static const struct pd_io_ops fault_ops = {
	.read = fault_read,
	.read_batch = fault_read_batch,
	.write = fault_write,
	.flush = fault_flush,
	.destroy = fault_destroy,
};

int pd_io_fault_create(struct pd_io *inner, const struct pd_io_fault_plan *p,
		       struct pd_io **out)
{
	struct fault_io *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->io = *inner;
	f->io.ops = &fault_ops;
	/* Its counters are plain: reads from one thread only. */
	f->io.concurrent_reads = 0;
	f->inner = inner;
	f->plan = *p;
	*out = &f->io;
	return 0;
}

uint64_t pd_io_fault_writes(const struct pd_io *io)
{
	return io->ops == &fault_ops ? ((const struct fault_io *)io)->writes : 0;
}

uint64_t pd_io_fault_reads(const struct pd_io *io)
{
	return io->ops == &fault_ops ? ((const struct fault_io *)io)->reads : 0;
}

void pd_io_destroy(struct pd_io *io)
{
	if (io)
		io->ops->destroy(io);
}
