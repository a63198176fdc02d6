/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Every problem thin_check can report, as one X-macro list: the ID, its
 * severity and a one-line description (the man page's table is this list).
 *
 *	X(ID, SEVERITY, "name", "description")
 *
 * FATAL problems make the check fail (exit 1): the kernel would refuse the
 * metadata, or run on it and misread it (hand out an in-use data block
 * again, treat a shared block as private and overwrite a snapshot's data,
 * report wrong usage).  WARN problems are reported and leave the exit code
 * alone: the kernel runs safely on such metadata (a leaked block only
 * wastes space, NEEDS_CHECK is what this check is for).
 *
 * The "name" is what the tool prints after each finding and what the
 * corpus cases are named after; it never changes once published.
 */
#ifndef THIN_PROBLEMS_H
#define THIN_PROBLEMS_H

#define THIN_PROBLEMS(X)						\
	/* superblock */						\
	X(SB_UNREADABLE, FATAL, "sb-unreadable",			\
	  "block 0 cannot be read (device too small or I/O error)")	\
	X(SB_LOCATION, FATAL, "sb-location",				\
	  "superblock blocknr is not where it was read")		\
	X(SB_MAGIC, FATAL, "sb-magic",					\
	  "superblock magic is wrong (not dm-thin metadata)")		\
	X(SB_CHECKSUM, FATAL, "sb-checksum",				\
	  "superblock checksum is wrong")				\
	X(SB_VERSION, FATAL, "sb-version",				\
	  "metadata version is not 1 or 2")				\
	X(SB_FLAGS, WARN, "sb-flags",					\
	  "unknown superblock flag bits (the kernel ignores them)")	\
	X(SB_METADATA_BLOCK_SIZE, FATAL, "sb-metadata-block-size",	\
	  "metadata block size is not 8 sectors")			\
	X(SB_DATA_BLOCK_SIZE, FATAL, "sb-data-block-size",		\
	  "data block size is not a multiple of 128 sectors from 128 "	\
	  "to 2097152 (no pool table can match it)")			\
	X(SB_COMPAT_FLAGS, WARN, "sb-compat-flags",			\
	  "compat flags are not 0 (the kernel ignores them)")		\
	X(SB_COMPAT_RO_FLAGS, FATAL, "sb-compat-ro-flags",		\
	  "compat_ro flags are not 0 (the kernel refuses to write)")	\
	X(SB_INCOMPAT_FLAGS, FATAL, "sb-incompat-flags",		\
	  "incompat flags are not 0 (the kernel refuses to load)")	\
	X(SB_ROOT_RANGE, FATAL, "sb-root-range",			\
	  "a root is block 0 or lies outside the metadata device")	\
	X(SB_SM_NR_BLOCKS, FATAL, "sb-sm-nr-blocks",			\
	  "the metadata space map covers more blocks than the device "	\
	  "has")							\
	X(SB_HELD_ROOT, FATAL, "sb-held-root",				\
	  "the metadata snapshot is not a valid superblock copy")	\
	X(SB_TIME_WRAP, WARN, "sb-time-wrap",				\
	  "the pool time has passed 2^24: mapping times (24 bits) have " \
	  "wrapped")							\
	X(SB_NEEDS_CHECK, WARN, "sb-needs-check",			\
	  "NEEDS_CHECK is set: the kernel refuses to write until it "	\
	  "is cleared")							\
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
	/* btrees */							\
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
	/* devices */							\
	X(DEV_NO_DETAILS, FATAL, "dev-no-details",			\
	  "a device has a mapping tree but no details entry")		\
	X(DEV_NO_MAPPINGS, FATAL, "dev-no-mappings",			\
	  "a device has a details entry but no mapping tree")		\
	X(DEV_MAPPED_BLOCKS, FATAL, "dev-mapped-blocks",		\
	  "a device's mapped_blocks differs from its mappings")		\
	X(DEV_TIME, WARN, "dev-time",					\
	  "a device's creation or snapshot time is after the pool "	\
	  "time")							\
	X(DEV_TRANSACTION, WARN, "dev-transaction",			\
	  "a device's transaction id is after the pool's")		\
	/* mappings */							\
	X(MAP_TIME, FATAL, "map-time",					\
	  "a mapping's time is after the pool time (the kernel would "	\
	  "take a shared block for a private one)")			\
	X(MAP_DATA_RANGE, FATAL, "map-data-range",			\
	  "a mapping points past the end of the data device")		\
	/* space maps */						\
	X(SM_INDEX_ENTRY, FATAL, "sm-index-entry",			\
	  "a space map index entry points nowhere")			\
	X(SM_OVERFLOW, FATAL, "sm-overflow",				\
	  "an overflow ref-count tree disagrees with its bitmaps")	\
	X(SM_UNDERCOUNT, FATAL, "sm-undercount",			\
	  "a metadata block is referenced more often than the space "	\
	  "map counts (in-use blocks look free)")			\
	X(SM_OVERCOUNT, FATAL, "sm-overcount",				\
	  "the metadata space map counts more references than exist")	\
	X(SM_LEAK, WARN, "sm-leak",					\
	  "a metadata block is allocated but nothing references it")	\
	X(SM_NR_ALLOCATED, WARN, "sm-nr-allocated",			\
	  "the metadata space map's nr_allocated differs from the "	\
	  "blocks in use")						\
	X(DATA_UNDERCOUNT, FATAL, "data-undercount",			\
	  "a data block is mapped more often than the data space map "	\
	  "counts (the kernel would hand it out again)")		\
	X(DATA_OVERCOUNT, FATAL, "data-overcount",			\
	  "the data space map counts more references than mappings "	\
	  "exist")							\
	X(DATA_LEAK, WARN, "data-leak",					\
	  "a data block is allocated but no mapping uses it")		\
	X(DATA_NR_ALLOCATED, WARN, "data-nr-allocated",			\
	  "the data space map's nr_allocated differs from the blocks "	\
	  "in use")

enum thin_problem {
#define THIN_PROBLEM_ENUM(id, sev, name, desc) THIN_P_##id,
	THIN_PROBLEMS(THIN_PROBLEM_ENUM)
#undef THIN_PROBLEM_ENUM
	THIN_NR_PROBLEMS
};

enum thin_severity {
	THIN_SEV_WARN,		/* reported, the check still passes */
	THIN_SEV_FATAL,		/* the check fails */
};

enum thin_severity thin_problem_severity(enum thin_problem p);
const char *thin_problem_name(enum thin_problem p);
const char *thin_problem_desc(enum thin_problem p);

#endif
