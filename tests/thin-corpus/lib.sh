# SPDX-License-Identifier: GPL-3.0-or-later
#
# Shared by the thin damage corpus, tests/thin-corpus/<case>/.  Each case:
#   build         bash, sourced in a scratch folder with these helpers;
#                 leaves the damaged metadata in ./image
#   expect.check  what `thin_check image` prints (stderr and stdout) and,
#                 on the last line, "exit N"
#   expect.ref    "exit N": what thin_check 0.9.0 exits with on the same
#                 image and options (0 where it passes damage it misses)
#   args          optional: extra thin_check options, one line
#   run           sources this file and calls thin_corpus_run
# A build may also leave ./fault.env (tests/corpus/with-fault.bash): our
# thin_check and the reference's then read ./image through the fault shim.
#
# Images come from the reference thin_restore (0.9.0), whose block layout
# is deterministic, so the block numbers in expect.check are stable; the
# helpers find structures with thin_corrupt rather than hard-coding them.

: "${BIN:?}" "${PROGS:?}" "${TOP:?}"
REF_RESTORE=${REF_RESTORE:-/usr/sbin/thin_restore}
REF_CHECK=${REF_CHECK:-/usr/sbin/thin_check}
. "$TOP/tests/corpus/with-fault.bash"

# mkimage [gen_thin_xml options...]: ./image, 4 MiB.
mkimage() {
	"$PROGS/gen_thin_xml" "$@" >image.xml || return 1
	rm -f image
	truncate -s 4M image || return 1
	"$REF_RESTORE" -i image.xml -o image >restore.log 2>&1 || {
		cat restore.log >&2
		return 1
	}
}

# The default pool: devices 1 and 4, 300 mappings each.
mkpool() { mkimage --origins 2 --mappings 300 --seed 2 --run 20; }

tc() { "$PROGS/thin_corrupt" image "$@"; }
where() { "$PROGS/thin_corrupt" image where "$@"; }
# The first mapping of device ID: "VBLOCK DATA".
first_mapping() {
	sed -n '/dev_id="'"$1"'"/,/<\/device>/{s/.*origin_block="\([0-9]*\)" data_block="\([0-9]*\)".*/\1 \2/p}' image.xml | head -n 1
}

thin_corpus_run() {
	local dir args=() r rr
	dir=$(cd "$(dirname "$0")" && pwd)
	[ -x "$REF_RESTORE" ] || { echo "no reference thin_restore"; return 77; }
	# shellcheck source=/dev/null
	. "$dir/build" || return 1
	cp image image.orig
	[ -f "$dir/args" ] && read -r -a args <"$dir/args"
	corpus_with_fault "$BIN/thin_check" "${args[@]}" image >check.out 2>&1
	r=$?
	echo "exit $r" >>check.out
	# -q (what LVM runs): the same verdict, and not a word.
	cp image.orig image.q
	CORPUS_IMAGE=image.q corpus_with_fault "$BIN/thin_check" -q "${args[@]}" image.q >quiet.out 2>&1
	if [ $? -ne $r ] || [ -s quiet.out ]; then
		echo "thin_check -q disagrees or prints:"
		cat quiet.out
		return 1
	fi
	# What the reference makes of it, on a fresh copy.
	if [ -x "$REF_CHECK" ]; then
		cp image.orig image.ref
		CORPUS_IMAGE=image.ref corpus_with_fault "$REF_CHECK" "${args[@]}" image.ref >/dev/null 2>&1
		rr="exit $?"
	else
		rr=$(cat "$dir/expect.ref")
	fi
	if [ -n "${CORPUS_UPDATE:-}" ]; then
		cp check.out "$dir/expect.check"
		echo "$rr" >"$dir/expect.ref"
		return 0
	fi
	echo "$rr" | diff -u "$dir/expect.ref" - || {
		echo "the reference's verdict changed"
		return 1
	}
	diff -u "$dir/expect.check" check.out
}
