/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What the fuzz harnesses (tests/fuzz/NAME_fuzz.c) share: the entry point
 * libFuzzer and the replay driver call, the input format of the image
 * harnesses, the re-checksumming that gets a mutated image past the
 * checksum layer, and one way to report a finding that is not a crash.
 *
 * Input of an image harness:
 *
 *	byte 0      mode: FUZZ_MODE_RAW (bit 0) leaves every checksum as the
 *	            input has it; the other bits choose the harness's options
 *	            (each harness says which)
 *	bytes 1..   the metadata device, at most FUZZ_MAX_BLOCKS 4 KiB blocks
 *	            (longer input is cut); a last partial block is zero-filled
 *
 * The device is then padded with zero blocks to the size the superblock's
 * space map claims (at most FUZZ_MAX_DEVICE_BLOCKS), so that seeds can be
 * stored without their trailing zero blocks and the fuzzer can still make
 * the device shorter or longer than the space map.  DMCT_FUZZ_RAW=1 in the
 * environment forces raw mode for every input.
 *
 * A harness that finds a broken property (not a crash: a repair output
 * cache_check fails, ...) calls fuzz_finding(), which prints
 * "FUZZ FINDING: slug: detail" and aborts, so libFuzzer saves the input
 * and scripts/run-fuzz.sh names the saved case after the slug.
 */
#ifndef TESTS_FUZZ_LIB_H
#define TESTS_FUZZ_LIB_H

#include <stddef.h>
#include <stdint.h>

struct pd_io;

#define FUZZ_MAX_BLOCKS 64u
#define FUZZ_MAX_DEVICE_BLOCKS 2048u
#define FUZZ_MODE_RAW 0x01u

/* The harness; libFuzzer or tests/fuzz/replay_main.c calls it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Builds the memory device from an image-harness input (see above), with
 * every block re-checksummed unless the mode or DMCT_FUZZ_RAW says raw.
 * *mode gets byte 0 (0 for empty input).  Returns 0 or -ENOMEM.
 */
int fuzz_image_io(const uint8_t *data, size_t size, unsigned *mode,
		  struct pd_io **out);

/*
 * fuzz_image_io for thin metadata: fuzz_recsum knows the cache superblock
 * only, so block 0 is re-stamped here as a thin superblock when it has the
 * thin magic, unless the mode or DMCT_FUZZ_RAW says raw.
 */
int fuzz_thin_image_io(const uint8_t *data, size_t size, unsigned *mode,
		       struct pd_io **out);

/*
 * Stamps the checksum of every block of img that looks like a block type
 * the tools validate: block 0 with the cache magic (superblock), the
 * space map's index block and the bitmaps it lists, then any block whose
 * self block number sits where a btree node (with a node flag) or an
 * array block has it.
 */
void fuzz_recsum(unsigned char *img, uint64_t nr_blocks);

/* A memory device of nr_blocks zero blocks, or abort (out of memory). */
struct pd_io *fuzz_mem_io(uint64_t nr_blocks);

/*
 * One memory file per process, emptied and rewound at each call, for the
 * XML a harness writes or reads.  Aborts when it cannot be had.
 */
int fuzz_memfd(void);

/*
 * Checks an image a tool wrote with exit 0: cache_check must find no
 * fatal problem and cache_dump must read it; otherwise a finding named
 * slug ("repair-output-fails-check", ...).
 */
void fuzz_expect_valid(struct pd_io *io, const char *slug);

/*
 * The same for thin metadata: thin_check must find nothing fatal and no
 * space-map count off (a writer's counts are exact, so not even a leak).
 */
void fuzz_expect_valid_thin(struct pd_io *io, const char *slug);

/* Reports a broken property and aborts.  printf-style detail. */
void fuzz_finding(const char *slug, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

#endif
