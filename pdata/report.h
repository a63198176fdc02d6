/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The checkers' reporting core, shared by cache_check and thin_check: each
 * finding is counted under its problem ID and severity; at most
 * max_reports of one ID are handed on per pass and the rest summed when
 * the pass ends; a validator's fault becomes one message naming the
 * structure, the block and what was wrong.
 *
 * The target keeps its own problem table and sink types: it fills a
 * pd_report with a severity per ID, where the counts live and two
 * callbacks that pass a message on to its sink.  Nothing here prints.
 */
#ifndef PDATA_REPORT_H
#define PDATA_REPORT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "pdata/bm.h"

struct pd_report {
	unsigned nr_ids;
	const unsigned char *fatal;	/* per ID: 1 fatal, 0 a warning */
	uint64_t *counts;		/* per ID: every finding, capped or not */
	uint64_t *pass_counts;		/* per ID: this pass's */
	uint64_t *nr_fatal, *nr_warn;
	unsigned max_reports;		/* per ID and pass */
	int mute_warnings;		/* counted, never handed on */
	/* One finding; n more of an ID at the end of a pass.  May be NULL. */
	void (*emit)(void *ctx, unsigned id, int fatal, const char *msg);
	void (*emit_more)(void *ctx, unsigned id, int fatal, uint64_t n);
	void *ctx;
};

__attribute__((format(printf, 3, 0)))
void pd_report_v(struct pd_report *r, unsigned id, const char *fmt,
		 va_list ap);
/* The capped findings of the pass, one emit_more per ID; counts reset. */
void pd_report_end_pass(struct pd_report *r);

/* The problem IDs a target files a validator's faults under. */
struct pd_fault_ids {
	unsigned range, location, checksum, header, io;
};

/*
 * "STRUCTURE: VALIDATOR BLOCK: bad checksum (found 0x..., expected
 * 0x...)LOST", under the ID of the fault's kind; lost (a "; entries
 * [0, 509) lost" or "") is appended as it is.
 */
void pd_report_fault(struct pd_report *r, const struct pd_fault_ids *ids,
		     const char *structure, const struct pd_fault *f,
		     uint64_t nr_dev_blocks, const char *lost);

/*
 * "; UNIT [BEGIN, END) lost" ("; UNIT from BEGIN on lost" when END is
 * UINT64_MAX) in buf, or "" for an empty range: a fault's lost part.
 */
const char *pd_report_lost_range(char *buf, size_t len, const char *unit,
				 uint64_t begin, uint64_t end);

#endif
