// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Superblock unpack, pack, validator and rule check.  Unpacking never fails
 * so that a checker can look at every field of a damaged superblock; the
 * rules are applied separately, each reported on its own.
 */
#include "cache/format.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

const struct pd_validator cache_sb_validator = {
	.name = "superblock",
	.csum_xor = CACHE_SB_CSUM_XOR,
	.blocknr_offset = 8,
	.magic = CACHE_SB_MAGIC,
	.magic_offset = offsetof(struct cache_disk_sb, magic),
};

void cache_sb_unpack(const void *data, struct cache_sb *sb)
{
	const struct cache_disk_sb *d = data;
	const struct pd_sm_root *smr = (const void *)d->metadata_space_map_root;

	memset(sb, 0, sizeof(*sb));
	sb->csum = le32_to_cpu(d->csum);
	sb->flags = le32_to_cpu(d->flags);
	sb->blocknr = le64_to_cpu(d->blocknr);
	memcpy(sb->uuid, d->uuid, sizeof(sb->uuid));
	sb->magic = le64_to_cpu(d->magic);
	sb->version = le32_to_cpu(d->version);
	memcpy(sb->policy_name, d->policy_name, CACHE_POLICY_NAME_SIZE);
	sb->policy_name[CACHE_POLICY_NAME_SIZE] = '\0';
	sb->policy_name_terminated =
		memchr(d->policy_name, '\0', CACHE_POLICY_NAME_SIZE) != NULL;
	sb->policy_hint_size = le32_to_cpu(d->policy_hint_size);
	pd_sm_root_unpack(smr, &sb->sm_root);
	sb->mapping_root = le64_to_cpu(d->mapping_root);
	sb->hint_root = le64_to_cpu(d->hint_root);
	sb->discard_root = le64_to_cpu(d->discard_root);
	sb->discard_block_size = le64_to_cpu(d->discard_block_size);
	sb->discard_nr_blocks = le64_to_cpu(d->discard_nr_blocks);
	sb->data_block_size = le32_to_cpu(d->data_block_size);
	sb->metadata_block_size = le32_to_cpu(d->metadata_block_size);
	sb->cache_blocks = le32_to_cpu(d->cache_blocks);
	sb->compat_flags = le32_to_cpu(d->compat_flags);
	sb->compat_ro_flags = le32_to_cpu(d->compat_ro_flags);
	sb->incompat_flags = le32_to_cpu(d->incompat_flags);
	sb->read_hits = le32_to_cpu(d->read_hits);
	sb->read_misses = le32_to_cpu(d->read_misses);
	sb->write_hits = le32_to_cpu(d->write_hits);
	sb->write_misses = le32_to_cpu(d->write_misses);
	for (int i = 0; i < 3; i++)
		sb->policy_version[i] = le32_to_cpu(d->policy_version[i]);
	sb->dirty_root = le64_to_cpu(d->dirty_root);
}

void cache_sb_pack(const struct cache_sb *sb, void *data)
{
	struct cache_disk_sb *d = data;
	struct pd_sm_root smr;

	memset(data, 0, PD_BLOCK_SIZE);
	d->flags = cpu_to_le32(sb->flags);
	d->blocknr = cpu_to_le64(CACHE_SB_LOCATION);
	memcpy(d->uuid, sb->uuid, sizeof(d->uuid));
	d->magic = cpu_to_le64(CACHE_SB_MAGIC);
	d->version = cpu_to_le32(sb->version);
	/* At most 15 characters, so the field always holds a NUL. */
	memcpy(d->policy_name, sb->policy_name,
	       strnlen(sb->policy_name, CACHE_POLICY_NAME_SIZE - 1));
	d->policy_hint_size = cpu_to_le32(sb->policy_hint_size);
	pd_sm_root_pack(&sb->sm_root, &smr);
	memcpy(d->metadata_space_map_root, &smr, sizeof(smr));
	d->mapping_root = cpu_to_le64(sb->mapping_root);
	d->hint_root = cpu_to_le64(sb->hint_root);
	d->discard_root = cpu_to_le64(sb->discard_root);
	d->discard_block_size = cpu_to_le64(sb->discard_block_size);
	d->discard_nr_blocks = cpu_to_le64(sb->discard_nr_blocks);
	d->data_block_size = cpu_to_le32(sb->data_block_size);
	d->metadata_block_size = cpu_to_le32(PD_SECTORS_PER_BLOCK);
	d->cache_blocks = cpu_to_le32(sb->cache_blocks);
	d->compat_flags = cpu_to_le32(sb->compat_flags);
	d->compat_ro_flags = cpu_to_le32(sb->compat_ro_flags);
	d->incompat_flags = cpu_to_le32(sb->incompat_flags);
	d->read_hits = cpu_to_le32(sb->read_hits);
	d->read_misses = cpu_to_le32(sb->read_misses);
	d->write_hits = cpu_to_le32(sb->write_hits);
	d->write_misses = cpu_to_le32(sb->write_misses);
	for (int i = 0; i < 3; i++)
		d->policy_version[i] = cpu_to_le32(sb->policy_version[i]);
	d->dirty_root = cpu_to_le64(sb->version >= 2 ? sb->dirty_root : 0);
}

uint32_t cache_sb_hint_width(const struct cache_sb *sb)
{
	if (sb->incompat_flags & CACHE_INCOMPAT_VARIABLE_HINT_SIZE)
		return sb->policy_hint_size;
	return sb->policy_hint_size ? sb->policy_hint_size
				    : CACHE_DEFAULT_HINT_SIZE;
}

struct sb_reporter {
	int (*report)(void *ctx, const struct cache_sb_violation *v);
	void *ctx;
	int count;
	int stop;
};

static void violation(struct sb_reporter *r, enum cache_sb_problem p,
		      const char *field, uint64_t found, uint64_t expected)
{
	struct cache_sb_violation v = { p, field, found, expected };

	if (r->stop)
		return;
	r->count++;
	r->stop = r->report(r->ctx, &v);
}

static void check_root(struct sb_reporter *r, const char *field, uint64_t root,
		       uint64_t limit)
{
	if (limit && root >= limit)
		violation(r, CACHE_SB_ROOT_RANGE, field, root, limit);
}

int cache_sb_check(const struct cache_sb *sb, const void *raw_block,
		   uint64_t nr_dev_blocks,
		   int (*report)(void *ctx, const struct cache_sb_violation *v),
		   void *ctx)
{
	struct sb_reporter r = { report, ctx, 0, 0 };
	uint32_t want_csum = pd_block_csum(raw_block, CACHE_SB_CSUM_XOR);
	uint32_t hint = cache_sb_hint_width(sb);
	/* Roots must lie inside what the space map covers, and the device. */
	uint64_t limit = nr_dev_blocks;

	if (sb->sm_root.nr_blocks && (!limit || sb->sm_root.nr_blocks < limit))
		limit = sb->sm_root.nr_blocks;

	if (sb->blocknr != CACHE_SB_LOCATION)
		violation(&r, CACHE_SB_BAD_LOCATION, "blocknr", sb->blocknr, 0);
	if (sb->magic != CACHE_SB_MAGIC)
		violation(&r, CACHE_SB_BAD_MAGIC, "magic", sb->magic,
			  CACHE_SB_MAGIC);
	if (sb->csum != want_csum)
		violation(&r, CACHE_SB_BAD_CSUM, "csum", sb->csum, want_csum);
	if (sb->version < CACHE_MIN_VERSION || sb->version > CACHE_MAX_VERSION)
		violation(&r, CACHE_SB_BAD_VERSION, "version", sb->version,
			  CACHE_MAX_VERSION);
	if (sb->flags & ~CACHE_SB_KNOWN_FLAGS)
		violation(&r, CACHE_SB_BAD_FLAGS, "flags", sb->flags,
			  CACHE_SB_KNOWN_FLAGS);
	if (!sb->policy_name_terminated)
		violation(&r, CACHE_SB_POLICY_NAME, "policy_name", 16, 15);
	if (hint % 4 || hint > CACHE_MAX_HINT_SIZE)
		violation(&r, CACHE_SB_HINT_SIZE, "policy_hint_size", hint,
			  CACHE_MAX_HINT_SIZE);
	if (sb->metadata_block_size != PD_SECTORS_PER_BLOCK)
		violation(&r, CACHE_SB_METADATA_BLOCK_SIZE,
			  "metadata_block_size", sb->metadata_block_size,
			  PD_SECTORS_PER_BLOCK);
	if (sb->compat_flags)
		violation(&r, CACHE_SB_COMPAT_FLAGS, "compat_flags",
			  sb->compat_flags, 0);
	if (sb->compat_ro_flags)
		violation(&r, CACHE_SB_COMPAT_RO_FLAGS, "compat_ro_flags",
			  sb->compat_ro_flags, 0);
	if (sb->incompat_flags)
		violation(&r, CACHE_SB_INCOMPAT_FLAGS, "incompat_flags",
			  sb->incompat_flags, 0);
	check_root(&r, "mapping_root", sb->mapping_root, limit);
	check_root(&r, "hint_root", sb->hint_root, limit);
	check_root(&r, "discard_root", sb->discard_root, limit);
	check_root(&r, "bitmap_root", sb->sm_root.bitmap_root, limit);
	check_root(&r, "ref_count_root", sb->sm_root.ref_count_root, limit);
	/* Only a v2 superblock has the field; a bad version says nothing. */
	if (sb->version == 2) {
		if (!sb->dirty_root)
			violation(&r, CACHE_SB_DIRTY_ROOT, "dirty_root", 0, 1);
		else
			check_root(&r, "dirty_root", sb->dirty_root, limit);
	}
	if (nr_dev_blocks && sb->sm_root.nr_blocks > nr_dev_blocks)
		violation(&r, CACHE_SB_SM_NR_BLOCKS, "nr_blocks",
			  sb->sm_root.nr_blocks, nr_dev_blocks);
	if (!sb->data_block_size)
		violation(&r, CACHE_SB_DATA_BLOCK_SIZE, "data_block_size", 0, 64);
	if (sb->discard_nr_blocks && !sb->discard_block_size)
		violation(&r, CACHE_SB_DISCARD_GEOMETRY, "discard_block_size", 0,
			  1);
	return r.stop ? r.stop : r.count;
}
