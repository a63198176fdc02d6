/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Every problem cache_check can report, as one X-macro list: the ID, its
 * severity and a one-line description (the man page's table is this list).
 *
 *	X(ID, SEVERITY, "name", "description")
 *
 * FATAL problems make the check fail (exit 1): the kernel would refuse the
 * metadata, or worse, run on it and lose or mix up data.  WARN problems
 * are reported and leave the exit code alone: the kernel runs safely on
 * such metadata (a leaked block only wastes space; dirty bits on unmapped
 * blocks are ignored on load), and some of them are written by the
 * reference tools themselves, so failing on them would stop LVM from
 * activating perfectly usable caches.
 *
 * The "name" is what the tool prints after each finding and what the
 * corpus cases are named after; it never changes once published.
 * Block-level faults (checksum, location, header, range, I/O) are shared
 * by every block type: the message names the structure and the block.
 */
#ifndef CACHE_PROBLEMS_H
#define CACHE_PROBLEMS_H

#define CACHE_PROBLEMS(X)						\
	/* superblock (pass 1) */					\
	X(SB_UNREADABLE, FATAL, "sb-unreadable",			\
	  "block 0 cannot be read (device too small or I/O error)")	\
	X(SB_LOCATION, FATAL, "sb-location",				\
	  "superblock blocknr is not 0")				\
	X(SB_MAGIC, FATAL, "sb-magic",					\
	  "superblock magic is wrong (not dm-cache metadata)")		\
	X(SB_CHECKSUM, FATAL, "sb-checksum",				\
	  "superblock checksum is wrong")				\
	X(SB_VERSION, FATAL, "sb-version",				\
	  "metadata version is not 1 or 2")				\
	X(SB_FLAGS, FATAL, "sb-flags",					\
	  "unknown superblock flag bits")				\
	X(SB_POLICY_NAME, FATAL, "sb-policy-name",			\
	  "policy name is not NUL-terminated")				\
	X(SB_HINT_SIZE, FATAL, "sb-hint-size",				\
	  "policy hint size is not a multiple of 4 up to 128")		\
	X(SB_METADATA_BLOCK_SIZE, FATAL, "sb-metadata-block-size",	\
	  "metadata block size is not 8 sectors")			\
	X(SB_COMPAT_FLAGS, FATAL, "sb-compat-flags",			\
	  "compat flags are not 0")					\
	X(SB_COMPAT_RO_FLAGS, FATAL, "sb-compat-ro-flags",		\
	  "compat_ro flags are not 0 (the kernel refuses to write)")	\
	X(SB_INCOMPAT_FLAGS, FATAL, "sb-incompat-flags",		\
	  "incompat flags are not 0 (the kernel refuses to load)")	\
	X(SB_ROOT_RANGE, FATAL, "sb-root-range",			\
	  "a root block lies outside the metadata device")		\
	X(SB_DIRTY_ROOT, FATAL, "sb-dirty-root",			\
	  "version 2 metadata without a dirty bitset")			\
	X(SB_V1_DIRTY_BITSET, FATAL, "sb-v1-dirty-bitset",		\
	  "version 2 metadata labelled version 1: a dirty bitset under "\
	  "dirty_root or among the leaked blocks (read as version 1, "	\
	  "every dirty block looks clean)")				\
	X(SB_SM_NR_BLOCKS, FATAL, "sb-sm-nr-blocks",			\
	  "the space map covers more blocks than the device has")	\
	X(SB_DATA_BLOCK_SIZE, FATAL, "sb-data-block-size",		\
	  "data block size is 0")					\
	X(SB_DISCARD_GEOMETRY, FATAL, "sb-discard-geometry",		\
	  "discard blocks without a discard block size")		\
	X(SB_NEEDS_CHECK, WARN, "sb-needs-check",			\
	  "NEEDS_CHECK is set: the kernel refuses to write until "	\
	  "it is cleared")						\
	X(SB_NOT_CLEAN, WARN, "sb-not-clean",				\
	  "not shut down cleanly: the kernel treats every mapping "	\
	  "as dirty")							\
	/* any block of any structure */				\
	X(BLOCK_IO, FATAL, "block-io",					\
	  "a block cannot be read")					\
	X(BLOCK_RANGE, FATAL, "block-range",				\
	  "a pointer to a block past the end of the metadata")		\
	X(BLOCK_LOCATION, FATAL, "block-location",			\
	  "a block claims another location")				\
	X(BLOCK_CHECKSUM, FATAL, "block-checksum",			\
	  "a block's checksum is wrong")				\
	X(BLOCK_HEADER, FATAL, "block-header",				\
	  "a block header field is out of range")			\
	/* btrees (every array is a btree of array blocks) */		\
	X(BTREE_VALUE_SIZE, FATAL, "btree-value-size",			\
	  "a btree node has the wrong value size")			\
	X(BTREE_MAX_ENTRIES, FATAL, "btree-max-entries",		\
	  "a btree node's max_entries is not the format's")		\
	X(BTREE_UNDERFULL, FATAL, "btree-underfull",			\
	  "a non-root btree node is less than a third full")		\
	X(BTREE_EMPTY_INTERNAL, FATAL, "btree-empty-internal",		\
	  "an internal btree node has no entries")			\
	X(BTREE_KEY_ORDER, FATAL, "btree-key-order",			\
	  "btree keys are not strictly increasing")			\
	X(BTREE_KEY_RANGE, FATAL, "btree-key-range",			\
	  "btree keys outside the range their parent gives")		\
	X(BTREE_DEPTH, FATAL, "btree-depth",				\
	  "btree leaves at different depths, or the tree is too deep")	\
	X(BTREE_CYCLE, FATAL, "btree-cycle",				\
	  "a btree node is its own ancestor")				\
	X(BTREE_SHARED, FATAL, "btree-shared",				\
	  "a btree node is reached twice within one tree")		\
	/* arrays */							\
	X(ARRAY_VALUE_SIZE, FATAL, "array-value-size",			\
	  "an array block has the wrong value size")			\
	X(ARRAY_NR_ENTRIES, FATAL, "array-nr-entries",			\
	  "an array block holds the wrong number of entries")		\
	X(ARRAY_MISSING, FATAL, "array-missing",			\
	  "an array is shorter than its length")			\
	X(ARRAY_EXTRA, FATAL, "array-extra",				\
	  "an array is longer than its length")				\
	/* mappings (pass 2) */						\
	X(MAP_FLAGS, FATAL, "map-flags",				\
	  "a mapping has flags unknown to its metadata version")	\
	X(MAP_UNMAPPED, WARN, "map-unmapped-not-zero",			\
	  "an unmapped entry holds an origin block or dirty flag")	\
	X(MAP_DUPLICATE, FATAL, "map-duplicate",			\
	  "an origin block is mapped by two cache blocks")		\
	X(MAP_ORIGIN_RANGE, FATAL, "map-origin-range",			\
	  "a mapping points past the end of the origin")		\
	/* dirty bitset (pass 3) */					\
	X(DIRTY_UNMAPPED, WARN, "dirty-unmapped",			\
	  "dirty bits set on unmapped cache blocks")			\
	/* hints (pass 4) */						\
	X(HINT_WIDTH, FATAL, "hint-width",				\
	  "a hint array exists but the hint width is 0")		\
	/* space map (pass 6) */					\
	X(SM_INDEX_ENTRY, FATAL, "sm-index-entry",			\
	  "a space map index entry points nowhere")			\
	X(SM_OVERFLOW, FATAL, "sm-overflow",				\
	  "the overflow ref-count tree disagrees with the bitmaps")	\
	X(SM_UNDERCOUNT, FATAL, "sm-undercount",			\
	  "a block is referenced more often than the space map "	\
	  "counts (in-use blocks look free)")				\
	X(SM_OVERCOUNT, FATAL, "sm-overcount",				\
	  "the space map counts more references than exist")		\
	X(SM_LEAK, WARN, "sm-leak",					\
	  "a block is allocated but nothing references it")		\
	X(SM_NR_ALLOCATED, WARN, "sm-nr-allocated",			\
	  "nr_allocated differs from the blocks in use")

enum cache_problem {
#define CACHE_PROBLEM_ENUM(id, sev, name, desc) CACHE_P_##id,
	CACHE_PROBLEMS(CACHE_PROBLEM_ENUM)
#undef CACHE_PROBLEM_ENUM
	CACHE_NR_PROBLEMS
};

enum cache_severity {
	CACHE_SEV_WARN,		/* reported, the check still passes */
	CACHE_SEV_FATAL,	/* the check fails */
};

/* The table behind the list. */
enum cache_severity cache_problem_severity(enum cache_problem p);
const char *cache_problem_name(enum cache_problem p);
const char *cache_problem_desc(enum cache_problem p);

#endif
