#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The message corpus (issue 12): tests/messages/*.cases hold, for every
# error (and warning or note) line a tool can print, a command that makes
# it and the exact standard error and exit code.  A case is
#
#	$ COMMAND                 run by bash in the fixture folder
#	STDERR LINE ...           exactly, in order ("..." = any lines after)
#	exit N                    the exit status (141: killed by SIGPIPE)
#
# cases separated by blank lines, "#" lines are comments.  The tools are
# ours ($BIN first in PATH); /usr/sbin/NAME is the reference.  Fixtures:
# tests/messages/setup.sh.
#
# Then the coverage check (tests/messages/coverage.py): every message
# format in tools/*.c (tool_error, the bare msg and parse_error of
# cache_metadata_size and the option loop, fprintf to stderr), every string
# the tools' error tables return, and the XML reader's and the restore's
# messages (xml/reader.c fail(), cache/restore.c failf(), which the tools
# print) must match a line of some case, unless tests/messages/elsewhere
# lists it with the reason (I/O faults, no memory, a block device in use,
# checks the XML reader makes first).  A message added without a case
# fails this test.
set -u
: "${BIN:?}" "${PROGS:?}" "${TOP:?}"
[ -x /usr/sbin/cache_restore ] || { echo "no reference cache_restore"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

mkdir fx && cd fx || exit 1
. "$TOP/tests/messages/setup.sh" >setup.log 2>&1 || { cat setup.log; exit 1; }
export PATH="$BIN:$PATH"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=1"

# check_case FILE LINE CMD EXPECTED...: runs one case.
n=0
run_case() {
	local where=$1 cmd=$2 want_rc=$3
	shift 3
	local rc got i line
	n=$((n + 1))
	bash -c "$cmd" </dev/null >../case.out 2>../case.err
	rc=$?
	mapfile -t got <../case.err
	local ok=1
	i=0
	for line in "$@"; do
		if [ "$line" = "..." ]; then
			i=-1
			break
		fi
		[ "${got[i]-<none>}" = "$line" ] || ok=0
		i=$((i + 1))
	done
	[ $i -ge 0 ] && [ ${#got[@]} -ne $i ] && ok=0
	[ "$rc" = "$want_rc" ] || ok=0
	if [ $ok -eq 0 ]; then
		bad "$where: \$ $cmd"
		echo "      exit $rc, wanted $want_rc; stderr:"
		sed 's/^/        | /' ../case.err | head -n 8
		echo "      wanted:"
		printf '        | %s\n' "$@"
	fi
}

for f in "$TOP"/tests/messages/*.cases; do
	cmd="" lineno=0 start=0
	want=()
	while IFS= read -r line || [ -n "$line" ]; do
		lineno=$((lineno + 1))
		case $line in
		'#'*) continue ;;
		'$ '*)
			cmd=${line#\$ } start=$lineno want=() ;;
		'exit '*)
			[ -n "$cmd" ] || { bad "$(basename "$f"):$lineno: exit without a command"; continue; }
			run_case "$(basename "$f"):$start" "$cmd" "${line#exit }" "${want[@]}"
			cmd="" ;;
		'')
			[ -z "$cmd" ] || bad "$(basename "$f"):$start: no exit line" ;;
		*)
			want+=("$line") ;;
		esac
	done <"$f"
done
echo "$n cases run"
[ "$n" -ge 100 ] || bad "only $n cases: the corpus did not load"

# ---- coverage ----
python3 "$TOP/tests/messages/coverage.py" "$TOP" || fails=$((fails + 1))

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "every message as expected"
