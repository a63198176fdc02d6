// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The thin restore (thin/restore.h): fresh dm-thin metadata from a stream
 * of thin emitter events.  Each device's tree is built while its mappings
 * arrive; the details tree, the top level and both space maps are written
 * at commit, the superblock last.
 */
#include "thin/restore.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "base/refcount.h"
#include "pdata/bm.h"
#include "pdata/btree.h"
#include "pdata/sm.h"
#include "pdata/tm.h"
#include "thin/format.h"

#define RESTORE_BM_BLOCKS 256u

struct device {
	uint64_t id;
	uint64_t root;
	struct thin_details details;
};

struct thin_restore {
	struct pd_io *io;
	struct thin_restore_opts opts;
	struct pd_bm *bm;
	struct pd_tm *tm;
	enum thin_restore_left left;
	int have_sb, committed;
	struct thin_sb sb;
	uint64_t nr_data_blocks;
	/* References per data block, two bits each (10M blocks: 2.5 MB). */
	struct base_refcount counts;
	struct pd_btree_share *share;	/* device tree leaves written */

	struct device *devs;
	size_t nr_devs, cap_devs;
	uint64_t max_id;

	/* The device being read. */
	struct pd_btree_builder *b;
	struct device cur;
	uint64_t next_v;		/* lowest virtual block still free */
	uint64_t mapped;
	int same;			/* an earlier device's tree (root) */
	char msg[256];
};

__attribute__((format(printf, 3, 4)))
static int failf(struct thin_restore *rs, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rs->msg, sizeof(rs->msg), fmt, ap);
	va_end(ap);
	return r;
}

int thin_restore_create(struct pd_io *io, const struct thin_restore_opts *o,
			struct thin_restore **out)
{
	struct thin_restore *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return -ENOMEM;
	rs->io = io;
	if (o)
		rs->opts = *o;
	*out = rs;
	return 0;
}

void thin_restore_destroy(struct thin_restore *rs)
{
	if (!rs)
		return;
	pd_btree_builder_destroy(rs->b);
	pd_btree_share_destroy(rs->share);
	pd_tm_destroy(rs->tm);
	pd_bm_destroy(rs->bm);
	base_refcount_release(&rs->counts);
	free(rs->devs);
	free(rs);
}

const char *thin_restore_message(const struct thin_restore *rs)
{
	return rs->msg[0] ? rs->msg : NULL;
}

enum thin_restore_left thin_restore_left(const struct thin_restore *rs)
{
	return rs->left;
}

uint32_t thin_restore_block_size(const struct thin_restore *rs)
{
	return rs->sb.data_block_size;
}

/*
 * Old metadata goes first: with block 0 zeroed and flushed, the blocks
 * below can be overwritten in any order and a failure or crash leaves an
 * unformatted device, never an old superblock over new trees.
 */
static int zero_superblock(struct thin_restore *rs)
{
	static const unsigned char zero[PD_BLOCK_SIZE];
	int r;

	r = rs->io->ops->write(rs->io, PD_TM_SB_LOCATION, 1, zero);
	if (r < 0)
		return r;
	rs->left = THIN_RESTORE_LEFT_ZEROED;
	return rs->io->ops->flush(rs->io);
}

/* Metadata blocks the data space map alone needs: bitmaps and index. */
static uint64_t data_sm_blocks(uint64_t nr)
{
	uint64_t nb = (nr + PD_SM_ENTRIES_PER_BITMAP - 1) /
		      PD_SM_ENTRIES_PER_BITMAP;

	return nb + nb / 100 + 2;
}

static int begin_superblock(void *ctx, const struct thin_emit_sb *s)
{
	struct thin_restore *rs = ctx;
	struct thin_sb *sb = &rs->sb;
	uint64_t nr_blocks;
	int r;

	memset(sb, 0, sizeof(*sb));
	sb->magic = THIN_SB_MAGIC;
	sb->version = s->version;
	sb->time = (uint32_t)s->time;
	sb->trans_id = rs->opts.set_trans_id ? rs->opts.trans_id : s->trans_id;
	sb->flags = s->flags;
	sb->data_block_size = rs->opts.set_data_block_size ?
			      rs->opts.data_block_size : s->data_block_size;
	sb->metadata_block_size = PD_SECTORS_PER_BLOCK;
	rs->nr_data_blocks = rs->opts.set_nr_data_blocks ?
			     rs->opts.nr_data_blocks : s->nr_data_blocks;
	if (s->version < THIN_MIN_VERSION || s->version > THIN_VERSION)
		return failf(rs, -EINVAL, "version %" PRIu32 " is not one "
			     "this restore writes (%u or %u)", s->version,
			     THIN_MIN_VERSION, THIN_VERSION);
	if (s->time > UINT32_MAX)
		return failf(rs, -EINVAL, "time %" PRIu64 " does not fit the "
			     "superblock's 32 bits", s->time);
	if (rs->nr_data_blocks > THIN_MAX_DATA_BLOCK + 1)
		return failf(rs, -EINVAL, "nr_data_blocks %" PRIu64 " is past "
			     "what a mapping can address (2^40)",
			     rs->nr_data_blocks);

	r = zero_superblock(rs);
	if (r < 0)
		return failf(rs, r, "zeroing the old superblock failed: %s",
			     strerror(-r));
	r = pd_bm_create(rs->io, RESTORE_BM_BLOCKS, &rs->bm);
	if (r < 0)
		return r;
	r = pd_tm_create(rs->bm, &rs->tm);
	if (r < 0)
		return r;
	nr_blocks = pd_tm_nr_blocks(rs->tm);
	if (data_sm_blocks(rs->nr_data_blocks) + 8 > nr_blocks)
		return failf(rs, -ENOSPC, "%" PRIu64 " metadata blocks cannot "
			     "hold the space map of %" PRIu64 " data blocks",
			     nr_blocks, rs->nr_data_blocks);
	r = base_refcount_init(&rs->counts, rs->nr_data_blocks);
	if (r < 0)
		return r;
	r = pd_btree_share_create(rs->tm, &rs->share);
	if (r < 0)
		return r;
	rs->have_sb = 1;
	return 0;
}

static int find_dev(const struct thin_restore *rs, uint64_t id)
{
	for (size_t i = 0; i < rs->nr_devs; i++)
		if (rs->devs[i].id == id)
			return 1;
	return 0;
}

/*
 * The data space map counts what the kernel counts: one reference per
 * entry of each distinct leaf, so a leaf two devices share (written once,
 * THIN.md §9) counts its data blocks once.
 */
static int count_leaf(void *ctx, unsigned nr, const void *keys,
		      const void *values)
{
	struct thin_restore *rs = ctx;
	const unsigned char *v = values;

	(void)keys;
	for (unsigned i = 0; i < nr; i++) {
		uint64_t d = thin_block_time_block(load_le64(v + 8 * (size_t)i));

		if (d >= rs->nr_data_blocks)
			return -EINVAL;	/* mapping() refused it already */
		if (base_refcount_get(&rs->counts, d) == UINT32_MAX)
			return failf(rs, -EINVAL, "data block %" PRIu64
				     " is mapped too many times", d);
		if (base_refcount_inc(&rs->counts, d) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int begin_device(void *ctx, const struct thin_emit_device *d)
{
	struct thin_restore *rs = ctx;

	/* Ids in increasing order (every dump's) are checked in O(1). */
	if ((rs->nr_devs && d->dev_id <= rs->max_id && find_dev(rs, d->dev_id)) ||
	    (rs->b && rs->cur.id == d->dev_id))
		return failf(rs, -EINVAL, "device %" PRIu64 " is given twice",
			     d->dev_id);
	rs->cur.id = d->dev_id;
	rs->cur.details = d->details;
	rs->cur.root = 0;
	rs->next_v = 0;
	rs->mapped = 0;
	rs->same = 0;
	return pd_btree_builder_create_shared(rs->tm, 8, rs->share, count_leaf,
					      rs, &rs->b);
}

static int mapping(void *ctx, uint64_t v, uint64_t d, uint64_t len,
		   uint32_t time)
{
	struct thin_restore *rs = ctx;
	int r;

	if (rs->same)
		return failf(rs, -EINVAL, "device %" PRIu64 ": a mapping after "
			     "another device's mappings were given for it",
			     rs->cur.id);
	if (v < rs->next_v)
		return failf(rs, -EINVAL, "device %" PRIu64 ": virtual block "
			     "%" PRIu64 " overlaps or comes before the previous "
			     "mapping (each device's mappings must be in "
			     "increasing order, without overlaps)",
			     rs->cur.id, v);
	if (d >= rs->nr_data_blocks || len > rs->nr_data_blocks - d)
		return failf(rs, -EINVAL, "device %" PRIu64 ": data block "
			     "%" PRIu64 " is past the pool's nr_data_blocks "
			     "%" PRIu64, rs->cur.id,
			     d >= rs->nr_data_blocks ? d : rs->nr_data_blocks,
			     rs->nr_data_blocks);
	if (len > UINT64_MAX - v)
		return failf(rs, -EINVAL, "device %" PRIu64 ": virtual blocks "
			     "%" PRIu64 "+%" PRIu64 " overflow 64 bits",
			     rs->cur.id, v, len);
	if (time > rs->sb.time)
		return failf(rs, -EINVAL, "device %" PRIu64 ": mapping time "
			     "%" PRIu32 " is after the pool's time %" PRIu32
			     " (the kernel would take a shared block for a "
			     "private one)", rs->cur.id, time, rs->sb.time);
	for (uint64_t i = 0; i < len; i++) {
		unsigned char val[8];

		store_le64(val, thin_block_time_pack(d + i, time));
		r = pd_btree_builder_add(rs->b, v + i, val);
		if (r < 0)
			return r;
	}
	rs->next_v = v + len;
	rs->mapped += len;
	return 0;
}

static int end_device(void *ctx)
{
	struct thin_restore *rs = ctx;
	int r;

	if (rs->mapped != rs->cur.details.mapped_blocks)
		return failf(rs, -EINVAL, "device %" PRIu64 ": mapped_blocks "
			     "is %" PRIu64 " but its mappings cover %" PRIu64
			     " blocks", rs->cur.id,
			     rs->cur.details.mapped_blocks, rs->mapped);
	/* The shared root gains the reference a build would have given. */
	if (rs->same)
		r = pd_tm_inc(rs->tm, rs->cur.root);
	else
		r = pd_btree_builder_finish(rs->b, &rs->cur.root);
	pd_btree_builder_destroy(rs->b);
	rs->b = NULL;
	if (r < 0)
		return r;
	if (BASE_GROW(rs->devs, rs->cap_devs, rs->nr_devs + 1, 16) < 0)
		return -ENOMEM;
	rs->devs[rs->nr_devs++] = rs->cur;
	if (rs->cur.id > rs->max_id)
		rs->max_id = rs->cur.id;
	return 0;
}

/*
 * The device maps what an earlier one maps: building its tree would end
 * with every node equal to one of that device's (THIN.md §9: the same
 * keys cut the same nodes), so all shared and nothing written but one more
 * reference to the root; that is done without the build.
 */
static int same_mappings(void *ctx, uint64_t dev_id)
{
	struct thin_restore *rs = ctx;
	const struct device *o = NULL;

	if (rs->mapped || rs->same)
		return failf(rs, -EINVAL, "device %" PRIu64 ": another "
			     "device's mappings given after its own",
			     rs->cur.id);
	for (size_t i = 0; i < rs->nr_devs && !o; i++)
		if (rs->devs[i].id == dev_id)
			o = &rs->devs[i];
	if (!o)
		return failf(rs, -EINVAL, "device %" PRIu64 ": the mappings of "
			     "device %" PRIu64 ", which was not given before",
			     rs->cur.id, dev_id);
	rs->cur.root = o->root;
	rs->mapped = o->details.mapped_blocks;
	rs->same = 1;
	return 0;
}

void thin_restore_emitter(struct thin_restore *rs, struct thin_emitter *e)
{
	memset(e, 0, sizeof(*e));
	e->ctx = rs;
	e->begin_superblock = begin_superblock;
	e->begin_device = begin_device;
	e->mapping = mapping;
	e->end_device = end_device;
	e->same_mappings = same_mappings;
}

static int by_id(const void *a, const void *b)
{
	const struct device *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int build_tops(struct thin_restore *rs)
{
	struct pd_btree_builder *b;
	int r;

	if (rs->nr_devs)
		qsort(rs->devs, rs->nr_devs, sizeof(*rs->devs), by_id);
	r = pd_btree_builder_create(rs->tm, sizeof(struct thin_disk_details),
				    &b);
	for (size_t i = 0; i < rs->nr_devs && r == 0; i++) {
		struct thin_disk_details v;

		thin_details_pack(&rs->devs[i].details, &v);
		r = pd_btree_builder_add(b, rs->devs[i].id, &v);
	}
	if (r == 0)
		r = pd_btree_builder_finish(b, &rs->sb.details_root);
	pd_btree_builder_destroy(b);
	if (r < 0)
		return r;
	r = pd_btree_builder_create(rs->tm, 8, &b);
	for (size_t i = 0; i < rs->nr_devs && r == 0; i++) {
		unsigned char v[8];

		store_le64(v, rs->devs[i].root);
		r = pd_btree_builder_add(b, rs->devs[i].id, v);
	}
	if (r == 0)
		r = pd_btree_builder_finish(b, &rs->sb.mapping_root);
	pd_btree_builder_destroy(b);
	return r;
}

static int fill_sb(void *ctx, void *data, const struct pd_sm_root_cpu *root)
{
	struct thin_restore *rs = ctx;

	rs->sb.metadata_sm = *root;
	rs->sb.metadata_nr_blocks = pd_tm_nr_blocks(rs->tm);
	thin_sb_pack(&rs->sb, data);
	return 0;
}

/* After a failed commit: a non-zero block 0 is the new superblock. */
static void note_left(struct thin_restore *rs)
{
	unsigned char *b;

	if (rs->left != THIN_RESTORE_LEFT_ZEROED)
		return;
	b = malloc(PD_BLOCK_SIZE);
	if (!b)
		return;
	if (!rs->io->ops->read(rs->io, PD_TM_SB_LOCATION, 1, b) &&
	    (b[0] || memcmp(b, b + 1, PD_BLOCK_SIZE - 1)))
		rs->left = THIN_RESTORE_LEFT_UNFLUSHED;
	free(b);
}

int thin_restore_commit(struct thin_restore *rs)
{
	int r;

	if (!rs->have_sb || rs->b || rs->committed)
		return failf(rs, -EINVAL, "the input was not complete");
	rs->committed = 1;
	r = build_tops(rs);
	if (!r)
		r = pd_sm_write_disk_rc(rs->tm, &rs->counts, &rs->sb.data_sm);
	if (!r)
		r = pd_tm_commit(rs->tm, fill_sb, rs, &thin_sb_validator);
	if (r == -ENOSPC && !rs->msg[0])
		failf(rs, r, "the metadata does not fit in %" PRIu64
		      " blocks", pd_tm_nr_blocks(rs->tm));
	if (r < 0)
		note_left(rs);
	return r;
}
