#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The bash completion of cache_metadata_size and cache_writeback
# (bash-completion/dm-cache-tools): options, units after -u, files after the
# device options, nothing after a number option, and every option offered
# is one the tool accepts (its --help lists it).
set -u
: "${BIN:?}" "${TOP:?}"
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# shellcheck source=/dev/null
. "$TOP/bash-completion/dm-cache-tools"
for t in cache_metadata_size cache_writeback; do
	complete -p $t >/dev/null 2>&1 || bad "no completion for $t"
done

# comp TOOL WORD...: completes the last word of "TOOL WORD...".
comp() {
	local tool=$1
	shift
	COMP_WORDS=("$tool" "$@")
	COMP_CWORD=$#
	COMPREPLY=()
	"_$tool"
	[ ${#COMPREPLY[@]} -eq 0 ] && return
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}

mkdir d
: >d/fast.img
: >d/meta.img

S=cache_metadata_size
[ "$(comp $S --nr)" = "--nr-blocks " ] || bad "--nr -> '$(comp $S --nr)'"
[ "$(comp $S -u g)" = "g " ] || bad "-u g -> '$(comp $S -u g)'"
[ "$(comp $S --unit = M)" = "M " ] || bad "--unit=M -> '$(comp $S --unit = M)'"
[ "$(comp $S --metadata-version '')" = "1 2 " ] || bad "--metadata-version"
[ -z "$(comp $S --nr-blocks '')" ] || bad "after --nr-blocks: '$(comp $S --nr-blocks '')'"
[ "$(comp $S --ex)" = "--exact " ] || bad "--ex"

W=cache_writeback
[ "$(comp $W --fast-device d/f)" = "d/fast.img " ] || bad "--fast-device d/f -> '$(comp $W --fast-device d/f)'"
[ "$(comp $W --metadata-device = d/m)" = "d/meta.img " ] || bad "--metadata-device="
[ "$(comp $W --list)" = "--list-failed-blocks " ] || bad "--list"
[ -z "$(comp $W --retry-count '')" ] || bad "after --retry-count"
[ "$(comp $W --no)" = "--no-metadata-update " ] || bad "--no"

# Every offered option exists in the tool.
for t in $S $W; do
	help=$("$BIN/$t" --help)
	for o in $(comp $t -); do
		grep -q -- "$o" <<<"$help" || bad "$t: completion offers $o, which --help does not list"
	done
done

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "completion ok"
