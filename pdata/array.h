/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * dm-array: a fixed-length array of fixed-size values, stored as a btree
 * (value_size 8) whose key k points to array block k (FORMAT.md §5).  The
 * length is not on disk: the owner (the superblock) supplies it.
 *
 * pd_array_walk() reads the whole array in index order, checking the btree
 * (through pd_btree_walk), the keys (exactly 0..nblocks-1) and every array
 * block's header (value size, max_entries, nr_entries: full blocks except a
 * last partial one).  Sound blocks go to ops->values, lost index ranges to
 * ops->damage, and every block reference (btree nodes and array blocks) to
 * ops->block_ref, so a checker can count them.  Damage is not an error: the
 * return value is for -ENOMEM or a callback's own non-zero value.
 *
 * Write side (array_build.c): bulk build from values in index order, and
 * set/resize in a transaction.
 */
#ifndef PDATA_ARRAY_H
#define PDATA_ARRAY_H

#include <stdint.h>

#include "pdata/bm.h"
#include "pdata/btree.h"

enum pd_array_problem {
	PD_ARR_BTREE,		/* the btree is damaged: see btree */
	PD_ARR_BLOCK,		/* an array block failed its validator */
	PD_ARR_VALUE_SIZE,	/* array block value size not the expected */
	PD_ARR_NR_ENTRIES,	/* wrong nr_entries for its position */
	PD_ARR_MISSING,		/* btree key absent: indices never stored */
	PD_ARR_EXTRA,		/* btree key past the array's length */
};

const char *pd_array_problem_name(enum pd_array_problem p);

struct pd_array_damage {
	enum pd_array_problem problem;
	/* Indices lost: [index_begin, index_end). */
	uint64_t index_begin, index_end;
	struct pd_fault fault;		/* block and field, as in btree damage */
	struct pd_btree_damage btree;	/* for PD_ARR_BTREE */
};

struct pd_array_walk_ops {
	/* nr values for indices [index, index + nr), from block. May be NULL. */
	int (*values)(void *ctx, uint64_t index, unsigned nr, const void *values,
		      uint64_t block);
	int (*damage)(void *ctx, const struct pd_array_damage *d);
	/*
	 * Every reference to a btree node or an array block, once per
	 * pointer (an array block shared by two keys is seen twice).  As
	 * pd_btree_walk_ops.node_ref: PD_WALK_COUNTED for a btree node seen
	 * before means the pointers below it (child nodes, array blocks) are
	 * not passed here again; for an array block it means nothing.  Any
	 * other non-zero value stops the walk.  May be NULL.
	 */
	int (*block_ref)(void *ctx, uint64_t block);
};

int pd_array_walk(struct pd_bm *bm, uint64_t root, uint64_t nr_entries,
		  uint32_t value_size, unsigned walk_flags,
		  const struct pd_array_walk_ops *ops, void *ctx);

/* One value; -ENODATA when index is past the stored blocks. */
int pd_array_get(struct pd_bm *bm, uint64_t root, uint32_t value_size,
		 uint64_t index, void *value, struct pd_fault *f);

/* ---- write side ---- */

struct pd_tm;
struct pd_array_builder;

/*
 *	pd_array_builder_create(tm, 8, &b);
 *	pd_array_builder_add(b, &value) nr_entries times, in index order;
 *	pd_array_builder_finish(b, &root);
 *	pd_array_builder_destroy(b);
 */
int pd_array_builder_create(struct pd_tm *tm, uint32_t value_size,
			    struct pd_array_builder **out);
int pd_array_builder_add(struct pd_array_builder *b, const void *value);
/* Adds n copies of value (bulk zeroes for unmapped ranges). */
int pd_array_builder_add_fill(struct pd_array_builder *b, const void *value,
			      uint64_t n);
/* Adds n values laid out as on disk (value_size bytes each, little endian). */
int pd_array_builder_add_many(struct pd_array_builder *b, const void *values,
			      uint64_t n);
int pd_array_builder_finish(struct pd_array_builder *b, uint64_t *root);
void pd_array_builder_destroy(struct pd_array_builder *b);

/* In a transaction: overwrite one value (shadowing the path). */
int pd_array_set(struct pd_tm *tm, uint64_t *root, uint32_t value_size,
		 uint64_t nr_entries, uint64_t index, const void *value);
/*
 * In a transaction: read-modify-write of one value in place, after
 * shadowing its array block and the btree path as pd_array_set does.  fn
 * gets the value_size bytes of the value.  -EINVAL index >= nr_entries,
 * -ENODATA its block is not in the btree, -EUCLEAN the block's header does
 * not hold that index.
 */
int pd_array_update(struct pd_tm *tm, uint64_t *root, uint32_t value_size,
		    uint64_t nr_entries, uint64_t index,
		    void (*fn)(void *value, void *ctx), void *ctx);

/*
 * In a transaction: changes the array's length from old_nr to new_nr
 * values.  New values are copies of fill (value_size bytes); values past
 * new_nr are dropped, their array blocks released and the last kept block's
 * dropped values zeroed.  O((blocks added or removed + 1) * log n).
 * -EINVAL for a value size no block holds, -EUCLEAN when a block's header
 * disagrees with old_nr, and the transaction manager's errors.
 */
int pd_array_resize(struct pd_tm *tm, uint64_t *root, uint32_t value_size,
		    uint64_t old_nr, uint64_t new_nr, const void *fill);

/*
 * In a transaction: drops this reference to the array: every btree node
 * and array block that no one else references is released.  O(blocks).
 */
int pd_array_del(struct pd_tm *tm, uint64_t root);

#endif
