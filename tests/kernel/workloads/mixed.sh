# SPDX-License-Identifier: GPL-3.0-or-later
# Sourced by the guest's /init (busybox sh) with the lab_* helpers.
# The experiment-a workload of the kernel lab: dirty, clean and discarded
# blocks on a cache of 32 KiB blocks.  With "migration_threshold 0" nothing
# is written back, so the dirty set is what is written here: oblocks 0..599
# (whole-block O_DIRECT writes, promoted and dirty), 2000 and 2001 (write
# hits on blocks promoted clean by the reads of 2000..2199), and sometimes
# 3000..3009 (buffered half-block writes: smq promotes them or not depending
# on timing; with 1 vCPU usually not).
lab_write dirtyA 0 600 direct
lab_status after-writes
# smq promotes on reads only after its 1 s hotspot period, hence the sleeps
for i in 1 2 3; do lab_read 2000 200 direct; sleep 1.1; done
lab_status after-reads
lab_write hitB 2000 2 direct
dd if=/dev/zero of="$LAB_DEV" bs=$((LAB_BLOCK_BYTES / 2)) seek=$((3000 * 2)) count=20 conv=notrunc,fsync 2>/dev/null
lab_discard 5000 100
sync
lab_status end-of-workload
