// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_repair -i IN -o OUT [-q] [--xml FILE] [superblock options]:
 * salvages damaged dm-cache metadata from IN into new metadata on OUT
 * (cache/repair.h says how, and what it does with unknown dirty state).
 *
 * Order of work, so that a bad input never costs the output anything: the
 * input is opened read-only and the output is opened (it must exist) and
 * checked before anything is salvaged; the whole salvage happens in memory;
 * only then is OUT written, superblock last.  With --xml the salvaged
 * metadata is also written as XML (alone, when -o is not given).
 *
 * Exit codes: 0 the output was written (what could not be recovered is
 * reported unless -q); 1 nothing usable was written, with one line saying
 * why.  When the reader of the report or of --xml goes away early (a
 * closed pipe), repair stops before OUT is touched and is killed by
 * SIGPIPE with nothing on stderr, as 0.9.0's tools are.  LVM passes its empty cache_repair_options as an extra empty
 * argument: one such argument is accepted and ignored.
 */
#include <errno.h>
#include <inttypes.h>
#include <popt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache/repair.h"
#include "pdata/io.h"
#include "tools/common.h"
#include "tools/tool.h"
#include "xml/writer.h"

struct repair_opts {
	char *input;
	char *output;
	char *xml;
	char *policy;
	char *block_size;
	char *nr_cache_blocks;
	char *hint_width;
	char *version;
	int quiet;
	int help;
	int show_version;
};

static int parse_u64(const char *opt, const char *s, uint64_t max,
		     uint64_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	if (!s || !*s || *s == '-' || *s == '+')
		goto bad;
	x = strtoull(s, &end, 10);
	if (errno || *end || x > max)
		goto bad;
	*v = x;
	return 0;
bad:
	tool_error("%s: not a number from 0 to %" PRIu64 ": '%s'", opt, max,
		   s ? s : "");
	return -EINVAL;
}

static int parse_opts(const struct repair_opts *o, struct cache_repair_opts *ro)
{
	uint64_t v;

	memset(ro, 0, sizeof(*ro));
	if (o->block_size) {
		if (parse_u64("--block-size", o->block_size, UINT32_MAX, &v))
			return -EINVAL;
		if (!v) {
			tool_error("--block-size: must not be 0");
			return -EINVAL;
		}
		ro->have_block_size = 1;
		ro->block_size = (uint32_t)v;
	}
	if (o->nr_cache_blocks) {
		if (parse_u64("--nr-cache-blocks", o->nr_cache_blocks,
			      UINT32_MAX, &v))
			return -EINVAL;
		ro->have_nr_cache_blocks = 1;
		ro->nr_cache_blocks = v;
	}
	if (o->hint_width) {
		if (parse_u64("--hint-width", o->hint_width,
			      CACHE_MAX_HINT_SIZE, &v))
			return -EINVAL;
		if (v % 4) {
			tool_error("--hint-width: must be a multiple of 4 "
				   "from 0 to %u", CACHE_MAX_HINT_SIZE);
			return -EINVAL;
		}
		ro->have_hint_width = 1;
		ro->hint_width = (uint32_t)v;
	}
	if (o->version) {
		if (parse_u64("--metadata-version", o->version, UINT32_MAX,
			      &v))
			return -EINVAL;
		if (v < CACHE_MIN_VERSION || v > CACHE_MAX_VERSION) {
			tool_error("--metadata-version: must be %u or %u",
				   CACHE_MIN_VERSION, CACHE_MAX_VERSION);
			return -EINVAL;
		}
		ro->have_version = 1;
		ro->version = (uint32_t)v;
	}
	if (o->policy) {
		if (!*o->policy || strlen(o->policy) >= CACHE_POLICY_NAME_SIZE) {
			tool_error("--policy: a name of 1 to %u characters",
				   CACHE_POLICY_NAME_SIZE - 1);
			return -EINVAL;
		}
		ro->policy = o->policy;
	}
	return 0;
}

static const char *sb_state_text(enum cache_repair_sb_state st)
{
	switch (st) {
	case CACHE_REPAIR_SB_VALID:
		return "valid";
	case CACHE_REPAIR_SB_DAMAGED:
		return "damaged";
	case CACHE_REPAIR_SB_ZEROED:
		return "all zeroes";
	case CACHE_REPAIR_SB_UNREADABLE:
		return "unreadable";
	}
	return "unknown";
}

static int print_range(void *ctx, uint64_t begin, uint64_t end)
{
	unsigned *n = ctx;

	if (++*n > 10)
		return 1;
	if (end - begin == 1)
		printf("  cache block %" PRIu64 "\n", begin);
	else
		printf("  cache blocks %" PRIu64 "-%" PRIu64 "\n", begin,
		       end - 1);
	return 0;
}

static void print_lost(const struct cache_salvage *s, int which,
		       const char *what, uint64_t total)
{
	unsigned n = 0;

	if (!total)
		return;
	printf("%s not recovered (%" PRIu64 "):\n", what, total);
	if (cache_salvage_lost_ranges(s, which, print_range, &n))
		printf("  ... and more\n");
}

static void print_report(const struct cache_salvage *s)
{
	const struct cache_repair_report *r = cache_salvage_report(s);
	char fault[256];

	printf("superblock: %s", sb_state_text(r->sb_state));
	if (r->sb_state == CACHE_REPAIR_SB_DAMAGED && r->sb_fault.validator) {
		pd_fault_format(&r->sb_fault, fault, sizeof(fault));
		printf(" (%s)", fault);
	}
	printf("\n");
	for (int f = 0; f < CACHE_NR_FIELDS; f++) {
		if (r->source[f] == CACHE_FROM_SB && !r->why[f][0])
			continue;
		printf("  %s: ", cache_repair_field_name(f));
		switch (f) {
		case CACHE_FIELD_VERSION:
			printf("%" PRIu32, r->sb.version);
			break;
		case CACHE_FIELD_BLOCK_SIZE:
			printf("%" PRIu64, r->sb.block_size);
			break;
		case CACHE_FIELD_NR_CACHE_BLOCKS:
			printf("%" PRIu64, r->sb.nr_cache_blocks);
			break;
		case CACHE_FIELD_POLICY:
			printf("%s", r->sb.policy);
			break;
		case CACHE_FIELD_HINT_WIDTH:
			printf("%" PRIu32, r->sb.hint_width);
			break;
		case CACHE_FIELD_FLAGS:
			printf("%s", r->sb.flags & CACHE_SB_CLEAN_SHUTDOWN ?
					     "clean" :
					     "not clean");
			break;
		case CACHE_FIELD_DISCARDS:
			if (r->sb.discard_nr_blocks)
				printf("%" PRIu64 " blocks of %" PRIu64
				       " sectors", r->sb.discard_nr_blocks,
				       r->sb.discard_block_size);
			else
				printf("none");
			break;
		}
		/* Which won, and why, when the structures had a say. */
		if (r->why[f][0])
			printf(" (%s: %s)\n",
			       cache_repair_source_name(r->source[f]),
			       r->why[f]);
		else
			printf(" (%s%s)\n",
			       cache_repair_source_name(r->source[f]),
			       r->source[f] == CACHE_FROM_DEFAULT ||
					       r->source[f] == CACHE_FROM_SCAN ?
				       ", guessed" :
				       "");
	}
	if (r->leaked_dirty_bitsets == 1)
		printf("dirty bitset: found unreferenced at block %" PRIu64
		       ", its dirty bits kept\n", r->leaked_dirty_root);
	else if (r->leaked_dirty_bitsets)
		printf("dirty bitset: %" PRIu64 " unreferenced candidates "
		       "(the first at block %" PRIu64 "), their dirty bits "
		       "united\n", r->leaked_dirty_bitsets,
		       r->leaked_dirty_root);
	if (r->scanned)
		printf("scan: %" PRIu64 " array btree leaves and %" PRIu64
		       " array blocks found; %s\n",
		       r->scan_leaves, r->scan_arrays,
		       r->space_map_used ? "only blocks the space map counts "
					   "as allocated used" :
					   "no space map: every valid block "
					   "used");
	if (r->stale_ignored)
		printf("scan: %" PRIu64 " stale array block(s) ignored\n",
		       r->stale_ignored);
	printf("mappings: %" PRIu64 " recovered (%" PRIu64
	       " from the trees, %" PRIu64 " by scanning)\n",
	       r->nr_mappings, r->mappings_walked, r->mappings_scanned);
	printf("dirty: %" PRIu64 " (%" PRIu64
	       " marked dirty because their state was unknown)\n",
	       r->nr_dirty, r->dirty_assumed);
	if (r->sb.hint_width)
		printf("hints: %" PRIu64 " recovered\n", r->nr_hints);
	if (r->sb.discard_nr_blocks)
		printf("discards: %" PRIu64 " of %" PRIu64
		       " blocks discarded, %" PRIu64 " bits lost (written "
		       "as not discarded)\n",
		       r->nr_discarded, r->sb.discard_nr_blocks,
		       r->lost_discards);
	if (r->duplicates_dropped)
		printf("dropped %" PRIu64 " mapping(s) of an origin block "
		       "mapped twice\n", r->duplicates_dropped);
	if (r->past_origin)
		printf("discard geometry dropped (%" PRIu64 " blocks): %" PRIu64
		       " mapping(s) lie past the origin size it gives\n",
		       r->discards_dropped, r->past_origin);
	if (r->bad_flags)
		printf("%" PRIu64 " mapping(s) had unknown flags: kept, "
		       "marked dirty\n", r->bad_flags);
	print_lost(s, 0, "mappings", r->lost_mappings);
	print_lost(s, 1, "hints of mapped blocks", r->lost_hints);
	if (!(r->sb.flags & CACHE_SB_CLEAN_SHUTDOWN))
		printf("note: written without the clean-shutdown flag: the "
		       "kernel treats every mapping as dirty\n");
}

static int write_xml(const struct cache_salvage *s, const char *path,
		     const char *input)
{
	struct tool_output out;
	struct xml_writer *w = NULL;
	struct cache_emitter e;
	int r;

	r = tool_output_open(&out, path, input);
	if (r < 0)
		return r;
	r = tool_output_start(&out);
	if (r < 0)
		goto out_abort;
	r = xml_writer_create(out.fd, &w);
	if (r < 0) {
		tool_error("out of memory");
		goto out_abort;
	}
	xml_writer_emitter(w, &e);
	r = cache_salvage_emit(s, &e);
	if (!r)
		r = xml_writer_flush(w);
	xml_writer_destroy(w);
	if (r == -EPIPE) {
		/* Nothing is on OUT yet: end as a closed pipe ends 0.9.0. */
		tool_output_abort(&out);
		tool_die_of_sigpipe();
	}
	if (r < 0) {
		tool_error("%s: cannot write: %s", out.path, strerror(-r));
		goto out_abort;
	}
	return tool_output_close(&out);

out_abort:
	tool_output_abort(&out);
	return r < 0 ? r : -EIO;
}

/* The output must exist and be writable (run() refused the input). */
static int open_output(const char *path, struct pd_io **io)
{
	struct stat a;
	int r;

	if (stat(path, &a) < 0) {
		if (errno == ENOENT)
			tool_error("%s: Output file does not exist (create it, "
				   "e.g. with truncate or lvcreate, first)", path);
		else
			tool_error("%s: %s", path, strerror(errno));
		return -errno;
	}
	r = pd_io_open(path, PD_IO_WRITE | PD_IO_EXCL, io);
	if (r == -EBUSY) {
		tool_error("%s: device is in use (is a cache active on it?); "
			   "refusing to write it", path);
		return r;
	}
	if (r == -EISDIR || r == -ENODEV) {
		tool_error("%s: Not a block device or regular file%s", path,
			   r == -EISDIR ? " (a directory)" : "");
		return r;
	}
	if (r < 0) {
		tool_error("%s: cannot open for writing: %s", path,
			   pd_strerror(r));
		return r;
	}
	if ((*io)->nr_blocks < 2) {
		tool_error("%s: Output file too small (%" PRIu64 " bytes)",
			   path, (*io)->size_bytes);
		pd_io_destroy(*io);
		*io = NULL;
		return -ENOSPC;
	}
	return 0;
}

static int run(const struct repair_opts *o)
{
	struct cache_repair_opts ro;
	struct cache_salvage *s = NULL;
	struct pd_io *in = NULL, *out = NULL;
	unsigned in_flags = PD_IO_AIO;
	struct stat st;
	int r;

	/*
	 * The aio engine only for a block device: a regular file is read
	 * through the page cache, where Linux aio does each read inside
	 * io_submit anyway, and tearing its context down (io_destroy) cost
	 * 30 ms of wall time, a quarter of a 1M-block repair.  The sync
	 * engine reads a contiguous batch with one preadv.
	 */
	if (!stat(o->input, &st) && S_ISREG(st.st_mode))
		in_flags = 0;
	r = parse_opts(o, &ro);
	if (r)
		return 1;
	/* Repair writes new metadata to another device, never its input. */
	if (o->output && tool_refuse_input(o->output, o->input, NULL) < 0)
		return 1;
	r = tool_open_metadata(o->input, PD_IO_RDONLY | PD_IO_EXCL | in_flags,
			       &in);
	if (r < 0)
		return 1;
	if (o->output) {
		r = open_output(o->output, &out);
		if (r < 0)
			goto out_in;
	}

	if (out)
		ro.out_blocks = out->nr_blocks;
	r = cache_repair_salvage(in, &ro, &s);
	if (r < 0 && tool_looks_like_xml(o->input)) {
		tool_error_xml_input(o->input);
		goto out_fail;
	}
	if (r == -EINVAL && s && cache_salvage_missing(s)) {
		const struct cache_repair_report *rep = cache_salvage_report(s);

		if (rep->missing_field == CACHE_FIELD_BLOCK_SIZE)
			tool_error("%s: the superblock is %s and its %s cannot "
				   "be recovered: give it with %s",
				   o->input, sb_state_text(rep->sb_state),
				   cache_repair_field_name(rep->missing_field),
				   cache_salvage_missing(s));
		else
			tool_error("%s: the superblock is %s and no mapping "
				   "array was found: the number of %s cannot "
				   "be recovered: give it with %s",
				   o->input, sb_state_text(rep->sb_state),
				   cache_repair_field_name(rep->missing_field),
				   cache_salvage_missing(s));
		goto out_fail;
	}
	if (r < 0) {
		tool_error("%s: salvage failed: %s", o->input, pd_strerror(r));
		goto out_fail;
	}
	if (!o->quiet)
		print_report(s);
	/* A lost report stops the repair before OUT is touched. */
	if (tool_flush_stdout() < 0)
		goto out_fail;

	if (o->xml) {
		signal(SIGPIPE, SIG_IGN);
		r = write_xml(s, o->xml, o->input);
		if (r < 0)
			goto out_fail;
	}
	if (out) {
		char msg[256];

		r = cache_repair_write(s, out, msg, sizeof(msg));
		if (r == -ENOSPC) {
			tool_error("%s: Output file too small: %s", o->output,
				   *msg ? msg : pd_strerror(r));
			goto out_fail;
		}
		if (r < 0) {
			tool_error("%s: writing the repaired metadata failed: "
				   "%s", o->output, *msg ? msg : pd_strerror(r));
			goto out_fail;
		}
	}
	r = 0;
	goto out_salvage;

out_fail:
	r = 1;
out_salvage:
	cache_salvage_destroy(s);
	pd_io_destroy(out);
out_in:
	pd_io_destroy(in);
	return r ? 1 : 0;
}

int cmd_cache_repair(int argc, const char **argv)
{
	struct repair_opts o = { 0 };
	struct poptOption table[] = {
		{ "input", 'i', POPT_ARG_STRING, &o.input, 0,
		  "the damaged metadata (opened read-only)", "FILE" },
		{ "output", 'o', POPT_ARG_STRING, &o.output, 0,
		  "where to write the repaired metadata (must exist)",
		  "FILE" },
		{ "xml", 0, POPT_ARG_STRING, &o.xml, 0,
		  "also write what was salvaged as XML ('-': standard output)",
		  "FILE" },
		{ "block-size", 0, POPT_ARG_STRING, &o.block_size, 0,
		  "cache block size in sectors, if the superblock is lost",
		  "SECTORS" },
		{ "nr-cache-blocks", 0, POPT_ARG_STRING, &o.nr_cache_blocks, 0,
		  "number of cache blocks, if the superblock is lost", "N" },
		{ "policy", 0, POPT_ARG_STRING, &o.policy, 0,
		  "policy name, if the superblock is lost", "NAME" },
		{ "metadata-version", 0, POPT_ARG_STRING, &o.version, 0,
		  "metadata version 1 or 2, if the superblock is lost", "V" },
		{ "hint-width", 0, POPT_ARG_STRING, &o.hint_width, 0,
		  "hint width in bytes, if the superblock is lost", "BYTES" },
		{ "quiet", 'q', POPT_ARG_NONE, &o.quiet, 0,
		  "do not report what was recovered", NULL },
		TOOL_POPT_HELP_VERSION(&o.help, &o.show_version)
	};
	const char *extra;
	const struct tool_parse_spec spec = {
		.help = &o.help,
		.version = &o.show_version,
	};
	poptContext pc;
	int r;

	pc = poptGetContext(tool_name, argc, argv, table, 0);
	poptSetOtherOptionHelp(pc, "-i INPUT {-o OUTPUT | --xml FILE} "
				   "[OPTIONS]");
	r = tool_parse(pc, &spec);
	if (r != TOOL_PARSE_RUN)
		goto out;
	/* LVM's empty cache_repair_options arrives as one "" argument. */
	extra = poptGetArg(pc);
	if (extra && *extra) {
		tool_error("unexpected argument: %s", extra);
		r = 1;
		goto out;
	}
	if (poptPeekArg(pc)) {
		tool_error("unexpected argument: %s", poptPeekArg(pc));
		r = 1;
		goto out;
	}
	if (!o.input) {
		tool_error("No input file provided (-i)");
		poptPrintUsage(pc, stderr, 0);
		r = 1;
		goto out;
	}
	if (!o.output && !o.xml) {
		tool_error("No output file provided (-o, or --xml)");
		poptPrintUsage(pc, stderr, 0);
		r = 1;
		goto out;
	}
	r = run(&o);
out:
	poptFreeContext(pc);
	free(o.input);
	free(o.output);
	free(o.xml);
	free(o.policy);
	free(o.block_size);
	free(o.nr_cache_blocks);
	free(o.hint_width);
	free(o.version);
	return r;
}
