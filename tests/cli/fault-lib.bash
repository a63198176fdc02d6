# SPDX-License-Identifier: GPL-3.0-or-later
#
# Shared by the whole-process fault tests (tests/cli/8[0-4]-fault-*.sh);
# sourced, not run.  A tool runs under tests/progs/faultio.so with one file
# failing its Nth read or Nth write (or tearing it: half a block written,
# then the process dies), for N = 1, 2, ... until a run meets no fault and
# succeeds.  After every failed run:
#   - the tool exited non-zero (EIO), or died where the shim killed it (torn);
#   - with EIO, stderr is one line, "<tool>: ...", that names the error;
#   - the device holds one of the states the test allows (fault_state):
#     the old bytes, the new metadata, or, for the tools that rewrite a
#     whole device, an unformatted device (block 0 zeroed); any state
#     that is not the old bytes passes our cache_check and 0.9.0's.
#
# Usage: set FAULT_FILE (the file to fail), define fault_setup (puts the
# old state back), then fault_loop KIND ALLOWED CMD..., where KIND is read,
# write or torn, and ALLOWED the states allowed after a failure, e.g.
# "old new zero".  The caller makes old.img and new.img (the bytes a run
# without faults leaves) first, with fault_prepare.  With FAULT_SALVAGE set
# (cache_repair reading its input), a run that meets a fault may also
# succeed, salvaging around the block: its output must pass both checkers.

fail() { echo "FAIL: $*"; exit 1; }

SHIM="$PROGS/faultio.so"
[ -f "$SHIM" ] || { echo "no $SHIM"; exit 77; }
[ -x /usr/sbin/cache_check ] || { echo "no reference cache_check"; exit 77; }
FAULT_EXIT=99

# fault_run KIND N CMD...: CMD with the Nth read/write of $FAULT_FILE failing.
fault_run() {
	local kind=$1 n=$2 var=FAULTIO_WRITE torn=
	shift 2
	case $kind in
	read) var=FAULTIO_READ ;;
	torn) torn=exit ;;
	esac
	rm -f hit fault.log
	env ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
		LD_PRELOAD="$SHIM" FAULTIO_FILE="$FAULT_FILE" "$var=$n" \
		FAULTIO_TORN="$torn" FAULTIO_EXIT_CODE=$FAULT_EXIT \
		FAULTIO_HIT=hit FAULTIO_LOG=fault.log "$@" >out.txt 2>err.txt
}

# both_pass IMG: our checker and 0.9.0's pass it (FAULT_CHECK and
# FAULT_REF_CHECK, cache_check's by default; FAULT_DUMP likewise).
both_pass() {
	"${FAULT_CHECK:-$BIN/cache_check}" "$1" >check.txt 2>&1 ||
		{ cat check.txt; return 1; }
	"${FAULT_REF_CHECK:-/usr/sbin/cache_check}" -q "$1" >/dev/null 2>&1
}

# fault_state IMG: sets ST to old, new, zero (block 0 all zero) or other,
# and ST_EXACT to 1 when IMG is byte for byte old.img or new.img.  A state
# that is not byte for byte old or new counts as one of them when it dumps
# as that one's metadata (a write that changed only unreferenced blocks);
# it must then pass both checkers, which the caller checks.
fault_state() {
	ST=other ST_EXACT=1
	if cmp -s "$1" old.img; then
		ST=old
	elif cmp -s "$1" new.img; then
		ST=new
	elif cmp -s -n 4096 "$1" /dev/zero; then
		ST=zero
	else
		ST_EXACT=0
		if "${FAULT_DUMP:-$BIN/cache_dump}" "$1" >state.xml 2>/dev/null; then
			if [ -f old.xml ] && cmp -s state.xml old.xml; then
				ST=old
			elif cmp -s state.xml new.xml; then
				ST=new
			fi
		fi
	fi
}

# fault_prepare TOOL-CMD...: checks old.img, runs the tool once without
# faults to make new.img and new.xml, and dumps old.xml where it can.
fault_prepare() {
	fault_setup
	both_pass old.img || fail "the old image does not pass the checkers"
	"${FAULT_DUMP:-$BIN/cache_dump}" old.img >old.xml 2>/dev/null || rm -f old.xml
	"$@" >out.txt 2>err.txt || fail "without faults: $(cat err.txt)"
	cp "$FAULT_STATE_OF" new.img
	both_pass new.img || fail "the new image does not pass the checkers"
	"${FAULT_DUMP:-$BIN/cache_dump}" new.img >new.xml || fail "cannot dump new.img"
}

# fault_loop KIND ALLOWED CMD...: see the top of the file.  Prints how many
# faults were injected.  FAULT_STATE_OF names the file whose state is
# judged (the output; FAULT_FILE by default).  FAULT_ON_FAIL, if set, is a
# function called with the state after each failure for extra checks.
# FAULT_MSG, an extended regexp, is what the one line must contain (by
# default the I/O error).  FAULT_REPORT, for cache_check, whose stderr is a
# report: a regexp for the line naming the error, in place of the one line.
fault_loop() {
	local kind=$1 allowed=$2 n=1 rc st
	shift 2
	while :; do
		fault_setup
		fault_run "$kind" "$n" "$@"
		rc=$?
		if [ ! -e hit ]; then
			[ $rc -eq 0 ] ||
				fail "$kind $n: no fault met, yet exit $rc: $(cat err.txt)"
			fault_state "$FAULT_STATE_OF"
			[ "$ST" = new ] || fail "$kind $n: no fault met, state $ST"
			[ $ST_EXACT = 1 ] || both_pass "$FAULT_STATE_OF" ||
				fail "$kind $n: no fault met, the output fails a checker"
			break
		fi
		if [ $rc -eq 0 ] && [ -n "${FAULT_SALVAGE:-}" ]; then
			# A repair may salvage around a block it cannot read.
			both_pass "$FAULT_STATE_OF" ||
				fail "$kind $n: salvaged (exit 0) to a state that fails a checker"
			FAULT_SALVAGED=$((${FAULT_SALVAGED:-0} + 1))
			n=$((n + 1))
			continue
		fi
		if [ "$kind" = torn ]; then
			[ $rc -eq $FAULT_EXIT ] ||
				fail "torn $n: exit $rc, not the shim's $FAULT_EXIT: $(cat err.txt)"
		else
			[ $rc -ne 0 ] || fail "$kind $n: the fault was ignored, exit 0"
			[ $rc -lt 128 ] || fail "$kind $n: killed (exit $rc): $(cat err.txt)"
			[ -n "${FAULT_REPORT:-}" ] || [ "$(wc -l <err.txt)" -eq 1 ] ||
				fail "$kind $n: stderr is not one line: $(cat err.txt)"
			grep -Eq "^${FAULT_REPORT:-${FAULT_TOOL}: }.*(${FAULT_MSG:-I/O error|Input/output error})" err.txt ||
				fail "$kind $n: stderr does not name the I/O error: $(cat err.txt)"
		fi
		fault_state "$FAULT_STATE_OF"
		case " $allowed " in
		*" $ST "*) ;;
		*) fault_bad "$kind $n: state $ST after: $(cat err.txt) ($(cat fault.log))" ;;
		esac
		if [ $ST_EXACT = 0 ]; then
			both_pass "$FAULT_STATE_OF" ||
				fault_bad "$kind $n: dumps as the $ST metadata but fails a checker ($(cat fault.log))"
		fi
		if [ -n "${FAULT_ON_FAIL:-}" ]; then
			"$FAULT_ON_FAIL" "$kind" "$n" "$ST" || exit 1
		fi
		n=$((n + 1))
		[ $n -le 1000 ] || fail "$kind: still failing after 1000 faults"
	done
	echo "$kind: $((n - 1)) faults injected, each left a valid state${FAULT_KNOWN_SEEN:+ but$FAULT_KNOWN_SEEN}"
	FAULT_COUNT=$((n - 1))
}

# fault_bad MSG: fails, unless "$kind $n" is one of FAULT_KNOWN's entries
# ("KIND N", comma separated): a known bug, reported by its test, which
# fault_known_done then insists is still there, so that its fix shows.
fault_bad() {
	case ",$FAULT_KNOWN," in
	*",$kind $n,"*)
		echo "known failure: $1"
		FAULT_KNOWN_SEEN="$FAULT_KNOWN_SEEN $kind $n" ;;
	*) fail "$1" ;;
	esac
}
FAULT_KNOWN= FAULT_KNOWN_SEEN=

# fault_known_done: every FAULT_KNOWN entry failed as expected.
fault_known_done() {
	local k IFS=,
	for k in $FAULT_KNOWN; do
		case " $FAULT_KNOWN_SEEN " in
		*" $k "*) ;;
		*) fail "$k: the known failure is gone: update the test" ;;
		esac
	done
	FAULT_KNOWN= FAULT_KNOWN_SEEN=
}
