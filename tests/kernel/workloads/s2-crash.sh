# SPDX-License-Identifier: GPL-3.0-or-later
# Scenario 2 (sourced by the guest's /init).  Dirty blocks, a commit, then
# more writes still in flight when the machine powers off with the device
# active: no clean shutdown, and the metadata is whatever the kernel last
# committed.  The data of the second batch is made first (awk is slow under
# emulation) so that the writes really are under way at the power-off.
lab_write s2a 0 200 direct
sync
sleep 1.5
lab_status committed
lab_gen s2b 1000 800 > /tmp/s2b
dd if=/tmp/s2b of="$LAB_DEV" bs=$LAB_BLOCK_BYTES seek=1000 count=800 conv=notrunc oflag=direct 2>/dev/null &
sleep 0.4
lab_status mid-write
lab_crash
