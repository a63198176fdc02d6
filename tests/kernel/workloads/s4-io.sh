# SPDX-License-Identifier: GPL-3.0-or-later
# Scenario 4 (sourced by the guest's /init), on metadata written by our
# cache_repair: look, then write new blocks so that the kernel allocates
# metadata blocks and commits (a wrong space map shows up here), then the
# clean removal.
lab_status loaded
lab_write s4new 7000 4 direct
sync
lab_status after-io
