// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_metadata_size: how big a metadata device a cache needs.
 *
 * The default output is the reference tools' ("8248 sectors"), with their
 * error lines, so scripts and LVM see no difference.  On top of that, the
 * 1.x size units (--device-size 10G, -u/--unit, -n/--numeric-only), and
 * --exact, which adds the number of blocks a fresh cache_restore of that
 * many cache blocks allocates.  Unlike 0.9.0 it rejects sizes that do not
 * fit in 64 bits (which wrapped) and, as the newer reference does, a block
 * size the kernel cannot use (0 crashed 0.9.0; 100 gave a size for a cache
 * that cannot exist).
 */
#include <errno.h>
#include <inttypes.h>
#include <popt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/metadata_size.h"
#include "pdata/ondisk.h"
#include "tools/common.h"
#include "tools/tool.h"

struct msize_opts {
	/* popt hands these out malloc'd; the last of a repeated one wins. */
	char *nr_blocks;
	char *device_size;
	char *block_size;
	char *hint_width;
	char *unit;
	char *version;
	int numeric_only;
	int exact;
	int help;
	int show_version;
};

/* Messages go out bare, as the reference prints them. */
static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void print_size(uint64_t sectors, const struct cache_size_unit *unit,
		       int numeric_only, const char *suffix)
{
	uint64_t whole;
	unsigned hundredths;
	int exact;

	cache_size_in_unit(sectors, unit, &whole, &hundredths, &exact);
	if (exact)
		printf("%" PRIu64, whole);
	else
		printf("%" PRIu64 ".%02u", whole, hundredths);
	if (!numeric_only)
		printf(" %ss%s", unit->name, suffix ? suffix : "");
	putchar('\n');
}

/* A bare number is in sectors, as in 0.9.0. */
static int parse_size(const char *opt, const char *s, uint64_t *bytes)
{
	int r = cache_size_parse(s, 512, bytes);

	if (r == -ERANGE)
		msg("%s is too large: %s", opt, s);
	else if (r < 0)
		msg("Invalid size for %s: '%s' (a number of sectors, or a "
		    "number with a unit such as 512k or 10g)", opt, s);
	return r;
}

static int parse_number(const char *opt, const char *s, uint64_t max,
			uint64_t *out)
{
	int r = cache_size_parse_u64(s, out);

	if (r == -EINVAL) {
		msg("Invalid number for %s: '%s'", opt, s);
		return r;
	}
	if (r < 0 || *out > max) {
		msg("%s must be at most %" PRIu64 ": %s", opt, max, s);
		return -ERANGE;
	}
	return 0;
}

/* Works out N from the options, as 0.9.0 does; 0 or 1 (exit code). */
static int nr_blocks_from(const struct msize_opts *o, uint64_t *nr)
{
	uint64_t dev, bs, derived;
	const char *why;

	if (o->block_size && !o->device_size) {
		msg("If you specify --block-size you must also give "
		    "--device-size.");
		return 1;
	}
	if (o->device_size && !o->block_size) {
		msg("If you specify --device-size you must also give "
		    "--block-size.");
		return 1;
	}
	if (!o->device_size && !o->nr_blocks) {
		msg("Please specify either --device-size and --block-size, "
		    "or --nr-blocks.");
		return 1;
	}
	if (o->nr_blocks &&
	    parse_number("--nr-blocks", o->nr_blocks,
			 CACHE_MSIZE_MAX_NR_BLOCKS, nr) < 0)
		return 1;
	if (!o->device_size)
		return 0;

	if (parse_size("--device-size", o->device_size, &dev) < 0 ||
	    parse_size("--block-size", o->block_size, &bs) < 0)
		return 1;
	/* In sectors; a part sector fails the multiple-of-64 rule too. */
	why = cache_block_size_problem(bs % 512 ? 1 : bs / 512);
	if (why) {
		msg("%s: --block-size %s (the kernel takes 64 to 2097152 "
		    "sectors, a multiple of 64)", why, o->block_size);
		return 1;
	}
	/* A partial block at the end of the device cannot hold a block. */
	derived = dev / bs;
	if (o->nr_blocks && derived != *nr) {
		msg("Contradictory arguments given, --nr-blocks doesn't match "
		    "the --device-size and --block-size.");
		return 1;
	}
	if (derived > CACHE_MSIZE_MAX_NR_BLOCKS) {
		msg("--device-size / --block-size gives %" PRIu64 " cache "
		    "blocks; a cache has at most %" PRIu64, derived,
		    (uint64_t)CACHE_MSIZE_MAX_NR_BLOCKS);
		return 1;
	}
	*nr = derived;
	return 0;
}

static int run(const struct msize_opts *o)
{
	const uint64_t max_sectors =
		PD_SM_MAX_METADATA_BLOCKS * PD_SECTORS_PER_BLOCK;
	const struct cache_size_unit *unit;
	uint64_t nr = 0, width = 4, version = 2, sectors;
	struct cache_msize_exact ex;
	struct cache_msize_layout l;
	int r;

	r = nr_blocks_from(o, &nr);
	if (r)
		return r;
	if (o->hint_width &&
	    parse_number("--max-hint-width", o->hint_width, 128, &width) < 0)
		return 1;
	if (o->version && (cache_size_parse_u64(o->version, &version) < 0 ||
			   version < 1 || version > 2)) {
		msg("--metadata-version must be 1 or 2: %s", o->version);
		return 1;
	}
	if (cache_size_unit_parse(o->unit ? o->unit : "sector", &unit) < 0) {
		msg("Invalid unit for --unit: '%s' (one of b, s, k, m, g, t, "
		    "p, e, K, M, G, T, P, E)", o->unit);
		return 1;
	}

	/* Cannot overflow: N < 2^32 and W <= 128. */
	cache_msize_conservative(nr, (uint32_t)width, &sectors);
	print_size(sectors, unit, o->numeric_only, NULL);
	if (sectors > max_sectors)
		msg("warning: more than the largest metadata device the "
		    "format can address (%" PRIu64 " sectors); the rest "
		    "would go unused", max_sectors);

	if (!o->exact)
		return 0;
	l = (struct cache_msize_layout){
		.version = (uint32_t)version,
		.hint_width = (uint32_t)width,
		.nr_cache_blocks = nr,
	};
	r = cache_msize_exact(&l, &ex);
	if (r < 0) {
		msg("cannot compute the exact size: %s", strerror(-r));
		return 1;
	}
	{
		char suffix[96];

		snprintf(suffix, sizeof(suffix),
			 " exact (%" PRIu64 " metadata blocks, v%" PRIu64
			 " restore)", ex.total, version);
		print_size(ex.total * PD_SECTORS_PER_BLOCK, unit,
			   o->numeric_only, suffix);
	}
	if (!ex.fits)
		msg("warning: %" PRIu64 " blocks do not fit in the %" PRIu64
		    " blocks a metadata space map can cover", ex.total,
		    (uint64_t)PD_SM_MAX_METADATA_BLOCKS);
	return 0;
}

/* 0.9.0's help ends with this reminder. */
static void print_more_help(void)
{
	printf("\nThese all relate to the size of the fast device "
	       "(eg, SSD), rather\nthan the whole cached device.\n");
}

int cmd_cache_metadata_size(int argc, const char **argv)
{
	struct msize_opts o = { 0 };
	char **const slots[] = { NULL, &o.block_size, &o.device_size,
				 &o.nr_blocks, &o.hint_width, &o.unit,
				 &o.version };
	struct poptOption table[] = {
		{ "block-size", 0, POPT_ARG_STRING, NULL, 1,
		  "size of each cache block (sectors, or with a unit)",
		  "SIZE" },
		{ "device-size", 0, POPT_ARG_STRING, NULL, 2,
		  "size of the fast device (sectors, or with a unit)",
		  "SIZE" },
		{ "nr-blocks", 0, POPT_ARG_STRING, NULL, 3,
		  "number of cache blocks", "N" },
		{ "max-hint-width", 0, POPT_ARG_STRING, NULL, 4,
		  "bytes per policy hint (default 4)", "BYTES" },
		{ "unit", 'u', POPT_ARG_STRING, NULL, 5,
		  "output unit: b s k m g t p e (binary) K M G T P E "
		  "(decimal); default s", "UNIT" },
		{ "numeric-only", 'n', POPT_ARG_NONE, &o.numeric_only, 0,
		  "print the number without the unit", NULL },
		{ "exact", 0, POPT_ARG_NONE, &o.exact, 0,
		  "also print what a fresh restore allocates", NULL },
		{ "metadata-version", 0, POPT_ARG_STRING, NULL, 6,
		  "metadata version for --exact (1 or 2, default 2, as "
		  "cache_restore)", "V" },
		TOOL_POPT_HELP_VERSION(&o.help, &o.show_version)
	};
	const struct tool_parse_spec spec = {
		.slots = slots,
		.nr_slots = sizeof(slots) / sizeof(slots[0]),
		.help = &o.help,
		.no_args = 1,
		.version = &o.show_version,
		.more_help = print_more_help,
		.bare = 1,
	};
	poptContext pc;
	int r;

	pc = poptGetContext(tool_name, argc, argv, table, 0);
	poptSetOtherOptionHelp(pc, "[OPTIONS] {--device-size SIZE "
			       "--block-size SIZE | --nr-blocks N}");
	r = tool_parse(pc, &spec);
	if (r != TOOL_PARSE_RUN)
		goto out;
	r = run(&o);
out:
	poptFreeContext(pc);
	tool_free_slots(&spec);
	return r;
}
