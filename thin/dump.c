// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The thin dump (thin/dump.h).  The superblock, the details tree and the
 * top level of the mapping tree are read whole first (they are small: one
 * entry per device); then each device's tree is walked in key order and
 * its mappings merged into runs on the fly, so a pool with tens of millions
 * of mappings is never held in memory.
 *
 * Runs are merged as 0.9.0 merges them: a mapping extends the current run
 * when its virtual and data blocks both follow the run's last ones and its
 * time is the run's time; a run carries over leaf boundaries.
 *
 * A snapshot nobody has written to since it was taken has its origin's
 * root: both devices' mappings are the same runs.  The runs of such a tree
 * are kept (up to MEMO_BUDGET bytes in all) the first time it is walked,
 * and replayed for the other devices with that root instead of reading
 * the tree again; a walk that met damage is not kept, so every device
 * still reports its own.
 */
#include "thin/dump.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "base/grow.h"
#include "base/sorted.h"
#include "pdata/btree.h"

/* Enough for a prefetched level (up to 252 children) and the walker. */
#define DUMP_BM_BLOCKS 512u
/*
 * Every thin tree: leaves may be under a third full, as range removal in
 * the kernel leaves them (pdata/btree.h); internal nodes may not.
 */
#define THIN_WALK (PD_WALK_PREFETCH | PD_WALK_LEAF_UNDERFULL_OK)
#define MEMO_BUDGET (8u << 20)

const char *thin_dump_status_name(enum thin_dump_status s)
{
	switch (s) {
	case THIN_DUMP_OK:
		return "ok";
	case THIN_DUMP_SB_UNREADABLE:
		return "superblock cannot be read";
	case THIN_DUMP_SB_ZEROED:
		return "superblock is all zeroes";
	case THIN_DUMP_SB_NOT_THIN:
		return "not dm-thin metadata (bad superblock magic)";
	case THIN_DUMP_SB_LOCATION:
		return "superblock claims another location";
	case THIN_DUMP_SB_CSUM:
		return "bad checksum in superblock";
	case THIN_DUMP_NO_SNAP:
		return "no current metadata snap";
	case THIN_DUMP_SNAP_BAD:
		return "bad metadata snapshot superblock";
	case THIN_DUMP_DAMAGED:
		return "metadata contains errors";
	case THIN_DUMP_ERROR:
		return "error";
	}
	return "unknown status";
}

struct dev_entry {
	uint64_t id;
	uint64_t root;		/* mapping tree root, 0 = none */
	int have_details;
	struct thin_details details;
};

struct run {
	uint64_t vbegin, dbegin, len;
	uint32_t time;
};

/* The runs of a tree that more devices share whole. */
struct memo {
	uint64_t root;
	unsigned users;		/* devices still to emit with this root */
	int kept;		/* runs[] holds the tree's runs */
	int given_up;		/* past the budget: never kept */
	struct run *runs;
	size_t n, cap;
	uint64_t nr_mappings;
};

struct dump {
	struct pd_bm *bm;
	const struct thin_dump_opts *opts;
	const struct thin_emitter *e;
	struct thin_dump_result *res;
	int repair;

	struct dev_entry *devs;
	size_t nr_devs, cap_devs;
	int pass;		/* 0: details tree, 1: top level */

	/* The current run. */
	int in_run;
	uint64_t vbegin, dbegin, len;
	uint32_t time;
	uint64_t cur_dev;

	struct memo *memos;	/* sorted by root */
	size_t nr_memos;
	size_t memo_bytes;
	struct memo *rec;	/* being recorded by the current walk */
};

static int fail(struct dump *d, enum thin_dump_status s, int err)
{
	if (!d->res->status) {
		d->res->status = s;
		d->res->err = err;
	}
	return err;
}

/* Records damage; 0 in repair mode (skip it), -EUCLEAN otherwise. */
static int damage(struct dump *d, const char *structure, uint64_t dev_id,
		  const struct pd_fault *f)
{
	struct thin_dump_result *res = d->res;

	if (!res->nr_damage++) {
		res->structure = structure;
		res->dev_id = dev_id;
		if (f)
			res->fault = *f;
	}
	return d->repair ? 0 : fail(d, THIN_DUMP_DAMAGED, -EUCLEAN);
}

static int is_zero_block(const unsigned char *p)
{
	for (unsigned i = 0; i < PD_BLOCK_SIZE; i++)
		if (p[i])
			return 0;
	return 1;
}

static int read_superblock(struct dump *d, uint64_t block, struct thin_sb *sb,
			   int snap)
{
	struct pd_fault f;
	struct pd_block *b;
	const unsigned char *raw;
	int r;

	memset(&f, 0, sizeof(f));
	r = pd_bm_read_lock(d->bm, block, NULL, &b, &f);
	if (r < 0) {
		d->res->fault = f;
		return fail(d, snap ? THIN_DUMP_SNAP_BAD : THIN_DUMP_SB_UNREADABLE,
			    r);
	}
	raw = pd_block_data(b);
	thin_sb_unpack(raw, sb);
	if (!snap && is_zero_block(raw)) {
		r = fail(d, THIN_DUMP_SB_ZEROED, -EILSEQ);
		goto out;
	}
	if (!snap && sb->magic != THIN_SB_MAGIC) {
		r = fail(d, THIN_DUMP_SB_NOT_THIN, -EILSEQ);
		goto out;
	}
	r = pd_validate(&thin_sb_validator, raw, block, &f);
	if (r < 0) {
		d->res->fault = f;
		if (snap)
			r = fail(d, THIN_DUMP_SNAP_BAD, -EILSEQ);
		else
			r = fail(d, f.kind == PD_FAULT_LOCATION ?
					    THIN_DUMP_SB_LOCATION :
					    THIN_DUMP_SB_CSUM, -EILSEQ);
	}
out:
	pd_bm_unlock(b);
	return r;
}

/* ---- the device list: details tree and top level ---- */

static struct dev_entry *find_dev(struct dump *d, uint64_t id)
{
	return BASE_FIND(d->devs, d->nr_devs, id, id);
}

static struct dev_entry *add_dev(struct dump *d, uint64_t id)
{
	struct dev_entry *x;

	if (BASE_GROW(d->devs, d->cap_devs, d->nr_devs + 1, 64) < 0)
		return NULL;
	x = &d->devs[d->nr_devs++];
	memset(x, 0, sizeof(*x));
	x->id = id;
	return x;
}

static int details_leaf(void *ctx, uint64_t block, unsigned nr,
			const void *keys, const void *values, int counted)
{
	struct dump *d = ctx;
	const unsigned char *kp = keys, *vp = values;

	(void)counted;
	(void)block;
	for (unsigned i = 0; i < nr; i++) {
		/* Keys come in increasing order: the list stays sorted. */
		struct dev_entry *x = add_dev(d, load_le64(kp + 8 * (size_t)i));

		if (!x)
			return -ENOMEM;
		x->have_details = 1;
		thin_details_unpack(vp + sizeof(struct thin_disk_details) * i,
				    &x->details);
	}
	return 0;
}

static int top_leaf(void *ctx, uint64_t block, unsigned nr, const void *keys,
		    const void *values, int counted)
{
	struct dump *d = ctx;
	const unsigned char *kp = keys, *vp = values;

	(void)counted;
	(void)block;
	for (unsigned i = 0; i < nr; i++) {
		uint64_t id = load_le64(kp + 8 * (size_t)i);
		uint64_t root = load_le64(vp + 8 * (size_t)i);
		struct dev_entry *x = find_dev(d, id);
		struct pd_fault f = { 0 };

		if (x) {
			x->root = root;
			continue;
		}
		/* A mapping tree without details: cannot be dumped. */
		f.block = block;
		f.validator = "btree node";
		f.kind = PD_FAULT_NONE;
		f.what = "device without details";
		f.found = id;
		d->res->lost_devices++;
		if (damage(d, "data mapping tree (top level)", id, &f))
			return -EUCLEAN;
	}
	return 0;
}

static int tree_damage(void *ctx, const struct pd_btree_damage *bd)
{
	struct dump *d = ctx;
	const char *what = d->pass == 0 ? "device details tree" :
			   d->pass == 1 ? "data mapping tree (top level)" :
					  "device mapping tree";

	return damage(d, what, d->pass == 2 ? d->cur_dev : 0, &bd->fault) ?
		       -EUCLEAN : 0;
}

static int read_devices(struct dump *d, const struct thin_sb *sb)
{
	static const struct pd_btree_walk_ops details_ops = {
		.leaf = details_leaf,
		.damage = tree_damage,
	};
	static const struct pd_btree_walk_ops top_ops = {
		.leaf = top_leaf,
		.damage = tree_damage,
	};
	int r;

	d->pass = 0;
	r = pd_btree_walk(d->bm, sb->details_root,
			  sizeof(struct thin_disk_details), THIN_WALK,
			  &details_ops, d);
	if (r)
		return r == -EUCLEAN ? r : fail(d, THIN_DUMP_ERROR, r);
	d->pass = 1;
	r = pd_btree_walk(d->bm, sb->mapping_root, 8, THIN_WALK,
			  &top_ops, d);
	if (r)
		return r == -EUCLEAN ? r : fail(d, THIN_DUMP_ERROR, r);
	/* Details without a mapping tree. */
	for (size_t i = 0; i < d->nr_devs; i++) {
		struct pd_fault f = { 0 };

		if (d->devs[i].root)
			continue;
		f.validator = "btree node";
		f.what = "device without a mapping tree";
		f.found = d->devs[i].id;
		d->res->lost_devices++;
		r = damage(d, "data mapping tree (top level)", d->devs[i].id,
			   &f);
		if (r)
			return r;
	}
	return 0;
}

/* ---- mappings ---- */

static void drop_memo(struct dump *d, struct memo *m)
{
	d->memo_bytes -= m->cap * sizeof(*m->runs);
	free(m->runs);
	m->runs = NULL;
	m->n = m->cap = 0;
	m->kept = 0;
}

/* Appends the current run to the tree being recorded, within the budget. */
static void record_run(struct dump *d)
{
	struct memo *m = d->rec;

	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 256;
		struct run *x = NULL;

		if (d->memo_bytes + (cap - m->cap) * sizeof(*x) <= MEMO_BUDGET)
			x = realloc(m->runs, cap * sizeof(*x));
		if (!x) {
			/* Over the budget: the other devices read it again. */
			drop_memo(d, m);
			m->given_up = 1;
			d->rec = NULL;
			return;
		}
		d->memo_bytes += (cap - m->cap) * sizeof(*x);
		m->runs = x;
		m->cap = cap;
	}
	m->runs[m->n++] = (struct run){ d->vbegin, d->dbegin, d->len,
					d->time };
}

static int end_run(struct dump *d)
{
	int r = 0;

	if (!d->in_run)
		return 0;
	d->in_run = 0;
	d->res->nr_runs++;
	if (d->rec)
		record_run(d);
	if (d->e->mapping)
		r = d->e->mapping(d->e->ctx, d->vbegin, d->dbegin, d->len,
				  d->time);
	return r ? fail(d, THIN_DUMP_ERROR, r) : 0;
}

/*
 * How many mappings from i on continue each other (virtual and data block
 * one up, the same time): a leaf of a pool allocated in order is a few such
 * runs, each found here with one compare of the packed value per mapping.
 */
static unsigned run_length(const unsigned char *kp, const unsigned char *vp,
			   unsigned i, unsigned nr)
{
	uint64_t v = load_le64(kp + 8 * (size_t)i);
	uint64_t bt = load_le64(vp + 8 * (size_t)i);
	unsigned len = 1;

	/* No wrap: the data block field is 40 bits, nr at most 255. */
	if (thin_block_time_block(bt) + nr >= 1ull << (64 - THIN_TIME_BITS))
		return 1;
	while (i + len < nr &&
	       load_le64(kp + 8 * (size_t)(i + len)) == v + len &&
	       load_le64(vp + 8 * (size_t)(i + len)) ==
		       bt + ((uint64_t)len << THIN_TIME_BITS))
		len++;
	return len;
}

static int map_leaf(void *ctx, uint64_t block, unsigned nr, const void *keys,
		    const void *values, int counted)
{
	struct dump *d = ctx;
	const unsigned char *kp = keys, *vp = values;
	int r;

	(void)counted;
	(void)block;
	d->res->nr_mappings += nr;
	for (unsigned i = 0; i < nr;) {
		uint64_t v = load_le64(kp + 8 * (size_t)i);
		uint64_t bt = load_le64(vp + 8 * (size_t)i);
		uint64_t db = thin_block_time_block(bt);
		uint32_t t = thin_block_time_time(bt);
		unsigned len = run_length(kp, vp, i, nr);

		if (d->in_run && v == d->vbegin + d->len &&
		    db == d->dbegin + d->len && t == d->time) {
			d->len += len;
			i += len;
			continue;
		}
		r = end_run(d);
		if (r)
			return r;
		d->in_run = 1;
		d->vbegin = v;
		d->dbegin = db;
		d->len = len;
		d->time = t;
		i += len;
	}
	return 0;
}

static struct memo *find_memo(struct dump *d, uint64_t root)
{
	return BASE_FIND(d->memos, d->nr_memos, root, root);
}

/* A kept tree's runs, for a device that shares its root. */
static int replay(struct dump *d, const struct memo *m)
{
	d->res->nr_mappings += m->nr_mappings;
	d->res->nr_runs += m->n;
	for (size_t i = 0; d->e->mapping && i < m->n; i++) {
		const struct run *x = &m->runs[i];
		int r = d->e->mapping(d->e->ctx, x->vbegin, x->dbegin, x->len,
				      x->time);

		if (r)
			return fail(d, THIN_DUMP_ERROR, r);
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A memo for each root that two or more of the devices to emit share. */
static int plan_memos(struct dump *d)
{
	const struct thin_dump_opts *o = d->opts;
	uint64_t *roots;
	size_t n = 0;

	if (o->flags & (THIN_DUMP_SKIP_MAPPINGS | THIN_DUMP_DEV_ID))
		return 0;
	roots = malloc((d->nr_devs ? d->nr_devs : 1) * sizeof(*roots));
	if (!roots)
		return -ENOMEM;
	for (size_t i = 0; i < d->nr_devs; i++)
		if (d->devs[i].root)
			roots[n++] = d->devs[i].root;
	qsort(roots, n, sizeof(*roots), cmp_u64);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;

		while (j < n && roots[j] == roots[i])
			j++;
		if (j - i > 1) {
			if (!d->memos) {
				d->memos = calloc(n / 2, sizeof(*d->memos));
				if (!d->memos) {
					free(roots);
					return -ENOMEM;
				}
			}
			d->memos[d->nr_memos].root = roots[i];
			d->memos[d->nr_memos++].users = (unsigned)(j - i);
		}
		i = j;
	}
	free(roots);
	return 0;
}

static int emit_device(struct dump *d, const struct dev_entry *x)
{
	static const struct pd_btree_walk_ops map_ops = {
		.leaf = map_leaf,
		.damage = tree_damage,
	};
	const struct thin_emitter *e = d->e;
	struct thin_emit_device ed;
	int r;

	ed.dev_id = x->id;
	ed.details = x->details;
	if (e->begin_device) {
		r = e->begin_device(e->ctx, &ed);
		if (r)
			return fail(d, THIN_DUMP_ERROR, r);
	}
	d->res->nr_devices++;
	if (!(d->opts->flags & THIN_DUMP_SKIP_MAPPINGS) && x->root) {
		struct memo *m = find_memo(d, x->root);
		uint64_t damage_before = d->res->nr_damage;
		uint64_t mappings_before = d->res->nr_mappings;

		if (m && m->kept) {
			r = replay(d, m);
			if (r)
				return r;
		} else {
			d->pass = 2;
			d->cur_dev = x->id;
			d->in_run = 0;
			d->rec = m && !m->given_up ? m : NULL;
			r = pd_btree_walk(d->bm, x->root, 8, THIN_WALK,
					  &map_ops, d);
			if (r) {
				d->rec = NULL;
				return r == -EUCLEAN || d->res->status ?
					       r : fail(d, THIN_DUMP_ERROR, r);
			}
			r = end_run(d);
			if (r) {
				d->rec = NULL;
				return r;
			}
			if (d->rec) {
				d->rec = NULL;
				m->nr_mappings = d->res->nr_mappings -
						 mappings_before;
				m->kept = d->res->nr_damage == damage_before;
				if (!m->kept)
					drop_memo(d, m);
			}
		}
		if (m && !--m->users)
			drop_memo(d, m);
	}
	if (e->end_device) {
		r = e->end_device(e->ctx);
		if (r)
			return fail(d, THIN_DUMP_ERROR, r);
	}
	return 0;
}

int thin_dump(struct pd_io *io, const struct thin_dump_opts *opts,
	      const struct thin_emitter *e, struct thin_dump_result *res)
{
	struct dump d = { .opts = opts, .e = e, .res = res };
	struct thin_emit_sb esb;
	struct thin_sb snap, *use = &res->sb;
	int r;

	memset(res, 0, sizeof(*res));
	d.repair = (opts->flags & THIN_DUMP_REPAIR) != 0;
	r = pd_bm_create(io, DUMP_BM_BLOCKS, &d.bm);
	if (r < 0)
		return fail(&d, THIN_DUMP_ERROR, r);
	r = read_superblock(&d, THIN_SB_LOCATION, &res->sb, 0);
	if (r < 0)
		goto out;
	res->have_sb = 1;
	if (opts->flags & THIN_DUMP_METADATA_SNAP) {
		uint64_t blk = opts->snap_block ? opts->snap_block :
						  res->sb.held_root;

		if (!blk) {
			r = fail(&d, THIN_DUMP_NO_SNAP, -ENOENT);
			goto out;
		}
		r = read_superblock(&d, blk, &snap, 1);
		if (r < 0)
			goto out;
		res->sb_block = blk;
		use = &snap;
	}

	r = read_devices(&d, use);
	if (r < 0)
		goto out;
	r = plan_memos(&d);
	if (r < 0) {
		r = fail(&d, THIN_DUMP_ERROR, r);
		goto out;
	}

	esb.time = use->time;
	esb.trans_id = use->trans_id;
	esb.flags = use->flags;
	esb.version = use->version;
	esb.data_block_size = use->data_block_size;
	esb.nr_data_blocks = use->data_sm.nr_blocks;
	/* 0.9.0 never names the held snapshot in its dumps. */
	esb.metadata_snap = 0;
	if (opts->before_emit) {
		r = opts->before_emit(opts->ctx, res);
		if (r) {
			r = fail(&d, THIN_DUMP_ERROR, r);
			goto out;
		}
	}
	if (e->begin_superblock) {
		r = e->begin_superblock(e->ctx, &esb);
		if (r) {
			r = fail(&d, THIN_DUMP_ERROR, r);
			goto out;
		}
	}
	for (size_t i = 0; i < d.nr_devs; i++) {
		const struct dev_entry *x = &d.devs[i];

		if ((opts->flags & THIN_DUMP_DEV_ID) && x->id != opts->dev_id)
			continue;
		r = emit_device(&d, x);
		if (r)
			goto out;
	}
	if (e->end_superblock) {
		r = e->end_superblock(e->ctx);
		if (r) {
			r = fail(&d, THIN_DUMP_ERROR, r);
			goto out;
		}
	}
	r = 0;
out:
	for (size_t i = 0; i < d.nr_memos; i++)
		free(d.memos[i].runs);
	free(d.memos);
	free(d.devs);
	pd_bm_destroy(d.bm);
	return r;
}
