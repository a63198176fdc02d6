// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * faultio.so: an LD_PRELOAD shim that makes one file fail like a disk, for
 * the whole-process fault tests (tests/cli/8x-fault-*.sh, fault-lib.bash)
 * and the block-io corpus case.  The unit tests fail I/O inside the library
 * (pdata's fault engine); this fails it under a whole tool, so the option
 * handling, the error paths and the exit code are tested too.
 *
 * Only descriptors open on FAULTIO_FILE are touched (matched on every call
 * by st_dev/st_ino, or st_rdev for a device node, so dup()ed and inherited
 * descriptors count too).  Everything is driven by the environment:
 *
 *   FAULTIO_FILE=PATH      the file; unset, the shim does nothing
 *   FAULTIO_READ=N         the Nth read (1-based) fails with EIO, and so does
 *                          every later read overlapping its bytes: a bad
 *                          sector stays bad when it is read again
 *   FAULTIO_WRITE=N        the Nth write fails with EIO; fsync and fdatasync
 *                          count as writes (a failed flush is a failed write)
 *   FAULTIO_TORN=exit|eio  with FAULTIO_WRITE: the Nth write puts only the
 *                          first 2048 bytes of its first 4 KiB block on the
 *                          file, then the process dies on the spot (exit:
 *                          _exit(FAULTIO_EXIT_CODE), a power cut) or the
 *                          write fails with EIO (eio); flushes are not
 *                          counted then
 *   FAULTIO_BAD_BLOCK=B    every read touching 4 KiB block B fails with EIO
 *   FAULTIO_RDONLY=1       opening the file for writing fails with EROFS,
 *                          as on a read-only device or mount, even as root
 *   FAULTIO_LOG=PATH       one line appended per open of the file
 *                          ("open rdonly|wronly|rdwr") and per fault fired
 *   FAULTIO_HIT=PATH       created when a fault fires, so a test loop knows
 *                          that its N was reached
 *
 * Reads are read, pread, preadv (and their 64 and 2 forms); writes are
 * write, pwrite, pwritev, fsync and fdatasync.  libaio (io_submit) is not
 * interposed: the tools use it on block devices only.
 *
 * Built without the sanitizers, as a shared object; an ASan binary then
 * needs ASAN_OPTIONS=verify_asan_link_order=0 to accept the preload.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define FIO_BLOCK 4096
#define FIO_TORN_BYTES 2048
#define FIO_MAX_BAD 64
#define FIO_EXIT_DEFAULT 99

static struct {
	int active;
	dev_t dev;
	ino_t ino;
	dev_t rdev;		/* a device node: any node of the same device */
	int is_dev;
	uint64_t read_at, write_at, bad_block;
	int torn;		/* 0, 'x' (exit) or 'e' (EIO) */
	int rdonly;
	int exit_code;
	const char *log, *hit;
	uint64_t reads, writes;
	/* Byte ranges whose read failed: they keep failing. */
	struct { uint64_t lo, hi; } bad[FIO_MAX_BAD];
	unsigned nr_bad;
} F;

static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pread)(int, void *, size_t, off_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_preadv)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_preadv2)(int, const struct iovec *, int, off_t, int);
static ssize_t (*real_pwritev2)(int, const struct iovec *, int, off_t, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 10) : dflt;
}

static void *sym(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

__attribute__((constructor)) static void fio_init(void)
{
	const char *path = getenv("FAULTIO_FILE");
	const char *torn = getenv("FAULTIO_TORN");
	struct stat st;

	real_read = sym("read");
	real_write = sym("write");
	real_pread = sym("pread64");
	real_pwrite = sym("pwrite64");
	real_preadv = sym("preadv64");
	real_pwritev = sym("pwritev64");
	real_preadv2 = sym("preadv64v2");
	real_pwritev2 = sym("pwritev64v2");
	real_fsync = sym("fsync");
	real_fdatasync = sym("fdatasync");
	real_open = sym("open64");
	real_openat = sym("openat64");
	if (!path || stat(path, &st) < 0)
		return;
	F.dev = st.st_dev;
	F.ino = st.st_ino;
	F.is_dev = S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode);
	F.rdev = st.st_rdev;
	F.read_at = env_u64("FAULTIO_READ", 0);
	F.write_at = env_u64("FAULTIO_WRITE", 0);
	F.bad_block = env_u64("FAULTIO_BAD_BLOCK", UINT64_MAX);
	F.torn = torn && !strcmp(torn, "exit") ? 'x' :
		 torn && !strcmp(torn, "eio") ? 'e' : 0;
	F.rdonly = getenv("FAULTIO_RDONLY") != NULL;
	F.exit_code = (int)env_u64("FAULTIO_EXIT_CODE", FIO_EXIT_DEFAULT);
	F.log = getenv("FAULTIO_LOG");
	F.hit = getenv("FAULTIO_HIT");
	F.active = 1;
}

static int same_file(const struct stat *st)
{
	if (F.is_dev)
		return (S_ISBLK(st->st_mode) || S_ISCHR(st->st_mode)) &&
		       st->st_rdev == F.rdev;
	return st->st_dev == F.dev && st->st_ino == F.ino;
}

static int is_target(int fd)
{
	struct stat st;

	return F.active && fstat(fd, &st) == 0 && same_file(&st);
}

/* Appends one line to FAULTIO_LOG with plain system calls. */
static void fio_log(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int fd, n;

	if (!F.log)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fd = real_open(F.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (n > 0 && real_write(fd, line, (size_t)n) < 0)
		n = 0;
	close(fd);
}

static void fired(const char *what, uint64_t nth, uint64_t off, size_t len)
{
	int fd;

	fio_log("fault %s #%llu at byte %llu, %zu bytes\n", what,
		(unsigned long long)nth, (unsigned long long)off, len);
	if (F.hit) {
		fd = real_open(F.hit, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	}
}

static int overlaps_bad(uint64_t off, size_t len)
{
	uint64_t end = off + len;

	if (F.bad_block != UINT64_MAX && len &&
	    off < (F.bad_block + 1) * FIO_BLOCK && end > F.bad_block * FIO_BLOCK)
		return 1;
	for (unsigned i = 0; i < F.nr_bad; i++)
		if (off < F.bad[i].hi && end > F.bad[i].lo)
			return 1;
	return 0;
}

/* 1 when this read must fail: errno is then EIO. */
static int read_fails(int fd, uint64_t off, size_t len)
{
	if (!is_target(fd))
		return 0;
	F.reads++;
	if (F.reads == F.read_at) {
		if (F.nr_bad < FIO_MAX_BAD) {
			F.bad[F.nr_bad].lo = off;
			F.bad[F.nr_bad].hi = off + (len ? len : 1);
			F.nr_bad++;
		}
		fired("read", F.reads, off, len);
		errno = EIO;
		return 1;
	}
	if (overlaps_bad(off, len)) {
		fired("read of a bad range", F.reads, off, len);
		errno = EIO;
		return 1;
	}
	return 0;
}

/*
 * 1 when this write must fail (errno EIO), after writing the torn half
 * block where asked; never returns for a torn write in exit mode.
 */
static int write_fails(int fd, const void *first, size_t first_len,
		       uint64_t off, int is_flush)
{
	/* A flush cannot be torn: torn writes count data writes only. */
	if (!is_target(fd) || (is_flush && F.torn))
		return 0;
	F.writes++;
	if (F.writes != F.write_at)
		return 0;
	fired(is_flush ? "flush" : "write", F.writes, off, first_len);
	if (F.torn && !is_flush) {
		size_t n = first_len < FIO_TORN_BYTES ? first_len :
			   FIO_TORN_BYTES;

		if (real_pwrite(fd, first, n, (off_t)off) < 0)
			n = 0;
		if (F.torn == 'x')
			_exit(F.exit_code);
	}
	errno = EIO;
	return 1;
}

static uint64_t fd_pos(int fd)
{
	off_t o = lseek(fd, 0, SEEK_CUR);

	return o < 0 ? 0 : (uint64_t)o;
}

static size_t iov_len(const struct iovec *iov, int n)
{
	size_t len = 0;

	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	return len;
}

ssize_t read(int fd, void *buf, size_t len)
{
	if (read_fails(fd, fd_pos(fd), len))
		return -1;
	return real_read(fd, buf, len);
}

ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	if (read_fails(fd, (uint64_t)off, len))
		return -1;
	return real_pread(fd, buf, len, off);
}

ssize_t pread64(int fd, void *buf, size_t len, off64_t off)
{
	return pread(fd, buf, len, off);
}

ssize_t preadv(int fd, const struct iovec *iov, int n, off_t off)
{
	if (read_fails(fd, (uint64_t)off, iov_len(iov, n)))
		return -1;
	return real_preadv(fd, iov, n, off);
}

ssize_t preadv64(int fd, const struct iovec *iov, int n, off64_t off)
{
	return preadv(fd, iov, n, off);
}

ssize_t preadv2(int fd, const struct iovec *iov, int n, off_t off, int fl)
{
	if (read_fails(fd, off < 0 ? fd_pos(fd) : (uint64_t)off,
		       iov_len(iov, n)))
		return -1;
	return real_preadv2(fd, iov, n, off, fl);
}

ssize_t preadv64v2(int fd, const struct iovec *iov, int n, off64_t off, int fl)
{
	return preadv2(fd, iov, n, off, fl);
}

ssize_t write(int fd, const void *buf, size_t len)
{
	if (write_fails(fd, buf, len, fd_pos(fd), 0))
		return -1;
	return real_write(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	if (write_fails(fd, buf, len, (uint64_t)off, 0))
		return -1;
	return real_pwrite(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	return pwrite(fd, buf, len, off);
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	if (write_fails(fd, n ? iov[0].iov_base : NULL, n ? iov[0].iov_len : 0,
			(uint64_t)off, 0))
		return -1;
	return real_pwritev(fd, iov, n, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int n, off64_t off)
{
	return pwritev(fd, iov, n, off);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int n, off_t off, int fl)
{
	if (write_fails(fd, n ? iov[0].iov_base : NULL, n ? iov[0].iov_len : 0,
			off < 0 ? fd_pos(fd) : (uint64_t)off, 0))
		return -1;
	return real_pwritev2(fd, iov, n, off, fl);
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int n, off64_t off, int fl)
{
	return pwritev2(fd, iov, n, off, fl);
}

int fsync(int fd)
{
	if (write_fails(fd, NULL, 0, 0, 1))
		return -1;
	return real_fsync(fd);
}

int fdatasync(int fd)
{
	if (write_fails(fd, NULL, 0, 0, 1))
		return -1;
	return real_fdatasync(fd);
}

/* ---- opens: logged, and refused for writing with FAULTIO_RDONLY ---- */

static int check_open(int fd, int flags)
{
	int acc = flags & O_ACCMODE;

	if (fd < 0 || !is_target(fd))
		return fd;
	fio_log("open %s\n", acc == O_RDONLY ? "rdonly" :
		acc == O_WRONLY ? "wronly" : "rdwr");
	if (F.rdonly && acc != O_RDONLY) {
		close(fd);
		errno = EROFS;
		return -1;
	}
	return fd;
}

static mode_t open_mode(int flags, va_list ap)
{
	return (flags & (O_CREAT | __O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return check_open(real_open(path, flags, mode), flags);
}

int open64(const char *path, int flags, ...)
	__attribute__((alias("open")));

int openat(int dir, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return check_open(real_openat(dir, path, flags, mode), flags);
}

int openat64(int dir, const char *path, int flags, ...)
	__attribute__((alias("openat")));

/* What _FORTIFY_SOURCE builds call instead of open/openat. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dir, const char *path, int flags);
int __openat64_2(int dir, const char *path, int flags);

int __open_2(const char *path, int flags)
{
	return check_open(real_open(path, flags), flags);
}

int __open64_2(const char *path, int flags) __attribute__((alias("__open_2")));

int __openat_2(int dir, const char *path, int flags)
{
	return check_open(real_openat(dir, path, flags), flags);
}

int __openat64_2(int dir, const char *path, int flags)
	__attribute__((alias("__openat_2")));
