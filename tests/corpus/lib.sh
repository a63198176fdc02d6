# SPDX-License-Identifier: GPL-3.0-or-later
#
# Shared by the damage corpus, tests/corpus/<case>/.  Each case has:
#   build         bash, sourced in a scratch folder with these helpers;
#                 leaves the damaged metadata in ./image
#   expect.check  what `cache_check image` prints (stderr and stdout) and,
#                 on the last line, "exit N"
#   args          optional: extra cache_check options, one line
# A build may also leave ./fault.env, FAULTIO_* settings (one per line) for
# tests/progs/faultio.so: the tools then read ./image through that shim,
# for damage no file can hold, such as a block whose read fails.
#   run           sources this file and calls corpus_run
# Other tools (cache_repair) reuse `corpus_build DIR` to get the same image.
#
# Images come from the reference cache_restore (0.9.0), whose block layout
# is deterministic, so the block numbers in expect.check are stable; the
# helpers below never hard-code a block number that `corrupt where` can
# find.

: "${BIN:?}" "${PROGS:?}" "${TOP:?}"
REF_RESTORE=${REF_RESTORE:-/usr/sbin/cache_restore}
CORRUPT="$PROGS/corrupt"
GEN_XML="$PROGS/gen_xml"

# mkimage [--v2] [--size BYTES] [gen_xml options...]: ./image from gen_xml.
mkimage() {
	local ver=1 size=4M
	while [ $# -gt 0 ]; do
		case $1 in
		--v2) ver=2; shift ;;
		--size) size=$2; shift 2 ;;
		*) break ;;
		esac
	done
	"$GEN_XML" "$@" >image.xml || return 1
	mkimage_xml "$ver" "$size" image.xml
}

# mkimage_xml VERSION SIZE XML: ./image from an XML file.
mkimage_xml() {
	rm -f image
	truncate -s "$2" image || return 1
	"$REF_RESTORE" --metadata-version "$1" -i "$3" -o image >restore.log 2>&1 || {
		cat restore.log >&2
		return 1
	}
}

corrupt() { "$CORRUPT" image "$@"; }
where() { "$CORRUPT" image where "$@"; }
# u64 BLOCK OFFSET: the little-endian u64 stored there (a read, to follow
# pointers and fix counts the way the kernel would have written them).
u64() { od -An -tu8 -j $(($1 * 4096 + $2)) -N8 image | tr -d ' '; }

# Byte offsets inside a btree node (value size 8, max 252).
node_key() { echo $((32 + 8 * $1)); }
node_value() { echo $((32 + 8 * 252 + 8 * $1)); }

. "$TOP/tests/corpus/with-fault.bash"

# corpus_build CASE_DIR: the case's image in the current folder.
corpus_build() {
	[ -x "$REF_RESTORE" ] || {
		echo "no reference cache_restore at $REF_RESTORE"
		return 77
	}
	# shellcheck source=/dev/null
	. "$1/build"
}

# corpus_run: build, check, compare with expect.check.
corpus_run() {
	local dir args=() r
	dir=$(cd "$(dirname "$0")" && pwd)
	corpus_build "$dir"
	r=$?
	[ $r -eq 0 ] || exit $r
	[ -f "$dir/args" ] && read -r -a args <"$dir/args"
	corpus_with_fault "$BIN/cache_check" "${args[@]}" image >check.out 2>&1
	r=$?
	echo "exit $r" >>check.out
	# -q (what LVM runs): the same verdict, and not a word.
	corpus_with_fault "$BIN/cache_check" -q "${args[@]}" image >quiet.out 2>&1
	if [ $? -ne $r ] || [ -s quiet.out ]; then
		echo "cache_check -q disagrees or prints:"
		cat quiet.out
		return 1
	fi
	if [ -n "${CORPUS_UPDATE:-}" ]; then
		cp check.out "$dir/expect.check"
		return 0
	fi
	diff -u "$dir/expect.check" check.out
}
