#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Gets a real dm-cache kernel ready to boot under QEMU: installs the host
# packages the lab needs when they are missing (only as root; otherwise it
# names the apt-get command and fails), unpacks a Debian cloud kernel package
# without installing it (apt-get download + dpkg-deb -x: no update-initramfs,
# nothing touches the host's boot), and builds the guest initramfs with
# tests/kernel/lab/build.sh.  Everything built goes to LAB_OUT; the unpacked
# kernel to KERNEL_CACHE (outside the work tree so that a fresh clone on the
# same machine reuses it).
#
#   LAB_OUT=DIR       build folder (default: <repo>/build/kernel-lab)
#   KERNEL_CACHE=DIR  unpacked kernel packages (default: /var/tmp/dmct-kernel)
#   KPKG=NAME         kernel package (default: the one the lab results were
#                     observed with, else what linux-image-cloud-amd64 pulls in)
#
# Prints the paths on success: "kernel-setup: KVER ..." and exits 0.
set -euo pipefail

KDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$KDIR/../.." && pwd)
LAB_OUT=${LAB_OUT:-$TOP/build/kernel-lab}
KERNEL_CACHE=${KERNEL_CACHE:-/var/tmp/dmct-kernel}
# The kernel every observation in the lab README was made with.
KPKG_PREFERRED=linux-image-6.1.0-56-cloud-amd64

say() { echo "kernel-setup: $*"; }
die() { echo "kernel-setup: $*" >&2; exit 1; }

# Package -> a command it provides, so that "installed" means "usable".
declare -A PKG_CMD=(
	[qemu-system-x86]=qemu-system-x86_64
	[busybox-static]=busybox
	[dmsetup]=dmsetup
	[kmod]=modprobe
	[cpio]=cpio
	[xz-utils]=xz
	[file]=file
	[python3]=python3
	[thin-provisioning-tools]=cache_check
)

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/sbin/$1" ] || [ -x "/usr/sbin/$1" ]; }

install_missing() {
	local missing=() p
	for p in "${!PKG_CMD[@]}"; do
		have "${PKG_CMD[$p]}" || missing+=("$p")
	done
	# busybox-static: a dynamic busybox cannot run in the bare initramfs
	if have busybox && ! file -L "$(command -v busybox)" 2>/dev/null | grep -q 'statically linked'; then
		missing+=(busybox-static)
	fi
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]}; as root: apt-get install --no-install-recommends ${missing[*]}"
	say "installing ${missing[*]}"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >"$LAB_OUT/apt.log" 2>&1; then
		apt-get update -q >>"$LAB_OUT/apt.log" 2>&1 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$LAB_OUT/apt.log" 2>&1 ||
			{ tail -n 5 "$LAB_OUT/apt.log" >&2; die "apt-get install ${missing[*]} failed (log: $LAB_OUT/apt.log)"; }
	fi
}

# The kernel package to unpack: the preferred one if the archive has it,
# else the current ABI the metapackage points to.
pick_kpkg() {
	if [ -n "${KPKG:-}" ]; then echo "$KPKG"; return; fi
	if apt-cache show "$KPKG_PREFERRED" >/dev/null 2>&1; then echo "$KPKG_PREFERRED"; return; fi
	apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1
}

unpack_kernel() {
	local pkg root deb
	# Reuse any kernel already unpacked (no network, no apt needed).
	root=$(ls -1d "$KERNEL_CACHE"/linux-image-*/ 2>/dev/null | sort -V | tail -n1 || true)
	if [ -n "${KPKG:-}" ]; then root=$KERNEL_CACHE/$KPKG/; [ -d "$root/boot" ] || root=; fi
	if [ -n "$root" ] && ls "$root"boot/vmlinuz-* >/dev/null 2>&1; then
		KROOT=${root%/}; return 0
	fi
	pkg=$(pick_kpkg)
	if [ -z "$pkg" ]; then
		apt-get update -q >"$LAB_OUT/apt.log" 2>&1 || true
		pkg=$(pick_kpkg)
	fi
	[ -n "$pkg" ] || die "no linux-image-*-cloud-amd64 package known to apt (apt-get update?)"
	mkdir -p "$KERNEL_CACHE/dl"
	say "downloading $pkg"
	(cd "$KERNEL_CACHE/dl" && apt-get download -q "$pkg" >"$LAB_OUT/apt-download.log" 2>&1) ||
		{ apt-get update -q >>"$LAB_OUT/apt.log" 2>&1 || true
		  (cd "$KERNEL_CACHE/dl" && apt-get download -q "$pkg" >>"$LAB_OUT/apt-download.log" 2>&1); } ||
		die "apt-get download $pkg failed (log: $LAB_OUT/apt-download.log)"
	deb=$(ls -1 "$KERNEL_CACHE/dl/${pkg}"_*.deb | tail -n1)
	rm -rf "$KERNEL_CACHE/$pkg.tmp"
	dpkg-deb -x "$deb" "$KERNEL_CACHE/$pkg.tmp"
	mv "$KERNEL_CACHE/$pkg.tmp" "$KERNEL_CACHE/$pkg"
	rm -f "$deb"
	KROOT=$KERNEL_CACHE/$pkg
}

mkdir -p "$LAB_OUT"
[ -f "$LAB_OUT/.gitignore" ] || printf '*\n' > "$LAB_OUT/.gitignore"
install_missing
unpack_kernel

# Rebuild the initramfs when it is missing or older than what goes into it.
if [ ! -s "$LAB_OUT/initramfs.cpio.gz" ] || [ ! -e "$LAB_OUT/vmlinuz" ] ||
	[ "$KDIR/lab/guest/init" -nt "$LAB_OUT/initramfs.cpio.gz" ] ||
	[ "$KDIR/lab/build.sh" -nt "$LAB_OUT/initramfs.cpio.gz" ] ||
	[ "$(readlink "$LAB_OUT/vmlinuz")" != "$(ls -1 "$KROOT"/boot/vmlinuz-* | sort -V | tail -n1)" ]; then
	LAB_OUT=$LAB_OUT KROOT=$KROOT "$KDIR/lab/build.sh" >"$LAB_OUT/build.log" 2>&1 ||
		{ tail -n 20 "$LAB_OUT/build.log" >&2; die "guest build failed (log: $LAB_OUT/build.log)"; }
fi
say "$(cat "$LAB_OUT/kver") kernel=$LAB_OUT/vmlinuz initramfs=$LAB_OUT/initramfs.cpio.gz"
