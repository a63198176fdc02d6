/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The native trace format's header and record (layout in trace.h), shared
 * by the reader and the writer.  Private to engine/trace_*.c.
 */
#ifndef ENGINE_TRACE_NATIVE_H
#define ENGINE_TRACE_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#include "base/endian.h"

#define TRACE_NATIVE_MAGIC "DMCTRACE"
#define TRACE_NATIVE_VERSION 1u

struct trace_native_header {
	char magic[8];
	le32 version;
	le32 record_size;
	le64 nr_records;
	le64 reserved;
} __attribute__((packed));

struct trace_native_record {
	le64 time_ns;
	le64 offset;
	le32 len;
	uint8_t op;
	uint8_t flags;
	le16 reserved;
	le64 done_ns;
} __attribute__((packed));

_Static_assert(sizeof(struct trace_native_header) == 32, "native header");
_Static_assert(sizeof(struct trace_native_record) == 32, "native record");
_Static_assert(offsetof(struct trace_native_header, nr_records) == 16,
	       "native header layout");
_Static_assert(offsetof(struct trace_native_record, op) == 20,
	       "native record layout");
_Static_assert(offsetof(struct trace_native_record, done_ns) == 24,
	       "native record layout");

#endif
