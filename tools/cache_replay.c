// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_replay: the offline dm-cache engine's front end, one tool with
 * subcommands.  This file holds the dispatcher and the trace subcommands:
 *
 *	cache_replay trace convert --trace T [--trace-format F] --to F
 *				   [--block-size SECTORS] -o OUT
 *	cache_replay trace stat    --trace T [--trace-format F]
 *				   [--block-size SECTORS]
 *
 *	cache_replay replay --metadata M --cache C --origin O --trace T
 *			    [options]
 *	cache_replay verify --metadata M --cache C --origin O [--shadow S]
 *
 * A trace path of "-" is standard input; -o - is standard output.  Exit
 * codes: 0 success, 1 a usage, trace, metadata or I/O error (a malformed
 * trace line is named "FILE:LINE: what"), 2 a verification mismatch.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <popt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/metadata_size.h"
#include "engine/replay.h"
#include "engine/trace.h"
#include "engine/trace_stat.h"
#include "tools/common.h"
#include "tools/replay_simulate.h"
#include "tools/tool.h"

/* The smallest cache block the kernel takes: 64 sectors, 32 KiB. */
#define DEFAULT_BLOCK_SECTORS 64u

struct trace_opts {
	char *trace;
	char *format;
	char *to;
	char *block_size;
	char *output;
	int help;
	int version;
};

static int parse_sectors(const char *s, uint64_t *bytes)
{
	uint64_t v;

	if (cache_size_parse_u64(s, &v) < 0 || v == 0 || v > UINT32_MAX / 512) {
		tool_error("--block-size: '%s' is not a number of sectors "
			   "from 1 to %u", s, UINT32_MAX / 512);
		return -EINVAL;
	}
	*bytes = v * 512;
	return 0;
}

static int parse_format(const char *opt, const char *s,
			enum trace_format *fmt)
{
	if (trace_format_parse(s, fmt) < 0) {
		tool_error("%s: unknown trace format '%s'", opt, s);
		return -EINVAL;
	}
	return 0;
}

/* Opens the trace for reading; prints and returns -errno on failure. */
static int open_trace(const char *path, const char *format,
		      struct trace_reader **r, int *fd)
{
	enum trace_format fmt = TRACE_FMT_AUTO;
	struct trace_error err = { 0 };
	int rc;

	if (format) {
		if (parse_format("--trace-format", format, &fmt) < 0)
			return -EINVAL;
		if (fmt == TRACE_FMT_ORACLE) {
			tool_error("--trace-format: oracle traces are written, "
				   "not read");
			return -EINVAL;
		}
	}
	if (!strcmp(path, "-")) {
		*fd = STDIN_FILENO;
	} else {
		*fd = open(path, O_RDONLY | O_CLOEXEC);
		if (*fd < 0) {
			rc = -errno;
			tool_error("%s: %s", path, strerror(-rc));
			return rc;
		}
	}
	rc = trace_reader_open_fd(r, *fd, fmt, &err);
	if (rc < 0) {
		if (err.line)
			tool_error("%s:%" PRIu64 ": %s", path, err.line,
				   err.msg);
		else
			tool_error("%s: %s", path, err.msg[0] ? err.msg
							      : strerror(-rc));
		if (*fd != STDIN_FILENO)
			close(*fd);
	}
	return rc;
}

static void close_trace(struct trace_reader *r, int fd)
{
	trace_reader_close(r);
	if (fd != STDIN_FILENO)
		close(fd);
}

static void trace_read_error(const char *path, int rc,
			     const struct trace_error *err)
{
	if (err->line)
		tool_error("%s:%" PRIu64 ": %s", path, err->line, err->msg);
	else
		tool_error("%s: %s", path, err->msg[0] ? err->msg
						       : strerror(-rc));
}

static int convert(const struct trace_opts *o)
{
	enum trace_format to;
	uint64_t block_bytes = 0;
	struct trace_reader *r = NULL;
	struct trace_writer *w = NULL;
	struct trace_writer_stats ws = { 0 };
	struct tool_output out;
	struct trace_error err = { 0 };
	struct trace_io io;
	FILE *f = NULL;
	int fd = -1, rc, reported = 0;

	if (!o->trace || !o->to || !o->output) {
		tool_error("trace convert needs --trace, --to and -o");
		return 1;
	}
	if (parse_format("--to", o->to, &to) < 0)
		return 1;
	if (to == TRACE_FMT_BLKPARSE) {
		tool_error("--to: blkparse traces are read, not written");
		return 1;
	}
	if (o->block_size && parse_sectors(o->block_size, &block_bytes) < 0)
		return 1;
	if (to == TRACE_FMT_ORACLE && !block_bytes) {
		tool_error("--to oracle needs --block-size (its requests are "
			   "cache blocks)");
		return 1;
	}
	if (open_trace(o->trace, o->format, &r, &fd) < 0)
		return 1;
	if (tool_output_open(&out, o->output, o->trace) < 0) {
		close_trace(r, fd);
		return 1;
	}
	rc = tool_output_start(&out);
	if (rc == 0) {
		f = fdopen(out.is_stdout ? dup(out.fd) : out.fd, "w");
		if (!f)
			rc = -errno;
		else if (!out.is_stdout)
			out.fd = -1;	/* f owns it now */
	}
	if (rc == 0)
		rc = trace_writer_open(&w, f, to, (uint32_t)block_bytes);
	while (rc == 0 && (rc = trace_reader_next(r, &io, &err)) == 1)
		rc = trace_writer_put(w, &io);
	if (rc < 0 && err.msg[0]) {
		trace_read_error(o->trace, rc, &err);
		reported = 1;
	}
	if (w) {
		int rw = trace_writer_close(w, &ws);

		if (rc == 0)
			rc = rw;
	}
	if (f && fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc < 0 && !reported)
		tool_error("%s: %s", out.path, strerror(-rc));
	close_trace(r, fd);
	if (rc < 0) {
		tool_output_abort(&out);
		return 1;
	}
	tool_output_close(&out);
	if (ws.dropped)
		fprintf(stderr, "%s: %" PRIu64 " I/Os a %s trace cannot hold "
			"were left out (discards and flushes)\n", tool_name,
			ws.dropped, trace_format_name(to));
	return 0;
}

static void print_hist(const uint64_t *hist)
{
	int any = 0;

	for (unsigned i = 0; i < TRACE_STAT_BUCKETS; i++) {
		if (!hist[i])
			continue;
		any = 1;
		printf("  <= %-20" PRIu64 " %" PRIu64 "\n",
		       i == 0 ? 1 : (uint64_t)1 << i, hist[i]);
	}
	if (!any)
		printf("  (none)\n");
}

static void print_stat(const char *path, enum trace_format fmt,
		       const struct trace_stat *s)
{
	static const char *const names[] = { "reads", "writes", "discards",
					     "flushes" };
	uint64_t total = 0;

	printf("trace: %s\nformat: %s\n", path, trace_format_name(fmt));
	for (unsigned i = 0; i < TRACE_OP_COUNT; i++)
		total += s->ios[i];
	printf("ios: %" PRIu64 "\n", total);
	for (unsigned i = 0; i < TRACE_OP_COUNT; i++)
		printf("%s: %" PRIu64 " (%" PRIu64 " bytes)\n", names[i],
		       s->ios[i], s->bytes[i]);
	printf("fua: %" PRIu64 "\npreflush: %" PRIu64 "\n", s->fua,
	       s->preflush);
	if (total)
		printf("duration: %" PRIu64 ".%09" PRIu64 " s\n",
		       (s->last_ns - s->first_ns) / 1000000000u,
		       (s->last_ns - s->first_ns) % 1000000000u);
	if (s->lowest != UINT64_MAX)
		printf("lowest offset: %" PRIu64 "\nhighest end: %" PRIu64
		       "\n", s->lowest, s->highest_end);
	printf("block size: %" PRIu64 " sectors\n", s->block_bytes / 512);
	printf("block requests: %" PRIu64 "\n", s->bios);
	printf("footprint: %" PRIu64 " blocks (%" PRIu64 " bytes)\n",
	       s->footprint, s->footprint * s->block_bytes);
	printf("read footprint: %" PRIu64 " blocks\n", s->read_footprint);
	printf("written footprint: %" PRIu64 " blocks\n", s->write_footprint);
	printf("io sizes (bytes):\n");
	print_hist(s->size_hist);
	printf("reuse distances (block requests since the last request of "
	       "the block):\n  cold %" PRIu64 "\n", s->cold);
	print_hist(s->reuse_hist);
	printf("sequential runs (I/Os):\n");
	print_hist(s->run_hist);
}

static int stat_cmd(const struct trace_opts *o)
{
	uint64_t block_bytes = DEFAULT_BLOCK_SECTORS * 512;
	struct trace_reader *r;
	struct trace_error err = { 0 };
	struct trace_stat s;
	struct trace_io io;
	int fd, rc;

	if (!o->trace) {
		tool_error("trace stat needs --trace");
		return 1;
	}
	if (o->to || o->output) {
		tool_error("trace stat takes no --to or -o");
		return 1;
	}
	if (o->block_size && parse_sectors(o->block_size, &block_bytes) < 0)
		return 1;
	if (open_trace(o->trace, o->format, &r, &fd) < 0)
		return 1;
	rc = trace_stat_init(&s, block_bytes);
	while (rc == 0 && (rc = trace_reader_next(r, &io, &err)) == 1)
		rc = trace_stat_add(&s, &io);
	if (rc < 0) {
		trace_read_error(o->trace, rc, &err);
	} else {
		trace_stat_finish(&s);
		print_stat(o->trace, trace_reader_format(r), &s);
		if (fflush(stdout) != 0)
			rc = -errno;
	}
	trace_stat_destroy(&s);
	close_trace(r, fd);
	return rc < 0 ? 1 : 0;
}

static int trace_cmd(int argc, const char **argv)
{
	struct trace_opts o = { 0 };
	char **const slots[] = { NULL, &o.trace, &o.format, &o.to,
				 &o.block_size, &o.output };
	struct poptOption table[] = {
		{ "trace", 0, POPT_ARG_STRING, NULL, 1,
		  "the trace to read (- for standard input)", "FILE" },
		{ "trace-format", 0, POPT_ARG_STRING, NULL, 2,
		  "fio, blkparse, msr or native (default: from the content)",
		  "FORMAT" },
		{ "to", 0, POPT_ARG_STRING, NULL, 3,
		  "convert: fio, msr, native or oracle", "FORMAT" },
		{ "block-size", 0, POPT_ARG_STRING, NULL, 4,
		  "cache block size (stat: default 64; oracle: required)",
		  "SECTORS" },
		{ "output", 'o', POPT_ARG_STRING, NULL, 5,
		  "convert: where to write (- for standard output)", "FILE" },
		{ "help", 'h', POPT_ARG_NONE, &o.help, 0, "show this help",
		  NULL },
		{ "version", 'V', POPT_ARG_NONE, &o.version, 0,
		  "print the version", NULL },
		POPT_TABLEEND
	};
	const struct tool_parse_spec spec = {
		.slots = slots,
		.nr_slots = sizeof(slots) / sizeof(slots[0]),
		.help = &o.help,
		.version = &o.version,
		.no_args = 1,
	};
	const char *sub = argc > 1 ? argv[1] : NULL;
	poptContext pc;
	int r;

	if (!sub || (strcmp(sub, "convert") && strcmp(sub, "stat"))) {
		tool_error("trace: expected 'convert' or 'stat'%s%s",
			   sub ? ", not " : "", sub ? sub : "");
		return 1;
	}
	pc = poptGetContext(tool_name, argc - 1, argv + 1, table, 0);
	poptSetOtherOptionHelp(pc, !strcmp(sub, "convert") ?
		"trace convert --trace FILE --to FORMAT -o FILE [OPTIONS]" :
		"trace stat --trace FILE [OPTIONS]");
	r = tool_parse(pc, &spec);
	if (r == TOOL_PARSE_RUN)
		r = !strcmp(sub, "convert") ? convert(&o) : stat_cmd(&o);
	poptFreeContext(pc);
	tool_free_slots(&spec);
	return r;
}

/* ---- replay and verify ---- */

struct replay_cli {
	char *metadata, *cache, *origin, *trace, *format, *block_size;
	char *version, *policy, *mode, *threshold, *shadow, *seed, *crash_at;
	char *stats, *interval, *tick, *hz;
	int verify, quiet, help, show_version;
};

static int parse_num(const char *opt, const char *s, uint64_t min,
		     uint64_t max, uint64_t *v)
{
	if (cache_size_parse_u64(s, v) < 0 || *v < min || *v > max) {
		tool_error("%s: '%s' is not a number from %" PRIu64 " to %"
			   PRIu64, opt, s, min, max);
		return -EINVAL;
	}
	return 0;
}

/* "FILE:LINE: what" for the trace, "what" for the rest; the exit code. */
static int report(const struct replay_cli *c, int r,
		  const struct replay_error *err)
{
	if (err->kind == REPLAY_ERR_TRACE && err->line)
		tool_error("%s:%" PRIu64 ": %s", c->trace, err->line, err->msg);
	else if (err->kind == REPLAY_ERR_TRACE)
		tool_error("%s: %s", c->trace, err->msg);
	else if (err->msg[0])
		tool_error("%s", err->msg);
	else
		tool_error("%s", strerror(-r));
	return err->kind == REPLAY_ERR_VERIFY ? 2 : 1;
}

static int replay_cmd(struct replay_cli *c)
{
	struct replay_opts o = { 0 };
	struct replay_result res;
	struct replay_error err;
	struct trace_reader *r = NULL;
	FILE *stats = NULL;
	uint64_t v;
	int fd = -1, rc, exit_code = 1;

	if (!c->metadata || !c->cache || !c->origin || !c->trace) {
		tool_error("replay needs --metadata, --cache, --origin and "
			   "--trace");
		return 1;
	}
	o.metadata_path = c->metadata;
	o.cache_path = c->cache;
	o.origin_path = c->origin;
	o.shadow_path = c->shadow;
	o.verify = c->verify;
	o.policy = c->policy ? c->policy : "smq";
	o.migration_threshold = 2048;
	o.hz = 250;
	o.stats_interval_ns = 1000000000ull;
	if (strcmp(o.policy, "smq") && strcmp(o.policy, "mq") &&
	    strcmp(o.policy, "cleaner") && strcmp(o.policy, "default")) {
		tool_error("--policy: unknown policy '%s' (smq, mq, cleaner)",
			   o.policy);
		return 1;
	}
	if (c->block_size) {
		if (parse_num("--block-size", c->block_size, 64, 2097152, &v))
			return 1;
		if (v % 64) {
			tool_error("--block-size: %" PRIu64 " is not a multiple "
				   "of 64 sectors", v);
			return 1;
		}
		o.block_sectors = v;
	}
	if (c->version) {
		if (parse_num("--metadata-version", c->version, 1, 2, &v))
			return 1;
		o.metadata_version = (uint32_t)v;
	}
	if (!c->mode || !strcmp(c->mode, "writeback")) {
		o.mode = TARGET_WRITEBACK;
	} else if (!strcmp(c->mode, "writethrough")) {
		o.mode = TARGET_WRITETHROUGH;
	} else if (!strcmp(c->mode, "passthrough")) {
		o.mode = TARGET_PASSTHROUGH;
	} else {
		tool_error("--io-mode: '%s' is not writeback, writethrough or "
			   "passthrough", c->mode);
		return 1;
	}
	if (c->threshold &&
	    parse_num("--migration-threshold", c->threshold, 0, UINT64_MAX,
		      &o.migration_threshold))
		return 1;
	if (c->seed && parse_num("--seed", c->seed, 0, UINT64_MAX, &o.seed))
		return 1;
	if (c->crash_at &&
	    parse_num("--crash-at", c->crash_at, 1, UINT64_MAX, &o.crash_at))
		return 1;
	if (c->interval) {
		if (parse_num("--stats-interval", c->interval, 1, 1000000, &v))
			return 1;
		o.stats_interval_ns = v * 1000000000ull;
	}
	if (c->hz) {
		if (parse_num("--hz", c->hz, 1, 10000, &v))
			return 1;
		o.hz = (uint32_t)v;
	}
	if (!c->tick || !strcmp(c->tick, "per-bio")) {
		o.tick = TARGET_TICK_PER_BIO;
	} else if (!strcmp(c->tick, "per-second")) {
		o.tick = TARGET_TICK_PER_SECOND;
	} else {
		tool_error("--tick: '%s' is not per-bio or per-second", c->tick);
		return 1;
	}
	if (c->verify && !c->shadow) {
		tool_error("--verify needs --shadow");
		return 1;
	}
	if (open_trace(c->trace, c->format, &r, &fd) < 0)
		return 1;
	if (c->stats) {
		stats = fopen(c->stats, "w");
		if (!stats) {
			tool_error("%s: %s", c->stats, strerror(errno));
			close_trace(r, fd);
			return 1;
		}
		o.stats = stats;
	}
	rc = replay_run(&o, r, &res, &err);
	if (stats && fclose(stats) != 0 && rc == 0) {
		tool_error("%s: %s", c->stats, strerror(errno));
		rc = -EIO;
		err.kind = 0;
	}
	close_trace(r, fd);
	if (rc < 0)
		return err.kind ? report(c, rc, &err) : 1;
	if (!c->quiet) {
		printf("%s", res.status);
		if (res.crashed)
			fprintf(stderr, "%s: stopped after commit %s without a "
				"clean shutdown\n", tool_name, c->crash_at);
	}
	exit_code = 0;
	if (fflush(stdout) != 0)
		exit_code = 1;
	return exit_code;
}

static int verify_cmd(struct replay_cli *c)
{
	struct verify_opts o = { c->metadata, c->cache, c->origin, c->shadow };
	struct verify_result res;
	struct replay_error err;
	int r;

	if (!c->metadata || !c->cache || !c->origin) {
		tool_error("verify needs --metadata, --cache and --origin");
		return 1;
	}
	if (c->trace || c->verify || c->policy || c->block_size) {
		tool_error("verify takes --metadata, --cache, --origin and "
			   "--shadow only");
		return 1;
	}
	r = verify_images(&o, &res, &err);
	if (r < 0)
		return report(c, r, &err);
	if (!c->quiet)
		printf("%" PRIu64 " mapped blocks (%" PRIu64 " dirty), %" PRIu64
		       " blocks compared: consistent\n", res.mapped, res.dirty,
		       res.blocks_compared);
	return 0;
}

static int replay_or_verify(int argc, const char **argv, int is_verify)
{
	struct replay_cli c = { 0 };
	char **const slots[] = { NULL, &c.metadata, &c.cache, &c.origin,
				 &c.trace, &c.format, &c.block_size,
				 &c.version, &c.policy, &c.mode, &c.threshold,
				 &c.shadow, &c.seed, &c.crash_at, &c.stats,
				 &c.interval, &c.tick, &c.hz };
	struct poptOption table[] = {
		{ "metadata", 0, POPT_ARG_STRING, NULL, 1,
		  "the metadata image (all zeroes: formatted)", "FILE" },
		{ "cache", 0, POPT_ARG_STRING, NULL, 2, "the cache image",
		  "FILE" },
		{ "origin", 0, POPT_ARG_STRING, NULL, 3, "the origin image",
		  "FILE" },
		{ "trace", 0, POPT_ARG_STRING, NULL, 4,
		  "the I/O trace (- for standard input)", "FILE" },
		{ "trace-format", 0, POPT_ARG_STRING, NULL, 5,
		  "fio, blkparse, msr or native (default: from the content)",
		  "FORMAT" },
		{ "block-size", 0, POPT_ARG_STRING, NULL, 6,
		  "cache block size, to format (an existing one must agree)",
		  "SECTORS" },
		{ "metadata-version", 0, POPT_ARG_STRING, NULL, 7,
		  "1 or 2 when formatting (default 2)", "N" },
		{ "policy", 0, POPT_ARG_STRING, NULL, 8,
		  "smq (default), mq or cleaner", "NAME" },
		{ "io-mode", 0, POPT_ARG_STRING, NULL, 9,
		  "writeback (default), writethrough or passthrough", "MODE" },
		{ "migration-threshold", 0, POPT_ARG_STRING, NULL, 10,
		  "sectors of migration for the cache to count as idle "
		  "(default 2048)", "SECTORS" },
		{ "shadow", 0, POPT_ARG_STRING, NULL, 11,
		  "an origin-sized image that gets every write directly",
		  "FILE" },
		{ "verify", 0, POPT_ARG_NONE, &c.verify, 0,
		  "compare every read and the final images with the shadow",
		  NULL },
		{ "seed", 0, POPT_ARG_STRING, NULL, 12,
		  "seed of the data written (default 0)", "N" },
		{ "crash-at", 0, POPT_ARG_STRING, NULL, 13,
		  "stop right after the Nth commit, without a clean shutdown",
		  "N" },
		{ "stats", 0, POPT_ARG_STRING, NULL, 14,
		  "interval statistics as CSV", "FILE" },
		{ "stats-interval", 0, POPT_ARG_STRING, NULL, 15,
		  "seconds of trace time per CSV row (default 1)", "SECONDS" },
		{ "tick", 0, POPT_ARG_STRING, NULL, 16,
		  "per-bio (default: the kernel with one I/O at a time) or "
		  "per-second policy ticks", "MODE" },
		{ "hz", 0, POPT_ARG_STRING, NULL, 17,
		  "jiffies per second (default 250)", "N" },
		{ "quiet", 'q', POPT_ARG_NONE, &c.quiet, 0,
		  "print errors only", NULL },
		{ "help", 'h', POPT_ARG_NONE, &c.help, 0, "show this help",
		  NULL },
		{ "version", 'V', POPT_ARG_NONE, &c.show_version, 0,
		  "print the version", NULL },
		POPT_TABLEEND
	};
	const struct tool_parse_spec spec = {
		.slots = slots,
		.nr_slots = sizeof(slots) / sizeof(slots[0]),
		.help = &c.help,
		.version = &c.show_version,
		.no_args = 1,
	};
	poptContext pc;
	int r;

	pc = poptGetContext(tool_name, argc, argv, table, 0);
	poptSetOtherOptionHelp(pc, is_verify ?
		"verify --metadata FILE --cache FILE --origin FILE "
		"[--shadow FILE]" :
		"replay --metadata FILE --cache FILE --origin FILE "
		"--trace FILE [OPTIONS]");
	r = tool_parse(pc, &spec);
	if (r == TOOL_PARSE_RUN)
		r = is_verify ? verify_cmd(&c) : replay_cmd(&c);
	poptFreeContext(pc);
	tool_free_slots(&spec);
	return r;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s COMMAND [OPTIONS]\n\n"
		   "Commands:\n"
		   "  replay          replay a trace through a model of "
		   "dm-cache on images\n"
		   "  verify          check images and metadata against each "
		   "other\n"
		   "  trace convert   convert a trace between formats\n"
		   "  trace stat      describe a trace\n\n"
		   "Options:\n"
		   "  -h, --help      show this help\n"
		   "  -V, --version   print the version\n\n"
		   "'%s COMMAND --help' describes each command.\n",
		tool_name, tool_name);
}

int cmd_cache_replay(int argc, const char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		tool_print_version();
		return 0;
	}
	if (!strcmp(argv[1], "trace"))
		return trace_cmd(argc - 1, argv + 1);
	if (!strcmp(argv[1], "simulate"))
		return cache_replay_simulate(argc - 1, argv + 1);
	if (!strcmp(argv[1], "replay") || !strcmp(argv[1], "verify"))
		return replay_or_verify(argc - 1, argv + 1,
					!strcmp(argv[1], "verify"));
	tool_error("unknown command '%s'", argv[1]);
	usage(stderr);
	return 1;
}
