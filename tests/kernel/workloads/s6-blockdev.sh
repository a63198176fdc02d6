# SPDX-License-Identifier: GPL-3.0-or-later
# Scenario 6 (sourced by the guest's /init, booted with -n, our static tools
# in /usr/sbin, /cfg/s6.xml and a fifth disk "spare"): our tools on the
# guest's virtio block devices, next to the kernel.
#
#   1. cache_restore writes the metadata device; the kernel loads it
#   2. with the cache active, every tool that opens one of its devices
#      (metadata, origin, fast) must be refused: O_EXCL fails with EBUSY
#      while dm-cache holds them
#   3. after the clean removal: cache_check and cache_dump of the device and
#      of a byte copy of it in tmpfs (the device goes through libaio, the
#      file through pread)
#   4. cache_writeback copies the dirty blocks (O_DIRECT on the devices);
#      the kernel loads the result
#   5. cache_repair writes the spare disk; the kernel loads that
#
# The guest only runs things and prints; the host asserts (run.sh s6).
# Per command TAG: LAB-S6-OUT[TAG]: and LAB-S6-ERR[TAG]: lines (its stdout
# and stderr), then LAB-S6-RC[TAG]: its exit status.

case " $LAB_FEATURES " in *" metadata2 "*) S6_V=2 ;; *) S6_V=1 ;; esac
SPARE=$(lab_disk spare) || exit 10
echo "LAB-S6-DISKS: meta=$META cache=$CACHE origin=$ORIGIN spare=$SPARE"

s6_run() {
    _tag=$1
    shift
    "$@" >/tmp/s6.out 2>/tmp/s6.err
    _rc=$?
    sed "s/^/LAB-S6-OUT[$_tag]: /" /tmp/s6.out
    sed "s/^/LAB-S6-ERR[$_tag]: /" /tmp/s6.err
    echo "LAB-S6-RC[$_tag]: $_rc"
    return $_rc
}

# 1. restore onto the block device, and the kernel loads it
s6_run restore cache_restore -i /cfg/s6.xml -o "$META" --metadata-version $S6_V || exit 11
# (a byte copy for step 2, read without O_EXCL as anyone may, while the
# metadata is still marked clean)
dd if="$META" of=/tmp/meta.copy bs=1M 2>/dev/null
lab_create || exit 2
lab_status loaded

# 2. the active cache's devices are refused.  The other arguments get
# stand-ins that are not busy, so that each attempt has exactly one busy
# device: the metadata copied above, sparse files the size of the others.
s6_sparse() { dd if=/dev/zero of="$1" bs=512 seek=$(($(blockdev --getsz "$2") - 1)) count=1 2>/dev/null; }
s6_sparse /tmp/cache.copy "$CACHE"
s6_sparse /tmp/origin.copy "$ORIGIN"
s6_sparse /tmp/out.meta "$META"
s6_run busy-check cache_check "$META"
s6_run busy-check-clear cache_check --clear-needs-check-flag "$META"
s6_run busy-dump cache_dump "$META"
s6_run busy-restore cache_restore -i /cfg/s6.xml -o "$META" --metadata-version $S6_V
s6_run busy-repair-in cache_repair -i "$META" -o /tmp/out.meta
s6_run busy-repair-out cache_repair -i /tmp/meta.copy -o "$META"
s6_run busy-writeback-meta cache_writeback --metadata-device "$META" \
    --origin-device /tmp/origin.copy --fast-device /tmp/cache.copy
s6_run busy-writeback-origin cache_writeback --metadata-device /tmp/meta.copy \
    --origin-device "$ORIGIN" --fast-device /tmp/cache.copy
s6_run busy-writeback-fast cache_writeback --metadata-device /tmp/meta.copy \
    --origin-device /tmp/origin.copy --fast-device "$CACHE"
rm -f /tmp/meta.copy /tmp/cache.copy /tmp/origin.copy /tmp/out.meta
lab_status after-busy
lab_remove || exit 3

# 3. a device reads exactly as a byte copy of it
dd if="$META" of=/tmp/meta.img bs=1M 2>/dev/null
s6_run check-dev cache_check "$META"
s6_run check-file cache_check /tmp/meta.img
s6_run dump-dev cache_dump "$META"
s6_run dump-file cache_dump /tmp/meta.img
rm -f /tmp/meta.img

# 4. writeback on the three devices; the kernel loads the result
s6_run writeback cache_writeback --metadata-device "$META" \
    --origin-device "$ORIGIN" --fast-device "$CACHE"
s6_run dump-wb cache_dump "$META"
lab_create || exit 4
lab_status after-writeback
lab_remove || exit 5

# 5. repair onto the spare disk; the kernel loads it as its metadata device
s6_run repair cache_repair -i "$META" -o "$SPARE" || exit 12
META=$SPARE
lab_create || exit 6
lab_status repaired
lab_remove || exit 7
s6_run check-repaired cache_check "$SPARE"
s6_run dump-repaired cache_dump "$SPARE"
exit 0
