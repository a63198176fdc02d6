# SPDX-License-Identifier: GPL-3.0-or-later
# Scenario 2 (sourced by the guest's /init).  Dirty blocks, a commit, then
# more writes still in flight when the machine powers off with the device
# active: no clean shutdown, and the metadata is whatever the kernel last
# committed.
lab_write s2a 0 200 direct
sync
sleep 1.5
lab_status committed
lab_write s2b 1000 400 direct &
sleep 0.7
lab_status mid-write
lab_crash
