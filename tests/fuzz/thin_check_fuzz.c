// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Fuzzes thin_check's two-thread pass over the leaves (thin/check_par.c)
 * against the usual walk: the same image, checked read-only with two
 * threads (forced on a pool of any size) and with one, must give the same
 * return, the same reports in the same order, word for word, and the same
 * result.  Any difference is a finding ("thin-check-threads-differ"):
 * the probe counted a leaf it should have left to the usual walk, or lost
 * one.  Input: fuzz_lib.h's image format, a thin superblock re-stamped
 * (fuzz_thin_image_io).
 */
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "base/endian.h"
#include "pdata/io.h"
#include "tests/fuzz/fuzz_lib.h"
#include "thin/check.h"

/* Every report as a running checksum and a count: enough to tell two
 * runs apart without keeping their text. */
struct trace {
	uint32_t crc;
	unsigned long n;
};

static void add(struct trace *t, unsigned a, unsigned b, const char *s)
{
	unsigned char head[8];

	store_le32(head, a);
	store_le32(head + 4, b);
	t->crc = crc32c(t->crc, head, sizeof(head));
	if (s)
		t->crc = crc32c(t->crc, s, strlen(s) + 1);
	t->n++;
}

static void on_pass(void *ctx, const char *text)
{
	add(ctx, 1, 0, text);
}

static void on_problem(void *ctx, enum thin_problem id,
		       enum thin_severity sev, const char *msg)
{
	add(ctx, 2 + (unsigned)id, (unsigned)sev, msg);
}

static void on_more(void *ctx, enum thin_problem id, enum thin_severity sev,
		    uint64_t n)
{
	add(ctx, 1000 + (unsigned)id, (unsigned)sev ^ (unsigned)n, NULL);
}

static void on_action(void *ctx, const char *text)
{
	add(ctx, 3000, 0, text);
}

static int run(struct pd_io *io, unsigned threads, struct trace *t,
	       struct thin_check_result *res)
{
	struct thin_check_opts co;
	const struct thin_check_sink sink = { t, on_pass, on_problem, on_more,
					      on_action };

	memset(&co, 0, sizeof(co));
	co.threads = threads;
	memset(t, 0, sizeof(*t));
	memset(res, 0, sizeof(*res));
	return thin_check(io, &co, &sink, res);
}

static int same_result(const struct thin_check_result *a,
		       const struct thin_check_result *b)
{
	return !memcmp(a->counts, b->counts, sizeof(a->counts)) &&
	       a->nr_fatal == b->nr_fatal && a->nr_warn == b->nr_warn &&
	       a->have_sb == b->have_sb && a->trans_id == b->trans_id &&
	       a->have_free == b->have_free &&
	       a->metadata_free == b->metadata_free &&
	       a->nr_devices == b->nr_devices &&
	       a->nr_mappings == b->nr_mappings &&
	       a->leaked_metadata == b->leaked_metadata &&
	       a->leaked_data == b->leaked_data;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct thin_check_result r1, r2;
	struct trace t1, t2;
	struct pd_io *io;
	unsigned mode;
	int e1, e2;

	if (fuzz_thin_image_io(data, size, &mode, &io) < 0)
		return 0;
	e2 = run(io, 2, &t2, &r2);
	e1 = run(io, 1, &t1, &r1);
	if (e1 != e2 || t1.crc != t2.crc || t1.n != t2.n ||
	    !same_result(&r1, &r2))
		fuzz_finding("thin-check-threads-differ",
			     "return %d/%d, %lu/%lu reports (crc %08x/%08x), "
			     "%llu/%llu fatal, %llu/%llu mappings (two "
			     "threads/one)", e2, e1, t2.n, t1.n, t2.crc, t1.crc,
			     (unsigned long long)r2.nr_fatal,
			     (unsigned long long)r1.nr_fatal,
			     (unsigned long long)r2.nr_mappings,
			     (unsigned long long)r1.nr_mappings);
	pd_io_destroy(io);
	return 0;
}
