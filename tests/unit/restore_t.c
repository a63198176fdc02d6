// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache/restore, driven by the XML reader as cache_restore drives it, on
 * the memory engine: every superblock field it writes, v1 and v2 mapping
 * values and the exact dirty bitset words (padding 0), hint widths 0/4/8,
 * discards, unsorted input giving the same image as sorted input, origin
 * blocks mapped twice (both detection paths), the exact size check, no
 * write at all before the input is complete, and the crash test: every
 * write in turn fails, and afterwards the device either is exactly the old
 * image or has no valid superblock (or a complete, valid new one).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/bitmap.h"
#include "cache/check.h"
#include "cache/format.h"
#include "cache/restore.h"
#include "pdata/array.h"
#include "pdata/bitset.h"
#include "pdata/bm.h"
#include "pdata/io.h"
#include "pdata/ondisk.h"
#include "xml/reader.h"

/* ---- helpers ---- */

struct buf {
	char *s;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3)))
static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->len + 256 > b->cap) {
		b->cap = b->cap ? 2 * b->cap : 65536;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
	va_start(ap, fmt);
	n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* The shape of a test cache. */
struct shape {
	uint64_t nr;
	uint32_t hint_width;
	const char *policy;
	int reverse;		/* mappings and hints in decreasing order */
	uint64_t discard_nr;	/* 0: no <discards> */
	uint64_t oblock_stride;	/* origin = cblock * stride + 7 */
};

/* Cache block c is mapped when c % 3 != 1, dirty when c % 5 < 2. */
static int is_mapped(uint64_t c)
{
	return c % 3 != 1;
}

static int is_dirty(uint64_t c)
{
	return c % 5 < 2;
}

/* base64 of width bytes of 0x01 */
static const char *ones_b64(uint32_t width)
{
	static char out[200];
	size_t n = 0;

	for (uint32_t i = 0; i + 3 <= width; i += 3, n += 4)
		memcpy(out + n, "AQEB", 4);
	if (width % 3)
		memcpy(out + n, width % 3 == 1 ? "AQ==" : "AQE=", 4), n += 4;
	out[n] = '\0';
	return out;
}

static void make_xml(const struct shape *sh, struct buf *b)
{
	uint64_t stride = sh->oblock_stride ? sh->oblock_stride : 3;

	b->len = 0;
	bprintf(b, "<superblock uuid=\"u-1\" block_size=\"128\" "
		"nr_cache_blocks=\"%" PRIu64 "\" policy=\"%s\" "
		"hint_width=\"%u\">\n  <mappings>\n", sh->nr,
		sh->policy ? sh->policy : "smq", sh->hint_width);
	for (uint64_t i = 0; i < sh->nr; i++) {
		uint64_t c = sh->reverse ? sh->nr - 1 - i : i;

		if (is_mapped(c))
			bprintf(b, "    <mapping cache_block=\"%" PRIu64
				"\" origin_block=\"%" PRIu64 "\" dirty=\"%s\"/>\n",
				c, c * stride + 7,
				is_dirty(c) ? "true" : "false");
	}
	bprintf(b, "  </mappings>\n  <hints>\n");
	for (uint64_t i = 0; sh->hint_width && i < sh->nr; i++) {
		uint64_t c = sh->reverse ? sh->nr - 1 - i : i;

		/* width 4: le32 c; width 8: that and 0 */
		if (!is_mapped(c))
			continue;
		if (sh->hint_width == 4)
			bprintf(b, "    <hint cache_block=\"%" PRIu64
				"\" data=\"%s\"/>\n", c,
				c % 2 ? "AQIDBA==" : "/////w==");
		else if (sh->hint_width == 8)
			bprintf(b, "    <hint cache_block=\"%" PRIu64
				"\" data=\"AQIDBAUGBwg=\"/>\n", c);
		else	/* width bytes of 0x01: "AQEB" per 3 bytes */
			bprintf(b, "    <hint cache_block=\"%" PRIu64
				"\" data=\"%s\"/>\n", c, ones_b64(sh->hint_width));
	}
	bprintf(b, "  </hints>\n");
	if (sh->discard_nr) {
		bprintf(b, "  <discards discard_block_size=\"256\" "
			"discard_nr_blocks=\"%" PRIu64 "\">\n", sh->discard_nr);
		bprintf(b, "    <discard dbegin=\"0\" dend=\"1\"/>\n");
		if (sh->discard_nr > 70)
			bprintf(b, "    <discard dbegin=\"63\" dend=\"70\"/>\n");
		bprintf(b, "    <discard dbegin=\"%" PRIu64 "\" dend=\"%" PRIu64
			"\"/>\n", sh->discard_nr - 1, sh->discard_nr);
		bprintf(b, "  </discards>\n");
	}
	bprintf(b, "</superblock>\n");
}

static int fd_of(const struct buf *b)
{
	int fd = memfd_create("xml", 0);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b->s, b->len), (ssize_t)b->len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/*
 * Stages xml and commits when staging passed.  Returns the first error;
 * *msg (may be NULL) gets the restore's message or the reader's.
 */
static int restore_xml(struct pd_io *io, const struct cache_restore_opts *o,
		       const struct buf *xml, char *msg, size_t msg_len)
{
	struct cache_restore *rs;
	struct cache_emitter e;
	struct xml_reader_error err;
	int fd = fd_of(xml), r;

	assert_int_equal(cache_restore_create(io, o, &rs), 0);
	cache_restore_emitter(rs, &e);
	r = xml_read_cache(fd, &e, NULL, &err);
	close(fd);
	if (!r)
		r = cache_restore_commit(rs);
	if (msg) {
		const char *m = cache_restore_message(rs);

		snprintf(msg, msg_len, "%s", m ? m : err.msg);
	}
	cache_restore_destroy(rs);
	return r;
}

static void read_sb(struct pd_io *io, struct cache_sb *sb)
{
	unsigned char *d = pd_io_mem_data(io);
	struct pd_fault f;

	assert_int_equal(pd_validate(&cache_sb_validator, d, 0, &f), 0);
	cache_sb_unpack(d, sb);
}

static void print_problem(void *ctx, enum cache_problem id,
			  enum cache_severity sev, const char *msg)
{
	(void)ctx;
	(void)id;
	(void)sev;
	fprintf(stderr, "check: %s\n", msg);
}

/* Our own checker must find nothing at all (no warnings either). */
static void assert_checks(struct pd_io *io)
{
	struct cache_check_opts o = { 0 };
	struct cache_check_sink sink = { .problem = print_problem };
	struct cache_check_result res;

	assert_int_equal(cache_check(io, &o, &sink, &res), 0);
	assert_int_equal(res.nr_fatal, 0);
	assert_int_equal(res.nr_warn, 0);
}

/* ---- what gets written ---- */

static void check_image(struct pd_io *io, const struct shape *sh,
			uint32_t version)
{
	struct cache_sb sb;
	struct pd_bm *bm;
	uint64_t stride = sh->oblock_stride ? sh->oblock_stride : 3;

	read_sb(io, &sb);
	assert_int_equal(sb.version, version);
	assert_int_equal(sb.magic, CACHE_SB_MAGIC);
	assert_int_equal(sb.data_block_size, 128);
	assert_int_equal(sb.metadata_block_size, 8);
	assert_int_equal(sb.cache_blocks, sh->nr);
	assert_string_equal(sb.policy_name, sh->policy ? sh->policy : "smq");
	assert_memory_equal(sb.uuid, "u-1\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	assert_int_equal(sb.policy_hint_size, sh->hint_width);
	assert_int_equal(sb.incompat_flags, 0);
	assert_int_equal(sb.compat_flags, 0);
	assert_int_equal(sb.compat_ro_flags, 0);
	assert_int_equal(sb.discard_nr_blocks, sh->discard_nr);
	assert_int_equal(sb.discard_block_size, sh->discard_nr ? 256 : 0);
	assert_int_equal(sb.sm_root.nr_blocks, io->nr_blocks);
	assert_int_equal(!!sb.hint_root, !!sh->hint_width);
	assert_int_equal(!!sb.dirty_root, version == 2);
	assert_int_equal(pd_bm_create(io, 64, &bm), 0);

	for (uint64_t c = 0; c < sh->nr; c++) {
		uint64_t want = 0;
		le64 v;

		if (is_mapped(c))
			want = cache_mapping_pack(c * stride + 7,
				CACHE_M_VALID | (version == 1 && is_dirty(c) ?
						 CACHE_M_DIRTY : 0));
		assert_int_equal(pd_array_get(bm, sb.mapping_root, 8, c, &v,
					      NULL), 0);
		assert_int_equal(le64_to_cpu(v), want);
	}
	/* v2: whole words, padding included, must be exactly these bits. */
	for (uint64_t w = 0; version == 2 && w < (sh->nr + 63) / 64; w++) {
		uint64_t want = 0;
		le64 v;

		for (uint64_t c = w * 64; c < sh->nr && c < w * 64 + 64; c++)
			if (is_mapped(c) && is_dirty(c))
				want |= 1ull << (c % 64);
		assert_int_equal(pd_array_get(bm, sb.dirty_root, 8, w, &v,
					      NULL), 0);
		assert_int_equal(le64_to_cpu(v), want);
	}
	for (uint64_t c = 0; sh->hint_width && c < sh->nr; c++) {
		unsigned char h[128], want[128] = { 0 };

		if (is_mapped(c) && sh->hint_width == 4)
			memcpy(want, c % 2 ? "\1\2\3\4" : "\377\377\377\377", 4);
		else if (is_mapped(c) && sh->hint_width == 8)
			memcpy(want, "\1\2\3\4\5\6\7\10", 8);
		else if (is_mapped(c))
			memset(want, 1, sh->hint_width);
		assert_int_equal(pd_array_get(bm, sb.hint_root, sh->hint_width,
					      c, h, NULL), 0);
		assert_memory_equal(h, want, sh->hint_width);
	}
	{
		struct base_bitmap bits, lost;

		assert_int_equal(pd_bitset_read(bm, sb.discard_root,
						sh->discard_nr, 0, NULL, NULL,
						&bits, &lost), 0);
		assert_int_equal(base_bitmap_count(&lost), 0);
		for (uint64_t d = 0; d < sh->discard_nr; d++)
			assert_int_equal(base_bitmap_test(&bits, d),
					 d == 0 || d == sh->discard_nr - 1 ||
					 (sh->discard_nr > 70 && d >= 63 &&
					  d < 70));
		base_bitmap_release(&bits);
		base_bitmap_release(&lost);
	}
	pd_bm_destroy(bm);
	assert_checks(io);
}

static void test_shapes(void **state)
{
	static const struct shape shapes[] = {
		{ .nr = 0, .hint_width = 4 },
		{ .nr = 1, .hint_width = 4 },
		{ .nr = 16, .hint_width = 4, .discard_nr = 100 },
		{ .nr = 509, .hint_width = 8, .policy = "mq" },
		{ .nr = 700, .hint_width = 12 },
		{ .nr = 510, .hint_width = 0, .policy = "cleaner" },
		{ .nr = 1019, .hint_width = 4, .policy = "",
		  .discard_nr = 1531 },
		{ .nr = 3000, .hint_width = 4, .reverse = 1,
		  .discard_nr = 33000 },
		{ .nr = 130000, .hint_width = 4, .oblock_stride = 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		for (uint32_t v = 1; v <= 2; v++) {
			struct cache_restore_opts o = { .version = v };
			struct buf xml = { 0 };
			struct pd_io *io;
			char msg[256];

			make_xml(&shapes[i], &xml);
			assert_int_equal(pd_io_mem_create(2048, &io), 0);
			if (restore_xml(io, &o, &xml, msg, sizeof(msg)))
				fail_msg("shape %zu v%u: %s", i, v, msg);
			check_image(io, &shapes[i], v);
			pd_io_destroy(io);
			free(xml.s);
		}
	}
}

/* Version 2 unless asked; clean unless asked; kernel policy versions. */
static void test_superblock_fields(void **state)
{
	static const struct {
		const char *policy;
		uint32_t major;
	} pv[] = { { "smq", 2 }, { "mq", 2 }, { "cleaner", 2 },
		   { "default", 0 }, { "", 0 }, { "fancy", 0 } };
	struct shape sh = { .nr = 8, .hint_width = 4 };
	struct buf xml = { 0 };
	struct cache_sb sb;
	struct pd_io *io;

	(void)state;
	for (size_t i = 0; i < sizeof(pv) / sizeof(pv[0]); i++) {
		struct cache_restore_opts o = { 0 };

		sh.policy = pv[i].policy;
		make_xml(&sh, &xml);
		assert_int_equal(pd_io_mem_create(64, &io), 0);
		assert_int_equal(restore_xml(io, &o, &xml, NULL, 0), 0);
		read_sb(io, &sb);
		assert_int_equal(sb.version, 2);
		assert_int_equal(sb.flags, CACHE_SB_CLEAN_SHUTDOWN);
		assert_string_equal(sb.policy_name, pv[i].policy);
		assert_int_equal(sb.policy_version[0], pv[i].major);
		assert_int_equal(sb.policy_version[1], 0);
		assert_int_equal(sb.policy_version[2], 0);
		assert_int_equal(sb.read_hits + sb.read_misses + sb.write_hits +
				 sb.write_misses, 0);
		pd_io_destroy(io);
	}
	{
		struct cache_restore_opts o = {
			.version = 1,
			.flags = CACHE_RESTORE_OMIT_CLEAN_SHUTDOWN,
		};

		assert_int_equal(pd_io_mem_create(64, &io), 0);
		assert_int_equal(restore_xml(io, &o, &xml, NULL, 0), 0);
		read_sb(io, &sb);
		assert_int_equal(sb.version, 1);
		assert_int_equal(sb.flags, 0);
		assert_int_equal(sb.dirty_root, 0);
		pd_io_destroy(io);
	}
	{
		struct cache_restore_opts o = { .version = 3 };
		struct cache_restore *rs;

		assert_int_equal(pd_io_mem_create(64, &io), 0);
		assert_int_equal(cache_restore_create(io, &o, &rs), -EINVAL);
		assert_null(rs);
		pd_io_destroy(io);
	}
	free(xml.s);
}

/* Input order does not matter: the same bytes on disk. */
static void test_unsorted_same_image(void **state)
{
	struct shape sh = { .nr = 5000, .hint_width = 4, .discard_nr = 8000 };
	struct cache_restore_opts o = { 0 };
	struct buf xml = { 0 };
	struct pd_io *a, *b;

	(void)state;
	make_xml(&sh, &xml);
	assert_int_equal(pd_io_mem_create(512, &a), 0);
	assert_int_equal(restore_xml(a, &o, &xml, NULL, 0), 0);
	sh.reverse = 1;
	make_xml(&sh, &xml);
	assert_int_equal(pd_io_mem_create(512, &b), 0);
	assert_int_equal(restore_xml(b, &o, &xml, NULL, 0), 0);
	assert_memory_equal(pd_io_mem_data(a), pd_io_mem_data(b),
			    512 * PD_BLOCK_SIZE);
	pd_io_destroy(a);
	pd_io_destroy(b);
	free(xml.s);
}

/* ---- refused input: message, and the device never written ---- */

static void expect_refused(const char *body, int err, const char *want)
{
	struct cache_restore_opts o = { 0 };
	struct buf xml = { 0 };
	struct pd_io *io;
	unsigned char *d;
	char msg[256];

	bprintf(&xml, "%s", body);
	assert_int_equal(pd_io_mem_create(64, &io), 0);
	d = pd_io_mem_data(io);
	memset(d, 0x5a, 64 * PD_BLOCK_SIZE);
	assert_int_equal(restore_xml(io, &o, &xml, msg, sizeof(msg)), err);
	assert_string_equal(msg, want);
	for (size_t i = 0; i < 64 * PD_BLOCK_SIZE; i++)
		if (d[i] != 0x5a)
			fail_msg("byte %zu was written", i);
	pd_io_destroy(io);
	free(xml.s);
}

#define SB(nr) "<superblock uuid=\"\" block_size=\"128\" nr_cache_blocks=\"" \
	       #nr "\" policy=\"smq\" hint_width=\"4\"><mappings>"
#define M(c, o) "<mapping cache_block=\"" #c "\" origin_block=\"" #o \
		"\" dirty=\"true\"/>"

static void test_refused(void **state)
{
	(void)state;
	/* dense origins: the bitmap path */
	expect_refused(SB(16) M(0, 5) M(1, 6) M(2, 7) M(9, 6)
		       "</mappings></superblock>", -EINVAL,
		       "origin block 6 is mapped by cache blocks 1 and 9");
	/* sparse origins: the sorted-copy path */
	expect_refused(SB(16) M(3, 140737488355328) M(1, 5)
		       M(0, 140737488355328) "</mappings></superblock>",
		       -EINVAL,
		       "origin block 140737488355328 is mapped by cache blocks 0 and 3");
	/* the reader's own checks come first */
	expect_refused(SB(16) M(16, 5) "</mappings></superblock>", -EINVAL,
		       "<mapping>: cache_block 16 is out of range (nr_cache_blocks is 16)");
	/* broken at the very end: still nothing written */
	expect_refused(SB(16) M(0, 5) "</mappings><hints/></superblock><x/>",
		       -EINVAL, "malformed XML: junk after document element");
	/* too big for 64 blocks */
	expect_refused(SB(4000000) "</mappings></superblock>", -ENOSPC,
		       "the output holds 64 blocks of 4 KiB but this metadata needs 11968 (49020928 bytes)");
	expect_refused("<superblock uuid=\"\" block_size=\"128\" "
		       "nr_cache_blocks=\"4294967295\" policy=\"smq\" "
		       "hint_width=\"128\"/>", -ENOSPC,
		       "this metadata needs 147712415 blocks of 4 KiB, more than the 4161600 a metadata device can have");
	/* the discard geometry covers 24 * 16 / 128 = 3 origin blocks */
	expect_refused(SB(16) M(0, 2) M(5, 3) M(6, 1) "</mappings>"
		       "<discards discard_block_size=\"24\" "
		       "discard_nr_blocks=\"16\"/></superblock>", -EINVAL,
		       "cache block 5 maps origin block 3, past the 3 blocks the discard geometry gives the origin");
	expect_refused(SB(16) "</mappings><discards discard_block_size=\"8\" "
		       "discard_nr_blocks=\"100000000\"/></superblock>",
		       -ENOSPC,
		       "the output holds 64 blocks of 4 KiB but this metadata needs 3094 (12673024 bytes)");
}

/* The size check is exact: needed blocks work, one fewer does not. */
static void test_exact_size(void **state)
{
	static const struct shape shapes[] = {
		{ .nr = 0, .hint_width = 0 },
		{ .nr = 16, .hint_width = 4 },
		{ .nr = 100000, .hint_width = 4, .discard_nr = 200000 },
		{ .nr = 20000, .hint_width = 128 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		for (uint32_t v = 1; v <= 2; v++) {
			struct cache_restore_opts o = { .version = v };
			struct cache_restore *rs;
			struct cache_emitter e;
			struct xml_reader_error err;
			struct buf xml = { 0 };
			struct pd_io *io;
			uint64_t need;
			int fd;

			make_xml(&shapes[i], &xml);
			/* one block: too small for anything */
			assert_int_equal(pd_io_mem_create(1, &io), 0);
			assert_int_equal(cache_restore_create(io, &o, &rs), 0);
			cache_restore_emitter(rs, &e);
			fd = fd_of(&xml);
			if (xml_read_cache(fd, &e, NULL, &err) != -ENOSPC)
				fail_msg("shape %zu v%u: %s / %s", i, v, err.msg,
					 cache_restore_message(rs));
			close(fd);
			need = cache_restore_blocks_needed(rs);
			assert_true(need > 1);
			cache_restore_destroy(rs);
			pd_io_destroy(io);

			assert_int_equal(pd_io_mem_create(need - 1, &io), 0);
			assert_int_equal(restore_xml(io, &o, &xml, NULL, 0),
					 -ENOSPC);
			pd_io_destroy(io);
			assert_int_equal(pd_io_mem_create(need, &io), 0);
			{
				char msg[256];

				if (restore_xml(io, &o, &xml, msg, sizeof(msg)))
					fail_msg("shape %zu v%u, %" PRIu64
						 " blocks: %s", i, v, need, msg);
			}
			check_image(io, &shapes[i], v);
			pd_io_destroy(io);
			free(xml.s);
		}
	}
}

/* ---- crash safety ---- */

/*
 * Restores `xml` over the old image again and again, failing the Nth write
 * (N = 1, 2, ...) until a restore gets through.  After each failure the
 * device must be the old image byte for byte, or have no valid superblock
 * at all.
 */
static void crash_loop(const struct shape *old_sh, const struct shape *sh,
		       uint32_t version, int sticky)
{
	enum { NR = 256 };
	struct cache_restore_opts o = { .version = version };
	struct buf xml = { 0 };
	unsigned char *old;
	struct pd_io *io;
	uint64_t n;
	int r = -1, old_seen = 0, blank_seen = 0;

	make_xml(old_sh, &xml);
	assert_int_equal(pd_io_mem_create(NR, &io), 0);
	assert_int_equal(restore_xml(io, &o, &xml, NULL, 0), 0);
	old = malloc(NR * PD_BLOCK_SIZE);
	assert_non_null(old);
	memcpy(old, pd_io_mem_data(io), NR * PD_BLOCK_SIZE);
	pd_io_destroy(io);

	make_xml(sh, &xml);
	for (n = 1; r; n++) {
		struct pd_io_fault_plan plan = {
			.fail_write_at = n,
			.fail_block = UINT64_MAX,
			.sticky = sticky,
		};
		struct pd_io *inner, *fio;
		unsigned char *d;
		struct pd_fault f;

		assert_true(n < 10000);
		assert_int_equal(pd_io_mem_create(NR, &inner), 0);
		d = pd_io_mem_data(inner);
		memcpy(d, old, NR * PD_BLOCK_SIZE);
		assert_int_equal(pd_io_fault_create(inner, &plan, &fio), 0);
		r = restore_xml(fio, &o, &xml, NULL, 0);
		if (r) {
			assert_int_equal(r, -EIO);
			if (!memcmp(d, old, NR * PD_BLOCK_SIZE))
				old_seen++;
			else if (pd_validate(&cache_sb_validator, d, 0, &f) < 0)
				blank_seen++;
			else
				fail_msg("write %" PRIu64 " failed and left a "
					 "valid superblock over other blocks",
					 n);
		} else {
			/* it got through: the new image, complete */
			check_image(inner, sh, version);
			assert_true(pd_io_fault_writes(fio) == n - 1 ||
				    pd_io_fault_writes(fio) < n);
		}
		pd_io_destroy(fio);
	}
	/* the first write (zeroing block 0) failing leaves the old image */
	assert_int_equal(old_seen, 1);
	assert_true(blank_seen > 5);
	free(old);
	free(xml.s);
}

static void test_crash(void **state)
{
	struct shape old_sh = { .nr = 2000, .hint_width = 4 };
	struct shape sh = { .nr = 6000, .hint_width = 4, .reverse = 1,
			    .discard_nr = 40000 };

	(void)state;
	crash_loop(&old_sh, &sh, 2, 1);
	crash_loop(&old_sh, &sh, 2, 0);
	crash_loop(&old_sh, &sh, 1, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_superblock_fields),
		cmocka_unit_test(test_unsorted_same_image),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_exact_size),
		cmocka_unit_test(test_crash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
