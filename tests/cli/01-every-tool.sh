#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# What every tool owes its users, checked for all six at once: -h/--help on
# stdout with exit 0, -V/--version printing the bare version (LVM parses it
# with %u.%u.%u and needs at least 1.0.0), an unknown option failing with
# exit 1, a man page that groff renders without a warning, a bash
# completion, and `make install` putting binary, links, man pages and the
# completion where DESTDIR and PREFIX say.
set -u
: "${BIN:?}" "${TOP:?}"
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
tools="cache_check cache_dump cache_restore cache_repair cache_metadata_size cache_writeback
	cache_replay thin_check thin_dump thin_restore thin_repair thin_metadata_size"
version=$(sed -n 's/^VERSION := //p' "$TOP/Makefile")

for t in $tools; do
	for h in -h --help; do
		out=$("$BIN/$t" $h 2>/dev/null) || bad "$t $h: exit $?"
		grep -q -- '--version' <<<"$out" || bad "$t $h: no --version in the help"
	done
	for v in -V --version; do
		out=$("$BIN/$t" $v 2>&1)
		[ $? -eq 0 ] || bad "$t $v: non-zero exit"
		[ "$out" = "$version" ] || bad "$t $v: printed '$out', not '$version'"
		[[ "$out" =~ ^([0-9]+)\.[0-9]+\.[0-9]+$ ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] ||
			bad "$t $v: '$out' does not compare as at least 1.0.0"
	done
	"$BIN/$t" --no-such-option >/dev/null 2>err
	rc=$?
	[ $rc -eq 1 ] || bad "$t --no-such-option: exit $rc, not 1"
	grep -q 'no-such-option' err || bad "$t --no-such-option: the message does not name it"
	[ -f "$TOP/man/$t.8" ] || { bad "$t: no man page"; continue; }
	warn=$(groff -man -Tutf8 -ww -z "$TOP/man/$t.8" 2>&1)
	[ -z "$warn" ] || bad "$t.8: groff warns: $warn"
	grep -q "^\.TH ${t^^} 8" "$TOP/man/$t.8" || bad "$t.8: no .TH ${t^^} 8 line"
	bash -c "source '$TOP/bash-completion/dm-cache-tools' && complete -p $t" \
		>/dev/null 2>&1 || bad "$t: no bash completion"
done

# make install into a scratch DESTDIR, with the build we were given.
build=$(dirname "$(dirname "$BIN")")
rel=$build/rel/bin/dm-cache-tools
if [ -x "$rel" ]; then
	make -s -C "$TOP" BUILD="$build" install DESTDIR="$TESTDIR/root" \
		PREFIX=/usr >install.log 2>&1 || { bad "make install failed"; cat install.log; }
	[ -x root/usr/sbin/dm-cache-tools ] || bad "install: no binary"
	for t in $tools; do
		[ "$(readlink "root/usr/sbin/$t")" = dm-cache-tools ] || bad "install: no link $t"
		[ -f "root/usr/share/man/man8/$t.8" ] || bad "install: no $t.8"
		[ -e "root/usr/share/bash-completion/completions/$t" ] ||
			bad "install: no completion for $t"
	done
	[ "$(root/usr/sbin/cache_check -V)" = "$version" ] || bad "installed cache_check -V"
fi
[ $fails -eq 0 ]
