/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A map from 64-bit keys to 64-bit values: open addressing with linear
 * probing in a power-of-two table, kept at most half full.  For the
 * engine's per-block tables (next-access times, simulated caches), where
 * the keys are block numbers and there are millions of them: 16 bytes a
 * key, no allocation per key, no pointer chasing.
 *
 * Any key may be stored, UINT64_MAX included (its slot is kept apart).
 * Removal shifts the entries after the hole back (no tombstones), so a
 * table that sees many inserts and removes never slows down.
 */
#ifndef BASE_U64MAP_H
#define BASE_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct u64map {
	uint64_t *keys;		/* UINT64_MAX marks an empty slot */
	uint64_t *vals;
	size_t mask;		/* capacity - 1 */
	unsigned shift;		/* 64 - log2(capacity) */
	size_t count;		/* keys stored, the UINT64_MAX key included */
	int have_max;		/* the key UINT64_MAX is stored ... */
	uint64_t max_val;	/* ... with this value */
};

/* An empty map sized for about `expect` keys; 0 or -ENOMEM. */
int u64map_init(struct u64map *m, size_t expect);
void u64map_destroy(struct u64map *m);
void u64map_clear(struct u64map *m);

/* 1 and *val when key is stored, else 0. */
int u64map_get(const struct u64map *m, uint64_t key, uint64_t *val);

/* Stores or replaces key's value; 0 or -ENOMEM (the map is unchanged). */
int u64map_put(struct u64map *m, uint64_t key, uint64_t val);

/*
 * The value slot of key, inserted with value 0 when absent (*existed says
 * which); NULL when growing the table failed.  One probe where get then
 * put would take two.  The pointer is good until the next insertion.
 */
uint64_t *u64map_slot(struct u64map *m, uint64_t key, int *existed);

/* Removes key; 1 if it was stored, else 0. */
int u64map_remove(struct u64map *m, uint64_t key);

/* Copies every pair into keys and vals (u64map_count of each, in no
 * particular order); returns the count. */
size_t u64map_pairs(const struct u64map *m, uint64_t *keys, uint64_t *vals);

static inline size_t u64map_count(const struct u64map *m)
{
	return m->count;
}

#endif
