#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# thin_check's options and promises beyond the damage corpus: no false
# alarm on pools the reference restore writes (0 to 100k mappings, many
# devices, snapshots sharing whole trees, a held metadata snapshot), the
# same verdict as 0.9.0 on each; read-only without a writing flag (a
# read-only file is checked); --clear-needs-check-flag clears NEEDS_CHECK
# (also with --skip-mappings and --super-block-only) and writes nothing
# else; -m checks the held snapshot; --override-mapping-root with the real
# root passes; usage errors exit 1.  The generic (non-AVX-512) paths give
# the same output.
set -u
: "${BIN:?}" "${PROGS:?}"
REF_RESTORE=/usr/sbin/thin_restore
REF_CHECK=/usr/sbin/thin_check
[ -x $REF_RESTORE ] || { echo "no reference tools"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

mk() {
	local name=$1 mb=$2
	shift 2
	"$PROGS/gen_thin_xml" "$@" >"$name.xml" || { bad "$name: gen"; return 1; }
	rm -f "$name.img"
	truncate -s "${mb}M" "$name.img"
	$REF_RESTORE -i "$name.xml" -o "$name.img" >/dev/null || { bad "$name: restore"; return 1; }
}

# clean NAME: exit 0, no error line, the reference agrees; and the same
# without the AVX-512 paths (the leaf scan, the checksum).
clean() {
	"$BIN/thin_check" "$1.img" >"$1.out" 2>&1 || { bad "$1: exit $?"; cat "$1.out"; }
	grep -q 'error:' "$1.out" && { bad "$1: error reported"; cat "$1.out"; }
	$REF_CHECK "$1.img" >/dev/null 2>&1 || bad "$1: the reference fails it"
	DM_CACHE_TOOLS_NO_AVX512=1 "$BIN/thin_check" "$1.img" >"$1.generic" 2>&1 ||
		bad "$1: exit $? without AVX-512"
	cmp -s "$1.out" "$1.generic" || bad "$1: differs without AVX-512"
}

mk empty 4 --origins 0 && clean empty
mk nomap 4 --origins 5 --mappings 0 && clean nomap
mk small 4 --origins 2 --mappings 300 --seed 2 && clean small
mk many 16 --origins 300 --mappings 30 --seed 4 --run 3 && clean many
mk big 64 --origins 2 --mappings 50000 --snapshots 2 --seed 6 --run 30 && clean big
mk long 16 --origins 1 --mappings 100000 --run 100000 --seed 5 && clean long
# Snapshots sharing whole trees, then a held metadata snapshot.
mk snaps 8 --origins 2 --mappings 3000 --seed 9 --run 20 &&
	"$PROGS/thin_snap" snaps.img 1 100 && "$PROGS/thin_snap" snaps.img 4 101 &&
	held=$("$PROGS/thin_hold" snaps.img) && clean snaps

# The summary lines on stdout, as LVM's tools print them.
out=$("$BIN/thin_check" small.img 2>/dev/null)
grep -qx 'TRANSACTION_ID=1' <<<"$out" || bad "no TRANSACTION_ID line: $out"
nb=$(od -An -t u8 -j 192 -N 8 small.img | tr -d ' ')
na=$(od -An -t u8 -j 200 -N 8 small.img | tr -d ' ')
grep -qx "METADATA_FREE_BLOCKS=$((nb - na))" <<<"$out" || bad "free blocks: $out"
[ -z "$("$BIN/thin_check" -q small.img 2>&1)" ] || bad "-q prints"

# Read-only: a file without write permission is checked without a writing flag.
cp small.img ro.img
chmod 444 ro.img
if [ "$(id -u)" != 0 ]; then
	"$BIN/thin_check" -q ro.img || bad "read-only file: exit $?"
	"$BIN/thin_check" -q --clear-needs-check-flag ro.img 2>/dev/null &&
		bad "--clear-needs-check-flag on a read-only file succeeded"
fi

# As root the permission test proves nothing: look at the open flags.
if command -v strace >/dev/null; then
	strace -f -e trace=openat -o open.log "$BIN/thin_check" -q small.img
	grep 'small.img' open.log | grep -q 'O_RDONLY' || bad "thin_check: not opened read-only: $(grep small.img open.log)"
	grep 'small.img' open.log | grep -q 'O_RDWR\|O_WRONLY' && bad "thin_check opened for writing"
	strace -f -e trace=openat -o open.log "$BIN/thin_dump" -o /dev/null small.img
	grep 'small.img' open.log | grep -q 'O_RDWR\|O_WRONLY' && bad "thin_dump opened its input for writing"
fi

# --ignore-non-fatal-errors: warnings are not printed, errors are.
cp small.img w.img
"$PROGS/thin_corrupt" w.img set-sb flags 1
"$BIN/thin_check" w.img 2>&1 | grep -q 'warning:' || bad "no warning without the option"
"$BIN/thin_check" --ignore-non-fatal-errors w.img 2>&1 | grep -q 'warning:' &&
	bad "--ignore-non-fatal-errors printed a warning"
"$PROGS/thin_corrupt" w.img set-sb incompat_flags 4
"$BIN/thin_check" --ignore-non-fatal-errors w.img 2>&1 | grep -q 'error:' ||
	bad "--ignore-non-fatal-errors hid an error"

# NEEDS_CHECK: cleared (only bytes 0..7 change: checksum and flags), also
# with --skip-mappings and --super-block-only, which 0.9.0 refuses.
for opts in "" "--skip-mappings" "--super-block-only"; do
	cp small.img nc.img
	"$PROGS/thin_corrupt" nc.img set-sb flags 1
	cp nc.img nc.before
	# shellcheck disable=SC2086
	"$BIN/thin_check" -q --clear-needs-check-flag $opts nc.img || bad "clear $opts: exit $?"
	[ "$(od -An -t u4 -j 4 -N 4 nc.img | tr -d ' ')" = 0 ] || bad "clear $opts: flag still set"
	cmp -s <(tail -c +9 nc.img) <(tail -c +9 nc.before) || bad "clear $opts: wrote more than the flag"
	"$BIN/thin_check" -q nc.img || bad "clear $opts: the result does not check"
	$REF_CHECK -q nc.img || bad "clear $opts: the reference fails the result"
done
# Without the flag nothing is written.
cp small.img nw.img
"$PROGS/thin_corrupt" nw.img set-sb flags 1
cp nw.img nw.before
"$BIN/thin_check" -q nw.img
cmp -s nw.img nw.before || bad "a plain check wrote"

# Leaks: freed by --auto-repair and --clear-needs-check-flag; the result
# checks without a leak (ours and 0.9.0's), and the data block freed is
# the leaked one only.
for opt in --auto-repair --clear-needs-check-flag; do
	cp small.img lk.img
	last=$(( $("$PROGS/thin_corrupt" lk.img where sb-data_nr_blocks) - 1 ))
	"$PROGS/thin_corrupt" lk.img set-data-count "$last" 1
	"$PROGS/thin_corrupt" lk.img set-meta-count 1000 1
	"$BIN/thin_check" -q $opt lk.img || bad "$opt on leaks: exit $?"
	"$BIN/thin_check" lk.img >lk.out 2>&1 || bad "$opt: the result fails"
	grep -q 'leak' lk.out && { bad "$opt: leaks remain"; cat lk.out; }
	$REF_CHECK -q lk.img || bad "$opt: 0.9.0 fails the result"
	cmp -s <("$BIN/thin_dump" lk.img) <("$BIN/thin_dump" small.img) ||
		bad "$opt: the mappings changed"
done

# -m: the held snapshot is checked; without one it is an error.
"$BIN/thin_check" -m snaps.img >m.out 2>&1 || { bad "-m: exit $?"; cat m.out; }
grep -q 'examining metadata snapshot' m.out || bad "-m did not examine the snapshot"
"$BIN/thin_check" -m"$held" -q snaps.img || bad "-m$held failed"
"$BIN/thin_check" -m small.img >/dev/null 2>&1 && bad "-m without a snapshot passed"
# -m and a separate word: the word is the input (0.9.0's getopt rule).
"$BIN/thin_check" -q -m snaps.img || bad "-m took the input as its value"

# --override-mapping-root: the real root passes, another block fails.
root=$("$PROGS/thin_corrupt" small.img where sb-mapping_root)
"$BIN/thin_check" -q --override-mapping-root "$root" small.img || bad "override with the real root"
"$BIN/thin_check" -q --override-mapping-root 1 small.img && bad "override with block 1 passed"

# Usage.
"$BIN/thin_check" >/dev/null 2>&1; [ $? -eq 1 ] || bad "no input: not exit 1"
"$BIN/thin_check" a b >/dev/null 2>&1; [ $? -eq 1 ] || bad "two inputs: not exit 1"
"$BIN/thin_check" --override-mapping-root x small.img >/dev/null 2>&1
[ $? -eq 1 ] || bad "bad root: not exit 1"
"$BIN/thin_check" nonexistent.img 2>err.txt; [ $? -eq 1 ] || bad "missing file: not exit 1"
grep -q 'No such file' err.txt || bad "missing file: $(cat err.txt)"
exit $((fails != 0))
