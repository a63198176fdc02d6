// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The u64 -> u64 map (see u64map.h).  Keys are spread by a multiplicative
 * (Fibonacci) hash, whose top bits are well mixed even for the dense runs
 * of block numbers the engine stores.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/u64map.h"

#define EMPTY UINT64_MAX
#define MIN_CAPACITY 64u

static size_t slot_of(const struct u64map *m, uint64_t key)
{
	return (size_t)((key * 0x9E3779B97F4A7C15ull) >> m->shift);
}

static int alloc_table(struct u64map *m, size_t capacity)
{
	uint64_t *keys = malloc(capacity * sizeof(*keys));
	uint64_t *vals = malloc(capacity * sizeof(*vals));

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	memset(keys, 0xff, capacity * sizeof(*keys));
	m->keys = keys;
	m->vals = vals;
	m->mask = capacity - 1;
	m->shift = 64 - (unsigned)__builtin_ctzll(capacity);
	return 0;
}

int u64map_init(struct u64map *m, size_t expect)
{
	size_t capacity = MIN_CAPACITY;

	memset(m, 0, sizeof(*m));
	while (capacity / 2 < expect && capacity < ((size_t)1 << 60))
		capacity *= 2;
	return alloc_table(m, capacity);
}

void u64map_destroy(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

void u64map_clear(struct u64map *m)
{
	memset(m->keys, 0xff, (m->mask + 1) * sizeof(*m->keys));
	m->count = 0;
	m->have_max = 0;
}

int u64map_get(const struct u64map *m, uint64_t key, uint64_t *val)
{
	size_t i;

	if (key == EMPTY) {
		if (m->have_max)
			*val = m->max_val;
		return m->have_max;
	}
	for (i = slot_of(m, key);; i = (i + 1) & m->mask) {
		if (m->keys[i] == key) {
			*val = m->vals[i];
			return 1;
		}
		if (m->keys[i] == EMPTY)
			return 0;
	}
}

/* Puts a key known to be absent into a table with room for it. */
static void insert_new(struct u64map *m, uint64_t key, uint64_t val)
{
	size_t i = slot_of(m, key);

	while (m->keys[i] != EMPTY)
		i = (i + 1) & m->mask;
	m->keys[i] = key;
	m->vals[i] = val;
}

static int grow(struct u64map *m)
{
	struct u64map old = *m;
	size_t capacity = (old.mask + 1) * 2;
	int r = alloc_table(m, capacity);

	if (r < 0) {
		*m = old;
		return r;
	}
	for (size_t i = 0; i <= old.mask; i++)
		if (old.keys[i] != EMPTY)
			insert_new(m, old.keys[i], old.vals[i]);
	free(old.keys);
	free(old.vals);
	return 0;
}

int u64map_put(struct u64map *m, uint64_t key, uint64_t val)
{
	size_t i;

	if (key == EMPTY) {
		m->count += !m->have_max;
		m->have_max = 1;
		m->max_val = val;
		return 0;
	}
	for (i = slot_of(m, key);; i = (i + 1) & m->mask) {
		if (m->keys[i] == key) {
			m->vals[i] = val;
			return 0;
		}
		if (m->keys[i] == EMPTY)
			break;
	}
	/* At most half full, so probes stay short. */
	if ((m->count + 1) * 2 > m->mask + 1) {
		int r = grow(m);

		if (r < 0)
			return r;
	}
	insert_new(m, key, val);
	m->count++;
	return 0;
}

int u64map_remove(struct u64map *m, uint64_t key)
{
	size_t i, j;

	if (key == EMPTY) {
		int had = m->have_max;

		m->count -= (size_t)had;
		m->have_max = 0;
		return had;
	}
	for (i = slot_of(m, key);; i = (i + 1) & m->mask) {
		if (m->keys[i] == EMPTY)
			return 0;
		if (m->keys[i] == key)
			break;
	}
	/*
	 * Backward shift: move up every later entry of the run whose home
	 * slot is not in (i, j], so no probe sequence crosses the hole.
	 */
	for (j = i;;) {
		size_t home;

		j = (j + 1) & m->mask;
		if (m->keys[j] == EMPTY)
			break;
		home = slot_of(m, m->keys[j]);
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		m->keys[i] = m->keys[j];
		m->vals[i] = m->vals[j];
		i = j;
	}
	m->keys[i] = EMPTY;
	m->count--;
	return 1;
}

size_t u64map_pairs(const struct u64map *m, uint64_t *keys, uint64_t *vals)
{
	size_t n = 0;

	for (size_t i = 0; i <= m->mask; i++) {
		if (m->keys[i] != EMPTY) {
			keys[n] = m->keys[i];
			vals[n++] = m->vals[i];
		}
	}
	if (m->have_max) {
		keys[n] = EMPTY;
		vals[n++] = m->max_val;
	}
	return n;
}

uint64_t *u64map_slot(struct u64map *m, uint64_t key, int *existed)
{
	size_t i;

	if (key == EMPTY) {
		*existed = m->have_max;
		if (!m->have_max) {
			m->have_max = 1;
			m->max_val = 0;
			m->count++;
		}
		return &m->max_val;
	}
	for (i = slot_of(m, key);; i = (i + 1) & m->mask) {
		if (m->keys[i] == key) {
			*existed = 1;
			return &m->vals[i];
		}
		if (m->keys[i] == EMPTY)
			break;
	}
	*existed = 0;
	if ((m->count + 1) * 2 > m->mask + 1) {
		if (grow(m) < 0)
			return NULL;
		for (i = slot_of(m, key); m->keys[i] != EMPTY;
		     i = (i + 1) & m->mask)
			;
	}
	m->keys[i] = key;
	m->vals[i] = 0;
	m->count++;
	return &m->vals[i];
}
