// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The comparison policies (see cmp_policy.h): lru, fifo, random, arc and
 * 2q over one frame.  The frame keeps the cache blocks (origin block,
 * list links, dirty, pending), the map from origin block to cache block,
 * the free cache blocks, ghost entries (origin blocks remembered after
 * eviction, for arc and 2q) and the work of the last decision.  Each
 * algorithm only says what a hit does and which block a miss evicts.
 *
 * A miss is decided at once, textbook order: the victim leaves the lists
 * and the map (into a ghost list where the algorithm keeps one), the
 * missed block takes its cache block, marked pending until the target
 * completes the promotion; a pending block is not a hit.  Lists are
 * doubly linked through 32-bit indices, oldest at the head.
 *
 * The maps from origin block to cache block (and to ghost entry) are
 * chained hash tables threaded through the entries themselves: a bucket
 * holds the index of its first entry, each entry the next's.  A miss,
 * which is most look-ups, reads a bucket and the few entries of its
 * chain, and removing the victim (whose entry is at hand) unlinks it:
 * fewer cache lines than a separate open-addressing map of keys and
 * values, and no entries to shift back on removal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cmp_policy.h"

#define NONE UINT32_MAX

enum kind { K_LRU, K_FIFO, K_RANDOM, K_ARC, K_2Q };

/* Resident lists: lru/fifo/random use L_MAIN; arc T1, T2; 2q A1in, Am. */
enum { L_FREE, L_MAIN, L_T1 = L_MAIN, L_A1IN = L_MAIN, L_T2, L_AM = L_T2,
       NR_LISTS };
/* Ghost lists: arc B1, B2; 2q A1out. */
enum { G_FREE, G_B1, G_A1OUT = G_B1, G_B2, NR_GLISTS };

struct node {
	uint64_t oblock;
	uint32_t prev, next;
	uint32_t hnext;		/* next in its hash chain */
	uint8_t list;
	bool dirty;
	bool pending;		/* promotion not completed yet */
};

struct list {
	uint32_t head, tail, nr;
};

/* Origin block -> index of the entry (in an array of nodes) holding it. */
struct index {
	uint32_t *heads;	/* by bucket: the chain's first entry */
	unsigned shift;		/* 64 - log2(buckets) */
	uint32_t count;
};

struct cmp {
	struct policy p;
	enum kind kind;
	uint32_t cache_blocks;
	bool migrations_allowed;

	struct node *nodes;		/* by cache block */
	struct list lists[NR_LISTS];
	uint32_t *free_stack;		/* free cache blocks, next on top */
	uint32_t *free_pos;		/* a free block's index in the stack */
	uint32_t nr_free;
	struct index map;		/* oblock -> cblock */

	struct node *ghosts;		/* arc, 2q */
	uint32_t nr_ghosts;		/* capacity */
	struct list glists[NR_GLISTS];
	uint32_t *gfree;
	uint32_t nr_gfree;
	struct index gmap;		/* oblock -> ghost index */

	uint32_t arc_p;			/* arc: target size of T1 */
	uint32_t kin, kout;		/* 2q */
	uint64_t rng;			/* random */

	/* The work of the last decision, handed out in order. */
	struct policy_work work[3];
	uint32_t nr_work, next_work, issued;
	struct policy_work now;		/* lookup_with_work's promotion */
	uint32_t pending;		/* blocks whose promotion is due */
};

static struct cmp *to_cmp(struct policy *p)
{
	return (struct cmp *)p;
}

/* ---- lists ---- */

static void list_del(struct node *ns, struct list *l, uint32_t i)
{
	struct node *n = &ns[i];

	if (n->prev != NONE)
		ns[n->prev].next = n->next;
	else
		l->head = n->next;
	if (n->next != NONE)
		ns[n->next].prev = n->prev;
	else
		l->tail = n->prev;
	l->nr--;
}

static void list_add_tail(struct node *ns, struct list *l, uint32_t i)
{
	struct node *n = &ns[i];

	n->prev = l->tail;
	n->next = NONE;
	if (l->tail != NONE)
		ns[l->tail].next = i;
	else
		l->head = i;
	l->tail = i;
	l->nr++;
}

static void list_init(struct list *l)
{
	l->head = l->tail = NONE;
	l->nr = 0;
}

/* ---- the index ---- */

/*
 * Buckets for up to n entries: at least 4n, so that a miss, which finds
 * nothing, reads a chain entry only one time in four (4 bytes a bucket:
 * still half of what u64map took per entry; 2n was some 3 % slower).
 */
static int index_init(struct index *x, uint32_t n)
{
	uint64_t buckets = 64;

	while (buckets < 4 * (uint64_t)n)
		buckets *= 2;
	x->heads = malloc(buckets * sizeof(*x->heads));
	if (!x->heads)
		return -ENOMEM;
	memset(x->heads, 0xff, buckets * sizeof(*x->heads));	/* NONE */
	x->shift = 64 - (unsigned)__builtin_ctzll(buckets);
	x->count = 0;
	return 0;
}

/* Fibonacci hashing: the top bits mix the dense runs of block numbers. */
static uint32_t *bucket(const struct index *x, uint64_t oblock)
{
	return &x->heads[(oblock * 0x9E3779B97F4A7C15ull) >> x->shift];
}

/* The entry holding oblock, or NONE. */
static uint32_t index_find(const struct index *x, const struct node *ns,
			   uint64_t oblock)
{
	uint32_t i = *bucket(x, oblock);

	while (i != NONE && ns[i].oblock != oblock)
		i = ns[i].hnext;
	return i;
}

/* Entry i, holding an origin block not in the index yet. */
static void index_add(struct index *x, struct node *ns, uint32_t i)
{
	uint32_t *b = bucket(x, ns[i].oblock);

	ns[i].hnext = *b;
	*b = i;
	x->count++;
}

/* Entry i, which is in the index. */
static void index_del(struct index *x, struct node *ns, uint32_t i)
{
	uint32_t *link = bucket(x, ns[i].oblock);

	while (*link != i)
		link = &ns[*link].hnext;
	*link = ns[i].hnext;
	x->count--;
}

/* ---- cache blocks ---- */

static void free_push(struct cmp *c, uint32_t cb)
{
	c->nodes[cb].list = L_FREE;
	c->free_pos[cb] = c->nr_free;
	c->free_stack[c->nr_free++] = cb;
}

static void free_take(struct cmp *c, uint32_t cb)
{
	uint32_t pos = c->free_pos[cb], last = c->free_stack[--c->nr_free];

	c->free_stack[pos] = last;
	c->free_pos[last] = pos;
}

/* Takes cb out of its list and the map; it keeps its oblock. */
static void unmap(struct cmp *c, uint32_t cb)
{
	struct node *n = &c->nodes[cb];

	list_del(c->nodes, &c->lists[n->list], cb);
	index_del(&c->map, c->nodes, cb);
}

/* ---- ghosts ---- */

static void ghost_del(struct cmp *c, uint32_t g)
{
	struct node *n = &c->ghosts[g];

	list_del(c->ghosts, &c->glists[n->list], g);
	index_del(&c->gmap, c->ghosts, g);
	n->list = G_FREE;
	c->gfree[c->nr_gfree++] = g;
}

static void ghost_drop_oldest(struct cmp *c, unsigned gl)
{
	if (c->glists[gl].nr)
		ghost_del(c, c->glists[gl].head);
}

/* Remembers oblock (neither cached nor a ghost) at the new end of ghost
 * list gl. */
static void ghost_add(struct cmp *c, unsigned gl, uint64_t oblock)
{
	uint32_t g;

	if (!c->nr_gfree)	/* only after invalidations: make room */
		ghost_drop_oldest(c, c->glists[G_B1].nr ? G_B1 : G_B2);
	g = c->gfree[--c->nr_gfree];
	c->ghosts[g].oblock = oblock;
	c->ghosts[g].list = (uint8_t)gl;
	list_add_tail(c->ghosts, &c->glists[gl], g);
	index_add(&c->gmap, c->ghosts, g);
}

/* ---- the algorithms ---- */

static void on_hit(struct cmp *c, uint32_t cb)
{
	struct node *n = &c->nodes[cb];

	switch (c->kind) {
	case K_LRU:
		list_del(c->nodes, &c->lists[L_MAIN], cb);
		list_add_tail(c->nodes, &c->lists[L_MAIN], cb);
		break;
	case K_ARC:
		list_del(c->nodes, &c->lists[n->list], cb);
		n->list = L_T2;
		list_add_tail(c->nodes, &c->lists[L_T2], cb);
		break;
	case K_2Q:
		if (n->list == L_AM) {
			list_del(c->nodes, &c->lists[L_AM], cb);
			list_add_tail(c->nodes, &c->lists[L_AM], cb);
		}
		break;
	case K_FIFO:
	case K_RANDOM:
		break;
	}
}

static uint64_t next_random(struct cmp *c)
{
	/* xorshift64* */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545F4914F6CDD1Dull;
}

/* ARC's REPLACE: the victim's list; it moves to the ghost list after. */
static unsigned arc_victim_list(struct cmp *c, bool in_b2)
{
	uint32_t t1 = c->lists[L_T1].nr;

	if (t1 >= 1 && ((in_b2 && t1 == c->arc_p) || t1 > c->arc_p))
		return L_T1;
	return c->lists[L_T2].nr ? L_T2 : L_T1;
}

/*
 * Decides a miss on oblock: which list it joins and which cache block it
 * takes; *victim is that block when it must be emptied first (NONE when
 * a free block serves).  Ghost state and arc's p change here.
 */
static int decide(struct cmp *c, uint64_t oblock, unsigned *into,
		  uint32_t *victim)
{
	bool full = c->nr_free == 0, ghost_hit = false;
	uint32_t cb = NONE, g;
	unsigned vl = L_MAIN, ghost_to = G_FREE;

	*into = L_MAIN;
	switch (c->kind) {
	case K_LRU:
	case K_FIFO:
		if (full)
			cb = c->lists[L_MAIN].head;
		break;
	case K_RANDOM:
		if (full)
			cb = (uint32_t)(next_random(c) % c->cache_blocks);
		break;
	case K_ARC: {
		uint32_t b1 = c->glists[G_B1].nr, b2 = c->glists[G_B2].nr;
		uint32_t t1 = c->lists[L_T1].nr, t2 = c->lists[L_T2].nr;
		bool in_b2 = false;

		g = index_find(&c->gmap, c->ghosts, oblock);
		if (g != NONE) {
			uint32_t d;

			in_b2 = c->ghosts[g].list == G_B2;
			if (!in_b2) {	/* case II */
				d = b1 >= b2 ? 1 : b2 / b1;
				c->arc_p += d;
				if (c->arc_p > c->cache_blocks)
					c->arc_p = c->cache_blocks;
			} else {	/* case III */
				d = b2 >= b1 ? 1 : b1 / b2;
				c->arc_p = c->arc_p > d ? c->arc_p - d : 0;
			}
			ghost_del(c, g);
			*into = L_T2;
			if (full) {
				vl = arc_victim_list(c, in_b2);
				ghost_to = vl == L_T1 ? G_B1 : G_B2;
			}
		} else if (t1 + b1 == c->cache_blocks) {	/* case IV a */
			if (t1 < c->cache_blocks) {
				ghost_drop_oldest(c, G_B1);
				if (full) {
					vl = arc_victim_list(c, false);
					ghost_to = vl == L_T1 ? G_B1 : G_B2;
				}
			} else {
				vl = L_T1;	/* forgotten */
			}
		} else if (t1 + t2 + b1 + b2 >= c->cache_blocks) { /* IV b */
			if (t1 + t2 + b1 + b2 == 2 * c->cache_blocks)
				ghost_drop_oldest(c, G_B2);
			if (full) {
				vl = arc_victim_list(c, false);
				ghost_to = vl == L_T1 ? G_B1 : G_B2;
			}
		}
		if (full)
			cb = c->lists[vl].head;
		break;
	}
	case K_2Q:
		/* Found in A1out, it stays there while its slot is reclaimed
		 * (which may drop the oldest ghost), as the paper orders it. */
		if (index_find(&c->gmap, c->ghosts, oblock) != NONE) {
			ghost_hit = true;
			*into = L_AM;
		} else {
			*into = L_A1IN;
		}
		if (full) {
			if ((c->lists[L_A1IN].nr > c->kin ||
			     !c->lists[L_AM].nr)) {
				vl = L_A1IN;
				ghost_to = G_A1OUT;
			} else {
				vl = L_AM;
			}
			cb = c->lists[vl].head;
		}
		break;
	}
	if (full && cb == NONE)
		return -ENOSPC;	/* cannot happen: a full cache has blocks */
	*victim = cb;
	if (cb != NONE) {
		uint64_t old = c->nodes[cb].oblock;

		unmap(c, cb);
		if (ghost_to != G_FREE) {
			if (c->kind == K_2Q &&
			    c->glists[G_A1OUT].nr >= c->kout)
				ghost_drop_oldest(c, G_A1OUT);
			ghost_add(c, ghost_to, old);
		}
	}
	if (ghost_hit) {
		/* Reclaiming the slot may have dropped it already. */
		g = index_find(&c->gmap, c->ghosts, oblock);
		if (g != NONE)
			ghost_del(c, g);
	}
	return 0;
}

/* The missed block into cache block cb, pending, at the end of list. */
static void place(struct cmp *c, uint64_t oblock, uint32_t cb, unsigned list)
{
	struct node *n = &c->nodes[cb];

	n->oblock = oblock;
	n->list = (uint8_t)list;
	n->dirty = false;
	n->pending = true;
	list_add_tail(c->nodes, &c->lists[list], cb);
	c->pending++;
	index_add(&c->map, c->nodes, cb);
}

static bool busy(const struct cmp *c)
{
	return c->next_work < c->nr_work || c->issued || c->pending;
}

/*
 * A miss: decides and queues its work; with now, a promotion into a free
 * block comes back in *now instead, issued.  Returns 1 when work was
 * queued, 0 when nothing was done, or -ENOMEM.
 */
static int miss(struct cmp *c, uint64_t oblock, struct policy_work **now)
{
	uint32_t victim, cb;
	unsigned into;
	int r;

	if (busy(c) || !c->migrations_allowed)
		return 0;
	r = decide(c, oblock, &into, &victim);
	if (r < 0)
		return r;
	c->nr_work = c->next_work = 0;
	if (victim == NONE) {
		cb = c->free_stack[c->nr_free - 1];
		free_take(c, cb);
	} else {
		struct node *v = &c->nodes[victim];

		cb = victim;
		if (v->dirty)
			c->work[c->nr_work++] = (struct policy_work){
				POLICY_WRITEBACK, v->oblock, cb };
		c->work[c->nr_work++] = (struct policy_work){
			POLICY_DEMOTE, v->oblock, cb };
	}
	place(c, oblock, cb, into);
	if (now && victim == NONE) {
		c->now = (struct policy_work){ POLICY_PROMOTE, oblock, cb };
		c->issued++;
		*now = &c->now;
		return 0;
	}
	c->work[c->nr_work++] = (struct policy_work){ POLICY_PROMOTE, oblock,
						      cb };
	return 1;
}

/* ---- the interface ---- */

static int cmp_lookup(struct policy *p, uint64_t oblock, uint32_t *cblock,
		      bool write, bool fast_copy, bool *background_queued)
{
	struct cmp *c = to_cmp(p);
	uint32_t v = index_find(&c->map, c->nodes, oblock);
	int r;

	(void)write;
	(void)fast_copy;
	*background_queued = false;
	if (v != NONE) {
		if (c->nodes[v].pending)
			return -ENOENT;
		on_hit(c, v);
		*cblock = v;
		return 0;
	}
	r = miss(c, oblock, NULL);
	if (r < 0)
		return r;
	*background_queued = r == 1;
	return -ENOENT;
}

static int cmp_lookup_with_work(struct policy *p, uint64_t oblock,
				uint32_t *cblock, bool write, bool fast_copy,
				struct policy_work **work)
{
	struct cmp *c = to_cmp(p);
	uint32_t v = index_find(&c->map, c->nodes, oblock);
	int r;

	(void)write;
	(void)fast_copy;
	*work = NULL;
	if (v != NONE) {
		if (c->nodes[v].pending)
			return -ENOENT;
		on_hit(c, v);
		*cblock = v;
		return 0;
	}
	r = miss(c, oblock, work);
	return r < 0 ? r : -ENOENT;
}

static int cmp_get_background_work(struct policy *p, bool idle,
				   struct policy_work **work)
{
	struct cmp *c = to_cmp(p);

	(void)idle;
	if (c->next_work >= c->nr_work)
		return -ENODATA;
	*work = &c->work[c->next_work++];
	c->issued++;
	return 0;
}

static void cmp_complete_background_work(struct policy *p,
					 struct policy_work *w, bool success)
{
	struct cmp *c = to_cmp(p);

	c->issued--;
	if (w->op == POLICY_PROMOTE) {
		struct node *n = &c->nodes[w->cblock];

		c->pending--;
		n->pending = false;
		if (!success) {
			unmap(c, w->cblock);
			free_push(c, w->cblock);
		}
	}
	if (!busy(c))
		c->nr_work = c->next_work = 0;
}

static void cmp_set_dirty(struct policy *p, uint32_t cblock)
{
	to_cmp(p)->nodes[cblock].dirty = true;
}

static void cmp_clear_dirty(struct policy *p, uint32_t cblock)
{
	to_cmp(p)->nodes[cblock].dirty = false;
}

static int cmp_load_mapping(struct policy *p, uint64_t oblock,
			    uint32_t cblock, bool dirty, uint32_t hint,
			    bool hint_valid)
{
	struct cmp *c = to_cmp(p);
	unsigned list = c->kind == K_2Q ? L_AM : L_MAIN;

	(void)hint;
	(void)hint_valid;
	if (cblock >= c->cache_blocks || c->nodes[cblock].list != L_FREE ||
	    index_find(&c->map, c->nodes, oblock) != NONE)
		return -EINVAL;
	free_take(c, cblock);
	place(c, oblock, cblock, list);
	c->pending--;
	c->nodes[cblock].pending = false;
	c->nodes[cblock].dirty = dirty;
	return 0;
}

static int cmp_invalidate_mapping(struct policy *p, uint32_t cblock)
{
	struct cmp *c = to_cmp(p);
	struct node *n;

	if (cblock >= c->cache_blocks)
		return -ENODATA;
	n = &c->nodes[cblock];
	if (n->list == L_FREE || n->pending)
		return -ENODATA;
	unmap(c, cblock);
	free_push(c, cblock);
	return 0;
}

static uint32_t cmp_get_hint(struct policy *p, uint32_t cblock)
{
	(void)p;
	(void)cblock;
	return 0;
}

static int cmp_peek(struct policy *p, uint64_t oblock, uint32_t *cblock)
{
	struct cmp *c = to_cmp(p);
	uint32_t v = index_find(&c->map, c->nodes, oblock);

	if (v == NONE || c->nodes[v].pending)
		return -ENOENT;
	*cblock = v;
	return 0;
}

static uint32_t cmp_residency(struct policy *p)
{
	struct cmp *c = to_cmp(p);

	return c->cache_blocks - c->nr_free - c->pending;
}

static void cmp_tick(struct policy *p, bool can_block)
{
	(void)p;
	(void)can_block;
}

static void cmp_allow_migrations(struct policy *p, bool allow)
{
	to_cmp(p)->migrations_allowed = allow;
}

static void cmp_destroy(struct policy *p)
{
	struct cmp *c = to_cmp(p);

	if (!c)
		return;
	free(c->nodes);
	free(c->free_stack);
	free(c->free_pos);
	free(c->ghosts);
	free(c->gfree);
	free(c->map.heads);
	free(c->gmap.heads);
	free(c);
}

static const struct policy_ops cmp_ops = {
	.destroy = cmp_destroy,
	.lookup = cmp_lookup,
	.lookup_with_work = cmp_lookup_with_work,
	.get_background_work = cmp_get_background_work,
	.complete_background_work = cmp_complete_background_work,
	.set_dirty = cmp_set_dirty,
	.clear_dirty = cmp_clear_dirty,
	.load_mapping = cmp_load_mapping,
	.invalidate_mapping = cmp_invalidate_mapping,
	.get_hint = cmp_get_hint,
	.peek = cmp_peek,
	.residency = cmp_residency,
	.tick = cmp_tick,
	.allow_migrations = cmp_allow_migrations,
};

static const struct {
	const char *name;
	enum kind kind;
} kinds[] = {
	{ "lru", K_LRU }, { "fifo", K_FIFO }, { "random", K_RANDOM },
	{ "arc", K_ARC }, { "2q", K_2Q },
};

/* The kind of name, and random's seed; 0 or -EINVAL. */
static int parse_name(const char *name, enum kind *kind, uint64_t *seed)
{
	*seed = 1;
	if (!strncmp(name, "random:", 7)) {
		const char *s = name + 7;
		char *end;

		if (*s < '0' || *s > '9')
			return -EINVAL;
		errno = 0;
		*seed = strtoull(s, &end, 10);
		if (*end || errno)
			return -EINVAL;
		*kind = K_RANDOM;
		return 0;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (!strcmp(name, kinds[i].name)) {
			*kind = kinds[i].kind;
			return 0;
		}
	}
	return -EINVAL;
}

bool cmp_policy_known(const char *name)
{
	enum kind k;
	uint64_t s;

	return parse_name(name, &k, &s) == 0;
}

int cmp_policy_create(const char *name, uint32_t cache_blocks,
		      const uint64_t *jiffies, struct policy **out)
{
	struct cmp *c;
	enum kind kind;
	uint64_t seed;
	uint32_t ng = 0;
	int r;

	(void)jiffies;
	*out = NULL;
	if (parse_name(name, &kind, &seed) < 0 || !cache_blocks ||
	    cache_blocks >= NONE - 1)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->p.ops = &cmp_ops;
	c->p.name = kinds[kind].name;
	c->p.version[0] = 1;
	c->p.wake_after_fast_miss = true;
	c->kind = kind;
	c->cache_blocks = cache_blocks;
	c->migrations_allowed = true;
	/* xorshift needs a non-zero state; mix the seed so 0 works. */
	c->rng = (seed ^ 0x9E3779B97F4A7C15ull) | 1;
	c->kin = cache_blocks / 4 ? cache_blocks / 4 : 1;
	c->kout = cache_blocks / 2 ? cache_blocks / 2 : 1;
	if (kind == K_ARC)
		ng = cache_blocks + 1;
	else if (kind == K_2Q)
		ng = c->kout + 1;
	c->nodes = calloc(cache_blocks, sizeof(*c->nodes));
	c->free_stack = malloc((size_t)cache_blocks * sizeof(uint32_t));
	c->free_pos = malloc((size_t)cache_blocks * sizeof(uint32_t));
	c->ghosts = ng ? calloc(ng, sizeof(*c->ghosts)) : NULL;
	c->gfree = ng ? malloc((size_t)ng * sizeof(uint32_t)) : NULL;
	r = c->nodes && c->free_stack && c->free_pos && (!ng || (c->ghosts &&
							       c->gfree)) ?
		    0 : -ENOMEM;
	if (r == 0)
		r = index_init(&c->map, cache_blocks);
	if (r == 0)
		r = index_init(&c->gmap, ng);
	if (r < 0) {
		cmp_destroy(&c->p);
		return r;
	}
	for (unsigned i = 0; i < NR_LISTS; i++)
		list_init(&c->lists[i]);
	for (unsigned i = 0; i < NR_GLISTS; i++)
		list_init(&c->glists[i]);
	/* Block 0 is handed out first. */
	for (uint32_t i = cache_blocks; i-- > 0;)
		free_push(c, i);
	c->nr_ghosts = ng;
	for (uint32_t i = ng; i-- > 0;)
		c->gfree[c->nr_gfree++] = i;
	*out = &c->p;
	return 0;
}

/* ---- checking ---- */

static int walk(const struct node *ns, const struct list *l, unsigned id,
		uint32_t cap, char *why, unsigned len)
{
	uint32_t n = 0, prev = NONE;

	for (uint32_t i = l->head; i != NONE; i = ns[i].next) {
		if (i >= cap || ns[i].list != id || ns[i].prev != prev ||
		    ++n > l->nr) {
			snprintf(why, len, "list %u broken at %u", id, i);
			return -EUCLEAN;
		}
		prev = i;
	}
	if (n != l->nr || l->tail != prev) {
		snprintf(why, len, "list %u holds %u, counted %u", id, n,
			 l->nr);
		return -EUCLEAN;
	}
	return 0;
}

int cmp_policy_check(struct policy *p, char *why, unsigned why_len)
{
	struct cmp *c = to_cmp(p);
	uint32_t resident = 0, ghosts = 0;

	for (unsigned l = L_MAIN; l < NR_LISTS; l++) {
		if (walk(c->nodes, &c->lists[l], l, c->cache_blocks, why,
			 why_len))
			return -EUCLEAN;
		resident += c->lists[l].nr;
	}
	for (unsigned l = G_B1; l < NR_GLISTS; l++) {
		if (walk(c->ghosts, &c->glists[l], l, c->nr_ghosts, why,
			 why_len))
			return -EUCLEAN;
		ghosts += c->glists[l].nr;
	}
	if (resident + c->nr_free != c->cache_blocks ||
	    c->map.count != resident || c->gmap.count != ghosts ||
	    ghosts + c->nr_gfree != c->nr_ghosts) {
		snprintf(why, why_len, "counts: %u resident, %u free, %u "
			 "mapped, %u ghosts, %u in the ghost map", resident,
			 c->nr_free, c->map.count, ghosts, c->gmap.count);
		return -EUCLEAN;
	}
	for (uint32_t i = 0; i < c->cache_blocks; i++) {
		const struct node *n = &c->nodes[i];

		if (n->list == L_FREE)
			continue;
		if (index_find(&c->map, c->nodes, n->oblock) != i ||
		    index_find(&c->gmap, c->ghosts, n->oblock) != NONE) {
			snprintf(why, why_len, "cache block %u: its origin "
				 "block is not mapped to it, or is a ghost", i);
			return -EUCLEAN;
		}
	}
	for (uint32_t g = 0; g < c->nr_ghosts; g++) {
		if (c->ghosts[g].list != G_FREE &&
		    index_find(&c->gmap, c->ghosts, c->ghosts[g].oblock) != g) {
			snprintf(why, why_len, "ghost %u: its origin block is "
				 "not mapped to it", g);
			return -EUCLEAN;
		}
	}
	if (c->kind == K_ARC &&
	    (c->lists[L_T1].nr + c->glists[G_B1].nr > c->cache_blocks ||
	     resident + ghosts > 2 * c->cache_blocks ||
	     c->arc_p > c->cache_blocks)) {
		snprintf(why, why_len, "arc: |T1|+|B1| %u, total %u, p %u",
			 c->lists[L_T1].nr + c->glists[G_B1].nr,
			 resident + ghosts, c->arc_p);
		return -EUCLEAN;
	}
	if (c->kind == K_2Q && c->glists[G_A1OUT].nr > c->kout) {
		snprintf(why, why_len, "2q: A1out holds %u > Kout %u",
			 c->glists[G_A1OUT].nr, c->kout);
		return -EUCLEAN;
	}
	return 0;
}
