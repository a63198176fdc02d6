# SPDX-License-Identifier: GPL-3.0-or-later
# Scenario 3 (sourced by the guest's /init), on metadata written by our
# cache_restore: cblock 2i maps oblock 37i+5.  Read through the device
# (mapped clean, mapped dirty, unmapped), then switch to the cleaner policy
# the way lvconvert does and wait until nothing is dirty.
lab_status loaded
lab_show 5
lab_show 42
lab_show 6
lab_reload cleaner
lab_wait_clean 120
lab_status cleaned
