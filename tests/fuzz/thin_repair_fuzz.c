// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Fuzzes thin_repair (thin/repair.h) over a thin metadata image in
 * memory: the salvage (with every report line formatted), the restore
 * writer fed the model, then thin_check on what was written.  A repair
 * that writes metadata our checker finds a fatal problem in, or a space-map
 * warning (the writer's own counting), is a finding
 * ("thin-repair-output-fails-check"); a write that fails for any reason
 * but too small an output is one too ("thin-repair-write-fails"): the
 * salvage must hand the writer only what it takes.  Input: fuzz_lib.h's
 * image format, a thin superblock re-stamped (fuzz_thin_image_io); mode
 * bit 0x02 gives --transaction-id 7 --data-block-size 128
 * --nr-data-blocks 4096, as a user of a pool whose superblock is lost would.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pdata/io.h"
#include "tests/fuzz/fuzz_lib.h"
#include "thin/repair.h"
#include "thin/restore.h"

static void take_note(void *ctx, const char *line)
{
	*(size_t *)ctx += strlen(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct thin_repair_opts ro = { 0 };
	struct thin_repair *rp = NULL;
	struct thin_restore *rs;
	struct thin_emitter e;
	struct pd_io *in, *out;
	size_t noted = 0;
	uint64_t need;
	unsigned mode;
	char msg[256];
	int r;

	if (fuzz_thin_image_io(data, size, &mode, &in) < 0)
		return 0;
	if (mode & 0x02) {
		ro.set_trans_id = ro.set_data_block_size =
			ro.set_nr_data_blocks = 1;
		ro.trans_id = 7;
		ro.data_block_size = 128;
		ro.nr_data_blocks = 4096;
	}
	ro.note = take_note;
	ro.ctx = &noted;
	r = thin_repair_read(in, &ro, &rp, msg, sizeof(msg));
	if (r < 0)
		goto out;
	/*
	 * Big pools (a fuzzed nr_data_blocks of millions) cost seconds in the
	 * writer and the check, and test nothing the small ones do not.
	 */
	need = thin_repair_blocks_needed(rp);
	if (need > 512)
		goto out;
	out = fuzz_mem_io(need < 64 ? 64 : need);
	if (thin_restore_create(out, NULL, &rs) < 0)
		abort();
	thin_restore_emitter(rs, &e);
	r = thin_repair_emit(rp, &e);
	if (!r)
		r = thin_restore_commit(rs);
	if (r < 0 && r != -ENOMEM)
		fuzz_finding("thin-repair-write-fails", "%d: %s", r,
			     thin_restore_message(rs) ?
				     thin_restore_message(rs) : "-");
	thin_restore_destroy(rs);
	if (!r)
		fuzz_expect_valid_thin(out, "thin-repair-output-fails-check");
	pd_io_destroy(out);
out:
	thin_repair_destroy(rp);
	pd_io_destroy(in);
	return 0;
}
