// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * gen_thin_xml: writes thin-pool metadata XML in the form thin_restore
 * 0.9.0 reads, deterministically from a seed, for tests and benchmarks:
 * origins with mappings in runs (consecutive virtual and data blocks,
 * broken by gaps, data jumps and time changes), and snapshots of the first
 * origin that share most of its data blocks and have diverged on a few.
 * Every mapping is written as a <single_mapping>: merging runs is the
 * dumps' job, which is what the tests compare.
 *
 * gen_thin_xml [--origins N] [--mappings M] [--snapshots S] [--seed X]
 *              [--run LEN] [--time T] [--transaction ID] [--block-size B]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* splitmix64: fast, and the same on every machine */
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

struct map {
	uint64_t v, d;
	uint32_t t;
};

static void usage(void)
{
	fprintf(stderr, "usage: gen_thin_xml [--origins N] [--mappings M] "
			"[--snapshots S] [--seed X] [--run LEN] [--time T] "
			"[--transaction ID] [--block-size B]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t origins = 1, mappings = 100, snaps = 0, run = 8, seed = 1;
	uint64_t time = 3, tid = 1, bs = 128, next = 0, nr_data;
	struct map **m;
	uint64_t *nm;

	for (int i = 1; i < argc; i++) {
		uint64_t *dst = NULL;

		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--origins"))
			dst = &origins;
		else if (!strcmp(argv[i], "--mappings"))
			dst = &mappings;
		else if (!strcmp(argv[i], "--snapshots"))
			dst = &snaps;
		else if (!strcmp(argv[i], "--seed"))
			dst = &seed;
		else if (!strcmp(argv[i], "--run"))
			dst = &run;
		else if (!strcmp(argv[i], "--time"))
			dst = &time;
		else if (!strcmp(argv[i], "--transaction"))
			dst = &tid;
		else if (!strcmp(argv[i], "--block-size"))
			dst = &bs;
		else
			usage();
		*dst = strtoull(argv[++i], NULL, 0);
	}
	if (!run)
		run = 1;
	if (snaps && !origins)
		usage();
	rng_state = seed;
	m = calloc(origins + snaps + 1, sizeof(*m));
	nm = calloc(origins + snaps + 1, sizeof(*nm));
	if (!m || !nm)
		return 1;

	for (uint64_t o = 0; o < origins; o++) {
		uint64_t v = rng() % 4, d = next;
		uint32_t t = (uint32_t)(rng() % (time + 1));

		m[o] = malloc((mappings + 1) * sizeof(**m));
		if (!m[o])
			return 1;
		for (uint64_t i = 0; i < mappings; i++) {
			/* On average a break every `run` mappings. */
			if (rng() % run == 0) {
				switch (rng() % 3) {
				case 0:
					v += 1 + rng() % 50;
					break;
				case 1:
					d += 1 + rng() % 50;
					break;
				default:
					t = (uint32_t)(rng() % (time + 1));
				}
			}
			m[o][i] = (struct map){ v, d, t };
			v++;
			d++;
		}
		next = d + rng() % 100;
	}
	for (uint64_t s = 0; s < snaps; s++) {
		uint64_t k = origins + s;

		m[k] = malloc((mappings + 1) * sizeof(**m));
		if (!m[k])
			return 1;
		for (uint64_t i = 0; i < mappings; i++) {
			m[k][i] = m[0][i];
			/* One in ten diverged since the snapshot. */
			if (rng() % 10 == 0) {
				m[k][i].d = next++;
				m[k][i].t = (uint32_t)time;
			}
		}
	}
	nr_data = next + 1000;

	printf("<superblock uuid=\"\" time=\"%" PRIu64 "\" transaction=\"%"
	       PRIu64 "\" flags=\"0\" version=\"2\" data_block_size=\"%" PRIu64
	       "\" nr_data_blocks=\"%" PRIu64 "\">\n", time, tid, bs, nr_data);
	for (uint64_t k = 0; k < origins + snaps; k++) {
		uint64_t id = k * 3 + 1;
		uint32_t snap_time = snaps && (k == 0 || k >= origins) ?
					     (uint32_t)time : 0;

		printf("  <device dev_id=\"%" PRIu64 "\" mapped_blocks=\"%" PRIu64
		       "\" transaction=\"%" PRIu64 "\" creation_time=\"%u\" "
		       "snap_time=\"%u\">\n", id, mappings, k < tid ? k : tid,
		       k >= origins ? (unsigned)time : 0u, snap_time);
		for (uint64_t i = 0; i < mappings; i++)
			printf("    <single_mapping origin_block=\"%" PRIu64
			       "\" data_block=\"%" PRIu64 "\" time=\"%u\"/>\n",
			       m[k][i].v, m[k][i].d, m[k][i].t);
		printf("  </device>\n");
		free(m[k]);
	}
	printf("</superblock>\n");
	free(m);
	free(nm);
	return 0;
}
