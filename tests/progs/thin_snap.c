// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * thin_snap: takes a snapshot of a thin device in a pool image the way the
 * kernel's create_snap does (thin/THIN.md): the new device's top-level
 * entry points at the origin's root, whose metadata count goes up by one,
 * so both share one tree; the pool time goes up by one; origin and
 * snapshot get it as their snapshot time, and the snapshot takes the
 * origin's mapped_blocks.  For tests: only pools whose top level and
 * details trees are single leaves with room, and roots with counts below 2
 * (no overflow entry needed), are handled; the leaves are edited in place.
 *
 *   thin_snap IMG ORIGIN_ID NEW_ID
 *
 * Exit 0 on success, 2 on bad usage or an image it cannot handle.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/endian.h"
#include "pdata/bm.h"
#include "pdata/ondisk.h"
#include "thin/format.h"

static int fd;

static void die(const char *what)
{
	fprintf(stderr, "thin_snap: %s\n", what);
	exit(2);
}

static void rd(uint64_t b, void *buf)
{
	if (pread(fd, buf, PD_BLOCK_SIZE, (off_t)(b * PD_BLOCK_SIZE)) !=
	    PD_BLOCK_SIZE)
		die("cannot read");
}

static void wr(uint64_t b, void *buf, uint32_t xor)
{
	store_le32(buf, pd_block_csum(buf, xor));
	if (pwrite(fd, buf, PD_BLOCK_SIZE, (off_t)(b * PD_BLOCK_SIZE)) !=
	    PD_BLOCK_SIZE)
		die("cannot write");
}

/*
 * Inserts key with value (vs bytes) into a leaf; returns the position.
 * *found gets the value of an existing key `find` (may be NULL).
 */
static void leaf_insert(unsigned char *n, uint64_t key, const void *value)
{
	struct pd_node_header *h = (void *)n;
	uint32_t nr = le32_to_cpu(h->nr_entries), max = le32_to_cpu(h->max_entries);
	uint32_t vs = le32_to_cpu(h->value_size), pos = 0;
	unsigned char *keys = n + PD_NODE_KEYS_OFFSET;
	unsigned char *vals = keys + 8 * (size_t)max;

	if (le32_to_cpu(h->flags) != PD_BTREE_LEAF || nr >= max)
		die("tree is not a single leaf with room");
	while (pos < nr && load_le64(keys + 8 * pos) < key)
		pos++;
	if (pos < nr && load_le64(keys + 8 * pos) == key)
		die("new id exists");
	memmove(keys + 8 * (pos + 1), keys + 8 * pos, 8 * (size_t)(nr - pos));
	memmove(vals + vs * (pos + 1), vals + vs * pos, vs * (size_t)(nr - pos));
	store_le64(keys + 8 * pos, key);
	memcpy(vals + vs * pos, value, vs);
	h->nr_entries = cpu_to_le32(nr + 1);
}

static unsigned char *leaf_find(unsigned char *n, uint64_t key)
{
	struct pd_node_header *h = (void *)n;
	uint32_t nr = le32_to_cpu(h->nr_entries), max = le32_to_cpu(h->max_entries);
	uint32_t vs = le32_to_cpu(h->value_size);
	unsigned char *keys = n + PD_NODE_KEYS_OFFSET;

	if (le32_to_cpu(h->flags) != PD_BTREE_LEAF)
		die("tree is not a single leaf");
	for (uint32_t i = 0; i < nr; i++)
		if (load_le64(keys + 8 * i) == key)
			return keys + 8 * (size_t)max + vs * (size_t)i;
	die("origin not found");
	return NULL;
}

int main(int argc, char **argv)
{
	static unsigned char sbb[PD_BLOCK_SIZE], top[PD_BLOCK_SIZE],
		det[PD_BLOCK_SIZE], ixb[PD_BLOCK_SIZE], bmb[PD_BLOCK_SIZE];
	struct thin_disk_sb *d = (void *)sbb;
	struct pd_index_block *ix = (void *)ixb;
	struct thin_disk_details od, nd;
	struct thin_sb sb;
	uint64_t origin, snap, root, bmblock;
	unsigned char v[8];
	uint32_t time;
	unsigned c;

	if (argc != 4)
		die("usage: thin_snap IMG ORIGIN_ID NEW_ID");
	origin = strtoull(argv[2], NULL, 0);
	snap = strtoull(argv[3], NULL, 0);
	fd = open(argv[1], O_RDWR);
	if (fd < 0)
		die("cannot open");
	rd(0, sbb);
	thin_sb_unpack(sbb, &sb);
	rd(sb.mapping_root, top);
	rd(sb.details_root, det);
	root = load_le64(leaf_find(top, origin));
	memcpy(&od, leaf_find(det, origin), sizeof(od));

	/* The origin's root gains a reference. */
	rd(sb.metadata_sm.bitmap_root, ixb);
	if (root / PD_SM_ENTRIES_PER_BITMAP >= PD_SM_MAX_INDEX_ENTRIES)
		die("root past the metadata space map");
	bmblock = le64_to_cpu(
		ix->entries[root / PD_SM_ENTRIES_PER_BITMAP].blocknr);
	rd(bmblock, bmb);
	c = pd_bitmap_get(bmb, (uint32_t)(root % PD_SM_ENTRIES_PER_BITMAP));
	if (c != 1)
		die("root count is not 1");
	pd_bitmap_set(bmb, (uint32_t)(root % PD_SM_ENTRIES_PER_BITMAP), 2);
	wr(bmblock, bmb, PD_CSUM_XOR_BITMAP);

	time = sb.time + 1;
	store_le64(v, root);
	leaf_insert(top, snap, v);
	wr(sb.mapping_root, top, PD_CSUM_XOR_BTREE);
	nd = od;
	nd.transaction_id = cpu_to_le64(sb.trans_id);
	nd.creation_time = cpu_to_le32(time);
	nd.snapshotted_time = cpu_to_le32(time);
	leaf_insert(det, snap, &nd);
	od.snapshotted_time = cpu_to_le32(time);
	memcpy(leaf_find(det, origin), &od, sizeof(od));
	wr(sb.details_root, det, PD_CSUM_XOR_BTREE);

	d->time = cpu_to_le32(time);
	wr(0, sbb, THIN_SB_CSUM_XOR);
	return close(fd) ? 2 : 0;
}
