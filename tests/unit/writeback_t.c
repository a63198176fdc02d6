// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The writeback copier (cache/writeback.h) on the memory and fd engines,
 * with faults injected through the fault engine: merging of adjacent
 * blocks into single requests, read and write errors confined to the
 * blocks they hit, the retry count honoured exactly, blocks past the end
 * of either device, blocks copied in parts, and the origin left untouched
 * wherever a block failed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/writeback.h"

#define BB 4096u		/* block bytes used by most tests */
#define NR_FAST 64u
#define NR_ORIGIN 256u

struct rig {
	unsigned char *fast, *origin, *orig_copy;
	uint64_t sizes[2];
	struct pd_copy_engine *e;
};

static void fill_pattern(unsigned char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)((i * 131 + seed * 7 + i / 4096) & 0xff);
}

static void rig_init(struct rig *r, uint64_t bb, uint64_t nr_fast,
		     uint64_t nr_origin)
{
	unsigned char *bufs[2];

	r->sizes[PD_COPY_FAST] = bb * nr_fast;
	r->sizes[PD_COPY_ORIGIN] = bb * nr_origin;
	r->fast = malloc(r->sizes[0]);
	r->origin = malloc(r->sizes[1]);
	r->orig_copy = malloc(r->sizes[1]);
	assert_non_null(r->fast);
	assert_non_null(r->origin);
	assert_non_null(r->orig_copy);
	fill_pattern(r->fast, r->sizes[0], 1);
	fill_pattern(r->origin, r->sizes[1], 2);
	memcpy(r->orig_copy, r->origin, r->sizes[1]);
	bufs[0] = r->fast;
	bufs[1] = r->origin;
	assert_int_equal(pd_copy_engine_mem_create(bufs, r->sizes, &r->e), 0);
}

static void rig_faults(struct rig *r, const struct pd_copy_fault *f,
		       unsigned n)
{
	struct pd_copy_engine *fe;

	assert_int_equal(pd_copy_engine_fault_create(r->e, f, n, &fe), 0);
	r->e = fe;
}

static void rig_release(struct rig *r)
{
	pd_copy_engine_destroy(r->e);
	free(r->fast);
	free(r->origin);
	free(r->orig_copy);
}

static struct pd_copy_opts opts(uint64_t bb, uint64_t buffer,
				      unsigned retries)
{
	return (struct pd_copy_opts){ .block_bytes = bb,
					    .buffer_bytes = buffer,
					    .retries = retries };
}

/* Every copied job's origin block holds its fast block; all else intact. */
static void verify(const struct rig *r, const struct pd_copy_job *jobs,
		   uint64_t n, uint64_t bb)
{
	unsigned char *want = malloc(r->sizes[1]);

	assert_non_null(want);
	memcpy(want, r->orig_copy, r->sizes[1]);
	for (uint64_t i = 0; i < n; i++)
		if (jobs[i].stage == PD_COPY_COPIED)
			memcpy(want + jobs[i].oblock * bb,
			       r->fast + jobs[i].cblock * bb, bb);
	assert_memory_equal(want, r->origin, r->sizes[1]);
	free(want);
}

static void test_merged_sequential(void **state)
{
	struct pd_copy_job jobs[16];
	struct pd_copy_opts o = opts(BB, 1u << 20, 0);
	struct pd_copy_stats st;
	struct rig r;

	(void)state;
	rig_init(&r, BB, NR_FAST, NR_ORIGIN);
	for (unsigned i = 0; i < 16; i++)
		jobs[i] = (struct pd_copy_job){ .cblock = i, .oblock = 100 + i };
	assert_int_equal(pd_copy(r.e, &o, jobs, 16, &st), 0);
	assert_int_equal(st.copied, 16);
	assert_int_equal(st.failed, 0);
	/* Adjacent on both sides: one read and one write. */
	assert_int_equal(st.read_requests, 1);
	assert_int_equal(st.write_requests, 1);
	verify(&r, jobs, 16, BB);
	rig_release(&r);
}

static void test_write_order(void **state)
{
	/* Origin blocks in reverse: writes sorted and merged anyway. */
	struct pd_copy_job jobs[8];
	struct pd_copy_opts o = opts(BB, 1u << 20, 0);
	struct pd_copy_stats st;
	struct rig r;

	(void)state;
	rig_init(&r, BB, NR_FAST, NR_ORIGIN);
	for (unsigned i = 0; i < 8; i++)
		jobs[i] = (struct pd_copy_job){ .cblock = 2 * i,
						 .oblock = 50 - i };
	assert_int_equal(pd_copy(r.e, &o, jobs, 8, &st), 0);
	assert_int_equal(st.copied, 8);
	assert_int_equal(st.read_requests, 8);	/* cblocks not adjacent */
	assert_int_equal(st.write_requests, 1);
	verify(&r, jobs, 8, BB);
	rig_release(&r);
}

static void test_batches(void **state)
{
	/* 8 KiB buffer: one block per batch, 64 batches. */
	struct pd_copy_job jobs[NR_FAST];
	struct pd_copy_opts o = opts(BB, 8192, 0);
	struct pd_copy_stats st;
	struct rig r;

	(void)state;
	rig_init(&r, BB, NR_FAST, NR_ORIGIN);
	for (unsigned i = 0; i < NR_FAST; i++)
		jobs[i] = (struct pd_copy_job){ .cblock = i,
						 .oblock = (i * 37) % NR_ORIGIN };
	assert_int_equal(pd_copy(r.e, &o, jobs, NR_FAST, &st), 0);
	assert_int_equal(st.copied, NR_FAST);
	assert_int_equal(st.read_requests, NR_FAST);
	assert_int_equal(st.write_requests, NR_FAST);
	verify(&r, jobs, NR_FAST, BB);
	rig_release(&r);
}

static void test_read_error_confined(void **state)
{
	struct pd_copy_fault f = { .dev = PD_COPY_FAST, .write = 0,
				    .begin = 5 * BB + 100, .end = 5 * BB + 101,
				    .times = UINT32_MAX, .err = -EIO };
	struct pd_copy_job jobs[16];
	struct pd_copy_opts o = opts(BB, 1u << 20, 2);
	struct pd_copy_stats st;
	struct rig r;

	(void)state;
	rig_init(&r, BB, NR_FAST, NR_ORIGIN);
	rig_faults(&r, &f, 1);
	for (unsigned i = 0; i < 16; i++)
		jobs[i] = (struct pd_copy_job){ .cblock = i, .oblock = 100 + i };
	assert_int_equal(pd_copy(r.e, &o, jobs, 16, &st), 0);
	assert_int_equal(st.copied, 15);
	assert_int_equal(st.failed, 1);
	for (unsigned i = 0; i < 16; i++) {
		if (i == 5) {
			assert_int_equal(jobs[i].stage, PD_COPY_FAILED_READ);
			assert_int_equal(jobs[i].err, -EIO);
		} else {
			assert_int_equal(jobs[i].stage, PD_COPY_COPIED);
		}
	}
	/* One merged read, 16 singles after the split, 2 retries of #5. */
	assert_int_equal(st.read_requests, 1 + 16 + 2);
	assert_int_equal(st.retries, 2);
	/* Origin block 105 untouched, writes around it split in two. */
	assert_int_equal(st.write_requests, 2);
	assert_int_equal(pd_copy_engine_fault_hits(r.e), 1 + 1 + 2);
	verify(&r, jobs, 16, BB);
	rig_release(&r);
}

static void test_retry_count_exact(void **state)
{
	/*
	 * A fault that goes away after `times` hits.  The merged request
	 * takes the first hit; block 3 alone then needs times - 1 more
	 * failures before it succeeds, which retries must cover.
	 */
	static const struct {
		uint32_t times;
		unsigned retries;
		int copied;
	} v[] = {
		{ 1, 0, 1 },	/* the split single succeeds */
		{ 2, 0, 0 },
		{ 2, 1, 1 },
		{ 4, 2, 0 },
		{ 4, 3, 1 },
		{ UINT32_MAX, 5, 0 },
	};

	(void)state;
	for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
		struct pd_copy_fault f = { .dev = PD_COPY_FAST,
					    .begin = 3 * BB, .end = 4 * BB,
					    .times = v[k].times, .err = -EIO };
		struct pd_copy_job jobs[8];
		struct pd_copy_opts o = opts(BB, 1u << 20, v[k].retries);
		struct pd_copy_stats st;
		struct rig r;

		rig_init(&r, BB, NR_FAST, NR_ORIGIN);
		rig_faults(&r, &f, 1);
		for (unsigned i = 0; i < 8; i++)
			jobs[i] = (struct pd_copy_job){ .cblock = i,
							 .oblock = 10 + i };
		assert_int_equal(pd_copy(r.e, &o, jobs, 8, &st), 0);
		assert_int_equal(jobs[3].stage, v[k].copied ? PD_COPY_COPIED :
					       PD_COPY_FAILED_READ);
		assert_int_equal(st.copied, v[k].copied ? 8 : 7);
		verify(&r, jobs, 8, BB);
		rig_release(&r);
	}
}

static void test_write_error(void **state)
{
	struct pd_copy_fault f = { .dev = PD_COPY_ORIGIN, .write = 1,
				    .begin = 40 * BB, .end = 42 * BB,
				    .times = UINT32_MAX, .err = -ENOSPC };
	struct pd_copy_job jobs[20];
	struct pd_copy_opts o = opts(BB, 64 << 10, 1);
	struct pd_copy_stats st;
	struct rig r;

	(void)state;
	rig_init(&r, BB, NR_FAST, NR_ORIGIN);
	rig_faults(&r, &f, 1);
	for (unsigned i = 0; i < 20; i++)
		jobs[i] = (struct pd_copy_job){ .cblock = i, .oblock = 30 + i };
	assert_int_equal(pd_copy(r.e, &o, jobs, 20, &st), 0);
	assert_int_equal(st.failed, 2);
	assert_int_equal(jobs[10].stage, PD_COPY_FAILED_WRITE);
	assert_int_equal(jobs[11].stage, PD_COPY_FAILED_WRITE);
	assert_int_equal(jobs[10].err, -ENOSPC);
	assert_int_equal(jobs[9].stage, PD_COPY_COPIED);
	assert_int_equal(jobs[12].stage, PD_COPY_COPIED);
	verify(&r, jobs, 20, BB);
	rig_release(&r);
}

static void test_ranges(void **state)
{
	struct pd_copy_job jobs[4] = {
		{ .cblock = 0, .oblock = 0 },
		{ .cblock = 1, .oblock = 9 },	/* past a 9-block origin */
		{ .cblock = 6, .oblock = 8 },
		{ .cblock = 7, .oblock = 3 },	/* past a 7-block fast dev */
	};
	struct pd_copy_opts o = opts(BB, 1u << 20, 0);
	struct pd_copy_stats st;
	struct rig r;

	(void)state;
	rig_init(&r, BB, NR_FAST, NR_ORIGIN);
	o.fast_size = 7 * BB;
	o.origin_size = 9 * BB;
	assert_int_equal(pd_copy(r.e, &o, jobs, 4, &st), 0);
	assert_int_equal(jobs[0].stage, PD_COPY_COPIED);
	assert_int_equal(jobs[1].stage, PD_COPY_FAILED_ORIGIN_END);
	assert_int_equal(jobs[2].stage, PD_COPY_COPIED);
	assert_int_equal(jobs[3].stage, PD_COPY_FAILED_FAST_END);
	assert_int_equal(st.copied, 2);
	assert_int_equal(st.failed, 2);
	verify(&r, jobs, 4, BB);

	/* Offsets count: with one block of fast offset, cblock 6 is out. */
	o.fast_offset = BB;
	memcpy(r.origin, r.orig_copy, r.sizes[1]);
	assert_int_equal(pd_copy(r.e, &o, jobs, 4, &st), 0);
	assert_int_equal(jobs[2].stage, PD_COPY_FAILED_FAST_END);
	assert_int_equal(jobs[0].stage, PD_COPY_COPIED);
	/* It read fast block 1 (offset + cblock 0). */
	assert_memory_equal(r.origin, r.fast + BB, BB);
	rig_release(&r);
}

static void test_parts(void **state)
{
	/*
	 * 64 KiB blocks through a 32 KiB buffer: 16 KiB parts, 4 per block.
	 * A read fault in the third part of block 2 fails block 2 only.
	 */
	const uint64_t bb = 64 << 10;
	struct pd_copy_fault f = { .dev = PD_COPY_FAST,
				    .begin = 2 * bb + 40000,
				    .end = 2 * bb + 40001,
				    .times = UINT32_MAX, .err = -EIO };
	struct pd_copy_job jobs[4];
	struct pd_copy_opts o = opts(bb, 32 << 10, 0);
	struct pd_copy_stats st;
	struct rig r;

	(void)state;
	rig_init(&r, bb, 8, 16);
	rig_faults(&r, &f, 1);
	for (unsigned i = 0; i < 4; i++)
		jobs[i] = (struct pd_copy_job){ .cblock = i, .oblock = 12 - 3 * i };
	assert_int_equal(pd_copy(r.e, &o, jobs, 4, &st), 0);
	assert_int_equal(jobs[2].stage, PD_COPY_FAILED_READ);
	assert_int_equal(st.copied, 3);
	/*
	 * 16 parts, each its own read (a batch holds one part), less the
	 * fourth part of block 2, never read once its third failed.
	 */
	assert_int_equal(st.read_requests, 15);
	/*
	 * Block 2's first two parts were written before the third failed
	 * to read; the origin block is partly new, which is harmless
	 * because the block stays dirty.  Check the others exactly.
	 */
	for (unsigned i = 0; i < 4; i++) {
		const unsigned char *got = r.origin + jobs[i].oblock * bb;

		if (i == 2)
			assert_memory_equal(got + 32768,
					    r.orig_copy + jobs[i].oblock * bb +
					    32768, bb - 32768);
		else
			assert_memory_equal(got, r.fast + jobs[i].cblock * bb,
					    bb);
	}
	rig_release(&r);
}

static void test_bad_options(void **state)
{
	struct pd_copy_job jobs[1] = { { .cblock = 0, .oblock = 0 } };
	struct pd_copy_opts o = opts(BB, 4096, 0);
	struct pd_copy_stats st;
	struct rig r;

	(void)state;
	rig_init(&r, BB, 4, 4);
	assert_int_equal(pd_copy(r.e, &o, jobs, 1, &st), -EINVAL);
	assert_int_equal(st.failed, 1);
	assert_int_not_equal(jobs[0].stage, PD_COPY_COPIED);
	o = opts(1000, 1u << 20, 0);	/* not whole sectors */
	assert_int_equal(pd_copy(r.e, &o, jobs, 1, &st), -EINVAL);
	assert_memory_equal(r.origin, r.orig_copy, r.sizes[1]);
	rig_release(&r);
}

/* The fd engines (aio and sync) over memfds, same job set, same result. */
static void run_fd(int force_sync)
{
	const uint64_t nf = 128, no = 512;
	unsigned char *fast = malloc(nf * BB), *origin = malloc(no * BB);
	unsigned char *want = malloc(no * BB), *got = malloc(no * BB);
	struct pd_copy_job jobs[100];
	struct pd_copy_opts o = opts(BB, 256 << 10, 0);
	struct pd_copy_stats st;
	struct pd_copy_engine *e;
	int fds[2];

	assert_non_null(fast);
	assert_non_null(origin);
	assert_non_null(want);
	assert_non_null(got);
	fill_pattern(fast, nf * BB, 3);
	fill_pattern(origin, no * BB, 4);
	fds[0] = memfd_create("fast", 0);
	fds[1] = memfd_create("origin", 0);
	assert_true(fds[0] >= 0 && fds[1] >= 0);
	assert_int_equal(pwrite(fds[0], fast, nf * BB, 0), (ssize_t)(nf * BB));
	assert_int_equal(pwrite(fds[1], origin, no * BB, 0), (ssize_t)(no * BB));
	memcpy(want, origin, no * BB);
	for (unsigned i = 0; i < 100; i++) {
		jobs[i] = (struct pd_copy_job){ .cblock = i + i / 10,
						 .oblock = (i * 97 + 5) % no };
		memcpy(want + jobs[i].oblock * BB, fast + jobs[i].cblock * BB,
		       BB);
	}
	assert_int_equal(pd_copy_engine_fd_create(fds, 16, force_sync, &e), 0);
	if (force_sync)
		assert_string_equal(e->name, "sync");
	o.fast_size = nf * BB;
	o.origin_size = no * BB;
	assert_int_equal(pd_copy(e, &o, jobs, 100, &st), 0);
	assert_int_equal(st.copied, 100);
	assert_int_equal(pread(fds[1], got, no * BB, 0), (ssize_t)(no * BB));
	assert_memory_equal(want, got, no * BB);
	pd_copy_engine_destroy(e);
	close(fds[0]);
	close(fds[1]);
	free(fast);
	free(origin);
	free(want);
	free(got);
}

static void test_fd_aio(void **state)
{
	(void)state;
	run_fd(0);
}

static void test_fd_sync(void **state)
{
	(void)state;
	run_fd(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merged_sequential),
		cmocka_unit_test(test_write_order),
		cmocka_unit_test(test_batches),
		cmocka_unit_test(test_read_error_confined),
		cmocka_unit_test(test_retry_count_exact),
		cmocka_unit_test(test_write_error),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_parts),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_fd_aio),
		cmocka_unit_test(test_fd_sync),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
