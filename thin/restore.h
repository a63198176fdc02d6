/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The thin restore: a thin emitter (thin/emit.h) that writes fresh dm-thin
 * metadata from the events an XML reader produces (xml/reader.h,
 * xml_read_thin), as thin_restore does.
 *
 * It streams: each device's mapping tree is built bottom-up while its
 * mappings arrive, so memory is one u32 count per data block (for the data
 * space map), the builder's right edge and one entry per device, never the
 * mappings.  That needs each device's mappings in increasing virtual-block
 * order, as every dump writes them; a mapping at or before the previous
 * one is refused (it overlaps or is out of order).  Devices may come in
 * any order (the top-level and details trees are built at commit).
 *
 * Sharing is found by content (THIN.md §9): device trees get node
 * boundaries chosen by their keys, and a node equal to one written before
 * (another device's) is referenced instead of written again, whatever the
 * XML form.  The data space map counts each distinct leaf's blocks once,
 * as the kernel does.  A device given as another's mappings (the
 * same_mappings event) gets that device's tree, as the build would have
 * ended, without the build.
 *
 * What is refused (the emitter returns -EINVAL and thin_restore_message()
 * says why, one line without the place): a data block at or past
 * nr_data_blocks; a mapping time after the pool's time; a device given
 * twice; a mapping that overlaps or comes before the previous one of its
 * device; a device whose mapped_blocks differs from its mappings; a
 * version other than 1 or 2.  Too small an output is -ENOSPC.
 *
 * Block 0 is zeroed (and flushed) when the superblock element arrives,
 * before anything else is written, and the new superblock is written last
 * by thin_restore_commit(): a failure anywhere leaves an unformatted
 * device, never a superblock over half-written trees.
 *
 *	thin_restore_create(io, &opts, &rs);
 *	thin_restore_emitter(rs, &e);
 *	r = xml_read_thin(fd, &e, NULL, &err);
 *	if (!r) r = thin_restore_commit(rs);
 *	thin_restore_destroy(rs);
 */
#ifndef THIN_RESTORE_H
#define THIN_RESTORE_H

#include <stdint.h>

#include "pdata/io.h"
#include "thin/emit.h"

struct thin_restore_opts {
	/* Overrides of the XML's superblock values (0.9.0's options). */
	int set_trans_id, set_data_block_size, set_nr_data_blocks;
	uint64_t trans_id;
	uint32_t data_block_size;
	uint64_t nr_data_blocks;
};

/* What a failure left on the output. */
enum thin_restore_left {
	THIN_RESTORE_LEFT_UNCHANGED,
	THIN_RESTORE_LEFT_ZEROED,	/* block 0 zeroed: unformatted */
	THIN_RESTORE_LEFT_UNFLUSHED,	/* new superblock, flush failed */
};

struct thin_restore;

/* 0 or -ENOMEM.  io is written to only once the superblock arrives. */
int thin_restore_create(struct pd_io *io, const struct thin_restore_opts *o,
			struct thin_restore **out);
void thin_restore_destroy(struct thin_restore *rs);
void thin_restore_emitter(struct thin_restore *rs, struct thin_emitter *e);
/* Builds the top-level, details and space-map trees, superblock last. */
int thin_restore_commit(struct thin_restore *rs);
/* Why the last call failed, or NULL when an errno says it all. */
const char *thin_restore_message(const struct thin_restore *rs);
enum thin_restore_left thin_restore_left(const struct thin_restore *rs);
uint32_t thin_restore_block_size(const struct thin_restore *rs);

#endif
