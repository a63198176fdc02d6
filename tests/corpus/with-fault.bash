# SPDX-License-Identifier: GPL-3.0-or-later
#
# corpus_with_fault CMD...: CMD, under the case's fault shim if it has one
# (./fault.env: FAULTIO_* settings, one per line, for
# tests/progs/faultio.so, which then fails reads of ./image, or of
# $CORPUS_IMAGE when set: a copy).  Shared by the cache and thin damage
# corpora; sourced.
corpus_with_fault() {
	if [ -f fault.env ]; then
		# shellcheck disable=SC2046
		env ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
			LD_PRELOAD="$PROGS/faultio.so" FAULTIO_FILE="${CORPUS_IMAGE:-image}" \
			$(cat fault.env) "$@"
	else
		"$@"
	fi
}
