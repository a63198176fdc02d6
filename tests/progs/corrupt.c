// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * corrupt: damages metadata images in precise ways, for the damage corpus
 * and the functional tests.  It finds structures by a naive descent of its
 * own (not the library's walkers, which are what it is meant to test), and
 * changes bytes either leaving the checksum stale or re-stamping it, so a
 * test can say exactly which rule it breaks.
 *
 *   corrupt IMG where STRUCT [K]     print a block number:
 *       sb index ref-count-root mapping-root hint-root discard-root
 *       dirty-root, bitmap I (I-th bitmap), mapping-block K (array block
 *       K of the mapping array), hint-block K, dirty-block K,
 *       discard-block K, mapping-leaf K (btree leaf holding array key K)
 *   corrupt IMG flip BLOCK OFFSET [XOR]       xor a byte (default 0x01)
 *   corrupt IMG set-u8|set-u32|set-u64 BLOCK OFFSET VALUE [--resum V]
 *   corrupt IMG set-sb FIELD VALUE            re-checksummed
 *   corrupt IMG set-bitmap-count BLOCK N      space-map count of BLOCK
 *   corrupt IMG sm-counts     "BLOCK COUNT" for every block the bitmaps
 *       count as in use (COUNT 3 means 3 or more)
 *   corrupt IMG set-map CBLOCK VALUE          raw mapping entry
 *   corrupt IMG copy-block SRC DST [--resum V]
 *   corrupt IMG resum BLOCK V
 *   V (validator): sb btree array index bitmap
 *
 * Exit 0 on success, 2 on bad usage or a structure it cannot find.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/endian.h"
#include "cache/format.h"
#include "pdata/bm.h"
#include "pdata/ondisk.h"

static int fd = -1;

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "corrupt: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (!*s || *end || errno)
		die("bad number '%s'", s);
	return v;
}

static void rd(uint64_t block, void *buf)
{
	if (pread(fd, buf, PD_BLOCK_SIZE, (off_t)(block * PD_BLOCK_SIZE)) !=
	    PD_BLOCK_SIZE)
		die("cannot read block %" PRIu64, block);
}

static void wr(uint64_t block, const void *buf)
{
	if (pwrite(fd, buf, PD_BLOCK_SIZE, (off_t)(block * PD_BLOCK_SIZE)) !=
	    PD_BLOCK_SIZE)
		die("cannot write block %" PRIu64, block);
}

static void resum(void *buf, uint64_t block, const char *v)
{
	if (!strcmp(v, "sb"))
		store_le32(buf, pd_block_csum(buf, CACHE_SB_CSUM_XOR));
	else if (!strcmp(v, "btree"))
		pd_validator_prepare(&pd_btree_validator, buf, block);
	else if (!strcmp(v, "array"))
		pd_validator_prepare(&pd_array_validator, buf, block);
	else if (!strcmp(v, "index"))
		pd_validator_prepare(&pd_index_validator, buf, block);
	else if (!strcmp(v, "bitmap"))
		pd_validator_prepare(&pd_bitmap_validator, buf, block);
	else
		die("unknown validator '%s'", v);
}

static struct cache_sb sb;

static void read_sb(void)
{
	unsigned char buf[PD_BLOCK_SIZE];

	rd(0, buf);
	cache_sb_unpack(buf, &sb);
}

/* The btree leaf holding key, by the kernel's lookup rule. */
static uint64_t find_leaf(uint64_t root, uint64_t key)
{
	unsigned char buf[PD_BLOCK_SIZE];
	uint64_t b = root;

	for (int depth = 0; depth < 64; depth++) {
		const struct pd_node_header *h = (const void *)buf;
		uint32_t nr, max;
		int i;

		rd(b, buf);
		nr = le32_to_cpu(h->nr_entries);
		max = le32_to_cpu(h->max_entries);
		if (nr > max || max > 510)
			die("block %" PRIu64 " is not a sane btree node", b);
		if (le32_to_cpu(h->flags) == PD_BTREE_LEAF)
			return b;
		for (i = (int)nr - 1; i >= 0; i--)
			if (load_le64(buf + 32 + 8 * i) <= key)
				break;
		if (i < 0)
			die("key %" PRIu64 " not in tree %" PRIu64, key, root);
		b = load_le64(buf + 32 + 8 * max + 8 * i);
	}
	die("tree %" PRIu64 " too deep", root);
}

static uint64_t leaf_value(uint64_t leaf, uint64_t key)
{
	unsigned char buf[PD_BLOCK_SIZE];
	const struct pd_node_header *h = (const void *)buf;
	uint32_t nr, max;

	rd(leaf, buf);
	nr = le32_to_cpu(h->nr_entries);
	max = le32_to_cpu(h->max_entries);
	for (uint32_t i = 0; i < nr; i++)
		if (load_le64(buf + 32 + 8 * i) == key)
			return load_le64(buf + 32 + 8 * max + 8 * i);
	die("key %" PRIu64 " not in leaf %" PRIu64, key, leaf);
}

static uint64_t struct_root(const char *name)
{
	if (!strncmp(name, "mapping", 7))
		return sb.mapping_root;
	if (!strncmp(name, "hint", 4))
		return sb.hint_root;
	if (!strncmp(name, "discard", 7))
		return sb.discard_root;
	if (!strncmp(name, "dirty", 5))
		return sb.dirty_root;
	die("unknown structure '%s'", name);
}

static uint64_t where(const char *what, const char *arg)
{
	uint64_t k = arg ? num(arg) : 0;

	read_sb();
	if (!strcmp(what, "sb"))
		return 0;
	if (!strcmp(what, "index"))
		return sb.sm_root.bitmap_root;
	if (!strcmp(what, "ref-count-root"))
		return sb.sm_root.ref_count_root;
	if (!strcmp(what, "bitmap")) {
		unsigned char buf[PD_BLOCK_SIZE];

		if (k >= PD_SM_MAX_INDEX_ENTRIES)
			die("bitmap %" PRIu64 " out of range", k);
		rd(sb.sm_root.bitmap_root, buf);
		return load_le64(buf + 16 + 16 * k);
	}
	if (strstr(what, "-root"))
		return struct_root(what);
	if (strstr(what, "-leaf"))
		return find_leaf(struct_root(what), k);
	if (strstr(what, "-block"))
		return leaf_value(find_leaf(struct_root(what), k), k);
	die("unknown structure '%s'", what);
}

static const struct {
	const char *name;
	unsigned offset, size;
} sb_fields[] = {
	{ "csum", 0, 4 },		{ "flags", 4, 4 },
	{ "blocknr", 8, 8 },		{ "magic", 32, 8 },
	{ "version", 40, 4 },		{ "policy_name", 44, 16 },
	{ "policy_hint_size", 60, 4 },	{ "nr_blocks", 64, 8 },
	{ "nr_allocated", 72, 8 },	{ "bitmap_root", 80, 8 },
	{ "ref_count_root", 88, 8 },	{ "mapping_root", 192, 8 },
	{ "hint_root", 200, 8 },	{ "discard_root", 208, 8 },
	{ "discard_block_size", 216, 8 }, { "discard_nr_blocks", 224, 8 },
	{ "data_block_size", 232, 4 },	{ "metadata_block_size", 236, 4 },
	{ "cache_blocks", 240, 4 },	{ "compat_flags", 244, 4 },
	{ "compat_ro_flags", 248, 4 },	{ "incompat_flags", 252, 4 },
	{ "policy_version_major", 272, 4 }, { "dirty_root", 284, 8 },
};

static void set_sb(const char *field, const char *value)
{
	unsigned char buf[PD_BLOCK_SIZE];

	rd(0, buf);
	for (size_t i = 0; i < sizeof(sb_fields) / sizeof(sb_fields[0]); i++) {
		unsigned off = sb_fields[i].offset;

		if (strcmp(field, sb_fields[i].name))
			continue;
		if (sb_fields[i].size == 16) {
			/* The raw 16 bytes: no terminator is added. */
			memset(buf + off, 0, 16);
			memcpy(buf + off, value, strnlen(value, 16));
		} else if (sb_fields[i].size == 4) {
			store_le32(buf + off, (uint32_t)num(value));
		} else {
			store_le64(buf + off, num(value));
		}
		if (strcmp(field, "csum"))
			resum(buf, 0, "sb");
		wr(0, buf);
		return;
	}
	die("unknown superblock field '%s'", field);
}

static void set_bitmap_count(uint64_t block, unsigned count)
{
	unsigned char buf[PD_BLOCK_SIZE];
	uint64_t bm;

	read_sb();
	if (block / PD_SM_ENTRIES_PER_BITMAP >= PD_SM_MAX_INDEX_ENTRIES)
		die("block %" PRIu64 " out of range", block);
	rd(sb.sm_root.bitmap_root, buf);
	bm = load_le64(buf + 16 + 16 * (block / PD_SM_ENTRIES_PER_BITMAP));
	rd(bm, buf);
	pd_bitmap_set(buf, (uint32_t)(block % PD_SM_ENTRIES_PER_BITMAP), count);
	resum(buf, bm, "bitmap");
	wr(bm, buf);
}

static void sm_counts(void)
{
	unsigned char index[PD_BLOCK_SIZE], buf[PD_BLOCK_SIZE];
	uint64_t nr;

	read_sb();
	nr = sb.sm_root.nr_blocks;
	rd(sb.sm_root.bitmap_root, index);
	for (uint64_t i = 0; i * PD_SM_ENTRIES_PER_BITMAP < nr; i++) {
		if (i >= PD_SM_MAX_INDEX_ENTRIES)
			die("nr_blocks %" PRIu64 " out of range", nr);
		rd(load_le64(index + 16 + 16 * i), buf);
		for (uint32_t e = 0; e < PD_SM_ENTRIES_PER_BITMAP &&
		     i * PD_SM_ENTRIES_PER_BITMAP + e < nr; e++) {
			unsigned n = pd_bitmap_get(buf, e);

			if (n)
				printf("%" PRIu64 " %u\n",
				       i * PD_SM_ENTRIES_PER_BITMAP + e, n);
		}
	}
}

static void set_map(uint64_t cblock, uint64_t value)
{
	unsigned char buf[PD_BLOCK_SIZE];
	uint64_t k = cblock / pd_array_entries_per_block(8), b;

	read_sb();
	b = leaf_value(find_leaf(sb.mapping_root, k), k);
	rd(b, buf);
	store_le64(buf + 24 + 8 * (cblock % pd_array_entries_per_block(8)),
		   value);
	resum(buf, b, "array");
	wr(b, buf);
}

static void set_int(unsigned size, uint64_t block, uint64_t off, uint64_t v,
		    const char *validator)
{
	unsigned char buf[PD_BLOCK_SIZE];

	if (off + size > PD_BLOCK_SIZE)
		die("offset %" PRIu64 " out of the block", off);
	rd(block, buf);
	if (size == 1)
		buf[off] = (unsigned char)v;
	else if (size == 4)
		store_le32(buf + off, (uint32_t)v);
	else
		store_le64(buf + off, v);
	if (validator)
		resum(buf, block, validator);
	wr(block, buf);
}

int main(int argc, char **argv)
{
	const char *cmd, *resum_v = NULL;
	unsigned char buf[PD_BLOCK_SIZE];

	if (argc > 3 &&
	    !strcmp(argv[argc - 2], "--resum")) {
		resum_v = argv[argc - 1];
		argc -= 2;
	}
	if (argc < 3)
		die("usage: corrupt IMAGE COMMAND ARGS... (see the source)");
	cmd = argv[2];
	fd = open(argv[1], strcmp(cmd, "where") && strcmp(cmd, "sm-counts") ?
			   O_RDWR : O_RDONLY);
	if (fd < 0)
		die("%s: %s", argv[1], strerror(errno));

	if (!strcmp(cmd, "where") && argc >= 4) {
		printf("%" PRIu64 "\n", where(argv[3], argc > 4 ? argv[4] : NULL));
	} else if (!strcmp(cmd, "flip") && argc >= 5) {
		uint64_t b = num(argv[3]), off = num(argv[4]);

		if (off >= PD_BLOCK_SIZE)
			die("offset out of the block");
		rd(b, buf);
		buf[off] ^= (unsigned char)(argc > 5 ? num(argv[5]) : 1);
		wr(b, buf);
	} else if (!strncmp(cmd, "set-u", 5) && argc == 6) {
		unsigned size = !strcmp(cmd, "set-u8") ? 1 :
				!strcmp(cmd, "set-u32") ? 4 :
				!strcmp(cmd, "set-u64") ? 8 : 0;

		if (!size)
			die("unknown command '%s'", cmd);
		set_int(size, num(argv[3]), num(argv[4]), num(argv[5]), resum_v);
	} else if (!strcmp(cmd, "set-sb") && argc == 5) {
		set_sb(argv[3], argv[4]);
	} else if (!strcmp(cmd, "set-bitmap-count") && argc == 5) {
		set_bitmap_count(num(argv[3]), (unsigned)num(argv[4]));
	} else if (!strcmp(cmd, "sm-counts") && argc == 3) {
		sm_counts();
	} else if (!strcmp(cmd, "set-map") && argc == 5) {
		set_map(num(argv[3]), num(argv[4]));
	} else if (!strcmp(cmd, "copy-block") && argc == 5) {
		uint64_t dst = num(argv[4]);

		rd(num(argv[3]), buf);
		if (resum_v)
			resum(buf, dst, resum_v);
		wr(dst, buf);
	} else if (!strcmp(cmd, "resum") && argc == 5) {
		uint64_t b = num(argv[3]);

		rd(b, buf);
		resum(buf, b, argv[4]);
		wr(b, buf);
	} else {
		die("bad command or arguments: %s", cmd);
	}
	if (close(fd) < 0)
		die("close: %s", strerror(errno));
	return 0;
}
