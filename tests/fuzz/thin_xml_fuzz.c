// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Fuzzes the thin XML grammar (xml_read_thin, on the core it shares with
 * the cache reader) driving the thin restore (thin/restore.h) into a
 * memory device, then thin_check on what it wrote: a restore that
 * succeeds and writes metadata our checker finds a fatal problem in, or a
 * space-map warning (a leak or a wrong nr_allocated: the restore's own
 * counting), is a finding ("thin-restore-output-fails-check").  Warnings
 * about values the XML gave (a device's transaction or times after the
 * pool's, flags) are the input's, not the restore's.  Also not when the
 * data block size is one the kernel refuses: the restore writes it as
 * asked (with a warning) and the checker rightly refuses it.  Input: the
 * XML text as is (seeds are XML files).
 */
#include <stdlib.h>
#include <unistd.h>

#include "pdata/io.h"
#include "tests/fuzz/fuzz_lib.h"
#include "thin/format.h"
#include "thin/restore.h"
#include "xml/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xml_reader_error err;
	struct thin_restore *rs;
	struct thin_emitter e;
	struct pd_io *out;
	int fd = fuzz_memfd();
	int r, dbs_ok;

	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	if (lseek(fd, 0, SEEK_SET) < 0)
		abort();
	out = fuzz_mem_io(FUZZ_MAX_DEVICE_BLOCKS);
	if (thin_restore_create(out, NULL, &rs) < 0)
		abort();
	thin_restore_emitter(rs, &e);
	r = xml_read_thin(fd, &e, NULL, &err);
	if (!r)
		r = thin_restore_commit(rs);
	if (r < 0)
		(void)thin_restore_message(rs);
	dbs_ok = thin_data_block_size_ok(thin_restore_block_size(rs));
	thin_restore_destroy(rs);
	if (!r && dbs_ok)
		fuzz_expect_valid_thin(out, "thin-restore-output-fails-check");
	pd_io_destroy(out);
	return 0;
}
