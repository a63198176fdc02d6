// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * gen_xml: writes cache metadata XML, deterministically from a seed, in
 * exactly the layout cache_dump prints (mappings and hints in cache-block
 * order, hints only for mapped blocks), so that restore-then-dump of its
 * output must give its output back.  For tests and benchmarks.
 *
 * gen_xml --nr-cache-blocks N [--mapped PCT] [--dirty PCT] [--hint-width W]
 *         [--block-size S] [--policy NAME] [--seed X] [--oblock-max M]
 *         [--pad-to BYTES]
 *
 * --pad-to fills the document up to BYTES with blank lines before
 * </superblock> (whitespace any reader must skip): a big input of a known
 * size for the memory-bound tests, without a big metadata device.
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

static void b64(const unsigned char *in, unsigned len, char *out)
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned i = 0;

	for (; i + 2 < len; i += 3) {
		*out++ = t[in[i] >> 2];
		*out++ = t[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*out++ = t[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		*out++ = t[in[i + 2] & 63];
	}
	if (len - i == 1) {
		*out++ = t[in[i] >> 2];
		*out++ = t[(in[i] & 3) << 4];
		*out++ = '=';
		*out++ = '=';
	} else if (len - i == 2) {
		*out++ = t[in[i] >> 2];
		*out++ = t[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*out++ = t[(in[i + 1] & 15) << 2];
		*out++ = '=';
	}
	*out = '\0';
}

static uint64_t arg_u64(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (!*s || *end) {
		fprintf(stderr, "gen_xml: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static uint64_t written;

/* printf, counting the bytes for --pad-to. */
#define out(...) (written += (uint64_t)printf(__VA_ARGS__))

/* n bytes of blank lines (lines of spaces). */
static void pad(uint64_t n)
{
	static char buf[65536];

	memset(buf, ' ', sizeof(buf));
	for (size_t i = 79; i < sizeof(buf); i += 80)
		buf[i] = '\n';
	buf[sizeof(buf) - 1] = '\n';
	while (n) {
		size_t k = n < sizeof(buf) ? (size_t)n : sizeof(buf);

		if (fwrite(buf + sizeof(buf) - k, 1, k, stdout) != k)
			exit(1);
		n -= k;
		written += k;
	}
}

int main(int argc, char **argv)
{
	uint64_t nr = 0, mapped = 100, dirty = 50, width = 4, bs = 128;
	uint64_t oblock_max = 0, pad_to = 0;
	const char *policy = "smq";
	unsigned char *used = NULL;
	uint64_t *oblocks;

	rng_state = 1;
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			fprintf(stderr, "gen_xml: %s needs a value\n", a);
			return 2;
		}
		if (!strcmp(a, "--nr-cache-blocks"))
			nr = arg_u64(v);
		else if (!strcmp(a, "--mapped"))
			mapped = arg_u64(v);
		else if (!strcmp(a, "--dirty"))
			dirty = arg_u64(v);
		else if (!strcmp(a, "--hint-width"))
			width = arg_u64(v);
		else if (!strcmp(a, "--block-size"))
			bs = arg_u64(v);
		else if (!strcmp(a, "--policy"))
			policy = v;
		else if (!strcmp(a, "--seed"))
			rng_state = arg_u64(v);
		else if (!strcmp(a, "--oblock-max"))
			oblock_max = arg_u64(v);
		else if (!strcmp(a, "--pad-to"))
			pad_to = arg_u64(v);
		else {
			fprintf(stderr, "gen_xml: unknown option %s\n", a);
			return 2;
		}
	}
	if (width > 128) {
		fprintf(stderr, "gen_xml: hint width too large\n");
		return 2;
	}
	if (!oblock_max)
		oblock_max = nr * 4 + 1;
	if (oblock_max < nr) {
		fprintf(stderr, "gen_xml: --oblock-max below --nr-cache-blocks\n");
		return 2;
	}
	oblocks = calloc(nr ? nr : 1, sizeof(*oblocks));
	/* Distinct origin blocks: a random start, random strides. */
	if (!oblocks)
		return 1;
	{
		uint64_t room = oblock_max - nr, o = 0;

		for (uint64_t c = 0; c < nr; c++) {
			uint64_t step = room ? rng() % (2 * room / (nr ? nr : 1) + 1) : 0;

			if (step > room)
				step = room;
			room -= step;
			o += step;
			oblocks[c] = o++;
		}
		/* Shuffle so cache and origin orders differ. */
		for (uint64_t c = nr; c > 1; c--) {
			uint64_t j = rng() % c, t = oblocks[c - 1];

			oblocks[c - 1] = oblocks[j];
			oblocks[j] = t;
		}
	}
	used = calloc(nr ? nr : 1, 1);
	if (!used)
		return 1;
	for (uint64_t c = 0; c < nr; c++)
		used[c] = rng() % 100 < mapped;

	out("<superblock uuid=\"\" block_size=\"%" PRIu64 "\" nr_cache_blocks=\"%"
	       PRIu64 "\" policy=\"%s\" hint_width=\"%" PRIu64 "\">\n",
	       bs, nr, policy, width);
	out("  <mappings>\n");
	for (uint64_t c = 0; c < nr; c++)
		if (used[c])
			out("    <mapping cache_block=\"%" PRIu64
			       "\" origin_block=\"%" PRIu64 "\" dirty=\"%s\"/>\n",
			       c, oblocks[c], rng() % 100 < dirty ? "true" : "false");
	out("  </mappings>\n");
	out("  <hints>\n");
	if (width) {
		unsigned char h[128];
		char enc[200];

		for (uint64_t c = 0; c < nr; c++) {
			if (!used[c])
				continue;
			for (unsigned k = 0; k < width; k++)
				h[k] = (unsigned char)rng();
			b64(h, (unsigned)width, enc);
			out("    <hint cache_block=\"%" PRIu64 "\" data=\"%s\"/>\n",
			       c, enc);
		}
	}
	out("  </hints>\n");
	if (pad_to > written + 14)
		pad(pad_to - written - 14);
	out("</superblock>\n");
	free(used);
	free(oblocks);
	return fflush(stdout) ? 1 : 0;
}
