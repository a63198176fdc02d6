#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Regenerates tests/kernel/fixtures/: metadata images written by the real
# kernel (Debian's 6.1 cloud kernel under QEMU), compressed with xz, each
# with the kernel's own "dmsetup status" line and the XML our cache_dump
# must print for it.  Not run by any test: the fixtures are committed, and
# regenerating them changes block numbers, hints and promotion counts (the
# kernel is not deterministic there), so the expected files are re-derived
# here every time.  About 2 minutes.
#
# Geometry (that of the lab's experiment a): 8 MiB metadata, 32 MiB cache,
# 256 MiB origin, 32 KiB cache blocks -> 1024 cache blocks, 8192 discard
# blocks of 64 sectors after the first clean shutdown.  smq runs with
# "migration_threshold 0" so that the dirty sets are deterministic.
#
# For each fixture NAME:
#   NAME.meta.xz   the metadata image
#   NAME.status    the kernel's status line(s) and parsed counts
#   NAME.xml.xz    the expected dump: 0.9.0 cache_dump's text (v1: its real
#                  output) with the v2 dirty flags from the dirty bitset and a
#                  <discards> element when discard_nr_blocks > 0; derived by
#                  lab/tools/mdinspect.py and cross-checked against 0.9.0
set -euo pipefail
. "$(dirname "$0")/lib.sh"

FIX=$KDIR/fixtures
KWORK=$LAB_OUT/fixtures
mkdir -p "$KWORK" "$FIX"
"$KDIR/setup.sh"
KVER=$(cat "$LAB_OUT/kver")
MT0="migration_threshold 0"

fail() { echo "make-fixtures: $*" >&2; exit 1; }

# fixture NAME VERSION STATUS-TAG WORKLOAD [extra kboot options]
fixture() {
	local name=$1 v=$2 tag=$3 wl=$4
	shift 4
	local m=$KWORK/$name.meta
	mkimg "$m" 8M
	mkimg "$KWORK/cache" 32M
	mkimg "$KWORK/origin" 256M
	kboot "$name" -b 64 -m "$v" -a "$MT0" "$@" "$m" "$KWORK/cache" "$KWORK/origin" "$wl" ||
		fail "$name: the kernel run failed (rc=$?): $(tail -n 3 "$KWORK/$name.out")"
	kpanicked "$name" && fail "$name: kernel problem, see $KWORK/$name.serial"
	local st
	st=$(kstatus "$name" "$tag")
	[ -n "$st" ] || fail "$name: no status line [$tag]"

	# Expected dump, derived independently of our C code ...
	"${INSPECT[@]}" xml "$m" >"$KWORK/$name.xml"
	# ... and cross-checked against 0.9.0: identical but for the v2 dirty
	# flags (0.9.0 prints false for all), our <discards> element, and
	# hint_width 0 where there is no hint array (0.9.0 prints 4).
	/usr/sbin/cache_check "$m" >/dev/null 2>&1 || fail "$name: 0.9.0 cache_check fails"
	/usr/sbin/cache_dump "$m" >"$KWORK/$name.ref.xml"
	local ours=$KWORK/$name.xml
	if [ "$v" = 2 ]; then
		sed 's/dirty="true"/dirty="false"/' "$ours" >"$KWORK/$name.cmp.xml"
		ours=$KWORK/$name.cmp.xml
	fi
	diff <(sed -e '/^  <discards /,/^  <\/discards>/d' \
		   -e '1s/ hint_width="0">$/ hint_width="4">/' "$ours") \
		"$KWORK/$name.ref.xml" >/dev/null ||
		fail "$name: mdinspect xml and 0.9.0 cache_dump disagree"

	# The kernel's counts must be what the dump shows (a crashed image has
	# no dirty state on disk: the kernel would treat every mapping as dirty).
	local cached dirty nmap ndirty
	cached=$(kfield "$name" "$tag" cached)
	dirty=$(kfield "$name" "$tag" dirty)
	nmap=$(grep -c '<mapping ' "$KWORK/$name.xml" || true)
	ndirty=$(grep -c 'dirty="true"' "$KWORK/$name.xml" || true)
	[ "${cached%/*}" = "$nmap" ] || fail "$name: kernel cached $cached, dump has $nmap mappings"
	case $name in
	*crashed) [ "$ndirty" = 0 ] || fail "$name: crashed image has $ndirty dirty";;
	*) [ "$dirty" = "$ndirty" ] || fail "$name: kernel dirty $dirty, dump has $ndirty";;
	esac

	xz -9e -c "$m" >"$FIX/$name.meta.xz"
	xz -9e -c "$KWORK/$name.xml" >"$FIX/$name.xml.xz"
	{
		echo "# kernel $KVER, metadata v$v, table: $(sed -n 's/^LAB-TABLE: //p' "$KWORK/$name.serial" | head -n1)"
		echo "# workload tests/kernel/workloads/$(basename "$wl") ; status at [$tag]"
		echo "status: $st"
		echo "cached=$cached dirty=$dirty"
		echo "dump: $nmap mappings, $ndirty dirty"
		case $name in
		*crashed) echo "no clean shutdown: the kernel treats all $nmap mappings as dirty on the next load";;
		esac
	} >"$FIX/$name.status"
	echo "$name: cached=$cached dirty=$dirty ($(stat -c %s "$FIX/$name.meta.xz") bytes)"
}

for v in 1 2; do
	fixture "v$v-empty" "$v" final none
	fixture "v$v-clean" "$v" final "$KDIR/workloads/mixed.sh"
	fixture "v$v-crashed" "$v" before-crash "$KDIR/workloads/crash.sh"
	fixture "v$v-cleaned" "$v" final "$KDIR/workloads/cleaner.sh"
done
