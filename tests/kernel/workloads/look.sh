# SPDX-License-Identifier: GPL-3.0-or-later
# Load the metadata and only look (no I/O); the clean removal follows.
lab_status loaded
