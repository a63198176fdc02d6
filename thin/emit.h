/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The thin emitter: the stream of events that describes a thin pool's
 * metadata in the order its XML has it.  The dump produces it from disk and
 * the writers (xml/thin_writer.h) consume it.
 *
 * Order of calls:
 *	begin_superblock
 *	  (begin_device  mapping*  end_device)*
 *	end_superblock
 * Devices come in increasing id order, mappings in increasing virtual-block
 * order within a device, already merged into runs the way 0.9.0 merges
 * them (consecutive virtual and data blocks with the same time).  Any
 * callback may be NULL.  A callback returns 0 or a negative errno, which
 * stops the producer and is passed back to its caller.
 */
#ifndef THIN_EMIT_H
#define THIN_EMIT_H

#include <stdint.h>

#include "thin/format.h"

struct thin_emit_sb {
	uint64_t time;
	uint64_t trans_id;
	uint32_t flags;
	uint32_t version;
	uint32_t data_block_size;	/* sectors */
	uint64_t nr_data_blocks;
	/*
	 * A held metadata snapshot's block, written as metadata_snap="N"
	 * (the newer tools' attribute); 0.9.0 never writes it, so the dump
	 * leaves it 0.
	 */
	uint64_t metadata_snap;
};

struct thin_emit_device {
	uint64_t dev_id;
	struct thin_details details;
};

struct thin_emitter {
	void *ctx;
	int (*begin_superblock)(void *ctx, const struct thin_emit_sb *sb);
	int (*end_superblock)(void *ctx);
	int (*begin_device)(void *ctx, const struct thin_emit_device *d);
	int (*end_device)(void *ctx);
	/* Virtual blocks [vbegin, vbegin + len) map to [dbegin, dbegin + len). */
	int (*mapping)(void *ctx, uint64_t vbegin, uint64_t dbegin,
		       uint64_t len, uint32_t time);
	/*
	 * Instead of the mapping calls, right after begin_device: the device
	 * maps exactly what device dev_id, given before, maps (a snapshot
	 * nothing was written to since).  Producers call it only when it is
	 * not NULL, and give the mappings otherwise.
	 */
	int (*same_mappings)(void *ctx, uint64_t dev_id);
};

#endif
