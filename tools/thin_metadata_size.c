// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * thin_metadata_size -b BLOCKSIZE -s POOLSIZE -m MAXTHINS [-u UNIT]
 * [-n[short|long]]: how big a thin pool's metadata device should be, with
 * 0.9.0's estimate (thin/metadata_size.h), options, output line and error
 * lines ("thin_metadata_size - block size required!"), so scripts see no
 * difference.  Where 0.9.0 is wrong this one is not: -V exits 0 (0.9.0
 * exits 1), sizes past 64 bits are refused instead of wrapping, and a bare
 * block or pool size is echoed in sectors, what it is read as, even after
 * -u (0.9.0 echoes it in the output unit).
 *
 * Exit codes: 0 printed, 1 bad usage or input, with one message line.
 */
#include <errno.h>
#include <inttypes.h>
#include <popt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thin/metadata_size.h"
#include "tools/common.h"
#include "tools/tool.h"

enum { OPT_B = 1, OPT_S, OPT_M, OPT_U, OPT_N, OPT_NV, OPT_H, OPT_V };
enum { SZ_BLOCK, SZ_POOL, SZ_THINS, NR_SZ };
enum { NUM_NONE, NUM_PLAIN, NUM_SHORT, NUM_LONG };

struct msize {
	uint64_t n[NR_SZ];
	char echo[NR_SZ][64];	/* what the output line repeats */
	int unit;		/* output unit */
	int numeric;
};

static int fail(const char *what)
{
	fprintf(stderr, "%s - %s\n", tool_name, what);
	return 1;
}

static void help_line(const char *opt, const char *arg, int units,
		      int mandatory, const char *text)
{
	char buf[80];

	snprintf(buf, sizeof(buf), "%s%s%s%s", arg,
		 units ? (mandatory ? "{" : "[") : "",
		 units ? "bskKmMgGtTpPeEzZyY" : "",
		 units ? (mandatory ? "}" : "]") : "");
	printf("\t%-4s%-44s%s\n", opt, buf, text);
}

static void help(void)
{
	printf("Thin Provisioning Metadata Device Size Calculator.\n"
	       "Usage: %s [options]\n", tool_name);
	help_line("-b", "--block-size BLOCKSIZE", 1, 0,
		  "Block size of thin provisioned devices.");
	help_line("-s", "--pool-size SIZE", 1, 0, "Size of pool device.");
	help_line("-m", "--max-thins #MAXTHINS", 1, 0,
		  "Maximum sum of all thin devices and snapshots.");
	help_line("-u", "--unit ", 1, 1, "Output unit specifier.");
	help_line("-n", "--numeric-only [short|long]", 0, 0,
		  "Output numeric value only (optionally with short/long "
		  "unit identifier).");
	help_line("-h", "--help", 0, 0, "This help.");
	help_line("-V", "--version", 0, 0, "Print the version.");
}

static int take_size(struct msize *m, int which, const char *arg)
{
	unsigned digits;
	int unit, r;

	if (m->n[which])
		return fail("option already given!");
	r = thin_msize_parse(arg, which == SZ_THINS, &m->n[which], &unit,
			     &digits);
	if (r == -EINVAL)
		return fail("Invalid unit specifier!");
	if (r == -ERANGE)
		return fail("size too large (more than 64 bits)");
	if (digits > 40)
		digits = 40;
	if (which == SZ_THINS && unit < 0)
		snprintf(m->echo[which], sizeof(m->echo[which]), "%.*s",
			 (int)digits, arg);
	else
		snprintf(m->echo[which], sizeof(m->echo[which]), "%.*s%s",
			 (int)digits, arg,
			 thin_msize_unit_name(unit < 0 ? THIN_MSIZE_SECTORS
						       : unit));
	return 0;
}

static int take_numeric(struct msize *m, const char *arg)
{
	size_t len;

	if (m->numeric != NUM_NONE)
		return fail("-n already given!");
	m->numeric = NUM_PLAIN;
	if (!arg)
		return 0;
	len = strlen(arg);
	if (len && !strncmp("long", arg, len))
		m->numeric = NUM_LONG;
	else if (len && !strncmp("short", arg, len))
		m->numeric = NUM_SHORT;
	else
		return fail("-n invalid option argument");
	return 0;
}

static void print_result(const struct msize *m)
{
	double r = thin_msize_estimate_blocks(m->n[SZ_POOL], m->n[SZ_BLOCK],
					      m->n[SZ_THINS]);
	double whole;

	r = r * 4096 / thin_msize_unit_bytes(m->unit);
	/* floor() without libm: past 2^53 every double is whole. */
	whole = r < 9007199254740992.0 ? (double)(uint64_t)r : r;
	if (m->numeric == NUM_NONE)
		printf("%s - ", tool_name);
	if (r == whole && r < 18446744073709551616.0)
		printf("%llu", (unsigned long long)r);
	else if (r == whole)
		printf("%.0f", r);
	else
		printf(r - whole < 1E-2 ? "%0.2e" : "%0.2f", r);
	if (m->numeric == NUM_NONE)
		printf(" %s estimated metadata area size for \"--block-size=%s "
		       "--pool-size=%s --max-thins=%s\"",
		       thin_msize_unit_name(m->unit), m->echo[SZ_BLOCK],
		       m->echo[SZ_POOL], m->echo[SZ_THINS]);
	else if (m->numeric == NUM_SHORT)
		printf("%c", thin_msize_unit_char(m->unit));
	else if (m->numeric == NUM_LONG)
		printf("%s", thin_msize_unit_name(m->unit));
	putchar('\n');
}

int cmd_thin_metadata_size(int argc, const char **argv)
{
	struct msize m = { .unit = THIN_MSIZE_SECTORS };
	struct poptOption table[] = {
		{ "block-size", 'b', POPT_ARG_STRING, NULL, OPT_B, NULL, NULL },
		{ "pool-size", 's', POPT_ARG_STRING, NULL, OPT_S, NULL, NULL },
		{ "max-thins", 'm', POPT_ARG_STRING, NULL, OPT_M, NULL, NULL },
		{ "unit", 'u', POPT_ARG_STRING, NULL, OPT_U, NULL, NULL },
		{ "numeric-only-flag", 'n', POPT_ARG_NONE, NULL, OPT_N, NULL,
		  NULL },
		{ "numeric-only-value", 0, POPT_ARG_STRING, NULL, OPT_NV, NULL,
		  NULL },
		{ "help", 'h', POPT_ARG_NONE, NULL, OPT_H, NULL, NULL },
		{ "version", 'V', POPT_ARG_NONE, NULL, OPT_V, NULL, NULL },
		POPT_TABLEEND
	};
	const char **args;
	poptContext pc;
	int rc, r = 0;

	args = tool_split_optional(argc, argv, 'n', "numeric-only");
	if (!args)
		return fail("out of memory");
	pc = poptGetContext(tool_name, argc, args, table, 0);
	while (!r && (rc = poptGetNextOpt(pc)) > 0) {
		char *a = poptGetOptArg(pc);

		switch (rc) {
		case OPT_B:
			r = take_size(&m, SZ_BLOCK, a);
			break;
		case OPT_S:
			r = take_size(&m, SZ_POOL, a);
			break;
		case OPT_M:
			r = take_size(&m, SZ_THINS, a);
			break;
		case OPT_U:
			m.unit = thin_msize_unit(a);
			if (m.unit < 0)
				r = fail("output unit specifier invalid!");
			break;
		case OPT_N:
		case OPT_NV:
			r = take_numeric(&m, rc == OPT_NV ? a : NULL);
			break;
		case OPT_H:
			help();
			r = -1;
			break;
		case OPT_V:
			tool_print_version();
			r = -1;
			break;
		}
		free(a);
	}
	if (r) {
		r = r < 0 ? 0 : r;
		goto out;
	}
	if (rc < -1) {
		fprintf(stderr, "%s: %s: %s\n", tool_name,
			poptBadOption(pc, POPT_BADOPTION_NOALIAS),
			poptStrerror(rc));
		r = 1;
		goto out;
	}
	if (poptPeekArg(pc)) {
		fprintf(stderr, "%s: unexpected argument: %s\n", tool_name,
			poptPeekArg(pc));
		r = 1;
		goto out;
	}
	if (!m.n[SZ_BLOCK])
		r = fail("block size required!");
	else if (!m.n[SZ_POOL])
		r = fail("pool size required!");
	else if (!m.n[SZ_THINS])
		r = fail("max thins required!");
	else if (m.n[SZ_BLOCK] & (m.n[SZ_BLOCK] - 1))
		r = fail("block size must be 2^^N");
	else if (m.n[SZ_POOL] <= m.n[SZ_BLOCK])
		r = fail("pool size must be larger than block size");
	else
		print_result(&m);
out:
	poptFreeContext(pc);
	tool_free_argv(argc, args, argv);
	return r;
}
