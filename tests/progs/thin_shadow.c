// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * thin_shadow: commits one more transaction to a thin pool image through
 * our own transaction manager, the way the kernel changes a pool: the
 * mappings of device DEV in each given virtual range [A, B) are rewritten
 * with the pool's next time (same data blocks, so the data space map
 * stays right), which shadows each leaf they are in and the path above it
 * (and the top level, for the device's new root); the pool time and the
 * transaction id go up by one and the superblock is written last.  The
 * blocks of the previous transaction stay on the device, as they do on a
 * real pool: the older copy the repair of a damaged leaf draws on.
 * Keeping the data block is only what the kernel does for a block no
 * snapshot shares: give a DEV that is no snapshot's origin (the kernel
 * would copy a shared block to a new one first).
 *
 *   thin_shadow IMG DEV A B [A B ...]
 *
 * Prints the block of the new leaf holding the first range's A, one line,
 * so a test can damage exactly that leaf.  Exit 0, or 2 with a message.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "pdata/bm.h"
#include "pdata/btree.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"
#include "pdata/tm.h"
#include "thin/format.h"

static void die(const char *what, int r)
{
	fprintf(stderr, "thin_shadow: %s (%d)\n", what, r);
	exit(2);
}

struct ctx {
	struct thin_sb sb;
	struct pd_tm *tm;
};

static int fill(void *p, void *data, const struct pd_sm_root_cpu *root)
{
	struct ctx *c = p;

	c->sb.metadata_sm = *root;
	thin_sb_pack(&c->sb, data);
	return 0;
}

/* The leaf a lookup of key ends in: internal nodes by their keys. */
static uint64_t leaf_of(struct pd_bm *bm, uint64_t root, uint64_t key)
{
	uint64_t b = root;

	for (int depth = 0; depth < PD_BTREE_MAX_DEPTH; depth++) {
		struct pd_block *blk;
		const unsigned char *p;
		const struct pd_node_header *h;
		uint32_t nr, max, i = 0;
		int r = pd_bm_read_lock(bm, b, &pd_btree_validator, &blk, NULL);

		if (r < 0)
			die("cannot read a node", r);
		p = pd_block_data(blk);
		h = (const void *)p;
		if (le32_to_cpu(h->flags) & PD_BTREE_LEAF) {
			pd_bm_unlock(blk);
			return b;
		}
		nr = le32_to_cpu(h->nr_entries);
		max = le32_to_cpu(h->max_entries);
		while (i + 1 < nr &&
		       load_le64(p + PD_NODE_KEYS_OFFSET + 8 * (i + 1)) <= key)
			i++;
		b = load_le64(p + PD_NODE_KEYS_OFFSET + 8 * (size_t)max + 8 * i);
		pd_bm_unlock(blk);
	}
	die("tree too deep", 0);
	return 0;
}

int main(int argc, char **argv)
{
	struct pd_io *io;
	struct pd_bm *bm;
	struct pd_block *b;
	struct ctx c;
	uint64_t dev, root, first = 0;
	unsigned char v[8];
	int r;

	if (argc < 5 || (argc - 3) % 2)
		die("usage: thin_shadow IMG DEV A B [A B ...]", 0);
	dev = strtoull(argv[2], NULL, 0);
	r = pd_io_open(argv[1], PD_IO_WRITE, &io);
	if (r < 0)
		die("cannot open", r);
	r = pd_bm_create(io, 256, &bm);
	if (r < 0)
		die("no memory", r);
	r = pd_bm_read_lock(bm, 0, &thin_sb_validator, &b, NULL);
	if (r < 0)
		die("bad superblock", r);
	thin_sb_unpack(pd_block_data(b), &c.sb);
	pd_bm_unlock(b);
	r = pd_tm_open(bm, &c.sb.metadata_sm, &c.tm);
	if (r < 0)
		die("cannot open the metadata space map", r);
	r = pd_btree_lookup(bm, c.sb.mapping_root, 8, dev, v, NULL);
	if (r < 0)
		die("no such device", r);
	root = load_le64(v);
	for (int a = 3; a + 1 < argc; a += 2) {
		uint64_t lo = strtoull(argv[a], NULL, 0);
		uint64_t hi = strtoull(argv[a + 1], NULL, 0);

		for (uint64_t k = lo; k < hi; k++) {
			unsigned char val[8];

			r = pd_btree_lookup(bm, root, 8, k, val, NULL);
			if (r == -ENODATA)
				continue;
			if (r < 0)
				die("lookup failed", r);
			store_le64(val, thin_block_time_pack(
				thin_block_time_block(load_le64(val)),
				c.sb.time + 1));
			r = pd_btree_insert(c.tm, &root, 8, k, val);
			if (r < 0)
				die("insert failed", r);
		}
	}
	store_le64(v, root);
	r = pd_btree_insert(c.tm, &c.sb.mapping_root, 8, dev, v);
	if (r < 0)
		die("top-level insert failed", r);
	c.sb.time++;
	c.sb.trans_id++;
	first = leaf_of(bm, root, strtoull(argv[3], NULL, 0));
	r = pd_tm_commit(c.tm, fill, &c, &thin_sb_validator);
	if (r < 0)
		die("commit failed", r);
	printf("%" PRIu64 "\n", first);
	pd_tm_destroy(c.tm);
	pd_bm_destroy(bm);
	pd_io_destroy(io);
	return 0;
}
