#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Runs the fuzz harnesses (tests/fuzz/NAME_fuzz.c), for `make check` and
# `make fuzz`:
#
#   run.sh replay BIN...   each BIN (the gcc + ASan/UBSan build with
#                          replay_main.c, named NAME) over
#                          tests/fuzz/seeds/NAME and tests/fuzz/findings/NAME
#   run.sh fuzz BIN...     each BIN (the libFuzzer build) for FUZZ_SECONDS
#                          seconds (default 60), one after the other
#
# A harness's seeds are tests/fuzz/seeds/NAME/ (files, gzip ones included,
# which are unpacked for libFuzzer); an optional tests/fuzz/NAME.options
# holds extra libFuzzer flags on one line (-max_len=, -dict=...).  The
# working corpus grows in BUILD/fuzz/corpus/NAME/ and is kept between runs.
# Every crash or finding is copied to tests/fuzz/findings/NAME/ under a
# name that says what it found (the harness's "FUZZ FINDING: slug", or the
# sanitizer's error kind and the function it hit), the run restarts for
# the time left, and the exit status is 1.  For each harness the last
# lines print libFuzzer's final stats: executions per second, coverage
# (cov: edges, ft: features) and the corpus size.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
mode=${1:?usage: run.sh replay|fuzz BIN...}
shift

replay() {
	local bin name dirs fails=0
	for bin in "$@"; do
		name=$(basename "$bin")
		dirs=()
		for d in seeds findings; do
			[ -d "$TOP/tests/fuzz/$d/$name" ] &&
				dirs+=("$TOP/tests/fuzz/$d/$name/")
		done
		[ ${#dirs[@]} -gt 0 ] || { echo "fuzz $name: no seeds"; fails=1; continue; }
		if "$bin" "${dirs[@]}" >"$bin.log" 2>&1; then
			echo "fuzz $name: $(tail -n 1 "$bin.log" | sed 's/.*: //')"
		else
			echo "FAIL fuzz $name (replay of the seeds and findings):"
			grep -v '^replay ' "$bin.log" | head -n 40
			grep '^replay ' "$bin.log" | tail -n 1
			fails=1
		fi
	done
	return $fails
}

# slug LOG: what a crash log found, as a file name.
slug() {
	local log=$1 s kind fn
	s=$(sed -n 's/^FUZZ FINDING: \([a-z0-9-]*\):.*/\1/p' "$log" | head -n 1)
	if [ -z "$s" ]; then
		kind=$(sed -n 's/.*ERROR: [A-Za-z]*Sanitizer: \([a-z-]*\).*/\1/p' "$log" | head -n 1)
		[ -z "$kind" ] && grep -q 'runtime error:' "$log" && kind=ubsan-$(
			sed -n 's/.*runtime error: \([a-z]*\( [a-z]*\)\{0,2\}\).*/\1/p' "$log" |
			head -n 1 | tr ' ' '-')
		[ -z "$kind" ] && kind=$(sed -n 's/.*ERROR: libFuzzer: \([a-z-]*\).*/\1/p' "$log" | head -n 1)
		# the first frame in our code
		fn=$(grep -E '^ +#[0-9]+ ' "$log" |
			grep -E '[ /](base|pdata|cache|xml|engine|tools|tests/fuzz)/[a-z_0-9]+\.c:' |
			head -n 1 | sed -n 's/.* in \([A-Za-z_0-9]*\) .*/\1/p')
		[ -z "$fn" ] && fn=$(sed -n 's/^\(base\|pdata\|cache\|xml\|engine\)\/\([a-z_0-9]*\)\.c:\([0-9]*\):.*runtime error.*/\2-\3/p' "$log" | head -n 1)
		s=${kind:-crash}${fn:+-$fn}
	fi
	echo "${s:-crash}"
}

fuzz() {
	local bin name seconds=${FUZZ_SECONDS:-60} found=0
	local corpus seeds art opts log end left rc s dest n f g saved
	for bin in "$@"; do
		name=$(basename "$bin")
		corpus=$(dirname "$bin")/../corpus/$name
		seeds=$(dirname "$bin")/../seeds/$name
		art=$(dirname "$bin")/../artifacts/$name
		log=$(dirname "$bin")/../$name.log
		rm -rf "$seeds" "$art" && mkdir -p "$corpus" "$seeds" "$art"
		for f in "$TOP/tests/fuzz/seeds/$name"/* "$TOP/tests/fuzz/findings/$name"/*; do
			[ -f "$f" ] || continue
			case $f in
			*.log) continue ;;
			*.gz) gzip -dc "$f" >"$seeds/$(basename "$f" .gz)" ;;
			*) cp "$f" "$seeds/" ;;
			esac
		done
		opts=()
		[ -f "$TOP/tests/fuzz/$name.options" ] &&
			read -r -a opts <"$TOP/tests/fuzz/$name.options"
		end=$(($(date +%s) + seconds))
		n=0
		saved=" "
		while left=$((end - $(date +%s))) && [ $left -gt 0 ] && [ $n -lt 50 ]; do
			n=$((n + 1))
			(cd "$TOP" && "$bin" -max_total_time=$left -print_final_stats=1 \
				-artifact_prefix="$art/" "${opts[@]}" "$corpus" "$seeds") \
				>"$log" 2>&1
			rc=$?
			[ $rc -eq 0 ] && break
			f=$(ls -t "$art"/* 2>/dev/null | head -n 1)
			if [ -z "$f" ]; then
				echo "fuzz $name: libFuzzer failed (exit $rc), no artifact:"
				tail -n 20 "$log"
				found=1
				break
			fi
			found=1
			# A seed or corpus input that crashes (a finding not fixed
			# yet) is taken out, or every restart would stop on it.
			for g in "$seeds"/* "$corpus"/*; do
				[ -f "$g" ] && cmp -s "$f" "$g" && rm -f "$g"
			done
			s=$(slug "$log")
			case $saved in *" $s "*)
				rm -f "$f"
				continue ;;
			esac
			saved="$saved$s "
			dest=$TOP/tests/fuzz/findings/$name/$s
			mkdir -p "$(dirname "$dest")"
			if [ -e "$dest" ] && ! cmp -s "$f" "$dest"; then
				dest=$dest-$(sha1sum "$f" | cut -c1-8)
			fi
			cp "$f" "$dest"
			cp "$log" "$dest.log"
			rm -f "$f"
			echo "FINDING fuzz $name: ${dest#"$TOP"/} (log: ${dest#"$TOP"/}.log)"
		done
		echo "fuzz $name: $seconds s budget, $n run(s); last run's final stats:"
		grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" | sed 's/^/  /'
		grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -n 1 | sed 's/^/  /'
	done
	return $found
}

case $mode in
replay) replay "$@" ;;
fuzz) fuzz "$@" ;;
*) echo "usage: run.sh replay|fuzz BIN..." >&2; exit 2 ;;
esac
