/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Single-level persistent-data btrees (u64 keys, fixed-size values), as
 * FORMAT.md §3 describes them.
 *
 * Read side:
 *   pd_btree_lookup()  one key, the kernel's lookup rule
 *   pd_btree_walk()    the checking walker: visits every node once, checks
 *                      every rule of FORMAT.md §3.4, hands sound leaves to
 *                      the caller in key order and reports damage as lost key
 *                      ranges, then keeps going.  Its return value is only for
 *                      -ENOMEM or a callback's own error; damage is not an
 *                      error.  A cycle or a node reached twice within one
 *                      walk is damage, never a hang; depth is capped at
 *                      PD_BTREE_MAX_DEPTH.  Nodes shared with another tree
 *                      are walked again, their references counted once
 *                      (node_ref and PD_WALK_COUNTED).
 *
 * Write side (btree_build.c): a bottom-up builder for sorted input, and
 * insert/remove on top of the transaction manager (tm.h).
 *
 * Values are raw little-endian bytes of value_size each.
 */
#ifndef PDATA_BTREE_H
#define PDATA_BTREE_H

#include <stdint.h>

#include "pdata/bm.h"

#define PD_BTREE_MAX_DEPTH 64

/*
 * Looks key up in the tree at root.  value_size is the leaf value size the
 * caller expects; a mismatch is -EILSEQ.  -ENODATA when the key is absent.
 * Errors from the block manager fill f.
 */
int pd_btree_lookup(struct pd_bm *bm, uint64_t root, uint32_t value_size,
		    uint64_t key, void *value, struct pd_fault *f);

/* The keys a parent allots a child: [lo, hi), or [lo, ...) unbounded. */
struct pd_btree_bounds {
	uint64_t lo, hi;
	int bounded;
};

/* Which rule a damaged node broke. */
enum pd_btree_problem {
	PD_BT_BLOCK,		/* failed its validator: see fault */
	PD_BT_VALUE_SIZE,	/* not the expected value size */
	PD_BT_MAX_ENTRIES,	/* not a multiple of 3, or not the formula */
	PD_BT_UNDERFULL,	/* non-root node below max/3 entries */
	PD_BT_EMPTY_INTERNAL,	/* internal node without entries */
	PD_BT_KEY_ORDER,	/* keys not strictly increasing */
	PD_BT_KEY_LOW,		/* first key below the parent's key */
	PD_BT_KEY_HIGH,		/* a key at or past the parent's next key */
	PD_BT_DEPTH,		/* leaves at different depths */
	PD_BT_TOO_DEEP,		/* deeper than PD_BTREE_MAX_DEPTH */
	PD_BT_CYCLE,		/* a node that is its own ancestor */
	PD_BT_SHARED,		/* a node reached from two parents */
};

const char *pd_btree_problem_name(enum pd_btree_problem p);

struct pd_btree_damage {
	enum pd_btree_problem problem;
	/*
	 * Keys that cannot be trusted: [key_begin, key_end), the range the
	 * parent allots to the node; key_end is UINT64_MAX when the node is
	 * on the tree's right edge (no upper bound).
	 */
	uint64_t key_begin, key_end;
	/*
	 * fault.block is the damaged node; for PD_BT_BLOCK the validator's
	 * record, otherwise what = the field, found / expected the values.
	 */
	struct pd_fault fault;
	unsigned depth;		/* 0 = root */
	/*
	 * 1 when the node lies below one node_ref said PD_WALK_COUNTED
	 * for, so the pointer to it was not passed to node_ref: a counter
	 * that takes back the count of a bad pointer must not.
	 */
	int ref_skipped;
};

struct pd_btree_walk_ops {
	/*
	 * A sound leaf: nr entries, keys and values as stored (le64 keys,
	 * value_size bytes per value), in key order across calls.  Empty
	 * leaves (an empty tree) are not passed on.  The pointers are into
	 * the locked block and valid only during the call.  counted is 1
	 * when the leaf lies below a node whose references node_ref said
	 * were counted already (PD_WALK_COUNTED): a caller counting the
	 * pointers its values hold must not count them again.  May be NULL.
	 */
	int (*leaf)(void *ctx, uint64_t block, unsigned nr, const void *keys,
		    const void *values, int counted);
	/* Damage; keys in the range are lost.  May be NULL. */
	int (*damage)(void *ctx, const struct pd_btree_damage *d);
	/*
	 * Every pointer to a node, the root's included, before the node is
	 * read: once per reference, so a shared node is seen once per parent
	 * (within one walk and across walks), except the pointers below a
	 * node for which it returned PD_WALK_COUNTED.  For reference
	 * counting.  May be NULL.
	 *
	 * In persistent-data a block's reference count is the number of
	 * parents pointing at it, not the number of paths reaching it: a
	 * subtree two trees share has its root counted twice and everything
	 * below it once.  So a caller counting references returns
	 * PD_WALK_COUNTED for a node it has seen before (in an earlier walk;
	 * within one walk a second visit is damage or skipped, see
	 * PD_WALK_ALLOW_SHARED): the walk still reads and checks the node and
	 * everything below it, with this tree's key bounds, and delivers its
	 * leaves, but passes no pointer below it to node_ref.  0 goes on as
	 * usual; any other value stops the walk.
	 */
	int (*node_ref)(void *ctx, uint64_t block);
	/*
	 * Sharing between walks (dm-thin's snapshots share subtrees between
	 * device trees): called for a node after its pointer passed the
	 * range, cycle and in-walk sharing checks, before it is read.
	 * Returning 1 skips the node and everything under it (the caller has
	 * walked it from another tree), 0 walks it, a negative value stops
	 * the walk.  May be NULL (walk everything).
	 */
	int (*enter)(void *ctx, uint64_t block, unsigned depth);
	/*
	 * After a node that enter() let in, and everything under it, was
	 * visited: exactly once per such node, damaged or not, so a caller
	 * can keep a stack of per-subtree totals.  May be NULL.
	 */
	void (*leave)(void *ctx, uint64_t block);
	/*
	 * Leaves read elsewhere (thin_check's two threads).  Once the walk
	 * has met a leaf it knows the leaves' depth, and every child at that
	 * depth is then offered rather than read (nor prefetched): the first
	 * leaf's siblings still to come, and all the children of each bottom
	 * node read after it.  An offered node gets node_ref, the pointer
	 * checks and enter as usual; then hand_off, and if that returns 1 the
	 * node is taken: it is not read, and leave follows at once.  0: it is
	 * read here after all; negative stops the walk.  The taker checks it
	 * with pd_btree_check_leaf.  NULL: every node is read here.
	 */
	int (*hand_off)(void *ctx, uint64_t block,
			const struct pd_btree_bounds *b, unsigned depth,
			int counted);
};

/* node_ref's "already counted: walk it, but don't count below it". */
#define PD_WALK_COUNTED 1

enum pd_btree_walk_flags {
	/*
	 * Thin-style sharing is legal: a second visit is skipped, not damage
	 * (nor re-reported if the node was damaged: that was said once).
	 * Cycles are still damage.
	 */
	PD_WALK_ALLOW_SHARED = 1 << 0,
	/* Read each level with pd_bm_prefetch before visiting it. */
	PD_WALK_PREFETCH = 1 << 1,
	/*
	 * Leaves may be less than a third full (internal nodes may not):
	 * dm-thin's range removal (dm_btree_remove_leaves) deletes runs of
	 * entries from a leaf without rebalancing it afterwards, so kernel
	 * metadata can hold such leaves, even empty ones.
	 */
	PD_WALK_LEAF_UNDERFULL_OK = 1 << 2,
};

/*
 * What the walker checks of a leaf it reads, for a leaf handed off: the
 * node (already through pd_btree_validator) is a leaf at the leaves'
 * depth with sane entries and keys inside b.  0, or 1 with d filled
 * (PD_BT_DEPTH for an internal node).  flags: the walk's.
 */
int pd_btree_check_leaf(const void *data, uint64_t block, uint32_t value_size,
			const struct pd_btree_bounds *b, unsigned depth,
			unsigned flags, struct pd_btree_damage *d);

/*
 * Walks the tree.  A callback returning non-zero stops the walk and that
 * value is returned.  Otherwise 0, -ENOMEM, or -EBUSY when the block
 * manager has no block to evict (the walk itself holds one lock at a time).
 * Memory: one bit per device block up to the highest node visited (the
 * visited set) and 4 KiB per level.
 * With PD_WALK_PREFETCH the block manager should hold at least 512 blocks:
 * each internal node's children are prefetched together, up to 252.
 */
int pd_btree_walk(struct pd_bm *bm, uint64_t root, uint32_t value_size,
		  unsigned flags, const struct pd_btree_walk_ops *ops,
		  void *ctx);

/*
 * Pull-style, in-order iteration over the entries of a tree, for callers
 * that want one (key, value) at a time rather than the walker's callbacks.
 * It checks the same rules as pd_btree_walk() on every node it reads, but
 * stops at the first problem instead of skipping it: use the walker to
 * salvage a damaged tree, the cursor to read a sound one.
 *
 *	struct pd_btree_cursor c;
 *	uint64_t key;
 *	uint64_t value;
 *	int r = pd_btree_cursor_init(&c, bm, root, sizeof(value));
 *	while (r == 0 && (r = pd_btree_cursor_next(&c, &key, &value)) > 0)
 *		use(key, value);
 *	pd_btree_cursor_release(&c);
 *	(r == 0: all entries seen; r < 0: c.damage says what went wrong)
 *
 * No block stays locked between calls (internal nodes' child lists and the
 * current leaf are copied), so the caller may use the block manager freely
 * in between.  Memory: about 260 KiB per cursor, allocated at init.
 */
struct pd_btree_cursor_frame;

struct pd_btree_cursor {
	struct pd_bm *bm;
	uint64_t root;
	uint32_t value_size;
	int state;		/* internal: not started, running, ended */
	int err;		/* the error returned once it ended on one */
	unsigned depth;		/* frames in use */
	int leaf_depth;		/* -1 until the first leaf */
	struct pd_btree_cursor_frame *frames;	/* PD_BTREE_MAX_DEPTH */
	unsigned char *leaf;	/* copy of the current leaf */
	unsigned leaf_nr, leaf_pos;
	/* After a negative return: the problem, the node and the field. */
	struct pd_btree_damage damage;
};

/* 0 or -ENOMEM.  Reads nothing yet. */
int pd_btree_cursor_init(struct pd_btree_cursor *c, struct pd_bm *bm,
			 uint64_t root, uint32_t value_size);
/*
 * The next entry in key order: 1 with *key and value (value_size bytes; may
 * be NULL) filled, 0 after the last one, or a negative errno: what the
 * block manager returned when a node failed to read (-EILSEQ, -ENOTBLK,
 * -ERANGE, -EIO...; c->damage.problem is PD_BT_BLOCK), -EILSEQ for a wrong value size or max_entries, -EUCLEAN
 * for any other broken rule, -ENOMEM, -EBUSY.  Once it has returned 0 or an
 * error it keeps returning the same.
 */
int pd_btree_cursor_next(struct pd_btree_cursor *c, uint64_t *key,
			 void *value);
/* Accepts a zeroed or released cursor. */
void pd_btree_cursor_release(struct pd_btree_cursor *c);

/* ---- write side ---- */

struct pd_tm;

/*
 * Bottom-up builder for keys given in strictly increasing order.  Leaves are
 * filled evenly (FORMAT.md §3.5) so every non-root node is over a third
 * full; nodes come from the transaction manager's allocator.
 *
 *	struct pd_btree_builder *b;
 *	pd_btree_builder_create(tm, 8, &b);
 *	for each (key, value): pd_btree_builder_add(b, key, &value);
 *	pd_btree_builder_finish(b, &root);
 *	pd_btree_builder_destroy(b);
 */
struct pd_btree_builder;

int pd_btree_builder_create(struct pd_tm *tm, uint32_t value_size,
			    struct pd_btree_builder **out);
/* -EINVAL when key is not above the previous key. */
int pd_btree_builder_add(struct pd_btree_builder *b, uint64_t key,
			 const void *value);
/* Writes the remaining nodes; an empty input gives an empty root leaf. */
int pd_btree_builder_finish(struct pd_btree_builder *b, uint64_t *root);
void pd_btree_builder_destroy(struct pd_btree_builder *b);

/*
 * Node sharing between trees built one after another (dm-thin's device
 * trees: a snapshot shares its origin's unchanged leaves, and the internal
 * nodes above runs of them).  A sharing builder differs from the plain
 * one in two ways, at every level:
 *
 * - Node boundaries follow the content: a node ends after a key whose hash
 *   hits PD_BTREE_CDC_MASK once it holds two thirds of max entries, or when
 *   it is full; a short last node joins the one before it, or the two share
 *   their entries evenly.  So trees with the same keys over a range cut the
 *   range into the same leaves, and resynchronise just past a key one of
 *   them has and the other not; internal nodes likewise over runs of
 *   shared children.  Every non-root node is over a third full.
 * - Before a finished node is written it is looked up, by a hash of its
 *   entries, among the nodes every builder on the same share has written;
 *   a candidate is read back and compared byte for byte, and an equal one
 *   gains a reference (pd_tm_inc) instead of a new block being written.
 *   An equal internal node's children were all shared, and the references
 *   this build gave them are taken back: a block's count stays the number
 *   of distinct parents, as the kernel keeps it.  Two equal trees share
 *   their root.
 *
 * new_leaf (may be NULL) is called once for every leaf actually written,
 * never for a shared one, with its entries (le64 keys, raw values): the
 * place to count what the values refer to once per distinct leaf.  A
 * non-zero return fails the add or finish that wrote the leaf.
 *
 * Memory: 32 to 64 bytes per node written, in the share.
 */
#define PD_BTREE_CDC_MASK 31u

struct pd_btree_share;

struct pd_btree_share_stats {
	uint64_t leaves_written;	/* new leaves */
	uint64_t leaves_shared;		/* references to an earlier leaf */
	uint64_t internal_written;	/* new internal nodes */
	uint64_t internal_shared;	/* references to an earlier one */
	uint64_t hash_collisions;	/* equal hashes, different bytes */
};

typedef int (*pd_btree_new_leaf_fn)(void *ctx, unsigned nr, const void *keys,
				    const void *values);

/* 0 or -ENOMEM. */
int pd_btree_share_create(struct pd_tm *tm, struct pd_btree_share **out);
void pd_btree_share_destroy(struct pd_btree_share *s);
void pd_btree_share_stats(const struct pd_btree_share *s,
			  struct pd_btree_share_stats *st);
int pd_btree_builder_create_shared(struct pd_tm *tm, uint32_t value_size,
				   struct pd_btree_share *share,
				   pd_btree_new_leaf_fn new_leaf, void *ctx,
				   struct pd_btree_builder **out);

/* An empty tree: one empty leaf. */
int pd_btree_empty(struct pd_tm *tm, uint32_t value_size, uint64_t *root);

/*
 * In-place updates in a transaction: shadow the path, insert or overwrite,
 * split or rebalance as the kernel does.  *root may change.
 */
int pd_btree_insert(struct pd_tm *tm, uint64_t *root, uint32_t value_size,
		    uint64_t key, const void *value);
/* -ENODATA when absent. */
int pd_btree_remove(struct pd_tm *tm, uint64_t *root, uint32_t value_size,
		    uint64_t key);

/*
 * The same with flags.  PD_BTREE_BLOCK_VALUES: leaf values are le64 block
 * numbers that each hold a reference (dm-array blocks), so copying a shared
 * leaf increments every value, and overwriting a value with a different one
 * or removing it decrements the old one (the kernel's value-type inc/dec).
 * Without it values are plain data.
 */
#define PD_BTREE_BLOCK_VALUES 1u
int pd_btree_insert_flags(struct pd_tm *tm, uint64_t *root,
			  uint32_t value_size, uint64_t key, const void *value,
			  unsigned flags);
int pd_btree_remove_flags(struct pd_tm *tm, uint64_t *root,
			  uint32_t value_size, uint64_t key, unsigned flags);

/*
 * Drops one reference to the tree at root, as the kernel's dm_btree_del:
 * a node whose count falls to 0 is released and drops a reference to each
 * child (and, with PD_BTREE_BLOCK_VALUES, each value block); a node still
 * shared elsewhere only loses the one count.  Iterative: no recursion,
 * memory bounded by the nodes visited.  -EUCLEAN for a cycle or a node
 * with the wrong value size, -EILSEQ and the like for a block that fails
 * its validator (the transaction is then dead, as after any count error).
 */
int pd_btree_del(struct pd_tm *tm, uint64_t root, uint32_t value_size,
		 unsigned flags);

#endif
