# SPDX-License-Identifier: GPL-3.0-or-later
#
# Helpers for bench/*.bench.sh.  time_cmd RUNS CMD... prints the median
# wall-clock seconds and the median peak RSS (KiB) of RUNS runs, as
# "SECONDS KIB".  ratio A B prints A/B with two decimals.

time_cmd() {
	local runs=$1
	shift
	local i t=() m=()
	for ((i = 0; i < runs; i++)); do
		/usr/bin/time -f '%e %M' -o "$BENCH_DIR/.time" "$@" >/dev/null 2>&1 || true
		read -r s k <"$BENCH_DIR/.time"
		t+=("$s")
		m+=("$k")
	done
	local ms mk
	ms=$(printf '%s\n' "${t[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")
	mk=$(printf '%s\n' "${m[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")
	echo "$ms $mk"
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 0.001; printf "%.2f", a / b }'
}
