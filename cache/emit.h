/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The emitter: the stream of events that describes a cache's metadata in
 * the order the XML has it.  The dump produces it from disk and the XML
 * writer consumes it; the XML reader produces it and the restore consumes
 * it; repair produces it from whatever it salvaged.
 *
 * Order of calls:
 *	begin_superblock
 *	  begin_mappings  mapping*  end_mappings
 *	  begin_hints     hint*     end_hints
 *	  [begin_discards discard*  end_discards]
 *	end_superblock
 * Mappings and hints come in increasing cache-block order from the dump; a
 * consumer must not rely on that for input from XML.  Any callback may be
 * NULL.  A callback returns 0 or a negative errno, which stops the producer
 * and is passed back to its caller.
 */
#ifndef CACHE_EMIT_H
#define CACHE_EMIT_H

#include <stdint.h>

#include "cache/format.h"

struct cache_emit_sb {
	/* What the XML <superblock> carries. */
	uint8_t uuid[16];		/* raw; printed up to the first NUL */
	uint64_t block_size;		/* data_block_size, sectors */
	uint64_t nr_cache_blocks;
	char policy[CACHE_POLICY_NAME_SIZE + 1];
	uint32_t hint_width;		/* bytes per hint, 0 = no hints */

	/*
	 * What only the binary form carries.  The dump fills these from the
	 * superblock; the XML reader leaves have_binary clear and the restore
	 * takes them from its options.
	 */
	int have_binary;
	uint32_t version;		/* metadata version 1 or 2 */
	uint32_t flags;			/* CACHE_SB_* */
	uint32_t policy_version[3];
	uint64_t discard_block_size;	/* sectors */
	uint64_t discard_nr_blocks;
};

struct cache_emit_discards {
	uint64_t block_size;		/* sectors */
	uint64_t nr_blocks;
	/*
	 * The input gave ranges but no geometry (0.9.0's and the newer
	 * tools' <discards> has no attributes): block_size and nr_blocks are
	 * 0, the ranges may go anywhere, and the consumer chooses the
	 * geometry once it has seen them all (the restore: restore.h).
	 */
	int no_geometry;
};

struct cache_emitter {
	void *ctx;
	int (*begin_superblock)(void *ctx, const struct cache_emit_sb *sb);
	int (*end_superblock)(void *ctx);
	int (*begin_mappings)(void *ctx);
	int (*mapping)(void *ctx, uint64_t cblock, uint64_t oblock, int dirty);
	int (*end_mappings)(void *ctx);
	int (*begin_hints)(void *ctx);
	/* len == the superblock's hint_width */
	int (*hint)(void *ctx, uint64_t cblock, const void *data, uint32_t len);
	int (*end_hints)(void *ctx);
	int (*begin_discards)(void *ctx, const struct cache_emit_discards *d);
	/* Discard blocks [dbegin, dend) are discarded. */
	int (*discard)(void *ctx, uint64_t dbegin, uint64_t dend);
	int (*end_discards)(void *ctx);
};

#endif
