// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * thin_check's findings, worded: the problem table (ID, severity, name,
 * description: thin/problems.h), the per-pass limit on findings of one ID,
 * and the messages for a block that failed its validator or a btree node
 * that broke a rule.  Every message names the structure being walked (see
 * tc_where), the block and the values found and expected.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pdata/bm.h"
#include "pdata/btree.h"
#include "pdata/report.h"
#include "thin/check_int.h"

/* ---- the problem table ---- */

static const struct {
	enum thin_severity sev;
	const char *name;
	const char *desc;
} problems[THIN_NR_PROBLEMS] = {
#define THIN_PROBLEM_ROW(id, sev, name, desc) \
	[THIN_P_##id] = { THIN_SEV_##sev, name, desc },
	THIN_PROBLEMS(THIN_PROBLEM_ROW)
#undef THIN_PROBLEM_ROW
};

enum thin_severity thin_problem_severity(enum thin_problem p)
{
	return p < THIN_NR_PROBLEMS ? problems[p].sev : THIN_SEV_FATAL;
}

const char *thin_problem_name(enum thin_problem p)
{
	return p < THIN_NR_PROBLEMS ? problems[p].name : "unknown";
}

const char *thin_problem_desc(enum thin_problem p)
{
	return p < THIN_NR_PROBLEMS ? problems[p].desc : "unknown problem";
}

/* ---- reporting ---- */

/* The severities as pd_report wants them. */
const unsigned char tc_problem_is_fatal[THIN_NR_PROBLEMS] = {
#define THIN_PROBLEM_FATAL(id, sev, name, desc) \
	[THIN_P_##id] = THIN_SEV_##sev == THIN_SEV_FATAL,
	THIN_PROBLEMS(THIN_PROBLEM_FATAL)
#undef THIN_PROBLEM_FATAL
};

__attribute__((format(printf, 3, 4)))
void tc_report(struct checker *c, enum thin_problem id, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pd_report_v(&c->rep, id, fmt, ap);
	va_end(ap);
}

/* pd_report's callbacks: the sink's, with the problem's enum types. */
void tc_emit(void *ctx, unsigned id, int fatal, const char *msg)
{
	const struct thin_check_sink *sink = ctx;

	if (sink->problem)
		sink->problem(sink->ctx, (enum thin_problem)id,
			      fatal ? THIN_SEV_FATAL : THIN_SEV_WARN, msg);
}

void tc_emit_more(void *ctx, unsigned id, int fatal, uint64_t n)
{
	const struct thin_check_sink *sink = ctx;

	if (sink->more)
		sink->more(sink->ctx, (enum thin_problem)id,
			   fatal ? THIN_SEV_FATAL : THIN_SEV_WARN, n);
}

void tc_end_pass(struct checker *c)
{
	pd_report_end_pass(&c->rep);
}

void tc_pass(struct checker *c, const char *text)
{
	if (c->sink->pass)
		c->sink->pass(c->sink->ctx, text);
}

void tc_action(struct checker *c, const char *text)
{
	if (c->sink->action)
		c->sink->action(c->sink->ctx, text);
}

/* "device 4 mapping tree" or the structure's name. */
const char *tc_where(struct checker *c, char *buf, size_t len)
{
	if (c->structure && !strcmp(c->structure, "device"))
		snprintf(buf, len, "device %" PRIu64 " mapping tree", c->cur_dev);
	else
		snprintf(buf, len, "%s", c->structure ? c->structure : "?");
	return buf;
}

void tc_report_fault(struct checker *c, const struct pd_fault *f,
		     const char *lost)
{
	static const struct pd_fault_ids ids = {
		THIN_P_BLOCK_RANGE, THIN_P_BLOCK_LOCATION,
		THIN_P_BLOCK_CHECKSUM, THIN_P_BLOCK_HEADER, THIN_P_BLOCK_IO,
	};
	char s[96];

	pd_report_fault(&c->rep, &ids, tc_where(c, s, sizeof(s)), f,
			pd_bm_nr_blocks(c->bm), lost);
}

void tc_report_btree_damage(struct checker *c, const struct pd_btree_damage *d,
			    const char *unit)
{
	const struct pd_fault *f = &d->fault;
	enum thin_problem id;
	char buf[96], s[96];
	const char *lost;

	/* Every subtree being walked is now incomplete. */
	for (unsigned i = 0; i < c->nt; i++)
		c->totals[i].ok = 0;
	c->mrefs_incomplete = 1;
	c->drefs_incomplete = 1;
	lost = pd_report_lost_range(buf, sizeof(buf), unit, d->key_begin,
				    d->key_end);
	switch (d->problem) {
	case PD_BT_BLOCK:
		tc_report_fault(c, f, lost);
		return;
	case PD_BT_VALUE_SIZE:
		id = THIN_P_BTREE_VALUE_SIZE;
		break;
	case PD_BT_MAX_ENTRIES:
		id = THIN_P_BTREE_MAX_ENTRIES;
		break;
	case PD_BT_UNDERFULL:
		id = THIN_P_BTREE_UNDERFULL;
		break;
	case PD_BT_EMPTY_INTERNAL:
		id = THIN_P_BTREE_EMPTY_INTERNAL;
		break;
	case PD_BT_KEY_ORDER:
		id = THIN_P_BTREE_KEY_ORDER;
		break;
	case PD_BT_KEY_LOW:
	case PD_BT_KEY_HIGH:
		id = THIN_P_BTREE_KEY_RANGE;
		break;
	case PD_BT_DEPTH:
	case PD_BT_TOO_DEEP:
		id = THIN_P_BTREE_DEPTH;
		break;
	case PD_BT_CYCLE:
	case PD_BT_SHARED:
		/* Counted before it was found visited: take it back. */
		if (c->mrefs.words && f->block < c->nr_mrefs)
			base_refcount_dec(&c->mrefs, f->block);
		id = d->problem == PD_BT_CYCLE ? THIN_P_BTREE_CYCLE
					       : THIN_P_BTREE_SHARED;
		break;
	default:
		id = THIN_P_BLOCK_HEADER;
		break;
	}
	tc_where(c, s, sizeof(s));
	switch (d->problem) {
	case PD_BT_CYCLE:
		tc_report(c, id, "%s: btree node %" PRIu64 " (depth %u) is its "
			  "own ancestor: a cycle%s", s, f->block, d->depth,
			  lost);
		return;
	case PD_BT_SHARED:
		tc_report(c, id, "%s: btree node %" PRIu64 " (depth %u) is "
			  "reached a second time%s", s, f->block, d->depth,
			  lost);
		return;
	case PD_BT_EMPTY_INTERNAL:
		tc_report(c, id, "%s: btree node %" PRIu64 " (depth %u) is an "
			  "internal node without entries%s", s, f->block,
			  d->depth, lost);
		return;
	case PD_BT_KEY_ORDER:
		tc_report(c, id, "%s: btree node %" PRIu64 " (depth %u): key %"
			  PRIu64 " follows key %" PRIu64 "%s", s, f->block,
			  d->depth, f->found, f->expected - 1, lost);
		return;
	default:
		break;
	}
	tc_report(c, id,
		  "%s: btree node %" PRIu64 " (depth %u): %s %" PRIu64
		  ", expected %s%" PRIu64 "%s",
		  s, f->block, d->depth, f->what ? f->what : "value", f->found,
		  d->problem == PD_BT_UNDERFULL || d->problem == PD_BT_KEY_LOW ?
			  "at least " :
		  d->problem == PD_BT_KEY_HIGH ? "at most " : "",
		  f->expected, lost);
}
