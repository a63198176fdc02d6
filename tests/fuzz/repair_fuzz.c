// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Fuzzes cache_repair (cache/repair.h) over a metadata image in memory:
 * salvage, the salvage as XML (--xml), the write to a fresh device, and
 * then cache_check and cache_dump on what repair wrote: a repair that
 * exits 0 with output the check fails is a finding
 * ("repair-output-fails-check").  Input: fuzz_lib.h's image format; mode
 * bit 0x02 gives --block-size 128 (so that salvage goes on when block 0
 * is lost), 0x04 --nr-cache-blocks 16, 0x08 --metadata-version 1.
 */
#include <errno.h>
#include <stdlib.h>

#include "cache/repair.h"
#include "pdata/io.h"
#include "tests/fuzz/fuzz_lib.h"
#include "xml/writer.h"

static int count_range(void *ctx, uint64_t begin, uint64_t end)
{
	*(uint64_t *)ctx += end - begin;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cache_repair_opts ro = { 0 };
	struct cache_salvage *s = NULL;
	struct xml_writer *w;
	struct cache_emitter e;
	struct pd_io *in, *out;
	uint64_t lost = 0;
	char msg[256];
	unsigned mode;
	int r;

	if (fuzz_image_io(data, size, &mode, &in) < 0)
		return 0;
	if (mode & 0x02) {
		ro.have_block_size = 1;
		ro.block_size = 128;
	}
	if (mode & 0x04) {
		ro.have_nr_cache_blocks = 1;
		ro.nr_cache_blocks = 16;
	}
	if (mode & 0x08) {
		ro.have_version = 1;
		ro.version = 1;
	}
	r = cache_repair_salvage(in, &ro, &s);
	if (r < 0)
		goto out;
	(void)cache_salvage_report(s);
	cache_salvage_lost_ranges(s, 0, count_range, &lost);
	cache_salvage_lost_ranges(s, 1, count_range, &lost);

	if (xml_writer_create(fuzz_memfd(), &w) < 0)
		abort();
	xml_writer_emitter(w, &e);
	if (!cache_salvage_emit(s, &e))
		xml_writer_flush(w);
	xml_writer_destroy(w);

	/* As big as the input, as a user would give: small is fast. */
	out = fuzz_mem_io(in->nr_blocks < 64 ? 64 : in->nr_blocks);
	r = cache_repair_write(s, out, msg, sizeof(msg));
	if (!r)
		fuzz_expect_valid(out, "repair-output-fails-check");
	else if (r != -ENOSPC && r != -ENOMEM)
		fuzz_finding("repair-write-fails", "%d: %s", r, msg);
	pd_io_destroy(out);
out:
	cache_salvage_destroy(s);
	pd_io_destroy(in);
	return 0;
}
