/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Block manager: a cache of 4 KiB metadata blocks over a struct pd_io, with
 * a validator per block type.
 *
 * A validator checks, in this order, that a block is where it says it is
 * (its self block number), that its checksum is right, and that its header
 * is sane enough to be read without overrunning the block.  When one of
 * these fails it fills a struct pd_fault that says which block, which
 * validator, what was wrong and the values found and expected, and the read
 * fails; callers that keep going after damage (checkers, repair) report the
 * fault and carry on.  A block that passed a validator once is not checked
 * again while it stays cached.
 *
 * Typical use:
 *
 *	struct pd_block *b;
 *	struct pd_fault f;
 *	int r = pd_bm_read_lock(bm, nr, &pd_btree_validator, &b, &f);
 *	if (r < 0)
 *		return r;		(f says why when r is -EILSEQ etc.)
 *	const struct pd_node_header *h = pd_block_data(b);
 *	...
 *	pd_bm_unlock(b);
 *
 * Writes: pd_bm_write_lock_zero() hands out a zeroed block that will be
 * written when it is evicted or at pd_bm_flush(); the validator's prepare
 * step stamps its block number and checksum just before it goes out.
 * Nothing orders writes except pd_bm_flush(), which writes every dirty block
 * and then flushes the device: the transaction manager builds "superblock
 * last" on top of that.
 *
 * Errors: 0 or a negative errno.  -ERANGE block past the end of the device,
 * -ENOTBLK block claims another location, -EILSEQ bad checksum or header,
 * -EIO (or the engine's error) the device failed, -ENOMEM, -EBUSY no
 * unlocked block to evict.  Locking a block twice for writing, or destroying
 * the manager with locks held, is a programming error and aborts.
 */
#ifndef PDATA_BM_H
#define PDATA_BM_H

#include <stddef.h>
#include <stdint.h>

struct pd_io;

enum pd_fault_kind {
	PD_FAULT_NONE = 0,
	PD_FAULT_IO,		/* the device failed to read it */
	PD_FAULT_RANGE,		/* block number past the end of the device */
	PD_FAULT_LOCATION,	/* self block number differs */
	PD_FAULT_CHECKSUM,
	PD_FAULT_HEADER,	/* a header field out of range */
};

struct pd_fault {
	uint64_t block;
	const char *validator;	/* "btree node", "array block", ... */
	enum pd_fault_kind kind;
	const char *what;	/* the field, e.g. "blocknr", "nr_entries" */
	uint64_t found;
	uint64_t expected;
	int err;		/* the negative errno the read returned */
};

/* "bad checksum", "wrong location", ... */
const char *pd_fault_kind_name(enum pd_fault_kind kind);
/*
 * One line, no newline: "btree node block 5: bad checksum (found 0x1234,
 * expected 0x5678)".  Returns what snprintf returns.
 */
int pd_fault_format(const struct pd_fault *f, char *buf, size_t len);

struct pd_validator {
	const char *name;
	uint32_t csum_xor;
	unsigned blocknr_offset;	/* where the self block number lives */
	/* A superblock's little-endian 64-bit magic, checked after the
	 * checksum (a header fault "magic"); 0: none. */
	uint64_t magic;
	unsigned magic_offset;
	/* Header sanity after location and checksum; NULL for none. */
	int (*check_header)(const void *data, uint64_t block,
			    struct pd_fault *f);
};

extern const struct pd_validator pd_btree_validator;
extern const struct pd_validator pd_array_validator;
extern const struct pd_validator pd_index_validator;
extern const struct pd_validator pd_bitmap_validator;

/* crc32c(~0, data + 4, 4092) ^ xor */
uint32_t pd_block_csum(const void *data, uint32_t csum_xor);
/* Location, checksum, header.  0 or the error a read would return. */
int pd_validate(const struct pd_validator *v, const void *data,
		uint64_t block, struct pd_fault *f);
/* Stamps the self block number and the checksum. */
void pd_validator_prepare(const struct pd_validator *v, void *data,
			  uint64_t block);

struct pd_bm;
struct pd_block;

/*
 * cache_blocks: how many blocks to keep in memory (at least 16).  The
 * manager does not own io.
 */
int pd_bm_create(struct pd_io *io, unsigned cache_blocks, struct pd_bm **out);
/* Writes nothing: call pd_bm_flush() first to keep dirty blocks. */
void pd_bm_destroy(struct pd_bm *bm);

struct pd_io *pd_bm_io(struct pd_bm *bm);
/* Whole blocks on the device. */
uint64_t pd_bm_nr_blocks(const struct pd_bm *bm);

/* v may be NULL for an unchecked read.  f may be NULL. */
int pd_bm_read_lock(struct pd_bm *bm, uint64_t block,
		    const struct pd_validator *v, struct pd_block **out,
		    struct pd_fault *f);
/* As read_lock, and the block will be written back. */
int pd_bm_write_lock(struct pd_bm *bm, uint64_t block,
		     const struct pd_validator *v, struct pd_block **out,
		     struct pd_fault *f);
/* A zeroed block, not read from the device, to be written. */
int pd_bm_write_lock_zero(struct pd_bm *bm, uint64_t block,
			  const struct pd_validator *v, struct pd_block **out);
void pd_bm_unlock(struct pd_block *b);

const void *pd_block_data(const struct pd_block *b);
/* Only for write-locked blocks. */
void *pd_block_wdata(struct pd_block *b);
uint64_t pd_block_nr(const struct pd_block *b);
/* 1 when a block's 4096 bytes are all zero (an unformatted block 0). */
int pd_block_data_is_zero(const void *data);

/*
 * Starts reading these blocks into the cache (all in flight at once with the
 * aio engine).  Advisory: errors are ignored here and seen again by the
 * read_lock that needs the block.  Blocks already cached are skipped.
 */
void pd_bm_prefetch(struct pd_bm *bm, const uint64_t *blocks, unsigned n);

/* Writes every dirty block, then flushes the device. */
int pd_bm_flush(struct pd_bm *bm);

/* Forgets a cached copy (e.g. after the device was written around us). */
void pd_bm_forget(struct pd_bm *bm, uint64_t block);

/*
 * Writes one block straight to the device (no validator stamps it: data is
 * written as given) and forgets any cached copy, so the next read sees it.
 * For a checker that patches a block in place (a superblock's flags).
 * The block must not be locked.
 */
int pd_bm_write_direct(struct pd_bm *bm, uint64_t block, const void *data);

/* Domain text for the errors above: "block failed its checksum", ... */
const char *pd_strerror(int err);

#endif
