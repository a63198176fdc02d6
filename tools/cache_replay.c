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
 *	cache_replay bound --trace T --block-size SECTORS [--cache-size LIST]
 *			   [--sample R] [--csv FILE] [--plot FILE.svg]
 *	cache_replay trace gen --pattern P --ios N --origin-size BYTES ... -o F
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

#include "base/grow.h"
#include "cache/metadata_size.h"
#include "engine/bound.h"
#include "engine/plot.h"
#include "engine/replay.h"
#include "engine/trace.h"
#include "engine/trace_stat.h"
#include "engine/tracegen.h"
#include "tools/common.h"
#include "tools/replay_common.h"
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
	if (replay_open_trace(o->trace, o->format, &r, &fd) < 0)
		return 1;
	if (tool_output_open(&out, o->output, o->trace) < 0) {
		replay_close_trace(r, fd);
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
		replay_trace_error(o->trace, rc, &err);
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
	replay_close_trace(r, fd);
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
	if (replay_open_trace(o->trace, o->format, &r, &fd) < 0)
		return 1;
	rc = trace_stat_init(&s, block_bytes);
	while (rc == 0 && (rc = trace_reader_next(r, &io, &err)) == 1)
		rc = trace_stat_add(&s, &io);
	if (rc < 0) {
		replay_trace_error(o->trace, rc, &err);
	} else {
		trace_stat_finish(&s);
		print_stat(o->trace, trace_reader_format(r), &s);
		if (fflush(stdout) != 0)
			rc = -errno;
	}
	trace_stat_destroy(&s);
	replay_close_trace(r, fd);
	return rc < 0 ? 1 : 0;
}

/* ---- trace gen ---- */

/* Bytes: a number with an optional k, M, G or T (powers of 1024). */
static int parse_bytes(const char *opt, const char *s, uint64_t *v)
{
	if (replay_parse_bytes(s, 1, v) < 0 || *v == 0) {
		tool_error("%s: '%s' is not a size (bytes, or with a unit: "
			   "4k, 512M, 10G; k, M, G, T are powers of 1024)",
			   opt, s);
		return -EINVAL;
	}
	return 0;
}
static int gen_cmd(int argc, const char **argv)
{
	struct gen_cli {
		char *pattern, *ios, *origin, *io_size, *ratio, *theta, *seed;
		char *iops, *format, *output;
		int help, version;
	} c = { 0 };
	char **const slots[] = { NULL, &c.pattern, &c.ios, &c.origin,
				 &c.io_size, &c.ratio, &c.theta, &c.seed,
				 &c.iops, &c.format, &c.output };
	struct poptOption table[] = {
		{ "pattern", 0, POPT_ARG_STRING, NULL, 1,
		  "uniform, zipf, hotset, scan or mix", "NAME" },
		{ "ios", 0, POPT_ARG_STRING, NULL, 2, "how many I/Os", "N" },
		{ "origin-size", 0, POPT_ARG_STRING, NULL, 3,
		  "the device the I/Os fall in", "BYTES" },
		{ "io-size", 0, POPT_ARG_STRING, NULL, 4,
		  "bytes per I/O (default 4k)", "BYTES" },
		{ "read-ratio", 0, POPT_ARG_STRING, NULL, 5,
		  "share of reads, 0 to 1 (default 0.7)", "R" },
		{ "theta", 0, POPT_ARG_STRING, NULL, 6,
		  "zipf exponent (default 0.99)", "X" },
		{ "seed", 0, POPT_ARG_STRING, NULL, 7, "default 1", "N" },
		{ "iops", 0, POPT_ARG_STRING, NULL, 8,
		  "I/Os per second of trace time (default 1000)", "N" },
		{ "trace-format", 0, POPT_ARG_STRING, NULL, 9,
		  "fio (default), msr or native", "FORMAT" },
		{ "output", 'o', POPT_ARG_STRING, NULL, 10,
		  "where to write (- for standard output)", "FILE" },
		TOOL_POPT_HELP_VERSION(&c.help, &c.version)
	};
	const struct tool_parse_spec spec = {
		.slots = slots, .nr_slots = sizeof(slots) / sizeof(slots[0]),
		.help = &c.help, .version = &c.version, .no_args = 1,
	};
	struct tracegen_opts o = { TRACEGEN_UNIFORM, 0, 0, 4096, 0.7, 0.99,
				   1, 1000 };
	enum trace_format fmt = TRACE_FMT_FIO;
	struct trace_writer *w = NULL;
	struct tracegen *g = NULL;
	struct tool_output out;
	struct trace_io io;
	FILE *f = NULL;
	uint64_t v;
	char *end;
	poptContext pc;
	int r;

	pc = poptGetContext(tool_name, argc, argv, table, 0);
	poptSetOtherOptionHelp(pc, "trace gen --pattern NAME --ios N "
			       "--origin-size BYTES [OPTIONS] -o FILE");
	r = tool_parse(pc, &spec);
	poptFreeContext(pc);
	if (r != TOOL_PARSE_RUN)
		goto done;
	r = 1;
	if (!c.pattern || !c.ios || !c.origin || !c.output) {
		tool_error("trace gen needs --pattern, --ios, --origin-size "
			   "and -o");
		goto done;
	}
	if (tracegen_pattern_parse(c.pattern, &o.pattern) < 0) {
		tool_error("--pattern: '%s' is not uniform, zipf, hotset, scan "
			   "or mix", c.pattern);
		goto done;
	}
	if (replay_parse_num("--ios", c.ios, 0, UINT64_MAX, &o.ios) ||
	    parse_bytes("--origin-size", c.origin, &o.origin_bytes) ||
	    (c.io_size && parse_bytes("--io-size", c.io_size, &v)) ||
	    (c.seed && replay_parse_num("--seed", c.seed, 0, UINT64_MAX, &o.seed)) ||
	    (c.iops && replay_parse_num("--iops", c.iops, 1, 1000000000, &o.iops)))
		goto done;
	if (c.io_size) {
		if (v > UINT32_MAX || v > o.origin_bytes) {
			tool_error("--io-size: %s is larger than the origin or "
				   "4 GiB", c.io_size);
			goto done;
		}
		o.io_size = (uint32_t)v;
	} else if (o.origin_bytes < o.io_size) {
		o.io_size = (uint32_t)o.origin_bytes;
	}
	if (c.ratio) {
		o.read_ratio = strtod(c.ratio, &end);
		if (*end || end == c.ratio || !(o.read_ratio >= 0) ||
		    o.read_ratio > 1) {
			tool_error("--read-ratio: '%s' is not a number from 0 "
				   "to 1", c.ratio);
			goto done;
		}
	}
	if (c.theta) {
		o.theta = strtod(c.theta, &end);
		if (*end || end == c.theta || !(o.theta > 0) || o.theta > 10) {
			tool_error("--theta: '%s' is not a number above 0 (and "
				   "at most 10)", c.theta);
			goto done;
		}
	}
	if (c.format && (parse_format("--trace-format", c.format, &fmt) < 0 ||
			 fmt == TRACE_FMT_BLKPARSE || fmt == TRACE_FMT_ORACLE)) {
		if (fmt == TRACE_FMT_BLKPARSE || fmt == TRACE_FMT_ORACLE)
			tool_error("--trace-format: gen writes fio, msr or "
				   "native");
		goto done;
	}
	if (tracegen_create(&o, &g) < 0) {
		tool_error("trace gen: these options make no trace");
		goto done;
	}
	if (tool_output_open(&out, c.output, NULL) < 0)
		goto done;
	if (tool_output_start(&out) < 0 ||
	    !(f = fdopen(out.is_stdout ? dup(out.fd) : out.fd, "w"))) {
		tool_output_abort(&out);
		goto done;
	}
	if (!out.is_stdout)
		out.fd = -1;
	r = trace_writer_open(&w, f, fmt, 0);
	while (r == 0 && tracegen_next(g, &io) == 1)
		r = trace_writer_put(w, &io);
	if (w) {
		int rw = trace_writer_close(w, NULL);

		if (r == 0)
			r = rw;
	}
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r < 0) {
		tool_error("%s: %s", out.path, strerror(-r));
		tool_output_abort(&out);
		r = 1;
	} else {
		tool_output_close(&out);
	}
done:
	tracegen_destroy(g);
	tool_free_slots(&spec);
	return r;
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
		TOOL_POPT_HELP_VERSION(&o.help, &o.version)
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

	if (sub && !strcmp(sub, "gen"))
		return gen_cmd(argc - 1, argv + 1);
	if (!sub || (strcmp(sub, "convert") && strcmp(sub, "stat"))) {
		tool_error("trace: expected 'convert', 'stat' or 'gen'%s%s",
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
	char *stats, *interval, *tick, *hz, *plot;
	int verify, quiet, help, show_version;
};

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

/*
 * The hit ratio per interval (hits over bios), read back from the
 * statistics the replay wrote: columns 4..7 are read and write hits and
 * misses, column 1 the time.
 */
static int plot_hit_ratio(FILE *stats, const char *path, const char *policy)
{
	struct plot p = { "Hit ratio over time", "trace time (s)",
			  "hit ratio (per bio)", false, 0, 1 };
	double *x = NULL, *y = NULL;
	size_t n = 0, cap_x = 0, cap_y = 0;
	char line[512];
	FILE *f;
	int r;

	if (fflush(stats) || fseeko(stats, 0, SEEK_SET))
		return -EIO;
	while (fgets(line, sizeof(line), stats)) {
		double t, rh, rm, wh, wm, rd, wr;

		if (sscanf(line, "%lf,%lf,%lf,%lf,%lf,%lf,%lf", &t, &rd, &wr,
			   &rh, &rm, &wh, &wm) != 7 || rh + rm + wh + wm == 0)
			continue;	/* the header, or an idle interval */
		/* (realloc into x itself lost x when it failed.) */
		if (BASE_GROW(x, cap_x, n + 1, 256) < 0 ||
		    BASE_GROW(y, cap_y, n + 1, 256) < 0) {
			free(x);
			free(y);
			return -ENOMEM;
		}
		x[n] = t;
		y[n++] = (rh + wh) / (rh + rm + wh + wm);
	}
	f = fopen(path, "w");
	if (!f) {
		r = -errno;
	} else {
		struct plot_series s = { policy, x, y, n, PLOT_LINE };

		r = plot_svg(f, &p, &s, 1);
		if (fclose(f) && r == 0)
			r = -errno;
	}
	free(x);
	free(y);
	return r;
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
		if (replay_parse_num("--block-size", c->block_size, 64, 2097152, &v))
			return 1;
		if (v % 64) {
			tool_error("--block-size: %" PRIu64 " is not a multiple "
				   "of 64 sectors", v);
			return 1;
		}
		o.block_sectors = v;
	}
	if (c->version) {
		if (replay_parse_num("--metadata-version", c->version, 1, 2, &v))
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
	    replay_parse_num("--migration-threshold", c->threshold, 0, UINT64_MAX,
		      &o.migration_threshold))
		return 1;
	if (c->seed && replay_parse_num("--seed", c->seed, 0, UINT64_MAX, &o.seed))
		return 1;
	if (c->crash_at &&
	    replay_parse_num("--crash-at", c->crash_at, 1, UINT64_MAX, &o.crash_at))
		return 1;
	if (c->interval) {
		if (replay_parse_num("--stats-interval", c->interval, 1, 1000000, &v))
			return 1;
		o.stats_interval_ns = v * 1000000000ull;
	}
	if (c->hz) {
		if (replay_parse_num("--hz", c->hz, 1, 10000, &v))
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
	if (replay_open_trace(c->trace, c->format, &r, &fd) < 0)
		return 1;
	if (c->stats || c->plot) {
		/* The plot is drawn from the interval rows. */
		stats = c->stats ? fopen(c->stats, "w+") : tmpfile();
		if (!stats) {
			tool_error("%s: %s", c->stats ? c->stats : "temporary "
				   "file", strerror(errno));
			replay_close_trace(r, fd);
			return 1;
		}
		o.stats = stats;
	}
	rc = replay_run(&o, r, &res, &err);
	if (rc == 0 && c->plot &&
	    plot_hit_ratio(stats, c->plot, o.policy) < 0) {
		rc = -EIO;
		err.kind = REPLAY_ERR_IO;
		snprintf(err.msg, sizeof(err.msg), "%s: cannot write the plot",
			 c->plot);
	}
	if (stats && fclose(stats) != 0 && rc == 0) {
		tool_error("%s: %s", c->stats, strerror(errno));
		rc = -EIO;
		err.kind = 0;
	}
	replay_close_trace(r, fd);
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
				 &c.interval, &c.tick, &c.hz, &c.plot };
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
		{ "plot", 0, POPT_ARG_STRING, NULL, 18,
		  "draw the hit ratio over time as SVG", "FILE.svg" },
		{ "quiet", 'q', POPT_ARG_NONE, &c.quiet, 0,
		  "print errors only", NULL },
		TOOL_POPT_HELP_VERSION(&c.help, &c.show_version)
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

/* ---- bound ---- */

/*
 * A LIST of sizes: each bytes with an optional unit, or N% of the
 * footprint.  Fills sizes (in blocks) or percent (0 when absolute).
 */
static int parse_size_list(const char *opt, const char *list,
			   uint64_t block_bytes, uint64_t **sizes,
			   double **percent, size_t *n)
{
	char *copy = strdup(list), *save = NULL, *tok;
	size_t cap = 1;
	int r = 0;

	for (const char *p = list; *p; p++)
		cap += *p == ',';
	*sizes = calloc(cap, sizeof(**sizes));
	*percent = calloc(cap, sizeof(**percent));
	*n = 0;
	if (!copy || !*sizes || !*percent) {
		free(copy);
		return -ENOMEM;
	}
	for (tok = strtok_r(copy, ",", &save); tok && r == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t len = strlen(tok);
		uint64_t bytes;

		if (len > 1 && tok[len - 1] == '%') {
			char *end;
			double pc;

			tok[len - 1] = '\0';
			pc = strtod(tok, &end);
			tok[len - 1] = '%';
			if (end != tok + len - 1 || end == tok || !(pc > 0) ||
			    pc > 100) {
				tool_error("%s: '%s' is not a percentage above "
					   "0 and at most 100", opt, tok);
				r = -EINVAL;
			}
			(*percent)[(*n)++] = pc;
		} else if (parse_bytes(opt, tok, &bytes) < 0) {
			r = -EINVAL;
		} else {
			(*sizes)[(*n)++] = bytes / block_bytes;
		}
	}
	if (r == 0 && *n == 0) {
		tool_error("%s: an empty list", opt);
		r = -EINVAL;
	}
	free(copy);
	return r;
}

static int write_bound_csv(FILE *f, const struct bound_result *res,
			   uint64_t block_bytes, int no_opt)
{
	fprintf(f, "cache_blocks,cache_bytes,requests,cold_misses,opt_misses,"
		   "opt_insertions,lru_misses,opt_miss_ratio,lru_miss_ratio\n");
	for (size_t i = 0; i < res->nr_rows; i++) {
		const struct bound_row *r = &res->rows[i];
		double q = r->requests ? (double)r->requests : 1.0;

		fprintf(f, "%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",",
			r->cache_blocks, r->cache_blocks * block_bytes,
			r->requests, r->cold_misses);
		if (no_opt)
			fprintf(f, ",,%" PRIu64 ",,%.6f\n", r->lru_misses,
				(double)r->lru_misses / q);
		else
			fprintf(f, "%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.6f,"
				"%.6f\n", r->opt_misses, r->opt_insertions,
				r->lru_misses, (double)r->opt_misses / q,
				(double)r->lru_misses / q);
	}
	return ferror(f) ? -EIO : 0;
}

static int write_bound_plot(const char *path, const struct bound_result *res)
{
	size_t n = res->nr_rows;
	double *x = calloc(n + 1, sizeof(double));
	double *y[3] = { calloc(n + 1, sizeof(double)),
			 calloc(n + 1, sizeof(double)),
			 calloc(n + 1, sizeof(double)) };
	struct plot p = { "Miss ratio by cache size", "cache blocks",
			  "miss ratio (per block request)", true, 0, 1 };
	struct plot_series s[3] = {
		{ "LRU", x, y[0], n, PLOT_LINE },
		{ "OPT (Belady, with bypass)", x, y[1], n, PLOT_LINE },
		{ "cold misses (infinite cache)", x, y[2], n, PLOT_LINE },
	};
	FILE *f = NULL;
	int r = -ENOMEM;

	if (x && y[0] && y[1] && y[2]) {
		for (size_t i = 0; i < n; i++) {
			const struct bound_row *b = &res->rows[i];
			double q = b->requests ? (double)b->requests : 1.0;

			x[i] = (double)b->cache_blocks;
			y[0][i] = (double)b->lru_misses / q;
			y[1][i] = (double)b->opt_misses / q;
			y[2][i] = (double)b->cold_misses / q;
		}
		f = fopen(path, "w");
		r = f ? plot_svg(f, &p, s, 3) : -errno;
		if (f && fclose(f) != 0 && r == 0)
			r = -errno;
	}
	free(x);
	for (int i = 0; i < 3; i++)
		free(y[i]);
	if (r < 0)
		tool_error("%s: %s", path, strerror(-r));
	return r;
}

static int bound_cmd(int argc, const char **argv)
{
	struct bound_cli {
		char *trace, *format, *block_size, *sizes, *sample, *csv, *plot;
		int no_opt, help, version;
	} c = { 0 };
	char **const slots[] = { NULL, &c.trace, &c.format, &c.block_size,
				 &c.sizes, &c.sample, &c.csv, &c.plot };
	struct poptOption table[] = {
		{ "trace", 0, POPT_ARG_STRING, NULL, 1,
		  "the trace (- for standard input)", "FILE" },
		{ "trace-format", 0, POPT_ARG_STRING, NULL, 2,
		  "fio, blkparse, msr or native (default: from the content)",
		  "FORMAT" },
		{ "block-size", 0, POPT_ARG_STRING, NULL, 3,
		  "cache block size", "SECTORS" },
		{ "cache-size", 0, POPT_ARG_STRING, NULL, 4,
		  "cache sizes: bytes (k, M, G, T: powers of 1024), or N% of "
		  "the footprint (rounded up) "
		  "(default 1, 2, 4 ... blocks up to the footprint)", "LIST" },
		{ "sample", 0, POPT_ARG_STRING, NULL, 5,
		  "follow this share of the blocks (SHARDS), 0 to 1", "R" },
		{ "csv", 0, POPT_ARG_STRING, NULL, 6,
		  "where to write the rows (default standard output)",
		  "FILE" },
		{ "plot", 0, POPT_ARG_STRING, NULL, 7,
		  "draw the curves as SVG", "FILE.svg" },
		{ "no-opt", 0, POPT_ARG_NONE, &c.no_opt, 0,
		  "cold and LRU misses only (OPT columns empty)", NULL },
		TOOL_POPT_HELP_VERSION(&c.help, &c.version)
	};
	const struct tool_parse_spec spec = {
		.slots = slots, .nr_slots = sizeof(slots) / sizeof(slots[0]),
		.help = &c.help, .version = &c.version, .no_args = 1,
	};
	struct bound_opts o = { 0 };
	struct bound_result res = { 0 };
	struct trace_reader *tr = NULL;
	struct trace_error err = { 0 };
	uint64_t *sizes = NULL;
	double *percent = NULL;
	FILE *f = stdout;
	int fd = -1, r;
	poptContext pc;

	pc = poptGetContext(tool_name, argc, argv, table, 0);
	poptSetOtherOptionHelp(pc, "bound --trace FILE --block-size SECTORS "
			       "[OPTIONS]");
	r = tool_parse(pc, &spec);
	poptFreeContext(pc);
	if (r != TOOL_PARSE_RUN)
		goto done;
	r = 1;
	if (!c.trace || !c.block_size) {
		tool_error("bound needs --trace and --block-size");
		goto done;
	}
	if (parse_sectors(c.block_size, &o.block_bytes) < 0)
		goto done;
	if (c.sizes) {
		if (parse_size_list("--cache-size", c.sizes, o.block_bytes,
				    &sizes, &percent, &o.nr_sizes) < 0)
			goto done;
		o.sizes = sizes;
		o.size_percent = percent;
	}
	if (c.sample) {
		char *end;

		o.sample = strtod(c.sample, &end);
		if (*end || end == c.sample || !(o.sample > 0) ||
		    o.sample > 1) {
			tool_error("--sample: '%s' is not a rate above 0 and at "
				   "most 1", c.sample);
			goto done;
		}
	}
	o.no_opt = c.no_opt;
	if (replay_open_trace(c.trace, c.format, &tr, &fd) < 0)
		goto done;
	r = bound_run(tr, &o, &res, &err);
	replay_close_trace(tr, fd);
	if (r < 0) {
		if (err.msg[0])
			replay_trace_error(c.trace, r, &err);
		else
			tool_error("%s", strerror(-r));
		r = 1;
		goto done;
	}
	r = 1;
	if (c.csv && !(f = fopen(c.csv, "w"))) {
		tool_error("%s: %s", c.csv, strerror(errno));
		goto done;
	}
	/* Standard output's errors are the one line main() prints at exit. */
	if (write_bound_csv(f, &res, o.block_bytes, o.no_opt) < 0) {
		if (c.csv)
			tool_error("%s: write error", c.csv);
		goto done;
	}
	if (c.plot && write_bound_plot(c.plot, &res) < 0)
		goto done;
	r = 0;
done:
	if (f && f != stdout && fclose(f) != 0 && r == 0) {
		tool_error("%s: %s", c.csv, strerror(errno));
		r = 1;
	}
	if (f == stdout && ferror(stdout))
		r = 1;
	bound_result_release(&res);
	free(sizes);
	free(percent);
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
		   "  simulate        the model without images, over a sweep of "
		   "cache sizes,\n"
		   "                  block sizes and policies\n"
		   "  bound           cold, optimal and LRU misses for every "
		   "cache size\n"
		   "  trace convert   convert a trace between formats\n"
		   "  trace stat      describe a trace\n"
		   "  trace gen       make a synthetic trace\n\n"
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
	if (!strcmp(argv[1], "bound"))
		return bound_cmd(argc - 1, argv + 1);
	if (!strcmp(argv[1], "simulate"))
		return cache_replay_simulate(argc - 1, argv + 1);
	if (!strcmp(argv[1], "replay") || !strcmp(argv[1], "verify"))
		return replay_or_verify(argc - 1, argv + 1,
					!strcmp(argv[1], "verify"));
	tool_error("unknown command '%s'", argv[1]);
	usage(stderr);
	return 1;
}
