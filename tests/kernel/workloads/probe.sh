# SPDX-License-Identifier: GPL-3.0-or-later
# Scenario 5 (sourced by the guest's /init; the lab's experiment-c probe):
# the device was created, so the damage was not noticed at load.  Look,
# read through it, write one block (an allocation and a commit), then the
# clean removal.
lab_status probe
lab_show 0
lab_show 1
lab_read 0 8 direct
lab_write probe 7000 1 direct
sync
lab_status after-io
