// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The I/O engines: memory (ranges, batches), fault injection (the Nth write
 * or read, sticky death, one bad block, counters), sync on a temporary file
 * (what pd_io_open accepts and refuses, sizes, read-only, a file that shrank
 * under us) and libaio (batches larger than its queue depth, scattered and
 * repeated blocks, writes seen by the sync engine).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/endian.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"

#define B PD_BLOCK_SIZE

/* A block whose every le64 says which block it is, plus a tag. */
static void fill(void *buf, uint64_t block, uint64_t tag)
{
	for (unsigned i = 0; i < B / 8; i++)
		store_le64((unsigned char *)buf + 8 * i, block * 1000 + tag + i);
}

static int is_filled(const void *buf, uint64_t block, uint64_t tag)
{
	for (unsigned i = 0; i < B / 8; i++)
		if (load_le64((const unsigned char *)buf + 8 * i) !=
		    block * 1000 + tag + i)
			return 0;
	return 1;
}

static void *xalloc(size_t n)
{
	void *p = NULL;

	assert_int_equal(posix_memalign(&p, B, n), 0);
	return p;
}

/* ---- shared engine checks ---- */

/* Writes every block, reads them back singly, in pairs and in a batch. */
static void exercise(struct pd_io *io, uint64_t tag)
{
	uint64_t n = io->nr_blocks;
	unsigned char *buf = xalloc(2 * B);
	uint64_t blocks[300];
	void *bufs[300];

	assert_true(n >= 4);
	for (uint64_t i = 0; i < n; i++) {
		fill(buf, i, tag);
		assert_int_equal(io->ops->write(io, i, 1, buf), 0);
	}
	for (uint64_t i = 0; i < n; i++) {
		assert_int_equal(io->ops->read(io, i, 1, buf), 0);
		assert_true(is_filled(buf, i, tag));
	}
	assert_int_equal(io->ops->read(io, n - 2, 2, buf), 0);
	assert_true(is_filled(buf, n - 2, tag));
	assert_true(is_filled(buf + B, n - 1, tag));
	/* Two blocks in one write. */
	fill(buf, 1, tag + 7);
	fill(buf + B, 2, tag + 7);
	assert_int_equal(io->ops->write(io, 1, 2, buf), 0);
	assert_int_equal(io->ops->read(io, 2, 1, buf), 0);
	assert_true(is_filled(buf, 2, tag + 7));
	fill(buf, 1, tag);
	fill(buf + B, 2, tag);
	assert_int_equal(io->ops->write(io, 1, 2, buf), 0);

	/* A batch: scattered, backwards, with repeats, beyond any queue. */
	for (unsigned i = 0; i < 300; i++) {
		blocks[i] = (n - 1 - (i * 7) % n);
		bufs[i] = xalloc(B);
	}
	assert_int_equal(io->ops->read_batch(io, 300, blocks, bufs), 0);
	for (unsigned i = 0; i < 300; i++) {
		assert_true(is_filled(bufs[i], blocks[i], tag));
		free(bufs[i]);
	}

	/* Out of range, whole or in part, never touches anything. */
	assert_int_equal(io->ops->read(io, n, 1, buf), -ERANGE);
	assert_int_equal(io->ops->read(io, n - 1, 2, buf), -ERANGE);
	assert_int_equal(io->ops->read(io, UINT64_MAX, 1, buf), -ERANGE);
	assert_int_equal(io->ops->write(io, n, 1, buf), -ERANGE);
	assert_int_equal(io->ops->write(io, n - 1, 2, buf), -ERANGE);
	blocks[0] = 0;
	blocks[1] = n;
	bufs[0] = buf;
	bufs[1] = buf + B;
	assert_int_equal(io->ops->read_batch(io, 2, blocks, bufs), -ERANGE);
	assert_int_equal(io->ops->flush(io), 0);
	free(buf);
}

/* ---- memory ---- */

static void test_mem(void **state)
{
	struct pd_io *io;
	unsigned char buf[B];

	(void)state;
	assert_int_equal(pd_io_mem_create(40, &io), 0);
	assert_int_equal(io->nr_blocks, 40);
	assert_int_equal(io->size_bytes, 40 * B);
	assert_false(io->is_blockdev);
	assert_int_equal(io->ops->read(io, 39, 1, buf), 0);
	for (unsigned i = 0; i < B; i++)
		assert_int_equal(buf[i], 0);
	exercise(io, 5);
	/* The buffer is the device. */
	assert_true(is_filled(pd_io_mem_data(io) + 17 * B, 17, 5));
	pd_io_mem_data(io)[3 * B] ^= 1;
	assert_int_equal(io->ops->read(io, 3, 1, buf), 0);
	assert_false(is_filled(buf, 3, 5));
	pd_io_destroy(io);
	pd_io_destroy(NULL);
}

static void test_mem_empty(void **state)
{
	struct pd_io *io;
	unsigned char buf[B];

	(void)state;
	assert_int_equal(pd_io_mem_create(0, &io), 0);
	assert_int_equal(io->nr_blocks, 0);
	assert_int_equal(io->ops->read(io, 0, 1, buf), -ERANGE);
	pd_io_destroy(io);
	assert_int_equal(pd_io_mem_create(UINT64_MAX / 2, &io), -ENOMEM);
	assert_null(io);
}

/* ---- fault injection ---- */

static struct pd_io *faulty(uint64_t nr, uint64_t wat, uint64_t rat,
			    uint64_t blk, int sticky)
{
	struct pd_io_fault_plan p = { wat, rat, blk, sticky };
	struct pd_io *mem, *io;

	assert_int_equal(pd_io_mem_create(nr, &mem), 0);
	assert_int_equal(pd_io_fault_create(mem, &p, &io), 0);
	assert_int_equal(io->nr_blocks, nr);
	assert_int_equal(io->size_bytes, nr * B);
	/* Only the memory engine hands out its buffer. */
	assert_null(pd_io_mem_data(io));
	return io;
}

static void test_fault_passthrough(void **state)
{
	struct pd_io *io = faulty(20, 0, 0, UINT64_MAX, 1);

	(void)state;
	exercise(io, 11);
	/*
	 * Every call is counted, refused ones included: writes 20 + 2 + 2
	 * out of range; reads 20 + 2 + a batch of 300 + 3 out of range + a
	 * batch of 2 (one per block).
	 */
	assert_int_equal(pd_io_fault_writes(io), 24);
	assert_int_equal(pd_io_fault_reads(io), 20 + 2 + 300 + 3 + 2);
	pd_io_destroy(io);
}

static void test_fault_nth_write(void **state)
{
	unsigned char buf[B];

	(void)state;
	for (int sticky = 0; sticky <= 1; sticky++) {
		struct pd_io *io = faulty(8, 3, 0, UINT64_MAX, sticky);

		for (uint64_t i = 0; i < 5; i++) {
			fill(buf, i, 1);
			assert_int_equal(io->ops->write(io, i, 1, buf),
					 i == 2 || (sticky && i > 2) ? -EIO : 0);
		}
		assert_int_equal(io->ops->flush(io), sticky ? -EIO : 0);
		assert_int_equal(pd_io_fault_writes(io), 5);
		/* The failed write did not happen; reads still work. */
		assert_int_equal(io->ops->read(io, 2, 1, buf), 0);
		assert_false(is_filled(buf, 2, 1));
		assert_int_equal(io->ops->read(io, 1, 1, buf), 0);
		assert_true(is_filled(buf, 1, 1));
		assert_int_equal(io->ops->read(io, 4, 1, buf), 0);
		assert_int_equal(is_filled(buf, 4, 1), !sticky);
		pd_io_destroy(io);
	}
}

static void test_fault_nth_read(void **state)
{
	struct pd_io *io = faulty(8, 0, 2, UINT64_MAX, 0);
	unsigned char buf[B];

	(void)state;
	assert_int_equal(io->ops->read(io, 0, 1, buf), 0);
	assert_int_equal(io->ops->read(io, 0, 1, buf), -EIO);
	assert_int_equal(io->ops->read(io, 0, 1, buf), 0);
	assert_int_equal(pd_io_fault_reads(io), 3);
	assert_int_equal(pd_io_fault_writes(io), 0);
	pd_io_destroy(io);
}

static void test_fault_block(void **state)
{
	struct pd_io *io = faulty(8, 0, 0, 5, 0);
	unsigned char *buf = xalloc(3 * B);
	uint64_t blocks[3] = { 1, 5, 6 };
	void *bufs[3] = { buf, buf + B, buf + 2 * B };

	(void)state;
	assert_int_equal(io->ops->read(io, 4, 1, buf), 0);
	assert_int_equal(io->ops->read(io, 4, 3, buf), -EIO);	/* covers 5 */
	assert_int_equal(io->ops->read(io, 5, 1, buf), -EIO);
	assert_int_equal(io->ops->write(io, 5, 1, buf), -EIO);
	assert_int_equal(io->ops->write(io, 6, 1, buf), 0);
	assert_int_equal(io->ops->read_batch(io, 3, blocks, bufs), -EIO);
	blocks[1] = 4;
	assert_int_equal(io->ops->read_batch(io, 3, blocks, bufs), 0);
	free(buf);
	pd_io_destroy(io);
}

/* ---- files: sync and aio ---- */

static char *temp_file(uint64_t bytes)
{
	char *path = strdup("/tmp/dmct-io-XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)bytes), 0);
	close(fd);
	return path;
}

static void test_open_refuses(void **state)
{
	struct pd_io *io = (void *)1;
	char *path = temp_file(0);
	char missing[64];

	(void)state;
	snprintf(missing, sizeof(missing), "%s.missing", path);
	assert_int_equal(pd_io_open(missing, PD_IO_WRITE, &io), -ENOENT);
	assert_null(io);
	/* Opening for writing never creates. */
	assert_int_equal(access(missing, F_OK), -1);
	assert_int_equal(pd_io_open("/tmp", 0, &io), -EISDIR);
	assert_int_equal(pd_io_open("/dev/null", 0, &io), -ENODEV);
	unlink(path);
	free(path);
}

static void test_sync_file(void **state)
{
	char *path = temp_file(30 * B + 100);
	struct pd_io *io;
	unsigned char buf[B];

	(void)state;
	assert_int_equal(pd_io_open(path, PD_IO_WRITE, &io), 0);
	assert_int_equal(io->nr_blocks, 30);
	assert_int_equal(io->size_bytes, 30 * B + 100);
	assert_false(io->is_blockdev);
	exercise(io, 3);
	pd_io_destroy(io);

	/* Read-only: reads work, writes are refused by the kernel. */
	assert_int_equal(pd_io_open(path, PD_IO_RDONLY, &io), 0);
	assert_int_equal(io->ops->read(io, 29, 1, buf), 0);
	assert_true(is_filled(buf, 29, 3));
	assert_int_equal(io->ops->write(io, 0, 1, buf), -EBADF);
	/* The file shrank after open: a short read is an I/O error. */
	assert_int_equal(truncate(path, 10 * B), 0);
	assert_int_equal(io->ops->read(io, 20, 1, buf), -EIO);
	pd_io_destroy(io);
	unlink(path);
	free(path);
}

static void test_aio_file(void **state)
{
	char *path = temp_file(600 * (uint64_t)B);
	struct pd_io *io, *sync;
	unsigned char *buf = xalloc(B);

	(void)state;
	assert_int_equal(pd_io_open(path, PD_IO_WRITE | PD_IO_AIO, &io), 0);
	assert_int_equal(io->nr_blocks, 600);
	exercise(io, 9);
	pd_io_destroy(io);
	/* What aio wrote, sync reads. */
	assert_int_equal(pd_io_open(path, PD_IO_RDONLY, &sync), 0);
	assert_int_equal(sync->ops->read(sync, 599, 1, buf), 0);
	assert_true(is_filled(buf, 599, 9));
	pd_io_destroy(sync);

	/* O_DIRECT where the file system allows it. */
	if (pd_io_open(path, PD_IO_AIO | PD_IO_DIRECT, &io) == 0) {
		uint64_t blocks[2] = { 7, 300 };
		unsigned char *b2 = xalloc(B);
		void *bufs[2] = { buf, b2 };

		assert_int_equal(io->ops->read_batch(io, 2, blocks, bufs), 0);
		assert_true(is_filled(buf, 7, 9));
		assert_true(is_filled(b2, 300, 9));
		free(b2);
		pd_io_destroy(io);
	}
	free(buf);
	unlink(path);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mem),
		cmocka_unit_test(test_mem_empty),
		cmocka_unit_test(test_fault_passthrough),
		cmocka_unit_test(test_fault_nth_write),
		cmocka_unit_test(test_fault_nth_read),
		cmocka_unit_test(test_fault_block),
		cmocka_unit_test(test_open_refuses),
		cmocka_unit_test(test_sync_file),
		cmocka_unit_test(test_aio_file),
	};

	return cmocka_run_group_tests_name("io", tests, NULL, NULL);
}
