/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The thin repair: salvages damaged dm-thin metadata into a model of the
 * pool (devices, their details and their mappings) and feeds that model to
 * a thin emitter (thin/emit.h), normally the restore writer (thin/restore.h)
 * on the output device, so the metadata written is exactly what
 * thin_restore would write for the same pool.
 *
 * Layers of salvage, each only when the one before left something out:
 *  1. the superblock's roots: the details tree, the top level of the
 *     mapping tree and each device's tree, walked with the checking walker
 *     (pdata/btree.h: cycles and too-deep trees are damage, never a hang);
 *     what is readable is kept, each damaged node's key range noted;
 *  2. when the superblock is unreadable, a top tree is damaged or a device
 *     tree has damage, the whole device is scanned (pdata/scan.h) for btree
 *     nodes; every node no internal node points at is a candidate root,
 *     and is classified by walking it: details trees (24-byte values),
 *     top-level trees (values are scanned btree nodes) and mapping trees;
 *  3. the model is rebuilt from the candidates: lost details from the
 *     newest details tree found, lost device roots from the newest
 *     top-level tree found or else matched by mapped_blocks among the
 *     unreferenced mapping trees, orphan trees adopted under new ids when
 *     no device set survives at all, and each damaged key range filled from
 *     the newest older copy of that device's tree (a candidate tree holding
 *     at least one of the device's own mappings, or one an older top-level
 *     tree gives for the device);
 *  4. the model is made consistent: a data block claimed by two mappings
 *     that cannot be sharing it (different times, or the same device twice)
 *     goes to the newest claimant; mappings past nr_data_blocks are dropped;
 *     mapped_blocks and the pool time follow the mappings.
 *
 * Nothing is silent: every decision and every difference from what the
 * superblock claimed goes to opts.note, one line each (the library never
 * prints).  An empty pool is refused (-ENODATA) when the evidence is not
 * empty.  Memory: a record per device, not per mapping (a device's
 * mappings are read again from its tree on the input by each pass that
 * needs them, the emitting included, so `in` must stay open until
 * thin_repair_destroy); the mappings patched in from other trees (16
 * bytes each); three bits per data block; two bytes per metadata block
 * and one candidate record per unreferenced node found by a scan.
 *
 *	thin_repair_read(in, &opts, &rp);	(notes arrive here)
 *	thin_repair_blocks_needed(rp) <= output blocks?
 *	thin_restore_create(out, NULL, &rs); thin_restore_emitter(rs, &e);
 *	thin_repair_emit(rp, &e); thin_restore_commit(rs);
 *	thin_repair_destroy(rp);
 */
#ifndef THIN_REPAIR_H
#define THIN_REPAIR_H

#include <stdint.h>

#include "pdata/io.h"
#include "thin/emit.h"

struct thin_repair_opts {
	/* Overrides (0.9.0's options); used too when the superblock is lost. */
	int set_trans_id, set_data_block_size, set_nr_data_blocks;
	uint64_t trans_id;
	uint32_t data_block_size;
	uint64_t nr_data_blocks;
	/* One line (no newline) per decision or difference; may be NULL. */
	void (*note)(void *ctx, const char *line);
	void *ctx;
};

struct thin_repair;

/*
 * Reads and salvages.  0 with *out; -ENODATA when nothing but an empty
 * pool could be written from non-empty evidence, -EILSEQ when no thin
 * metadata is found at all, -ENOMEM, -EIO: thin_repair_message() says why
 * (*out is then NULL).
 */
int thin_repair_read(struct pd_io *in, const struct thin_repair_opts *o,
		     struct thin_repair **out, char *msg, size_t msg_len);
/* An upper estimate of the metadata blocks the restore writer will use. */
uint64_t thin_repair_blocks_needed(const struct thin_repair *rp);
/* The chosen superblock values and totals, for the tool's summary. */
uint64_t thin_repair_trans_id(const struct thin_repair *rp);
uint64_t thin_repair_nr_devices(const struct thin_repair *rp);
uint64_t thin_repair_nr_mappings(const struct thin_repair *rp);
/*
 * Feeds the model: superblock, devices in id order, merged runs; a device
 * that maps what one before it maps (a snapshot nothing was written to
 * since) as same_mappings when the emitter takes it.
 */
int thin_repair_emit(const struct thin_repair *rp, const struct thin_emitter *e);
void thin_repair_destroy(struct thin_repair *rp);

#endif
