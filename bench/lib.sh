# SPDX-License-Identifier: GPL-3.0-or-later
#
# Helpers for bench/*.bench.sh.  time_cmd RUNS CMD... prints the median
# wall-clock seconds (less the harness's own start-up cost, timed on `true`)
# and the median peak RSS (KiB) of RUNS runs, as "SECONDS KIB".  ratio A B prints A/B with two decimals.

time_cmd() {
	local runs=$1
	shift
	local i t=() m=()
	for ((i = 0; i < runs; i++)); do
		local t0 t1
		t0=$(date +%s%N)
		/usr/bin/time -f '%e %M' -o "$BENCH_DIR/.time" "$@" >/dev/null 2>&1 || true
		t1=$(date +%s%N)
		read -r s k <"$BENCH_DIR/.time"
		# time's %e has 10 ms steps: too coarse for runs of a few ms.
		t+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')")
		m+=("$k")
	done
	local ms mk
	ms=$(printf '%s\n' "${t[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")
	# Take off what starting /usr/bin/time and date costs (timed on
	# `true` once per bench script), so runs of a few ms compare fairly.
	if [ -z "${BENCH_OVERHEAD:-}" ] && [ "$1" != true ]; then
		BENCH_OVERHEAD=$(time_cmd 5 true | cut -d' ' -f1)
	fi
	[ "$1" = true ] || ms=$(awk -v a="$ms" -v b="${BENCH_OVERHEAD:-0}" \
		'BEGIN { d = a - b; if (d < 0.0001) d = 0.0001; printf "%.4f", d }')
	mk=$(printf '%s\n' "${m[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")
	echo "$ms $mk"
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 0.001; printf "%.2f", a / b }'
}
