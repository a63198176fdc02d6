#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# make check-kernel: our tools against the real dm-cache kernel target
# (Debian's 6.1 cloud kernel under QEMU, one VM at a time, one vCPU), for
# metadata versions 1 and 2:
#
#   s1  the kernel formats zeroed metadata, runs a workload with a known
#       dirty set, shuts down cleanly: our check passes, our dump shows
#       exactly the kernel's mappings, dirty blocks and discards
#   s2  the kernel powers off mid-workload: our check passes (the kernel
#       accepts such metadata), our dump shows what is on disk and notes that
#       every mapping counts as dirty; a reload proves the kernel agrees
#   s3  our cache_restore writes metadata from XML: the kernel loads it with
#       the same counts, keeps our hints, reads through it return the cached
#       data, the cleaner writes back exactly the dirty blocks, and a smaller
#       cache device shrinks it
#   s4  our cache_repair's output for damaged metadata loads in the kernel,
#       which then allocates and commits on it
#   s5  the lab's experiment-c damages: every one the kernel refuses or
#       panics on, our cache_check fails; the kernel's own output passes
#   s6  our statically linked tools inside the guest, on its virtio block
#       devices: every tool refuses the devices of an active cache ("in
#       use"); check and dump read a device exactly as a byte copy of it;
#       restore, writeback and repair write devices the kernel then loads
#   s7  one trace both ways: tests/progs/kreplay issues it on the kernel's
#       cache and logs when each I/O really ran; cache_replay replays the
#       log on copies of the same images; the status counters and the
#       final metadata (mappings, dirty set, hints) agree: exactly for
#       full-block writes on a fresh cache, within the README's bounds
#       where the kernel's timing decides
#   s8  dm-thin (once, not per version): the kernel runs a pool with thins,
#       a snapshot and a held metadata snapshot; our thin_check passes it,
#       thin_dump and thin_dump -m match a model of what was written (and
#       0.9.0's dumps byte for byte); the kernel activates what our
#       thin_restore (and thin_repair, once merged) wrote, also from
#       <def>/<ref> XML, and reads back every block as written
#
# Prints PASS/FAIL/SKIP per scenario (SKIP: a tool it needs still says "not
# implemented yet"), ends with "kernel: N passed, N failed, N skipped" and
# exits 1 on any failure (77 when the kernel cannot be set up at all and
# KERNEL_REQUIRED is not set).  An unexpected panic, oops or timeout fails
# the scenario and shows the end of the serial log.
#
#   BIN=DIR      our tools (make check-kernel passes the sanitizer build)
#   STATIC_BIN=DIR  our statically linked tools and kreplay for s6 and s7
#                (make static); those are skipped without them
#   KTESTS=GLOB  only scenarios whose name matches (e.g. 's3-*', '*-v2*')
#   LAB_OUT, KERNEL_CACHE, KBOOT_TIMEOUT: see setup.sh and lib.sh
set -u
: "${BIN:?BIN must name the folder holding our tools}"
BIN=$(cd "$BIN" && pwd)
STATIC_BIN=${STATIC_BIN:+$(cd "$STATIC_BIN" && pwd)}
. "$(dirname "$0")/lib.sh"
WL=$KDIR/workloads
ONLY=${KTESTS:-*}
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

t_start=$(date +%s)
if ! "$KDIR/setup.sh"; then
	echo "kernel: cannot set up the kernel lab"
	[ -n "${KERNEL_REQUIRED:-}" ] && exit 1
	exit 77
fi
KWORK=$LAB_OUT/run
rm -rf "$KWORK"
mkdir -p "$KWORK"
MT0="migration_threshold 0"

# ---------------------------------------------------------------- results

npass=0 nfail=0 nskip=0 failed=""
S= S_FAILS=0 S_MISSING= S_NOTES= S_DETAIL= S_SKIP=

# sc_begin NAME: start a scenario; false when KTESTS filters it out
sc_begin() {
	[[ $1 == $ONLY ]] || return 1
	S=$1 S_FAILS=0 S_MISSING= S_NOTES= S_DETAIL= S_SKIP=
	return 0
}
sc_fail() { S_FAILS=$((S_FAILS + 1)); S_DETAIL+="    - $*"$'\n'; }
sc_note() { S_NOTES+="${S_NOTES:+; }$*"; }
# sc_detail TEXT: lines shown under a failed scenario (serial log, diffs)
sc_detail() { S_DETAIL+=$(sed 's/^/      | /' <<<"$1")$'\n'; }
sc_end() {
	if [ $S_FAILS -gt 0 ]; then
		nfail=$((nfail + 1)); failed+=" $S"
		echo "FAIL $S${S_NOTES:+: $S_NOTES}"
		printf '%s' "$S_DETAIL"
	elif [ -n "$S_SKIP" ]; then
		nskip=$((nskip + 1))
		echo "SKIP $S: $S_SKIP"
	elif [ -n "$S_MISSING" ]; then
		nskip=$((nskip + 1))
		echo "SKIP $S: not implemented yet:$S_MISSING${S_NOTES:+ (what ran passed: $S_NOTES)}"
	else
		npass=$((npass + 1))
		echo "PASS $S${S_NOTES:+: $S_NOTES}"
	fi
}

# ------------------------------------------------------------ our tools

declare -A IMPL=()
for t in cache_check cache_dump cache_restore cache_repair; do
	if "$BIN/$t" --version 2>&1 | grep -q 'not implemented yet'; then IMPL[$t]=0; else IMPL[$t]=1; fi
done

# have TOOL...: true when all are implemented; otherwise the scenario
# records them as missing (it becomes SKIP unless something failed)
have() {
	local t ok=0
	for t in "$@"; do
		if [ "${IMPL[$t]}" = 0 ]; then
			[[ " $S_MISSING " == *" $t "* ]] || S_MISSING+=" $t"
			ok=1
		fi
	done
	return $ok
}

# tool OUT TOOL ARGS...: run one of our tools, stdout to OUT, stderr to
# OUT.err; returns its exit status.  A sanitizer report fails the scenario
# whatever the status.
tool() {
	local out=$1 t=$2
	shift 2
	"$BIN/$t" "$@" >"$out" 2>"$out.err"
	local rc=$?
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$out.err"; then
		sc_fail "$t $*: sanitizer report"
		sc_detail "$(head -n 15 "$out.err")"
	fi
	return $rc
}

# check_passes IMG WHAT: our cache_check must accept IMG
check_passes() {
	have cache_check || return 0
	tool "$KWORK/$S.check" cache_check "$1"
	local rc=$?
	if [ $rc -ne 0 ]; then
		sc_fail "cache_check on $2: exit $rc, want 0"
		sc_detail "$(head -n 12 "$KWORK/$S.check.err")"
	fi
}

# dump_of IMG OUT: our cache_dump of IMG into OUT; false on failure
dump_of() {
	have cache_dump || return 1
	tool "$2" cache_dump "$1"
	local rc=$?
	if [ $rc -ne 0 ]; then
		sc_fail "cache_dump $(basename "$1"): exit $rc"
		sc_detail "$(head -n 5 "$2.err")"
		return 1
	fi
}

# XML helpers: "cblock oblock dirty" per mapping; hints "cblock data"
xmaps() { sed -n 's/.*<mapping cache_block="\([0-9]*\)" origin_block="\([0-9]*\)" dirty="\([a-z]*\)".*/\1 \2 \3/p' "$1"; }
xhints() { sed -n 's/.*<hint cache_block="\([0-9]*\)" data="\([^"]*\)".*/\1 \2/p' "$1"; }
nmaps() { xmaps "$1" | wc -l; }
ndirty() { xmaps "$1" | grep -c ' true$'; }
xattr() { head -n1 "$1" | sed -n "s/.* $2=\"\([^\"]*\)\".*/\1/p"; }

# kernel NAME ARGS...: boot (see kboot); an unexpected failure of the run
# fails the scenario with the end of the serial log; returns the run status
kernel() {
	local name=$1
	shift
	kboot "$name" "$@"
	local rc=$?
	if [ $rc -ne 0 ] || kpanicked "$name"; then
		sc_fail "kernel run $name: status $rc ($(case $rc in 2) echo 'dmsetup create failed';; 124) echo timeout;; 125) echo 'no result: panic or oops';; *) echo 'workload or removal failed';; esac))"
		sc_detail "$(kdmesg "$name" | tail -n 8)"
		sc_detail "$(tail -n 25 "$KWORK/$name.serial" 2>/dev/null)"
	fi
	return $rc
}

# expect_eq WHAT GOT WANT
expect_eq() { [ "$2" = "$3" ] || sc_fail "$1: got '$2', want '$3'"; }

# the kernel's counts for a status tag: sets K_CACHED (used), K_TOTAL, K_DIRTY
kcounts() {
	local c
	c=$(kfield "$1" "$2" cached)
	K_CACHED=${c%/*} K_TOTAL=${c#*/} K_DIRTY=$(kfield "$1" "$2" dirty)
}

# ------------------------------------------------------------- scenario 1

# s1_boot V: the kernel formats fresh metadata and runs workloads/s1.sh;
# leaves $KWORK/s1-vV.{meta,cache,origin} (the base of s4 and s5)
s1_boot() {
	local v=$1 p=$KWORK/s1-v$1
	mkimg "$p.meta" 8M
	mkimg "$p.cache" 32M
	mkimg "$p.origin" 256M
	kernel "s1-v$v" -b 64 -m "$v" -a "$MT0" "$p.meta" "$p.cache" "$p.origin" "$WL/s1.sh" &&
		"${INSPECT[@]}" xml "$p.meta" >"$p.expected.xml" && touch "$p.done"
}

s1() {
	local v=$1 p=$KWORK/s1-v$1
	sc_begin "s1-v$v-format-workload-clean" || return 0
	if s1_boot "$v"; then
		kcounts "s1-v$v" final
		expect_eq "kernel dirty count (workload writes 602 blocks)" "$K_DIRTY" 602
		sc_note "kernel: $K_CACHED/$K_TOTAL cached, $K_DIRTY dirty"
		check_passes "$p.meta" "the kernel's image"
		if dump_of "$p.meta" "$p.xml"; then
			expect_eq "dump mappings vs kernel cached" "$(nmaps "$p.xml")" "$K_CACHED"
			expect_eq "dump dirty vs kernel dirty" "$(ndirty "$p.xml")" "$K_DIRTY"
			expect_eq "dirty origin blocks" \
				"$(xmaps "$p.xml" | awk '$3 == "true" {print $2}' | sort -n | tr '\n' ' ')" \
				"$({ seq 0 599; echo 1000; echo 1001; } | tr '\n' ' ')"
			local stray
			stray=$(xmaps "$p.xml" | awk '!($2 <= 599 || ($2 >= 1000 && $2 <= 1099)) {print $2}' | head -n 3)
			[ -z "$stray" ] || sc_fail "mappings of origin blocks the workload never touched: $stray"
			expect_eq "discards" "$(grep -E '^  <discards |^    <discard ' "$p.xml" | tr '\n' '|')" \
				'  <discards discard_block_size="64" discard_nr_blocks="8192">|    <discard dbegin="5000" dend="5100"/>|'
			if ! cmp -s "$p.expected.xml" "$p.xml"; then
				sc_fail "dump differs from the independent decoder's (lab/tools/mdinspect.py xml)"
				sc_detail "$(diff "$p.expected.xml" "$p.xml" | head -n 10)"
			fi
			[ -s "$p.xml.err" ] && sc_fail "dump of a clean image prints on stderr: $(head -n 1 "$p.xml.err")"
			sc_note "dump: $(nmaps "$p.xml") mappings, $(ndirty "$p.xml") dirty"
		fi
	fi
	sc_end
}

# ------------------------------------------------------------- scenario 2

s2() {
	local v=$1 p=$KWORK/s2-v$1
	sc_begin "s2-v$v-crash" || return 0
	mkimg "$p.meta" 8M
	mkimg "$p.cache" 32M
	mkimg "$p.origin" 256M
	if kernel "s2-v$v" -b 64 -m "$v" -a "$MT0" "$p.meta" "$p.cache" "$p.origin" "$WL/s2-crash.sh"; then
		klines "s2-v$v" '^LAB-CRASH' >/dev/null || sc_fail "the guest did not crash as planned"
		kcounts "s2-v$v" committed
		local committed=$K_CACHED
		kcounts "s2-v$v" mid-write
		sc_note "kernel before the power-off: $committed then $K_CACHED cached, $K_DIRTY dirty"
		local flags
		flags=$("${INSPECT[@]}" summary "$p.meta" | sed -n 's/^superblock: .* flags=\([0-9]*\) .*/\1/p')
		expect_eq "superblock flags after the crash (no CLEAN_SHUTDOWN)" "$flags" 0
		check_passes "$p.meta" "the crashed image"
		local m=
		if dump_of "$p.meta" "$p.xml"; then
			m=$(nmaps "$p.xml")
			[ "$m" -ge "$committed" ] ||
				sc_fail "dump has $m mappings, fewer than the $committed committed before the crash"
			"${INSPECT[@]}" xml "$p.meta" >"$p.expected.xml"
			cmp -s "$p.expected.xml" "$p.xml" ||
				sc_fail "dump differs from the independent decoder's: $(diff "$p.expected.xml" "$p.xml" | head -n 4 | tr '\n' ' ')"
			grep -qi 'dirty' "$p.xml.err" ||
				sc_fail "cache_dump does not note that every mapping counts as dirty (stderr: $(head -c 200 "$p.xml.err"))"
			sc_note "dump: $m mappings"
		fi
		# The kernel's own reading of the crashed image: every valid
		# mapping is dirty.  It must be exactly the mappings we dumped.
		if kernel "s2-v$v-reload" -b 64 -m "$v" -a "$MT0" "$p.meta" "$p.cache" "$p.origin" "$WL/look.sh"; then
			kcounts "s2-v$v-reload" loaded
			sc_note "reload: $K_CACHED cached, $K_DIRTY dirty"
			expect_eq "reload: kernel dirty == kernel cached" "$K_DIRTY" "$K_CACHED"
			if [ -n "$m" ]; then
				expect_eq "reload: kernel cached vs our dump" "$K_CACHED" "$m"
				# after that clean shutdown the dirty state is on disk
				if dump_of "$p.meta" "$p.after.xml"; then
					expect_eq "mappings after the reload" \
						"$(xmaps "$p.after.xml" | cut -d' ' -f1,2 | md5sum)" \
						"$(xmaps "$p.xml" | cut -d' ' -f1,2 | md5sum)"
					expect_eq "dirty after the reload" "$(ndirty "$p.after.xml")" "$m"
				fi
			fi
			check_passes "$p.meta" "the image after the reload"
		fi
	fi
	sc_end
}

# ------------------------------------------------------------- scenario 3

# 256 cache blocks of 64 KiB, 20 mappings: cblock 2i -> oblock 37i+5, dirty
# unless i % 3 == 0 (13 dirty).  smq keeps clean and dirty blocks in two
# queues and, when it saves hints, renumbers each queue's levels 0, 1, 2...
# in queue order; hints that already are such a numbering survive a load
# and a save unchanged only if the kernel used them.  They number each queue
# from the highest cblock down, an order the kernel's own choice for
# hint-less mappings does not produce.
S3_NRC=256 S3_BS=128
# s3_xml [NR_CACHE_BLOCKS [CBLOCK_STRIDE]]: with cblock STRIDE*i instead of 2i
s3_xml() {
	awk -v nrc="${1:-$S3_NRC}" -v st="${2:-2}" -v bs=$S3_BS 'BEGIN {
		printf "<superblock uuid=\"\" block_size=\"%d\" nr_cache_blocks=\"%d\" policy=\"smq\" hint_width=\"4\">\n", bs, nrc
		print "  <mappings>"
		for (i = 0; i < 20; i++)
			printf "    <mapping cache_block=\"%d\" origin_block=\"%d\" dirty=\"%s\"/>\n", st * i, 37 * i + 5, (i % 3) ? "true" : "false"
		print "  </mappings>"
		print "  <hints>"
		nc = 0; nd = 0
		for (i = 19; i >= 0; i--) lvl[i] = (i % 3) ? nd++ : nc++
		b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		for (i = 0; i < 20; i++) {
			# base64 of the le32 lvl[i] (< 64): bytes lvl 0 0 0
			h = substr(b64, int(lvl[i] / 4) + 1, 1) substr(b64, (lvl[i] % 4) * 16 + 1, 1) "AAAA=="
			printf "    <hint cache_block=\"%d\" data=\"%s\"/>\n", st * i, h
		}
		print "  </hints>"
		print "</superblock>"
	}'
}

# s3_images P CACHE_SIZE: fresh metadata restored by us, cache block c
# holding "cache-c<c>" data, every origin block holding "origin"
s3_images() {
	local p=$1
	mkimg "$p.meta" 8M
	mkimg "$p.cache" "$2"
	mkimg "$p.origin" 64M
	"${BLOCKS[@]}" fill "$p.origin" $S3_BS origin 0 1024
	xmaps "${S3_XML:-$KWORK/s3.xml}" | while read -r c o _; do
		"${BLOCKS[@]}" put "$p.cache" $S3_BS "$c" "cache-c$c" "$o"
	done
}

# s3_restore P V: our cache_restore of s3.xml into P.meta
s3_restore() {
	tool "$1.restore" cache_restore -i "$KWORK/s3.xml" -o "$1.meta" --metadata-version "$2"
	local rc=$?
	[ $rc -eq 0 ] || { sc_fail "cache_restore exit $rc: $(head -n 2 "$1.restore.err")"; return 1; }
}

s3() {
	local v=$1 p
	[ -s "$KWORK/s3.xml" ] || s3_xml >"$KWORK/s3.xml"

	# a: load, no I/O, clean shutdown: counts and hints are ours
	sc_begin "s3-v$v-restore-load-hints" && {
		p=$KWORK/s3a-v$v
		if have cache_restore; then
			s3_images "$p" 16M
			if s3_restore "$p" "$v"; then
				check_passes "$p.meta" "our restored image"
				sc_note "restored: $("${INSPECT[@]}" summary "$p.meta" | sed -n 's/^  policy=\([^ ]*\) version=\([^ ]*\) hint_size=\([0-9]*\) .*/policy \1 \2, hint size \3/p')"
				if kernel "s3a-v$v" -b $S3_BS -m "$v" -a "$MT0" "$p.meta" "$p.cache" "$p.origin" "$WL/look.sh"; then
					kcounts "s3a-v$v" loaded
					sc_note "kernel: $K_CACHED/$K_TOTAL cached, $K_DIRTY dirty"
					expect_eq "kernel cached" "$K_CACHED/$K_TOTAL" "20/$S3_NRC"
					expect_eq "kernel dirty" "$K_DIRTY" 13
					check_passes "$p.meta" "the image after the kernel's clean shutdown"
					if dump_of "$p.meta" "$p.xml"; then
						expect_eq "mappings after the kernel (cblock oblock dirty)" \
							"$(xmaps "$p.xml" | md5sum)" "$(xmaps "$KWORK/s3.xml" | md5sum)"
						if [ "$(xhints "$p.xml" | md5sum)" != "$(xhints "$KWORK/s3.xml" | md5sum)" ]; then
							sc_fail "the kernel did not keep our hints"
							sc_detail "$(diff <(xhints "$KWORK/s3.xml") <(xhints "$p.xml") | head -n 8)"
						fi
					fi
				fi
			fi
		fi
		sc_end
	}

	# b: read through, then the cleaner writes back exactly the dirty blocks
	sc_begin "s3-v$v-restore-read-cleaner" && {
		p=$KWORK/s3b-v$v
		if have cache_restore; then
			s3_images "$p" 16M
			if s3_restore "$p" "$v" &&
				kernel "s3b-v$v" -b $S3_BS -m "$v" -a "$MT0" "$p.meta" "$p.cache" "$p.origin" "$WL/s3-clean.sh"; then
				kcounts "s3b-v$v" loaded
				expect_eq "kernel at load (cached dirty)" "$K_CACHED $K_DIRTY" "20 13"
				local show
				show() { sed -n "s/^LAB-SHOW\[$1\]: LAB \([^ ]*\) .*/\1/p" "$KWORK/s3b-v$v.serial"; }
				expect_eq "read of oblock 5 (cblock 0, clean)" "$(show 5)" cache-c0
				expect_eq "read of oblock 42 (cblock 2, dirty)" "$(show 42)" cache-c2
				expect_eq "read of oblock 6 (unmapped)" "$(show 6)" origin
				klines "s3b-v$v" '^LAB-CLEAN: dirty=0' >/dev/null ||
					sc_fail "the cleaner did not finish: $(klines "s3b-v$v" '^LAB-CLEAN')"
				# the origin now: dirty mappings' blocks hold cache data,
				# everything else is untouched
				local want got
				want=$(xmaps "$KWORK/s3.xml" | awk '$3 == "true" {print $2 " cache-c" $1} $3 == "false" {print $2 " origin"}' | sort -n)
				got=$(xmaps "$KWORK/s3.xml" | while read -r c o _; do
					echo "$o $("${BLOCKS[@]}" get "$p.origin" $S3_BS "$o" | awk '{print $1}')"; done | sort -n)
				expect_eq "origin blocks of the mappings after the cleaner" "$(echo "$got" | md5sum)" "$(echo "$want" | md5sum)"
				[ "$got" = "$want" ] || sc_detail "$(diff <(echo "$want") <(echo "$got") | head -n 8)"
				# scan prints runs "A..B TAG ob=..": count the blocks of
				# every run that is not the origin's own data
				expect_eq "origin blocks changed in all" \
					"$("${BLOCKS[@]}" scan "$p.origin" $S3_BS | awk '$2 != "origin" {split($1, r, /\.\./); n += r[2] - r[1] + 1} END {print n + 0}')" 13
				check_passes "$p.meta" "the image after the cleaner"
				if dump_of "$p.meta" "$p.xml"; then
					expect_eq "dump after the cleaner (mappings dirty policy)" \
						"$(nmaps "$p.xml") $(ndirty "$p.xml") $(xattr "$p.xml" policy)" "20 0 cleaner"
				fi
				sc_note "kernel: 20 cached, 13 dirty, cleaner: $(klines "s3b-v$v" '^LAB-CLEAN' | sed 's/^LAB-CLEAN: //')"
			fi
		fi
		sc_end
	}

	# c: a cache device of 128 blocks: the kernel must shrink our metadata
	sc_begin "s3-v$v-restore-shrink" && {
		p=$KWORK/s3c-v$v
		if have cache_restore; then
			s3_images "$p" 8M
			if ! s3_restore "$p" "$v"; then
				:
			elif kernel "s3c-v$v" -b $S3_BS -m "$v" -a "$MT0" "$p.meta" "$p.cache" "$p.origin" "$WL/look.sh"; then
				kcounts "s3c-v$v" loaded
				expect_eq "kernel after the shrink (cached dirty)" "$K_CACHED/$K_TOTAL $K_DIRTY" "20/128 13"
				sc_note "kernel: $K_CACHED/$K_TOTAL cached, $K_DIRTY dirty"
				check_passes "$p.meta" "the shrunk image"
				if dump_of "$p.meta" "$p.xml"; then
					expect_eq "dump after the shrink (nr_cache_blocks mappings dirty)" \
						"$(xattr "$p.xml" nr_cache_blocks) $(nmaps "$p.xml") $(ndirty "$p.xml")" "128 20 13"
				fi
			elif kdmesg "s3c-v$v" | grep -q 'is dirty'; then
				sc_fail "the kernel refuses to shrink: dirty bits on unmapped blocks? $(kdmesg "s3c-v$v" | grep -m1 'dirty')"
			fi
		fi
		sc_end
	}
}

# ------------------------------------------------------------- scenario 4

# base_image V: s1's kernel-written image and its data (made if s1 was not run)
base_image() {
	[ -e "$KWORK/s1-v$1.done" ] && return 0
	s1_boot "$1" || { sc_fail "no base image: the kernel run s1-v$1 failed"; return 1; }
}

# damage IMG WHAT: one of the lab's experiment-c damages, on a copy
damage() {
	local m=$1 what=$2 m0
	case $what in
	c00-none) ;;
	c01-sb-csum) "${INSPECT[@]}" flip "$m" 0 300 ;;
	c02-sb-incompat) "${INSPECT[@]}" setsb "$m" incompat_flags 1 ;;
	c03-sb-version3) "${INSPECT[@]}" setsb "$m" version 3 ;;
	c04-sb-needs-check) "${INSPECT[@]}" setsb "$m" flags 3 ;;
	c05-sb-blocksize) "${INSPECT[@]}" setsb "$m" data_block_size 128 ;;
	c06-sm-index-csum) "${INSPECT[@]}" flip "$m" "$("${INSPECT[@]}" where "$m" index)" 4000 ;;
	c07-sm-bitmap-csum) "${INSPECT[@]}" flip "$m" "$("${INSPECT[@]}" where "$m" bitmap0)" 4000 ;;
	c08-sm-refcount-csum) "${INSPECT[@]}" flip "$m" "$("${INSPECT[@]}" where "$m" refcount)" 4000 ;;
	c09-mapping-root-csum) "${INSPECT[@]}" flip "$m" "$("${INSPECT[@]}" where "$m" mapping-root)" 4000 ;;
	c10-mapping-ablock-csum) "${INSPECT[@]}" flip "$m" "$("${INSPECT[@]}" where "$m" mapping-ablock0)" 4000 ;;
	c11-hint-ablock-csum) "${INSPECT[@]}" flip "$m" "$("${INSPECT[@]}" where "$m" hint-ablock0)" 4000 ;;
	c12-discard-ablock-csum) "${INSPECT[@]}" flip "$m" "$("${INSPECT[@]}" where "$m" discard-ablock0)" 4000 ;;
	c13-dirty-ablock-csum) "${INSPECT[@]}" flip "$m" "$("${INSPECT[@]}" where "$m" dirty-ablock0)" 4000 ;;
	c14-dup-oblock)
		m0=$("${INSPECT[@]}" getmap "$m" 0)
		"${INSPECT[@]}" setmap "$m" 1 "$m0" ;;
	c15-unknown-flag)
		m0=$("${INSPECT[@]}" getmap "$m" 0)
		"${INSPECT[@]}" setmap "$m" 0 $((m0 | 4)) ;;
	c16-oblock-beyond-origin)	# keeps the flags: v1's dirty flag is one
		m0=$("${INSPECT[@]}" getmap "$m" 0)
		"${INSPECT[@]}" setmap "$m" 0 $(((1000000 << 16) | (m0 & 0xffff))) ;;
	c17-sm-count-zero) "${INSPECT[@]}" setcount "$m" "$("${INSPECT[@]}" where "$m" mapping-root)" 0 ;;
	# NEEDS_CHECK and a leak (the last block of the 8 MiB metadata, far
	# past what the kernel allocates): --clear-needs-check-flag frees it
	# in a transaction, new space map elsewhere, superblock last
	c18-sm-leak-needs-check) "${INSPECT[@]}" setsb "$m" flags 3 &&
		"${INSPECT[@]}" setcount "$m" 2047 1 ;;
	*) echo "unknown damage $what" >&2; return 1 ;;
	esac
}

s4() {
	local v=$1 d p
	local damages="c11-hint-ablock-csum c10-mapping-ablock-csum c07-sm-bitmap-csum"
	[ "$v" = 2 ] && damages+=" c13-dirty-ablock-csum"
	for d in $damages; do
		sc_begin "s4-v$v-repair-${d#*-}" || continue
		p=$KWORK/s4-v$v-$d
		if have cache_repair && base_image "$v"; then
			cp "$KWORK/s1-v$v.meta" "$p.damaged"
			cp "$KWORK/s1-v$v.cache" "$p.cache"
			cp "$KWORK/s1-v$v.origin" "$p.origin"
			damage "$p.damaged" "$d"
			mkimg "$p.meta" 8M
			tool "$p.repair" cache_repair -i "$p.damaged" -o "$p.meta"
			local rc=$?
			if [ $rc -ne 0 ]; then
				sc_fail "cache_repair exit $rc: $(head -n 2 "$p.repair.err")"
			else
				local ver
				ver=$("${INSPECT[@]}" summary "$p.meta" | sed -n 's/^superblock: .* version=\([0-9]*\)$/\1/p')
				expect_eq "metadata version of the repaired image" "$ver" "$v"
				check_passes "$p.meta" "the repaired image"
				local m= dn=
				if dump_of "$p.meta" "$p.xml"; then
					m=$(nmaps "$p.xml") dn=$(ndirty "$p.xml")
					sc_note "repaired: $m mappings, $dn dirty"
					case $d in
					c11-*|c07-*)	# nothing but hints or the space map lost
						expect_eq "mappings kept by the repair" "$(xmaps "$p.xml" | md5sum)" "$(xmaps "$KWORK/s1-v$v.expected.xml" | md5sum)" ;;
					c10-*)		# array block 0 (cblocks 0..508) lost at most
						local lost
						lost=$(comm -13 <(xmaps "$p.xml" | sort) <(xmaps "$KWORK/s1-v$v.expected.xml" | sort) | awk '$1 >= 509' | wc -l)
						expect_eq "mappings past the damaged array block lost" "$lost" 0
						[ -z "$(comm -23 <(xmaps "$p.xml" | sort) <(xmaps "$KWORK/s1-v$v.expected.xml" | sort))" ] ||
							sc_fail "the repair invented mappings" ;;
					c13-*)		# dirty state unknown: resolved toward dirty
						expect_eq "mappings kept by the repair" "$(xmaps "$p.xml" | cut -d' ' -f1,2 | md5sum)" \
							"$(xmaps "$KWORK/s1-v$v.expected.xml" | cut -d' ' -f1,2 | md5sum)"
						expect_eq "dirty after losing the dirty bitset (all)" "$dn" "$m" ;;
					esac
				fi
				if kernel "s4-v$v-$d" -b 64 -m "$v" -a "$MT0" "$p.meta" "$p.cache" "$p.origin" "$WL/s4-io.sh"; then
					kcounts "s4-v$v-$d" loaded
					sc_note "kernel: $K_CACHED cached, $K_DIRTY dirty"
					[ -z "$m" ] || expect_eq "kernel (cached dirty) vs our dump of the repair" "$K_CACHED $K_DIRTY" "$m $dn"
					klines "s4-v$v-$d" '^LAB-ERROR' >/dev/null &&
						sc_fail "I/O failed on the repaired metadata: $(klines "s4-v$v-$d" '^LAB-ERROR' | head -n 2)"
					[ "$(kfield "s4-v$v-$d" after-io mode/needs_check)" = "rw/-" ] ||
						sc_fail "kernel mode after I/O: $(kfield "s4-v$v-$d" after-io mode/needs_check)"
					check_passes "$p.meta" "the repaired image after the kernel's I/O"
				fi
			fi
		fi
		sc_end
	done
}

# ------------------------------------------------------------- scenario 5

s5() {
	local v=$1 d p rc kv
	local cases="c00-none c01-sb-csum c02-sb-incompat c03-sb-version3 c04-sb-needs-check
		c05-sb-blocksize c06-sm-index-csum c07-sm-bitmap-csum c08-sm-refcount-csum
		c09-mapping-root-csum c10-mapping-ablock-csum c11-hint-ablock-csum
		c12-discard-ablock-csum c14-dup-oblock c15-unknown-flag
		c16-oblock-beyond-origin c17-sm-count-zero c18-sm-leak-needs-check"
	[ "$v" = 2 ] && cases+=" c13-dirty-ablock-csum"
	for d in $cases; do
		sc_begin "s5-v$v-$d" || continue
		p=$KWORK/s5-v$v-$d
		if base_image "$v"; then
			cp "$KWORK/s1-v$v.meta" "$p.meta"
			cp "$KWORK/s1-v$v.cache" "$p.cache"
			cp "$KWORK/s1-v$v.origin" "$p.origin"
			damage "$p.meta" "$d"
			local crc= ccrc=
			if have cache_check; then
				tool "$p.check" cache_check "$p.meta"
				crc=$?
				# NEEDS_CHECK is a request to run the check, which LVM
				# does with --clear-needs-check-flag before every
				# activation: a copy goes that way (booted below)
				if { [ "$d" = c04-sb-needs-check ] || [ "$d" = c18-sm-leak-needs-check ]; } && [ "$crc" = 0 ]; then
					cp "$p.meta" "$p.cleared.meta"
					tool "$p.clear" cache_check --clear-needs-check-flag "$p.cleared.meta"
					ccrc=$?
				fi
			fi
			# the kernel's verdict (a panic is a verdict here, not a failure)
			kboot "s5-v$v-$d" -t 120 -b 64 -m "$v" -a "$MT0" "$p.meta" "$p.cache" "$p.origin" "$WL/probe.sh"
			rc=$?
			if [ $rc -eq 124 ]; then
				kv=timeout
				sc_fail "kernel run timed out"
				sc_detail "$(tail -n 25 "$KWORK/s5-v$v-$d.serial")"
			elif [ $rc -eq 125 ] || kpanicked "s5-v$v-$d"; then
				kv=panics
			elif [ $rc -eq 2 ]; then
				kv="refuses at load"
			elif klines "s5-v$v-$d" '^LAB-ERROR' >/dev/null ||
				[ "$(kfield "s5-v$v-$d" after-io mode/needs_check)" != "rw/-" ] || [ $rc -ne 0 ]; then
				kv="fails at run time"
			else
				kv=accepts
			fi
			local why
			why=$(kdmesg "s5-v$v-$d" | grep -vE 'uevent|ioctl|IMA' | grep -m1 -E 'failed|unable|unsupported|refus|error|BUG|not supported|found' | cut -c1-90)
			sc_note "kernel $kv${why:+ ($why)}; our check: ${crc:-n/a}"
			if [ -n "$crc" ]; then
				case $d in
				c00-none)
					expect_eq "kernel verdict on its own image" "$kv" accepts
					[ "$crc" = 0 ] || { sc_fail "cache_check fails the kernel's own image (exit $crc)"; sc_detail "$(head -n 8 "$p.check.err")"; } ;;
				c04-sb-needs-check | c18-sm-leak-needs-check)
					grep -qi 'needs.check' "$p.check.err" "$p.check" ||
						sc_fail "cache_check does not mention NEEDS_CHECK"
					if [ "$crc" = 0 ]; then
						expect_eq "cache_check --clear-needs-check-flag exit" "$ccrc" 0
						expect_eq "flags after --clear-needs-check-flag" \
							"$("${INSPECT[@]}" summary "$p.cleared.meta" | sed -n 's/^superblock: .* flags=\([0-9]*\) .*/\1/p')" 1
						if [ "$d" = c18-sm-leak-needs-check ]; then
							grep -q '^  freed 1 leaked block$' "$p.clear.err" "$p.clear" ||
								sc_fail "--clear-needs-check-flag did not free the leak"
							/usr/sbin/cache_check -q "$p.cleared.meta" ||
								sc_fail "0.9.0's cache_check fails the cleared image"
						fi
						cp "$KWORK/s1-v$v.cache" "$p.cache"
						cp "$KWORK/s1-v$v.origin" "$p.origin"
						kernel "s5-v$v-$d-cleared" -b 64 -m "$v" -a "$MT0" "$p.cleared.meta" "$p.cache" "$p.origin" "$WL/probe.sh" &&
							sc_note "after --clear-needs-check-flag the kernel accepts it"
					fi ;;
				c05-sb-blocksize)
					# the kernel compares with its table, which the
					# metadata alone cannot show: not held against us
					sc_note "table-dependent, not asserted" ;;
				*)
					if [ "$kv" != accepts ] && [ "$crc" = 0 ]; then
						sc_fail "the kernel $kv, but our cache_check passes"
					elif [ "$kv" = accepts ] && [ "$crc" = 0 ]; then
						sc_note "both accept"
					fi
					[ "$crc" = 0 ] || [ "$crc" = 1 ] || sc_fail "cache_check exit $crc (documented: 0 or 1)" ;;
				esac
			fi
		fi
		sc_end
	done
}

# ------------------------------------------------------------- scenario 6

# The guest's output per command (see workloads/s6-blockdev.sh)
s6_out() { sed -n "s/^LAB-S6-OUT\[$2\]: //p" "$KWORK/$1.serial"; }
s6_err() { sed -n "s/^LAB-S6-ERR\[$2\]: //p" "$KWORK/$1.serial"; }
s6_rc() { sed -n "s/^LAB-S6-RC\[$2\]: //p" "$KWORK/$1.serial" | tail -n1; }

# s6_boot V: one boot runs the whole of workloads/s6-blockdev.sh (the three
# s6 scenarios assert on parts of it): s3's mappings, data and hints, but
# 4096 cache blocks of 64 KiB with the 20 mappings 200 apart, so that the
# arrays span several blocks and the tools read them in batches (through
# libaio on a device, pread on a file)
S6_NRC=4096
S6_OK=()
s6_boot() {
	local v=$1 p=$KWORK/s6-v$1
	[ -n "${S6_OK[$v]:-}" ] && return "${S6_OK[$v]}"
	S6_OK[$v]=1
	[ -s "$KWORK/s6.xml" ] || s3_xml $S6_NRC 200 >"$KWORK/s6.xml"
	if [ ! -s "$KWORK/initramfs-tools.cpio.gz" ] &&
		! kinitrd_tools "$STATIC_BIN" "$KWORK/initramfs-tools.cpio.gz"; then
		sc_fail "cannot add $STATIC_BIN/dm-cache-tools to the initramfs"
		return 1
	fi
	S3_XML=$KWORK/s6.xml s3_images "$p" 256M
	mkimg "$p.spare" 8M
	INITRD=$KWORK/initramfs-tools.cpio.gz kernel "s6-v$v" -n -b $S3_BS -m "$v" -a "$MT0" \
		-f "$KWORK/s6.xml" -x "spare=$p.spare" \
		"$p.meta" "$p.cache" "$p.origin" "$WL/s6-blockdev.sh" || return 1
	S6_OK[$v]=0
}

# s6_need TAG...: each command ran in the guest (else the run stopped early)
s6_need() {
	local t
	for t in "$@"; do
		[ -n "$(s6_rc "s6-v$V6" "$t")" ] || { sc_fail "$t did not run in the guest"; return 1; }
	done
}

s6() {
	local v=$1 n=s6-v$1 p=$KWORK/s6-v$1 t V6=$1
	local busy="busy-check busy-check-clear busy-dump busy-restore busy-repair-in
		busy-repair-out busy-writeback-meta busy-writeback-origin busy-writeback-fast"

	# a: the devices of an active cache are refused by every tool
	sc_begin "$n-in-use" && {
		if [ ! -x "$STATIC_BIN/dm-cache-tools" ]; then
			S_SKIP="no static build in ${STATIC_BIN:-\$STATIC_BIN} (make static)"
		elif have cache_check cache_dump cache_restore cache_repair && s6_boot "$v" && s6_need restore $busy; then
			local dev want_dev ok=0
			kcounts "$n" loaded
			expect_eq "kernel on our restore (cached dirty)" "$K_CACHED/$K_TOTAL $K_DIRTY" "20/$S6_NRC 13"
			for t in $busy; do
				# the one busy device: each attempt names it
				case $t in
				*-origin) dev=origin ;; *-fast) dev=cache ;; *) dev=meta ;;
				esac
				want_dev=$(sed -n "s/^LAB-S6-DISKS:.* $dev=\([^ ]*\).*/\1/p" "$KWORK/$n.serial")
				expect_eq "$t: exit status" "$(s6_rc "$n" "$t")" 1
				if ! s6_err "$n" "$t" | grep -q "^cache_[a-z]*: $want_dev: .*in use"; then
					sc_fail "$t: no \"$want_dev: ... in use\" line: $(s6_err "$n" "$t" | head -n 2 | tr '\n' '|')"
				elif [ "$(s6_err "$n" "$t" | wc -l)" != 1 ]; then
					sc_fail "$t: more than the one line on stderr: $(s6_err "$n" "$t" | tr '\n' '|')"
				else
					ok=$((ok + 1))
				fi
			done
			kcounts "$n" after-busy
			expect_eq "kernel after the attempts (cached dirty mode)" \
				"$K_CACHED $K_DIRTY $(kfield "$n" after-busy mode/needs_check)" "20 13 rw/-"
			sc_note "kernel: 20/$S6_NRC cached, 13 dirty; $ok/$(wc -w <<<"$busy") attempts refused: \"$(s6_err "$n" busy-dump | head -n 1 | cut -c1-70)\""
		fi
		sc_end
	}

	# b: a block device reads exactly as a byte copy of it
	sc_begin "$n-read-dev-as-file" && {
		if [ ! -x "$STATIC_BIN/dm-cache-tools" ]; then
			S_SKIP="no static build in ${STATIC_BIN:-\$STATIC_BIN} (make static)"
		elif have cache_check cache_dump cache_restore && s6_boot "$v" && s6_need check-dev check-file dump-dev dump-file; then
			local dd
			dd=$(sed -n 's/^LAB-S6-DISKS: meta=\([^ ]*\).*/\1/p' "$KWORK/$n.serial")
			expect_eq "cache_check exit, device and file" "$(s6_rc "$n" check-dev) $(s6_rc "$n" check-file)" "0 0"
			expect_eq "cache_check stdout, device vs file" "$(s6_out "$n" check-dev | md5sum)" "$(s6_out "$n" check-file | md5sum)"
			expect_eq "cache_check stderr, device vs file" \
				"$(s6_err "$n" check-dev | sed "s|$dd|PATH|g" | md5sum)" \
				"$(s6_err "$n" check-file | sed "s|/tmp/meta.img|PATH|g" | md5sum)"
			expect_eq "cache_dump exit, device and file" "$(s6_rc "$n" dump-dev) $(s6_rc "$n" dump-file)" "0 0"
			s6_out "$n" dump-dev >"$p.dev.xml"
			s6_out "$n" dump-file >"$p.file.xml"
			if ! cmp -s "$p.dev.xml" "$p.file.xml"; then
				sc_fail "cache_dump of the device differs from the dump of its copy"
				sc_detail "$(diff "$p.file.xml" "$p.dev.xml" | head -n 8)"
			fi
			expect_eq "cache_dump stderr, device and file" "$(s6_err "$n" dump-dev)$(s6_err "$n" dump-file)" ""
			# and what it read is what the kernel left: our restore's
			# mappings and hints (s3-*-restore-load-hints)
			expect_eq "mappings read from the device" "$(xmaps "$p.dev.xml" | md5sum)" "$(xmaps "$KWORK/s6.xml" | md5sum)"
			expect_eq "hints read from the device" "$(xhints "$p.dev.xml" | md5sum)" "$(xhints "$KWORK/s6.xml" | md5sum)"
			sc_note "check 0 and dump ($(nmaps "$p.dev.xml") mappings, $(ndirty "$p.dev.xml") dirty, $(wc -c <"$p.dev.xml") bytes) the same on $dd and on its copy"
		fi
		sc_end
	}

	# c: restore, writeback and repair write block devices; the kernel
	# loads each result
	sc_begin "$n-write-dev-kernel-loads" && {
		if [ ! -x "$STATIC_BIN/dm-cache-tools" ]; then
			S_SKIP="no static build in ${STATIC_BIN:-\$STATIC_BIN} (make static)"
		elif have cache_check cache_dump cache_restore cache_repair && s6_boot "$v" &&
			s6_need restore writeback dump-wb repair check-repaired dump-repaired; then
			expect_eq "cache_restore on the device: exit" "$(s6_rc "$n" restore)" 0
			kcounts "$n" loaded
			expect_eq "kernel on our restore (cached dirty)" "$K_CACHED/$K_TOTAL $K_DIRTY" "20/$S6_NRC 13"
			# writeback: exactly the 13 dirty blocks, from the fast
			# device to the origin, then marked clean
			expect_eq "cache_writeback on the devices: exit" "$(s6_rc "$n" writeback)" 0
			expect_eq "cache_writeback says" "$(s6_out "$n" writeback)" "13/13 blocks successfully copied."
			s6_out "$n" dump-wb >"$p.wb.xml"
			expect_eq "dump after the writeback (mappings dirty)" "$(nmaps "$p.wb.xml") $(ndirty "$p.wb.xml")" "20 0"
			expect_eq "mappings after the writeback (cblock oblock)" \
				"$(xmaps "$p.wb.xml" | cut -d' ' -f1,2 | md5sum)" "$(xmaps "$KWORK/s6.xml" | cut -d' ' -f1,2 | md5sum)"
			kcounts "$n" after-writeback
			expect_eq "kernel after the writeback (cached dirty)" "$K_CACHED/$K_TOTAL $K_DIRTY" "20/$S6_NRC 0"
			local want got
			want=$(xmaps "$KWORK/s6.xml" | awk '$3 == "true" {print $2 " cache-c" $1} $3 == "false" {print $2 " origin"}' | sort -n)
			got=$(xmaps "$KWORK/s6.xml" | while read -r c o _; do
				echo "$o $("${BLOCKS[@]}" get "$p.origin" $S3_BS "$o" | awk '{print $1}')"; done | sort -n)
			expect_eq "origin blocks of the mappings after the writeback" "$(echo "$got" | md5sum)" "$(echo "$want" | md5sum)"
			[ "$got" = "$want" ] || sc_detail "$(diff <(echo "$want") <(echo "$got") | head -n 8)"
			expect_eq "origin blocks changed in all" \
				"$("${BLOCKS[@]}" scan "$p.origin" $S3_BS | awk '$2 != "origin" {split($1, r, /\.\./); n += r[2] - r[1] + 1} END {print n + 0}')" 13
			# repair onto the spare disk, which the kernel then loads
			expect_eq "cache_repair onto the spare device: exit" "$(s6_rc "$n" repair)" 0
			kcounts "$n" repaired
			expect_eq "kernel on our repair (cached dirty)" "$K_CACHED/$K_TOTAL $K_DIRTY" "20/$S6_NRC 0"
			expect_eq "cache_check of the repaired device after the kernel: exit" "$(s6_rc "$n" check-repaired)" 0
			s6_out "$n" dump-repaired >"$p.repaired.xml"
			expect_eq "mappings on the repaired device after the kernel" \
				"$(xmaps "$p.repaired.xml" | md5sum)" "$(xmaps "$p.wb.xml" | md5sum)"
			# the host's sanitizer build reads the same bytes from the
			# image file behind the spare disk
			check_passes "$p.spare" "the spare image after the guest"
			if dump_of "$p.spare" "$p.spare.xml" && ! cmp -s "$p.spare.xml" "$p.repaired.xml"; then
				sc_fail "the guest's dump of the spare device differs from ours of its image file"
				sc_detail "$(diff "$p.spare.xml" "$p.repaired.xml" | head -n 8)"
			fi
			expect_eq "metadata version written by writeback, by repair" \
				"$("${INSPECT[@]}" summary "$p.meta" | sed -n 's/^superblock: .* version=\([0-9]*\)$/\1/p') $("${INSPECT[@]}" summary "$p.spare" | sed -n 's/^superblock: .* version=\([0-9]*\)$/\1/p')" "$v $v"
			sc_note "restore: kernel 20/$S6_NRC cached, 13 dirty; writeback: $(s6_out "$n" writeback), kernel $K_CACHED cached, 0 dirty; repair: kernel $K_CACHED cached, $K_DIRTY dirty"
		fi
		sc_end
	}
}

# ------------------------------------------------------------- scenario 7

# The same trace both ways: tests/progs/kreplay issues it on the real
# dm-cache in the guest and logs when each I/O was really issued and
# completed (time 0 is the resume); cache_replay replays that log on copies
# of the same starting images; s7.py compares the status counters and the
# final metadata.  64 KiB blocks, 128 of them over a 1024-block origin.
S7_BS=128 S7_CACHE=8M S7_ORIGIN=64M
S7=("$PY" "$KDIR/s7.py")

# s7_tolerance KIND: the agreement asserted (s7.py compare; the README
# says why): full-block writes on a fresh cache are deterministic; else
# the percentages allowed for the counters, the mapping and dirty sets,
# and the hints, and a few blocks allowed whatever the percentage: about
# twice the differences seen in the runs the README records
s7_tolerance() {
	case $1 in
	full) echo exact ;;
	zipf) echo 10:10:5:6 ;;
	scan) echo 12:25:5:4 ;;
	zipf-warm) echo 5:15:5:6 ;;
	esac
}

# s7_run V KIND [FROM]: one boot of workloads/s7-replay.sh on $KWORK/s7-vV-KIND.*
# (fresh images, or copies of the kernel's images after run FROM), the
# model on copies of the same starting images; leaves P.k.status,
# P.m.status, P.k.xml, P.m.xml; false (with a failure recorded) when a
# step fails
s7_run() {
	local v=$1 kind=$2 from=${3:-} p=$KWORK/s7-v$1-$2 n=s7-v$1-$2 mt=2048 f
	# no idle writebacks where the kernel's count of them is a race (see
	# the README): full-block writes never touch the origin, and a warm
	# start resumes with dirty blocks and no origin I/O yet
	case $kind in full|*-warm) mt=0 ;; esac
	if [ -n "$from" ]; then
		for f in meta cache origin; do cp "$KWORK/s7-v$v-$from.$f" "$p.$f" || return 1; done
	else
		mkimg "$p.meta" 8M
		mkimg "$p.cache" $S7_CACHE
		mkimg "$p.origin" $S7_ORIGIN
	fi
	for f in meta cache origin; do cp --sparse=always "$p.$f" "$p.m.$f"; done
	mkdir -p "$p.cfg"
	# the warm start replays another trace of the same kind
	"${S7[@]}" gen "${kind%-warm}" "$([ -n "$from" ] && echo $((v + 10)) || echo "$v")" \
		$S7_BS 1024 128 "$p.cfg/s7.trace" || { sc_fail "cannot make the trace"; return 1; }
	mkimg "$p.logimg" 4M
	if [ ! -s "$KWORK/initramfs-s7.cpio.gz" ] &&
		! kinitrd_tools "$STATIC_BIN" "$KWORK/initramfs-s7.cpio.gz"; then
		sc_fail "cannot add $STATIC_BIN to the initramfs"
		return 1
	fi
	INITRD=$KWORK/initramfs-s7.cpio.gz kernel "$n" -n -b $S7_BS -m "$v" -a "migration_threshold $mt" \
		-f "$p.cfg/s7.trace" -x "log=$p.logimg" \
		"$p.meta" "$p.cache" "$p.origin" "$WL/s7-replay.sh" || return 1
	touch "$p.done"
	local bytes
	bytes=$(sed -n 's/^LAB-S7-LOG: bytes=\([0-9]*\)$/\1/p' "$KWORK/$n.serial")
	[ -n "$bytes" ] || { sc_fail "no log from the guest"; return 1; }
	head -c "$bytes" "$p.logimg" >"$p.log"
	kstatus "$n" replayed | sed 's/^[0-9]* [0-9]* cache //' >"$p.k.status"
	tool "$p.m.status" cache_replay replay --metadata "$p.m.meta" --cache "$p.m.cache" \
		--origin "$p.m.origin" --trace "$p.log" --trace-format native \
		--block-size $S7_BS --metadata-version "$v" --policy smq \
		--migration-threshold $mt
	local rc=$?
	if [ $rc -ne 0 ]; then
		sc_fail "cache_replay exit $rc: $(head -n 2 "$p.m.status.err")"
		return 1
	fi
	check_passes "$p.meta" "the kernel's image"
	check_passes "$p.m.meta" "cache_replay's image"
	dump_of "$p.meta" "$p.k.xml" && dump_of "$p.m.meta" "$p.m.xml"
}

# s7_punctual V KIND [FROM]: true when the guest kept the trace's time
# (90 % of the I/Os issued at most S7_LATE_MS late), after one more boot
# if the first fell behind; else sets S7_LATE and is still true (the
# comparison is then reported, not asserted).  A starved emulated CPU
# takes its timer interrupts late, and the kernel's jiffies then lag its
# clock by more than the model can know (see the README).  The
# full-block writes do not depend on time and are always asserted.
S7_LATE_MS=10
s7_punctual() {
	local v=$1 kind=$2 from=${3:-} p=$KWORK/s7-v$1-$2 late try
	S7_LATE=
	[ "$kind" = full ] && return 0
	for try in 1 2; do
		late=$("${S7[@]}" late "$p.cfg/s7.trace" "$p.log") || { sc_fail "s7.py late failed"; return 1; }
		if awk -v l="$late" -v m=$S7_LATE_MS 'BEGIN { exit !(l <= m) }'; then
			[ $try = 1 ] || sc_note "second boot: the first fell behind the trace"
			return 0
		fi
		S7_LATE+="${S7_LATE:+, }90th percentile ${late} ms late"
		[ $try = 2 ] || s7_run "$v" "$kind" "$from" || return 1
	done
	return 0
}

# s7_summary P: "what kernel/model (differ)" for each measure compared
s7_summary() {
	sed -n 's/^ROW \(.*[a-z)]\) *kernel *\([0-9]*\) *model *\([0-9]*\) *differ *\([0-9]*\) .*/\1 \2\/\3 (\4)/p' "$1.cmp" |
		paste -sd, | sed 's/,/, /g'
}

s7() {
	local v=$1 kind p tol from rc
	for kind in full zipf scan zipf-warm; do
		sc_begin "s7-v$v-replay-$kind" || continue
		p=$KWORK/s7-v$v-$kind
		from=
		[ "$kind" = zipf-warm ] && from=zipf
		if [ ! -x "$STATIC_BIN/kreplay" ]; then
			S_SKIP="no static build in ${STATIC_BIN:-\$STATIC_BIN} (make static)"
		elif have cache_check cache_dump; then
			# the warm start needs the kernel's metadata of a zipf run
			if [ -n "$from" ] && [ ! -e "$KWORK/s7-v$v-$from.done" ]; then
				s7_run "$v" "$from" >/dev/null
			fi
			if [ -n "$from" ] && [ ! -e "$KWORK/s7-v$v-$from.done" ]; then
				sc_fail "no kernel-written metadata to start from: the $from run failed"
			elif s7_run "$v" "$kind" "$from" && s7_punctual "$v" "$kind" "$from"; then
				tol=$(s7_tolerance "$kind")
				"${S7[@]}" compare "$p.k.status" "$p.m.status" "$p.k.xml" "$p.m.xml" "$tol" >"$p.cmp" 2>"$p.cmp.err"
				rc=$?
				# 0 agreed, 1 a measure outside the tolerance; else
				# the comparison itself failed
				[ $rc -le 1 ] || sc_fail "s7.py compare: exit $rc: $(tail -n 1 "$p.cmp.err")"
				[ $rc -ne 1 ] || grep -q '^FAIL ' "$p.cmp" || sc_fail "s7.py compare: exit 1 without a FAIL line"
				sc_note "$tol: $(s7_summary "$p")"
				if [ -z "$S7_LATE" ]; then
					while read -r l; do sc_fail "$l"; done < <(sed -n 's/^FAIL //p' "$p.cmp")
					sc_detail "$(sed -n 's/^ROW //p' "$p.cmp")"
				else
					# reported, not held against the model
					S_SKIP="the guest fell behind the trace twice ($S7_LATE): the kernel's clock was too uneven to compare; measured $S_NOTES"
				fi
			fi
		fi
		sc_end
	done
}

# ------------------------------------------------------------- scenario 8

# dm-thin (s8.py has the plan language and the model).  Boot 1 runs
# s8.py's plan1 on fresh images (8 MiB metadata, 64 MiB data, 64 KiB
# blocks): thins, a snapshot, writes on both sides of it, a metadata
# snapshot held to the end, a thin written and deleted after it.  The host
# compares the kernel's status, and our check and dumps, with the model.
# Boot 2 activates metadata our restore (and, once merged, repair) wrote,
# with the thins, writes into holes and shared blocks, and copies every
# thin whole to a disk the host reads back.
S8=("$PY" "$KDIR/s8.py")
S8_NB=256	# blocks per thin (s8.py VBLOCKS)

# s8_has TOOL: our binary exists and is implemented
s8_has() { [ -x "$BIN/$1" ] && ! "$BIN/$1" --version 2>&1 | grep -q 'not implemented yet'; }

# s8_py WHAT ARGS...: an s8.py comparison; its FAIL lines fail the
# scenario, its last ROW line is left in S8_ROW
s8_py() {
	local what=$1 out rc
	shift
	out=$("${S8[@]}" "$@" 2>&1)
	rc=$?
	S8_ROW=$(sed -n 's/^ROW //p' <<<"$out" | tail -n1)
	if [ $rc -ne 0 ]; then
		sc_fail "$what: $(grep -c '^FAIL' <<<"$out") differences (exit $rc)"
		sc_detail "$(grep -v '^ROW' <<<"$out" | head -n 12)"
	fi
	return $rc
}

# s8_quiet_check IMG WHAT: our thin_check -q passes, prints nothing; and
# 0.9.0's
s8_quiet_check() {
	tool "$1.qcheck" thin_check -q "$1"
	local rc=$?
	expect_eq "thin_check -q on $2: exit" "$rc" 0
	expect_eq "thin_check -q on $2: output" "$(cat "$1.qcheck" "$1.qcheck.err")" ""
	/usr/sbin/thin_check -q "$1" >/dev/null 2>&1 || sc_fail "0.9.0 thin_check -q fails $2"
}

# s8_boot1: the kernel runs plan1; leaves $S8P.{meta,data}, the model's
# states in $S8P.st/TAG.json and the serial log $KWORK/s8.serial
S8P=$KWORK/s8
s8_boot1() {
	[ -e "$S8P.done" ] && return 0
	if [ -e "$S8P.tried" ]; then
		sc_fail "the kernel run s8 failed (see s8-thin-kernel-writes)"
		return 1
	fi
	touch "$S8P.tried"
	mkdir -p "$S8P.cfg" "$S8P.st"
	if ! { "${S8[@]}" plan1 >"$S8P.cfg/s8.plan" && "${S8[@]}" src "$S8P.cfg/s8.plan" "$S8P.src" &&
		"${S8[@]}" model "$S8P.cfg/s8.plan" "$S8P.st"; }; then
		sc_fail "s8.py could not make the plan, its source disk or its model"
		return 1
	fi
	mkimg "$S8P.meta" 8M
	mkimg "$S8P.data" 64M
	kernel s8 -n -b 128 -f "$S8P.cfg/s8.plan" "$S8P.meta" "$S8P.src" "$S8P.data" "$WL/s8-thin.sh" || return 1
	if klines s8 '^LAB-S8-FAIL' >/dev/null; then
		sc_fail "the guest's plan failed: $(klines s8 '^LAB-S8-FAIL' | head -n 1)"
		sc_detail "$(klines s8 '^LAB-S8-KMSG' | tail -n 8)"
		return 1
	fi
	klines s8 '^LAB-S8-DONE' >/dev/null || { sc_fail "the guest's plan did not finish"; return 1; }
	touch "$S8P.done"
}

# s8_dump: our thin_dump of the kernel's metadata in $S8P.xml (once)
s8_dump() {
	[ -s "$S8P.xml" ] && return 0
	tool "$S8P.xml" thin_dump "$S8P.meta"
	local rc=$?
	[ $rc -eq 0 ] || { sc_fail "thin_dump exit $rc: $(head -n 2 "$S8P.xml.err")"; rm -f "$S8P.xml"; return 1; }
}

# ---- boot 2: the acts, their disks (virtio serials) and their thins
declare -A S8_META=([rest]=mrest [rep]=mrep [root]=mroot [def]=mdef [leak]=mleak)
declare -A S8_DATA=([rest]=drest [rep]=drep [root]=droot [def]=ddef [leak]=dleak)
declare -A S8_DEVS=([rest]="1,2,3" [rep]="1,2,3" [root]="1,2,3" [def]="10,11,12,13" [leak]="1,2,3")
declare -A S8_NAME=([rest]=restore-kernel-reads [rep]=repair-kernel-reads
	[root]=repair-mapping-root-kernel-reads [def]=defref-restore-kernel-reads
	[leak]=leak-free-kernel-reads)
S8_ACTS=(rest rep root def leak)

# s8_prep ACT: the metadata image $S8P-ACT.meta and its data device
# $S8P-ACT.data for boot 2, and the model's starting state
# $S8P-ACT.init.json; host-side assertions on them go to the scenario;
# false when there is nothing for the kernel to load
s8_prep() {
	local a=$1 p=$S8P-$1 rc
	mkimg "$p.meta" 8M
	case $a in
	rest)
		s8_dump || return 1
		tool "$p.restore" thin_restore -i "$S8P.xml" -o "$p.meta"
		rc=$?
		[ $rc -eq 0 ] || { sc_fail "thin_restore exit $rc: $(head -n 2 "$p.restore.err")"; return 1; } ;;
	rep|root)
		if ! s8_has thin_repair; then
			S_SKIP="no thin_repair in $BIN yet (written on another branch; this runs once it is merged)"
			return 1
		fi
		s8_dump || return 1
		local in=$S8P.meta
		if [ "$a" = root ]; then
			in=$p.damaged
			cp "$S8P.meta" "$in"
			"${S8[@]}" setsb "$in" mapping-root || { sc_fail "s8.py setsb failed"; return 1; }
		fi
		tool "$p.repair" thin_repair -i "$in" -o "$p.meta"
		rc=$?
		[ $rc -eq 0 ] || { sc_fail "thin_repair exit $rc: $(head -n 2 "$p.repair.err")"; return 1; }
		[ ! -s "$p.repair.err" ] || sc_note "thin_repair says: $(head -n 2 "$p.repair.err" | tr '\n' ' ')" ;;
	leak)
		# The kernel's metadata, metadata snapshot held, with
		# NEEDS_CHECK, a leaked metadata block and a leaked data block
		# (the last of each device: the kernel allocates from the
		# start); our --clear-needs-check-flag (LVM's activation)
		# frees both in a transaction, and the kernel runs on it.
		s8_dump || return 1
		[ -x "${PROGS:-}/thin_corrupt" ] || { sc_fail "no thin_corrupt in PROGS"; return 1; }
		cp "$S8P.meta" "$p.meta"
		local last
		last=$(( $("$PROGS/thin_corrupt" "$p.meta" where sb-data_nr_blocks) - 1 ))
		"$PROGS/thin_corrupt" "$p.meta" set-sb flags 1 &&
			"$PROGS/thin_corrupt" "$p.meta" set-meta-count 2047 1 &&
			"$PROGS/thin_corrupt" "$p.meta" set-data-count "$last" 1 ||
			{ sc_fail "thin_corrupt failed"; return 1; }
		tool "$p.clear" thin_check --clear-needs-check-flag "$p.meta"
		rc=$?
		[ $rc -eq 0 ] || { sc_fail "thin_check --clear-needs-check-flag exit $rc: $(head -n 2 "$p.clear.err")"; return 1; }
		grep -q '^  freed 1 leaked metadata block and 1 leaked data block$' "$p.clear" "$p.clear.err" ||
			sc_fail "thin_check --clear-needs-check-flag did not free the two leaks"
		/usr/sbin/thin_check -q "$p.meta" || sc_fail "0.9.0's thin_check fails the cleared metadata"
		tool "$p.mcheck" thin_check -q -m "$p.meta"
		expect_eq "thin_check -m on the cleared metadata: exit" "$?" 0 ;;
	def)
		"${S8[@]}" handxml "$p.xml" "$p.init.json" "$p.data" || { sc_fail "s8.py handxml failed"; return 1; }
		tool "$p.restore" thin_restore -i "$p.xml" -o "$p.meta"
		rc=$?
		[ $rc -eq 0 ] || { sc_fail "thin_restore of the <def>/<ref> XML: exit $rc: $(head -n 2 "$p.restore.err")"; return 1; } ;;
	esac
	s8_quiet_check "$p.meta" "the $a metadata"
	tool "$p.out.xml" thin_dump "$p.meta"
	rc=$?
	[ $rc -eq 0 ] || { sc_fail "thin_dump of the $a metadata: exit $rc: $(head -n 2 "$p.out.xml.err")"; return 1; }
	/usr/sbin/thin_dump "$p.meta" >"$p.ref.xml" 2>/dev/null
	cmp -s "$p.out.xml" "$p.ref.xml" || { sc_fail "our thin_dump of the $a metadata differs from 0.9.0's"; sc_detail "$(diff "$p.ref.xml" "$p.out.xml" | head -n 8)"; }
	if [ "$a" = def ]; then
		s8_py "our dump of the restored <def>/<ref> XML against it" dump "$p.init.json" "$p.out.xml" "$p.data"
	else
		# the same pool as the kernel left, but for the metadata snapshot
		cmp -s "$p.out.xml" "$S8P.xml" || { sc_fail "the dump of the $a metadata differs from the dump of the kernel's"; sc_detail "$(diff "$S8P.xml" "$p.out.xml" | head -n 8)"; }
		s8_py "the dump of the $a metadata against the model" dump "$S8P.st/final.json" "$p.out.xml" "$S8P.data"
		cp "$S8P.st/final.json" "$p.init.json"
		# the leak act's metadata is the kernel's: its snapshot is held
		[ "$a" != leak ] || "$PY" -c 'import json, sys; s = json.load(open(sys.argv[1])); s["keep_held"] = True; json.dump(s, open(sys.argv[1], "w"))' "$p.init.json"
		cp --sparse=always "$S8P.data" "$p.data"
	fi
	# written: the kernel gets it whatever the host found
	return 0
}

# s8_boot2: once, for the acts KTESTS selects: each prepared (its
# results kept in $S8P-ACT.{nfail,detail,notes,skip} for its scenario),
# then one boot runs plan2 over those that are ready
s8_boot2() {
	[ -e "$S8P.boot2" ] && return 0
	touch "$S8P.boot2"
	local a k=0 acts=() inits=() sf=$S_FAILS sd=$S_DETAIL sn=$S_NOTES ss=$S_SKIP disks=()
	for a in "${S8_ACTS[@]}"; do
		[[ "s8-thin-${S8_NAME[$a]}" == $ONLY ]] || continue
		S_FAILS=0 S_DETAIL= S_NOTES= S_SKIP=
		if s8_prep "$a"; then
			acts+=("$a:${S8_META[$a]}:${S8_DATA[$a]}:${S8_DEVS[$a]}")
			inits+=("${S8_META[$a]}=$S8P-$a.init.json")
			disks+=(-x "${S8_META[$a]}=$S8P-$a.meta" -x "${S8_DATA[$a]}=$S8P-$a.data")
			echo $k >"$S8P-$a.slot"
			k=$((k + 1))
		fi
		echo "$S_FAILS" >"$S8P-$a.nfail"
		printf '%s' "$S_DETAIL" >"$S8P-$a.detail"
		printf '%s' "$S_NOTES" >"$S8P-$a.notes"
		printf '%s' "$S_SKIP" >"$S8P-$a.skip"
	done
	S_FAILS=$sf S_DETAIL=$sd S_NOTES=$sn S_SKIP=$ss
	[ $k -gt 0 ] || return 0
	mkdir -p "$S8P.cfg2" "$S8P.st2"
	"${S8[@]}" plan2 "${acts[@]}" >"$S8P.cfg2/s8.plan" &&
		"${S8[@]}" src "$S8P.cfg2/s8.plan" "$S8P.src2" &&
		"${S8[@]}" model "$S8P.cfg2/s8.plan" "$S8P.st2" "${inits[@]}" ||
		{ echo "s8.py could not make the second plan" >"$S8P.boot2.err"; return 0; }
	# the lab's three named disks are placeholders here
	mkimg "$S8P.none-meta" 1M
	mkimg "$S8P.none-origin" 1M
	mkimg "$S8P.copies" $((k * 4 * S8_NB * 64))K
	kboot s8-load -n -b 128 -f "$S8P.cfg2/s8.plan" "${disks[@]}" -x "out=$S8P.copies" \
		"$S8P.none-meta" "$S8P.src2" "$S8P.none-origin" "$WL/s8-thin.sh"
	echo $? >"$S8P.boot2.rc"
}

# s8_loaded ACT: its preparation's results, then what the kernel did on
# it in boot 2
s8_loaded() {
	local a=$1 p=$S8P-$1 m=${S8_META[$1]} rc k
	S_FAILS=$((S_FAILS + $(cat "$p.nfail" 2>/dev/null || echo 0)))
	S_DETAIL+=$(cat "$p.detail" 2>/dev/null)
	[ -z "$(cat "$p.detail" 2>/dev/null)" ] || S_DETAIL+=$'\n'
	[ ! -s "$p.notes" ] || sc_note "$(cat "$p.notes")"
	S_SKIP=$(cat "$p.skip" 2>/dev/null)
	[ -e "$p.slot" ] || return 0
	[ ! -s "$S8P.boot2.err" ] || { sc_fail "$(cat "$S8P.boot2.err")"; return 0; }
	rc=$(cat "$S8P.boot2.rc")
	if [ "$rc" != 0 ] || kpanicked s8-load; then
		sc_fail "kernel run s8-load: status $rc"
		sc_detail "$(kdmesg s8-load | tail -n 8)"
		sc_detail "$(tail -n 25 "$KWORK/s8-load.serial" 2>/dev/null)"
		return 0
	fi
	if ! klines s8-load "^LAB-S8-POOL\[$m\]: created" >/dev/null || klines s8-load "^LAB-S8-FAIL\[$m\]" >/dev/null; then
		sc_fail "the kernel on our metadata: $(klines s8-load "^LAB-S8-FAIL\[$m\]" | head -n 1)"
		sc_detail "$(klines s8-load "^LAB-S8-KMSG\[$m\]" | tail -n 8)"
		return 0
	fi
	s8_py "the kernel's status on it, loaded" status "$S8P.st2/$a-loaded.json" "$KWORK/s8-load.serial" "$a-loaded" &&
		sc_note "kernel: pool $(sed 's/ | .*//; s/^pool: //' <<<"$S8_ROW" | cut -d' ' -f1-4)"
	s8_py "the kernel's status after the writes" status "$S8P.st2/$a-written.json" "$KWORK/s8-load.serial" "$a-written"
	k=$(cat "$p.slot")
	s8_py "the thins read back" readback "$S8P.st2/$a-written.json" "$S8P.copies" $((k * 4 * S8_NB)) ${S8_DEVS[$a]//,/ } &&
		sc_note "$S8_ROW"
	# what the kernel committed on our metadata
	s8_quiet_check "$p.meta" "the $a metadata after the kernel"
	tool "$p.after.xml" thin_dump "$p.meta"
	rc=$?
	if [ $rc -ne 0 ]; then
		sc_fail "thin_dump after the kernel: exit $rc: $(head -n 2 "$p.after.xml.err")"
	else
		s8_py "our dump after the kernel's writes against the model" dump "$S8P.st2/$a-written.json" "$p.after.xml" "$p.data"
	fi
}

s8() {
	local t rc
	sc_begin s8-thin-kernel-writes && {
		if s8_boot1; then
			for t in before-snap before-metasnap final; do
				s8_py "the kernel's status at $t" status "$S8P.st/$t.json" "$KWORK/s8.serial" "$t"
			done
			sc_note "final: $S8_ROW"
		fi
		sc_end
	}
	sc_begin s8-thin-check && {
		if s8_boot1; then
			s8_quiet_check "$S8P.meta" "the kernel's metadata"
			tool "$S8P.check" thin_check "$S8P.meta"
			expect_eq "thin_check: exit" "$?" 0
			tool "$S8P.mcheck" thin_check -m "$S8P.meta"
			rc=$?
			expect_eq "thin_check -m (the held metadata snapshot): exit" "$rc" 0
			[ $rc -eq 0 ] || sc_detail "$(head -n 8 "$S8P.mcheck.err")"
			# and it is not blind: the same metadata with the mapping
			# root pointer zeroed (the damage the repair scenario
			# recovers from) fails
			cp "$S8P.meta" "$S8P.rootless"
			if "${S8[@]}" setsb "$S8P.rootless" mapping-root; then
				tool "$S8P.rootless.check" thin_check -q "$S8P.rootless"
				expect_eq "thin_check -q with the mapping root zeroed: exit" "$?" 1
			else
				sc_fail "s8.py setsb failed"
			fi
			sc_note "thin_check -q, thin_check, thin_check -m: exit 0 (0.9.0 thin_check -q: 0); with the mapping root zeroed: 1"
		fi
		sc_end
	}
	sc_begin s8-thin-dump && {
		if s8_boot1 && s8_dump; then
			expect_eq "thin_dump stderr" "$(cat "$S8P.xml.err")" ""
			/usr/sbin/thin_dump "$S8P.meta" >"$S8P.ref.xml" 2>/dev/null
			cmp -s "$S8P.xml" "$S8P.ref.xml" || { sc_fail "our thin_dump differs from 0.9.0's"; sc_detail "$(diff "$S8P.ref.xml" "$S8P.xml" | head -n 8)"; }
			s8_py "our dump against the model" dump "$S8P.st/final.json" "$S8P.xml" "$S8P.data" &&
				sc_note "$S8_ROW, each data block holding what was written there; byte-identical with 0.9.0's"
		fi
		sc_end
	}
	sc_begin s8-thin-dump-metasnap && {
		if s8_boot1 && s8_dump; then
			tool "$S8P.held.xml" thin_dump -m "$S8P.meta"
			rc=$?
			expect_eq "thin_dump -m: exit" "$rc" 0
			/usr/sbin/thin_dump -m "$S8P.meta" >"$S8P.held.ref.xml" 2>/dev/null
			cmp -s "$S8P.held.xml" "$S8P.held.ref.xml" || { sc_fail "our thin_dump -m differs from 0.9.0's"; sc_detail "$(diff "$S8P.held.ref.xml" "$S8P.held.xml" | head -n 8)"; }
			s8_py "our dump -m against the model at reserve_metadata_snap" dump "$S8P.st/final.json" "$S8P.held.xml" "$S8P.data" \
				--held "$S8P.st/final.json" "$S8P.xml" &&
				sc_note "$S8_ROW (thin 4 deleted since); byte-identical with 0.9.0's"
		fi
		sc_end
	}
	local a
	for a in "${S8_ACTS[@]}"; do
		sc_begin "s8-thin-${S8_NAME[$a]}" || continue
		# the hand-made pool does not need boot 1
		if [ "$a" = def ] || s8_boot1; then
			s8_boot2
			s8_loaded "$a"
		fi
		sc_end
	done
}

# ------------------------------------------------------------------ main

echo "kernel: $(cat "$LAB_OUT/kver"), tools in $BIN; implemented:$(for t in "${!IMPL[@]}"; do [ "${IMPL[$t]}" = 1 ] && printf ' %s' "$t"; done)"
for v in 1 2; do
	s1 "$v"
	s2 "$v"
	s3 "$v"
	s4 "$v"
	s5 "$v"
	s6 "$v"
	s7 "$v"
done
s8

echo "kernel: time $(( $(date +%s) - t_start )) s; logs and images in $KWORK"
[ -n "$failed" ] && echo "failed:$failed"
echo "kernel: $npass passed, $nfail failed, $nskip skipped"
[ $nfail -eq 0 ]
