# SPDX-License-Identifier: GPL-3.0-or-later
# Scenario 7 (sourced by the guest's /init, booted with -n, kreplay in
# /usr/sbin, the trace in /cfg/s7.trace, a disk "log"): the trace replayed
# on the real dm-cache, so that the host can replay the same I/O, at the
# times it really happened, with cache_replay and compare.
#
# The device is created without a table and loaded; kreplay resumes it
# (where the kernel runs its first waker; time 0 of its log is the last
# jiffy before, HZ 250 in Debian's kernel), issues the trace's I/O with O_DIRECT one at a time at the
# trace's times, reads the status right after the last one and writes a
# native trace of what it did.  Then the clean removal (dirty bits and
# hints go to the metadata), and the log goes to the "log" disk, its
# length in LAB-S7-LOG.  With /cfg/s7.every (a number N), LAB-S7-AT lines
# show the status after every N I/Os.  The host asserts (run.sh s7).

LOGDEV=$(lab_disk log) || exit 10
dmsetup create "$LAB_DM_NAME" --notable || exit 2
_t=$(lab_table)
echo "LAB-TABLE: $_t"
dmsetup load "$LAB_DM_NAME" --table "$_t" || exit 2
_every=0
[ -f /cfg/s7.every ] && _every=$(cat /cfg/s7.every)
kreplay -e "$_every" -z 250 "$LAB_DM_NAME" /cfg/s7.trace /tmp/s7.log /tmp/s7.status 2>/tmp/s7.err
_rc=$?
sed 's/^/LAB-ERROR: kreplay: /' /tmp/s7.err
echo "LAB-S7-REPLAY: rc=$_rc"
[ $_rc = 0 ] || { dmsetup remove "$LAB_DM_NAME"; exit 11; }
# with /cfg/s7.every: the status after every that many I/Os, "N T: STATUS"
sed -n 's/^at /LAB-S7-AT: /p' /tmp/s7.status
_s=$(grep -v '^at ' /tmp/s7.status)
echo "LAB-STATUS[replayed]: $_s"
echo "$_s" | awk '{print "LAB-COUNTS[replayed]: md=" $5 " cached=" $7 \
    " rh=" $8 " rm=" $9 " wh=" $10 " wm=" $11 " demotions=" $12 " promotions=" $13 \
    " dirty=" $14 " mode/needs_check=" $(NF-1) "/" $NF}'
lab_remove || exit 3
dd if=/tmp/s7.log of="$LOGDEV" bs=4096 conv=notrunc,sync 2>/dev/null || exit 12
sync
echo "LAB-S7-LOG: bytes=$(wc -c < /tmp/s7.log)"
