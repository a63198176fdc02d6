// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * thin_check pass 4 on two CPUs: two threads read, check and count the
 * leaves of the device trees.
 *
 * On a sound pool nearly all of thin_check's time is reading leaves (the
 * kernel's copy out of the page cache, the checksum) and counting their
 * data blocks, and the leaves are independent of each other.  One thread
 * copies out of the page cache at about 6 GB/s here; two copy at twice
 * that.  So:
 *
 *  1. The walk goes over each device tree reading its internal nodes only
 *     (about one block in a hundred): every leaf but the first of each
 *     tree (which tells the walker the leaves' depth) is listed, with the
 *     keys it may hold and its depth, not read.
 *  2. Two threads take the list PAR_CHUNK leaves at a time from an atomic
 *     counter, in the walk's order (close to the disk's), each with its
 *     own block manager and data counts.  Nothing is locked and nobody
 *     waits: a thread that gets no CPU (a busy machine) leaves the list to
 *     the other, which then does what one thread would.
 *  3. The counts are merged.
 *
 * Reports must come out in the walk's order, and with two threads they
 * could not, so this is a probe: it counts only what a sound tree has.
 * The first thing either thread would report (a damaged node, a mapping
 * past the data device or after the pool time, a read error) abandons it;
 * the data counts go back to zero and the usual walk runs from the start,
 * saying everything as it always did.  When the probe succeeds every
 * leaf's mapping count is in memo[], and the usual walk runs once more
 * over the internal nodes only (check_trees.c): it counts the metadata
 * references, the mappings per device and compares them with the details,
 * reports in order, and reads no leaf but the first of each device.
 * Nothing here reports.
 *
 * Not used with one CPU, an engine that reads from one thread only (aio on
 * block devices, where the reads already overlap), without memo[], or on
 * small pools (PAR_MIN_BLOCKS).  The list costs 32 bytes a leaf, under 1%
 * of the metadata it stands for.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitmap.h"
#include "base/endian.h"
#include "base/grow.h"
#include "pdata/bm.h"
#include "pdata/btree.h"
#include "pdata/io.h"
#include "thin/check_int.h"

/*
 * Metadata blocks in use below which one thread is as fast: the leaves
 * then sit in the CPU's cache, and the second walk and the thread cost
 * what the reading would save.
 */
#define PAR_MIN_BLOCKS 32768u
/* Leaves a thread takes at once: one prefetch, a few preadv calls. */
#define PAR_CHUNK 64u
/* Each thread's cache: its prefetch takes up to half, a chunk. */
#define PAR_BM_BLOCKS (4 * PAR_CHUNK)
/* Stops the walk when the probe is abandoned. */
#define PAR_ABANDON (-EAGAIN)

struct leaf_job {
	uint64_t block;
	struct pd_btree_bounds b;
	unsigned depth;
};

struct par {
	struct checker *c;
	struct leaf_job *jobs;		/* step 1's list, in walk order */
	size_t nr_jobs, cap;
	_Atomic size_t next;		/* the first job no thread took */
	_Atomic int abandon;
	struct base_bitmap seen;	/* nodes the probe walked (c->seen: before) */
};

/* One of the two threads: its block manager and data counts. */
struct side {
	struct par *p;
	struct pd_bm *bm;
	struct base_refcount *drefs;
	int nomem;
};

/* 0, PAR_ABANDON for anything to report, or -ENOMEM. */
static int do_leaf(struct side *s, const struct leaf_job *j)
{
	struct checker *c = s->p->c;
	struct pd_btree_damage d;
	struct pd_block *blk;
	struct pd_fault f;
	const struct pd_node_header *h;
	const unsigned char *data;
	unsigned nr;
	int r;

	r = pd_bm_read_lock(s->bm, j->block, &pd_btree_validator, &blk, &f);
	if (r < 0)
		return PAR_ABANDON;
	data = pd_block_data(blk);
	if (pd_btree_check_leaf(data, j->block, 8, &j->b, j->depth, THIN_WALK,
				&d)) {
		pd_bm_unlock(blk);
		return PAR_ABANDON;
	}
	h = (const struct pd_node_header *)data;
	nr = le32_to_cpu(h->nr_entries);
	r = tc_count_leaf_runs(c, s->drefs, pd_node_values(data), nr);
	pd_bm_unlock(blk);
	if (r <= 0)
		return r < 0 ? r : PAR_ABANDON;
	c->memo[j->block] = nr;
	return 0;
}

/* Takes chunks of the list until none is left or the probe is abandoned. */
static void run_side(struct side *s)
{
	struct par *p = s->p;
	uint64_t blocks[PAR_CHUNK];

	for (;;) {
		size_t i = atomic_fetch_add(&p->next, PAR_CHUNK);
		size_t n;

		if (i >= p->nr_jobs ||
		    atomic_load_explicit(&p->abandon, memory_order_relaxed))
			break;
		n = p->nr_jobs - i < PAR_CHUNK ? p->nr_jobs - i : PAR_CHUNK;
		for (size_t k = 0; k < n; k++)
			blocks[k] = p->jobs[i + k].block;
		pd_bm_prefetch(s->bm, blocks, (unsigned)n);
		for (size_t k = 0; k < n; k++) {
			int r = do_leaf(s, &p->jobs[i + k]);

			if (r == -ENOMEM)
				s->nomem = 1;
			if (r < 0) {
				atomic_store(&p->abandon, 1);
				break;
			}
		}
	}
}

static void *side_main(void *arg)
{
	run_side(arg);
	return NULL;
}

/* ---- step 1: the walk over the internal nodes ---- */

static int cb_list_leaf(void *ctx, uint64_t block,
			const struct pd_btree_bounds *b, unsigned depth,
			int counted)
{
	struct par *p = ctx;

	(void)counted;
	if (BASE_GROW(p->jobs, p->cap, p->nr_jobs + 1, 4096) < 0)
		return -ENOMEM;
	p->jobs[p->nr_jobs++] = (struct leaf_job){ block, *b, depth };
	return 1;
}

static int cb_enter(void *ctx, uint64_t block, unsigned depth)
{
	struct par *p = ctx;

	(void)depth;
	/*
	 * A subtree another device shares is counted once, as the kernel
	 * counts it; a node the earlier passes walked (details, the top
	 * level) is left to the usual walk.  c->seen is only read: the usual
	 * walk that follows starts from it.
	 */
	if (base_bitmap_test(&p->c->seen, block) ||
	    base_bitmap_test_and_set(&p->seen, block))
		return 1;
	p->c->memo[block] = 0;	/* an empty leaf's count, if nothing else */
	return 0;
}

/* The first leaf of each tree, which the walk reads itself. */
static int cb_leaf(void *ctx, uint64_t block, unsigned nr, const void *keys,
		   const void *values, int counted)
{
	struct par *p = ctx;
	int r;

	(void)keys;
	(void)counted;
	r = tc_count_leaf_runs(p->c, &p->c->drefs, values, nr);
	if (r <= 0)
		return r < 0 ? r : PAR_ABANDON;
	p->c->memo[block] = nr;
	return 0;
}

static int cb_damage(void *ctx, const struct pd_btree_damage *d)
{
	(void)ctx;
	(void)d;
	return PAR_ABANDON;
}

static int usable(const struct checker *c)
{
	cpu_set_t cpus;

	if (c->opts->threads == 1 || !c->memo || !c->io->concurrent_reads ||
	    !c->top.n || c->drefs_incomplete || !c->drefs.words ||
	    (c->opts->threads != 2 &&
	     c->sb.metadata_sm.nr_allocated < PAR_MIN_BLOCKS))
		return 0;
	return sched_getaffinity(0, sizeof(cpus), &cpus) == 0 &&
	       CPU_COUNT(&cpus) >= 2;
}

/* Steps 2 and 3: both threads over the list, then the counts merged. */
static int count_listed(struct par *p)
{
	struct base_refcount drefs = { 0 };
	struct side mine = { p, p->c->bm, &p->c->drefs, 0 };
	struct side theirs = { p, NULL, &drefs, 0 };
	sigset_t all, old;
	pthread_t thread;
	int r, started;

	if (pd_bm_create(p->c->io, PAR_BM_BLOCKS, &theirs.bm) < 0 ||
	    base_refcount_init(&drefs, p->c->nr_drefs) < 0) {
		r = -ENOMEM;
		goto out;
	}
	/* Signals stay with the tool's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	started = pthread_create(&thread, NULL, side_main, &theirs) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	run_side(&mine);
	if (started)
		pthread_join(thread, NULL);
	else
		run_side(&theirs);	/* no thread: the same work, here */
	r = 0;
	if (mine.nomem || theirs.nomem)
		r = -ENOMEM;
	else if (atomic_load(&p->abandon))
		r = PAR_ABANDON;
	else
		r = base_refcount_add(&p->c->drefs, &drefs);
out:
	base_refcount_release(&drefs);
	pd_bm_destroy(theirs.bm);
	return r;
}

int tc_par_map_leaves(struct checker *c)
{
	static const struct pd_btree_walk_ops ops = {
		.leaf = cb_leaf,
		.damage = cb_damage,
		.enter = cb_enter,
		.hand_off = cb_list_leaf,
	};
	struct par *p;
	uint64_t hint;
	int r = 0, ok = 0;

	if (!usable(c))
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return 0;
	p->c = c;
	if (base_bitmap_init(&p->seen, c->seen.nr_bits) < 0)
		goto out_free;
	/*
	 * Room for as many leaves as blocks are in use, so that the list is
	 * not copied as it grows (only the pages it fills are faulted in);
	 * the count is the superblock's, so only a hint, and capped.
	 */
	hint = c->sb.metadata_sm.nr_allocated;
	if (hint > pd_bm_nr_blocks(c->bm))
		hint = pd_bm_nr_blocks(c->bm);
	(void)BASE_GROW(p->jobs, p->cap, (size_t)hint, 4096);
	for (size_t i = 0; i < c->top.n && r == 0; i++)
		r = pd_btree_walk(c->bm, c->top.v[i].root, 8, THIN_WALK, &ops,
				  p);
	if (r == 0)
		r = count_listed(p);
	/*
	 * Anything but a clean probe, even an error of its own (memory),
	 * leaves it to the usual walk, which says what is wrong.
	 */
	ok = r == 0;
	if (!ok)
		base_refcount_clear_range(&c->drefs, 0, c->drefs.nr);
out_free:
	base_bitmap_release(&p->seen);
	free(p->jobs);
	free(p);
	return ok;
}
