// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The block manager: a fixed pool of 4 KiB buffers indexed by a hash table,
 * with unlocked blocks on an LRU list for reuse, and the four
 * persistent-data validators.  Dirty blocks are written when they are
 * evicted or at pd_bm_flush(); the validator stamps location and checksum at
 * that moment, so a block's bytes on disk always verify.
 */
#include "pdata/bm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/crc32c.h"
#include "base/endian.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"

#define BUG_ON(c)                                                          \
	do {                                                               \
		if (c) {                                                   \
			fprintf(stderr, "%s:%d: BUG: %s\n", __FILE__,      \
				__LINE__, #c);                             \
			abort();                                           \
		}                                                          \
	} while (0)

/* ---- validators ---- */

uint32_t pd_block_csum(const void *data, uint32_t csum_xor)
{
	return crc32c(CRC32C_SEED, (const unsigned char *)data + 4,
		      PD_BLOCK_SIZE - 4) ^ csum_xor;
}

static int fault(struct pd_fault *f, uint64_t block, const char *validator,
		 enum pd_fault_kind kind, const char *what, uint64_t found,
		 uint64_t expected, int err)
{
	if (f) {
		f->block = block;
		f->validator = validator;
		f->kind = kind;
		f->what = what;
		f->found = found;
		f->expected = expected;
		f->err = err;
	}
	return err;
}

int pd_validate(const struct pd_validator *v, const void *data,
		uint64_t block, struct pd_fault *f)
{
	uint64_t self = load_le64((const unsigned char *)data + v->blocknr_offset);
	uint32_t want, have;

	if (self != block)
		return fault(f, block, v->name, PD_FAULT_LOCATION, "blocknr",
			     self, block, -ENOTBLK);
	have = load_le32(data);
	want = pd_block_csum(data, v->csum_xor);
	if (have != want)
		return fault(f, block, v->name, PD_FAULT_CHECKSUM, "csum", have,
			     want, -EILSEQ);
	if (v->magic) {
		uint64_t magic = load_le64((const unsigned char *)data +
					   v->magic_offset);

		if (magic != v->magic)
			return fault(f, block, v->name, PD_FAULT_HEADER,
				     "magic", magic, v->magic, -EILSEQ);
	}
	if (v->check_header)
		return v->check_header(data, block, f);
	return 0;
}

void pd_validator_prepare(const struct pd_validator *v, void *data,
			  uint64_t block)
{
	store_le64((unsigned char *)data + v->blocknr_offset, block);
	store_le32(data, pd_block_csum(data, v->csum_xor));
}

/* What the kernel's node_check insists on, so that reading is safe. */
static int btree_check_header(const void *data, uint64_t block,
			      struct pd_fault *f)
{
	const struct pd_node_header *h = data;
	uint32_t flags = le32_to_cpu(h->flags);
	uint32_t nr = le32_to_cpu(h->nr_entries);
	uint32_t max = le32_to_cpu(h->max_entries);
	uint32_t vs = le32_to_cpu(h->value_size);
	const char *name = pd_btree_validator.name;

	if (flags != PD_BTREE_INTERNAL && flags != PD_BTREE_LEAF)
		return fault(f, block, name, PD_FAULT_HEADER, "flags", flags,
			     PD_BTREE_LEAF, -EILSEQ);
	if (vs == 0 || vs > PD_BLOCK_SIZE)
		return fault(f, block, name, PD_FAULT_HEADER, "value_size", vs,
			     8, -EILSEQ);
	if ((uint64_t)max * (8 + vs) > PD_BLOCK_SIZE - PD_NODE_KEYS_OFFSET)
		return fault(f, block, name, PD_FAULT_HEADER, "max_entries",
			     max, pd_btree_max_entries(vs), -EILSEQ);
	if (nr > max)
		return fault(f, block, name, PD_FAULT_HEADER, "nr_entries", nr,
			     max, -EILSEQ);
	return 0;
}

static int array_check_header(const void *data, uint64_t block,
			      struct pd_fault *f)
{
	const struct pd_array_header *h = data;
	uint32_t nr = le32_to_cpu(h->nr_entries);
	uint32_t max = le32_to_cpu(h->max_entries);
	uint32_t vs = le32_to_cpu(h->value_size);
	const char *name = pd_array_validator.name;

	if (vs == 0 || vs > PD_BLOCK_SIZE - sizeof(*h))
		return fault(f, block, name, PD_FAULT_HEADER, "value_size", vs,
			     8, -EILSEQ);
	if (max != pd_array_entries_per_block(vs))
		return fault(f, block, name, PD_FAULT_HEADER, "max_entries",
			     max, pd_array_entries_per_block(vs), -EILSEQ);
	if (nr > max)
		return fault(f, block, name, PD_FAULT_HEADER, "nr_entries", nr,
			     max, -EILSEQ);
	return 0;
}

const struct pd_validator pd_btree_validator = {
	.name = "btree node",
	.csum_xor = PD_CSUM_XOR_BTREE,
	.blocknr_offset = 8,
	.check_header = btree_check_header,
};

const struct pd_validator pd_array_validator = {
	.name = "array block",
	.csum_xor = PD_CSUM_XOR_ARRAY,
	.blocknr_offset = 16,
	.check_header = array_check_header,
};

const struct pd_validator pd_index_validator = {
	.name = "space map index",
	.csum_xor = PD_CSUM_XOR_INDEX,
	.blocknr_offset = 8,
};

const struct pd_validator pd_bitmap_validator = {
	.name = "space map bitmap",
	.csum_xor = PD_CSUM_XOR_BITMAP,
	.blocknr_offset = 8,
};

const char *pd_fault_kind_name(enum pd_fault_kind kind)
{
	switch (kind) {
	case PD_FAULT_NONE:
		return "no fault";
	case PD_FAULT_IO:
		return "read error";
	case PD_FAULT_RANGE:
		return "block past the end of the device";
	case PD_FAULT_LOCATION:
		return "wrong location";
	case PD_FAULT_CHECKSUM:
		return "bad checksum";
	case PD_FAULT_HEADER:
		return "bad header";
	}
	return "unknown fault";
}

int pd_fault_format(const struct pd_fault *f, char *buf, size_t len)
{
	const char *v = f->validator ? f->validator : "block";

	switch (f->kind) {
	case PD_FAULT_CHECKSUM:
		return snprintf(buf, len,
				"%s block %" PRIu64 ": bad checksum (found 0x%08" PRIx64
				", expected 0x%08" PRIx64 ")",
				v, f->block, f->found, f->expected);
	case PD_FAULT_LOCATION:
		return snprintf(buf, len,
				"%s block %" PRIu64 ": wrong location (blocknr %" PRIu64
				")", v, f->block, f->found);
	case PD_FAULT_HEADER:
		return snprintf(buf, len,
				"%s block %" PRIu64 ": bad %s (found %" PRIu64
				", expected %" PRIu64 ")",
				v, f->block, f->what ? f->what : "header", f->found,
				f->expected);
	case PD_FAULT_RANGE:
		return snprintf(buf, len,
				"%s block %" PRIu64 ": past the end of the device (%"
				PRIu64 " blocks)", v, f->block, f->expected);
	case PD_FAULT_IO:
		return snprintf(buf, len, "%s block %" PRIu64 ": %s", v,
				f->block, pd_strerror(f->err));
	case PD_FAULT_NONE:
		break;
	}
	return snprintf(buf, len, "%s block %" PRIu64 ": no fault", v, f->block);
}

const char *pd_strerror(int err)
{
	switch (-err) {
	case 0:
		return "success";
	case EIO:
		return "I/O error";
	case EILSEQ:
		return "block failed its checksum or header check";
	case ENOTBLK:
		return "block claims another location";
	case ERANGE:
		return "block number past the end of the device";
	case ENODATA:
		return "key not found";
	case EUCLEAN:
		return "metadata structure is inconsistent";
	case ENOSPC:
		return "no free metadata blocks";
	case ENOMEM:
		return "out of memory";
	case EINVAL:
		return "invalid argument";
	case EBUSY:
		return "device or resource busy";
	case ENOENT:
		return "no such file or directory";
	case EISDIR:
		return "is a directory";
	case ENODEV:
		return "not a regular file or block device";
	case EACCES:
		return "permission denied";
	}
	return strerror(-err);
}

/* ---- the cache ---- */

struct pd_block {
	uint64_t nr;
	void *data;
	struct pd_bm *bm;
	struct pd_block *hash_next;
	struct pd_block *lru_prev, *lru_next;
	const struct pd_validator *validated;	/* last validator passed */
	const struct pd_validator *wvalidator;	/* prepares it for writing */
	unsigned read_locks;
	int write_locked;
	int dirty;
	int in_use;		/* holds a block (else on the free list) */
};

struct pd_bm {
	struct pd_io *io;
	unsigned nr_entries;
	unsigned hash_mask;
	struct pd_block *entries;
	struct pd_block **hash;
	unsigned char *buffers;
	struct pd_block lru;	/* list head: unlocked, in use, LRU first */
	struct pd_block *free_list;	/* singly linked via hash_next */
	unsigned locked;
};

static unsigned hash_of(const struct pd_bm *bm, uint64_t nr)
{
	return (unsigned)((nr * 0x9E3779B97F4A7C15ull) >> 32) & bm->hash_mask;
}

static void lru_del(struct pd_block *b)
{
	b->lru_prev->lru_next = b->lru_next;
	b->lru_next->lru_prev = b->lru_prev;
	b->lru_prev = b->lru_next = NULL;
}

static void lru_add_tail(struct pd_bm *bm, struct pd_block *b)
{
	b->lru_prev = bm->lru.lru_prev;
	b->lru_next = &bm->lru;
	bm->lru.lru_prev->lru_next = b;
	bm->lru.lru_prev = b;
}

static struct pd_block *lookup(struct pd_bm *bm, uint64_t nr)
{
	struct pd_block *b = bm->hash[hash_of(bm, nr)];

	while (b && b->nr != nr)
		b = b->hash_next;
	return b;
}

static void hash_remove(struct pd_bm *bm, struct pd_block *b)
{
	struct pd_block **p = &bm->hash[hash_of(bm, b->nr)];

	while (*p != b)
		p = &(*p)->hash_next;
	*p = b->hash_next;
	b->hash_next = NULL;
}

static int write_out(struct pd_bm *bm, struct pd_block *b)
{
	int r;

	if (b->wvalidator)
		pd_validator_prepare(b->wvalidator, b->data, b->nr);
	r = bm->io->ops->write(bm->io, b->nr, 1, b->data);
	if (r < 0)
		return r;
	b->dirty = 0;
	return 0;
}

/* A free entry: from the free list, or by evicting the LRU unlocked block. */
static int get_entry(struct pd_bm *bm, struct pd_block **out)
{
	struct pd_block *b = bm->free_list;
	int r;

	if (b) {
		bm->free_list = b->hash_next;
		b->hash_next = NULL;
		*out = b;
		return 0;
	}
	b = bm->lru.lru_next;
	if (b == &bm->lru)
		return -EBUSY;
	if (b->dirty) {
		r = write_out(bm, b);
		if (r < 0)
			return r;
	}
	lru_del(b);
	hash_remove(bm, b);
	b->in_use = 0;
	*out = b;
	return 0;
}

static void put_free(struct pd_bm *bm, struct pd_block *b)
{
	b->in_use = 0;
	b->hash_next = bm->free_list;
	bm->free_list = b;
}

int pd_bm_create(struct pd_io *io, unsigned cache_blocks, struct pd_bm **out)
{
	struct pd_bm *bm;
	unsigned hsize = 1;
	void *bufs = NULL;

	*out = NULL;
	if (cache_blocks < 16)
		cache_blocks = 16;
	while (hsize < cache_blocks * 2)
		hsize <<= 1;
	bm = calloc(1, sizeof(*bm));
	if (!bm)
		return -ENOMEM;
	bm->entries = calloc(cache_blocks, sizeof(*bm->entries));
	bm->hash = calloc(hsize, sizeof(*bm->hash));
	/*
	 * One mapping with its pages made in one go: a walk touches every
	 * buffer, and a first-touch fault apiece (512 for a checker's cache)
	 * cost more than populating them together.
	 */
	bufs = mmap(NULL, (size_t)cache_blocks * PD_BLOCK_SIZE,
		    PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (bufs == MAP_FAILED)
		bufs = NULL;
	if (!bm->entries || !bm->hash || !bufs) {
		if (bufs)
			munmap(bufs, (size_t)cache_blocks * PD_BLOCK_SIZE);
		free(bm->hash);
		free(bm->entries);
		free(bm);
		return -ENOMEM;
	}
	bm->io = io;
	bm->nr_entries = cache_blocks;
	bm->hash_mask = hsize - 1;
	bm->buffers = bufs;
	bm->lru.lru_next = bm->lru.lru_prev = &bm->lru;
	for (unsigned i = cache_blocks; i-- > 0;) {
		struct pd_block *b = &bm->entries[i];

		b->bm = bm;
		b->data = bm->buffers + (size_t)i * PD_BLOCK_SIZE;
		put_free(bm, b);
	}
	*out = bm;
	return 0;
}

void pd_bm_destroy(struct pd_bm *bm)
{
	if (!bm)
		return;
	BUG_ON(bm->locked);
	munmap(bm->buffers, (size_t)bm->nr_entries * PD_BLOCK_SIZE);
	free(bm->hash);
	free(bm->entries);
	free(bm);
}

struct pd_io *pd_bm_io(struct pd_bm *bm)
{
	return bm->io;
}

uint64_t pd_bm_nr_blocks(const struct pd_bm *bm)
{
	return bm->io->nr_blocks;
}

static void lock_entry(struct pd_bm *bm, struct pd_block *b, int write)
{
	if (!b->read_locks && !b->write_locked) {
		if (b->lru_next)
			lru_del(b);
		bm->locked++;
	}
	if (write) {
		BUG_ON(b->read_locks || b->write_locked);
		b->write_locked = 1;
	} else {
		BUG_ON(b->write_locked);
		b->read_locks++;
	}
}

/* Finds or reads the block; validates it against v unless already done. */
static int get_block(struct pd_bm *bm, uint64_t nr, const struct pd_validator *v,
		     int zero, struct pd_block **out, struct pd_fault *f)
{
	struct pd_block *b;
	int r;

	*out = NULL;
	if (nr >= bm->io->nr_blocks)
		return fault(f, nr, v ? v->name : "block", PD_FAULT_RANGE,
			     "blocknr", nr, bm->io->nr_blocks, -ERANGE);
	b = lookup(bm, nr);
	if (!b) {
		r = get_entry(bm, &b);
		if (r < 0)
			return r;
		b->nr = nr;
		b->validated = NULL;
		b->wvalidator = NULL;
		b->dirty = 0;
		if (zero) {
			memset(b->data, 0, PD_BLOCK_SIZE);
		} else {
			r = bm->io->ops->read(bm->io, nr, 1, b->data);
			if (r < 0) {
				put_free(bm, b);
				return fault(f, nr, v ? v->name : "block",
					     PD_FAULT_IO, "read", 0, 0, r);
			}
		}
		b->in_use = 1;
		b->hash_next = bm->hash[hash_of(bm, nr)];
		bm->hash[hash_of(bm, nr)] = b;
		lru_add_tail(bm, b);
	} else if (zero) {
		BUG_ON(b->read_locks || b->write_locked);
		memset(b->data, 0, PD_BLOCK_SIZE);
		b->validated = NULL;
	}
	if (v && !zero && b->validated != v) {
		r = pd_validate(v, b->data, nr, f);
		if (r < 0)
			return r;
		b->validated = v;
	}
	*out = b;
	return 0;
}

int pd_bm_read_lock(struct pd_bm *bm, uint64_t block,
		    const struct pd_validator *v, struct pd_block **out,
		    struct pd_fault *f)
{
	int r = get_block(bm, block, v, 0, out, f);

	if (r == 0)
		lock_entry(bm, *out, 0);
	return r;
}

int pd_bm_write_lock(struct pd_bm *bm, uint64_t block,
		     const struct pd_validator *v, struct pd_block **out,
		     struct pd_fault *f)
{
	int r = get_block(bm, block, v, 0, out, f);

	if (r == 0) {
		lock_entry(bm, *out, 1);
		(*out)->wvalidator = v;
		(*out)->dirty = 1;
	}
	return r;
}

int pd_bm_write_lock_zero(struct pd_bm *bm, uint64_t block,
			  const struct pd_validator *v, struct pd_block **out)
{
	int r = get_block(bm, block, v, 1, out, NULL);

	if (r == 0) {
		lock_entry(bm, *out, 1);
		(*out)->wvalidator = v;
		(*out)->dirty = 1;
	}
	return r;
}

void pd_bm_unlock(struct pd_block *b)
{
	struct pd_bm *bm = b->bm;

	if (b->write_locked) {
		b->write_locked = 0;
		/*
		 * Its bytes changed: whoever reads it next validates again.
		 * Stamp location and checksum now, not only at write-out, so
		 * that a block written in this transaction (a shadow copy
		 * still carries its original's blocknr) reads back valid
		 * before it reaches the disk.
		 */
		if (b->wvalidator)
			pd_validator_prepare(b->wvalidator, b->data, b->nr);
		b->validated = NULL;
	} else {
		BUG_ON(!b->read_locks);
		b->read_locks--;
	}
	if (!b->read_locks && !b->write_locked) {
		bm->locked--;
		lru_add_tail(bm, b);
	}
}

const void *pd_block_data(const struct pd_block *b)
{
	return b->data;
}

void *pd_block_wdata(struct pd_block *b)
{
	BUG_ON(!b->write_locked);
	return b->data;
}

uint64_t pd_block_nr(const struct pd_block *b)
{
	return b->nr;
}

void pd_bm_prefetch(struct pd_bm *bm, const uint64_t *blocks, unsigned n)
{
	enum { CHUNK = 64 };
	uint64_t want[CHUNK];
	void *bufs[CHUNK];
	struct pd_block *ents[CHUNK];

	/* Never take more than half the cache, so prefetch cannot thrash it. */
	if (n > bm->nr_entries / 2)
		n = bm->nr_entries / 2;
	for (unsigned i = 0; i < n;) {
		unsigned k = 0;

		for (; i < n && k < CHUNK; i++) {
			uint64_t nr = blocks[i];
			int dup = 0;

			if (nr >= bm->io->nr_blocks || lookup(bm, nr))
				continue;
			for (unsigned j = 0; j < k; j++)
				dup |= want[j] == nr;
			if (dup || get_entry(bm, &ents[k]) < 0)
				continue;
			want[k] = nr;
			bufs[k] = ents[k]->data;
			k++;
		}
		if (!k)
			continue;
		if (bm->io->ops->read_batch(bm->io, k, want, bufs) < 0) {
			for (unsigned j = 0; j < k; j++)
				put_free(bm, ents[j]);
			continue;
		}
		for (unsigned j = 0; j < k; j++) {
			struct pd_block *b = ents[j];

			b->nr = want[j];
			b->validated = NULL;
			b->wvalidator = NULL;
			b->dirty = 0;
			b->in_use = 1;
			b->hash_next = bm->hash[hash_of(bm, b->nr)];
			bm->hash[hash_of(bm, b->nr)] = b;
			lru_add_tail(bm, b);
		}
	}
}

static int cmp_block_nr(const void *a, const void *b)
{
	uint64_t x = (*(struct pd_block *const *)a)->nr;
	uint64_t y = (*(struct pd_block *const *)b)->nr;

	return x < y ? -1 : x > y;
}

int pd_bm_flush(struct pd_bm *bm)
{
	struct pd_block **dirty;
	unsigned n = 0;
	int r = 0;

	dirty = malloc(sizeof(*dirty) * bm->nr_entries);
	if (!dirty)
		return -ENOMEM;
	for (unsigned i = 0; i < bm->nr_entries; i++) {
		struct pd_block *b = &bm->entries[i];

		if (b->in_use && b->dirty && !b->write_locked)
			dirty[n++] = b;
	}
	/* In block order: sequential writes for a freshly built image. */
	qsort(dirty, n, sizeof(*dirty), cmp_block_nr);
	for (unsigned i = 0; i < n && r == 0; i++)
		r = write_out(bm, dirty[i]);
	free(dirty);
	if (r == 0)
		r = bm->io->ops->flush(bm->io);
	return r;
}

int pd_bm_write_direct(struct pd_bm *bm, uint64_t block, const void *data)
{
	int r = bm->io->ops->write(bm->io, block, 1, data);

	pd_bm_forget(bm, block);
	return r;
}

void pd_bm_forget(struct pd_bm *bm, uint64_t block)
{
	struct pd_block *b = lookup(bm, block);

	if (!b)
		return;
	BUG_ON(b->read_locks || b->write_locked);
	lru_del(b);
	hash_remove(bm, b);
	put_free(bm, b);
}

int pd_block_data_is_zero(const void *data)
{
	const unsigned char *p = data;

	/* Zero first byte and each byte equal to the next: all zero. */
	return !p[0] && !memcmp(p, p + 1, PD_BLOCK_SIZE - 1);
}
