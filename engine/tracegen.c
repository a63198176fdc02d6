// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Synthetic trace generation (see tracegen.h).  The random source is
 * xoshiro256** seeded through splitmix64; Zipf ranks come from Hörmann and
 * Derflinger's rejection-inversion method, which needs no table; the rank
 * to slot permutation is a 4-round Feistel network over the next power of
 * two, walked until it lands inside the slot count.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tracegen.h"

struct tracegen {
	struct tracegen_opts o;
	uint64_t s[4];		/* xoshiro256** state */
	uint64_t slots;
	uint64_t i;		/* I/Os made */
	/* zipf */
	double hx0, hxn, sdiff;	/* rejection-inversion constants */
	unsigned half_bits;	/* Feistel: each half's width */
	uint64_t keys[4];
	/* hotset */
	uint64_t hot_start, hot_len;
	/* scan and mix */
	uint64_t scan_pos, scan_left;
};

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t next64(struct tracegen *g)
{
	uint64_t *s = g->s, r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

/* Uniform in [0, 1). */
static double uniform01(struct tracegen *g)
{
	return (double)(next64(g) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n), without modulo bias worth speaking of (n < 2^53). */
static uint64_t below(struct tracegen *g, uint64_t n)
{
	return (uint64_t)(uniform01(g) * (double)n) % n;
}

/* ---- Zipf by rejection-inversion ---- */

static double zh(double x, double theta)
{
	/* H(x) = integral of x^-theta: ((x)^(1-theta) - 1) / (1 - theta) */
	double e = 1.0 - theta;

	return fabs(e) < 1e-8 ? log(x) : (exp(e * log(x)) - 1.0) / e;
}

static double zh_inv(double x, double theta)
{
	double e = 1.0 - theta;

	return fabs(e) < 1e-8 ? exp(x) : exp(log(1.0 + e * x) / e);
}

static void zipf_init(struct tracegen *g)
{
	double th = g->o.theta;

	g->hx0 = zh(1.5, th) - 1.0;	/* H(1.5) - h(1), h(1) = 1 */
	g->hxn = zh((double)g->slots + 0.5, th);
	g->sdiff = 2.0 - zh_inv(zh(2.5, th) - exp(-th * log(2.0)), th);
}

/* A rank in [1, slots]. */
static uint64_t zipf_rank(struct tracegen *g)
{
	double th = g->o.theta;

	for (;;) {
		double u = g->hxn + uniform01(g) * (g->hx0 - g->hxn);
		double x = zh_inv(u, th);
		double k = floor(x + 0.5);

		if (k < 1.0)
			k = 1.0;
		if (k > (double)g->slots)
			k = (double)g->slots;
		if (k - x <= g->sdiff ||
		    u >= zh(k + 0.5, th) - exp(-th * log(k)))
			return (uint64_t)k;
	}
}

/* A bijection of [0, slots): Feistel rounds, walked into range. */
static uint64_t permute(const struct tracegen *g, uint64_t x)
{
	uint64_t mask = (1ull << g->half_bits) - 1;

	do {
		uint64_t l = x >> g->half_bits, r = x & mask;

		for (int i = 0; i < 4; i++) {
			uint64_t k = g->keys[i] ^ r;
			uint64_t f = (k * 0x9E3779B97F4A7C15ull) ^
				     ((k * 0xBF58476D1CE4E5B9ull) >> 29);
			uint64_t n = l ^ (f & mask);

			l = r;
			r = n;
		}
		x = (l << g->half_bits) | r;
	} while (x >= g->slots);
	return x;
}

int tracegen_pattern_parse(const char *name, enum tracegen_pattern *p)
{
	static const char *const names[] = { "uniform", "zipf", "hotset",
					     "scan", "mix" };

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(name, names[i])) {
			*p = (enum tracegen_pattern)i;
			return 0;
		}
	}
	return -EINVAL;
}

int tracegen_create(const struct tracegen_opts *o, struct tracegen **out)
{
	struct tracegen *g;
	uint64_t x, bits = 1;

	*out = NULL;
	if (!o->io_size || o->origin_bytes < o->io_size || !o->iops ||
	    o->read_ratio < 0.0 || o->read_ratio > 1.0 || !(o->theta > 0.0) ||
	    o->origin_bytes / o->io_size >= (1ull << 52))
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->o = *o;
	g->slots = o->origin_bytes / o->io_size;
	x = o->seed;
	for (int i = 0; i < 4; i++)
		g->s[i] = splitmix(&x);
	for (int i = 0; i < 4; i++)
		g->keys[i] = splitmix(&x);
	while ((1ull << (2 * bits)) < g->slots)
		bits++;
	g->half_bits = (unsigned)bits;
	zipf_init(g);
	g->hot_len = g->slots / 10 ? g->slots / 10 : 1;
	g->hot_start = below(g, g->slots - g->hot_len + 1);
	*out = g;
	return 0;
}

void tracegen_destroy(struct tracegen *g)
{
	free(g);
}

static uint64_t next_slot(struct tracegen *g)
{
	uint64_t s;

	switch (g->o.pattern) {
	case TRACEGEN_UNIFORM:
		return below(g, g->slots);
	case TRACEGEN_ZIPF:
		return permute(g, zipf_rank(g) - 1);
	case TRACEGEN_HOTSET:
		/* The hot range moves every tenth of the trace. */
		if (g->i && g->o.ios >= 10 && g->i % (g->o.ios / 10) == 0)
			g->hot_start = below(g, g->slots - g->hot_len + 1);
		if (uniform01(g) < 0.9)
			return g->hot_start + below(g, g->hot_len);
		return below(g, g->slots);
	case TRACEGEN_SCAN:
		s = g->scan_pos;
		g->scan_pos = (g->scan_pos + 1) % g->slots;
		return s;
	case TRACEGEN_MIX:
	default:
		if (g->i % 2048 == 0) {
			g->scan_pos = below(g, g->slots);
			g->scan_left = 256;
		}
		if (g->scan_left && (g->i & 1)) {
			g->scan_left--;
			s = g->scan_pos;
			g->scan_pos = (g->scan_pos + 1) % g->slots;
			return s;
		}
		return permute(g, zipf_rank(g) - 1);
	}
}

int tracegen_next(struct tracegen *g, struct trace_io *io)
{
	if (g->i >= g->o.ios)
		return 0;
	memset(io, 0, sizeof(*io));
	io->offset = next_slot(g) * g->o.io_size;
	io->len = g->o.io_size;
	io->op = uniform01(g) < g->o.read_ratio ? TRACE_OP_READ
						: TRACE_OP_WRITE;
	io->time_ns = (uint64_t)((unsigned __int128)g->i * 1000000000u /
				 g->o.iops);
	io->done_ns = TRACE_NO_TIME;
	g->i++;
	return 1;
}
