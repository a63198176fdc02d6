# SPDX-License-Identifier: GPL-3.0-or-later
# Sourced by the guest's /init.  Dirty and clean blocks under smq, then the
# cleaner policy (suspend, reload, resume, as lvconvert does) until nothing
# is dirty; the clean removal follows.
lab_write cleanA 0 400 direct
for i in 1 2 3; do lab_read 1000 100 direct; sleep 1.1; done
lab_write cleanB 1000 10 direct
sync
lab_status before-cleaner
lab_reload cleaner
lab_wait_clean 120
lab_status cleaned
