// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * A standalone main for a fuzz harness, so that `make check` replays the
 * seeds and saved findings with gcc and ASan/UBSan and without libFuzzer:
 *
 *	build/san/fuzz/NAME FILE|DIR...
 *
 * Each file (each regular file of a directory, in name order, but for the
 * crash logs, NAME.log, run.sh keeps beside a finding; gzip files are read
 * decompressed) is passed once to LLVMFuzzerTestOneInput.  A
 * sanitizer report or a finding aborts the run, with the file's name
 * printed first; otherwise it prints how many inputs passed and exits 0.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "tests/fuzz/fuzz_lib.h"

/* The largest input replayed: more than any harness reads. */
#define REPLAY_MAX (64u << 20)

static int run_file(const char *path)
{
	gzFile f = gzopen(path, "rb");
	unsigned char *buf;
	int n;

	if (!f) {
		fprintf(stderr, "%s: cannot open\n", path);
		return -1;
	}
	buf = malloc(REPLAY_MAX);
	if (!buf) {
		gzclose(f);
		return -1;
	}
	n = gzread(f, buf, REPLAY_MAX);
	gzclose(f);
	if (n < 0) {
		fprintf(stderr, "%s: cannot read\n", path);
		free(buf);
		return -1;
	}
	fprintf(stderr, "replay %s\n", path);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

static int is_log(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && !strcmp(name + n - 4, ".log");
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
	unsigned long done = 0;
	int i, r = 0;

	for (i = 1; i < argc; i++) {
		struct dirent **names;
		struct stat st;
		int n, j;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: not found\n", argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) < 0)
				return 1;
			done++;
			continue;
		}
		n = scandir(argv[i], &names, NULL, by_name);
		if (n < 0)
			return 1;
		for (j = 0; j < n; j++) {
			char path[4096];

			snprintf(path, sizeof(path), "%s/%s", argv[i],
				 names[j]->d_name);
			if (!r && names[j]->d_name[0] != '.' &&
			    !is_log(names[j]->d_name) &&
			    stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (run_file(path) < 0)
					r = 1;
				else
					done++;
			}
			free(names[j]);
		}
		free(names);
		if (r)
			return r;
	}
	printf("%s: %lu inputs, no finding\n", argv[0], done);
	return 0;
}
