// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Live metadata (cache/live.h), v1 and v2, against an in-memory model:
 * format as the kernel formats, every operation read back through the
 * handle and after a reopen (stored state with cache_live_lookup, loaded
 * state with the kernel's rules: dirty and hints only after a clean
 * shutdown, hints only for the same policy), the refusals that leave the
 * transaction alive, CLEAN_SHUTDOWN cleared on disk by an open, NEEDS_CHECK
 * in place, the counters, and every committed image passing the library
 * checker with no finding at all.
 *
 * Crash safety: a format failed at any write leaves block 0 zeroed
 * (unformatted, formatted again next time); a transaction of two commits
 * is run over a fault engine that fails write N, for every N until it gets
 * through, sticky (the device dies) and not (one write lost; then cache_live_abort must bring
 * back the last commit and a new commit must work).  Each time the image
 * must hold exactly the previous commit, or the first one when the failure
 * came after its superblock write: every block the expected commit's space
 * map holds is byte-identical (the superblock but for its flags and
 * checksum), the stored state equals the model, and the checker is silent.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/endian.h"
#include "cache/check.h"
#include "cache/format.h"
#include "cache/live.h"
#include "cache/metadata_size.h"
#include "pdata/bm.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"
#include "pdata/tm.h"

#define DBS 64u
#define MAXC 4096u
#define MAXD 16384u
#define UNMAPPED UINT64_MAX

static const struct cache_live_policy smq = { "smq", { 2, 0, 0 }, 4 };

/* ---- the model ---- */

struct model {
	uint32_t version;
	uint64_t nr;
	uint64_t oblock[MAXC];
	unsigned char dirty[MAXC];	/* stored state */
	uint32_t hint[MAXC];
	int have_hints;
	struct cache_live_policy pol;
	uint64_t dbs, dnr;
	unsigned char disc[MAXD];
	struct cache_live_stats st;
};

static struct model *model_new(uint32_t version)
{
	struct model *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	m->version = version;
	for (unsigned i = 0; i < MAXC; i++)
		m->oblock[i] = UNMAPPED;
	return m;
}

static uint64_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

/* Each op: on the handle, and on the model when the handle took it. */
static int op_resize(struct cache_live *cl, struct model *m, uint64_t nr)
{
	int r = cache_live_resize(cl, nr);

	if (r == 0) {
		for (uint64_t i = nr; i < m->nr; i++) {
			m->oblock[i] = UNMAPPED;
			m->dirty[i] = 0;
			m->hint[i] = 0;
		}
		m->nr = nr;
	}
	return r;
}

static int op_insert(struct cache_live *cl, struct model *m, uint64_t cb,
		     uint64_t ob)
{
	int r = cache_live_insert(cl, cb, ob);

	if (r == 0) {
		m->oblock[cb] = ob;
		if (m->version < 2)
			m->dirty[cb] = 0;	/* M_VALID only */
	}
	return r;
}

static int op_remove(struct cache_live *cl, struct model *m, uint64_t cb)
{
	int r = cache_live_remove(cl, cb);

	if (r == 0) {
		m->oblock[cb] = UNMAPPED;
		if (m->version < 2)
			m->dirty[cb] = 0;
	}
	return r;
}

static int op_dirty(struct cache_live *cl, struct model *m, uint64_t cb, int d)
{
	int r = cache_live_set_dirty(cl, cb, d);

	if (r == 0)
		m->dirty[cb] = (unsigned char)d;
	return r;
}

static int op_dirty_bits(struct cache_live *cl, struct model *m, uint64_t *s)
{
	struct base_bitmap bits;
	int r;

	assert_int_equal(base_bitmap_init(&bits, m->nr), 0);
	for (uint64_t i = 0; i < m->nr; i++)
		if (m->oblock[i] != UNMAPPED && rnd(s) % 3 == 0)
			base_bitmap_set(&bits, i);
	r = cache_live_set_dirty_bits(cl, &bits);
	if (r == 0)
		for (uint64_t i = 0; i < m->nr; i++)
			m->dirty[i] = (unsigned char)base_bitmap_test(&bits, i);
	base_bitmap_release(&bits);
	return r;
}

static uint32_t hint_of(void *ctx, uint64_t cb)
{
	const struct model *m = ctx;

	return m->oblock[cb] == UNMAPPED ? 0 : (uint32_t)(m->oblock[cb] * 7 % 64);
}

static int op_hints(struct cache_live *cl, struct model *m,
		    const struct cache_live_policy *p)
{
	int r = cache_live_save_hints(cl, p, hint_of, m);

	if (r == 0) {
		m->pol = *p;
		if (p->hint_size) {
			for (uint64_t i = 0; i < m->nr; i++)
				m->hint[i] = hint_of(m, i);
			m->have_hints = 1;
		}
	}
	return r;
}

static int op_dresize(struct cache_live *cl, struct model *m, uint64_t dbs,
		      uint64_t dnr)
{
	int r = cache_live_discard_resize(cl, dbs, dnr);

	if (r == 0) {
		for (uint64_t i = dnr; i < m->dnr; i++)
			m->disc[i] = 0;
		m->dbs = dbs;
		m->dnr = dnr;
	}
	return r;
}

static int op_discard(struct cache_live *cl, struct model *m, uint64_t b, int d)
{
	int r = cache_live_set_discard(cl, b, d);

	if (r == 0)
		m->disc[b] = (unsigned char)d;
	return r;
}

static int op_stats(struct cache_live *cl, struct model *m, uint32_t base)
{
	struct cache_live_stats st = { base + 1, base + 2, base + 3, base + 4 };

	cache_live_set_stats(cl, &st);
	m->st = st;
	return 0;
}

/* An origin block no other cache block holds. */
static uint64_t fresh_oblock(const struct model *m, uint64_t *s)
{
	for (;;) {
		uint64_t ob = rnd(s) % 5000;	/* inside every origin here */
		int used = 0;

		for (uint64_t i = 0; i < m->nr && !used; i++)
			used = m->oblock[i] == ob;
		if (!used)
			return ob;
	}
}

/* n random changes: inserts, removes, dirty bits of mapped blocks, discards. */
static int churn(struct cache_live *cl, struct model *m, uint64_t *s, int n)
{
	int r = 0;

	for (int k = 0; k < n && r == 0; k++) {
		uint64_t cb = rnd(s) % m->nr;

		switch (rnd(s) % 6) {
		case 0:
		case 1:
			if (m->oblock[cb] == UNMAPPED)
				r = op_insert(cl, m, cb, fresh_oblock(m, s));
			break;
		case 2:
			if (m->oblock[cb] != UNMAPPED && !m->dirty[cb])
				r = op_remove(cl, m, cb);
			break;
		case 3:
			if (m->oblock[cb] != UNMAPPED)
				r = op_dirty(cl, m, cb, !m->dirty[cb]);
			break;
		default:
			if (m->dnr)
				r = op_discard(cl, m, rnd(s) % m->dnr,
					       (int)(rnd(s) & 1));
			break;
		}
	}
	return r;
}

/* ---- checks ---- */

static struct pd_io *mem_copy(const unsigned char *img, uint64_t nr_blocks)
{
	struct pd_io *io;

	assert_int_equal(pd_io_mem_create(nr_blocks, &io), 0);
	memcpy(pd_io_mem_data(io), img, nr_blocks * PD_BLOCK_SIZE);
	return io;
}

struct sink_state {
	unsigned problems;
	char first[300];
};

/*
 * Every finding counts but the note that CLEAN_SHUTDOWN is clear, which is
 * what a runtime commit (or a crash) leaves, as the kernel leaves it.
 */
static void on_problem(void *ctx, enum cache_problem id,
		       enum cache_severity sev, const char *msg)
{
	struct sink_state *s = ctx;

	(void)sev;
	if (id == CACHE_P_SB_NOT_CLEAN)
		return;
	if (!s->problems++)
		snprintf(s->first, sizeof(s->first), "%s", msg);
}

/* The library checker finds nothing at all (a copy: it may not write). */
static void check_clean(const unsigned char *img, uint64_t nr_blocks,
			const char *what)
{
	struct sink_state s = { 0 };
	struct cache_check_sink sink = { .ctx = &s, .problem = on_problem };
	struct cache_check_opts o = { 0 };
	struct cache_check_result res;
	struct pd_io *io = mem_copy(img, nr_blocks);

	assert_int_equal(cache_check(io, &o, &sink, &res), 0);
	if (s.problems || res.nr_fatal ||
	    res.nr_warn != res.counts[CACHE_P_SB_NOT_CLEAN])
		fail_msg("%s: cache_check: %u findings, first: %s", what,
			 s.problems, s.first);
	pd_io_destroy(io);
}

static void unpack_sb(const unsigned char *img, struct cache_sb *sb)
{
	cache_sb_unpack(img, sb);
}

/* The handle's stored state (and its getters) equal the model. */
static void check_stored(struct cache_live *cl, const struct model *m)
{
	struct cache_live_stats st;
	struct cache_live_policy p;

	assert_int_equal(cache_live_version(cl), m->version);
	assert_int_equal(cache_live_nr_cache_blocks(cl), m->nr);
	assert_int_equal(cache_live_discard_block_size(cl), m->dbs);
	assert_int_equal(cache_live_discard_nr_blocks(cl), m->dnr);
	cache_live_get_stats(cl, &st);
	assert_memory_equal(&st, &m->st, sizeof(st));
	cache_live_get_policy(cl, &p);
	assert_string_equal(p.name, m->pol.name);
	assert_memory_equal(p.version, m->pol.version, sizeof(p.version));
	for (uint64_t cb = 0; cb < m->nr; cb++) {
		uint64_t ob;
		int valid, dirty;

		assert_int_equal(cache_live_lookup(cl, cb, &valid, &ob, &dirty), 0);
		if (valid != (m->oblock[cb] != UNMAPPED) ||
		    (valid && ob != m->oblock[cb]) || dirty != m->dirty[cb])
			fail_msg("cblock %llu: valid %d oblock %llu dirty %d, "
				 "model %llu dirty %d",
				 (unsigned long long)cb, valid,
				 (unsigned long long)ob, dirty,
				 (unsigned long long)m->oblock[cb], m->dirty[cb]);
	}
}

struct loaded {
	const struct model *m;
	int clean, expect_hints;
	uint64_t n, last;
};

static int on_mapping(void *ctx, uint64_t cb, uint64_t ob, int dirty,
		      uint32_t hint, int hint_valid)
{
	struct loaded *l = ctx;
	const struct model *m = l->m;

	if (l->n && cb <= l->last)
		fail_msg("cblock %llu out of order", (unsigned long long)cb);
	l->last = cb;
	l->n++;
	assert_true(cb < m->nr);
	assert_int_equal(ob, m->oblock[cb]);
	assert_int_equal(dirty, l->clean ? m->dirty[cb] : 1);
	assert_int_equal(hint_valid, l->expect_hints);
	assert_int_equal(hint, hint_valid ? m->hint[cb] : 0);
	return 0;
}

struct dloaded {
	const struct model *m;
	int clean;
	uint64_t n;
};

static int on_discard(void *ctx, uint64_t dbs, uint64_t b, int d)
{
	struct dloaded *l = ctx;

	assert_int_equal(dbs, l->m->dbs);
	assert_int_equal(b, l->n);
	l->n++;
	assert_int_equal(d, l->clean ? l->m->disc[b] : 0);
	return 0;
}

/* What the kernel's load would see, for a given policy. */
static void check_loaded(struct cache_live *cl, const struct model *m,
			 const struct cache_live_policy *p, int expect_hints)
{
	struct loaded l = { m, cache_live_clean_when_opened(cl), expect_hints,
			    0, 0 };
	struct dloaded dl = { m, l.clean, 0 };
	uint64_t mapped = 0;

	assert_int_equal(cache_live_load_mappings(cl, p, on_mapping, &l), 0);
	for (uint64_t i = 0; i < m->nr; i++)
		mapped += m->oblock[i] != UNMAPPED;
	assert_int_equal(l.n, mapped);
	assert_int_equal(cache_live_load_discards(cl, on_discard, &dl), 0);
	assert_int_equal(dl.n, m->dnr);
}

static uint64_t dev_blocks(uint64_t nr_cache_blocks)
{
	uint64_t sectors;

	assert_int_equal(cache_msize_conservative(nr_cache_blocks, 4, &sectors),
			 0);
	return sectors / PD_SECTORS_PER_BLOCK;
}

static struct cache_live *open_io(struct pd_io *io, uint32_t version,
				  unsigned flags)
{
	struct cache_live_opts o = { DBS, version, flags, 0 };
	struct cache_live *cl;

	assert_int_equal(cache_live_open(io, &o, &cl), 0);
	return cl;
}

/* ---- tests ---- */

/* A fresh format is the kernel's: empty structures, nothing set. */
static void test_format(void **state)
{
	(void)state;
	for (uint32_t v = 1; v <= 2; v++) {
		uint64_t nb = dev_blocks(1024);
		struct cache_live_opts o = { DBS, v, 0, 0 };
		struct cache_live *cl;
		struct pd_io *io;
		struct cache_sb sb;
		uint64_t used, total;

		assert_int_equal(pd_io_mem_create(nb, &io), 0);
		/* Not allowed to format: the zeroed device is left alone. */
		assert_int_equal(cache_live_open(io, &o, &cl), -ENODATA);
		assert_null(cl);
		for (uint64_t i = 0; i < nb * PD_BLOCK_SIZE; i++)
			if (pd_io_mem_data(io)[i])
				fail_msg("byte %llu written", (unsigned long long)i);

		cl = open_io(io, v, CACHE_LIVE_MAY_FORMAT);
		assert_true(cache_live_formatted(cl));
		assert_true(cache_live_clean_when_opened(cl));
		assert_false(cache_live_changed(cl));
		cache_live_metadata_usage(cl, &used, &total);
		assert_int_equal(total, nb);
		/* sb, mapping, v2 dirty, discard, sm index + bitmap + overflow */
		assert_int_equal(used, v == 1 ? 6 : 7);
		cache_live_close(cl);

		unpack_sb(pd_io_mem_data(io), &sb);
		assert_int_equal(sb.version, v);
		assert_int_equal(sb.flags, 0);
		assert_int_equal(sb.cache_blocks, 0);
		assert_int_equal(sb.hint_root, 0);
		assert_int_equal(sb.policy_hint_size, 0);
		assert_string_equal(sb.policy_name, "");
		assert_int_equal(sb.discard_block_size, 0);
		assert_int_equal(sb.discard_nr_blocks, 0);
		assert_int_equal(sb.data_block_size, DBS);
		assert_int_equal(sb.metadata_block_size, 8);
		assert_true(sb.mapping_root && sb.discard_root);
		assert_int_equal(sb.dirty_root != 0, v == 2);
		assert_int_equal(sb.read_hits | sb.write_misses, 0);
		check_clean(pd_io_mem_data(io), nb, "fresh format");

		/* Reopened: not formatted again, and not clean (flags 0). */
		cl = open_io(io, 0, CACHE_LIVE_MAY_FORMAT);
		assert_false(cache_live_formatted(cl));
		assert_false(cache_live_clean_when_opened(cl));
		assert_int_equal(cache_live_version(cl), v);
		cache_live_close(cl);

		/* The kernel's refusals at open. */
		o.data_block_size = DBS * 2;
		assert_int_equal(cache_live_open(io, &o, &cl), -EINVAL);
		o.data_block_size = DBS;
		o.version = 3;
		assert_int_equal(cache_live_open(io, &o, &cl), -EINVAL);
		o.version = 0;
		{
			unsigned char keep[PD_BLOCK_SIZE];
			struct cache_sb bad;

			memcpy(keep, pd_io_mem_data(io), PD_BLOCK_SIZE);
			bad = sb;
			bad.incompat_flags = 1;
			cache_sb_pack(&bad, pd_io_mem_data(io));
			pd_validator_prepare(&cache_sb_validator,
					     pd_io_mem_data(io), 0);
			assert_int_equal(cache_live_open(io, &o, &cl), -EINVAL);
			bad = sb;
			bad.version = 3;
			cache_sb_pack(&bad, pd_io_mem_data(io));
			pd_validator_prepare(&cache_sb_validator,
					     pd_io_mem_data(io), 0);
			assert_int_equal(cache_live_open(io, &o, &cl), -EINVAL);
			/* Sizes no device of this size could hold. */
			bad = sb;
			bad.cache_blocks = (uint32_t)(nb * 509);
			cache_sb_pack(&bad, pd_io_mem_data(io));
			pd_validator_prepare(&cache_sb_validator,
					     pd_io_mem_data(io), 0);
			assert_int_equal(cache_live_open(io, &o, &cl), -EUCLEAN);
			bad = sb;
			bad.discard_nr_blocks = nb * 509 * 64;
			bad.discard_block_size = 1;
			cache_sb_pack(&bad, pd_io_mem_data(io));
			pd_validator_prepare(&cache_sb_validator,
					     pd_io_mem_data(io), 0);
			assert_int_equal(cache_live_open(io, &o, &cl), -EUCLEAN);
			pd_io_mem_data(io)[100] ^= 1;	/* checksum */
			assert_int_equal(cache_live_open(io, &o, &cl), -EILSEQ);
			memcpy(pd_io_mem_data(io), keep, PD_BLOCK_SIZE);
		}
		pd_io_destroy(io);
	}
}

/* A format that fails at any write leaves block 0 zeroed: unformatted. */
static void test_format_crash(void **state)
{
	uint64_t nb = dev_blocks(1024), n;

	(void)state;
	for (n = 1;; n++) {
		struct pd_io_fault_plan plan = { n, 0, UINT64_MAX, 1 };
		struct cache_live_opts o = { DBS, 2, CACHE_LIVE_MAY_FORMAT, 0 };
		struct cache_live *cl;
		struct pd_io *inner, *fio;
		const unsigned char *d;
		int r;

		assert_true(n < 100);
		assert_int_equal(pd_io_mem_create(nb, &inner), 0);
		d = pd_io_mem_data(inner);
		assert_int_equal(pd_io_fault_create(inner, &plan, &fio), 0);
		r = cache_live_open(fio, &o, &cl);
		cache_live_close(cl);
		if (r == 0) {
			check_clean(d, nb, "format");
			pd_io_destroy(fio);
			break;
		}
		assert_int_equal(r, -EIO);
		for (unsigned i = 0; i < PD_BLOCK_SIZE; i++)
			if (d[i])
				fail_msg("write %llu failed: block 0 written",
					 (unsigned long long)n);
		pd_io_destroy(fio);
	}
	assert_true(n > 3);	/* the structures, the space map, block 0 */
}

/* Every operation, read back now, after commits and after reopens. */
static void ops_for(uint32_t version)
{
	const uint64_t nr = 1500;
	uint64_t nb = dev_blocks(nr), s = 99 + version;
	struct model *m = model_new(version), *mc;
	struct cache_live *cl;
	struct pd_io *io;
	struct cache_sb sb;

	assert_int_equal(pd_io_mem_create(nb, &io), 0);
	cl = open_io(io, version, CACHE_LIVE_MAY_FORMAT);
	assert_int_equal(op_resize(cl, m, nr), 0);
	assert_int_equal(op_dresize(cl, m, DBS * 2, 5000), 0);
	assert_true(cache_live_changed(cl));
	check_stored(cl, m);

	/* Refusals leave the transaction alive and unchanged. */
	assert_int_equal(cache_live_insert(cl, nr, 1), -EINVAL);
	assert_int_equal(cache_live_insert(cl, 0, CACHE_MAX_OBLOCK + 1), -EINVAL);
	assert_int_equal(cache_live_remove(cl, nr), -EINVAL);
	assert_int_equal(cache_live_set_dirty(cl, nr, 1), -EINVAL);
	assert_int_equal(cache_live_set_discard(cl, 5000, 1), -EINVAL);
	assert_int_equal(cache_live_lookup(cl, nr, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(cache_live_resize(cl, 1ull << 32), -EINVAL);
	{
		struct cache_live_policy bad = smq;

		bad.hint_size = 8;
		assert_int_equal(cache_live_save_hints(cl, &bad, hint_of, m),
				 -EINVAL);
		memset(bad.name, 'x', sizeof(bad.name));
		bad.hint_size = 4;
		assert_int_equal(cache_live_save_hints(cl, &bad, hint_of, m),
				 -EINVAL);
		bad.name[0] = 0;
		assert_int_equal(cache_live_save_hints(cl, &bad, hint_of, m),
				 -EINVAL);
	}
	assert_int_equal(op_insert(cl, m, nr - 1, CACHE_MAX_OBLOCK), 0);
	check_stored(cl, m);
	assert_int_equal(op_remove(cl, m, nr - 1), 0);
	assert_int_equal(churn(cl, m, &s, 3000), 0);
	check_stored(cl, m);
	op_stats(cl, m, 1000);
	assert_int_equal(cache_live_commit(cl, 0), 0);
	assert_false(cache_live_changed(cl));
	check_stored(cl, m);
	check_clean(pd_io_mem_data(io), nb, "runtime commit");
	unpack_sb(pd_io_mem_data(io), &sb);
	assert_int_equal(sb.flags, 0);
	assert_int_equal(sb.read_hits, 1001);
	assert_int_equal(sb.read_misses, 1002);
	assert_int_equal(sb.write_hits, 1003);
	assert_int_equal(sb.write_misses, 1004);
	assert_int_equal(sb.cache_blocks, nr);
	assert_int_equal(sb.hint_root, 0);

	mc = malloc(sizeof(*mc));
	assert_non_null(mc);
	*mc = *m;

	/* More changes, then a close without a commit: they are lost. */
	assert_int_equal(churn(cl, m, &s, 2000), 0);
	cache_live_close(cl);
	*m = *mc;

	/* Not clean: every mapping loads dirty, no hints, no discards. */
	cl = open_io(io, 0, 0);
	assert_false(cache_live_clean_when_opened(cl));
	check_stored(cl, m);
	check_loaded(cl, m, &smq, 0);

	/* v1: an insert over a dirty mapping stores it clean (M_VALID only). */
	assert_int_equal(op_dirty(cl, m, nr - 1, 1), 0);
	assert_int_equal(op_insert(cl, m, nr - 1, 5), 0);
	check_stored(cl, m);

	/* Shrinking over a dirty block is refused and changes nothing. */
	assert_int_equal(op_dirty(cl, m, nr - 10, 1), 0);
	assert_int_equal(op_resize(cl, m, nr - 100), -EINVAL);
	check_stored(cl, m);
	for (uint64_t cb = nr - 100; cb < nr; cb++)
		assert_int_equal(op_dirty(cl, m, cb, 0), 0);
	assert_int_equal(op_resize(cl, m, nr - 100), 0);
	assert_int_equal(op_resize(cl, m, nr + 300), 0);
	assert_int_equal(op_dresize(cl, m, DBS * 2, 3000), 0);
	assert_int_equal(op_dresize(cl, m, DBS * 2, 7000), 0);
	assert_int_equal(churn(cl, m, &s, 1500), 0);
	assert_int_equal(op_dirty_bits(cl, m, &s), 0);
	assert_int_equal(op_hints(cl, m, &smq), 0);
	op_stats(cl, m, 2000);
	check_stored(cl, m);
	assert_int_equal(cache_live_commit(cl, 1), 0);
	check_clean(pd_io_mem_data(io), nb, "clean shutdown");
	unpack_sb(pd_io_mem_data(io), &sb);
	assert_int_equal(sb.flags, CACHE_SB_CLEAN_SHUTDOWN);
	assert_string_equal(sb.policy_name, "smq");
	assert_int_equal(sb.policy_version[0], 2);
	assert_int_equal(sb.policy_hint_size, 4);
	assert_true(sb.hint_root != 0);
	assert_int_equal(sb.read_hits, 2001);
	assert_int_equal(sb.cache_blocks, nr + 300);
	assert_int_equal(sb.discard_nr_blocks, 7000);
	/* A second clean commit of the same state is fine too. */
	assert_int_equal(cache_live_commit(cl, 1), 0);
	cache_live_close(cl);
	*mc = *m;

	/* Clean: stored dirty state, hints for the same policy only. */
	cl = open_io(io, 0, 0);
	assert_true(cache_live_clean_when_opened(cl));
	/* The open cleared CLEAN_SHUTDOWN on disk at once, nothing else. */
	{
		unsigned char before[PD_BLOCK_SIZE];

		memcpy(before, pd_io_mem_data(io), PD_BLOCK_SIZE);
		unpack_sb(pd_io_mem_data(io), &sb);
		assert_int_equal(sb.flags, 0);
		check_clean(pd_io_mem_data(io), nb, "opened");

		/* NEEDS_CHECK in place: only the flags (and checksum) change. */
		assert_int_equal(cache_live_set_needs_check(cl, 1), 0);
		assert_true(cache_live_needs_check(cl));
		unpack_sb(pd_io_mem_data(io), &sb);
		assert_int_equal(sb.flags, CACHE_SB_NEEDS_CHECK);
		assert_memory_equal(before + 8, pd_io_mem_data(io) + 8,
				    PD_BLOCK_SIZE - 8);
	}
	check_stored(cl, m);
	check_loaded(cl, m, &smq, 1);
	check_loaded(cl, m, NULL, 0);
	{
		struct cache_live_policy p = smq;

		p.version[1] = 7;	/* minor versions may differ */
		check_loaded(cl, m, &p, 1);
		p.version[0] = 1;
		check_loaded(cl, m, &p, 0);
		p = smq;
		strcpy(p.name, "mq");
		check_loaded(cl, m, &p, 0);
		p = smq;
		p.hint_size = 0;
		check_loaded(cl, m, &p, 0);
	}
	/* NEEDS_CHECK stays through commits until cleared. */
	assert_int_equal(churn(cl, m, &s, 500), 0);
	assert_int_equal(cache_live_commit(cl, 0), 0);
	unpack_sb(pd_io_mem_data(io), &sb);
	assert_int_equal(sb.flags, CACHE_SB_NEEDS_CHECK);
	assert_int_equal(cache_live_set_needs_check(cl, 0), 0);
	unpack_sb(pd_io_mem_data(io), &sb);
	assert_int_equal(sb.flags, 0);
	*mc = *m;

	/* Abort drops the transaction and brings back the last commit. */
	assert_int_equal(churn(cl, m, &s, 800), 0);
	assert_int_equal(op_resize(cl, m, m->nr + 500), 0);
	assert_int_equal(cache_live_abort(cl), 0);
	*m = *mc;
	check_stored(cl, m);

	/* Hint size 0 records the policy and keeps the old hints. */
	{
		struct cache_live_policy cleaner = { "cleaner", { 2, 0, 0 }, 0 };

		assert_int_equal(op_hints(cl, m, &cleaner), 0);
		assert_int_equal(cache_live_commit(cl, 1), 0);
		cache_live_close(cl);
		cl = open_io(io, 0, 0);
		cleaner.hint_size = 4;
		check_loaded(cl, m, &cleaner, 1);
		check_loaded(cl, m, &smq, 0);
	}
	cache_live_close(cl);
	check_clean(pd_io_mem_data(io), nb, "final");

	/*
	 * 0.9.0 writes hint size 0 for 4-byte hints: a resize keeps that hint
	 * array as long as the cache too (the kernel would not offer those
	 * hints to any policy, and does not).
	 */
	{
		unsigned char *d = pd_io_mem_data(io);

		unpack_sb(d, &sb);
		sb.policy_hint_size = 0;
		cache_sb_pack(&sb, d);
		pd_validator_prepare(&cache_sb_validator, d, 0);
		cl = open_io(io, 0, 0);
		check_loaded(cl, m, &smq, 0);
		assert_int_equal(op_resize(cl, m, m->nr + 600), 0);
		assert_int_equal(cache_live_commit(cl, 1), 0);
		cache_live_close(cl);
		check_clean(d, nb, "0.9.0 hint size, grown");
	}
	free(mc);
	free(m);
	pd_io_destroy(io);
}

static void test_ops(void **state)
{
	(void)state;
	ops_for(1);
	ops_for(2);
}

/* ---- crash safety ---- */

struct crash_rig {
	uint32_t version;
	unsigned cache;			/* block-manager blocks */
	uint64_t nb;
	unsigned char *base;		/* the committed image before */
	struct model *m0;		/* and its state */
	unsigned char *snap1;		/* right after the first commit */
	struct model *m1;
	uint64_t w1;			/* writes up to that commit's superblock */
	struct pd_io *fio;		/* the run's fault engine */
	unsigned char *inner;		/* its device's bytes */
};

static void after_first_commit(struct crash_rig *g, const struct model *m)
{
	g->w1 = pd_io_fault_writes(g->fio);
	memcpy(g->snap1, g->inner, g->nb * PD_BLOCK_SIZE);
	*g->m1 = *m;
}

/*
 * Open, grow, churn, commit; churn, dirty bits, hints, clean commit.
 * Returns the first error; *stage says how many commits got through.
 */
static int crash_txn(struct crash_rig *g, struct model *m, int record,
		     struct cache_live **clp, int *stage)
{
	struct cache_live_opts o = { DBS, 0, 0, g->cache };
	struct cache_live *cl;
	uint64_t s = 4242;
	int r;

	*stage = 0;
	*clp = NULL;
	r = cache_live_open(g->fio, &o, clp);
	if (r)
		return r;
	cl = *clp;
	r = op_resize(cl, m, m->nr + 700);
	if (!r)
		r = op_dresize(cl, m, m->dbs, m->dnr + 1000);
	if (!r)
		r = churn(cl, m, &s, 400);
	if (!r) {
		op_stats(cl, m, 50);
		r = cache_live_commit(cl, 0);
	}
	if (r)
		return r;
	*stage = 1;
	if (record)
		after_first_commit(g, m);
	r = churn(cl, m, &s, 300);
	if (!r)
		r = op_dirty_bits(cl, m, &s);
	if (!r)
		r = op_hints(cl, m, &smq);
	if (!r) {
		op_stats(cl, m, 60);
		r = cache_live_commit(cl, 1);
	}
	if (!r)
		*stage = 2;
	return r;
}

/* Blocks the commit in img holds, by its own space map. */
static uint32_t *used_blocks(const unsigned char *img, uint64_t nb)
{
	struct pd_io *io = mem_copy(img, nb);
	uint32_t *used = calloc(nb, sizeof(*used));
	struct pd_bm *bm;
	struct pd_tm *tm;
	struct cache_sb sb;

	assert_non_null(used);
	unpack_sb(img, &sb);
	assert_int_equal(pd_bm_create(io, 64, &bm), 0);
	assert_int_equal(pd_tm_open(bm, &sb.sm_root, &tm), 0);
	for (uint64_t b = 0; b < nb; b++)
		used[b] = pd_tm_ref_count(tm, b);
	pd_tm_destroy(tm);
	pd_bm_destroy(bm);
	pd_io_destroy(io);
	return used;
}

/*
 * img holds exactly the commit in want: its blocks unchanged (block 0 but
 * for flags and checksum), the checker silent, the state the model's.
 */
static void check_is(const struct crash_rig *g, const unsigned char *img,
		     const unsigned char *want, const uint32_t *used,
		     const struct model *m, uint64_t n)
{
	struct cache_live_opts o = { DBS, 0, 0, 0 };
	struct cache_live *cl;
	struct pd_io *io;
	char what[80];

	if (memcmp(img + 8, want + 8, PD_BLOCK_SIZE - 8))
		fail_msg("v%u write %llu failed: the superblock changed",
			 g->version, (unsigned long long)n);
	for (uint64_t b = 1; b < g->nb; b++)
		if (used[b] && memcmp(img + b * PD_BLOCK_SIZE,
				      want + b * PD_BLOCK_SIZE, PD_BLOCK_SIZE))
			fail_msg("v%u write %llu failed: committed block %llu "
				 "changed", g->version, (unsigned long long)n,
				 (unsigned long long)b);
	snprintf(what, sizeof(what), "v%u cache %u after write %llu failed",
		 g->version, g->cache, (unsigned long long)n);
	check_clean(img, g->nb, what);
	io = mem_copy(img, g->nb);
	assert_int_equal(cache_live_open(io, &o, &cl), 0);
	check_stored(cl, m);
	cache_live_close(cl);
	pd_io_destroy(io);
}

static void crash_rig_init(struct crash_rig *g, uint32_t version,
			   unsigned cache)
{
	struct cache_live *cl;
	struct pd_io *io;
	uint64_t s = 7;

	memset(g, 0, sizeof(*g));
	g->version = version;
	g->cache = cache;
	g->nb = dev_blocks(3500);
	g->m0 = model_new(version);
	g->m1 = model_new(version);
	g->base = malloc(g->nb * PD_BLOCK_SIZE);
	g->snap1 = malloc(g->nb * PD_BLOCK_SIZE);
	assert_true(g->base && g->snap1);
	assert_int_equal(pd_io_mem_create(g->nb, &io), 0);
	cl = open_io(io, version, CACHE_LIVE_MAY_FORMAT);
	assert_int_equal(op_resize(cl, g->m0, 2500), 0);
	assert_int_equal(op_dresize(cl, g->m0, DBS * 2, 4000), 0);
	assert_int_equal(churn(cl, g->m0, &s, 1500), 0);
	assert_int_equal(op_dirty_bits(cl, g->m0, &s), 0);
	assert_int_equal(op_hints(cl, g->m0, &smq), 0);
	op_stats(cl, g->m0, 10);
	assert_int_equal(cache_live_commit(cl, 1), 0);
	cache_live_close(cl);
	memcpy(g->base, pd_io_mem_data(io), g->nb * PD_BLOCK_SIZE);
	pd_io_destroy(io);
}

static void crash_rig_release(struct crash_rig *g)
{
	free(g->base);
	free(g->snap1);
	free(g->m0);
	free(g->m1);
}

/* A run over a copy of the base image whose write fail_at fails. */
static struct pd_io *crash_io(struct crash_rig *g, uint64_t fail_at,
			      int sticky)
{
	struct pd_io_fault_plan plan = { fail_at, 0, UINT64_MAX, sticky };
	struct pd_io *inner = mem_copy(g->base, g->nb);

	g->inner = pd_io_mem_data(inner);
	assert_int_equal(pd_io_fault_create(inner, &plan, &g->fio), 0);
	return g->fio;
}

static void crash_loop(uint32_t version, unsigned cache)
{
	struct crash_rig g;
	struct model *m = model_new(version);
	struct cache_live *cl;
	uint32_t *used0, *used1;
	uint64_t total, n;
	int stage, r;

	crash_rig_init(&g, version, cache);
	/* The reference run: count the writes, keep the first commit. */
	crash_io(&g, 0, 1);
	*m = *g.m0;
	assert_int_equal(crash_txn(&g, m, 1, &cl, &stage), 0);
	assert_int_equal(stage, 2);
	total = pd_io_fault_writes(g.fio);
	cache_live_close(cl);
	check_clean(g.inner, g.nb, "reference run");
	pd_io_destroy(g.fio);
	assert_true(g.w1 > 2 && total > g.w1 + 2);
	used0 = used_blocks(g.base, g.nb);
	used1 = used_blocks(g.snap1, g.nb);

	for (int sticky = 1; sticky >= 0; sticky--) {
		for (n = 1; n <= total + 1; n++) {
			int early = n <= g.w1;

			crash_io(&g, n, sticky);
			*m = *g.m0;
			r = crash_txn(&g, m, 0, &cl, &stage);
			if (n > total) {
				/* Past the last write: it all got through. */
				assert_int_equal(r, 0);
				cache_live_close(cl);
				pd_io_destroy(g.fio);
				break;
			}
			if (r != -EIO)
				fail_msg("v%u write %llu of %llu failed: %d",
					 version, (unsigned long long)n,
					 (unsigned long long)total, r);
			assert_int_equal(stage, early ? 0 : 1);
			check_is(&g, g.inner, early ? g.base : g.snap1,
				 early ? used0 : used1, early ? g.m0 : g.m1, n);
			if (cl) {
				/* Dead until aborted. */
				assert_int_equal(cache_live_insert(cl, 0, 1),
						 -ESTALE);
				assert_int_equal(cache_live_commit(cl, 0),
						 -ESTALE);
			}
			if (cl && !sticky) {
				/*
				 * The kernel marks NEEDS_CHECK after a failure:
				 * in place, on the commit the device holds.
				 */
				struct cache_sb sb;

				assert_int_equal(cache_live_set_needs_check(cl, 1),
						 0);
				unpack_sb(g.inner, &sb);
				assert_true(sb.flags & CACHE_SB_NEEDS_CHECK);
				assert_int_equal(cache_live_set_needs_check(cl, 0),
						 0);
				check_is(&g, g.inner, early ? g.base : g.snap1,
					 early ? used0 : used1,
					 early ? g.m0 : g.m1, n);
				/* One write lost: abort, and carry on. */
				assert_int_equal(cache_live_abort(cl), 0);
				check_stored(cl, early ? g.m0 : g.m1);
				assert_int_equal(cache_live_commit(cl, 0), 0);
				check_clean(g.inner, g.nb, "after abort");
			}
			cache_live_close(cl);
			pd_io_destroy(g.fio);
		}
		assert_int_equal(n, total + 1);
	}
	free(used0);
	free(used1);
	free(m);
	crash_rig_release(&g);
}

static void test_crash(void **state)
{
	(void)state;
	crash_loop(1, 16);	/* evictions write in the middle of operations */
	crash_loop(2, 16);
	crash_loop(2, 0);	/* everything written by the commits */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_crash),
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_crash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
