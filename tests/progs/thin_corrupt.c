// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * thin_corrupt: damages thin-pool metadata images in precise ways, for the
 * thin damage corpus and the functional tests.  It finds structures by a
 * naive descent of its own (not the library's walkers, which are what it
 * is meant to test) and re-stamps checksums after a change, so that a test
 * breaks exactly the rule it means to, unless it asks for a stale checksum.
 *
 *   thin_corrupt IMG where sb-FIELD | dev-root ID | dev-leaf ID VBLOCK |
 *                          data-bitmap DBLOCK | meta-bitmap BLOCK
 *   thin_corrupt IMG set-sb FIELD VALUE
 *   thin_corrupt IMG set-details ID FIELD VALUE
 *       FIELD: mapped_blocks transaction creation_time snap_time
 *   thin_corrupt IMG set-mapping ID VBLOCK DATA TIME
 *   thin_corrupt IMG set-data-count DBLOCK N      (N 0..2)
 *   thin_corrupt IMG set-meta-count BLOCK N       (N 0..3: 3 without an
 *                                                 overflow entry)
 *   thin_corrupt IMG counts data|meta   "BLOCK COUNT" for every block the
 *                                       map's bitmaps count (3: 3 or more)
 *   thin_corrupt IMG flip BLOCK OFFSET            (checksum left stale)
 *   thin_corrupt IMG set-u32|set-u64 BLOCK OFFSET VALUE V
 *       V (validator to re-stamp): sb btree bitmap index none
 *
 * sb fields: magic version blocknr flags time trans_id held_root
 * data_block_size metadata_block_size compat_flags compat_ro_flags
 * incompat_flags mapping_root details_root data_nr_blocks
 * data_nr_allocated meta_nr_blocks meta_nr_allocated
 *
 * Exit 0 on success, 2 on bad usage or a structure it cannot find.
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
	fprintf(stderr, "thin_corrupt: %s\n", what);
	exit(2);
}

static void rd(uint64_t b, void *buf)
{
	if (pread(fd, buf, PD_BLOCK_SIZE, (off_t)(b * PD_BLOCK_SIZE)) !=
	    PD_BLOCK_SIZE)
		die("cannot read");
}

static void wr_raw(uint64_t b, const void *buf)
{
	if (pwrite(fd, buf, PD_BLOCK_SIZE, (off_t)(b * PD_BLOCK_SIZE)) !=
	    PD_BLOCK_SIZE)
		die("cannot write");
}

static void wr(uint64_t b, void *buf, uint32_t xor)
{
	store_le32(buf, pd_block_csum(buf, xor));
	wr_raw(b, buf);
}

static uint32_t xor_of(const char *v)
{
	if (!strcmp(v, "sb"))
		return THIN_SB_CSUM_XOR;
	if (!strcmp(v, "btree"))
		return PD_CSUM_XOR_BTREE;
	if (!strcmp(v, "bitmap"))
		return PD_CSUM_XOR_BITMAP;
	if (!strcmp(v, "index"))
		return PD_CSUM_XOR_INDEX;
	if (!strcmp(v, "none"))
		return UINT32_MAX;
	die("unknown validator");
	return 0;
}

static uint64_t num(const char *s)
{
	return strtoull(s, NULL, 0);
}

static const struct {
	const char *name;
	unsigned off, size;
} sb_fields[] = {
	{ "csum", 0, 4 }, { "flags", 4, 4 }, { "blocknr", 8, 8 },
	{ "magic", 32, 8 }, { "version", 40, 4 }, { "time", 44, 4 },
	{ "trans_id", 48, 8 }, { "held_root", 56, 8 },
	{ "data_nr_blocks", 64, 8 }, { "data_nr_allocated", 72, 8 },
	{ "data_bitmap_root", 80, 8 }, { "data_ref_count_root", 88, 8 },
	{ "meta_nr_blocks", 192, 8 }, { "meta_nr_allocated", 200, 8 },
	{ "meta_bitmap_root", 208, 8 }, { "meta_ref_count_root", 216, 8 },
	{ "mapping_root", 320, 8 }, { "details_root", 328, 8 },
	{ "data_block_size", 336, 4 }, { "metadata_block_size", 340, 4 },
	{ "metadata_nr_blocks", 344, 8 }, { "compat_flags", 352, 4 },
	{ "compat_ro_flags", 356, 4 }, { "incompat_flags", 360, 4 },
};

static int sb_field(const char *name, unsigned *off, unsigned *size)
{
	for (size_t i = 0; i < sizeof(sb_fields) / sizeof(sb_fields[0]); i++)
		if (!strcmp(sb_fields[i].name, name)) {
			*off = sb_fields[i].off;
			*size = sb_fields[i].size;
			return 0;
		}
	return -1;
}

static uint64_t sb_get(const char *name)
{
	unsigned char sb[PD_BLOCK_SIZE];
	unsigned off, size;

	if (sb_field(name, &off, &size))
		die("unknown superblock field");
	rd(0, sb);
	return size == 4 ? load_le32(sb + off) : load_le64(sb + off);
}

/* Descends to the leaf that holds key; *leaf, and the value's offset. */
static int descend(uint64_t root, uint64_t key, uint64_t *leaf, unsigned *voff,
		   unsigned char *buf)
{
	uint64_t b = root;

	for (int depth = 0; depth < 64; depth++) {
		struct pd_node_header *h = (void *)buf;
		uint32_t nr, max, vs;
		unsigned char *keys;
		int i;

		rd(b, buf);
		nr = le32_to_cpu(h->nr_entries);
		max = le32_to_cpu(h->max_entries);
		vs = le32_to_cpu(h->value_size);
		if (max > 252 || nr > max)
			return -1;
		keys = buf + PD_NODE_KEYS_OFFSET;
		if (le32_to_cpu(h->flags) & PD_BTREE_LEAF) {
			for (uint32_t k = 0; k < nr; k++)
				if (load_le64(keys + 8 * k) == key) {
					*leaf = b;
					*voff = PD_NODE_KEYS_OFFSET + 8 * max +
						vs * k;
					return 0;
				}
			return -1;
		}
		for (i = (int)nr - 1; i > 0; i--)
			if (load_le64(keys + 8 * (unsigned)i) <= key)
				break;
		if (nr == 0)
			return -1;
		b = load_le64(keys + 8 * max + 8 * (unsigned)i);
	}
	return -1;
}

static uint64_t dev_root(uint64_t id)
{
	unsigned char buf[PD_BLOCK_SIZE];
	uint64_t leaf;
	unsigned off;

	if (descend(sb_get("mapping_root"), id, &leaf, &off, buf))
		die("no such device");
	return load_le64(buf + off);
}

/* The bitmap block and entry of block b in a space map. */
static uint64_t bitmap_of(int data, uint64_t b)
{
	unsigned char buf[PD_BLOCK_SIZE];
	uint64_t i = b / PD_SM_ENTRIES_PER_BITMAP, leaf;
	unsigned off;

	if (!data) {
		rd(sb_get("meta_bitmap_root"), buf);
		return load_le64(buf + 16 + 16 * i);
	}
	if (descend(sb_get("data_bitmap_root"), i, &leaf, &off, buf))
		die("no index entry");
	return load_le64(buf + off);
}

static void set_count(int data, uint64_t b, unsigned n)
{
	unsigned char buf[PD_BLOCK_SIZE];
	uint64_t bm = bitmap_of(data, b);

	rd(bm, buf);
	pd_bitmap_set(buf, (uint32_t)(b % PD_SM_ENTRIES_PER_BITMAP), n);
	wr(bm, buf, PD_CSUM_XOR_BITMAP);
}

static void print_counts(int data)
{
	unsigned char buf[PD_BLOCK_SIZE];
	uint64_t nr = sb_get(data ? "data_nr_blocks" : "meta_nr_blocks");

	for (uint64_t base = 0; base < nr; base += PD_SM_ENTRIES_PER_BITMAP) {
		rd(bitmap_of(data, base), buf);
		for (uint32_t e = 0; e < PD_SM_ENTRIES_PER_BITMAP &&
		     base + e < nr; e++) {
			unsigned n = pd_bitmap_get(buf, e);

			if (n)
				printf("%" PRIu64 " %u\n", base + e, n);
		}
	}
}

int main(int argc, char **argv)
{
	unsigned char buf[PD_BLOCK_SIZE];
	const char *cmd;
	uint64_t leaf;
	unsigned off, size;

	if (argc < 3)
		die("usage: see the source");
	fd = open(argv[1], O_RDWR);
	if (fd < 0)
		die("cannot open");
	cmd = argv[2];
	if (!strcmp(cmd, "where") && argc >= 4) {
		const char *what = argv[3];

		if (!strncmp(what, "sb-", 3))
			printf("%" PRIu64 "\n", sb_get(what + 3));
		else if (!strcmp(what, "dev-root") && argc == 5)
			printf("%" PRIu64 "\n", dev_root(num(argv[4])));
		else if (!strcmp(what, "dev-leaf") && argc == 6) {
			if (descend(dev_root(num(argv[4])), num(argv[5]), &leaf,
				    &off, buf))
				die("no such mapping");
			printf("%" PRIu64 "\n", leaf);
		} else if (!strcmp(what, "data-bitmap") && argc == 5)
			printf("%" PRIu64 "\n", bitmap_of(1, num(argv[4])));
		else if (!strcmp(what, "meta-bitmap") && argc == 5)
			printf("%" PRIu64 "\n", bitmap_of(0, num(argv[4])));
		else
			die("bad where");
	} else if (!strcmp(cmd, "set-sb") && argc == 5) {
		if (sb_field(argv[3], &off, &size))
			die("unknown superblock field");
		rd(0, buf);
		if (size == 4)
			store_le32(buf + off, (uint32_t)num(argv[4]));
		else
			store_le64(buf + off, num(argv[4]));
		wr(0, buf, THIN_SB_CSUM_XOR);
	} else if (!strcmp(cmd, "set-details") && argc == 6) {
		static const char *const f[] = { "mapped_blocks", "transaction",
						 "creation_time", "snap_time" };
		static const unsigned fo[] = { 0, 8, 16, 20 }, fs[] = { 8, 8, 4, 4 };
		unsigned k;

		for (k = 0; k < 4 && strcmp(f[k], argv[4]); k++)
			;
		if (k == 4)
			die("unknown details field");
		if (descend(sb_get("details_root"), num(argv[3]), &leaf, &off,
			    buf))
			die("no such device");
		if (fs[k] == 4)
			store_le32(buf + off + fo[k], (uint32_t)num(argv[5]));
		else
			store_le64(buf + off + fo[k], num(argv[5]));
		wr(leaf, buf, PD_CSUM_XOR_BTREE);
	} else if (!strcmp(cmd, "set-mapping") && argc == 7) {
		if (descend(dev_root(num(argv[3])), num(argv[4]), &leaf, &off,
			    buf))
			die("no such mapping");
		store_le64(buf + off, thin_block_time_pack(num(argv[5]),
							   (uint32_t)num(argv[6])));
		wr(leaf, buf, PD_CSUM_XOR_BTREE);
	} else if (!strcmp(cmd, "set-data-count") && argc == 5) {
		set_count(1, num(argv[3]), (unsigned)num(argv[4]));
	} else if (!strcmp(cmd, "set-meta-count") && argc == 5) {
		set_count(0, num(argv[3]), (unsigned)num(argv[4]));
	} else if (!strcmp(cmd, "counts") && argc == 4) {
		print_counts(!strcmp(argv[3], "data"));
	} else if (!strcmp(cmd, "flip") && argc == 5) {
		rd(num(argv[3]), buf);
		buf[num(argv[4]) % PD_BLOCK_SIZE] ^= 1;
		wr_raw(num(argv[3]), buf);
	} else if ((!strcmp(cmd, "set-u32") || !strcmp(cmd, "set-u64")) &&
		   argc == 7) {
		uint32_t x = xor_of(argv[6]);

		rd(num(argv[3]), buf);
		off = (unsigned)(num(argv[4]) % PD_BLOCK_SIZE);
		if (cmd[5] == '3')
			store_le32(buf + off, (uint32_t)num(argv[5]));
		else
			store_le64(buf + off, num(argv[5]));
		if (x == UINT32_MAX)
			wr_raw(num(argv[3]), buf);
		else
			wr(num(argv[3]), buf, x);
	} else {
		die("bad command");
	}
	return close(fd) ? 2 : 0;
}
