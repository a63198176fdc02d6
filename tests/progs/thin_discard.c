// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * thin_discard: commits one more transaction to a thin pool image through
 * our own transaction manager, as the kernel does for discards and a
 * device's deletion while a metadata snapshot is held (tests/progs/
 * thin_hold): the mappings of device DEV in each virtual range [A, B) are
 * removed and its mapped_blocks lowered to match; with -d ID, device ID is
 * deleted (its top-level and details entries removed).  Nothing is
 * written with a new time (no snapshot is taken), so the pool time stays;
 * the transaction id goes up by one and the superblock is written last.
 *
 * The top level is shadowed first with its values counted as references
 * (a copy of a shared top-level leaf is one more parent of every device
 * root, as the kernel's subtree value type counts it), so that the held
 * snapshot keeps the older device trees and the older details: what was
 * current at the snapshot stays on the device, reachable only from the
 * snapshot's superblock copy, and what replaced it is the current pool.
 * The data space map is left as it was: the kernel would free the removed
 * mappings' blocks and count once more each block of a leaf it copied
 * from the snapshot's (thin_check reports leaks and data-undercount).
 * For the repair's tests, which rebuild the space maps, that is enough.
 *
 * With -f FROM the new blocks are taken at or after FROM (the free blocks
 * below it are held for the transaction and freed at its end, unwritten):
 * the kernel's allocator moves on from its last allocation, so the blocks
 * an earlier transaction left behind survive a while, as the older trees
 * a repair may meet.
 *
 *   thin_discard [-d ID] [-f FROM] IMG DEV A B [A B ...]
 *
 * Prints the new top-level root, one line.  Exit 0, or 2 with a message.
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
	fprintf(stderr, "thin_discard: %s (%d)\n", what, r);
	exit(2);
}

struct ctx {
	struct thin_sb sb;
};

static int fill(void *p, void *data, const struct pd_sm_root_cpu *root)
{
	struct ctx *c = p;

	c->sb.metadata_sm = *root;
	thin_sb_pack(&c->sb, data);
	return 0;
}

int main(int argc, char **argv)
{
	struct pd_io *io;
	struct pd_bm *bm;
	struct pd_block *b;
	struct pd_tm *tm;
	struct ctx c;
	struct thin_details det;
	unsigned char v[24];
	uint64_t dev, root, del = 0, removed = 0, from = 0;
	uint64_t *pins = NULL;
	size_t nr_pins = 0;
	int have_del = 0, a0 = 1, r;

	while (argc - a0 > 1 && (!strcmp(argv[a0], "-d") ||
				 !strcmp(argv[a0], "-f"))) {
		if (argv[a0][1] == 'd') {
			del = strtoull(argv[a0 + 1], NULL, 0);
			have_del = 1;
		} else {
			from = strtoull(argv[a0 + 1], NULL, 0);
		}
		a0 += 2;
	}
	if (argc - a0 < 4 || (argc - a0 - 2) % 2)
		die("usage: thin_discard [-d ID] [-f FROM] IMG DEV A B [A B ...]",
		    0);
	dev = strtoull(argv[a0 + 1], NULL, 0);
	r = pd_io_open(argv[a0], PD_IO_WRITE, &io);
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
	r = pd_tm_open(bm, &c.sb.metadata_sm, &tm);
	if (r < 0)
		die("cannot open the metadata space map", r);
	/* Free blocks below FROM: allocated now, released before the commit. */
	if (from) {
		pins = malloc(from * sizeof(*pins));
		if (!pins)
			die("no memory", -ENOMEM);
	}
	while (nr_pins < from) {
		uint64_t blk;

		r = pd_tm_alloc(tm, &blk);
		if (r < 0)
			die("cannot allocate", r);
		pins[nr_pins++] = blk;
		if (blk >= from)
			break;
	}
	r = pd_btree_lookup(bm, c.sb.mapping_root, 8, dev, v, NULL);
	if (r < 0)
		die("no such device", r);
	/* The top level's path first: a shared leaf's copy counts its roots. */
	r = pd_btree_insert_flags(tm, &c.sb.mapping_root, 8, dev, v,
				  PD_BTREE_BLOCK_VALUES);
	if (r < 0)
		die("top-level shadow failed", r);
	root = load_le64(v);
	for (int a = a0 + 2; a + 1 < argc; a += 2) {
		uint64_t lo = strtoull(argv[a], NULL, 0);
		uint64_t hi = strtoull(argv[a + 1], NULL, 0);

		for (uint64_t k = lo; k < hi; k++) {
			r = pd_btree_remove(tm, &root, 8, k);
			if (r == -ENODATA)
				continue;
			if (r < 0)
				die("remove failed", r);
			removed++;
		}
	}
	store_le64(v, root);
	/* The old root's count went down when it was shadowed: plain. */
	r = pd_btree_insert(tm, &c.sb.mapping_root, 8, dev, v);
	if (r < 0)
		die("top-level insert failed", r);
	r = pd_btree_lookup(bm, c.sb.details_root, 24, dev, v, NULL);
	if (r < 0)
		die("no details", r);
	thin_details_unpack(v, &det);
	det.mapped_blocks -= removed;
	thin_details_pack(&det, v);
	r = pd_btree_insert(tm, &c.sb.details_root, 24, dev, v);
	if (r < 0)
		die("details insert failed", r);
	if (have_del) {
		r = pd_btree_remove_flags(tm, &c.sb.mapping_root, 8, del,
					  PD_BTREE_BLOCK_VALUES);
		if (!r)
			r = pd_btree_remove(tm, &c.sb.details_root, 24, del);
		if (r < 0)
			die("cannot delete the device", r);
	}
	for (size_t i = 0; i < nr_pins; i++)
		if ((r = pd_tm_dec(tm, pins[i])) < 0)
			die("cannot release", r);
	free(pins);
	c.sb.trans_id++;
	r = pd_tm_commit(tm, fill, &c, &thin_sb_validator);
	if (r < 0)
		die("commit failed", r);
	printf("%" PRIu64 "\n", c.sb.mapping_root);
	pd_tm_destroy(tm);
	pd_bm_destroy(bm);
	pd_io_destroy(io);
	return 0;
}
