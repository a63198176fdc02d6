// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * live_meta: writes metadata through the live metadata API (cache/live.h)
 * the way the kernel's target would for a fixed little scenario, so the
 * functional tests can hold the result against the kernel's own images and
 * the reference tools.
 *
 *   live_meta FILE VERSION BLOCK_SIZE CACHE_BLOCKS DISCARD_BLOCK_SIZE
 *             DISCARD_BLOCKS MAPPED [clean]
 *
 * Opens FILE (formatting it when block 0 is zeroed), sizes the cache and
 * the discard bitset, maps cache block k to origin block 2k + 1 for every
 * k < MAPPED, marks every third of them dirty (the kernel's wholesale
 * dirty write), saves smq hints (k % 64 for mapped blocks, 0 for the rest)
 * and, when MAPPED > 0, discards blocks 5..9 and sets the counters to
 * 1 2 3 4 (0 otherwise: MAPPED 0 is the kernel's format and first clean
 * shutdown with no I/O), and commits, with CLEAN_SHUTDOWN when "clean" is
 * given.
 *
 *   live_meta load FILE BLOCK_SIZE [shutdown]
 *
 * Opens existing metadata and prints what the kernel's load would hand
 * the smq policy: "mapping CB OB true|false" per valid mapping, then, when
 * the hints are valid, "hint CB DATA" (the 4 bytes in base64, as in the
 * XML), then "discard BEGIN END" per run of set discard bits.  With
 * "shutdown", then does what the kernel does at a clean shutdown: writes
 * the loaded dirty bits and hints (0 where there was none) back and
 * commits with CLEAN_SHUTDOWN.
 *
 *   live_meta churn FILE VERSION CACHE_BLOCKS OPS COMMIT_EVERY
 *
 * For make bench: formats FILE (zeroed), and makes OPS random changes (an
 * insert into a free cache block, else a remove or a dirty toggle of a
 * mapped one), committing every COMMIT_EVERY of them, then saves hints and
 * shuts down cleanly.  Prints "ops N commits N used N/N".
 *
 * Exit 0 done, 1 a library error (one line on stderr), 2 bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/live.h"
#include "pdata/bm.h"
#include "pdata/io.h"

static uint64_t mapped;

static uint32_t hint(void *ctx, uint64_t cb)
{
	(void)ctx;
	return cb < mapped ? (uint32_t)(cb % 64) : 0;
}

static int num(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || end == s || *end ? -1 : 0;
}

static int run(struct cache_live *cl, uint64_t nr, uint64_t dbs, uint64_t dnr,
	       int clean)
{
	static const struct cache_live_policy smq = { "smq", { 2, 0, 0 }, 4 };
	struct cache_live_stats st = { 0 };
	struct base_bitmap dirty;
	int r;

	r = cache_live_resize(cl, nr);
	if (r == 0)
		r = cache_live_discard_resize(cl, dbs, dnr);
	for (uint64_t k = 0; r == 0 && k < mapped; k++)
		r = cache_live_insert(cl, k, 2 * k + 1);
	for (uint64_t b = 5; r == 0 && mapped && b < 10 && b < dnr; b++)
		r = cache_live_set_discard(cl, b, 1);
	if (r)
		return r;
	r = base_bitmap_init(&dirty, nr);
	if (r)
		return r;
	for (uint64_t k = 0; k < mapped; k += 3)
		base_bitmap_set(&dirty, k);
	r = cache_live_set_dirty_bits(cl, &dirty);
	base_bitmap_release(&dirty);
	if (r == 0)
		r = cache_live_save_hints(cl, &smq, hint, NULL);
	if (mapped)
		st = (struct cache_live_stats){ 1, 2, 3, 4 };
	cache_live_set_stats(cl, &st);
	if (r == 0)
		r = cache_live_commit(cl, clean);
	return r;
}

/* ---- load ---- */

struct loaded {
	uint32_t *hints;
	struct base_bitmap dirty;
	int any_hints;
	uint64_t run_begin, run_end;	/* discards: the open run */
};

static void b64_4(uint32_t v, char out[9])
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char b[4] = { v, v >> 8, v >> 16, v >> 24 };

	out[0] = a[b[0] >> 2];
	out[1] = a[((b[0] & 3) << 4) | (b[1] >> 4)];
	out[2] = a[((b[1] & 15) << 2) | (b[2] >> 6)];
	out[3] = a[b[2] & 63];
	out[4] = a[b[3] >> 2];
	out[5] = a[(b[3] & 3) << 4];
	out[6] = '=';
	out[7] = '=';
	out[8] = 0;
}

static int on_mapping(void *ctx, uint64_t cb, uint64_t ob, int dirty,
		      uint32_t hint, int hint_valid)
{
	struct loaded *l = ctx;

	printf("mapping %" PRIu64 " %" PRIu64 " %s\n", cb, ob,
	       dirty ? "true" : "false");
	if (dirty)
		base_bitmap_set(&l->dirty, cb);
	l->hints[cb] = hint;
	l->any_hints |= hint_valid;
	return 0;
}

static int on_discard(void *ctx, uint64_t dbs, uint64_t b, int d)
{
	struct loaded *l = ctx;

	(void)dbs;
	if (d && l->run_end == b) {
		l->run_end = b + 1;
		return 0;
	}
	if (l->run_end > l->run_begin)
		printf("discard %" PRIu64 " %" PRIu64 "\n", l->run_begin,
		       l->run_end);
	l->run_begin = b;
	l->run_end = d ? b + 1 : b;
	return 0;
}

static uint32_t loaded_hint(void *ctx, uint64_t cb)
{
	return ((const struct loaded *)ctx)->hints[cb];
}

static int load(struct cache_live *cl, int shutdown)
{
	static const struct cache_live_policy smq = { "smq", { 2, 0, 0 }, 4 };
	uint64_t nr = cache_live_nr_cache_blocks(cl);
	struct loaded l = { 0 };
	int r;

	l.hints = calloc(nr ? nr : 1, sizeof(*l.hints));
	if (!l.hints)
		return -ENOMEM;
	r = base_bitmap_init(&l.dirty, nr);
	if (r == 0) {
		struct loaded *lp = &l;
		char data[9];

		r = cache_live_load_mappings(cl, &smq, on_mapping, lp);
		for (uint64_t cb = 0; r == 0 && l.any_hints && cb < nr; cb++) {
			int valid;

			r = cache_live_lookup(cl, cb, &valid, NULL, NULL);
			if (r == 0 && valid) {
				b64_4(l.hints[cb], data);
				printf("hint %" PRIu64 " %s\n", cb, data);
			}
		}
	}
	if (r == 0)
		r = cache_live_load_discards(cl, on_discard, &l);
	if (r == 0 && l.run_end > l.run_begin)
		printf("discard %" PRIu64 " %" PRIu64 "\n", l.run_begin,
		       l.run_end);
	if (r == 0 && shutdown) {
		r = cache_live_set_dirty_bits(cl, &l.dirty);
		if (r == 0)
			r = cache_live_save_hints(cl, &smq, loaded_hint, &l);
		if (r == 0)
			r = cache_live_commit(cl, 1);
	}
	base_bitmap_release(&l.dirty);
	free(l.hints);
	return r;
}

static int load_main(int argc, char **argv)
{
	struct cache_live_opts o = { 0 };
	struct cache_live *cl;
	struct pd_io *io;
	uint64_t bs;
	int r;

	if (argc < 4 || argc > 5 || num(argv[3], &bs) || bs > UINT32_MAX ||
	    (argc == 5 && strcmp(argv[4], "shutdown"))) {
		fprintf(stderr, "usage: live_meta load FILE BLOCK_SIZE "
				"[shutdown]\n");
		return 2;
	}
	o.data_block_size = (uint32_t)bs;
	r = pd_io_open(argv[2], PD_IO_WRITE, &io);
	if (r == 0) {
		r = cache_live_open(io, &o, &cl);
		if (r == 0) {
			r = load(cl, argc == 5);
			cache_live_close(cl);
		}
		pd_io_destroy(io);
	}
	if (r) {
		fprintf(stderr, "live_meta: %s: %s\n", argv[2], pd_strerror(r));
		return 1;
	}
	return 0;
}

/* ---- churn ---- */

static uint64_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

static uint32_t zero_hint(void *ctx, uint64_t cb)
{
	(void)ctx;
	return (uint32_t)(cb % 64);
}

static int churn(struct cache_live *cl, uint64_t nr, uint64_t ops,
		 uint64_t every, uint64_t *commits)
{
	static const struct cache_live_policy smq = { "smq", { 2, 0, 0 }, 4 };
	struct base_bitmap in_use, dirty;
	uint64_t s = 1, next_ob = 0;
	int r;

	r = cache_live_resize(cl, nr);
	if (r)
		return r;
	r = base_bitmap_init(&in_use, nr);
	if (r)
		return r;
	r = base_bitmap_init(&dirty, nr);
	for (uint64_t i = 0; r == 0 && i < ops; i++) {
		uint64_t cb = rnd(&s) % nr;

		if (!base_bitmap_test(&in_use, cb)) {
			r = cache_live_insert(cl, cb, next_ob++);
			base_bitmap_set(&in_use, cb);
		} else if (rnd(&s) % 3 == 0 && !base_bitmap_test(&dirty, cb)) {
			r = cache_live_remove(cl, cb);
			base_bitmap_clear(&in_use, cb);
		} else {
			int d = !base_bitmap_test(&dirty, cb);

			r = cache_live_set_dirty(cl, cb, d);
			if (d)
				base_bitmap_set(&dirty, cb);
			else
				base_bitmap_clear(&dirty, cb);
		}
		if (r == 0 && every && (i + 1) % every == 0) {
			r = cache_live_commit(cl, 0);
			++*commits;
		}
	}
	if (r == 0)
		r = cache_live_set_dirty_bits(cl, &dirty);
	if (r == 0)
		r = cache_live_save_hints(cl, &smq, zero_hint, NULL);
	if (r == 0) {
		r = cache_live_commit(cl, 1);
		++*commits;
	}
	base_bitmap_release(&in_use);
	base_bitmap_release(&dirty);
	return r;
}

static int churn_main(int argc, char **argv)
{
	struct cache_live_opts o = { 0 };
	struct cache_live *cl;
	struct pd_io *io;
	uint64_t v, nr, ops, every, commits = 0, used = 0, total = 0;
	int r;

	if (argc != 7 || num(argv[3], &v) || v < 1 || v > 2 ||
	    num(argv[4], &nr) || num(argv[5], &ops) || num(argv[6], &every) ||
	    !nr) {
		fprintf(stderr, "usage: live_meta churn FILE VERSION "
				"CACHE_BLOCKS OPS COMMIT_EVERY\n");
		return 2;
	}
	o.version = (uint32_t)v;
	o.data_block_size = 128;
	o.flags = CACHE_LIVE_MAY_FORMAT;
	r = pd_io_open(argv[2], PD_IO_WRITE, &io);
	if (r == 0) {
		r = cache_live_open(io, &o, &cl);
		if (r == 0) {
			r = churn(cl, nr, ops, every, &commits);
			cache_live_metadata_usage(cl, &used, &total);
			cache_live_close(cl);
		}
		pd_io_destroy(io);
	}
	if (r) {
		fprintf(stderr, "live_meta: %s: %s\n", argv[2], pd_strerror(r));
		return 1;
	}
	printf("ops %" PRIu64 " commits %" PRIu64 " used %" PRIu64 "/%" PRIu64
	       "\n", ops, commits, used, total);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t v[6];
	struct cache_live_opts o = { 0 };
	struct cache_live *cl;
	struct pd_io *io;
	int clean, r;

	if (argc > 1 && !strcmp(argv[1], "load"))
		return load_main(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "churn"))
		return churn_main(argc, argv);
	if (argc < 8 || argc > 9 || (argc == 9 && strcmp(argv[8], "clean"))) {
		fprintf(stderr, "usage: live_meta FILE VERSION BLOCK_SIZE "
				"CACHE_BLOCKS DISCARD_BLOCK_SIZE DISCARD_BLOCKS "
				"MAPPED [clean]\n");
		return 2;
	}
	for (int i = 0; i < 6; i++) {
		if (num(argv[i + 2], &v[i])) {
			fprintf(stderr, "live_meta: not a number: %s\n",
				argv[i + 2]);
			return 2;
		}
	}
	if (num(argv[7], &mapped) || mapped > v[2] || v[0] > 2 ||
	    v[1] > UINT32_MAX) {
		fprintf(stderr, "live_meta: bad arguments\n");
		return 2;
	}
	clean = argc == 9;
	o.version = (uint32_t)v[0];
	o.data_block_size = (uint32_t)v[1];
	o.flags = CACHE_LIVE_MAY_FORMAT;
	r = pd_io_open(argv[1], PD_IO_WRITE, &io);
	if (r) {
		fprintf(stderr, "live_meta: %s: %s\n", argv[1], pd_strerror(r));
		return 1;
	}
	r = cache_live_open(io, &o, &cl);
	if (r == 0) {
		r = run(cl, v[2], v[3], v[4], clean);
		cache_live_close(cl);
	}
	pd_io_destroy(io);
	if (r) {
		fprintf(stderr, "live_meta: %s: %s\n", argv[1], pd_strerror(r));
		return 1;
	}
	return 0;
}
