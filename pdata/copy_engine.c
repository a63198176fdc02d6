// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The copier's data engines (pdata/copy.h): libaio on two
 * descriptors, plain pread/pwrite, memory, and fault injection, all behind
 * struct pd_copy_engine_ops; and opening the data devices.
 *
 * The synchronous engines (sync, mem) do the I/O inside submit and keep the
 * finished requests in a ring until reap hands them out, so the copier
 * drives every engine with the same submit/reap loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "pdata/copy.h"
#include "pdata/io.h"

/* ---- a ring of finished requests ---- */

struct done_ring {
	struct pd_copy_req **slots;
	unsigned cap, head, nr;
};

static int ring_init(struct done_ring *r, unsigned cap)
{
	r->slots = calloc(cap, sizeof(*r->slots));
	r->cap = cap;
	r->head = r->nr = 0;
	return r->slots ? 0 : -ENOMEM;
}

static void ring_release(struct done_ring *r)
{
	free(r->slots);
	r->slots = NULL;
}

/* Never overflows: an engine holds at most depth requests. */
static void ring_push(struct done_ring *r, struct pd_copy_req *req)
{
	r->slots[(r->head + r->nr) % r->cap] = req;
	r->nr++;
}

static unsigned ring_pop(struct done_ring *r, unsigned max,
			 struct pd_copy_req **done)
{
	unsigned n = 0;

	while (r->nr && n < max) {
		done[n++] = r->slots[r->head];
		r->head = (r->head + 1) % r->cap;
		r->nr--;
	}
	return n;
}

/* ---- pread/pwrite ---- */

struct fd_engine {
	struct pd_copy_engine e;
	int fds[2];
	struct done_ring done;
	/* aio only: */
	int aio;
	io_context_t ctx;
	struct iocb *iocbs;
	struct iocb **free_iocbs;
	unsigned nr_free;
	struct io_event *events;
};

/* The whole transfer, resuming after short ones; 0 or -errno. */
static int sync_rw(int fd, const struct pd_copy_req *req)
{
	struct iovec iov[IOV_MAX];
	int cnt = req->iovcnt, first = 0;
	off_t off = (off_t)req->offset;

	if (cnt > IOV_MAX)
		return -EINVAL;
	memcpy(iov, req->iov, sizeof(iov[0]) * (size_t)cnt);
	while (first < cnt) {
		ssize_t n = req->write ?
			pwritev(fd, iov + first, cnt - first, off) :
			preadv(fd, iov + first, cnt - first, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;	/* end of file: the device is short */
		off += n;
		while (n > 0 && first < cnt) {
			if ((size_t)n >= iov[first].iov_len) {
				n -= (ssize_t)iov[first].iov_len;
				first++;
			} else {
				iov[first].iov_base =
					(char *)iov[first].iov_base + n;
				iov[first].iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	return 0;
}

static int sync_submit(struct pd_copy_engine *e,
		       struct pd_copy_req *const *reqs, unsigned n)
{
	struct fd_engine *f = (struct fd_engine *)e;

	for (unsigned i = 0; i < n; i++) {
		reqs[i]->result = sync_rw(f->fds[reqs[i]->dev], reqs[i]);
		ring_push(&f->done, reqs[i]);
	}
	return 0;
}

static int sync_reap(struct pd_copy_engine *e, unsigned min, unsigned max,
		     struct pd_copy_req **done)
{
	struct fd_engine *f = (struct fd_engine *)e;

	(void)min;	/* everything submitted has finished */
	return (int)ring_pop(&f->done, max, done);
}

static int fd_flush(struct pd_copy_engine *e, int dev)
{
	struct fd_engine *f = (struct fd_engine *)e;

	return fdatasync(f->fds[dev]) < 0 ? -errno : 0;
}

static void fd_destroy(struct pd_copy_engine *e)
{
	struct fd_engine *f = (struct fd_engine *)e;

	if (f->aio)
		io_destroy(f->ctx);
	ring_release(&f->done);
	free(f->iocbs);
	free(f->free_iocbs);
	free(f->events);
	free(f);
}

static const struct pd_copy_engine_ops sync_ops = {
	.submit = sync_submit,
	.reap = sync_reap,
	.flush = fd_flush,
	.destroy = fd_destroy,
};

/* ---- libaio ---- */

static int aio_submit(struct pd_copy_engine *e,
		      struct pd_copy_req *const *reqs, unsigned n)
{
	struct fd_engine *f = (struct fd_engine *)e;
	struct iocb *batch[n ? n : 1];
	unsigned done = 0;

	if (n > f->nr_free)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		struct pd_copy_req *r = reqs[i];
		struct iocb *cb = f->free_iocbs[--f->nr_free];

		if (r->write)
			io_prep_pwritev(cb, f->fds[r->dev], r->iov, r->iovcnt,
					(long long)r->offset);
		else
			io_prep_preadv(cb, f->fds[r->dev], r->iov, r->iovcnt,
				       (long long)r->offset);
		cb->data = r;
		batch[i] = cb;
	}
	while (done < n) {
		int r = io_submit(f->ctx, (long)(n - done), batch + done);

		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r <= 0) {
			/*
			 * The kernel refused the rest: finish them here with
			 * its error, so each is retried or reported like any
			 * failed I/O.
			 */
			for (unsigned i = done; i < n; i++) {
				struct pd_copy_req *req = batch[i]->data;

				req->result = r < 0 ? r : -EIO;
				f->free_iocbs[f->nr_free++] = batch[i];
				ring_push(&f->done, req);
			}
			break;
		}
		done += (unsigned)r;
	}
	return 0;
}

static int aio_reap(struct pd_copy_engine *e, unsigned min, unsigned max,
		    struct pd_copy_req **done)
{
	struct fd_engine *f = (struct fd_engine *)e;
	unsigned n = ring_pop(&f->done, max, done);
	int got;

	if (n >= min && (n == max || f->nr_free == e->depth))
		return (int)n;
	if (max - n > e->depth)
		max = n + e->depth;
	got = pd_io_aio_getevents(f->ctx, min > n ? (long)(min - n) : 0,
				  (long)(max - n), f->events);
	if (got < 0)
		return n ? (int)n : got;
	for (int i = 0; i < got; i++) {
		struct iocb *cb = f->events[i].obj;
		struct pd_copy_req *r = cb->data;
		long res = (long)f->events[i].res;

		if (res < 0)
			r->result = (int)res;
		else
			r->result = (size_t)res == r->len ? 0 : -EIO;
		f->free_iocbs[f->nr_free++] = cb;
		done[n++] = r;
	}
	return (int)n;
}

static const struct pd_copy_engine_ops aio_ops = {
	.submit = aio_submit,
	.reap = aio_reap,
	.flush = fd_flush,
	.destroy = fd_destroy,
};

int pd_copy_engine_fd_create(const int fds[2], unsigned depth, int force_sync,
			      struct pd_copy_engine **out)
{
	struct fd_engine *f;
	int r;

	if (!depth)
		depth = 1;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fds[0] = fds[0];
	f->fds[1] = fds[1];
	f->e.depth = depth;
	r = ring_init(&f->done, depth);
	if (r < 0)
		goto out_free;
	if (!force_sync && io_setup((int)depth, &f->ctx) == 0) {
		f->aio = 1;
		f->iocbs = calloc(depth, sizeof(*f->iocbs));
		f->free_iocbs = calloc(depth, sizeof(*f->free_iocbs));
		f->events = calloc(depth, sizeof(*f->events));
		if (!f->iocbs || !f->free_iocbs || !f->events) {
			r = -ENOMEM;
			goto out_free;
		}
		for (unsigned i = 0; i < depth; i++)
			f->free_iocbs[i] = &f->iocbs[i];
		f->nr_free = depth;
		f->e.ops = &aio_ops;
		f->e.name = "aio";
	} else {
		/* No aio (or aio-max-nr reached): one I/O at a time. */
		f->e.ops = &sync_ops;
		f->e.name = "sync";
	}
	*out = &f->e;
	return 0;

out_free:
	fd_destroy(&f->e);
	return r;
}

/* ---- memory ---- */

struct mem_engine {
	struct pd_copy_engine e;
	unsigned char *bufs[2];
	uint64_t sizes[2];
	struct done_ring done;
};

static int mem_submit(struct pd_copy_engine *e,
		      struct pd_copy_req *const *reqs, unsigned n)
{
	struct mem_engine *m = (struct mem_engine *)e;

	for (unsigned i = 0; i < n; i++) {
		struct pd_copy_req *r = reqs[i];
		uint64_t off = r->offset;

		r->result = 0;
		if (off > m->sizes[r->dev] || r->len > m->sizes[r->dev] - off) {
			r->result = -EIO;	/* as a short transfer */
		} else {
			for (int k = 0; k < r->iovcnt; k++) {
				unsigned char *p = m->bufs[r->dev] + off;

				if (r->write)
					memcpy(p, r->iov[k].iov_base,
					       r->iov[k].iov_len);
				else
					memcpy(r->iov[k].iov_base, p,
					       r->iov[k].iov_len);
				off += r->iov[k].iov_len;
			}
		}
		ring_push(&m->done, r);
	}
	return 0;
}

static int mem_reap(struct pd_copy_engine *e, unsigned min, unsigned max,
		    struct pd_copy_req **done)
{
	(void)min;
	return (int)ring_pop(&((struct mem_engine *)e)->done, max, done);
}

static int mem_flush(struct pd_copy_engine *e, int dev)
{
	(void)e;
	(void)dev;
	return 0;
}

static void mem_destroy(struct pd_copy_engine *e)
{
	struct mem_engine *m = (struct mem_engine *)e;

	ring_release(&m->done);
	free(m);
}

static const struct pd_copy_engine_ops mem_ops = {
	.submit = mem_submit,
	.reap = mem_reap,
	.flush = mem_flush,
	.destroy = mem_destroy,
};

#define MEM_DEPTH 32u

int pd_copy_engine_mem_create(unsigned char *const bufs[2],
			       const uint64_t sizes[2],
			       struct pd_copy_engine **out)
{
	struct mem_engine *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	if (ring_init(&m->done, MEM_DEPTH) < 0) {
		free(m);
		return -ENOMEM;
	}
	for (int i = 0; i < 2; i++) {
		m->bufs[i] = bufs[i];
		m->sizes[i] = sizes[i];
	}
	m->e.ops = &mem_ops;
	m->e.depth = MEM_DEPTH;
	m->e.name = "mem";
	*out = &m->e;
	return 0;
}

/* ---- fault injection ---- */

struct fault_engine {
	struct pd_copy_engine e;
	struct pd_copy_engine *inner;
	struct pd_copy_fault *faults;
	unsigned nr_faults;
	uint64_t hits;
	struct done_ring done;
	struct pd_copy_req **pass;	/* depth slots */
};

static int fault_hit(struct fault_engine *f, const struct pd_copy_req *r)
{
	for (unsigned i = 0; i < f->nr_faults; i++) {
		struct pd_copy_fault *x = &f->faults[i];

		if (x->dev != r->dev || !x->write != !r->write || !x->times)
			continue;
		if (r->offset >= x->end || r->offset + r->len <= x->begin)
			continue;
		if (x->times != UINT32_MAX)
			x->times--;
		f->hits++;
		return x->err;
	}
	return 0;
}

static int fault_submit(struct pd_copy_engine *e,
			struct pd_copy_req *const *reqs, unsigned n)
{
	struct fault_engine *f = (struct fault_engine *)e;
	unsigned np = 0;
	int r;

	for (unsigned i = 0; i < n; i++) {
		int err = fault_hit(f, reqs[i]);

		if (err) {
			reqs[i]->result = err;
			ring_push(&f->done, reqs[i]);
		} else {
			f->pass[np++] = reqs[i];
		}
	}
	if (!np)
		return 0;
	r = f->inner->ops->submit(f->inner, f->pass, np);
	if (r < 0) {
		/* Hand the injected ones out anyway; the caller gives up. */
		return r;
	}
	return 0;
}

static int fault_reap(struct pd_copy_engine *e, unsigned min, unsigned max,
		      struct pd_copy_req **done)
{
	struct fault_engine *f = (struct fault_engine *)e;
	unsigned n = ring_pop(&f->done, max, done);
	int r;

	if (n >= max)
		return (int)n;
	r = f->inner->ops->reap(f->inner, min > n ? min - n : 0, max - n,
				done + n);
	if (r < 0)
		return n ? (int)n : r;
	return (int)n + r;
}

static int fault_flush(struct pd_copy_engine *e, int dev)
{
	struct fault_engine *f = (struct fault_engine *)e;

	return f->inner->ops->flush(f->inner, dev);
}

static void fault_destroy(struct pd_copy_engine *e)
{
	struct fault_engine *f = (struct fault_engine *)e;

	pd_copy_engine_destroy(f->inner);
	ring_release(&f->done);
	free(f->pass);
	free(f->faults);
	free(f);
}

static const struct pd_copy_engine_ops fault_ops = {
	.submit = fault_submit,
	.reap = fault_reap,
	.flush = fault_flush,
	.destroy = fault_destroy,
};

int pd_copy_engine_fault_create(struct pd_copy_engine *inner,
				 const struct pd_copy_fault *faults,
				 unsigned nr_faults,
				 struct pd_copy_engine **out)
{
	struct fault_engine *f = calloc(1, sizeof(*f));

	if (!f)
		goto out_inner;
	f->inner = inner;
	f->e.ops = &fault_ops;
	f->e.depth = inner->depth;
	f->e.name = "fault";
	f->faults = calloc(nr_faults ? nr_faults : 1, sizeof(*faults));
	f->pass = calloc(inner->depth, sizeof(*f->pass));
	if (!f->faults || !f->pass || ring_init(&f->done, inner->depth) < 0) {
		fault_destroy(&f->e);
		return -ENOMEM;
	}
	if (nr_faults)
		memcpy(f->faults, faults, nr_faults * sizeof(*faults));
	f->nr_faults = nr_faults;
	*out = &f->e;
	return 0;

out_inner:
	pd_copy_engine_destroy(inner);
	return -ENOMEM;
}

uint64_t pd_copy_engine_fault_hits(const struct pd_copy_engine *e)
{
	return ((const struct fault_engine *)e)->hits;
}

void pd_copy_engine_destroy(struct pd_copy_engine *e)
{
	if (e)
		e->ops->destroy(e);
}

/* ---- opening data devices ---- */

static int in_memory_fs(const char *path)
{
	struct statfs fs;

	if (statfs(path, &fs) < 0)
		return 0;
	return fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC;
}

int pd_copy_open_data(const char *path, int write, uint64_t align,
		       int *fd, uint64_t *size_bytes, int *direct)
{
	int mode = write ? O_RDWR : O_RDONLY;
	struct stat st;
	int r, f, lbs = 512;

	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode))
		return -ENODEV;

	if (S_ISBLK(st.st_mode)) {
		/* O_EXCL: refuse a device the kernel (or a mount) holds. */
		f = open(path, mode | O_CLOEXEC | O_EXCL | O_DIRECT);
		if (f < 0)
			return -errno;
		if (ioctl(f, BLKGETSIZE64, size_bytes) < 0) {
			r = -errno;
			close(f);
			return r;
		}
		*direct = 1;
		if (ioctl(f, BLKSSZGET, &lbs) == 0 && lbs > 0 &&
		    align % (uint64_t)lbs) {
			/* Unaligned transfers: drop O_DIRECT, keep O_EXCL. */
			if (fcntl(f, F_SETFL, fcntl(f, F_GETFL) & ~O_DIRECT) < 0) {
				r = -errno;
				close(f);
				return r;
			}
			*direct = 0;
		}
		*fd = f;
		return 0;
	}

	/*
	 * Files: O_DIRECT only for page-aligned transfers, since the file
	 * system's own alignment rule is not known here, and never on a file
	 * system in memory, where there is no cache to bypass (and the copier
	 * sizes its batches by whether the page cache is in the way).
	 */
	*direct = align % 4096 == 0 && !in_memory_fs(path);
	f = open(path, mode | O_CLOEXEC | (*direct ? O_DIRECT : 0));
	if (f < 0 && errno == EINVAL && *direct) {
		/* tmpfs and some others have no O_DIRECT. */
		f = open(path, mode | O_CLOEXEC);
		*direct = 0;
	}
	if (f < 0)
		return -errno;
	*size_bytes = (uint64_t)st.st_size;
	*fd = f;
	return 0;
}
