// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Thin superblock unpack, pack, validator and rule check.  Unpacking never
 * fails so that a checker can look at every field of a damaged superblock;
 * the rules are applied separately, each reported on its own, because the
 * kernel refuses some (magic, location, incompat flags) and only misreads
 * or ignores others.
 */
#include "thin/format.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

const struct pd_validator thin_sb_validator = {
	.name = "superblock",
	.csum_xor = THIN_SB_CSUM_XOR,
	.blocknr_offset = 8,
	.magic = THIN_SB_MAGIC,
	.magic_offset = offsetof(struct thin_disk_sb, magic),
};

void thin_sb_unpack(const void *data, struct thin_sb *sb)
{
	const struct thin_disk_sb *d = data;

	memset(sb, 0, sizeof(*sb));
	sb->csum = le32_to_cpu(d->csum);
	sb->flags = le32_to_cpu(d->flags);
	sb->blocknr = le64_to_cpu(d->blocknr);
	memcpy(sb->uuid, d->uuid, sizeof(sb->uuid));
	sb->magic = le64_to_cpu(d->magic);
	sb->version = le32_to_cpu(d->version);
	sb->time = le32_to_cpu(d->time);
	sb->trans_id = le64_to_cpu(d->trans_id);
	sb->held_root = le64_to_cpu(d->held_root);
	pd_sm_root_unpack((const void *)d->data_space_map_root, &sb->data_sm);
	pd_sm_root_unpack((const void *)d->metadata_space_map_root,
			  &sb->metadata_sm);
	sb->mapping_root = le64_to_cpu(d->data_mapping_root);
	sb->details_root = le64_to_cpu(d->device_details_root);
	sb->data_block_size = le32_to_cpu(d->data_block_size);
	sb->metadata_block_size = le32_to_cpu(d->metadata_block_size);
	sb->metadata_nr_blocks = le64_to_cpu(d->metadata_nr_blocks);
	sb->compat_flags = le32_to_cpu(d->compat_flags);
	sb->compat_ro_flags = le32_to_cpu(d->compat_ro_flags);
	sb->incompat_flags = le32_to_cpu(d->incompat_flags);
}

void thin_sb_pack(const struct thin_sb *sb, void *data)
{
	struct thin_disk_sb *d = data;
	struct pd_sm_root smr;

	memset(data, 0, PD_BLOCK_SIZE);
	d->flags = cpu_to_le32(sb->flags);
	d->blocknr = cpu_to_le64(THIN_SB_LOCATION);
	memcpy(d->uuid, sb->uuid, sizeof(d->uuid));
	d->magic = cpu_to_le64(THIN_SB_MAGIC);
	d->version = cpu_to_le32(sb->version);
	d->time = cpu_to_le32(sb->time);
	d->trans_id = cpu_to_le64(sb->trans_id);
	d->held_root = cpu_to_le64(sb->held_root);
	pd_sm_root_pack(&sb->data_sm, &smr);
	memcpy(d->data_space_map_root, &smr, sizeof(smr));
	pd_sm_root_pack(&sb->metadata_sm, &smr);
	memcpy(d->metadata_space_map_root, &smr, sizeof(smr));
	d->data_mapping_root = cpu_to_le64(sb->mapping_root);
	d->device_details_root = cpu_to_le64(sb->details_root);
	d->data_block_size = cpu_to_le32(sb->data_block_size);
	d->metadata_block_size = cpu_to_le32(PD_SECTORS_PER_BLOCK);
	d->metadata_nr_blocks = cpu_to_le64(sb->metadata_nr_blocks);
	d->compat_flags = cpu_to_le32(sb->compat_flags);
	d->compat_ro_flags = cpu_to_le32(sb->compat_ro_flags);
	d->incompat_flags = cpu_to_le32(sb->incompat_flags);
}

struct sb_reporter {
	int (*report)(void *ctx, const struct thin_sb_violation *v);
	void *ctx;
	int count;
	int stop;
};

static void violation(struct sb_reporter *r, enum thin_sb_problem p,
		      const char *field, uint64_t found, uint64_t expected)
{
	struct thin_sb_violation v = { p, field, found, expected };

	if (r->stop)
		return;
	r->count++;
	r->stop = r->report(r->ctx, &v);
}

/* Block 0 is the superblock, so no root can be 0. */
static void check_root(struct sb_reporter *r, const char *field, uint64_t root,
		       uint64_t limit)
{
	if (root == THIN_SB_LOCATION || (limit && root >= limit))
		violation(r, THIN_SB_ROOT_RANGE, field, root, limit);
}

int thin_sb_check(const struct thin_sb *sb, const void *raw_block,
		  uint64_t location, uint64_t nr_dev_blocks, int held,
		  int (*report)(void *ctx, const struct thin_sb_violation *v),
		  void *ctx)
{
	struct sb_reporter r = { report, ctx, 0, 0 };
	uint32_t want_csum = pd_block_csum(raw_block, THIN_SB_CSUM_XOR);
	uint32_t dbs = sb->data_block_size;
	uint64_t limit = nr_dev_blocks;

	if (!held && sb->metadata_sm.nr_blocks &&
	    (!limit || sb->metadata_sm.nr_blocks < limit))
		limit = sb->metadata_sm.nr_blocks;

	if (sb->blocknr != location)
		violation(&r, THIN_SB_BAD_LOCATION, "blocknr", sb->blocknr,
			  location);
	if (sb->magic != THIN_SB_MAGIC)
		violation(&r, THIN_SB_BAD_MAGIC, "magic", sb->magic,
			  THIN_SB_MAGIC);
	if (sb->csum != want_csum)
		violation(&r, THIN_SB_BAD_CSUM, "csum", sb->csum, want_csum);
	if (sb->version < THIN_MIN_VERSION || sb->version > THIN_VERSION)
		violation(&r, THIN_SB_BAD_VERSION, "version", sb->version,
			  THIN_VERSION);
	if (sb->flags & ~THIN_SB_KNOWN_FLAGS)
		violation(&r, THIN_SB_BAD_FLAGS, "flags", sb->flags,
			  THIN_SB_KNOWN_FLAGS);
	if (sb->metadata_block_size != PD_SECTORS_PER_BLOCK)
		violation(&r, THIN_SB_METADATA_BLOCK_SIZE, "metadata_block_size",
			  sb->metadata_block_size, PD_SECTORS_PER_BLOCK);
	if (dbs < THIN_MIN_DATA_BLOCK_SIZE || dbs > THIN_MAX_DATA_BLOCK_SIZE ||
	    dbs % THIN_MIN_DATA_BLOCK_SIZE)
		violation(&r, THIN_SB_DATA_BLOCK_SIZE, "data_block_size", dbs,
			  THIN_MIN_DATA_BLOCK_SIZE);
	if (sb->compat_flags)
		violation(&r, THIN_SB_COMPAT_FLAGS, "compat_flags",
			  sb->compat_flags, 0);
	if (sb->compat_ro_flags)
		violation(&r, THIN_SB_COMPAT_RO_FLAGS, "compat_ro_flags",
			  sb->compat_ro_flags, 0);
	if (sb->incompat_flags)
		violation(&r, THIN_SB_INCOMPAT_FLAGS, "incompat_flags",
			  sb->incompat_flags, 0);
	check_root(&r, "data_mapping_root", sb->mapping_root, limit);
	check_root(&r, "device_details_root", sb->details_root, limit);
	if (!held) {
		check_root(&r, "data sm bitmap_root", sb->data_sm.bitmap_root,
			   limit);
		check_root(&r, "data sm ref_count_root",
			   sb->data_sm.ref_count_root, limit);
		check_root(&r, "metadata sm bitmap_root",
			   sb->metadata_sm.bitmap_root, limit);
		check_root(&r, "metadata sm ref_count_root",
			   sb->metadata_sm.ref_count_root, limit);
		if (nr_dev_blocks && sb->metadata_sm.nr_blocks > nr_dev_blocks)
			violation(&r, THIN_SB_SM_NR_BLOCKS,
				  "metadata sm nr_blocks",
				  sb->metadata_sm.nr_blocks, nr_dev_blocks);
		if (sb->held_root &&
		    (sb->held_root == THIN_SB_LOCATION ||
		     (limit && sb->held_root >= limit)))
			violation(&r, THIN_SB_HELD_ROOT, "held_root",
				  sb->held_root, limit);
	}
	return r.stop ? r.stop : r.count;
}
