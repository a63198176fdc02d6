/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cache_check's engine: verifies dm-cache metadata on a device, pass by
 * pass (superblock, mapping array, dirty bitset, hint array, discard
 * bitset, space map; the table of passes is at the top of check.c), and
 * reports each finding as a problem ID from cache/problems.h with a message
 * naming the block and the values found and expected.
 *
 * It never prints: findings go to a sink the caller supplies.  It never
 * writes unless asked: CACHE_CHECK_CLEAR_NEEDS_CHECK rewrites the
 * superblock when the check passes, and CACHE_CHECK_AUTO_REPAIR (and
 * CLEAR_NEEDS_CHECK, as LVM runs it on every activation) also frees leaked
 * blocks in the space map.  Nothing else is ever written; the device must
 * have been opened for writing for those two flags.
 *
 * Typical use:
 *
 *	struct pd_io *io;
 *	struct cache_check_result res;
 *	struct cache_check_opts o = { .flags = 0 };
 *	pd_io_open(path, PD_IO_RDONLY | PD_IO_EXCL | PD_IO_AIO, &io);
 *	r = cache_check(io, &o, &sink, &res);
 *	exit code: r < 0 || res.nr_fatal ? 1 : 0
 *	pd_io_destroy(io);
 */
#ifndef CACHE_CHECK_H
#define CACHE_CHECK_H

#include <stdint.h>

#include "cache/problems.h"

struct pd_io;

enum cache_check_flags {
	CACHE_CHECK_SB_ONLY = 1 << 0,		/* pass 1 only */
	CACHE_CHECK_SKIP_MAPPINGS = 1 << 1,
	CACHE_CHECK_SKIP_HINTS = 1 << 2,
	CACHE_CHECK_SKIP_DISCARDS = 1 << 3,
	/* Clear NEEDS_CHECK (and free leaks) when no fatal problem was found. */
	CACHE_CHECK_CLEAR_NEEDS_CHECK = 1 << 4,
	/* Free leaked blocks and clear NEEDS_CHECK; never anything else. */
	CACHE_CHECK_AUTO_REPAIR = 1 << 5,
	/* Don't report WARN problems at all. */
	CACHE_CHECK_IGNORE_WARNINGS = 1 << 6,
	/* Walk the dirty bitset and hints in a second thread. */
	CACHE_CHECK_THREADS = 1 << 7,
};

struct cache_check_opts {
	unsigned flags;			/* enum cache_check_flags */
	/* Findings of one ID reported per pass; 0 means 10. */
	unsigned max_reports;
};

/* Where findings go.  Every callback may be NULL. */
struct cache_check_sink {
	void *ctx;
	/* A pass starts, or a pass notes something: "examining superblock" */
	void (*pass)(void *ctx, const char *text);
	/* One finding, one line without a newline. */
	void (*problem)(void *ctx, enum cache_problem id,
			enum cache_severity sev, const char *msg);
	/* n more findings of id in this pass were not reported one by one. */
	void (*more)(void *ctx, enum cache_problem id, enum cache_severity sev,
		     uint64_t n);
	/* What a repair wrote: "cleared NEEDS_CHECK". */
	void (*action)(void *ctx, const char *text);
};

struct cache_check_result {
	uint64_t counts[CACHE_NR_PROBLEMS];	/* every finding, capped or not */
	uint64_t nr_fatal;
	uint64_t nr_warn;
	uint64_t leaked_blocks;
	uint64_t freed_blocks;		/* leaks the repair freed */
	int cleared_needs_check;
	int wrote;			/* anything written to the device */
	/* The superblock's data block size (sectors); 0 when unreadable. */
	uint32_t data_block_size;
};

/*
 * Runs the check.  Returns 0 when the check ran (res says what it found;
 * a damaged or foreign device is a finding, not an error), or a negative
 * errno when it could not: -ENOMEM, or -EIO and the like while writing a
 * requested repair (the device is then as consistent as the last
 * completed step left it; see check.c).
 */
int cache_check(struct pd_io *io, const struct cache_check_opts *opts,
		const struct cache_check_sink *sink,
		struct cache_check_result *res);

#endif
