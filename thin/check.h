/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * thin_check's engine: verifies dm-thin metadata on a device, pass by pass
 * (superblock, device details, mapping trees, a held metadata snapshot,
 * data space map, metadata space map; the table of passes is at the top of
 * check.c), and reports each finding as a problem ID from thin/problems.h
 * with a message naming the block, the device and the values found and
 * expected.
 *
 * It never prints: findings go to a sink the caller supplies.  It never
 * writes unless asked: THIN_CHECK_CLEAR_NEEDS_CHECK and
 * THIN_CHECK_AUTO_REPAIR free leaked blocks in both space maps and clear
 * NEEDS_CHECK when no fatal problem was found (check.c says in which order);
 * the device must then be open for writing.
 *
 *	struct thin_check_result res;
 *	struct thin_check_opts o = { 0 };
 *	r = thin_check(io, &o, &sink, &res);
 *	exit code: r < 0 || res.nr_fatal ? 1 : 0
 */
#ifndef THIN_CHECK_H
#define THIN_CHECK_H

#include <stdint.h>

#include "thin/problems.h"

struct pd_io;

enum thin_check_flags {
	THIN_CHECK_SB_ONLY = 1 << 0,
	/* Details and the top level only, no device's mappings. */
	THIN_CHECK_SKIP_MAPPINGS = 1 << 1,
	THIN_CHECK_CLEAR_NEEDS_CHECK = 1 << 2,
	THIN_CHECK_AUTO_REPAIR = 1 << 3,
	THIN_CHECK_IGNORE_WARNINGS = 1 << 4,
	/*
	 * Check the held metadata snapshot's trees only (live metadata: the
	 * space maps are changing under us and are not compared).
	 */
	THIN_CHECK_METADATA_SNAP = 1 << 5,
	/* Use opts.mapping_root as the top of the mapping tree. */
	THIN_CHECK_OVERRIDE_MAPPING_ROOT = 1 << 6,
};

struct thin_check_opts {
	unsigned flags;
	uint64_t mapping_root;	/* THIN_CHECK_OVERRIDE_MAPPING_ROOT */
	uint64_t snap_block;	/* METADATA_SNAP: 0 = the held root */
	/* Findings of one ID reported per pass; 0 means 10. */
	unsigned max_reports;
	/*
	 * Threads for the device trees' leaves: 0 as the pool's size and the
	 * CPUs say, 1 one, 2 two wherever possible (thin/check_par.c).  What
	 * is reported never depends on it.
	 */
	unsigned threads;
};

struct thin_check_sink {
	void *ctx;
	void (*pass)(void *ctx, const char *text);
	void (*problem)(void *ctx, enum thin_problem id,
			enum thin_severity sev, const char *msg);
	void (*more)(void *ctx, enum thin_problem id, enum thin_severity sev,
		     uint64_t n);
	void (*action)(void *ctx, const char *text);
};

struct thin_check_result {
	uint64_t counts[THIN_NR_PROBLEMS];
	uint64_t nr_fatal;
	uint64_t nr_warn;
	int have_sb;			/* the superblock was usable */
	uint64_t trans_id;
	int have_free;			/* metadata space map was read */
	uint64_t metadata_free;		/* as the kernel reports it */
	uint64_t nr_devices;
	uint64_t nr_mappings;		/* distinct leaves' entries */
	uint64_t leaked_metadata;
	uint64_t leaked_data;
	uint64_t freed_blocks;		/* leaks the repair freed */
	int cleared_needs_check;
	int wrote;
};

int thin_check(struct pd_io *io, const struct thin_check_opts *opts,
	       const struct thin_check_sink *sink,
	       struct thin_check_result *res);

#endif
