// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The buffered line writer (textbuf.h).  Numbers are formatted two digits
 * at a time from a table, so that a dump of millions of mappings costs
 * little more than the memory traffic.
 *
 * Writing a big dump into the page cache costs the kernel about as much as
 * formatting it (a new page for every 4 KiB), so past the first buffer a
 * thread does the write(2)s while the next buffer fills: the writer hands
 * over a full buffer and takes the spare one, waiting only if the spare is
 * still being written.  The thread writes nothing but what it was handed,
 * in order, and stops at the first error, which the next hand-over or
 * flush returns.  It can also empty the file first
 * (xml_textbuf_empty_file): truncating a file whose pages are still being
 * written back from the last run took a millisecond or two, the tenth of a
 * thin_dump of a million mappings, and the walk need not wait for it.
 * SIGPIPE stays unblocked in it, so a closed pipe ends the tool as a write
 * in the main thread would.
 */
#include "xml/textbuf.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static const char digits2[] =
	"00010203040506070809101112131415161718192021222324252627282930313233"
	"34353637383940414243444546474849505152535455565758596061626364656667"
	"68697071727374757677787980818283848586878889909192939495969798"
	"99";

char *xml_put_u64(char *p, uint64_t v)
{
	char tmp[20];
	char *t = tmp + sizeof(tmp);
	size_t n;

	while (v >= 100) {
		unsigned d = (unsigned)(v % 100);

		v /= 100;
		t -= 2;
		memcpy(t, digits2 + 2 * d, 2);
	}
	if (v >= 10) {
		t -= 2;
		memcpy(t, digits2 + 2 * v, 2);
	} else {
		*--t = (char)('0' + v);
	}
	n = (size_t)(tmp + sizeof(tmp) - t);
	memcpy(p, t, n);
	return p + n;
}

struct xml_textbuf_writer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;	/* a job or stop for the thread; job done */
	const char *job;	/* NULL: idle */
	size_t job_len;
	int truncate;		/* empty the file before any job */
	int stop;
	int err;		/* the thread's first error */
	unsigned long long written;
};

/* Writes all of p, retrying on EINTR.  0 or a negative errno. */
static int write_all(int fd, const char *p, size_t n,
		     unsigned long long *written)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* Nothing written and no error: never loop on it. */
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
		*written += (unsigned long long)w;
	}
	return 0;
}

static void *writer_main(void *arg)
{
	struct xml_textbuf *t = arg;
	struct xml_textbuf_writer *wr = t->wr;

	pthread_mutex_lock(&wr->mu);
	for (;;) {
		const char *p;
		size_t n;
		unsigned long long done = 0;
		int r = 0;

		while (!wr->job && !wr->truncate && !wr->stop)
			pthread_cond_wait(&wr->cv, &wr->mu);
		if (wr->truncate) {
			pthread_mutex_unlock(&wr->mu);
			if (ftruncate(t->fd, 0) < 0)
				r = -errno;
			pthread_mutex_lock(&wr->mu);
			if (r && !wr->err)
				wr->err = r;
			wr->truncate = 0;
			pthread_cond_broadcast(&wr->cv);
			continue;
		}
		if (!wr->job)
			break;
		p = wr->job;
		n = wr->job_len;
		pthread_mutex_unlock(&wr->mu);
		if (!wr->err)
			r = write_all(t->fd, p, n, &done);
		pthread_mutex_lock(&wr->mu);
		if (r && !wr->err)
			wr->err = r;
		wr->written += done;
		wr->job = NULL;
		pthread_cond_broadcast(&wr->cv);
	}
	pthread_mutex_unlock(&wr->mu);
	return NULL;
}

/* Waits until the thread has written what it was handed; its error then. */
static int writer_wait(struct xml_textbuf *t)
{
	struct xml_textbuf_writer *wr = t->wr;
	int r;

	pthread_mutex_lock(&wr->mu);
	while (wr->job || wr->truncate)
		pthread_cond_wait(&wr->cv, &wr->mu);
	r = wr->err;
	t->written = wr->written;
	pthread_mutex_unlock(&wr->mu);
	return r;
}

/*
 * The thread, where it pays: a second CPU, and memory for the spare
 * buffer.  Without it the buffer is written in place, as it always was.
 */
static void writer_start(struct xml_textbuf *t)
{
	struct xml_textbuf_writer *wr;
	cpu_set_t cpus;
	sigset_t set, old;
	int r;

	if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0 &&
	    CPU_COUNT(&cpus) < 2)
		return;
	wr = calloc(1, sizeof(*wr));
	t->spare = malloc(XML_TEXTBUF_SIZE);
	if (!wr || !t->spare) {
		free(wr);
		free(t->spare);
		t->spare = NULL;
		return;
	}
	pthread_mutex_init(&wr->mu, NULL);
	pthread_cond_init(&wr->cv, NULL);
	wr->written = t->written;
	t->wr = wr;
	/* Signals stay with the tool's thread; SIGPIPE is the write's own. */
	sigfillset(&set);
	sigdelset(&set, SIGPIPE);
	pthread_sigmask(SIG_SETMASK, &set, &old);
	r = pthread_create(&wr->thread, NULL, writer_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		t->wr = NULL;
		pthread_cond_destroy(&wr->cv);
		pthread_mutex_destroy(&wr->mu);
		free(wr);
		free(t->spare);
		t->spare = NULL;
	}
}

int xml_textbuf_init(struct xml_textbuf *t, int fd)
{
	memset(t, 0, sizeof(*t));
	t->fd = fd;
	t->buf = malloc(XML_TEXTBUF_SIZE);
	return t->buf ? 0 : -ENOMEM;
}

void xml_textbuf_release(struct xml_textbuf *t)
{
	struct xml_textbuf_writer *wr = t->wr;

	if (wr) {
		writer_wait(t);
		pthread_mutex_lock(&wr->mu);
		wr->stop = 1;
		pthread_cond_broadcast(&wr->cv);
		pthread_mutex_unlock(&wr->mu);
		pthread_join(wr->thread, NULL);
		pthread_cond_destroy(&wr->cv);
		pthread_mutex_destroy(&wr->mu);
		free(wr);
		t->wr = NULL;
	}
	free(t->spare);
	t->spare = NULL;
	free(t->buf);
	t->buf = NULL;
}

/*
 * What is buffered goes out: handed to the thread (started at the first
 * full buffer) or written here.  0 or the sticky error.
 */
static int hand_over(struct xml_textbuf *t, int full)
{
	struct xml_textbuf_writer *wr;
	char *p;
	int r;

	if (t->err)
		return t->err;
	if (full && !t->wr)
		writer_start(t);
	wr = t->wr;
	if (!wr) {
		r = write_all(t->fd, t->buf, t->used, &t->written);
		if (r < 0)
			return t->err = r;
		t->used = 0;
		return 0;
	}
	r = writer_wait(t);
	if (r < 0)
		return t->err = r;
	if (!t->used)
		return 0;
	pthread_mutex_lock(&wr->mu);
	wr->job = t->buf;
	wr->job_len = t->used;
	pthread_cond_broadcast(&wr->cv);
	pthread_mutex_unlock(&wr->mu);
	p = t->buf;
	t->buf = t->spare;
	t->spare = p;
	t->used = 0;
	return 0;
}

int xml_textbuf_empty_file(struct xml_textbuf *t)
{
	struct xml_textbuf_writer *wr;

	if (t->err)
		return t->err;
	if (!t->wr)
		writer_start(t);
	wr = t->wr;
	if (!wr) {
		if (ftruncate(t->fd, 0) < 0)
			return t->err = -errno;
		return 0;
	}
	/* Nothing was handed over yet: the thread truncates before any. */
	pthread_mutex_lock(&wr->mu);
	wr->truncate = 1;
	pthread_cond_broadcast(&wr->cv);
	pthread_mutex_unlock(&wr->mu);
	return 0;
}

int xml_textbuf_flush(struct xml_textbuf *t)
{
	int r = hand_over(t, 0);

	if (r == 0 && t->wr && (r = writer_wait(t)) < 0)
		t->err = r;
	return r;
}

char *xml_textbuf_reserve(struct xml_textbuf *t, size_t n)
{
	if (t->err)
		return NULL;
	if (n > XML_TEXTBUF_SIZE) {
		t->err = -EINVAL;
		return NULL;
	}
	if (XML_TEXTBUF_SIZE - t->used < n && hand_over(t, 1) < 0)
		return NULL;
	return t->buf + t->used;
}
