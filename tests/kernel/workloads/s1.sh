# SPDX-License-Identifier: GPL-3.0-or-later
# Scenario 1 (sourced by the guest's /init).  Only whole-block O_DIRECT I/O,
# so that the dirty set is exact with "migration_threshold 0": oblocks
# 0..599 are written (promoted at once and dirty; more than the 509 entries
# of one mapping array block), 1000..1099 are read three times (promoted
# clean once smq's 1 s hotspot period has passed; how many varies a little),
# 1000 and 1001 are then written (dirty), and discard blocks 5000..5099 are
# discarded.  Dirty set: {0..599, 1000, 1001}.
lab_write s1dirty 0 600 direct
for i in 1 2 3; do lab_read 1000 100 direct; sleep 1.1; done
lab_write s1hit 1000 2 direct
lab_discard 5000 100
sync
lab_status end-of-workload
