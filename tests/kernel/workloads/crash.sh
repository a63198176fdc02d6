# SPDX-License-Identifier: GPL-3.0-or-later
# Sourced by the guest's /init.  Dirty and clean blocks, then a power-off with
# the device still active: no clean shutdown.  The sync and the pause let the
# kernel commit (it commits on flush and about once a second), so the
# mappings on disk are the ones the status line before the crash counts.
lab_write crashA 0 300 direct
for i in 1 2 3; do lab_read 1000 50 direct; sleep 1.1; done
lab_write crashB 1000 5 direct
sync
sleep 2
lab_status before-crash
lab_crash
