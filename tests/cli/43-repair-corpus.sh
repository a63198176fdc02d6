#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_repair over the whole damage corpus (tests/corpus/<case>/build, the
# cache_check helper's cases): for every case the repair must succeed, its
# output must pass our cache_check and the reference one, repairing that
# output again must give the same bytes (the repair second-run rule:
# repairing a repaired image changes nothing), and the number of mappings
# recovered, against the undamaged
# source, must be what tests/corpus/<case>/expect.repair says:
#   "mappings R of S, dirty D"
# or, for a case no repair can handle (no metadata at all), the exit code
# and the message: "exit 1: <the line on stderr>".  An optional
# tests/corpus/<case>/repair.args holds extra options (e.g. --block-size
# for a case whose superblock lost it).
# CORPUS_UPDATE=1 rewrites expect.repair files instead of comparing.
set -u
: "${BIN:?}" "${PROGS:?}" "${TOP:?}"
. "$TOP/tests/corpus/lib.sh"
[ -x "$REF_RESTORE" ] || { echo "no reference cache_restore"; exit 77; }
failed=0 n=0
for dir in "$TOP"/tests/corpus/*/; do
	dir=${dir%/}
	[ -f "$dir/build" ] || continue
	name=$(basename "$dir")
	work="$TESTDIR/$name"
	mkdir -p "$work"
	(
		cd "$work" || exit 1
		corpus_build "$dir" >build.log 2>&1 || { cat build.log; exit 1; }
		src=$(ls image.xml *.xml 2>/dev/null | head -1)
		total=$(grep -c '<mapping ' "$src" 2>/dev/null)
		rm -f out.img
		truncate -s "$(stat -c %s image)" out.img
		[ "$(stat -c %s out.img)" -ge 4194304 ] || truncate -s 4M out.img
		args=()
		[ -f "$dir/repair.args" ] && read -r -a args <"$dir/repair.args"
		corpus_with_fault "$BIN/cache_repair" -i image -o out.img \
			"${args[@]}" >repair.log 2>repair.err
		rc=$?
		if [ $rc -ne 0 ]; then
			got="exit $rc: $(tail -n 1 repair.err)"
			if [ -n "${CORPUS_UPDATE:-}" ]; then
				echo "$got" >"$dir/expect.repair"
				exit 0
			fi
			[ "$got" = "$(cat "$dir/expect.repair" 2>/dev/null)" ] && exit 0
			echo "$name: repair failed: $got"
			cat repair.log
			exit 1
		fi
		"$BIN/cache_check" out.img >check.log 2>&1 ||
			{ echo "$name: our check fails the output:"; cat check.log; exit 1; }
		/usr/sbin/cache_check -q out.img ||
			{ echo "$name: 0.9.0 check fails the output"; exit 1; }
		"$BIN/cache_dump" out.img >out.xml 2>/dev/null ||
			{ echo "$name: dump of the output failed"; exit 1; }
		# The second-run rule: repairing the repaired image changes
		# nothing, byte for byte (the restore's layout is a function
		# of the metadata, and the output is a valid superblock over
		# sound structures, so the second repair finds exactly what
		# the first wrote).
		rm -f again.img
		truncate -s "$(stat -c %s out.img)" again.img
		"$BIN/cache_repair" -i out.img -o again.img >again.log 2>&1 ||
			{ echo "$name: repairing the output failed:"; cat again.log; exit 1; }
		cmp out.img again.img >cmp.log 2>&1 || {
			echo "$name: repairing the repaired image changed it: $(cat cmp.log)"
			"$BIN/cache_dump" again.img 2>&1 | diff out.xml - | head -5
			cat again.log
			exit 1
		}
		got="mappings $(grep -c '<mapping ' out.xml) of ${total:-?}, dirty $(grep -c 'dirty="true"' out.xml)"
		if [ -n "${CORPUS_UPDATE:-}" ]; then
			echo "$got" >"$dir/expect.repair"
		elif [ "$got" != "$(cat "$dir/expect.repair" 2>/dev/null)" ]; then
			echo "$name: got '$got', expected '$(cat "$dir/expect.repair" 2>/dev/null)'"
			cat repair.log
			exit 1
		fi
	) || failed=$((failed + 1))
	n=$((n + 1))
done
echo "repair corpus: $n cases, $failed failed"
[ $failed -eq 0 ]
