// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The fuzz harnesses' shared helpers (fuzz_lib.h): the memory device built
 * from an input, re-checksumming, and the report of a broken property.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/endian.h"
#include "cache/check.h"
#include "cache/dump.h"
#include "cache/format.h"
#include "pdata/bm.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"
#include "pdata/sm.h"
#include "thin/check.h"
#include "thin/format.h"
#include "tests/fuzz/fuzz_lib.h"

static void stamp(unsigned char *block, uint32_t csum_xor)
{
	le32 c = cpu_to_le32(pd_block_csum(block, csum_xor));

	memcpy(block, &c, sizeof(c));
}

static uint64_t get64(const unsigned char *p)
{
	le64 v;

	memcpy(&v, p, sizeof(v));
	return le64_to_cpu(v);
}

static uint32_t get32(const unsigned char *p)
{
	le32 v;

	memcpy(&v, p, sizeof(v));
	return le32_to_cpu(v);
}

static int is_sb(const unsigned char *img)
{
	return get64(img + offsetof(struct cache_disk_sb, magic)) ==
	       CACHE_SB_MAGIC;
}

void fuzz_recsum(unsigned char *img, uint64_t nr_blocks)
{
	unsigned char *done;
	uint64_t b;

	if (!nr_blocks)
		return;
	done = calloc(nr_blocks, 1);
	if (!done)
		abort();
	/* The space map's blocks first: only the superblock tells them apart. */
	if (is_sb(img)) {
		const unsigned char *root =
			img + offsetof(struct cache_disk_sb,
				       metadata_space_map_root);
		uint64_t index = get64(root + offsetof(struct pd_sm_root,
						       bitmap_root));

		if (index && index < nr_blocks) {
			unsigned char *ib = img + index * PD_BLOCK_SIZE;
			unsigned i;

			for (i = 0; i < PD_SM_MAX_INDEX_ENTRIES; i++) {
				uint64_t bm = get64(ib + 16 + 16 * i);

				if (bm && bm < nr_blocks && bm != index &&
				    !done[bm]) {
					stamp(img + bm * PD_BLOCK_SIZE,
					      PD_CSUM_XOR_BITMAP);
					done[bm] = 1;
				}
			}
			stamp(ib, PD_CSUM_XOR_INDEX);
			done[index] = 1;
		}
	}
	for (b = 1; b < nr_blocks; b++) {
		unsigned char *blk = img + b * PD_BLOCK_SIZE;
		uint32_t flags = get32(blk + 4);

		if (done[b])
			continue;
		if (get64(blk + 8) == b &&
		    (flags == PD_BTREE_INTERNAL || flags == PD_BTREE_LEAF))
			stamp(blk, PD_CSUM_XOR_BTREE);
		else if (get64(blk + 16) == b)
			stamp(blk, PD_CSUM_XOR_ARRAY);
	}
	/* Last: the superblock's checksum covers nothing of the others. */
	if (is_sb(img))
		stamp(img, CACHE_SB_CSUM_XOR);
	free(done);
}

struct pd_io *fuzz_mem_io(uint64_t nr_blocks)
{
	struct pd_io *io;

	if (pd_io_mem_create(nr_blocks, &io) < 0)
		abort();
	return io;
}

int fuzz_image_io(const uint8_t *data, size_t size, unsigned *mode,
		  struct pd_io **out)
{
	uint64_t in_blocks, nr_blocks;
	unsigned char *img;
	const char *raw = getenv("DMCT_FUZZ_RAW");

	*mode = size ? data[0] : 0;
	if (size) {
		data++;
		size--;
	}
	if (size > (size_t)FUZZ_MAX_BLOCKS * PD_BLOCK_SIZE)
		size = (size_t)FUZZ_MAX_BLOCKS * PD_BLOCK_SIZE;
	in_blocks = (size + PD_BLOCK_SIZE - 1) / PD_BLOCK_SIZE;
	nr_blocks = in_blocks;
	if (size >= PD_BLOCK_SIZE && is_sb(data)) {
		uint64_t sm_blocks = get64(
			data + offsetof(struct cache_disk_sb,
					metadata_space_map_root) +
			offsetof(struct pd_sm_root, nr_blocks));

		if (sm_blocks > nr_blocks && sm_blocks <= FUZZ_MAX_DEVICE_BLOCKS)
			nr_blocks = sm_blocks;
	}
	if (pd_io_mem_create(nr_blocks, out) < 0)
		return -ENOMEM;
	img = pd_io_mem_data(*out);
	if (size)
		memcpy(img, data, size);
	if (!(*mode & FUZZ_MODE_RAW) && !(raw && *raw == '1'))
		fuzz_recsum(img, in_blocks);
	return 0;
}

int fuzz_memfd(void)
{
	static int fd = -1;

	if (fd < 0)
		fd = memfd_create("fuzz", 0);
	if (fd < 0 || ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		abort();
	return fd;
}

struct first_problem {
	enum cache_problem id;
	int seen;
	char msg[200];
};

static void keep_first(void *ctx, enum cache_problem id,
		       enum cache_severity sev, const char *msg)
{
	struct first_problem *f = ctx;

	if (sev == CACHE_SEV_FATAL && !f->seen) {
		f->seen = 1;
		f->id = id;
		snprintf(f->msg, sizeof(f->msg), "%s", msg);
	}
}

void fuzz_expect_valid(struct pd_io *io, const char *slug)
{
	struct first_problem first = { .seen = 0 };
	const struct cache_check_sink sink = {
		.ctx = &first,
		.problem = keep_first,
	};
	struct cache_check_opts opts = { 0 };
	struct cache_check_result res;
	struct cache_dump_opts dopts = { 0 };
	struct cache_dump_result dres;
	const struct cache_emitter none = { 0 };
	int r;

	r = cache_check(io, &opts, &sink, &res);
	if (r < 0 || res.nr_fatal)
		fuzz_finding(slug, "cache_check: r %d, %llu fatal, first %s: %s",
			     r, (unsigned long long)res.nr_fatal,
			     first.seen ? cache_problem_name(first.id) : "-",
			     first.msg);
	r = cache_dump(io, &dopts, &none, &dres);
	if (r < 0)
		fuzz_finding(slug, "cache_dump: %s",
			     cache_dump_status_name(dres.status));
}

int fuzz_thin_image_io(const uint8_t *data, size_t size, unsigned *mode,
		       struct pd_io **out)
{
	const char *raw = getenv("DMCT_FUZZ_RAW");
	int r = fuzz_image_io(data, size, mode, out);

	if (r < 0)
		return r;
	if (!(*mode & FUZZ_MODE_RAW) && !(raw && *raw == '1')) {
		unsigned char *img = pd_io_mem_data(*out);

		if (load_le64(img + 32) == THIN_SB_MAGIC)
			pd_validator_prepare(&thin_sb_validator, img, 0);
	}
	return 0;
}

void fuzz_expect_valid_thin(struct pd_io *io, const char *slug)
{
	struct thin_check_result res = { 0 };
	const struct thin_check_sink sink = { 0 };
	const struct thin_check_opts co = { 0 };
	int r = thin_check(io, &co, &sink, &res);
	uint64_t sm = res.counts[THIN_P_SM_LEAK] +
		      res.counts[THIN_P_SM_NR_ALLOCATED] +
		      res.counts[THIN_P_DATA_LEAK] +
		      res.counts[THIN_P_DATA_NR_ALLOCATED];

	if (r < 0 || res.nr_fatal || sm)
		fuzz_finding(slug, "thin_check: %d, %llu fatal, %llu space-map "
			     "warnings", r, (unsigned long long)res.nr_fatal,
			     (unsigned long long)sm);
}

void fuzz_finding(const char *slug, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FUZZ FINDING: %s: ", slug);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
