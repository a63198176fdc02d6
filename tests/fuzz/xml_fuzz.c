// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Fuzzes the XML reader (xml/reader.h) driving cache_restore's staging
 * (cache/restore.h), then the commit to a memory device, then cache_check
 * and cache_dump on what the restore wrote: a restore that succeeds and
 * writes metadata the check fails is a finding
 * ("restore-output-fails-check").  Input: the XML text as is (seeds are
 * XML files).  The restore's --metadata-version comes from the input's
 * length (0, 1 or 2 by its remainder mod 3), so the corpus covers all.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "cache/restore.h"
#include "pdata/io.h"
#include "tests/fuzz/fuzz_lib.h"
#include "xml/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cache_restore_opts ro = { .version = (uint32_t)(size % 3) };
	struct cache_restore *rs;
	struct xml_reader_error err;
	struct cache_emitter e;
	struct pd_io *out;
	int fd = fuzz_memfd();
	int r;

	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	if (lseek(fd, 0, SEEK_SET) < 0)
		abort();
	out = fuzz_mem_io(FUZZ_MAX_DEVICE_BLOCKS);
	if (cache_restore_create(out, &ro, &rs) < 0)
		abort();
	cache_restore_emitter(rs, &e);
	r = xml_read_cache(fd, &e, NULL, &err);
	if (!r)
		r = cache_restore_commit(rs);
	if (r < 0)
		(void)cache_restore_message(rs);
	cache_restore_destroy(rs);
	if (!r)
		fuzz_expect_valid(out, "restore-output-fails-check");
	pd_io_destroy(out);
	return 0;
}
