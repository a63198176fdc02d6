#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Copied from shared/kernel-lab and adapted for tests/kernel (see tests/kernel/README.md).
# Build the dm-cache lab initramfs from installed Debian packages.
#
#   needs: linux-image-cloud-amd64 (or any linux-image-* with the dm-cache and
#          dm-thin-pool modules),
#          busybox-static, dmsetup, kmod, cpio, gzip
#   makes: out/initramfs.cpio.gz, out/vmlinuz (symlink to /boot/vmlinuz-KVER),
#          out/kver
#
# KVER=... picks the kernel (default: the newest /boot/vmlinuz-*-cloud-amd64,
# else the newest /boot/vmlinuz-*).  KROOT=DIR takes the kernel from a
# package unpacked with "apt-get download linux-image-...; dpkg-deb -x *.deb DIR"
# instead of an installed one.  Nothing here touches the host's running kernel.
set -euo pipefail

LAB=$(cd "$(dirname "$0")" && pwd)
OUT=${LAB_OUT:-$LAB/out}   # LAB_OUT: where to build (the lab folder may be read-only)
mkdir -p "$OUT"
[ -f "$OUT/.gitignore" ] || printf '*\n' > "$OUT/.gitignore"   # nothing built is committed
KROOT=${KROOT:-}
[ -z "$KROOT" ] || KROOT=$(cd "$KROOT" && pwd)

if [ -z "${KVER:-}" ]; then
    v=$(ls -1 "$KROOT"/boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n1 || true)
    [ -n "$v" ] || v=$(ls -1 "$KROOT"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1 || true)
    [ -n "$v" ] || { echo "build.sh: no $KROOT/boot/vmlinuz-*: apt-get install linux-image-cloud-amd64" >&2; exit 1; }
    KVER=${v#"$KROOT"/boot/vmlinuz-}
fi
KIMG=$KROOT/boot/vmlinuz-$KVER
MODDIR=$KROOT/lib/modules/$KVER
[ -r "$KIMG" ] || { echo "build.sh: $KIMG missing" >&2; exit 1; }
[ -d "$MODDIR" ] || { echo "build.sh: $MODDIR missing" >&2; exit 1; }
for t in busybox dmsetup modprobe cpio gzip; do
    command -v $t >/dev/null || [ -x /sbin/$t ] || { echo "build.sh: $t missing" >&2; exit 1; }
done
BUSYBOX=$(command -v busybox)
file -L "$BUSYBOX" | grep -q 'statically linked' || { echo "build.sh: $BUSYBOX is not static (apt-get install busybox-static)" >&2; exit 1; }
DMSETUP=$(command -v dmsetup || echo /sbin/dmsetup)

ROOT=$(mktemp -d "$OUT/initramfs-root.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/{bin,sbin,etc,proc,sys,dev,tmp,run,cfg,lib64,lib/x86_64-linux-gnu,lib/modules/$KVER}

# busybox + applet links
cp "$BUSYBOX" "$ROOT/bin/busybox"
for a in $("$BUSYBOX" --list); do
    [ "$a" = busybox ] || ln -s busybox "$ROOT/bin/$a"
done

# dmsetup + the shared libraries it needs (ldd), dereferencing symlinks
cp -L "$DMSETUP" "$ROOT/sbin/dmsetup"
ldd "$DMSETUP" | awk '/=>/ {print $3} /^\s*\/lib/ {print $1}' | sort -u | while read -r lib; do
    [ -f "$lib" ] || continue
    mkdir -p "$ROOT$(dirname "$lib")"
    cp -L "$lib" "$ROOT$lib"
done
cp -L /lib64/ld-linux-x86-64.so.2 "$ROOT/lib64/ld-linux-x86-64.so.2"

# kernel modules in dependency order (modprobe --show-depends on the packaged
# tree, not the running kernel).  .ko.xz/.ko.zst are decompressed here because
# busybox insmod may not read them.
: > "$ROOT/etc/lab-modules"
MP=(modprobe -S "$KVER")
if [ -n "$KROOT" ]; then
    [ -f "$MODDIR/modules.dep" ] || depmod -b "$KROOT" "$KVER"
    MP+=(-d "$KROOT")
fi
for m in virtio_pci virtio_blk dm-cache-smq dm-thin-pool; do
    "${MP[@]}" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
    base=$(basename "$ko")
    case "$base" in
    *.ko.xz)  dst=${base%.xz};  xz -dc "$ko" > "$ROOT/lib/modules/$KVER/$dst";;
    *.ko.zst) dst=${base%.zst}; zstd -qdc "$ko" > "$ROOT/lib/modules/$KVER/$dst";;
    *.ko.gz)  dst=${base%.gz};  gzip -dc "$ko" > "$ROOT/lib/modules/$KVER/$dst";;
    *)        dst=$base; cp "$ko" "$ROOT/lib/modules/$KVER/$dst";;
    esac
    echo "/lib/modules/$KVER/$dst" >> "$ROOT/etc/lab-modules"
done
for m in dm-cache-smq dm-thin-pool; do
    grep -q "/$m.ko" "$ROOT/etc/lab-modules" || { echo "build.sh: $KVER has no $m module" >&2; exit 1; }
done

install -m 0755 "$LAB/guest/init" "$ROOT/init"
echo "$KVER" > "$ROOT/etc/lab-kver"

(cd "$ROOT" && find . -print0 | sort -z | cpio --null -o -H newc --quiet --owner=0:0) | gzip -9n > "$OUT/initramfs.cpio.gz.tmp"
mv "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"
ln -sfn "$KIMG" "$OUT/vmlinuz"
echo "$KVER" > "$OUT/kver"

echo "kernel:    $KIMG"
echo "initramfs: $OUT/initramfs.cpio.gz ($(du -k "$OUT/initramfs.cpio.gz" | cut -f1) KiB)"
echo "modules:"; sed 's/^/  /' "$ROOT/etc/lab-modules"
