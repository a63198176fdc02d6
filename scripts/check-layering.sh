#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The layers point one way: base <- pdata <- {cache, thin} <- {xml, engine}
# <- tools; cache and thin are siblings and never include each other.
# Fails when a file includes a header from a layer above its own, or when
# cache/ or thin/ includes expat.
set -u
cd "$(dirname "$0")/.." || exit 1
bad=0
allowed() {
	case "$1" in
	base) echo "base" ;;
	pdata) echo "base pdata" ;;
	cache) echo "base pdata cache" ;;
	thin) echo "base pdata thin" ;;
	xml) echo "base pdata cache thin xml" ;;
	engine) echo "base pdata cache thin engine" ;;
	tools) echo "base pdata cache thin xml engine tools" ;;
	esac
}
for layer in base pdata cache thin xml engine tools; do
	[ -d "$layer" ] || continue
	ok=$(allowed "$layer")
	for f in "$layer"/*.[ch]; do
		[ -e "$f" ] || continue
		for inc in $(sed -n 's/^#include "\([a-z]*\)\/.*/\1/p' "$f"); do
			case " $ok " in
			*" $inc "*) ;;
			*) echo "layering: $f includes $inc/ (a layer above $layer)"; bad=1 ;;
			esac
		done
	done
done
if grep -l 'expat.h' cache/*.[ch] thin/*.[ch] pdata/*.[ch] base/*.[ch] 2>/dev/null; then
	echo "layering: only xml/ may include expat.h"
	bad=1
fi
exit $bad
