// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * engine/bound.c against independent brute force: the LRU curve against
 * an O(n * C) list simulation at every size, OPT's misses and insertions
 * against a direct Belady simulation that scans the future for every
 * eviction, OPT's misses against an exhaustive search over every eviction
 * choice on tiny traces (so "optimal" is checked, not assumed), the cold
 * misses against a distinct count, the Fenwick tree's renumbering on a
 * stream longer than its first size, SHARDS sampling's error against the
 * exact curve, and engine/tracegen.c's patterns (determinism, range, read
 * ratio, Zipf skew, scans).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/bound.h"
#include "engine/trace.h"
#include "engine/tracegen.h"

static uint64_t rng(uint64_t *x)
{
	*x = *x * 6364136223846793005ull + 1442695040888963407ull;
	return *x >> 33;
}

/* A skewed random block stream over nb blocks. */
static void make_stream(uint64_t *b, size_t n, uint64_t nb, uint64_t seed)
{
	uint64_t x = seed;

	for (size_t i = 0; i < n; i++) {
		uint64_t r = rng(&x);

		b[i] = r % 4 ? (r >> 3) % (nb / 8 + 1) : (r >> 3) % nb;
	}
}

static uint64_t brute_lru(const uint64_t *b, size_t n, uint64_t c)
{
	uint64_t *cache = malloc((c + 1) * sizeof(*cache)), k = 0, m = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t j;

		for (j = 0; j < k && cache[j] != b[i]; j++)
			;
		if (j == k) {
			m++;
			if (c == 0)
				continue;
			if (k < c)
				k++;
			j = k - 1;	/* drop the least recent (the end) */
		}
		memmove(cache + 1, cache, j * sizeof(*cache));
		cache[0] = b[i];
	}
	free(cache);
	return m;
}

static uint64_t next_use(const uint64_t *b, size_t n, size_t i)
{
	for (size_t j = i + 1; j < n; j++)
		if (b[j] == b[i])
			return j;
	return UINT64_MAX;
}

/* Belady with bypass, the future scanned at every step. */
static void brute_opt(const uint64_t *b, size_t n, uint64_t c,
		      uint64_t *misses, uint64_t *ins)
{
	uint64_t *cache = malloc((c + 1) * sizeof(*cache)), k = 0;

	*misses = *ins = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t j, nx, far = 0, fj = 0;

		for (j = 0; j < k && cache[j] != b[i]; j++)
			;
		if (j < k)
			continue;
		(*misses)++;
		nx = next_use(b, n, i);
		if (nx == UINT64_MAX || c == 0)
			continue;
		if (k < c) {
			cache[k++] = b[i];
			(*ins)++;
			continue;
		}
		for (j = 0; j < k; j++) {
			/* The next use of cache[j] after position i. */
			uint64_t g = UINT64_MAX;

			for (size_t t = i + 1; t < n; t++)
				if (b[t] == cache[j]) {
					g = t;
					break;
				}
			if (g >= far) {
				far = g;
				fj = j;
			}
		}
		if (nx < far) {
			cache[fj] = b[i];
			(*ins)++;
		}
	}
	free(cache);
}

/* The fewest misses over every choice (insert or not, which to evict). */
static uint64_t exhaustive(const uint64_t *b, size_t n, size_t i,
			   uint64_t *cache, uint64_t k, uint64_t c)
{
	uint64_t best, j;

	if (i == n)
		return 0;
	for (j = 0; j < k; j++)
		if (cache[j] == b[i])
			return exhaustive(b, n, i + 1, cache, k, c);
	/* Bypass. */
	best = 1 + exhaustive(b, n, i + 1, cache, k, c);
	if (k < c) {
		cache[k] = b[i];
		uint64_t m = 1 + exhaustive(b, n, i + 1, cache, k + 1, c);

		if (m < best)
			best = m;
	} else {
		for (j = 0; j < k; j++) {
			uint64_t old = cache[j], m;

			cache[j] = b[i];
			m = 1 + exhaustive(b, n, i + 1, cache, k, c);
			cache[j] = old;
			if (m < best)
				best = m;
		}
	}
	return best;
}

/* The stream as a native trace of 4 KiB reads, one per block. */
static char *stream_trace(const uint64_t *b, size_t n, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	struct trace_writer *w;

	assert_int_equal(trace_writer_open(&w, f, TRACE_FMT_NATIVE, 0), 0);
	for (size_t i = 0; i < n; i++) {
		struct trace_io io = { i * 1000, TRACE_NO_TIME, b[i] * 4096,
				       4096, i % 3 ? TRACE_OP_READ
						   : TRACE_OP_WRITE, 0 };

		assert_int_equal(trace_writer_put(w, &io), 0);
	}
	assert_int_equal(trace_writer_close(w, NULL), 0);
	fclose(f);
	return buf;
}

static void run_bound(const uint64_t *b, size_t n, const uint64_t *sizes,
		      size_t nsizes, double sample, struct bound_result *res)
{
	struct bound_opts o = { 4096, sample, sizes, nsizes, NULL };
	struct trace_reader *r;
	struct trace_error err;
	size_t len;
	char *buf = stream_trace(b, n, &len);

	assert_int_equal(trace_reader_open_mem(&r, buf, len, TRACE_FMT_AUTO,
					       &err), 0);
	assert_int_equal(bound_run(r, &o, res, &err), 0);
	trace_reader_close(r);
	free(buf);
}

static void test_against_brute_force(void **state)
{
	enum { N = 3000 };
	static uint64_t b[N];
	uint64_t sizes[] = { 0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 400 };
	size_t ns = sizeof(sizes) / sizeof(sizes[0]);
	struct bound_result res;

	(void)state;
	for (uint64_t seed = 1; seed <= 4; seed++) {
		uint64_t distinct = 0;

		make_stream(b, N, 40 * seed + 30, seed);
		for (size_t i = 0; i < N; i++) {
			size_t j;

			for (j = 0; j < i && b[j] != b[i]; j++)
				;
			distinct += j == i;
		}
		run_bound(b, N, sizes, ns, 0, &res);
		assert_int_equal(res.nr_rows, ns);
		assert_int_equal(res.requests, N);
		assert_int_equal(res.footprint, distinct);
		for (size_t k = 0; k < ns; k++) {
			struct bound_row *row = &res.rows[k];
			uint64_t om, oi;

			brute_opt(b, N, sizes[k], &om, &oi);
			assert_int_equal(row->cache_blocks, sizes[k]);
			assert_int_equal(row->cold_misses, distinct);
			assert_int_equal(row->lru_misses,
					 brute_lru(b, N, sizes[k]));
			if (row->opt_misses != om || row->opt_insertions != oi)
				fail_msg("seed %llu size %llu: opt %llu/%llu, "
					 "brute %llu/%llu",
					 (unsigned long long)seed,
					 (unsigned long long)sizes[k],
					 (unsigned long long)row->opt_misses,
					 (unsigned long long)row->opt_insertions,
					 (unsigned long long)om,
					 (unsigned long long)oi);
			assert_true(row->opt_misses <= row->lru_misses);
			assert_true(row->opt_misses >= row->cold_misses);
		}
		bound_result_release(&res);
	}
}

static void test_optimal(void **state)
{
	uint64_t b[12], cache[4];
	uint64_t x = 99;

	(void)state;
	for (int t = 0; t < 200; t++) {
		uint64_t c = 1 + rng(&x) % 3, sizes[1] = { c };
		struct bound_result res;

		for (int i = 0; i < 12; i++)
			b[i] = rng(&x) % 5;
		run_bound(b, 12, sizes, 1, 0, &res);
		assert_int_equal(res.rows[0].opt_misses,
				 exhaustive(b, 12, 0, cache, 0, c));
		bound_result_release(&res);
	}
}

static void test_curve_and_compaction(void **state)
{
	/* Longer than the Fenwick tree's first 64 Ki positions. */
	enum { N = 200000 };
	uint64_t *b = malloc(N * sizeof(*b)), misses[65];
	uint64_t one[1] = { 40 };

	(void)state;
	make_stream(b, N, 600, 7);
	assert_int_equal(bound_lru_curve(b, N, 64, misses), 0);
	for (uint64_t c = 0; c <= 64; c += 8)
		assert_int_equal(misses[c], brute_lru(b, N, c));
	{
		struct bound_result res;

		run_bound(b, N, one, 1, 0, &res);
		assert_int_equal(res.rows[0].lru_misses, misses[40]);
		bound_result_release(&res);
	}
	free(b);
}

static void test_default_sizes(void **state)
{
	uint64_t b[] = { 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	struct bound_result res;

	(void)state;
	run_bound(b, sizeof(b) / sizeof(b[0]), NULL, 0, 0, &res);
	/* 1, 2, 4, 8, then the footprint of 12. */
	assert_int_equal(res.nr_rows, 5);
	assert_int_equal(res.rows[3].cache_blocks, 8);
	assert_int_equal(res.rows[4].cache_blocks, 12);
	assert_int_equal(res.rows[4].lru_misses, 12);
	assert_int_equal(res.rows[0].lru_misses, 17);
	bound_result_release(&res);
}

/*
 * SHARDS at 10% on a Zipf 0.9 stream over a million blocks: the miss
 * ratio it estimates stays within 1% (absolute) of the exact one.
 */
static void test_sampling(void **state)
{
	enum { N = 400000 };
	struct tracegen_opts o = { TRACEGEN_ZIPF, N, 4096ull << 20, 4096, 1.0,
				   0.9, 17, 1000000 };
	uint64_t *b = malloc(N * sizeof(*b));
	uint64_t sizes[] = { 2000, 10000, 40000 };
	struct bound_result exact, est;
	struct tracegen *g;
	struct trace_io io;

	(void)state;
	assert_int_equal(tracegen_create(&o, &g), 0);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(tracegen_next(g, &io), 1);
		b[i] = io.offset / 4096;
	}
	tracegen_destroy(g);
	run_bound(b, N, sizes, 3, 0, &exact);
	run_bound(b, N, sizes, 3, 0.1, &est);
	assert_true(est.sampled_requests < N / 5);
	for (int k = 0; k < 3; k++) {
		double e = (double)exact.rows[k].lru_misses / N;
		double m = (double)est.rows[k].lru_misses / N;
		double oe = (double)exact.rows[k].opt_misses / N;
		double om = (double)est.rows[k].opt_misses / N;

		print_message("size %llu: lru %.4f ~ %.4f, opt %.4f ~ %.4f\n",
			      (unsigned long long)sizes[k], e, m, oe, om);
		if (fabs(m - e) > 0.01 || fabs(om - oe) > 0.01)
			fail_msg("size %llu: exact %.4f/%.4f, sampled "
				 "%.4f/%.4f", (unsigned long long)sizes[k], e,
				 oe, m, om);
	}
	bound_result_release(&exact);
	bound_result_release(&est);
	free(b);
}

static void test_tracegen(void **state)
{
	struct tracegen_opts o = { TRACEGEN_ZIPF, 20000, 1 << 26, 4096, 0.7,
				   1.2, 5, 1000 };
	uint64_t counts[16384] = { 0 }, reads = 0, top;
	struct tracegen *g, *h;
	struct trace_io a, b;

	(void)state;
	assert_int_equal(tracegen_create(&o, &g), 0);
	assert_int_equal(tracegen_create(&o, &h), 0);
	for (uint64_t i = 0; i < o.ios; i++) {
		assert_int_equal(tracegen_next(g, &a), 1);
		assert_int_equal(tracegen_next(h, &b), 1);
		assert_memory_equal(&a, &b, sizeof(a));
		assert_true(a.offset + a.len <= o.origin_bytes);
		assert_int_equal(a.offset % 4096, 0);
		assert_int_equal(a.time_ns, i * 1000000);
		counts[a.offset / 4096]++;
		reads += a.op == TRACE_OP_READ;
	}
	assert_int_equal(tracegen_next(g, &a), 0);
	/* 70% reads, give or take. */
	assert_true(reads > 13600 && reads < 14400);
	/* Zipf 1.2: the hottest slot gets far more than its share. */
	top = 0;
	for (int i = 0; i < 16384; i++)
		if (counts[i] > top)
			top = counts[i];
	assert_true(top > 2000);
	tracegen_destroy(g);
	tracegen_destroy(h);
	/* A scan walks the slots in order and wraps. */
	o.pattern = TRACEGEN_SCAN;
	o.origin_bytes = 10 * 4096;
	assert_int_equal(tracegen_create(&o, &g), 0);
	for (uint64_t i = 0; i < 25; i++) {
		tracegen_next(g, &a);
		assert_int_equal(a.offset, (i % 10) * 4096);
	}
	tracegen_destroy(g);
	/* Bad options. */
	o.io_size = 0;
	assert_int_equal(tracegen_create(&o, &g), -EINVAL);
	o.io_size = 4096;
	o.read_ratio = 1.5;
	assert_int_equal(tracegen_create(&o, &g), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_brute_force),
		cmocka_unit_test(test_optimal),
		cmocka_unit_test(test_curve_and_compaction),
		cmocka_unit_test(test_default_sizes),
		cmocka_unit_test(test_sampling),
		cmocka_unit_test(test_tracegen),
	};

	return cmocka_run_group_tests_name("bound", tests, NULL, NULL);
}
