#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Installs what building and testing dm-cache-tools needs on Debian: the
# -dev packages of the libraries we link (expat, libaio, popt, cmocka), the
# compilers, and the reference thin-provisioning-tools the tests use as an
# oracle.  Run as root it installs only what is missing; otherwise it prints
# the exact apt-get command and fails, so nothing is left half-done.
set -eu

need_pkgs="build-essential pkg-config libexpat1-dev libaio-dev libpopt-dev \
libcmocka-dev zlib1g-dev thin-provisioning-tools time xz-utils groff-base python3 \
fio blktrace strace"
if [ "${1:-}" = "--with-clang" ]; then
	need_pkgs="$need_pkgs clang"
fi

missing=""
for p in $need_pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "missing packages:$missing" >&2
	echo "run as root: apt-get update && apt-get install -y$missing" >&2
	exit 1
fi

echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
