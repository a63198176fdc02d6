// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The thin grammar (xml_read_thin, xml/reader.h) on the shared core
 * (xml/core.h): parses the XML that thin_dump 0.9.0 and ours write and
 * drives a thin emitter (thin/emit.h) with it.
 *
 *	[<?xml ...?>] [comments]
 *	<superblock [uuid=""] time="T" transaction="X" [flags="F"]
 *		    [version="V"] data_block_size="B" nr_data_blocks="N">
 *	  <device dev_id="D" mapped_blocks="M" transaction="X"
 *		  creation_time="C" snap_time="S">
 *	    <range_mapping origin_begin="O" data_begin="B" length="L"
 *			   time="T"/>
 *	    <single_mapping origin_block="O" data_block="B" time="T"/>
 *	  </device>*
 *	</superblock>
 *
 * and the newer tools' shared leaves: <def name="N"> holding mappings,
 * right under <superblock> before the devices that use it, and <ref
 * name="N"/> among a device's mappings, which stands for the def's
 * mappings there.  The reader keeps each def's runs (so memory grows with
 * what the defs hold) and emits them at every ref: the consumer sees
 * plain mappings.  A def named twice, or a ref to no def, is refused.
 *
 * flags and version may be left out (the newer tools leave out flags="0";
 * version then is 2); uuid's value is not used (the superblock's is zero),
 * nor is metadata_snap (the newer tools' held root: a restore writes no
 * metadata snapshot).
 * Ranges: time, flags, version, data_block_size, creation_time and
 * snap_time fit 32 bits; dev_id 24 bits (the kernel's MAX_DEV_ID); a
 * mapping's time 24 bits and its data blocks 40 bits (the packed value);
 * length at least 1.  Whether the blocks and ids make sense together
 * (data blocks inside nr_data_blocks, no device twice, no overlaps) is
 * the consumer's to check (thin/restore.c), and its refusal comes back
 * as an in_callback error at the element.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "thin/format.h"
#include "xml/core.h"
#include "xml/reader.h"

enum where { W_TOP, W_SB, W_DEV, W_DEF, W_LEAF, W_END };

struct run {
	uint64_t v, d, len;
	uint32_t time;
};

struct def {
	char *name;
	struct run *runs;
	size_t nr, cap;
};

struct thin_reader {
	struct xml_core c;	/* first: the core's handlers cast to it */
	const struct thin_emitter *e;
	enum where where;
	enum where leaf_parent;		/* where to return after a leaf */
	const char *leaf;

	/* <def>s: an array, and an open-addressing index of it by name. */
	struct def *defs;
	size_t nr_defs, cap_defs;
	uint32_t *index;		/* def number + 1, 0 = empty */
	size_t index_size;		/* a power of two, > 2 * nr_defs */
};

static const char *const where_name[] = {
	[W_TOP] = "at the top level",
	[W_SB] = "inside <superblock>",
	[W_DEV] = "inside <device>",
	[W_DEF] = "inside <def>",
	[W_LEAF] = "inside a mapping",
	[W_END] = "after </superblock>",
};

static const char *where_of(void *ctx)
{
	return where_name[((struct thin_reader *)ctx)->where];
}

static const struct xml_attr_spec sb_attrs = {
	"superblock", 8, (1u << 0) | (1u << 3) | (1u << 4) | (1u << 7),
	{ "uuid", "time", "transaction", "flags", "version",
	  "data_block_size", "nr_data_blocks", "metadata_snap" },
};
static const struct xml_attr_spec def_attrs = { "def", 1, 0, { "name" } };
static const struct xml_attr_spec ref_attrs = { "ref", 1, 0, { "name" } };
static const struct xml_attr_spec dev_attrs = {
	"device", 5, 0,
	{ "dev_id", "mapped_blocks", "transaction", "creation_time",
	  "snap_time" },
};
static const struct xml_attr_spec range_attrs = {
	"range_mapping", 4, 0,
	{ "origin_begin", "data_begin", "length", "time" },
};
static const struct xml_attr_spec single_attrs = {
	"single_mapping", 3, 0, { "origin_block", "data_block", "time" },
};

#define THIN_MAX_DEV_ID ((1ull << 24) - 1)

/* ---- <def> storage ---- */

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The slot of name in the index: its def's, or the empty one to take. */
static size_t slot_of(const struct thin_reader *rd, const char *name)
{
	size_t mask = rd->index_size - 1, i = (size_t)name_hash(name) & mask;

	while (rd->index[i] && strcmp(rd->defs[rd->index[i] - 1].name, name))
		i = (i + 1) & mask;
	return i;
}

static const struct def *find_def(const struct thin_reader *rd,
				  const char *name)
{
	size_t i;

	if (!rd->index_size)
		return NULL;
	i = slot_of(rd, name);
	return rd->index[i] ? &rd->defs[rd->index[i] - 1] : NULL;
}

static int grow_index(struct thin_reader *rd)
{
	size_t size = rd->index_size ? 2 * rd->index_size : 64;
	uint32_t *old = rd->index;

	rd->index = calloc(size, sizeof(*rd->index));
	if (!rd->index) {
		rd->index = old;
		return -ENOMEM;
	}
	rd->index_size = size;
	for (size_t k = 0; k < rd->nr_defs; k++)
		rd->index[slot_of(rd, rd->defs[k].name)] = (uint32_t)k + 1;
	free(old);
	return 0;
}

/* A new def named name: 0, 1 when the name is taken, or -ENOMEM. */
static int add_def(struct thin_reader *rd, const char *name)
{
	struct def *d;

	if (find_def(rd, name))
		return 1;
	if (rd->nr_defs >= UINT32_MAX - 1)
		return -ENOMEM;
	if (2 * (rd->nr_defs + 1) >= rd->index_size && grow_index(rd) < 0)
		return -ENOMEM;
	if (BASE_GROW(rd->defs, rd->cap_defs, rd->nr_defs + 1, 16) < 0)
		return -ENOMEM;
	d = &rd->defs[rd->nr_defs];
	memset(d, 0, sizeof(*d));
	d->name = strdup(name);
	if (!d->name)
		return -ENOMEM;
	rd->index[slot_of(rd, name)] = (uint32_t)++rd->nr_defs;
	return 0;
}

static int def_add_run(struct def *d, const struct run *r)
{
	if (BASE_GROW(d->runs, d->cap, d->nr + 1, 16) < 0)
		return -ENOMEM;
	d->runs[d->nr++] = *r;
	return 0;
}

static void free_defs(struct thin_reader *rd)
{
	for (size_t k = 0; k < rd->nr_defs; k++) {
		free(rd->defs[k].name);
		free(rd->defs[k].runs);
	}
	free(rd->defs);
	free(rd->index);
}

static void start_superblock(struct thin_reader *rd, const XML_Char **atts)
{
	struct xml_core *c = &rd->c;
	struct thin_emit_sb sb = { 0 };
	const char *v[8];
	uint64_t x;

	if (xml_core_attrs(c, &sb_attrs, atts, v) < 0 ||
	    xml_core_u64(c, "superblock", "time", v[1], UINT32_MAX,
			 &sb.time) < 0 ||
	    xml_core_u64(c, "superblock", "transaction", v[2], UINT64_MAX,
			 &sb.trans_id) < 0)
		return;
	x = 0;
	if (v[3] && xml_core_u64(c, "superblock", "flags", v[3], UINT32_MAX,
				 &x) < 0)
		return;
	sb.flags = (uint32_t)x;
	x = THIN_VERSION;
	if (v[4] && xml_core_u64(c, "superblock", "version", v[4], UINT32_MAX,
				 &x) < 0)
		return;
	sb.version = (uint32_t)x;
	if (xml_core_u64(c, "superblock", "data_block_size", v[5], UINT32_MAX,
			 &x) < 0 ||
	    xml_core_u64(c, "superblock", "nr_data_blocks", v[6],
			 THIN_MAX_DATA_BLOCK + 1, &sb.nr_data_blocks) < 0)
		return;
	sb.data_block_size = (uint32_t)x;
	if (v[7] && xml_core_u64(c, "superblock", "metadata_snap", v[7],
				 UINT64_MAX, &x) < 0)
		return;
	rd->where = W_SB;
	if (rd->e->begin_superblock)
		xml_core_called(c, rd->e->begin_superblock(rd->e->ctx, &sb));
}

static void start_device(struct thin_reader *rd, const XML_Char **atts)
{
	struct xml_core *c = &rd->c;
	struct thin_emit_device d = { 0 };
	const char *v[5];
	uint64_t ct, st;

	if (xml_core_attrs(c, &dev_attrs, atts, v) < 0 ||
	    xml_core_u64(c, "device", "dev_id", v[0], THIN_MAX_DEV_ID,
			 &d.dev_id) < 0 ||
	    xml_core_u64(c, "device", "mapped_blocks", v[1], UINT64_MAX,
			 &d.details.mapped_blocks) < 0 ||
	    xml_core_u64(c, "device", "transaction", v[2], UINT64_MAX,
			 &d.details.transaction_id) < 0 ||
	    xml_core_u64(c, "device", "creation_time", v[3], UINT32_MAX,
			 &ct) < 0 ||
	    xml_core_u64(c, "device", "snap_time", v[4], UINT32_MAX, &st) < 0)
		return;
	d.details.creation_time = (uint32_t)ct;
	d.details.snapshotted_time = (uint32_t)st;
	rd->where = W_DEV;
	if (rd->e->begin_device)
		xml_core_called(c, rd->e->begin_device(rd->e->ctx, &d));
}

static void start_mapping(struct thin_reader *rd, const XML_Char **atts,
			  int range)
{
	struct xml_core *c = &rd->c;
	const struct xml_attr_spec *spec = range ? &range_attrs : &single_attrs;
	const char *el = spec->elem;
	const char *v[4];
	uint64_t o, d, len = 1, t;

	if (xml_core_attrs(c, spec, atts, v) < 0 ||
	    xml_core_u64(c, el, spec->names[0], v[0], UINT64_MAX, &o) < 0 ||
	    xml_core_u64(c, el, spec->names[1], v[1], THIN_MAX_DATA_BLOCK,
			 &d) < 0)
		return;
	if (range) {
		if (xml_core_u64(c, el, "length", v[2], UINT64_MAX, &len) < 0)
			return;
		if (!len) {
			xml_core_fail(c, "<range_mapping>: length 0 (a range "
				      "maps at least one block)");
			return;
		}
	}
	if (xml_core_u64(c, el, "time", v[range ? 3 : 2], THIN_TIME_MASK,
			 &t) < 0)
		return;
	rd->leaf_parent = rd->where;
	rd->where = W_LEAF;
	rd->leaf = el;
	if (rd->leaf_parent == W_DEF) {
		struct run run = { o, d, len, (uint32_t)t };

		if (def_add_run(&rd->defs[rd->nr_defs - 1], &run) < 0) {
			xml_core_fail(c, "out of memory");
			c->err->err = -ENOMEM;
		}
		return;
	}
	if (rd->e->mapping)
		xml_core_called(c, rd->e->mapping(rd->e->ctx, o, d, len,
						  (uint32_t)t));
}

static void start_def(struct thin_reader *rd, const XML_Char **atts)
{
	const char *v[1];
	int r;

	if (xml_core_attrs(&rd->c, &def_attrs, atts, v) < 0)
		return;
	r = add_def(rd, v[0]);
	if (r == 1) {
		xml_core_fail(&rd->c, "<def>: name \"%s\" is defined twice",
			      xml_quote(v[0]).s);
		return;
	}
	if (r < 0) {
		xml_core_fail(&rd->c, "out of memory");
		rd->c.err->err = -ENOMEM;
		return;
	}
	rd->where = W_DEF;
}

/* The def's mappings, emitted here as the device's own. */
static void start_ref(struct thin_reader *rd, const XML_Char **atts)
{
	const struct def *d;
	const char *v[1];

	if (xml_core_attrs(&rd->c, &ref_attrs, atts, v) < 0)
		return;
	d = find_def(rd, v[0]);
	if (!d) {
		xml_core_fail(&rd->c, "<ref>: no <def> named \"%s\" before it",
			      xml_quote(v[0]).s);
		return;
	}
	rd->leaf_parent = W_DEV;
	rd->where = W_LEAF;
	rd->leaf = "ref";
	for (size_t k = 0; k < d->nr && rd->e->mapping; k++) {
		const struct run *r = &d->runs[k];

		if (xml_core_called(&rd->c, rd->e->mapping(rd->e->ctx, r->v,
							   r->d, r->len,
							   r->time)))
			return;
	}
}

static void XMLCALL on_start(void *ctx, const XML_Char *name,
			     const XML_Char **atts)
{
	struct thin_reader *rd = ctx;
	enum where want;

	xml_core_mark(&rd->c);
	if (rd->c.failed)
		return;
	/* The mappings first: a million of them to one of anything else. */
	if (!strcmp(name, "single_mapping") || !strcmp(name, "range_mapping"))
		want = rd->where == W_DEF ? W_DEF : W_DEV;
	else if (!strcmp(name, "superblock"))
		want = W_TOP;
	else if (!strcmp(name, "device"))
		want = W_SB;
	else if (!strcmp(name, "def"))
		want = W_SB;
	else if (!strcmp(name, "ref"))
		want = W_DEV;
	else {
		xml_core_fail(&rd->c, "unknown element <%s>",
			      xml_quote(name).s);
		return;
	}
	if (rd->where != want) {
		if (rd->where == W_LEAF)
			xml_core_fail(&rd->c, "<%s> is not allowed inside <%s>",
				      name, rd->leaf);
		else
			xml_core_fail(&rd->c, "<%s> is not allowed %s", name,
				      where_name[rd->where]);
		return;
	}
	switch (want) {
	case W_TOP:
		start_superblock(rd, atts);
		break;
	case W_SB:
		if (!strcmp(name, "def"))
			start_def(rd, atts);
		else
			start_device(rd, atts);
		break;
	default:
		/* ref, range_mapping or single_mapping. */
		if (name[0] == 'r' && name[1] == 'e') {
			start_ref(rd, atts);
			break;
		}
		start_mapping(rd, atts, name[0] == 'r');
		break;
	}
}

static void XMLCALL on_end(void *ctx, const XML_Char *name)
{
	struct thin_reader *rd = ctx;
	const struct thin_emitter *e = rd->e;

	(void)name;	/* expat matched it with the start tag */
	xml_core_mark(&rd->c);
	if (rd->c.failed)
		return;
	switch (rd->where) {
	case W_LEAF:
		rd->where = rd->leaf_parent;
		break;
	case W_DEF:
		rd->where = W_SB;
		break;
	case W_DEV:
		rd->where = W_SB;
		if (e->end_device)
			xml_core_called(&rd->c, e->end_device(e->ctx));
		break;
	case W_SB:
		rd->where = W_END;
		if (e->end_superblock)
			xml_core_called(&rd->c, e->end_superblock(e->ctx));
		break;
	default:
		break;
	}
}

int xml_read_thin(int fd, const struct thin_emitter *e,
		  const struct xml_reader_opts *o,
		  struct xml_reader_error *err)
{
	struct thin_reader rd;
	int r;

	memset(err, 0, sizeof(*err));
	memset(&rd, 0, sizeof(rd));
	rd.e = e;
	rd.where = W_TOP;
	rd.c.what = "thin metadata XML";
	rd.c.where = where_of;
	if (xml_core_init(&rd.c, &rd, err, on_start, on_end) < 0) {
		err->err = -ENOMEM;
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return -ENOMEM;
	}
	r = xml_core_parse(&rd.c, fd, o);
	if (!r && rd.where != W_END) {
		/* expat reports an unfinished document itself; belt and braces */
		xml_core_set_place(&rd.c);
		err->err = r = -EINVAL;
		snprintf(err->msg, sizeof(err->msg), "no <superblock> element");
	}
	xml_core_release(&rd.c);
	free_defs(&rd);
	return r;
}
