// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_writeback --metadata-device M --origin-device O --fast-device F:
 * copies the dirty blocks of an offline cache from F to O (every valid
 * block when the cache was not shut down cleanly), then marks exactly the
 * copied blocks clean in M in a new transaction.  For a failing cache
 * device: blocks that cannot be read or written are retried, listed with
 * --list-failed-blocks, and stay dirty.
 *
 * Output: a progress bar on stderr when it is a terminal, then on stdout
 * 0.9.0's summary line "N/M blocks successfully copied." (and "K blocks
 * were not copied" when some were not).  -q drops both; an explicit
 * --list-failed-blocks still lists.
 *
 * Exit codes: 0 every block copied and the metadata updated (or
 * --no-metadata-update); 1 anything else, including damaged metadata
 * (nothing is copied then), a block not copied, or a metadata update that
 * failed.  0.9.0 copies but then crashes updating v1 metadata, and copies
 * nothing from v2 metadata; this one does both.
 */
#include <errno.h>
#include <inttypes.h>
#include <popt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/writeback.h"
#include "pdata/io.h"
#include "tools/common.h"
#include "tools/tool.h"

#define DEFAULT_BUFFER_MEG 64u
#define MAX_BUFFER_MEG (1u << 20)	/* 1 TiB: a typo, not a plan */
#define DEFAULT_RETRIES 1u

struct wb_opts {
	/* popt hands these out malloc'd; the last of a repeated one wins. */
	char *metadata;
	char *origin;
	char *fast;
	char *origin_offset;
	char *fast_offset;
	char *buffer_meg;
	char *retries;
	int list_failed;
	int no_update;
	int quiet;
	int help;
	int version;
};

struct progress {
	int bar;		/* stderr is a terminal and not quiet */
	int shown;
	unsigned last;
	int quiet;
};

static void on_begin(void *ctx, uint64_t nr, int all_valid)
{
	struct progress *p = ctx;

	if (all_valid && !p->quiet)
		tool_error("the cache was not shut down cleanly: copying every "
			   "valid block (%" PRIu64 "), as the kernel would treat "
			   "them all as dirty", nr);
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;
	unsigned pct = total ? (unsigned)(done * 100 / total) : 100;
	unsigned fill = pct / 2;

	if (!p->bar || (p->shown && pct == p->last))
		return;
	fprintf(stderr, "\rCopying data: [");
	for (unsigned i = 0; i < 50; i++)
		fputc(i < fill ? '=' : (i == fill ? '>' : ' '), stderr);
	fprintf(stderr, "] %3u%%", pct);
	fflush(stderr);
	p->shown = 1;
	p->last = pct;
}

static void end_progress(struct progress *p)
{
	if (p->shown)
		fputc('\n', stderr);
	p->shown = 0;
}

static int parse_u64(const char *opt, const char *s, uint64_t max,
		     uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (!s[0] || s[0] == '-' || s[0] == ' ')
		goto out_bad;
	v = strtoull(s, &end, 10);
	if (*end || errno)
		goto out_bad;
	if (v > max) {
		tool_error("%s must be at most %" PRIu64 ": %s", opt, max, s);
		return -ERANGE;
	}
	*out = v;
	return 0;

out_bad:
	/* 0.9.0's words for the one number it parses. */
	if (!strcmp(opt, "--buffer-size-meg"))
		tool_error("Couldn't parse buffer size: '%s' (--buffer-size-meg "
			   "takes a number of MiB)", s);
	else
		tool_error("invalid number for %s: '%s'", opt, s);
	return -EINVAL;
}

static void list_failed(const struct cache_writeback_result *res)
{
	for (uint64_t i = 0; i < res->nr_jobs; i++) {
		const struct pd_copy_job *j = &res->jobs[i];
		enum pd_copy_stage s = (enum pd_copy_stage)j->stage;

		if (s == PD_COPY_COPIED)
			continue;
		if (s == PD_COPY_FAILED_FAST_END ||
		    s == PD_COPY_FAILED_ORIGIN_END)
			printf("cache block %" PRIu64 " (origin block %" PRIu64
			       "): %s\n", j->cblock, j->oblock,
			       pd_copy_stage_name(s));
		else
			printf("cache block %" PRIu64 " (origin block %" PRIu64
			       "): %s: %s\n", j->cblock, j->oblock,
			       pd_copy_stage_name(s), strerror(-j->err));
	}
}

/* One message per way the writeback can stop before copying. */
static void report_refusal(const struct wb_opts *o,
			   const struct cache_writeback_result *res)
{
	char buf[160];

	switch (res->status) {
	case CACHE_WB_SB_UNREADABLE:
		if (tool_looks_like_xml(o->metadata)) {
			tool_error_xml_input(o->metadata);
			break;
		}
		if (res->fault.kind == PD_FAULT_CHECKSUM) {
			/* 0.9.0's words, which scripts search for. */
			tool_error("%s: bad checksum in superblock (found "
				   "0x%08" PRIx64 ", expected 0x%08" PRIx64 ")",
				   o->metadata, res->fault.found,
				   res->fault.expected);
			break;
		}
		pd_fault_format(&res->fault, buf, sizeof(buf));
		tool_error("%s: cannot read the superblock: %s", o->metadata,
			   res->fault.kind != PD_FAULT_NONE ? buf :
			   pd_strerror(res->err));
		break;
	case CACHE_WB_SB_INVALID:
		tool_error("%s: superblock is invalid: %s is %" PRIu64
			   "; run cache_check for details and cache_repair to "
			   "fix it", o->metadata, res->violation.field,
			   res->violation.found);
		break;
	case CACHE_WB_DAMAGED:
		pd_fault_format(&res->fault, buf, sizeof(buf));
		if (res->fault.kind == PD_FAULT_IO)
			tool_error("%s: cannot read the %s: %s; nothing was "
				   "copied", o->metadata, res->structure, buf);
		else if (res->first_problem[0])
			tool_error("%s: the metadata has errors (%s); nothing "
				   "was copied: run cache_check for details and "
				   "cache_repair to fix them", o->metadata,
				   res->first_problem);
		else
			tool_error("%s: the %s is damaged; nothing was copied: "
				   "run cache_check for details and cache_repair "
				   "to fix it", o->metadata,
				   res->structure ? res->structure : "metadata");
		break;
	case CACHE_WB_OPEN_FAILED:
		tool_error("%s: %s", res->bad_path,
			   res->err == -EBUSY ?
			   "device is in use (is the cache still active?)" :
			   res->err == -EISDIR ? "Not a block device or regular "
						 "file (a directory)" :
			   res->err == -ENODEV ? "Not a block device or regular "
						 "file" :
			   strerror(-res->err));
		break;
	case CACHE_WB_COPY_ERROR:
		tool_error("the copy failed: %s; the metadata was not changed",
			   strerror(-res->err));
		break;
	case CACHE_WB_ERROR:
		tool_error("%s", res->err == -ENOMEM ? "out of memory" :
			   pd_strerror(res->err));
		break;
	default:
		break;
	}
}

static int run(const struct wb_opts *o)
{
	struct progress prog = { .quiet = o->quiet };
	struct cache_writeback_opts wo = { 0 };
	struct cache_writeback_result res;
	uint64_t foff = 0, ooff = 0, meg = DEFAULT_BUFFER_MEG;
	uint64_t retries = DEFAULT_RETRIES;
	struct pd_io *io = NULL;
	int r, rc = 1;

	if (!o->metadata) {
		fprintf(stderr, "No metadata device provided.\n");
		return 1;
	}
	if (!o->origin) {
		fprintf(stderr, "No origin device provided.\n");
		return 1;
	}
	if (!o->fast) {
		fprintf(stderr, "No fast device provided.\n");
		return 1;
	}
	if ((o->fast_offset && parse_u64("--fast-device-offset", o->fast_offset,
					 UINT64_MAX / 512, &foff) < 0) ||
	    (o->origin_offset &&
	     parse_u64("--origin-device-offset", o->origin_offset,
		       UINT64_MAX / 512, &ooff) < 0) ||
	    (o->buffer_meg && parse_u64("--buffer-size-meg", o->buffer_meg,
					MAX_BUFFER_MEG, &meg) < 0) ||
	    (o->retries && parse_u64("--retry-count", o->retries, 1000,
				     &retries) < 0))
		return 1;
	/* O_DIRECT wants page-aligned offsets; so does every real layout. */
	if (foff % 8 || ooff % 8) {
		tool_error("offsets must be page aligned (a multiple of 8 "
			   "sectors): %s %" PRIu64,
			   foff % 8 ? "--fast-device-offset" :
				      "--origin-device-offset",
			   foff % 8 ? foff : ooff);
		return 1;
	}
	if (!meg) {
		tool_error("--buffer-size-meg must be at least 1");
		return 1;
	}

	r = tool_open_metadata(o->metadata,
			       (o->no_update ? PD_IO_RDONLY : PD_IO_WRITE) |
			       PD_IO_EXCL | PD_IO_AIO, &io);
	if (r < 0)
		return 1;

	prog.bar = !o->quiet && isatty(STDERR_FILENO);
	wo.flags = o->no_update ? CACHE_WB_NO_METADATA_UPDATE : 0;
	wo.fast_path = o->fast;
	wo.origin_path = o->origin;
	wo.fast_offset_sectors = foff;
	wo.origin_offset_sectors = ooff;
	wo.buffer_bytes = meg << 20;
	wo.retries = (unsigned)retries;
	wo.begin = on_begin;
	wo.progress = on_progress;
	wo.ctx = &prog;

	r = cache_writeback(io, &wo, &res);
	end_progress(&prog);
	if (r < 0 && res.status != CACHE_WB_UPDATE_FAILED) {
		report_refusal(o, &res);
		goto out;
	}

	if (o->list_failed)
		list_failed(&res);
	if (!o->quiet) {
		printf("%" PRIu64 "/%" PRIu64 " blocks successfully copied.\n",
		       res.stats.copied, res.nr_jobs);
		if (res.stats.failed)
			printf("%" PRIu64 " blocks were not copied\n",
			       res.stats.failed);
	}
	if (res.status == CACHE_WB_UPDATE_FAILED) {
		tool_error("Unable to update metadata: %s; the copied blocks "
			   "are still marked dirty", pd_strerror(res.err));
		goto out;
	}
	if (res.stats.failed && !o->quiet && !o->list_failed)
		tool_error("%" PRIu64 " block(s) not copied and left dirty "
			   "(--list-failed-blocks lists them)",
			   res.stats.failed);
	rc = res.stats.failed ? 1 : 0;
out:
	if (tool_flush_stdout() < 0)
		rc = 1;
	cache_writeback_release(&res);
	pd_io_destroy(io);
	return rc;
}

int cmd_cache_writeback(int argc, const char **argv)
{
	struct wb_opts o = { 0 };
	char **const slots[] = { NULL, &o.metadata, &o.origin, &o.fast,
				 &o.origin_offset, &o.fast_offset,
				 &o.buffer_meg, &o.retries };
	struct poptOption table[] = {
		{ "metadata-device", 0, POPT_ARG_STRING, NULL, 1,
		  "the cache metadata device", "DEV" },
		{ "origin-device", 0, POPT_ARG_STRING, NULL, 2,
		  "the slow device the blocks go back to", "DEV" },
		{ "fast-device", 0, POPT_ARG_STRING, NULL, 3,
		  "the fast device holding the cached blocks", "DEV" },
		{ "origin-device-offset", 0, POPT_ARG_STRING, NULL, 4,
		  "sectors before origin block 0 (page aligned)", "SECTORS" },
		{ "fast-device-offset", 0, POPT_ARG_STRING, NULL, 5,
		  "sectors before cache block 0 (page aligned)", "SECTORS" },
		{ "buffer-size-meg", 0, POPT_ARG_STRING, NULL, 6,
		  "copy buffer in MiB (default 64)", "N" },
		{ "retry-count", 0, POPT_ARG_STRING, NULL, 7,
		  "extra tries for a block that fails (default 1)", "N" },
		{ "list-failed-blocks", 0, POPT_ARG_NONE, &o.list_failed, 0,
		  "list every block that could not be copied", NULL },
		{ "no-metadata-update", 0, POPT_ARG_NONE, &o.no_update, 0,
		  "copy, but leave the metadata as it is", NULL },
		{ "quiet", 'q', POPT_ARG_NONE, &o.quiet, 0,
		  "no progress or summary", NULL },
		TOOL_POPT_HELP_VERSION(&o.help, &o.version)
	};
	const struct tool_parse_spec spec = {
		.slots = slots,
		.nr_slots = sizeof(slots) / sizeof(slots[0]),
		.help = &o.help,
		.no_args = 1,
		.version = &o.version,
	};
	poptContext pc;
	int r;

	pc = poptGetContext(tool_name, argc, argv, table, 0);
	poptSetOtherOptionHelp(pc, "--metadata-device DEV --origin-device DEV "
			       "--fast-device DEV [OPTIONS]");
	r = tool_parse(pc, &spec);
	if (r != TOOL_PARSE_RUN)
		goto out;
	r = run(&o);
out:
	poptFreeContext(pc);
	tool_free_slots(&spec);
	return r;
}
