# SPDX-License-Identifier: GPL-3.0-or-later
#
# Shared by tests/kernel/run.sh and tests/kernel/make-fixtures.sh (sourced):
# paths, booting the kernel on three images, and reading back what the
# guest printed.  One VM at a time, one vCPU: the machines are small and
# shared.

KDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$KDIR/../.." && pwd)
LAB_OUT=${LAB_OUT:-$TOP/build/kernel-lab}
export LAB_OUT
RUNK=$KDIR/lab/run-kernel-cache.sh
# The interpreter itself, not a version-manager shim: the helpers run
# hundreds of times and a shim costs most of a second each time.
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)
INSPECT=("$PY" "$KDIR/lab/tools/mdinspect.py")
BLOCKS=("$PY" "$KDIR/lab/tools/blocks.py")
# Per boot; a boot normally takes 5 to 25 s under TCG.
KBOOT_TIMEOUT=${KBOOT_TIMEOUT:-240}

# mkimg FILE SIZE: a fresh sparse zero-filled image
mkimg() { rm -f "$1"; truncate -s "$2" "$1"; }

# kboot NAME [run-kernel-cache.sh options...] META CACHE ORIGIN WORKLOAD
# Boots the kernel; the wrapper's output goes to $KWORK/NAME.out, the serial
# log to $KWORK/NAME.log.  Returns the wrapper's status (0 ok, 2 create
# failed, 124 timeout, 125 panic or oops).
kboot() {
	local name=$1
	shift
	"$RUNK" -q -c 1 -t "$KBOOT_TIMEOUT" -l "$KWORK/$name.log" "$@" \
		>"$KWORK/$name.out" 2>&1
	local rc=$?
	tr -d '\r' <"$KWORK/$name.log" >"$KWORK/$name.serial" 2>/dev/null
	return $rc
}

# klines NAME PATTERN: the guest's LAB lines matching an extended regex
klines() { grep -E "$2" "$KWORK/$1.serial" 2>/dev/null; }

# kstatus NAME TAG: the raw "dmsetup status" line the guest printed for TAG
kstatus() { sed -n "s/^LAB-STATUS\[$2\]: //p" "$KWORK/$1.serial" | tail -n1; }

# kfield NAME TAG FIELD: one field of LAB-COUNTS[TAG] (cached is "used/total")
kfield() {
	sed -n "s/^LAB-COUNTS\[$2\]: //p" "$KWORK/$1.serial" | tail -n1 |
		tr ' ' '\n' | sed -n "s|^$3=||p"
}

# kdmesg NAME: the kernel's device-mapper messages from the guest's dmesg
kdmesg() {
	sed -n '/^LAB-DMESG-BEGIN/,/^LAB-DMESG-END/p' "$KWORK/$1.serial" 2>/dev/null |
		grep -E 'device-mapper: (cache|persistent|space map|btree|array|bitset|block manager|table)|bufio|BUG|panic' |
		sed 's/^\[ *[0-9.]*\] //'
}

# kpanicked NAME: true when the kernel oopsed or panicked
kpanicked() { grep -qE 'kernel BUG|Oops|Kernel panic|BUG:' "$KWORK/$1.serial" 2>/dev/null; }

# kinitrd_tools BINDIR OUT: the lab's initramfs with our statically linked
# multi-call binary from BINDIR appended as a second archive (the kernel
# unpacks concatenated archives in order), every tool name a link to it in
# /usr/sbin; the base initramfs is not rebuilt when only the tools change
kinitrd_tools() {
	local bin=$1 out=$2 root rc
	root=$(mktemp -d "${out%/*}/tools-root.XXXXXX") || return 1
	(
		set -e
		mkdir -p "$root/usr/sbin"
		cp "$bin/dm-cache-tools" "$root/usr/sbin/dm-cache-tools"
		for t in cache_check cache_dump cache_restore cache_repair cache_writeback cache_metadata_size; do
			ln -s dm-cache-tools "$root/usr/sbin/$t"
		done
		cat "$LAB_OUT/initramfs.cpio.gz" >"$out.tmp"
		cd "$root"
		find . -print0 | sort -z | cpio --null -o -H newc --quiet --owner=0:0 | gzip -9n >>"$out.tmp"
		mv "$out.tmp" "$out"
	)
	rc=$?
	rm -rf "$root"
	return $rc
}
