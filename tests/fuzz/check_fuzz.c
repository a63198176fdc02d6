// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Fuzzes cache_check (cache/check.h) over a metadata image in memory.
 * Input: fuzz_lib.h's image format.  Mode bits beyond FUZZ_MODE_RAW pick
 * the options, so one corpus covers them all:
 *
 *	0x02 --clear-needs-check-flag   0x04 --auto-repair
 *	0x08 --skip-mappings            0x10 --skip-hints
 *	0x20 --skip-discards            0x40 --super-block-only
 *	0x80 --ignore-non-fatal-errors
 *
 * Besides crashes, one property: when a check that may write finds no
 * fatal problem and writes, a second check of what it wrote, read-only
 * and skipping what the first skipped, finds no fatal problem and no
 * leaked block, or that is a finding ("check-write-leaves-damage").
 */
#include <string.h>

#include "cache/check.h"
#include "pdata/io.h"
#include "tests/fuzz/fuzz_lib.h"

static void on_pass(void *ctx, const char *text)
{
	*(size_t *)ctx += strlen(text);
}

static void on_problem(void *ctx, enum cache_problem id,
		       enum cache_severity sev, const char *msg)
{
	(void)id;
	(void)sev;
	*(size_t *)ctx += strlen(msg) + strlen(cache_problem_name(id));
}

static void on_more(void *ctx, enum cache_problem id, enum cache_severity sev,
		    uint64_t n)
{
	(void)id;
	(void)sev;
	*(size_t *)ctx += n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned opt_bits[][2] = {
		{ 0x02, CACHE_CHECK_CLEAR_NEEDS_CHECK },
		{ 0x04, CACHE_CHECK_AUTO_REPAIR },
		{ 0x08, CACHE_CHECK_SKIP_MAPPINGS },
		{ 0x10, CACHE_CHECK_SKIP_HINTS },
		{ 0x20, CACHE_CHECK_SKIP_DISCARDS },
		{ 0x40, CACHE_CHECK_SB_ONLY },
		{ 0x80, CACHE_CHECK_IGNORE_WARNINGS },
	};
	size_t chars = 0;
	const struct cache_check_sink sink = {
		.ctx = &chars,
		.pass = on_pass,
		.problem = on_problem,
		.more = on_more,
		.action = on_pass,
	};
	struct cache_check_opts opts = { 0 };
	struct cache_check_result res, again;
	struct pd_io *io;
	unsigned mode, i;
	int r;

	if (fuzz_image_io(data, size, &mode, &io) < 0)
		return 0;
	for (i = 0; i < sizeof(opt_bits) / sizeof(opt_bits[0]); i++)
		if (mode & opt_bits[i][0])
			opts.flags |= opt_bits[i][1];
	r = cache_check(io, &opts, &sink, &res);
	if (r == 0 && res.wrote && !res.nr_fatal) {
		struct cache_check_opts ro = {
			.flags = opts.flags & ~(CACHE_CHECK_CLEAR_NEEDS_CHECK |
						CACHE_CHECK_AUTO_REPAIR),
		};

		if (cache_check(io, &ro, NULL, &again) == 0 &&
		    (again.nr_fatal || again.leaked_blocks))
			fuzz_finding("check-write-leaves-damage",
				     "after a check wrote (flags 0x%x), a second "
				     "check finds %llu fatal, %llu leaked",
				     opts.flags,
				     (unsigned long long)again.nr_fatal,
				     (unsigned long long)again.leaked_blocks);
	}
	pd_io_destroy(io);
	return 0;
}
