/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The thin dump: reads dm-thin metadata and produces the emitter events
 * (thin/emit.h) that describe it: the superblock, then every device of the
 * details tree with its mappings merged into runs.
 *
 * What is read: the superblock (validator: location, checksum, magic), the
 * device-details tree and the top level of the mapping tree (both whole,
 * before the first event), then each device's tree as it is emitted.
 * Without THIN_DUMP_REPAIR any damage stops the dump with -EUCLEAN; damage
 * in a device's tree is found while that device is being emitted, so the
 * events already produced stay produced (the tool removes an output file it
 * created).  A device named by only one of the two trees is damage too.
 *
 * With THIN_DUMP_REPAIR damaged ranges are skipped and counted, a device
 * without a mapping tree is emitted without mappings, and one without
 * details is left out (its mappings cannot be given a size or times).
 *
 * With THIN_DUMP_METADATA_SNAP the superblock copy of the held metadata
 * snapshot is read instead (at opts.snap_block, or the superblock's
 * held_root when that is 0), as 0.9.0 does: its header values, its roots,
 * and nr_data_blocks from its data space map root, which the kernel zeroes
 * in the copy.
 *
 * Never prints.  Memory: the device list, one bit per metadata block per
 * tree walk, and the block cache.
 */
#ifndef THIN_DUMP_H
#define THIN_DUMP_H

#include <stdint.h>

#include "pdata/bm.h"
#include "pdata/io.h"
#include "thin/emit.h"
#include "thin/format.h"

enum thin_dump_flags {
	THIN_DUMP_REPAIR = 1 << 0,
	THIN_DUMP_SKIP_MAPPINGS = 1 << 1,	/* devices only */
	THIN_DUMP_METADATA_SNAP = 1 << 2,
	THIN_DUMP_DEV_ID = 1 << 3,		/* only opts.dev_id */
};

struct thin_dump_result;

struct thin_dump_opts {
	unsigned flags;
	uint64_t snap_block;	/* THIN_DUMP_METADATA_SNAP: 0 = held_root */
	uint64_t dev_id;	/* THIN_DUMP_DEV_ID */
	/*
	 * Called once, just before the first event, so a tool creates or
	 * truncates its output only once the superblock and the two top
	 * trees were read.  A non-zero return stops the dump.  May be NULL.
	 */
	int (*before_emit)(void *ctx, const struct thin_dump_result *res);
	void *ctx;
};

enum thin_dump_status {
	THIN_DUMP_OK = 0,
	THIN_DUMP_SB_UNREADABLE,	/* block 0 could not be read: res.err */
	THIN_DUMP_SB_ZEROED,		/* block 0 is all zeroes */
	THIN_DUMP_SB_NOT_THIN,		/* wrong magic: res.sb.magic */
	THIN_DUMP_SB_LOCATION,		/* self block number wrong */
	THIN_DUMP_SB_CSUM,		/* res.fault has the checksums */
	THIN_DUMP_NO_SNAP,		/* -m without a held root */
	THIN_DUMP_SNAP_BAD,		/* the snapshot superblock: res.fault */
	THIN_DUMP_DAMAGED,		/* res.structure, res.fault */
	THIN_DUMP_ERROR,		/* -ENOMEM or an emitter error: res.err */
};

struct thin_dump_result {
	enum thin_dump_status status;
	int err;
	int have_sb;
	struct thin_sb sb;		/* block 0 */
	uint64_t sb_block;		/* the superblock dumped: 0 or the snap */
	const char *structure;		/* first damage: "device details tree" */
	uint64_t dev_id;		/* ... and the device, when one */
	struct pd_fault fault;
	uint64_t nr_damage;

	uint64_t nr_devices;		/* emitted */
	uint64_t nr_mappings;
	uint64_t nr_runs;
	/* Repair mode: devices dropped or emitted without their mappings. */
	uint64_t lost_devices;
};

int thin_dump(struct pd_io *io, const struct thin_dump_opts *opts,
	      const struct thin_emitter *e, struct thin_dump_result *res);

const char *thin_dump_status_name(enum thin_dump_status s);

#endif
