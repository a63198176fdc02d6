/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The comparison policies of `cache_replay simulate`: the textbook
 * replacement algorithms behind the kernel-shaped policy interface
 * (engine/policy.h), so that the same target model runs them next to smq.
 *
 *   lru     least recently used: a hit moves the block to the front.
 *   fifo    first in, first out: hits change nothing.
 *   random  a victim drawn uniformly from the cache (xorshift64*,
 *           seeded), hits change nothing.
 *   arc     Megiddo and Modha's Adaptive Replacement Cache (FAST '03):
 *           T1/T2 resident, B1/B2 ghost lists of up to C entries, the
 *           target size p adapted on ghost hits (integer steps).
 *   2q      Johnson and Shasha's full 2Q (VLDB '94): A1in FIFO of
 *           Kin = C/4, A1out ghost FIFO of Kout = C/2, Am LRU.
 *
 * Every one of them promotes on every miss, at once: the look-up that
 * misses queues, in this order, a writeback of the victim if it is dirty,
 * its demotion, and the promotion of the missed block into its cache
 * block (or just the promotion while blocks are free), and the target's
 * worker, which runs right after the bio, does them before the next bio.
 * So the block stream sees exactly the textbook algorithm: a block
 * request misses iff the algorithm misses (the target counts a copy-free
 * promotion of a full-block write as neither hit nor miss: add it).
 * While work is pending (a passthrough target runs none) no new decision
 * is made.  Dirty blocks are written back only when evicted; nothing is
 * done when idle.  No hints (hint_size 0).
 */
#ifndef ENGINE_CMP_POLICY_H
#define ENGINE_CMP_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/policy.h"

/* True when name is one of the policies above ("random:SEED" too). */
bool cmp_policy_known(const char *name);

/*
 * Creates the named policy ("random" is seeded 1, "random:N" with N).
 * 0, -EINVAL for an unknown name, or -ENOMEM.
 */
int cmp_policy_create(const char *name, uint32_t cache_blocks,
		      const uint64_t *jiffies, struct policy **out);

/* Structure check for the tests: 0, or -EUCLEAN with what failed. */
int cmp_policy_check(struct policy *p, char *why, unsigned why_len);

#endif
