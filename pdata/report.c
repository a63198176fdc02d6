// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The checkers' reporting core (report.h): counting, capping per pass,
 * and the text of a validator's fault.
 */
#include "pdata/report.h"

#include <inttypes.h>
#include <stdio.h>

static void report(struct pd_report *r, unsigned id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void pd_report_v(struct pd_report *r, unsigned id, const char *fmt,
		 va_list ap)
{
	int fatal = id < r->nr_ids && r->fatal[id];
	char msg[512];

	if (id >= r->nr_ids)
		return;
	r->counts[id]++;
	if (fatal)
		(*r->nr_fatal)++;
	else
		(*r->nr_warn)++;
	if (!fatal && r->mute_warnings)
		return;
	if (r->pass_counts[id]++ >= r->max_reports || !r->emit)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	r->emit(r->ctx, id, fatal, msg);
}

static void report(struct pd_report *r, unsigned id, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pd_report_v(r, id, fmt, ap);
	va_end(ap);
}

void pd_report_end_pass(struct pd_report *r)
{
	for (unsigned i = 0; i < r->nr_ids; i++) {
		if (r->pass_counts[i] > r->max_reports && r->emit_more)
			r->emit_more(r->ctx, i, r->fatal[i],
				     r->pass_counts[i] - r->max_reports);
		r->pass_counts[i] = 0;
	}
}

void pd_report_fault(struct pd_report *r, const struct pd_fault_ids *ids,
		     const char *structure, const struct pd_fault *f,
		     uint64_t nr_dev_blocks, const char *lost)
{
	const char *v = f->validator ? f->validator : "block";

	switch (f->kind) {
	case PD_FAULT_RANGE:
		report(r, ids->range,
		       "%s: %s %" PRIu64 " is past the end of the device (%"
		       PRIu64 " blocks)%s", structure, v, f->block,
		       nr_dev_blocks, lost);
		return;
	case PD_FAULT_LOCATION:
		report(r, ids->location,
		       "%s: %s %" PRIu64 " claims to be block %" PRIu64 "%s",
		       structure, v, f->block, f->found, lost);
		return;
	case PD_FAULT_CHECKSUM:
		report(r, ids->checksum,
		       "%s: %s %" PRIu64 ": bad checksum (found 0x%08" PRIx64
		       ", expected 0x%08" PRIx64 ")%s", structure, v, f->block,
		       f->found, f->expected, lost);
		return;
	case PD_FAULT_HEADER:
		report(r, ids->header,
		       "%s: %s %" PRIu64 ": bad %s (found %" PRIu64
		       ", expected %" PRIu64 ")%s", structure, v, f->block,
		       f->what ? f->what : "header", f->found, f->expected,
		       lost);
		return;
	default:
		report(r, ids->io, "%s: %s %" PRIu64 ": %s%s", structure, v,
		       f->block, pd_strerror(f->err), lost);
		return;
	}
}

const char *pd_report_lost_range(char *buf, size_t len, const char *unit,
				 uint64_t begin, uint64_t end)
{
	if (begin >= end)
		return "";
	if (end == UINT64_MAX)
		snprintf(buf, len, "; %s from %" PRIu64 " on lost", unit, begin);
	else
		snprintf(buf, len, "; %s [%" PRIu64 ", %" PRIu64 ") lost", unit,
			 begin, end);
	return buf;
}
