#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The bash completion of cache_dump (bash-completion/dm-cache-tools):
# options after '-', files after -o / --output / --output=, files for the
# input, nothing after -h or -V, and every option it offers is one the tool
# accepts (its --help lists it).
set -u
: "${BIN:?}" "${TOP:?}"
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# shellcheck source=/dev/null
. "$TOP/bash-completion/dm-cache-tools"
complete -p cache_dump >/dev/null 2>&1 || { echo "FAIL: no completion for cache_dump"; exit 1; }

# comp WORD...: completes the last word of "cache_dump WORD...".
comp() {
	COMP_WORDS=(cache_dump "$@")
	COMP_CWORD=$#
	COMPREPLY=()
	_cache_dump
	[ ${#COMPREPLY[@]} -eq 0 ] && return
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}

mkdir d
: >d/meta.img
: >d/meta.xml

[ "$(comp --re)" = "--repair " ] || bad "--re -> '$(comp --re)'"
[ "$(comp -)" = "--help --output --quiet --repair --version -V -h -o -q " ] ||
	bad "- -> '$(comp -)'"
[ "$(comp -o d/meta.x)" = "d/meta.xml " ] || bad "-o d/meta.x -> '$(comp -o d/meta.x)'"
[ "$(comp --output d/m)" = "d/meta.img d/meta.xml " ] || bad "--output d/m -> '$(comp --output d/m)'"
[ "$(comp --output = d/meta.i)" = "d/meta.img " ] || bad "--output= -> '$(comp --output = d/meta.i)'"
[ "$(comp --repair d/meta.i)" = "d/meta.img " ] || bad "input -> '$(comp --repair d/meta.i)'"
[ -z "$(comp -h '')" ] || bad "after -h -> '$(comp -h '')'"
[ -z "$(comp --version '')" ] || bad "after --version -> '$(comp --version '')'"

# Every offered long option exists in the tool.
help=$("$BIN/cache_dump" --help)
for o in $(comp --); do
	grep -q -- "$o" <<<"$help" || bad "completion offers $o, which --help does not list"
done

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "completion ok"
