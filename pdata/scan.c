// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The whole-device scanner (see scan.h).  Reads the range in 1 MiB chunks
 * with plain sequential reads (the kernel's readahead keeps the disk
 * streaming; page-cached metadata costs a memcpy), and classifies each
 * block with the same validators the block manager uses, so that "found by
 * the scan" means exactly "would pass a read_lock".
 */
#include "pdata/scan.h"

#include <errno.h>
#include <stdlib.h>

#include "base/endian.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"

#define SCAN_CHUNK_BLOCKS 256u

const char *pd_scan_kind_name(enum pd_scan_kind kind)
{
	switch (kind) {
	case PD_SCAN_BTREE_LEAF:
		return "btree leaf";
	case PD_SCAN_BTREE_INTERNAL:
		return "btree internal node";
	case PD_SCAN_ARRAY:
		return "array block";
	case PD_SCAN_SM_INDEX:
		return "space map index";
	case PD_SCAN_SM_BITMAP:
		return "space map bitmap";
	case PD_SCAN_EXTRA:
		return "extra";
	}
	return "unknown";
}

/*
 * Cheap pre-test: the self block number must match before a checksum is
 * worth computing.  Most blocks of a metadata device are either metadata
 * (and match) or free space (zeros or stale data, which match only at
 * block 0).
 */
static int self_matches(const void *data, unsigned offset, uint64_t block)
{
	return load_le64((const unsigned char *)data + offset) == block;
}

int pd_scan_classify(const void *data, uint64_t block,
		     const struct pd_validator *extra,
		     enum pd_scan_kind *kind)
{
	if (self_matches(data, 8, block)) {
		if (!pd_validate(&pd_btree_validator, data, block, NULL)) {
			const struct pd_node_header *h = data;

			*kind = le32_to_cpu(h->flags) == PD_BTREE_LEAF ?
					PD_SCAN_BTREE_LEAF :
					PD_SCAN_BTREE_INTERNAL;
			return 1;
		}
		if (!pd_validate(&pd_index_validator, data, block, NULL)) {
			*kind = PD_SCAN_SM_INDEX;
			return 1;
		}
		if (!pd_validate(&pd_bitmap_validator, data, block, NULL)) {
			*kind = PD_SCAN_SM_BITMAP;
			return 1;
		}
	}
	if (self_matches(data, 16, block) &&
	    !pd_validate(&pd_array_validator, data, block, NULL)) {
		*kind = PD_SCAN_ARRAY;
		return 1;
	}
	if (extra && self_matches(data, extra->blocknr_offset, block) &&
	    !pd_validate(extra, data, block, NULL)) {
		*kind = PD_SCAN_EXTRA;
		return 1;
	}
	return 0;
}

static int scan_chunk(const struct pd_scan_ops *ops, void *ctx,
		      const unsigned char *buf, uint64_t first, unsigned nr)
{
	enum pd_scan_kind kind;
	int r;

	for (unsigned i = 0; i < nr; i++) {
		const unsigned char *data = buf + (size_t)i * PD_BLOCK_SIZE;

		if (!pd_scan_classify(data, first + i, ops->extra, &kind))
			continue;
		r = ops->block(ctx, first + i, kind, data);
		if (r)
			return r;
	}
	return 0;
}

/*
 * A chunk that failed to read is retried block by block, so that one bad
 * sector costs one block, not a megabyte.  Runs of unreadable blocks are
 * reported as one range.
 */
static int scan_slowly(struct pd_io *io, const struct pd_scan_ops *ops,
		       void *ctx, unsigned char *buf, uint64_t first,
		       unsigned nr)
{
	uint64_t bad_begin = 0;
	int bad_err = 0, r;

	for (unsigned i = 0; i < nr; i++) {
		int e = io->ops->read(io, first + i, 1, buf);

		if (e < 0) {
			if (!bad_err) {
				bad_begin = first + i;
				bad_err = e;
			}
			continue;
		}
		if (bad_err) {
			if (ops->unreadable) {
				r = ops->unreadable(ctx, bad_begin, first + i,
						    bad_err);
				if (r)
					return r;
			}
			bad_err = 0;
		}
		r = scan_chunk(ops, ctx, buf, first + i, 1);
		if (r)
			return r;
	}
	if (bad_err && ops->unreadable)
		return ops->unreadable(ctx, bad_begin, first + nr, bad_err);
	return 0;
}

int pd_scan(struct pd_io *io, uint64_t begin, uint64_t end,
	    const struct pd_scan_ops *ops, void *ctx)
{
	unsigned char *buf;
	int r = 0;

	if (begin > end || end > io->nr_blocks)
		return -EINVAL;
	if (begin == end)
		return 0;
	buf = aligned_alloc(PD_BLOCK_SIZE,
			    (size_t)SCAN_CHUNK_BLOCKS * PD_BLOCK_SIZE);
	if (!buf)
		return -ENOMEM;

	for (uint64_t b = begin; b < end && !r;) {
		unsigned nr = end - b < SCAN_CHUNK_BLOCKS ?
				      (unsigned)(end - b) :
				      SCAN_CHUNK_BLOCKS;

		if (io->ops->read(io, b, nr, buf) < 0)
			r = scan_slowly(io, ops, ctx, buf, b, nr);
		else
			r = scan_chunk(ops, ctx, buf, b, nr);
		b += nr;
	}
	free(buf);
	return r;
}
