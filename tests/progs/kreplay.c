// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * kreplay: replays a block I/O trace on a live dm-cache device, for the
 * kernel lab (tests/kernel, scenario s7), built statically by `make
 * static` and carried into the guest.
 *
 *   kreplay [-e EVERY] [-z HZ] DM_NAME TRACE LOG STATUS
 *
 * The device must be loaded and suspended (dmsetup create --notable,
 * dmsetup load).  kreplay reads the whole trace (any format our readers
 * take), resumes the device itself through the device-mapper ioctl
 * (where the kernel runs its first waker), then issues each I/O with
 * O_DIRECT at its trace time (sleeping until then), one at a time, and
 * logs in our native trace format when it was really issued and when it
 * completed: an emulated machine is slow and uneven, and cache_replay on
 * the host replays that log, not the plan.  Right after the last I/O it
 * reads the target's status through the same ioctl and writes it to
 * STATUS as `dmsetup status` prints it; the log ends with a flush record
 * at the time of that reading, so that the replay runs its clock as far.
 *
 * Time 0 of the trace and of the log is the resume, or with -z the last
 * tick of a HZ clock before it: the kernel's jiffies advance on
 * CLOCK_MONOTONIC's multiples of 1/HZ s (its tick is aligned so), and
 * cache_replay counts jiffies from its time 0, so both see each I/O in
 * the same jiffy.  With -e EVERY the status is also read after every
 * EVERY-th I/O, and STATUS gets a line "at N T: STATUS" for each (N I/Os
 * done, T ns since time 0) before the final one: the kernel's counters
 * over time, to set against a replay of the log's first N I/Os.
 *
 * Reads and writes only; offsets and lengths must be 4 KiB aligned.
 * Written data is a pattern of the I/O's index.  Exit 0, or 1 with one
 * line on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/dm-ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "engine/trace.h"

#define ALIGN 4096u
#define MAX_IO (1u << 20)

static const char *prog = "kreplay";

static int die(const char *fmt, const char *a, int err)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, a);
	if (err)
		fprintf(stderr, ": %s", strerror(err));
	fputc('\n', stderr);
	return 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
			       (long)(ns % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

/* One device-mapper ioctl on NAME with room for its answer. */
struct dm_req {
	struct dm_ioctl h;
	char data[16384];
};

static int dm_call(int ctl, unsigned long cmd, const char *name,
		   struct dm_req *q)
{
	memset(q, 0, sizeof(*q));
	q->h.version[0] = DM_VERSION_MAJOR;
	q->h.version[1] = 0;
	q->h.version[2] = 0;
	q->h.data_size = sizeof(*q);
	q->h.data_start = sizeof(q->h);
	snprintf(q->h.name, sizeof(q->h.name), "%s", name);
	return ioctl(ctl, cmd, q) < 0 ? -errno : 0;
}

/* The target's status line as dmsetup prints it, into f; 0 or -errno. */
static int print_status(int ctl, const char *name, FILE *f)
{
	struct dm_req q;
	struct dm_target_spec *sp;
	int r = dm_call(ctl, DM_TABLE_STATUS, name, &q);

	if (r < 0)
		return r;
	if (q.h.target_count != 1)
		return -EINVAL;
	sp = (struct dm_target_spec *)((char *)&q + q.h.data_start);
	fprintf(f, "%" PRIu64 " %" PRIu64 " %s %s\n",
		(uint64_t)sp->sector_start, (uint64_t)sp->length,
		sp->target_type, (char *)(sp + 1));
	return 0;
}

int main(int argc, char **argv)
{
	struct trace_io *ios = NULL, io;
	size_t n = 0, cap = 0;
	struct trace_reader *rd = NULL;
	struct trace_writer *wr = NULL;
	struct trace_error terr = { 0 };
	struct dm_req q;
	FILE *log = NULL, *st = NULL;
	char *buf = NULL;
	uint64_t t0, t_status;
	int tfd = -1, ctl = -1, dev = -1, r, rc = 1;
	unsigned long every = 0, hz = 0;
	dev_t devno;
	int opt;

	while ((opt = getopt(argc, argv, "e:z:")) != -1) {
		if (opt == 'e')
			every = strtoul(optarg, NULL, 10);
		else if (opt == 'z')
			hz = strtoul(optarg, NULL, 10);
		else
			argc = 0;
	}
	if (argc - optind != 4 || hz > 1000000000u) {
		fprintf(stderr, "usage: %s [-e EVERY] [-z HZ] DM_NAME TRACE LOG STATUS\n", prog);
		return 1;
	}
	argv += optind - 1;
	tfd = open(argv[2], O_RDONLY);
	if (tfd < 0)
		return die("%s", argv[2], errno);
	r = trace_reader_open_fd(&rd, tfd, TRACE_FMT_AUTO, &terr);
	while (r >= 0 && (r = trace_reader_next(rd, &io, &terr)) == 1) {
		if ((io.op != TRACE_OP_READ && io.op != TRACE_OP_WRITE) ||
		    io.offset % ALIGN || io.len % ALIGN || !io.len ||
		    io.len > MAX_IO) {
			fprintf(stderr, "%s: %s: I/O %zu: only 4 KiB-aligned reads and writes up to 1 MiB\n",
				prog, argv[2], n + 1);
			goto out;
		}
		if (n == cap) {
			struct trace_io *m;

			cap = cap ? 2 * cap : 4096;
			m = realloc(ios, cap * sizeof(*ios));
			if (!m) {
				die("%s", "out of memory", 0);
				goto out;
			}
			ios = m;
		}
		ios[n++] = io;
	}
	if (r < 0) {
		fprintf(stderr, "%s: %s: line %" PRIu64 ": %s\n", prog, argv[2],
			terr.line, terr.msg);
		goto out;
	}
	if (posix_memalign((void **)&buf, ALIGN, MAX_IO)) {
		die("%s", "out of memory", 0);
		goto out;
	}
	log = fopen(argv[3], "w");
	if (!log) {
		die("%s", argv[3], errno);
		goto out;
	}
	st = fopen(argv[4], "w");
	if (!st) {
		die("%s", argv[4], errno);
		goto out;
	}
	ctl = open("/dev/mapper/control", O_RDWR);
	if (ctl < 0) {
		die("%s", "/dev/mapper/control", errno);
		goto out;
	}

	/* Resume: the kernel's resume runs the waker once and arms it. */
	r = dm_call(ctl, DM_DEV_SUSPEND, argv[1], &q);
	t0 = now_ns();
	if (r < 0) {
		die("resume %s", argv[1], -r);
		goto out;
	}
	if (hz)
		t0 -= t0 % (1000000000u / hz);
	/* No udev in the guest: a node of our own from the answer. */
	devno = (dev_t)q.h.dev;
	unlink("/tmp/kreplay.dev");
	if (mknod("/tmp/kreplay.dev", S_IFBLK | 0600, devno) < 0) {
		die("%s", "mknod /tmp/kreplay.dev", errno);
		goto out;
	}
	dev = open("/tmp/kreplay.dev", O_RDWR | O_DIRECT);
	if (dev < 0) {
		die("%s", "/tmp/kreplay.dev", errno);
		goto out;
	}

	for (size_t i = 0; i < n; i++) {
		struct trace_io *p = &ios[i];
		uint64_t s, e;
		ssize_t got;

		sleep_until(t0 + p->time_ns);
		if (p->op == TRACE_OP_WRITE)
			memset(buf, (int)(i % 251) + 1, p->len);
		s = now_ns();
		if (p->op == TRACE_OP_WRITE)
			got = pwrite(dev, buf, p->len, (off_t)p->offset);
		else
			got = pread(dev, buf, p->len, (off_t)p->offset);
		e = now_ns();
		if (got != (ssize_t)p->len) {
			fprintf(stderr, "%s: I/O %zu (%s at byte %" PRIu64 "): %s\n",
				prog, i + 1, p->op == TRACE_OP_WRITE ? "write" : "read",
				p->offset, got < 0 ? strerror(errno) : "short");
			goto out;
		}
		p->time_ns = s - t0;
		p->done_ns = e - t0;
		if (every && (i + 1) % every == 0) {
			fprintf(st, "at %zu %" PRIu64 ": ", i + 1, now_ns() - t0);
			r = print_status(ctl, argv[1], st);
			if (r < 0) {
				die("status %s", argv[1], -r);
				goto out;
			}
		}
	}

	/* The status right after the last completion. */
	t_status = now_ns() - t0;
	r = print_status(ctl, argv[1], st);
	if (r < 0) {
		die("status %s", argv[1], -r);
		goto out;
	}

	trace_writer_open(&wr, log, TRACE_FMT_NATIVE, 0);
	for (size_t i = 0; i < n && r == 0; i++)
		r = trace_writer_put(wr, &ios[i]);
	if (r == 0) {
		struct trace_io fl = { t_status, t_status, 0, 0,
				       TRACE_OP_FLUSH, 0 };

		r = trace_writer_put(wr, &fl);
	}
	{
		int c = trace_writer_close(wr, NULL);

		wr = NULL;
		if (r == 0)
			r = c;
	}
	if (r < 0) {
		die("%s", argv[3], -r);
		goto out;
	}
	rc = 0;
out:
	if (wr)
		trace_writer_close(wr, NULL);
	if (log && fclose(log) && rc == 0)
		rc = die("%s", argv[3], errno);
	if (st && fclose(st) && rc == 0)
		rc = die("%s", argv[4], errno);
	if (rd)
		trace_reader_close(rd);
	if (dev >= 0)
		close(dev);
	if (ctl >= 0)
		close(ctl);
	if (tfd >= 0)
		close(tfd);
	free(buf);
	free(ios);
	return rc;
}
