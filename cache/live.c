// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Live dm-cache metadata (cache/live.h): format, open, change and commit,
 * the way the kernel's dm-cache-metadata does it, on the pdata transaction
 * manager.
 *
 * The in-core superblock (struct cache_sb) is the transaction's state: the
 * roots move as the arrays are shadowed, and commit packs it whole into a
 * zeroed block 0.  The on-disk superblock is otherwise only touched in
 * place for its flags (open, needs_check), which changes nothing it points
 * to.  Every error that may have changed counts or blocks marks the handle
 * dead, because the transaction manager cannot undo half an operation;
 * abort re-reads the last commit.
 */
#include "cache/live.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "base/grow.h"
#include "pdata/array.h"
#include "pdata/bitset.h"
#include "pdata/bm.h"
#include "pdata/btree.h"
#include "pdata/ondisk.h"
#include "pdata/tm.h"

#define LIVE_DEFAULT_CACHE 1024u
#define LIVE_MIN_CACHE 16u
#define HINT_SIZE 4u

struct cache_live {
	struct pd_io *io;
	struct pd_bm *bm;
	struct pd_tm *tm;
	unsigned bm_cache;
	uint32_t data_block_size;
	struct cache_sb sb;	/* this transaction's superblock */
	int formatted;
	int clean_when_opened;
	int changed;
	int dead;
};

/* An error that leaves the transaction half done. */
static int fail(struct cache_live *cl, int r)
{
	if (r < 0)
		cl->dead = 1;
	return r;
}

/* ---- superblock ---- */

static int block0_all_zero(struct pd_bm *bm, int *zero)
{
	struct pd_block *b;
	int r;

	r = pd_bm_read_lock(bm, CACHE_SB_LOCATION, NULL, &b, NULL);
	if (r < 0)
		return r;
	*zero = pd_block_data_is_zero(pd_block_data(b));
	pd_bm_unlock(b);
	return 0;
}

static int fill_sb(void *ctx, void *data, const struct pd_sm_root_cpu *root)
{
	struct cache_sb *sb = ctx;

	sb->sm_root = *root;
	cache_sb_pack(sb, data);
	return 0;
}

/*
 * Changes only flag bits of the committed superblock, in place, and flushes
 * (with it whatever blocks of the open transaction are dirty: none of them
 * is reachable from the committed superblock, so that is harmless).
 */
static int update_disk_flags(struct cache_live *cl, uint32_t clear,
			     uint32_t set)
{
	struct cache_disk_sb *d;
	struct pd_block *b;
	int r;

	r = pd_bm_write_lock(cl->bm, CACHE_SB_LOCATION, &cache_sb_validator, &b,
			     NULL);
	if (r < 0)
		return r;
	d = pd_block_wdata(b);
	d->flags = cpu_to_le32((le32_to_cpu(d->flags) & ~clear) | set);
	pd_bm_unlock(b);
	return pd_bm_flush(cl->bm);
}

/* The rules an existing superblock must meet before it is used. */
static int sb_usable(const struct cache_sb *sb, uint32_t data_block_size,
		     uint64_t nr_dev_blocks)
{
	if (sb->version < CACHE_MIN_VERSION || sb->version > CACHE_MAX_VERSION ||
	    sb->incompat_flags || sb->compat_ro_flags ||
	    sb->data_block_size != data_block_size)
		return -EINVAL;
	if (!sb->mapping_root || sb->mapping_root >= nr_dev_blocks ||
	    (sb->version >= 2 &&
	     (!sb->dirty_root || sb->dirty_root >= nr_dev_blocks)) ||
	    sb->discard_root >= nr_dev_blocks ||
	    sb->hint_root >= nr_dev_blocks ||
	    (sb->discard_nr_blocks && !sb->discard_root))
		return -EUCLEAN;
	/*
	 * Loading holds memory per cache block and per discard block: no more
	 * than the device could store (509 mappings, 64 * 509 bits a block).
	 */
	if (sb->cache_blocks / 509 >= nr_dev_blocks ||
	    sb->discard_nr_blocks / 64 / 509 >= nr_dev_blocks)
		return -EUCLEAN;
	return 0;
}

/* Reads the committed superblock and opens the transaction manager on it. */
static int open_existing(struct cache_live *cl)
{
	struct pd_block *b;
	int r;

	r = pd_bm_read_lock(cl->bm, CACHE_SB_LOCATION, &cache_sb_validator, &b,
			    NULL);
	if (r < 0)
		return r;
	cache_sb_unpack(pd_block_data(b), &cl->sb);
	pd_bm_unlock(b);
	r = sb_usable(&cl->sb, cl->data_block_size, pd_bm_nr_blocks(cl->bm));
	if (r < 0)
		return r;
	return pd_tm_open(cl->bm, &cl->sb.sm_root, &cl->tm);
}

static int format(struct cache_live *cl, uint32_t version)
{
	struct cache_sb *sb = &cl->sb;
	int r;

	memset(sb, 0, sizeof(*sb));
	sb->version = version;
	sb->data_block_size = cl->data_block_size;
	sb->metadata_block_size = PD_SECTORS_PER_BLOCK;
	r = pd_tm_create(cl->bm, &cl->tm);
	if (r < 0)
		return r;
	r = pd_btree_empty(cl->tm, 8, &sb->mapping_root);
	if (r == 0 && version >= 2)
		r = pd_btree_empty(cl->tm, 8, &sb->dirty_root);
	if (r == 0)
		r = pd_btree_empty(cl->tm, 8, &sb->discard_root);
	if (r == 0)
		r = pd_tm_commit(cl->tm, fill_sb, sb, &cache_sb_validator);
	return r;
}

int cache_live_open(struct pd_io *io, const struct cache_live_opts *o,
		    struct cache_live **out)
{
	uint32_t version = o->version ? o->version : 2;
	struct cache_live *cl;
	int zero, r;

	*out = NULL;
	if (version < CACHE_MIN_VERSION || version > CACHE_MAX_VERSION ||
	    !o->data_block_size)
		return -EINVAL;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	cl->io = io;
	cl->data_block_size = o->data_block_size;
	cl->bm_cache = o->cache_blocks ? o->cache_blocks : LIVE_DEFAULT_CACHE;
	if (cl->bm_cache < LIVE_MIN_CACHE)
		cl->bm_cache = LIVE_MIN_CACHE;
	r = pd_bm_create(io, cl->bm_cache, &cl->bm);
	if (r < 0)
		goto bad;
	r = block0_all_zero(cl->bm, &zero);
	if (r < 0)
		goto bad;
	if (zero) {
		r = (o->flags & CACHE_LIVE_MAY_FORMAT) ? format(cl, version)
						       : -ENODATA;
		cl->formatted = 1;
		cl->clean_when_opened = 1;	/* nothing on it can be stale */
	} else {
		r = open_existing(cl);
		cl->clean_when_opened =
			(cl->sb.flags & CACHE_SB_CLEAN_SHUTDOWN) != 0;
	}
	if (r < 0)
		goto bad;
	/* From here until a clean commit, a crash must not look clean. */
	if (cl->sb.flags & CACHE_SB_CLEAN_SHUTDOWN) {
		cl->sb.flags &= ~CACHE_SB_CLEAN_SHUTDOWN;
		r = update_disk_flags(cl, CACHE_SB_CLEAN_SHUTDOWN, 0);
		if (r < 0)
			goto bad;
	}
	*out = cl;
	return 0;

bad:
	cache_live_close(cl);
	return r;
}

void cache_live_close(struct cache_live *cl)
{
	if (!cl)
		return;
	pd_tm_destroy(cl->tm);
	pd_bm_destroy(cl->bm);
	free(cl);
}

int cache_live_abort(struct cache_live *cl)
{
	int r;

	pd_tm_destroy(cl->tm);
	cl->tm = NULL;
	pd_bm_destroy(cl->bm);
	cl->bm = NULL;
	cl->dead = 1;
	r = pd_bm_create(cl->io, cl->bm_cache, &cl->bm);
	if (r < 0)
		return r;
	r = open_existing(cl);
	if (r < 0)
		return r;
	cl->dead = 0;
	cl->changed = 0;
	return 0;
}

/* ---- getters ---- */

uint32_t cache_live_version(const struct cache_live *cl)
{
	return cl->sb.version;
}

uint32_t cache_live_data_block_size(const struct cache_live *cl)
{
	return cl->sb.data_block_size;
}

uint64_t cache_live_nr_cache_blocks(const struct cache_live *cl)
{
	return cl->sb.cache_blocks;
}

uint64_t cache_live_discard_block_size(const struct cache_live *cl)
{
	return cl->sb.discard_block_size;
}

uint64_t cache_live_discard_nr_blocks(const struct cache_live *cl)
{
	return cl->sb.discard_nr_blocks;
}

int cache_live_formatted(const struct cache_live *cl)
{
	return cl->formatted;
}

int cache_live_clean_when_opened(const struct cache_live *cl)
{
	return cl->clean_when_opened;
}

int cache_live_needs_check(const struct cache_live *cl)
{
	return (cl->sb.flags & CACHE_SB_NEEDS_CHECK) != 0;
}

int cache_live_changed(const struct cache_live *cl)
{
	return cl->changed;
}

void cache_live_get_policy(const struct cache_live *cl,
			   struct cache_live_policy *p)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->name, cl->sb.policy_name, CACHE_POLICY_NAME_SIZE - 1);
	memcpy(p->version, cl->sb.policy_version, sizeof(p->version));
	p->hint_size = cl->sb.policy_hint_size;
}

void cache_live_metadata_usage(const struct cache_live *cl, uint64_t *used,
			       uint64_t *total)
{
	*used = cl->tm ? pd_tm_nr_allocated(cl->tm) : 0;
	*total = cl->tm ? pd_tm_nr_blocks(cl->tm) : 0;
}

void cache_live_get_stats(const struct cache_live *cl,
			  struct cache_live_stats *s)
{
	s->read_hits = cl->sb.read_hits;
	s->read_misses = cl->sb.read_misses;
	s->write_hits = cl->sb.write_hits;
	s->write_misses = cl->sb.write_misses;
}

void cache_live_set_stats(struct cache_live *cl,
			  const struct cache_live_stats *s)
{
	cl->sb.read_hits = s->read_hits;
	cl->sb.read_misses = s->read_misses;
	cl->sb.write_hits = s->write_hits;
	cl->sb.write_misses = s->write_misses;
}

/* ---- reads of single values ---- */

static int get_mapping(struct cache_live *cl, uint64_t cblock, uint64_t *value)
{
	unsigned char v[8];
	int r;

	r = pd_array_get(cl->bm, cl->sb.mapping_root, 8, cblock, v, NULL);
	if (r < 0)
		return r == -ENODATA ? -EUCLEAN : r;
	*value = load_le64(v);
	return 0;
}

static int get_bit(struct cache_live *cl, uint64_t root, uint64_t i, int *bit)
{
	unsigned char v[8];
	int r;

	r = pd_array_get(cl->bm, root, 8, i / 64, v, NULL);
	if (r < 0)
		return r == -ENODATA ? -EUCLEAN : r;
	*bit = (load_le64(v) >> (i % 64)) & 1;
	return 0;
}

static int stored_dirty(struct cache_live *cl, uint64_t cblock, uint64_t value,
			int *dirty)
{
	if (cl->sb.version < 2) {
		*dirty = (cache_mapping_flags(value) & CACHE_M_DIRTY) != 0;
		return 0;
	}
	return get_bit(cl, cl->sb.dirty_root, cblock, dirty);
}

int cache_live_lookup(struct cache_live *cl, uint64_t cblock, int *valid,
		      uint64_t *oblock, int *dirty)
{
	uint64_t value;
	int d, r;

	if (cl->dead)
		return -ESTALE;
	if (cblock >= cl->sb.cache_blocks)
		return -EINVAL;
	r = get_mapping(cl, cblock, &value);
	if (r == 0)
		r = stored_dirty(cl, cblock, value, &d);
	if (r < 0)
		return fail(cl, r);
	if (valid)
		*valid = (cache_mapping_flags(value) & CACHE_M_VALID) != 0;
	if (oblock)
		*oblock = cache_mapping_oblock(value);
	if (dirty)
		*dirty = d;
	return 0;
}

/* ---- mappings ---- */

static int set_mapping(struct cache_live *cl, uint64_t cblock, uint64_t value)
{
	unsigned char v[8];

	store_le64(v, value);
	cl->changed = 1;
	return fail(cl, pd_array_set(cl->tm, &cl->sb.mapping_root, 8,
				     cl->sb.cache_blocks, cblock, v));
}

int cache_live_insert(struct cache_live *cl, uint64_t cblock, uint64_t oblock)
{
	if (cl->dead)
		return -ESTALE;
	if (cblock >= cl->sb.cache_blocks || oblock > CACHE_MAX_OBLOCK)
		return -EINVAL;
	return set_mapping(cl, cblock, cache_mapping_pack(oblock, CACHE_M_VALID));
}

int cache_live_remove(struct cache_live *cl, uint64_t cblock)
{
	if (cl->dead)
		return -ESTALE;
	if (cblock >= cl->sb.cache_blocks)
		return -EINVAL;
	return set_mapping(cl, cblock, 0);
}

static int change_dirty(struct cache_live *cl, uint64_t cblock, uint64_t value,
			int dirty)
{
	uint32_t flags = cache_mapping_flags(value) & ~CACHE_M_DIRTY;

	if (cl->sb.version < 2)
		return set_mapping(cl, cblock,
				   cache_mapping_pack(cache_mapping_oblock(value),
						      flags | (dirty ? CACHE_M_DIRTY
								     : 0)));
	cl->changed = 1;
	return fail(cl, (dirty ? pd_bitset_set : pd_bitset_clear)(
				cl->tm, &cl->sb.dirty_root, cl->sb.cache_blocks,
				cblock));
}

int cache_live_set_dirty(struct cache_live *cl, uint64_t cblock, int dirty)
{
	uint64_t value = 0;
	int now, r;

	if (cl->dead)
		return -ESTALE;
	if (cblock >= cl->sb.cache_blocks)
		return -EINVAL;
	if (cl->sb.version < 2)
		r = get_mapping(cl, cblock, &value);
	else
		r = 0;
	if (r == 0)
		r = stored_dirty(cl, cblock, value, &now);
	if (r < 0)
		return fail(cl, r);
	if (!now == !dirty)
		return 0;
	return change_dirty(cl, cblock, value, dirty);
}

/* v1 set_dirty_bits: which mappings' M_DIRTY differs from the bits. */
struct dirty_diff {
	const struct base_bitmap *bits;
	uint64_t *idx;
	uint64_t n;
	size_t cap;
	uint64_t seen;
};

static int diff_values(void *ctx, uint64_t index, unsigned nr,
		       const void *values, uint64_t block)
{
	struct dirty_diff *dd = ctx;
	const unsigned char *p = values;

	(void)block;
	for (unsigned i = 0; i < nr; i++, p += 8) {
		uint64_t cb = index + i;
		int has = (cache_mapping_flags(load_le64(p)) & CACHE_M_DIRTY) != 0;

		if (has == base_bitmap_test(dd->bits, cb))
			continue;
		if (BASE_GROW(dd->idx, dd->cap, dd->n + 1, 1024) < 0)
			return -ENOMEM;
		dd->idx[dd->n++] = cb;
	}
	dd->seen += nr;
	return 0;
}

/*
 * Damage stops a load: a block the device could not read is that I/O
 * error (the caller may retry, and must not call the metadata damaged);
 * anything else is -EUCLEAN.
 */
static int damage_is_error(void *ctx, const struct pd_array_damage *d)
{
	const struct pd_fault *f = d->problem == PD_ARR_BTREE ?
					   &d->btree.fault : &d->fault;

	(void)ctx;
	if (f->kind == PD_FAULT_IO && f->err < 0)
		return f->err;
	return -EUCLEAN;
}

static int set_dirty_bits_v1(struct cache_live *cl,
			     const struct base_bitmap *bits)
{
	static const struct pd_array_walk_ops ops = {
		.values = diff_values,
		.damage = damage_is_error,
	};
	struct dirty_diff dd = { bits, NULL, 0, 0, 0 };
	int r;

	r = pd_array_walk(cl->bm, cl->sb.mapping_root, cl->sb.cache_blocks, 8, 0,
			  &ops, &dd);
	if (r == 0 && dd.seen != cl->sb.cache_blocks)
		r = -EUCLEAN;
	for (uint64_t i = 0; r == 0 && i < dd.n; i++) {
		uint64_t value;

		r = get_mapping(cl, dd.idx[i], &value);
		if (r == 0)
			r = change_dirty(cl, dd.idx[i], value,
					 base_bitmap_test(bits, dd.idx[i]));
	}
	free(dd.idx);
	return fail(cl, r);
}

int cache_live_set_dirty_bits(struct cache_live *cl,
			      const struct base_bitmap *bits)
{
	int r;

	if (cl->dead)
		return -ESTALE;
	if (bits->nr_bits != cl->sb.cache_blocks)
		return -EINVAL;
	if (cl->sb.version < 2)
		return set_dirty_bits_v1(cl, bits);
	cl->changed = 1;
	r = pd_array_del(cl->tm, cl->sb.dirty_root);
	if (r == 0)
		r = pd_bitset_build(cl->tm, bits, &cl->sb.dirty_root);
	return fail(cl, r);
}

/* ---- resize ---- */

/* Shrinking: is any block in [from, to) dirty? */
static int any_dirty(struct cache_live *cl, uint64_t from, uint64_t to,
		     int *found)
{
	int r = 0;

	*found = 0;
	for (uint64_t cb = from; cb < to && !*found && r == 0; cb++) {
		uint64_t value = 0;
		int d = 0;

		if (cl->sb.version < 2) {
			r = get_mapping(cl, cb, &value);
			d = (cache_mapping_flags(value) & CACHE_M_VALID) &&
			    (cache_mapping_flags(value) & CACHE_M_DIRTY);
		} else {
			r = get_bit(cl, cl->sb.dirty_root, cb, &d);
		}
		*found = d;
	}
	return r;
}

int cache_live_resize(struct cache_live *cl, uint64_t nr_cache_blocks)
{
	uint64_t old = cl->sb.cache_blocks;
	unsigned char zero[CACHE_MAX_HINT_SIZE] = { 0 };
	uint32_t width = cache_sb_hint_width(&cl->sb);
	int dirty, r;

	if (cl->dead)
		return -ESTALE;
	if (nr_cache_blocks > UINT32_MAX)
		return -EINVAL;
	if (nr_cache_blocks == old)
		return 0;
	if (nr_cache_blocks < old) {
		r = any_dirty(cl, nr_cache_blocks, old, &dirty);
		if (r < 0)
			return fail(cl, r);
		if (dirty)
			return -EINVAL;
	}
	cl->changed = 1;
	r = pd_array_resize(cl->tm, &cl->sb.mapping_root, 8, old,
			    nr_cache_blocks, zero);
	if (r == 0 && cl->sb.version >= 2)
		r = pd_bitset_resize(cl->tm, &cl->sb.dirty_root, old,
				     nr_cache_blocks, 0);
	/* Any width a checker accepts (0.9.0's 0 means 4). */
	if (r == 0 && cl->sb.hint_root && width && width % 4 == 0 &&
	    width <= CACHE_MAX_HINT_SIZE)
		r = pd_array_resize(cl->tm, &cl->sb.hint_root, width, old,
				    nr_cache_blocks, zero);
	if (r < 0)
		return fail(cl, r);
	cl->sb.cache_blocks = (uint32_t)nr_cache_blocks;
	return 0;
}

/* ---- hints ---- */

static int build_hints(struct cache_live *cl, cache_live_hint_fn get_hint,
		       void *ctx, uint64_t *root)
{
	enum { CHUNK = 1018 };	/* one array block of le32 */
	unsigned char buf[CHUNK * HINT_SIZE];
	struct pd_array_builder *b;
	uint64_t n = cl->sb.cache_blocks;
	int r;

	r = pd_array_builder_create(cl->tm, HINT_SIZE, &b);
	for (uint64_t cb = 0; r == 0 && cb < n;) {
		uint64_t k = n - cb < CHUNK ? n - cb : CHUNK;

		for (uint64_t i = 0; i < k; i++)
			store_le32(buf + HINT_SIZE * i, get_hint(ctx, cb + i));
		r = pd_array_builder_add_many(b, buf, k);
		cb += k;
	}
	if (r == 0)
		r = pd_array_builder_finish(b, root);
	pd_array_builder_destroy(b);
	return r;
}

int cache_live_save_hints(struct cache_live *cl,
			  const struct cache_live_policy *policy,
			  cache_live_hint_fn get_hint, void *ctx)
{
	size_t len = strnlen(policy->name, CACHE_POLICY_NAME_SIZE);
	uint64_t root;
	int r;

	if (cl->dead)
		return -ESTALE;
	if (!len || len >= CACHE_POLICY_NAME_SIZE ||
	    (policy->hint_size && policy->hint_size != HINT_SIZE) ||
	    (policy->hint_size && !get_hint))
		return -EINVAL;
	memset(cl->sb.policy_name, 0, sizeof(cl->sb.policy_name));
	memcpy(cl->sb.policy_name, policy->name, len);
	cl->sb.policy_name_terminated = 1;
	memcpy(cl->sb.policy_version, policy->version,
	       sizeof(cl->sb.policy_version));
	cl->changed = 1;
	if (!policy->hint_size)
		return 0;
	cl->sb.policy_hint_size = HINT_SIZE;
	if (cl->sb.hint_root) {
		r = pd_array_del(cl->tm, cl->sb.hint_root);
		if (r < 0)
			return fail(cl, r);
		cl->sb.hint_root = 0;
	}
	r = build_hints(cl, get_hint, ctx, &root);
	if (r < 0)
		return fail(cl, r);
	cl->sb.hint_root = root;
	return 0;
}

/* ---- discards ---- */

int cache_live_discard_resize(struct cache_live *cl, uint64_t dblock_size,
			      uint64_t nr_dblocks)
{
	int r = 0;

	if (cl->dead)
		return -ESTALE;
	/* The bitset cannot outgrow what the metadata device could hold. */
	if (nr_dblocks / 64 / 509 >= pd_bm_nr_blocks(cl->bm) ||
	    (nr_dblocks && !dblock_size))
		return -EINVAL;
	cl->changed = 1;
	if (!cl->sb.discard_root)
		r = pd_btree_empty(cl->tm, 8, &cl->sb.discard_root);
	if (r == 0)
		r = pd_bitset_resize(cl->tm, &cl->sb.discard_root,
				     cl->sb.discard_nr_blocks, nr_dblocks, 0);
	if (r < 0)
		return fail(cl, r);
	cl->sb.discard_block_size = dblock_size;
	cl->sb.discard_nr_blocks = nr_dblocks;
	return 0;
}

int cache_live_set_discard(struct cache_live *cl, uint64_t dblock,
			   int discarded)
{
	int now, r;

	if (cl->dead)
		return -ESTALE;
	if (dblock >= cl->sb.discard_nr_blocks)
		return -EINVAL;
	r = get_bit(cl, cl->sb.discard_root, dblock, &now);
	if (r < 0)
		return fail(cl, r);
	if (!now == !discarded)
		return 0;
	cl->changed = 1;
	return fail(cl, (discarded ? pd_bitset_set : pd_bitset_clear)(
				cl->tm, &cl->sb.discard_root,
				cl->sb.discard_nr_blocks, dblock));
}

/* ---- commit and flags ---- */

int cache_live_commit(struct cache_live *cl, int clean_shutdown)
{
	struct cache_sb next;
	int r;

	if (cl->dead)
		return -ESTALE;
	next = cl->sb;
	next.flags &= ~CACHE_SB_CLEAN_SHUTDOWN;
	if (clean_shutdown)
		next.flags |= CACHE_SB_CLEAN_SHUTDOWN;
	r = pd_tm_commit(cl->tm, fill_sb, &next, &cache_sb_validator);
	if (r < 0)
		return fail(cl, r);
	cl->sb = next;
	cl->changed = 0;
	return 0;
}

int cache_live_set_needs_check(struct cache_live *cl, int on)
{
	int r;

	if (!cl->bm)
		return -ESTALE;
	/*
	 * After a failed commit the cached block 0 may hold the superblock
	 * that was not written: start again from the one on disk.
	 */
	if (cl->dead)
		pd_bm_forget(cl->bm, CACHE_SB_LOCATION);
	/* The committed superblock keeps its other flags on disk. */
	r = update_disk_flags(cl, CACHE_SB_NEEDS_CHECK,
			      on ? CACHE_SB_NEEDS_CHECK : 0);
	if (r < 0)
		return fail(cl, r);
	cl->sb.flags = (cl->sb.flags & ~CACHE_SB_NEEDS_CHECK) |
		       (on ? CACHE_SB_NEEDS_CHECK : 0);
	return 0;
}

/* ---- loading ---- */

struct load_ctx {
	struct cache_live *cl;
	const struct cache_live_policy *policy;
	int hints_valid;
	uint32_t *hints;		/* cache_blocks, when hints_valid */
	struct base_bitmap dirty;	/* v2, when clean when opened */
	cache_live_mapping_fn fn;
	void *ctx;
	uint64_t seen;
};

static int hint_values(void *ctx, uint64_t index, unsigned nr,
		       const void *values, uint64_t block)
{
	struct load_ctx *lc = ctx;
	const unsigned char *p = values;

	(void)block;
	for (unsigned i = 0; i < nr; i++)
		lc->hints[index + i] = load_le32(p + HINT_SIZE * i);
	lc->seen += nr;
	return 0;
}

static int mapping_values(void *ctx, uint64_t index, unsigned nr,
			  const void *values, uint64_t block)
{
	struct load_ctx *lc = ctx;
	const struct cache_live *cl = lc->cl;
	const unsigned char *p = values;
	int r = 0;

	(void)block;
	for (unsigned i = 0; i < nr && r == 0; i++, p += 8) {
		uint64_t v = load_le64(p), cb = index + i;
		int dirty = 1;

		if (!(cache_mapping_flags(v) & CACHE_M_VALID))
			continue;
		if (cl->clean_when_opened)
			dirty = cache_mapping_dirty(cl->sb.version, v, &lc->dirty,
						    NULL, cb);
		r = lc->fn(lc->ctx, cb, cache_mapping_oblock(v), dirty,
			   lc->hints_valid ? lc->hints[cb] : 0, lc->hints_valid);
	}
	lc->seen += nr;
	return r;
}

/* The kernel's policy_unchanged() and hints_array_initialized(). */
static int hints_available(const struct cache_live *cl,
			   const struct cache_live_policy *p)
{
	return p && cl->clean_when_opened &&
	       !strncmp(cl->sb.policy_name, p->name, CACHE_POLICY_NAME_SIZE) &&
	       cl->sb.policy_version[0] == p->version[0] &&
	       cl->sb.policy_hint_size == p->hint_size &&
	       p->hint_size == HINT_SIZE && cl->sb.hint_root;
}

int cache_live_load_mappings(struct cache_live *cl,
			     const struct cache_live_policy *policy,
			     cache_live_mapping_fn fn, void *ctx)
{
	static const struct pd_array_walk_ops hint_ops = {
		.values = hint_values,
		.damage = damage_is_error,
	};
	static const struct pd_array_walk_ops map_ops = {
		.values = mapping_values,
		.damage = damage_is_error,
	};
	static const struct pd_array_walk_ops bit_ops = {
		.damage = damage_is_error,
	};
	struct load_ctx lc = { cl, policy, 0, NULL, { 0 }, fn, ctx, 0 };
	uint64_t n = cl->sb.cache_blocks;
	struct base_bitmap lost = { 0 };
	int r = 0;

	if (cl->dead)
		return -ESTALE;
	if (!n)
		return 0;
	lc.hints_valid = hints_available(cl, policy);
	if (lc.hints_valid) {
		lc.hints = calloc(n, sizeof(*lc.hints));
		if (!lc.hints)
			return -ENOMEM;
		r = pd_array_walk(cl->bm, cl->sb.hint_root, n, HINT_SIZE, 0,
				  &hint_ops, &lc);
		if (r == 0 && lc.seen != n)
			r = -EUCLEAN;
	}
	if (r == 0 && cl->sb.version >= 2 && cl->clean_when_opened) {
		r = pd_bitset_read(cl->bm, cl->sb.dirty_root, n, 0, &bit_ops,
				   NULL, &lc.dirty, &lost);
		base_bitmap_release(&lost);
	}
	if (r == 0) {
		lc.seen = 0;
		r = pd_array_walk(cl->bm, cl->sb.mapping_root, n, 8, 0, &map_ops,
				  &lc);
		if (r == 0 && lc.seen != n)
			r = -EUCLEAN;
	}
	free(lc.hints);
	base_bitmap_release(&lc.dirty);
	return r;
}

int cache_live_load_discards(struct cache_live *cl, cache_live_discard_fn fn,
			     void *ctx)
{
	static const struct pd_array_walk_ops bit_ops = {
		.damage = damage_is_error,
	};
	struct base_bitmap bits = { 0 }, lost = { 0 };
	uint64_t n = cl->sb.discard_nr_blocks;
	int r = 0;

	if (cl->dead)
		return -ESTALE;
	if (!n)
		return 0;
	if (cl->clean_when_opened)
		r = pd_bitset_read(cl->bm, cl->sb.discard_root, n, 0, &bit_ops,
				   NULL, &bits, &lost);
	for (uint64_t b = 0; r == 0 && b < n; b++)
		r = fn(ctx, cl->sb.discard_block_size, b,
		       cl->clean_when_opened && base_bitmap_test(&bits, b));
	base_bitmap_release(&bits);
	base_bitmap_release(&lost);
	return r;
}
