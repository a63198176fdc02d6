// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Shared tool helpers (see common.h): input opening with a message per
 * failure, XML sniffing, and lazily emptied output files.
 */
#include "tools/common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/format.h"
#include "cache/metadata_size.h"
#include "pdata/bm.h"
#include "pdata/ondisk.h"
#include "tools/tool.h"

/* Led by 0.9.0's words where it has them: scripts search for those. */
static const char *open_error_text(int err)
{
	switch (err) {
	case -EISDIR:
		return "Not a block device or regular file (a directory)";
	case -ENODEV:
		return "Not a block device or regular file";
	case -ENOENT:
		return "Couldn't stat path: No such file or directory";
	case -ENOTDIR:
		return "Couldn't stat path: Not a directory";
	case -EBUSY:
		return "device is in use (is the cache still active? "
		       "deactivate it, or dump a copy)";
	default:
		return strerror(-err);
	}
}

int tool_looks_like_xml(const char *path)
{
	unsigned char buf[256];
	ssize_t n;
	size_t i = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0)
		return 0;
	if (n >= 3 && buf[0] == 0xef && buf[1] == 0xbb && buf[2] == 0xbf)
		i = 3;
	while (i < (size_t)n && (buf[i] == ' ' || buf[i] == '\t' ||
				 buf[i] == '\n' || buf[i] == '\r'))
		i++;
	/* A tag, a declaration or a comment: '<' then a name or ?/!. */
	return i + 1 < (size_t)n && buf[i] == '<' &&
	       (buf[i + 1] == '?' || buf[i + 1] == '!' || buf[i + 1] == '_' ||
		(unsigned)((buf[i + 1] | 0x20) - 'a') < 26u);
}

void tool_error_xml_input(const char *path)
{
	tool_error("%s: This looks like XML.  %s only takes binary metadata "
		   "(cache_restore turns XML into metadata)", path, tool_name);
}

unsigned tool_io_engine(const char *path, unsigned flags)
{
	struct stat st;

	if ((flags & PD_IO_AIO) && stat(path, &st) == 0 && S_ISREG(st.st_mode))
		flags &= ~(unsigned)PD_IO_AIO;
	return flags;
}

int tool_open_metadata(const char *path, unsigned flags, struct pd_io **out)
{
	struct pd_io *io = NULL;
	int r;

	flags = tool_io_engine(path, flags);
	r = pd_io_open(path, flags, &io);

	/* libaio unavailable: plain reads are slower but just as correct. */
	if ((r == -ENOSYS || r == -EAGAIN || r == -EINVAL) &&
	    (flags & PD_IO_AIO))
		r = pd_io_open(path, flags & ~(unsigned)PD_IO_AIO, &io);
	if (r < 0) {
		tool_error("%s: %s", path, open_error_text(r));
		return r;
	}
	if (io->size_bytes < PD_BLOCK_SIZE) {
		if (tool_looks_like_xml(path))
			tool_error_xml_input(path);
		else
			tool_error("%s: Metadata device/file too small.  Is "
				   "this binary metadata? (%llu bytes; the "
				   "superblock alone takes %u)", path,
				   (unsigned long long)io->size_bytes,
				   PD_BLOCK_SIZE);
		pd_io_destroy(io);
		return -EINVAL;
	}
	*out = io;
	return 0;
}

int tool_same_file(const struct stat *a, const struct stat *b)
{
	if (S_ISBLK(a->st_mode) && S_ISBLK(b->st_mode))
		return a->st_rdev == b->st_rdev;
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

int tool_refuse_input(const char *output, const char *input,
		      const struct stat *in)
{
	struct stat in_st, out_st;

	if (!in) {
		if (!input || stat(input, &in_st) < 0)
			return 0;
		in = &in_st;
	}
	if (stat(output, &out_st) < 0 || !tool_same_file(in, &out_st))
		return 0;
	tool_error("%s: the output is the input (%s); refusing to overwrite "
		   "it", output, input);
	return -EEXIST;
}

int tool_output_open(struct tool_output *o, const char *path,
		     const char *input)
{
	memset(o, 0, sizeof(*o));
	if (!path || !strcmp(path, "-")) {
		o->path = "standard output";
		o->fd = STDOUT_FILENO;
		o->is_stdout = 1;
		return 0;
	}
	o->path = path;
	/* Writing the dump over its own input would destroy the input. */
	if (tool_refuse_input(path, input, NULL) < 0)
		return -EEXIST;
	o->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (o->fd >= 0) {
		o->created = 1;
		return 0;
	}
	if (errno == EEXIST)
		o->fd = open(path, O_WRONLY | O_CLOEXEC);
	if (o->fd < 0) {
		int err = -errno;

		tool_error("%s: cannot open for writing: %s", path,
			   strerror(-err));
		return err;
	}
	return 0;
}

int tool_output_start_with(struct tool_output *o, int (*empty)(void *),
			   void *ctx)
{
	struct stat st;
	int err = 0;

	if (o->started)
		return 0;
	o->started = 1;
	if (o->is_stdout || o->created)
		return 0;
	if (fstat(o->fd, &st) || !S_ISREG(st.st_mode))
		return 0;
	if (empty)
		err = empty(ctx);
	else if (ftruncate(o->fd, 0) < 0)
		err = -errno;
	if (err < 0)
		tool_error("%s: cannot truncate: %s", o->path, strerror(-err));
	return err;
}

int tool_output_start(struct tool_output *o)
{
	return tool_output_start_with(o, NULL, NULL);
}

int tool_output_close(struct tool_output *o)
{
	int r = 0;

	if (o->is_stdout || o->fd < 0)
		return 0;
	if (close(o->fd) < 0) {
		r = -errno;
		tool_error("%s: %s", o->path, strerror(-r));
	}
	o->fd = -1;
	return r;
}

void tool_output_abort(struct tool_output *o)
{
	if (o->is_stdout)
		return;
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	if (o->created)
		unlink(o->path);
}

static void parse_error(int bare, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void parse_error(int bare, const char *fmt, ...)
{
	va_list ap;

	if (!bare)
		fprintf(stderr, "%s: ", tool_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int tool_parse(poptContext pc, const struct tool_parse_spec *spec)
{
	int rc;

	while ((rc = poptGetNextOpt(pc)) > 0) {
		if ((size_t)rc < spec->nr_slots && spec->slots[rc]) {
			free(*spec->slots[rc]);
			*spec->slots[rc] = poptGetOptArg(pc);
		}
	}
	if (rc < -1) {
		parse_error(spec->bare, "%s: %s",
			    poptBadOption(pc, POPT_BADOPTION_NOALIAS),
			    poptStrerror(rc));
		poptPrintUsage(pc, stderr, 0);
		return 1;
	}
	if (*spec->help) {
		poptPrintHelp(pc, stdout, 0);
		if (spec->more_help)
			spec->more_help();
		return 0;
	}
	if (*spec->version) {
		tool_print_version();
		return 0;
	}
	if (spec->no_args && poptPeekArg(pc)) {
		parse_error(spec->bare, "unexpected argument: %s",
			    poptPeekArg(pc));
		return 1;
	}
	return TOOL_PARSE_RUN;
}

void tool_free_slots(const struct tool_parse_spec *spec)
{
	for (size_t i = 1; i < spec->nr_slots; i++)
		if (spec->slots[i]) {
			free(*spec->slots[i]);
			*spec->slots[i] = NULL;
		}
}

void tool_warn_block_size_value(uint64_t sectors)
{
	const char *why = sectors && sectors <= UINT32_MAX ?
		cache_block_size_problem((uint32_t)sectors) : NULL;

	if (why)
		tool_error("warning: the cache block size is %" PRIu64
			   " sectors: %s (the kernel takes 64 to 2097152 "
			   "sectors, a multiple of 64) and cannot use this "
			   "metadata", sectors, why);
}

const char **tool_split_optional(int argc, const char **argv, char short_name,
				 const char *long_name)
{
	const char **v = calloc((size_t)argc + 1, sizeof(*v));
	size_t ll = strlen(long_name);
	int raw = 0;

	if (!v)
		return NULL;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		int flag = 0;
		char *n;

		v[i] = a;
		if (i == 0 || raw)
			continue;
		if (!strcmp(a, "--")) {
			raw = 1;
			continue;
		}
		if (a[0] == '-' && a[1] == short_name && a[2] == '\0')
			flag = 1;
		else if (a[0] == '-' && a[1] == short_name && a[1] != '-')
			val = a + 2;
		else if (!strncmp(a, "--", 2) && !strncmp(a + 2, long_name, ll) &&
			 a[2 + ll] == '\0')
			flag = 1;
		else if (!strncmp(a, "--", 2) && !strncmp(a + 2, long_name, ll) &&
			 a[2 + ll] == '=')
			val = a + 3 + ll;
		else
			continue;
		if (asprintf(&n, "--%s-%s%s", long_name, flag ? "flag" : "value=",
			     flag ? "" : val) < 0)
			n = NULL;
		if (!n) {
			tool_free_argv(i, v, argv);
			return NULL;
		}
		v[i] = n;
	}
	return v;
}

void tool_free_argv(int argc, const char **argv, const char **orig)
{
	if (!argv)
		return;
	for (int i = 0; i < argc; i++)
		if (argv[i] != orig[i])
			free((char *)argv[i]);
	free(argv);
}

/* ---- the restores' input and output ---- */

int tool_open_xml_input(const char *path, int *fd, struct stat *st)
{
	if (!strcmp(path, "-")) {
		*fd = STDIN_FILENO;
	} else {
		/* 0.9.0's words lead: scripts search for them. */
		if (stat(path, st) < 0) {
			tool_error("%s: Couldn't stat file: %s", path,
				   strerror(errno));
			return -1;
		}
		*fd = open(path, O_RDONLY | O_CLOEXEC);
		if (*fd < 0) {
			tool_error("%s: cannot open the input: %s", path,
				   strerror(errno));
			return -1;
		}
	}
	if (fstat(*fd, st) < 0 || S_ISDIR(st->st_mode)) {
		tool_error("%s: Not a regular file (a directory, not an XML "
			   "file)", path);
		if (*fd != STDIN_FILENO)
			close(*fd);
		return -1;
	}
	return 0;
}

int tool_open_restore_output(const char *path, const char *input,
			     const struct stat *in, struct pd_io **io)
{
	struct stat st;
	int r;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			tool_error("%s: Output file does not exist (it must be "
				   "an existing file or block device, big enough "
				   "for the metadata)", path);
		else
			tool_error("%s: %s", path, strerror(errno));
		return -1;
	}
	if (tool_refuse_input(path, input, in) < 0)
		return -1;
	r = pd_io_open(path, PD_IO_WRITE | PD_IO_EXCL, io);
	switch (r) {
	case 0:
		return 0;
	case -EBUSY:
		tool_error("%s: the device is in use (mounted, or open in "
			   "device-mapper); refusing to write it", path);
		break;
	case -EISDIR:
		tool_error("%s: Not a block device or regular file (a "
			   "directory)", path);
		break;
	case -ENODEV:
		tool_error("%s: Not a block device or regular file", path);
		break;
	default:
		tool_error("%s: cannot open for writing: %s", path,
			   strerror(-r));
		break;
	}
	return -1;
}

int tool_parse_natural(const char *opt, const char *s, uint64_t max,
		       uint64_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 10);
	if (!*s || *s < '0' || *s > '9' || *end || errno || x > max) {
		tool_error("%s: not a number from 0 to %" PRIu64 ": '%s'", opt,
			   max, s);
		return -1;
	}
	*v = x;
	return 0;
}
