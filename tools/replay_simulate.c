// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_replay simulate: the replay model without images, over a sweep
 * of configurations, one CSV row each.
 *
 *	cache_replay simulate --trace T [--trace-format F] --block-size LIST
 *			      --cache-size LIST [--origin-size BYTES]
 *			      --policy LIST [--io-mode M] [--jobs N]
 *			      [--csv FILE] [--plot FILE.svg]
 *
 * The configurations are the product policy x block size x cache size, in
 * that order (the CSV's row order, whatever --jobs is).  Sizes are bytes
 * with an optional k, M, G or T suffix (powers of 1024, either case), or
 * a percentage of the trace's footprint at that block size; a bare block
 * size is in sectors.  A percentage, or a missing --origin-size, costs a
 * first pass over the trace (sim_scan), so the trace must be a file.
 *
 * --jobs N forks N workers, deals the configurations out to them largest
 * cache first, back and forth (their cost grows with the cache); each
 * streams the trace itself and leaves its counters in a shared mapping;
 * the parent prints every row, in order, once all are done.  Standard
 * input can be read only once, so a sweep from it runs in one process.
 *
 * Exit 0, or 1 with one line on stderr for a bad option or trace.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <popt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/bound.h"
#include "engine/plot.h"
#include "engine/policy.h"
#include "engine/simulate.h"
#include "engine/trace.h"
#include "tools/common.h"
#include "tools/replay_common.h"
#include "tools/replay_simulate.h"
#include "tools/tool.h"

#define MAX_LIST 256u		/* items in one list */
#define MAX_CONFIGS 4096u
#define KERNEL_MIN_BLOCK 64u	/* sectors, and the multiple */
#define KERNEL_MAX_BLOCK 2097152u

struct sim_cli {
	char *trace, *format, *block_size, *cache_size, *origin_size;
	char *policy, *mode, *jobs, *csv, *plot, *threshold, *hz, *tick;
	char *seed;
	int help, version;
};

/* A cache size: bytes, or a percentage of the footprint. */
struct size_item {
	uint64_t bytes;
	double pct;		/* > 0: a percentage */
	const char *text;
};

/* ---- parsing ---- */

/* Splits a comma-separated list in place; -EINVAL for an empty item. */
static int split(const char *opt, char *s, char **items, size_t *n)
{
	char *save = NULL, *tok;

	*n = 0;
	if (!*s || s[strlen(s) - 1] == ',' || *s == ',' || strstr(s, ",,")) {
		tool_error("%s: '%s' has an empty item", opt, s);
		return -EINVAL;
	}
	for (tok = strtok_r(s, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_LIST) {
			tool_error("%s: more than %u items", opt, MAX_LIST);
			return -EINVAL;
		}
		items[(*n)++] = tok;
	}
	return 0;
}

static int parse_block_sizes(char *s, uint64_t *bs, size_t *n)
{
	char *items[MAX_LIST];

	if (split("--block-size", s, items, n) < 0)
		return -EINVAL;
	for (size_t i = 0; i < *n; i++) {
		uint64_t bytes;

		if (replay_parse_bytes(items[i], 512, &bytes) < 0 || bytes % 512 ||
		    bytes / 512 < KERNEL_MIN_BLOCK ||
		    bytes / 512 > KERNEL_MAX_BLOCK ||
		    (bytes / 512) % KERNEL_MIN_BLOCK) {
			tool_error("--block-size: '%s' is not a multiple of 64 "
				   "sectors from 64 to %u (a bare number is "
				   "sectors; k, M, G mean bytes)", items[i],
				   KERNEL_MAX_BLOCK);
			return -EINVAL;
		}
		bs[i] = bytes / 512;
	}
	return 0;
}

static int parse_cache_sizes(char *s, struct size_item *cs, size_t *n)
{
	char *items[MAX_LIST];

	if (split("--cache-size", s, items, n) < 0)
		return -EINVAL;
	for (size_t i = 0; i < *n; i++) {
		size_t len = strlen(items[i]);

		cs[i].text = items[i];
		cs[i].pct = 0;
		if (len > 1 && items[i][len - 1] == '%') {
			char *end;
			double v;

			errno = 0;
			v = strtod(items[i], &end);
			if (items[i][0] >= '0' && items[i][0] <= '9' &&
			    end == items[i] + len - 1 && !errno && v > 0 &&
			    v <= 1e6) {
				cs[i].pct = v;
				continue;
			}
		} else if (replay_parse_bytes(items[i], 1, &cs[i].bytes) == 0 &&
			   cs[i].bytes) {
			continue;
		}
		tool_error("--cache-size: '%s' is not a size (bytes with an "
			   "optional k, M, G or T) or a percentage of the "
			   "footprint (like 5%%)", items[i]);
		return -EINVAL;
	}
	return 0;
}

/* Whether the engine knows the policy: created once on a tiny cache. */
static bool policy_known(const char *name)
{
	uint64_t jiffies = 0;
	struct policy *p;

	if (policy_create(name, 16, 1024 * 64, 64, &jiffies, &p) < 0)
		return false;
	policy_destroy(p);
	return true;
}

/* ---- the trace ---- */

static void sim_error_line(const struct sim_cli *c, const struct sim_error *e)
{
	if (!e->trace)
		tool_error("%s", e->msg);
	else if (e->line)
		tool_error("%s:%" PRIu64 ": %s", c->trace, e->line, e->msg);
	else
		tool_error("%s: %s", c->trace, e->msg);
}

/* ---- running ---- */

/* What a worker leaves for the parent. */
struct worker_result {
	int rc;
	struct sim_error err;
};

/* Runs the models idx[0..n) of all; 0 or an error in *res. */
static void run_models(const struct sim_cli *c, const struct sim_opts *o,
		       struct sim_model *all, const size_t *idx, size_t n,
		       struct worker_result *res)
{
	struct sim_model *m = calloc(n ? n : 1, sizeof(*m));
	struct trace_reader *r;
	int fd;

	memset(res, 0, sizeof(*res));
	if (!m) {
		res->rc = -ENOMEM;
		res->err.trace = false;
		snprintf(res->err.msg, sizeof(res->err.msg), "%s",
			 strerror(ENOMEM));
		return;
	}
	for (size_t i = 0; i < n; i++)
		m[i] = all[idx[i]];
	res->rc = replay_open_trace(c->trace, c->format, &r, &fd);
	if (res->rc < 0) {
		/* Already printed: a worker's trace went away. */
		res->err.line = UINT64_MAX;
		free(m);
		return;
	}
	res->rc = sim_run(o, m, n, r, &res->err);
	replay_close_trace(r, fd);
	if (res->rc == 0)
		for (size_t i = 0; i < n; i++)
			all[idx[i]] = m[i];
	free(m);
}

static const struct sim_model *sort_models;

static int by_cache_desc(const void *a, const void *b)
{
	const struct sim_model *x = &sort_models[*(const size_t *)a];
	const struct sim_model *y = &sort_models[*(const size_t *)b];
	uint64_t cx = x->cache_blocks * x->block_sectors;
	uint64_t cy = y->cache_blocks * y->block_sectors;

	if (x->cache_blocks != y->cache_blocks)
		return x->cache_blocks > y->cache_blocks ? -1 : 1;
	if (cx != cy)
		return cx > cy ? -1 : 1;
	/* Stable whatever qsort does: the index decides. */
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* The worker of the i-th model in that order: 0 1 .. n-1 n-1 .. 1 0 0 1 .. */
static unsigned worker_of(size_t i, unsigned jobs)
{
	size_t round = i / jobs, pos = i % jobs;

	return (unsigned)(round % 2 ? jobs - 1 - pos : pos);
}

/* Spreads the models over jobs processes; 0 or -1 (printed). */
static int run_jobs(const struct sim_cli *c, const struct sim_opts *o,
		    struct sim_model *models, size_t n, unsigned jobs)
{
	size_t bytes = n * sizeof(*models) +
		       jobs * sizeof(struct worker_result);
	struct worker_result *res, local;
	struct sim_model *shared;
	size_t *idx = malloc(n * sizeof(*idx));
	size_t *order = malloc(n * sizeof(*order));
	pid_t *pids = calloc(jobs, sizeof(*pids));
	int rc = 0;

	if (!idx || !order || !pids) {
		free(idx);
		free(order);
		free(pids);
		tool_error("%s", strerror(ENOMEM));
		return -1;
	}
	if (jobs == 1) {
		for (size_t i = 0; i < n; i++)
			idx[i] = i;
		run_models(c, o, models, idx, n, &local);
		free(idx);
		free(order);
		free(pids);
		if (local.rc < 0 && local.err.line != UINT64_MAX)
			sim_error_line(c, &local.err);
		return local.rc < 0 ? -1 : 0;
	}
	shared = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		tool_error("cannot share results between jobs: %s",
			   strerror(errno));
		free(idx);
		free(order);
		free(pids);
		return -1;
	}
	memcpy(shared, models, n * sizeof(*models));
	/* Biggest caches first, dealt out back and forth: each worker gets
	 * a like share of the work, whose cost grows with the cache. */
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	sort_models = models;
	qsort(order, n, sizeof(*order), by_cache_desc);
	res = (struct worker_result *)(shared + n);
	fflush(NULL);
	for (unsigned w = 0; w < jobs; w++) {
		pids[w] = fork();
		if (pids[w] < 0) {
			tool_error("cannot start job %u: %s", w + 1,
				   strerror(errno));
			rc = -1;
			break;
		}
		if (pids[w] == 0) {
			size_t k = 0;

			for (size_t i = 0; i < n; i++)
				if (worker_of(i, jobs) == w)
					idx[k++] = order[i];
			run_models(c, o, shared, idx, k, &res[w]);
			_exit(res[w].rc < 0 ? 1 : 0);
		}
	}
	for (unsigned w = 0; w < jobs; w++) {
		int status;

		if (pids[w] <= 0)
			continue;
		while (waitpid(pids[w], &status, 0) < 0 && errno == EINTR)
			;
		if (WIFSIGNALED(status)) {
			if (rc == 0)
				tool_error("job %u was killed by signal %d",
					   w + 1, WTERMSIG(status));
			rc = -1;
		} else if (WEXITSTATUS(status) != 0) {
			/* Every job reads the same trace: one line is
			 * enough. */
			if (rc == 0 && res[w].err.line != UINT64_MAX)
				sim_error_line(c, &res[w].err);
			rc = -1;
		}
	}
	if (rc == 0)
		memcpy(models, shared, n * sizeof(*models));
	munmap(shared, bytes);
	free(idx);
	free(order);
	free(pids);
	return rc;
}

/* ---- output ---- */

static const char csv_header[] =
	"policy,block_size,cache_blocks,ios,bios,reads,writes,"
	"read_hits,read_misses,write_hits,write_misses,overwrites,"
	"io_read_hits,io_read_misses,io_write_hits,io_write_misses,"
	"promotions,demotions,writebacks,bytes_promoted,bytes_written_back,"
	"residency,dirty,hit_ratio\n";

static void csv_row(FILE *f, const char *policy, const struct sim_model *m)
{
	const struct target_counters *c = &m->c;
	uint64_t hits = c->read_hits + c->write_hits;
	uint64_t reqs = hits + c->read_misses + c->write_misses +
			c->copy_free_promotions;

	fprintf(f, "%s,%" PRIu64 ",%" PRIu32, policy, m->block_sectors,
		m->cache_blocks);
	fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64, c->ios,
		c->bios, c->reads, c->writes);
	fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64,
		c->read_hits, c->read_misses, c->write_hits, c->write_misses,
		c->copy_free_promotions);
	fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64,
		c->io_read_hits, c->io_read_misses, c->io_write_hits,
		c->io_write_misses);
	fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64,
		c->promotions, c->demotions, c->writebacks, c->bytes_promoted,
		c->bytes_written_back);
	fprintf(f, ",%" PRIu32 ",%" PRIu32 ",%.6f\n", m->residency,
		m->nr_dirty, reqs ? (double)hits / (double)reqs : 0.0);
}


/*
 * The miss ratio (misses over hits and misses, per bio) of each
 * configuration against its cache size: one curve per policy and block
 * size, its points in cache-size order.
 */
static int write_plot(const char *path, const struct sim_model *models,
		      const char *const *labels, size_t n)
{
	struct plot p = { "Miss ratio by cache size", "cache blocks",
			  "miss ratio (per bio)", true, 0, 1 };
	struct plot_series *s = calloc(n ? n : 1, sizeof(*s));
	double *x = calloc(n ? n : 1, sizeof(*x));
	double *y = calloc(n ? n : 1, sizeof(*y));
	char (*names)[80] = calloc(n ? n : 1, sizeof(*names));
	size_t ns = 0, k = 0;
	FILE *f = NULL;
	int r = -ENOMEM;

	if (!s || !x || !y || !names)
		goto out;
	/* Models come policy by policy, block size by block size: a run of
	 * equal (label, block size) is one curve. */
	for (size_t i = 0; i < n; i++) {
		const struct target_counters *c = &models[i].c;
		double all = (double)(c->read_hits + c->read_misses +
				      c->write_hits + c->write_misses);

		if (i == 0 || strcmp(labels[i], labels[i - 1]) ||
		    models[i].block_sectors != models[i - 1].block_sectors) {
			snprintf(names[ns], sizeof(names[ns]), "%s, %llu-sector "
				 "blocks", labels[i],
				 (unsigned long long)models[i].block_sectors);
			s[ns] = (struct plot_series){ names[ns], x + k, y + k, 0,
						      PLOT_LINE };
			ns++;
		}
		x[k] = models[i].cache_blocks;
		y[k] = all > 0 ? (double)(c->read_misses + c->write_misses) /
					 all : 0;
		k++;
		s[ns - 1].n++;
	}
	f = fopen(path, "w");
	r = f ? plot_svg(f, &p, s, ns) : -errno;
	if (f && fclose(f) != 0 && r == 0)
		r = -errno;
out:
	free(s);
	free(x);
	free(y);
	free(names);
	return r;
}

/* ---- the command ---- */

static int simulate(struct sim_cli *c)
{
	uint64_t bs[MAX_LIST], footprint[MAX_LIST], origin_bytes = 0, v;
	struct size_item cs[MAX_LIST];
	char *policies[MAX_LIST];
	char *pnames[MAX_LIST] = { 0 };
	size_t nb, nc, np, n = 0;
	struct sim_opts o = { 0 };
	struct sim_model *models = NULL;
	const char **labels = NULL;
	struct tool_output out;
	bool need_scan = false, from_stdin;
	unsigned jobs;
	long cpus;
	int rc = 1;

	if (!c->trace || !c->block_size || !c->cache_size || !c->policy) {
		tool_error("simulate needs --trace, --block-size, --cache-size "
			   "and --policy");
		return 1;
	}
	from_stdin = !strcmp(c->trace, "-");
	if (parse_block_sizes(c->block_size, bs, &nb) < 0 ||
	    parse_cache_sizes(c->cache_size, cs, &nc) < 0 ||
	    split("--policy", c->policy, policies, &np) < 0)
		return 1;
	if (c->seed && replay_parse_num("--seed", c->seed, 0, UINT64_MAX, &v) < 0)
		return 1;
	for (size_t i = 0; i < np; i++) {
		/* --seed reaches random as random:SEED. */
		if (c->seed && !strcmp(policies[i], "random") &&
		    asprintf(&pnames[i], "random:%s", c->seed) < 0) {
			tool_error("%s", strerror(ENOMEM));
			goto out;
		}
		if (!policy_known(pnames[i] ? pnames[i] : policies[i])) {
			tool_error("--policy: unknown policy '%s' (smq, mq, "
				   "cleaner, lru, fifo, random, random:SEED, "
				   "arc, 2q, mq-2012)", policies[i]);
			goto out;
		}
	}
	o.mode = TARGET_WRITEBACK;
	if (c->mode && !strcmp(c->mode, "writethrough"))
		o.mode = TARGET_WRITETHROUGH;
	else if (c->mode && !strcmp(c->mode, "passthrough"))
		o.mode = TARGET_PASSTHROUGH;
	else if (c->mode && strcmp(c->mode, "writeback")) {
		tool_error("--io-mode: '%s' is not writeback, writethrough or "
			   "passthrough", c->mode);
		goto out;
	}
	o.migration_threshold = 2048;
	o.hz = 250;
	o.tick = TARGET_TICK_PER_BIO;
	if (c->threshold &&
	    replay_parse_num("--migration-threshold", c->threshold, 0, UINT64_MAX,
		      &o.migration_threshold) < 0)
		goto out;
	if (c->hz) {
		if (replay_parse_num("--hz", c->hz, 1, 10000, &v) < 0)
			goto out;
		o.hz = (uint32_t)v;
	}
	if (c->tick && !strcmp(c->tick, "per-second")) {
		o.tick = TARGET_TICK_PER_SECOND;
	} else if (c->tick && strcmp(c->tick, "per-bio")) {
		tool_error("--tick: '%s' is not per-bio or per-second",
			   c->tick);
		goto out;
	}
	if (c->origin_size) {
		if (replay_parse_bytes(c->origin_size, 1, &origin_bytes) < 0 ||
		    origin_bytes < 512) {
			tool_error("--origin-size: '%s' is not a size in bytes "
				   "(an optional k, M, G or T) of at least a "
				   "sector", c->origin_size);
			goto out;
		}
	} else {
		need_scan = true;
	}
	for (size_t i = 0; i < nc; i++)
		need_scan = need_scan || cs[i].pct > 0;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	jobs = cpus > 0 ? (unsigned)cpus : 1;
	if (c->jobs) {
		if (replay_parse_num("--jobs", c->jobs, 1, 1024, &v) < 0)
			goto out;
		jobs = (unsigned)v;
	}
	if (np * nb * nc > MAX_CONFIGS) {
		tool_error("%zu configurations: at most %u in one sweep",
			   np * nb * nc, MAX_CONFIGS);
		goto out;
	}
	if (need_scan && from_stdin) {
		tool_error("a percentage cache size or a missing --origin-size "
			   "needs a first pass over the trace: give a file, "
			   "not standard input");
		goto out;
	}
	if (from_stdin)
		jobs = 1;

	/* Opened now, so a bad path fails before the work. */
	if (tool_output_open(&out, c->csv, from_stdin ? NULL : c->trace) < 0)
		goto out;
	if (need_scan) {
		struct sim_scan s = { .n = nb, .block_sectors = bs,
				      .footprint = footprint };
		struct trace_reader *r;
		struct sim_error err;
		int fd, sr;

		if (replay_open_trace(c->trace, c->format, &r, &fd) < 0)
			goto out_abort;
		sr = sim_scan(&s, r, &err);
		replay_close_trace(r, fd);
		if (sr < 0) {
			if (err.msg[0])
				sim_error_line(c, &err);
			else
				tool_error("%s: %s", c->trace, strerror(-sr));
			goto out_abort;
		}
		if (!c->origin_size) {
			uint64_t maxb = 0;

			for (size_t i = 0; i < nb; i++)
				maxb = bs[i] > maxb ? bs[i] : maxb;
			maxb *= 512;
			origin_bytes = (s.highest_end + maxb - 1) / maxb * maxb;
			if (!origin_bytes)
				origin_bytes = maxb;
		}
	}
	o.origin_sectors = origin_bytes / 512;

	n = np * nb * nc;
	models = calloc(n, sizeof(*models));
	labels = calloc(n, sizeof(*labels));
	if (!models || !labels) {
		tool_error("%s", strerror(ENOMEM));
		goto out_abort;
	}
	n = 0;
	for (size_t p = 0; p < np; p++)
		for (size_t b = 0; b < nb; b++)
			for (size_t k = 0; k < nc; k++) {
				struct sim_model *m = &models[n];
				uint64_t blocks;

				if (cs[k].pct > 0) {
					blocks = bound_percent_blocks(
						cs[k].pct, footprint[b]);
				} else {
					blocks = cs[k].bytes / (bs[b] * 512);
				}
				if (!blocks || blocks > UINT32_MAX - 2) {
					tool_error("--cache-size: %s holds %s "
						   "of %" PRIu64 " sectors",
						   cs[k].text,
						   blocks ? "too many blocks" :
							    "less than a block",
						   bs[b]);
					goto out_abort;
				}
				m->policy = pnames[p] ? pnames[p] : policies[p];
				m->block_sectors = bs[b];
				m->cache_blocks = (uint32_t)blocks;
				labels[n++] = policies[p];
			}
	if (jobs > n)
		jobs = (unsigned)n;
	if (run_jobs(c, &o, models, n, jobs) < 0)
		goto out_abort;

	{
		FILE *f;
		int wr = tool_output_start(&out);

		f = wr == 0 ? fdopen(out.is_stdout ? dup(out.fd) : out.fd, "w")
			    : NULL;
		if (!f) {
			tool_error("%s: %s", out.path, strerror(errno));
			goto out_abort;
		}
		if (!out.is_stdout)
			out.fd = -1;	/* f owns it now */
		fputs(csv_header, f);
		for (size_t i = 0; i < n; i++)
			csv_row(f, labels[i], &models[i]);
		if (fclose(f) != 0) {
			tool_error("%s: %s", out.path, strerror(errno));
			goto out_abort;
		}
	}
	tool_output_close(&out);
	rc = 0;
	if (c->plot && write_plot(c->plot, models, labels, n) < 0) {
		tool_error("%s: cannot write the plot", c->plot);
		rc = 1;
	}
	goto out;
out_abort:
	tool_output_abort(&out);
out:
	for (size_t i = 0; i < np; i++)
		free(pnames[i]);
	free(models);
	free(labels);
	return rc;
}

int cache_replay_simulate(int argc, const char **argv)
{
	struct sim_cli c = { 0 };
	char **const slots[] = { NULL, &c.trace, &c.format, &c.block_size,
				 &c.cache_size, &c.origin_size, &c.policy,
				 &c.mode, &c.jobs, &c.csv, &c.plot,
				 &c.threshold, &c.hz, &c.tick, &c.seed };
	struct poptOption table[] = {
		{ "trace", 0, POPT_ARG_STRING, NULL, 1,
		  "the I/O trace (- for standard input)", "FILE" },
		{ "trace-format", 0, POPT_ARG_STRING, NULL, 2,
		  "fio, blkparse, msr or native (default: from the content)",
		  "FORMAT" },
		{ "block-size", 0, POPT_ARG_STRING, NULL, 3,
		  "cache block sizes: sectors, or bytes with k/M/G",
		  "LIST" },
		{ "cache-size", 0, POPT_ARG_STRING, NULL, 4,
		  "cache sizes: bytes with k/M/G/T, or N% of the footprint",
		  "LIST" },
		{ "origin-size", 0, POPT_ARG_STRING, NULL, 5,
		  "origin size (default: the trace's highest byte, rounded "
		  "up to a block)", "BYTES" },
		{ "policy", 0, POPT_ARG_STRING, NULL, 6,
		  "smq, mq, cleaner, lru, fifo, random, arc, 2q, mq-2012",
		  "LIST" },
		{ "io-mode", 0, POPT_ARG_STRING, NULL, 7,
		  "writeback (default), writethrough or passthrough", "MODE" },
		{ "jobs", 'j', POPT_ARG_STRING, NULL, 8,
		  "worker processes (default: the online CPUs)", "N" },
		{ "csv", 0, POPT_ARG_STRING, NULL, 9,
		  "where the CSV goes (default standard output)", "FILE" },
		{ "plot", 0, POPT_ARG_STRING, NULL, 10,
		  "draw each policy's miss ratio by cache size as SVG",
		  "FILE.svg" },
		{ "migration-threshold", 0, POPT_ARG_STRING, NULL, 11,
		  "sectors of migration for the cache to count as idle "
		  "(default 2048)", "SECTORS" },
		{ "hz", 0, POPT_ARG_STRING, NULL, 12,
		  "jiffies per second (default 250)", "N" },
		{ "tick", 0, POPT_ARG_STRING, NULL, 13,
		  "per-bio (default) or per-second policy ticks", "MODE" },
		{ "seed", 0, POPT_ARG_STRING, NULL, 14,
		  "seed of the random policy (default 1)", "N" },
		TOOL_POPT_HELP_VERSION(&c.help, &c.version)
	};
	const struct tool_parse_spec spec = {
		.slots = slots,
		.nr_slots = sizeof(slots) / sizeof(slots[0]),
		.help = &c.help,
		.version = &c.version,
		.no_args = 1,
	};
	poptContext pc;
	int r;

	const char **av = malloc(((size_t)argc + 1) * sizeof(*av));

	if (!av) {
		tool_error("%s", strerror(ENOMEM));
		return 1;
	}
	/* popt's usage line starts with argv[0]: make it the tool's name. */
	memcpy(av, argv, (size_t)argc * sizeof(*av));
	av[0] = tool_name;
	av[argc] = NULL;
	pc = poptGetContext(tool_name, argc, av, table, 0);
	poptSetOtherOptionHelp(pc, "simulate --trace FILE --block-size LIST "
				   "--cache-size LIST --policy LIST [OPTIONS]");
	r = tool_parse(pc, &spec);
	if (r == TOOL_PARSE_RUN)
		r = simulate(&c);
	poptFreeContext(pc);
	tool_free_slots(&spec);
	free(av);
	return r;
}
