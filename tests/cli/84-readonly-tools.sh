#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The read-only tools never open for writing, tested two ways:
#  1. As an unprivileged user (setpriv), on files of mode 0444, where the
#     kernel refuses any open for writing: cache_check (also -q),
#     cache_dump (also --repair), the input of cache_repair and
#     cache_restore, and cache_writeback's fast device (and, with
#     --no-metadata-update, its metadata) must all work.
#  2. As root, where mode bits are not enforced (LVM runs the tools as
#     root): under strace, no open of any path asks for writing (O_WRONLY,
#     O_RDWR, O_CREAT, O_TRUNC), cache_metadata_size included, except the
#     outputs named on the command line.
# Each part first shows that it catches a writer: cache_check
# --clear-needs-check-flag on the same kind of file.
set -u
: "${BIN:?}" "${PROGS:?}" "${TOP:?}"
. "$TOP/tests/cli/wb-lib.bash"
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# A folder an unprivileged user can reach (TESTDIR's parents may not be).
ro=$(mktemp -d "${TMPDIR:-/tmp}/dmct-ro.XXXXXX") || exit 1
trap 'rm -rf "$ro"' EXIT
chmod 0755 "$ro"
cd "$ro" || exit 1

make_case m 2 --nr-cache-blocks 64 --mapped 60 --dirty 40 --block-size 8 \
	--oblock-max 200
stamp m 4096 0 0 200
cp m.meta nc.meta
"$PROGS/corrupt" nc.meta set-sb flags 3 || fail "corrupt"
truncate -s 4M out.meta
touch out.xml
chmod 0444 m.meta m.xml m.fast nc.meta
chmod 0666 m.origin out.meta out.xml

# The commands, as NAME|ARGS (word-split): none may write the 0444 files.
cmds=(
	"check|$BIN/cache_check m.meta"
	"check-q|$BIN/cache_check -q m.meta"
	"dump|$BIN/cache_dump m.meta"
	"dump-repair|$BIN/cache_dump --repair m.meta"
	"dump-o|$BIN/cache_dump -o out.xml m.meta"
	"repair|$BIN/cache_repair -i m.meta -o out.meta"
	"restore|$BIN/cache_restore -i m.xml -o out.meta"
	"wb-no-update|$BIN/cache_writeback --no-metadata-update --metadata-device m.meta --fast-device m.fast --origin-device m.origin"
	"metadata-size|$BIN/cache_metadata_size --nr-blocks 1000"
)
writer="$BIN/cache_check --clear-needs-check-flag nc.meta"

# 1. Unprivileged.
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
if ! command -v setpriv >/dev/null || ! as_nobody "$BIN/cache_check" -V >/dev/null 2>&1; then
	echo "part 1 skipped: cannot run the tools as an unprivileged user here"
else
	as_nobody $writer >w.out 2>&1 && bad "nobody: a writer on a 0444 file succeeded"
	grep -q "Permission denied" w.out || bad "nobody: writer: $(cat w.out)"
	for c in "${cmds[@]}"; do
		# shellcheck disable=SC2086
		as_nobody ${c#*|} >o.txt 2>e.txt || bad "nobody: ${c%%|*}: exit $?: $(cat e.txt)"
	done
	# Writeback with its metadata updated: only the fast device is 0444.
	cp m.meta up.meta && chmod 0666 up.meta
	as_nobody "$BIN/cache_writeback" --metadata-device up.meta \
		--fast-device m.fast --origin-device m.origin >o.txt 2>e.txt ||
		bad "nobody: writeback with a 0444 fast device: $(cat e.txt)"
fi

# 2. Root, under strace.
# writes TRACE: the opens that ask for writing, but of the named outputs.
writes() {
	grep -E 'open(at2?)?\(|creat\(' "$1" | grep -E 'O_WRONLY|O_RDWR|O_CREAT|O_TRUNC' |
		grep -vE '"(out\.xml|out\.meta|m\.origin)"'
}
if ! command -v strace >/dev/null || ! strace -o /dev/null true 2>/dev/null; then
	echo "part 2 skipped: no strace, or ptrace not allowed"
else
	# LeakSanitizer cannot run under ptrace.
	T=(env ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
	   strace -f -qq -e trace=open,openat,openat2,creat -o trace.txt)
	"${T[@]}" $writer >/dev/null 2>&1
	[ -n "$(writes trace.txt)" ] || bad "strace: the writer's O_RDWR open was not seen"
	for c in "${cmds[@]}"; do
		# shellcheck disable=SC2086
		"${T[@]}" ${c#*|} >o.txt 2>e.txt || bad "root: ${c%%|*}: exit $?: $(cat e.txt)"
		w=$(writes trace.txt)
		[ -z "$w" ] || bad "root: ${c%%|*} opens for writing: $w"
	done
fi
[ $fails -eq 0 ]
