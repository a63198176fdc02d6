# SPDX-License-Identifier: GPL-3.0-or-later
# Scenario 2 (sourced by the guest's /init).  Dirty blocks, a commit, then
# more writes still in flight when the machine powers off with the device
# active: no clean shutdown, and the metadata is whatever the kernel last
# committed.  The data of the second batch is made first (awk is slow under
# emulation), then written 20 blocks at a time with pauses, so that the
# writes are still under way at the power-off however fast the machine.
lab_write s2a 0 200 direct
sync
sleep 1.5
lab_status committed
lab_gen s2b 1000 800 > /tmp/s2b
(
	i=0
	while [ $i -lt 800 ]; do
		dd if=/tmp/s2b of="$LAB_DEV" bs=$LAB_BLOCK_BYTES skip=$i seek=$((1000 + i)) count=20 conv=notrunc oflag=direct 2>/dev/null
		i=$((i + 20))
		sleep 0.1
	done
) &
sleep 1
lab_status mid-write
lab_crash
