// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Packing and unpacking the 32-byte space-map root that superblocks embed.
 */
#include "pdata/sm.h"

void pd_sm_root_unpack(const struct pd_sm_root *disk, struct pd_sm_root_cpu *cpu)
{
	cpu->nr_blocks = le64_to_cpu(disk->nr_blocks);
	cpu->nr_allocated = le64_to_cpu(disk->nr_allocated);
	cpu->bitmap_root = le64_to_cpu(disk->bitmap_root);
	cpu->ref_count_root = le64_to_cpu(disk->ref_count_root);
}

void pd_sm_root_pack(const struct pd_sm_root_cpu *cpu, struct pd_sm_root *disk)
{
	disk->nr_blocks = cpu_to_le64(cpu->nr_blocks);
	disk->nr_allocated = cpu_to_le64(cpu->nr_allocated);
	disk->bitmap_root = cpu_to_le64(cpu->bitmap_root);
	disk->ref_count_root = cpu_to_le64(cpu->ref_count_root);
}
