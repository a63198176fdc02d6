#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The read-back rule (issue 12 finding 8) over the whole damage corpus
# (tests/corpus/<case>/build): for every case, whatever `cache_dump`,
# `cache_dump --repair` and `cache_repair --xml` write with exit 0 is
# well-formed XML that our cache_restore takes, and the restored metadata
# dumps as the same XML again.  A tool may refuse a case (exit non-zero);
# it may not write what cannot be read back.  One exception, the XML's own
# rule (FORMAT.md 6.2, as 0.9.0): a mapped cache block without a <hint>
# gets a zero hint from the restore, so where a repair lost a hint (never
# without --repair: the plain dump must come back exactly) the
# restored metadata dumps with a zero one (and only there); one more round
# trip then changes nothing.  At least one case must go through each of
# the three, so the test cannot pass by refusing all.
set -u
: "${BIN:?}" "${PROGS:?}" "${TOP:?}"
. "$TOP/tests/corpus/lib.sh"
[ -x "$REF_RESTORE" ] || { echo "no reference cache_restore"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
declare -A through=([dump]=0 [repair-dump]=0 [repair-xml]=0)

# readback CASE KIND XML: XML must restore and dump back the same.
readback() {
	local name=$1 kind=$2 xml=$3
	through[$kind]=$((through[$kind] + 1))
	"$PROGS/expat_parse" "$xml" >/dev/null 2>expat.err ||
		{ bad "$name $kind: not well-formed: $(cat expat.err)"; return; }
	rm -f "$kind.r"
	truncate -s "$(stat -c %s image)" "$kind.r"
	[ "$(stat -c %s "$kind.r")" -ge 4194304 ] || truncate -s 4M "$kind.r"
	"$BIN/cache_restore" -i "$xml" -o "$kind.r" 2>"$kind.rerr" ||
		{ bad "$name $kind: our restore refuses it: $(cat "$kind.rerr")"; return; }
	"$BIN/cache_dump" "$kind.r" >"$kind.r.xml" 2>/dev/null ||
		{ bad "$name $kind: the restored image does not dump"; return; }
	if [ "$kind" = dump ]; then
		cmp -s "$xml" "$kind.r.xml" ||
			{ bad "$name $kind: restore -> dump differs:"; diff "$xml" "$kind.r.xml" | head -n 4; }
		return
	fi
	# Zero hints of blocks the XML gave none for: the restore's.
	awk 'NR == FNR { if (/<hint /) { split($0, a, "\""); h[a[2]] = 1 }; next }
		/<hint / { split($0, a, "\""); if (!(a[2] in h) && a[4] ~ /^A+=*$/) next }
		{ print }' "$xml" "$kind.r.xml" >"$kind.r.cmp"
	cmp -s "$xml" "$kind.r.cmp" ||
		{ bad "$name $kind: restore -> dump differs:"; diff "$xml" "$kind.r.cmp" | head -n 4; return; }
	cmp -s "$xml" "$kind.r.xml" && return
	# Hints were added: the next round trip must be exact.
	truncate -s "$(stat -c %s "$kind.r")" "$kind.r2"
	"$BIN/cache_restore" -i "$kind.r.xml" -o "$kind.r2" 2>/dev/null &&
		"$BIN/cache_dump" "$kind.r2" 2>/dev/null | cmp -s - "$kind.r.xml" ||
		bad "$name $kind: the second round trip differs"
}

n=0
for dir in "$TOP"/tests/corpus/*/; do
	dir=${dir%/}
	[ -f "$dir/build" ] || continue
	name=$(basename "$dir")
	n=$((n + 1))
	mkdir -p "$TESTDIR/$name"
	cd "$TESTDIR/$name" || exit 1
	corpus_build "$dir" >build.log 2>&1 || { bad "$name: build failed: $(tail -n 2 build.log)"; continue; }
	"$BIN/cache_dump" image >dump.xml 2>dump.err && readback "$name" dump dump.xml
	"$BIN/cache_dump" --repair image >rdump.xml 2>rdump.err &&
		readback "$name" repair-dump rdump.xml
	args=()
	[ -f "$dir/repair.args" ] && read -r -a args <"$dir/repair.args"
	"$BIN/cache_repair" -i image --xml rxml.xml "${args[@]}" >/dev/null 2>&1 &&
		readback "$name" repair-xml rxml.xml
done
[ $n -ge 20 ] || bad "only $n corpus cases"
for k in dump repair-dump repair-xml; do
	[ "${through[$k]}" -gt 0 ] || bad "no case went through $k"
done
echo "$n cases; read back: ${through[dump]} dumps, ${through[repair-dump]} --repair dumps, ${through[repair-xml]} cache_repair --xml"
[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
