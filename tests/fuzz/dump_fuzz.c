// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Fuzzes cache_dump (cache/dump.h) over a metadata image in memory, with
 * its events written as XML by the XML writer, as the tool does.  Input:
 * fuzz_lib.h's image format; mode bit 0x02 dumps with --repair.
 *
 * It also holds the dump to issue 12's rule 8: what cache_dump writes with
 * exit 0 is read back by the XML reader, restored and passes cache_check,
 * or that is a finding (DMCT_FUZZ_ROUNDTRIP=0 turns that off).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/dump.h"
#include "cache/restore.h"
#include "pdata/io.h"
#include "tests/fuzz/fuzz_lib.h"
#include "xml/reader.h"
#include "xml/writer.h"

static void read_back(int fd, uint32_t version)
{
	struct cache_restore_opts ro = { .version = version };
	struct cache_restore *rs;
	struct cache_emitter e;
	struct xml_reader_error err;
	struct pd_io *out = fuzz_mem_io(FUZZ_MAX_DEVICE_BLOCKS);
	int r;

	if (lseek(fd, 0, SEEK_SET) < 0 || cache_restore_create(out, &ro, &rs))
		abort();
	cache_restore_emitter(rs, &e);
	r = xml_read_cache(fd, &e, NULL, &err);
	if (!r)
		r = cache_restore_commit(rs);
	if (r < 0 && r != -ENOSPC && r != -ENOMEM)
		fuzz_finding("dump-output-not-restorable", "line %lu: %s (%s)",
			     err.line, err.msg,
			     cache_restore_message(rs) ?
				     cache_restore_message(rs) : "-");
	cache_restore_destroy(rs);
	if (!r)
		fuzz_expect_valid(out, "dump-output-restores-invalid");
	pd_io_destroy(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *rt = getenv("DMCT_FUZZ_ROUNDTRIP");
	int roundtrip = !rt || strcmp(rt, "0");
	struct cache_dump_opts opts = { 0 };
	struct cache_dump_result res;
	struct xml_writer *w;
	struct cache_emitter e;
	struct pd_io *io;
	unsigned mode;
	int fd, r;

	if (fuzz_image_io(data, size, &mode, &io) < 0)
		return 0;
	if (mode & 0x02)
		opts.flags |= CACHE_DUMP_REPAIR;
	fd = fuzz_memfd();
	if (xml_writer_create(fd, &w) < 0)
		abort();
	xml_writer_emitter(w, &e);
	r = cache_dump(io, &opts, &e, &res);
	if (!r)
		r = xml_writer_flush(w);
	xml_writer_destroy(w);
	(void)cache_dump_status_name(res.status);
	if (!r && roundtrip)
		read_back(fd, res.sb.version);
	pd_io_destroy(io);
	return 0;
}
