/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Whole-device scanner: finds every block that is a valid persistent-data
 * block of some type, without following any pointer.
 *
 * Repair uses it when the structures cannot be reached from their roots (a
 * damaged superblock, root or interior node): the blocks below the damage
 * are usually intact, and each of them says what it is through its own
 * checksum, self block number and header.  The scanner reads the device
 * sequentially in large chunks, so a scan costs about as much as reading
 * the device once; a block is only checksummed when the block number at the
 * offset its type keeps it matches where it was found, which rejects almost
 * every non-metadata block for the price of one load.
 *
 * Typical use:
 *
 *	static int found(void *ctx, uint64_t block, enum pd_scan_kind kind,
 *			 const void *data) { ... return 0; }
 *	struct pd_scan_ops ops = { .block = found };
 *	int r = pd_scan(io, 0, io->nr_blocks, &ops, ctx);
 *
 * Blocks are reported in increasing block order.  A block that passes more
 * than one validator (a practically impossible checksum collision) is
 * reported once, as the first kind in enum order.  Blocks that cannot be
 * read are reported through ops->unreadable and skipped: a bad sector never
 * stops the scan.  Memory use is one chunk buffer.
 *
 * Returns 0, -ENOMEM, -EINVAL (begin > end or past the device) or the
 * first non-zero value a callback returned.
 */
#ifndef PDATA_SCAN_H
#define PDATA_SCAN_H

#include <stdint.h>

#include "pdata/bm.h"

struct pd_io;

enum pd_scan_kind {
	PD_SCAN_BTREE_LEAF,	/* btree node, flags LEAF */
	PD_SCAN_BTREE_INTERNAL,	/* btree node, flags INTERNAL */
	PD_SCAN_ARRAY,		/* dm-array block */
	PD_SCAN_SM_INDEX,	/* metadata space-map index block */
	PD_SCAN_SM_BITMAP,	/* space-map bitmap block */
	PD_SCAN_EXTRA,		/* passed the caller's extra validator */
};

const char *pd_scan_kind_name(enum pd_scan_kind kind);

struct pd_scan_ops {
	/* A valid block; data is its 4096 bytes, valid during the call. */
	int (*block)(void *ctx, uint64_t block, enum pd_scan_kind kind,
		     const void *data);
	/* Blocks [begin, end) could not be read (err < 0).  May be NULL. */
	int (*unreadable)(void *ctx, uint64_t begin, uint64_t end, int err);
	/*
	 * One more block type to look for (e.g. a superblock), checked after
	 * the persistent-data ones.  May be NULL.
	 */
	const struct pd_validator *extra;
};

/* Scans blocks [begin, end) of io. */
int pd_scan(struct pd_io *io, uint64_t begin, uint64_t end,
	    const struct pd_scan_ops *ops, void *ctx);

/*
 * Classifies one 4096-byte block found at `block` (no I/O).  Returns 1 and
 * sets *kind when it is valid, 0 when it is not.  extra may be NULL.
 */
int pd_scan_classify(const void *data, uint64_t block,
		     const struct pd_validator *extra,
		     enum pd_scan_kind *kind);

#endif
