// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * wb_stamp: fills data device images with blocks whose content says what
 * they are, and checks an origin image after a writeback, for the
 * cache_writeback tests.
 *
 *   wb_stamp fill FILE --block-bytes B --blocks N --seed S [--offset BYTES]
 *	Writes N blocks of B bytes after BYTES of offset.  Block i starts
 *	with a 32-byte header (tag "WBSTAMP1", seed, index, a checksum of
 *	the rest) followed by bytes from a generator seeded with (S, i), so
 *	any block can be told from any other.  The offset area is filled
 *	like a block of index 2^64-1.
 *
 *   wb_stamp check FILE --block-bytes B --blocks N --seed S
 *		    --fast-seed F --map MAPFILE [--offset BYTES]
 *	MAPFILE has lines "CBLOCK OBLOCK": origin block OBLOCK must now
 *	hold fast block CBLOCK (seed F); every other origin block, and the
 *	offset area, must still hold its own stamp (seed S).  Prints one
 *	line per wrong block, naming what it holds instead, and a summary
 *	"ok: N copied, M untouched"; exit 0 when all match, 1 when not,
 *	2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG "WBSTAMP1"
#define HDR 32u
#define OFFSET_INDEX UINT64_MAX

struct args {
	const char *cmd, *file, *map;
	uint64_t block_bytes, blocks, seed, fast_seed, offset;
	int have_fast_seed;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void stamp(unsigned char *b, uint64_t len, uint64_t seed,
		  uint64_t index)
{
	uint64_t s = mix(seed * 0x9e3779b97f4a7c15ull ^ mix(index + 1));
	uint64_t sum = 0;

	for (uint64_t i = HDR; i < len; i += 8) {
		uint64_t v;

		s += 0x9e3779b97f4a7c15ull;
		v = mix(s);
		memcpy(b + i, &v, len - i < 8 ? len - i : 8);
		sum = mix(sum ^ v);
	}
	memset(b, 0, HDR < len ? HDR : len);
	if (len >= HDR) {
		memcpy(b, TAG, 8);
		memcpy(b + 8, &seed, 8);
		memcpy(b + 16, &index, 8);
		memcpy(b + 24, &sum, 8);
	}
}

/* What a block claims to be; 0 when it is no intact stamp. */
static int identify(const unsigned char *b, uint64_t len, uint64_t *seed,
		    uint64_t *index, unsigned char *tmp)
{
	if (len < HDR || memcmp(b, TAG, 8))
		return 0;
	memcpy(seed, b + 8, 8);
	memcpy(index, b + 16, 8);
	stamp(tmp, len, *seed, *index);
	return !memcmp(tmp, b, len);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return *s && !*end && !errno ? 0 : -1;
}

static int parse(int argc, char **argv, struct args *a)
{
	if (argc < 3)
		return -1;
	a->cmd = argv[1];
	a->file = argv[2];
	for (int i = 3; i < argc; i += 2) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t *dst = NULL;

		if (!v)
			return -1;
		if (!strcmp(o, "--block-bytes"))
			dst = &a->block_bytes;
		else if (!strcmp(o, "--blocks"))
			dst = &a->blocks;
		else if (!strcmp(o, "--seed"))
			dst = &a->seed;
		else if (!strcmp(o, "--offset"))
			dst = &a->offset;
		else if (!strcmp(o, "--fast-seed")) {
			dst = &a->fast_seed;
			a->have_fast_seed = 1;
		} else if (!strcmp(o, "--map"))
			a->map = v;
		else
			return -1;
		if (dst && parse_u64(v, dst) < 0)
			return -1;
	}
	return a->block_bytes ? 0 : -1;
}

static int do_fill(const struct args *a)
{
	unsigned char *b = malloc(a->block_bytes);
	FILE *f = fopen(a->file, "r+b");
	int rc = 1;

	if (!f)
		f = fopen(a->file, "w+b");
	if (!b || !f) {
		perror(a->file);
		goto out;
	}
	for (uint64_t done = 0; done < a->offset;) {
		uint64_t n = a->offset - done < a->block_bytes ?
			     a->offset - done : a->block_bytes;

		stamp(b, a->block_bytes, a->seed, OFFSET_INDEX);
		if (fwrite(b, 1, n, f) != n)
			goto out_io;
		done += n;
	}
	for (uint64_t i = 0; i < a->blocks; i++) {
		stamp(b, a->block_bytes, a->seed, i);
		if (fwrite(b, 1, a->block_bytes, f) != a->block_bytes)
			goto out_io;
	}
	if (fflush(f) == 0) {
		rc = 0;
		goto out;
	}
out_io:
	perror(a->file);
out:
	if (f)
		fclose(f);
	free(b);
	return rc;
}

static void describe(char *buf, size_t len, const unsigned char *blk,
		     uint64_t bytes, const struct args *a, unsigned char *tmp)
{
	uint64_t seed, index;

	if (!identify(blk, bytes, &seed, &index, tmp))
		snprintf(buf, len, "something else (no intact stamp)");
	else if (index == OFFSET_INDEX)
		snprintf(buf, len, "offset filler of seed %" PRIu64, seed);
	else if (a->have_fast_seed && seed == a->fast_seed)
		snprintf(buf, len, "fast block %" PRIu64, index);
	else if (seed == a->seed)
		snprintf(buf, len, "origin block %" PRIu64, index);
	else
		snprintf(buf, len, "block %" PRIu64 " of seed %" PRIu64, index,
			 seed);
}

static int do_check(const struct args *a)
{
	uint64_t *want = NULL, bb = a->block_bytes, copied = 0, kept = 0;
	unsigned char *blk = malloc(bb), *exp = malloc(bb), *tmp = malloc(bb);
	uint64_t c, o, bad = 0;
	FILE *f = fopen(a->file, "rb"), *m = NULL;
	char what[96];
	int rc = 2;

	want = calloc(a->blocks ? a->blocks : 1, sizeof(*want));
	if (!blk || !exp || !tmp || !want || !f || !a->map) {
		fprintf(stderr, "wb_stamp: cannot start the check\n");
		goto out;
	}
	m = fopen(a->map, "r");
	if (!m) {
		perror(a->map);
		goto out;
	}
	/* want[o] = 1 + the fast block origin block o must hold. */
	while (fscanf(m, "%" SCNu64 " %" SCNu64, &c, &o) == 2) {
		if (o >= a->blocks) {
			fprintf(stderr, "wb_stamp: origin block %" PRIu64
				" past --blocks\n", o);
			goto out;
		}
		want[o] = c + 1;
	}
	rc = 1;
	for (uint64_t done = 0; done < a->offset;) {
		uint64_t n = a->offset - done < bb ? a->offset - done : bb;

		stamp(exp, bb, a->seed, OFFSET_INDEX);
		if (fread(blk, 1, n, f) != n || memcmp(blk, exp, n)) {
			printf("offset area at byte %" PRIu64 " changed\n",
			       done);
			bad++;
		}
		done += n;
	}
	for (o = 0; o < a->blocks; o++) {
		if (fread(blk, 1, bb, f) != bb) {
			printf("origin block %" PRIu64 ": short file\n", o);
			bad++;
			break;
		}
		if (want[o])
			stamp(exp, bb, a->fast_seed, want[o] - 1);
		else
			stamp(exp, bb, a->seed, o);
		if (!memcmp(blk, exp, bb)) {
			if (want[o])
				copied++;
			else
				kept++;
			continue;
		}
		describe(what, sizeof(what), blk, bb, a, tmp);
		if (want[o])
			printf("origin block %" PRIu64 ": expected fast block "
			       "%" PRIu64 ", holds %s\n", o, want[o] - 1, what);
		else
			printf("origin block %" PRIu64 ": expected untouched, "
			       "holds %s\n", o, what);
		bad++;
	}
	if (!bad) {
		printf("ok: %" PRIu64 " copied, %" PRIu64 " untouched\n",
		       copied, kept);
		rc = 0;
	}
out:
	if (f)
		fclose(f);
	if (m)
		fclose(m);
	free(want);
	free(blk);
	free(exp);
	free(tmp);
	return rc;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };

	if (parse(argc, argv, &a) < 0) {
		fprintf(stderr, "usage: wb_stamp fill|check FILE --block-bytes B "
				"--blocks N --seed S [--offset BYTES] "
				"[--fast-seed F --map FILE]\n");
		return 2;
	}
	if (!strcmp(a.cmd, "fill"))
		return do_fill(&a);
	if (!strcmp(a.cmd, "check") && a.have_fast_seed)
		return do_check(&a);
	fprintf(stderr, "wb_stamp: unknown command or missing --fast-seed\n");
	return 2;
}
