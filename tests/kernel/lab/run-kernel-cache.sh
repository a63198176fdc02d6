#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Copied from shared/kernel-lab and adapted for tests/kernel (see tests/kernel/README.md).
# Boot the packaged Debian kernel under QEMU (TCG) with three raw images as a
# dm-cache device (metadata, cache, origin), run a workload script inside, tear
# the device down cleanly and power off.  See README.md.
set -euo pipefail

LAB=$(cd "$(dirname "$0")" && pwd)

usage() {
    cat <<'EOF'
usage: run-kernel-cache.sh [options] META CACHE ORIGIN WORKLOAD

  META CACHE ORIGIN  raw image files (metadata, cache, origin devices);
                     their sizes must be multiples of 512 bytes
  WORKLOAD           shell script sourced by the guest's /init (busybox sh)
                     with the lab_* helpers (see guest/init); "none" = empty

options:
  -b SECTORS   cache block size in 512-byte sectors (default 128)
  -m 1|2       metadata version; 2 adds the feature arg "metadata2" (default 1)
  -i MODE      io mode: writeback | writethrough | passthrough (default writeback)
  -p POLICY    policy: smq | mq | cleaner | default (default smq)
  -a ARGS      policy args, e.g. "migration_threshold 204800" (default none)
  -F FEATURE   extra feature arg, repeatable (e.g. no_discard_passdown)
  -n           do not create/remove the device around the workload
  -f FILE      also put FILE into the guest's /cfg, repeatable
  -x NAME=IMG  one more raw image as a disk with virtio serial NAME (the
               workload finds it with lab_disk NAME), repeatable
               (the workload calls lab_create / lab_remove itself)
  -t SECS      timeout for the whole VM run (default 600)
  -l LOG       serial log file (default out/logs/run-YYYYmmdd-HHMMSS.log)
  -c N         guest CPUs (default 1: the test machines have 2 cores)
  -M MB        guest memory in MiB (default 512)
  -q           print only the LAB-RESULT line
environment: KERNEL, INITRD override out/vmlinuz and out/initramfs.cpio.gz;
             LAB_APPEND adds kernel command-line words.
exit status: the guest's result (0 = workload and clean removal succeeded),
             124 = timeout, 125 = no result line (kernel oops/panic: the
             kernel runs with oops=panic and QEMU with -no-reboot), 2 = usage
EOF
}

BS=128 MDV=1 IOMODE=writeback POLICY=smq PARGS= EXTRA= AUTO=1 TIMEOUT=600
LOG= CPUS=1 MEM=512 QUIET=0 FILES=() DISKS=()
while getopts "b:m:i:p:a:F:nf:x:t:l:c:M:qh" o; do
    case $o in
    b) BS=$OPTARG;; m) MDV=$OPTARG;; i) IOMODE=$OPTARG;; p) POLICY=$OPTARG;;
    a) PARGS=$OPTARG;; F) EXTRA="$EXTRA $OPTARG";; n) AUTO=0;; t) TIMEOUT=$OPTARG;;
    f) FILES+=("$OPTARG");; x) DISKS+=("$OPTARG");;
    l) LOG=$OPTARG;; c) CPUS=$OPTARG;; M) MEM=$OPTARG;; q) QUIET=1;;
    h) usage; exit 0;; *) usage >&2; exit 2;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 4 ] || { usage >&2; exit 2; }
META=$1 CACHE=$2 ORIGIN=$3 WORKLOAD=$4

case $MDV in 1) MDFEAT=;; 2) MDFEAT=metadata2;; *) echo "-m must be 1 or 2" >&2; exit 2;; esac
case $IOMODE in writeback|writethrough|passthrough) ;; *) echo "bad io mode $IOMODE" >&2; exit 2;; esac
for f in "$META" "$CACHE" "$ORIGIN"; do
    [ -f "$f" ] || { echo "no such image: $f" >&2; exit 2; }
    [ $(( $(stat -c %s "$f") % 512 )) -eq 0 ] || { echo "$f: size not a multiple of 512" >&2; exit 2; }
done
[ "$WORKLOAD" = none ] || [ -f "$WORKLOAD" ] || { echo "no such workload: $WORKLOAD" >&2; exit 2; }
for f in ${FILES[@]+"${FILES[@]}"}; do
    [ -f "$f" ] || { echo "no such file: $f" >&2; exit 2; }
done
for d in ${DISKS[@]+"${DISKS[@]}"}; do
    case $d in
    meta=*|cache=*|origin=*|config=*) echo "-x $d: that serial is taken" >&2; exit 2;;
    [a-z]*=*) [ -f "${d#*=}" ] || { echo "no such image: ${d#*=}" >&2; exit 2; };;
    *) echo "-x wants NAME=IMAGE, not $d" >&2; exit 2;;
    esac
done

OUTD=${LAB_OUT:-$LAB/out}   # LAB_OUT: build and log folder (the lab folder may be read-only)
KERNEL=${KERNEL:-$OUTD/vmlinuz}
INITRD=${INITRD:-$OUTD/initramfs.cpio.gz}
[ -r "$KERNEL" ] && [ -r "$INITRD" ] || { echo "run ./build.sh first ($KERNEL, $INITRD)" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "apt-get install qemu-system-x86" >&2; exit 2; }

mkdir -p "$OUTD/logs"
LOG=${LOG:-$OUTD/logs/run-$(date +%Y%m%d-%H%M%S).log}
TMP=$(mktemp -d "$OUTD/cfg.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

FEATURES=$(echo "$IOMODE $MDFEAT $EXTRA" | tr -s ' ' | sed 's/^ //; s/ $//')
{
    echo "LAB_BLOCK_SIZE=$BS"
    echo "LAB_FEATURES='$FEATURES'"
    echo "LAB_POLICY=$POLICY"
    echo "LAB_POLICY_ARGS='$PARGS'"
    echo "LAB_AUTO=$AUTO"
} > "$TMP/params.env"
if [ "$WORKLOAD" = none ]; then : > "$TMP/workload.sh"; else cp "$WORKLOAD" "$TMP/workload.sh"; fi
for f in ${FILES[@]+"${FILES[@]}"}; do cp "$f" "$TMP/"; done
tar -cf "$TMP/config.tar" -C "$TMP" params.env workload.sh \
    $(for f in ${FILES[@]+"${FILES[@]}"}; do basename "$f"; done)

drive() { echo "-drive file=$1,if=none,id=$2,format=raw,cache=writeback,aio=threads -device virtio-blk-pci,drive=$2,serial=$2"; }

t0=$(date +%s.%N)
set +e
# shellcheck disable=SC2046
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 \
    -machine pc -accel tcg,thread=multi -cpu max -smp "$CPUS" -m "$MEM" \
    -nographic -nodefaults -monitor none -serial "file:$LOG" -net none -no-reboot \
    -kernel "$KERNEL" -initrd "$INITRD" \
    -append "console=ttyS0 panic=-1 oops=panic loglevel=4 rdinit=/init ${LAB_APPEND:-}" \
    $(drive "$META" meta) $(drive "$CACHE" cache) $(drive "$ORIGIN" origin) \
    $(drive "$TMP/config.tar" config) \
    $(for d in ${DISKS[@]+"${DISKS[@]}"}; do drive "${d#*=}" "${d%%=*}"; done) </dev/null
qrc=$?
set -e
t1=$(date +%s.%N)
wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')

res=$(sed -n 's/^LAB-RESULT: rc=\([0-9]*\).*/\1/p' "$LOG" | tail -n1 | tr -d '\r')
if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then rc=124
elif [ -z "$res" ]; then rc=125
else rc=$res
fi

if [ $QUIET = 0 ]; then
    tr -d '\r' < "$LOG" | grep -E '^LAB-(TABLE|CREATE|RELOAD|STATUS|COUNTS|CLEAN|REMOVE|ERROR|WORKLOAD|SHOW|CRASH|NOTE)' || true
    echo "--- kernel device-mapper messages:"
    # the full dmesg dump if the guest got that far, else the console log
    if grep -q '^LAB-DMESG-BEGIN' "$LOG"; then
        tr -d '\r' < "$LOG" | sed -n '/^LAB-DMESG-BEGIN/,/^LAB-DMESG-END/p'
    else
        tr -d '\r' < "$LOG"
    fi |
        grep -v '^LAB' | grep -E 'device-mapper|dm-[0-9]|cache|persistent-data|space map|btree|bitset|array' |
        grep -v -E 'Dentry cache|Inode-cache|Mount-cache|mountpoint-cache|page cache|L1 cache|cache hash|pci_cache_line_size' || true
    if tr -d '\r' < "$LOG" | grep -qE 'kernel BUG|Oops|Kernel panic|BUG:|WARNING:'; then
        echo "--- kernel problems (see the log):"
        tr -d '\r' < "$LOG" | grep -E 'kernel BUG|Oops|Kernel panic|BUG:|WARNING:|RIP:|Workqueue:' | sort -u -k2 | head -n 12
    fi
    echo "--- boot: $(tr -d '\r' < "$LOG" | sed -n 's/^LAB-TIME\[ready\]: /guest uptime at ready /p' | head -n1)s;" \
         "wall ${wall}s; qemu rc=$qrc; log $LOG"
fi
echo "LAB-RESULT: rc=$rc wall=${wall}s log=$LOG"
exit "$rc"
