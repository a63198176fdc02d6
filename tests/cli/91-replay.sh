#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_replay replay and verify on small images: fresh metadata (v1 and
# v2) and existing metadata (the first run's, hints kept), every read and
# the final images verified against a shadow, the metadata accepted by our
# and the reference cache_check, its dump agreeing with the model's status
# line (cached blocks, dirty blocks, the policy and its hints), the same
# inputs and seed giving byte-identical images, metadata and statistics,
# --crash-at leaving metadata both checkers accept and that a later replay
# treats as all dirty, a tampered image caught by --verify and by verify
# (block and offset, exit 2), and bad input: exit 1 with one line.
set -u
: "${BIN:?}"
T="$BIN/cache_replay"
REF_CHECK=/usr/sbin/cache_check
REF_DUMP=/usr/sbin/cache_dump
command -v fio >/dev/null || { echo "no fio"; exit 77; }
[ -x $REF_CHECK ] || { echo "no reference cache_check"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# images NAME: fresh 4 MiB metadata, 4 MiB cache, 32 MiB origin and shadow.
images() {
	rm -f "$1".meta "$1".cache "$1".origin "$1".shadow
	truncate -s 4M "$1".meta
	truncate -s 4M "$1".cache
	truncate -s 32M "$1".origin
	truncate -s 32M "$1".shadow
}

# A zipf read/write mix with full-block writes now and then, and
# discards, over 32 MiB: 64 KiB cache blocks, 64 of them.
fio --name=j --ioengine=null --size=32M --rw=randrw --rwmixread=70 \
	--bssplit=4k/80:64k/20 --number_ios=6000 --randseed=11 \
	--random_distribution=zipf:1.2 --write_iolog=mix.log >/dev/null 2>&1 ||
	{ echo "fio failed"; exit 1; }
fio --name=j --ioengine=null --size=32M --rw=randtrim --bs=256k \
	--number_ios=20 --randseed=5 --write_iolog=trim.log >/dev/null 2>&1 ||
	{ echo "fio trim failed"; exit 1; }
# One trace: the mix, discards two seconds in, the mix again at four
# seconds (so the waker commits in between).
{
	head -n 3 mix.log
	awk 'NR > 3 && NF == 5 { print $1, "j.0.0", $3, $4, $5 }' mix.log
	awk 'NF == 5 && $3 == "trim" { print 2000000 + $1, "j.0.0", $3, $4, $5 }' trim.log
	awk 'NR > 3 && NF == 5 { print 4000000 + $1, "j.0.0", $3, $4, $5 }' mix.log
} >trace.log
grep -q ' trim ' trace.log || bad "no discards in the trace"

# dump_counts IMG: "MAPPED DIRTY" from our dump.
dump_counts() {
	"$BIN/cache_dump" "$1" >"$1.xml" || { bad "dump $1"; return; }
	echo "$(grep -c '<mapping ' "$1.xml") $(grep -c 'dirty="true"' "$1.xml")"
}

# status_field LINE N: the Nth field of a status line (1-based).
status_field() { echo "$1" | awk -v n="$2" '{ print $n }'; }

for v in 1 2; do
	images v$v
	out=$("$T" replay --metadata v$v.meta --cache v$v.cache \
		--origin v$v.origin --trace trace.log --block-size 128 \
		--metadata-version $v --shadow v$v.shadow --verify --seed 7 \
		--stats v$v.csv 2>err.txt)
	rc=$?
	[ $rc -eq 0 ] || { bad "v$v replay: exit $rc: $(cat err.txt)"; continue; }
	[ -s err.txt ] && bad "v$v replay: stderr '$(cat err.txt)'"
	[ $v = 2 ] && v2out=$out
	# 8 used/total 128 cached/64 rh rm wh wm dem prom dirty ...
	set -- $out
	[ "$3" = 128 ] || bad "v$v: block size field '$3'"
	[ "${4#*/}" = 64 ] || bad "v$v: cache blocks '$4'"
	cached=${4%/*}
	dirty=${11}
	[ "$cached" -gt 0 ] || bad "v$v: nothing cached"
	[ "$dirty" -gt 0 ] || bad "v$v: nothing dirty"
	[ "$(status_field "$out" 10)" -gt 0 ] || bad "v$v: no promotions: $out"
	if [ $v = 2 ]; then
		echo "$out" | grep -q ' 2 metadata2 writeback 2 migration_threshold 2048 smq 0 rw -$' ||
			bad "v2 status tail: $out"
	else
		echo "$out" | grep -q ' 1 writeback 2 migration_threshold 2048 smq 0 rw -$' ||
			bad "v1 status tail: $out"
	fi
	"$BIN/cache_check" -q v$v.meta || bad "v$v: our cache_check fails"
	$REF_CHECK -q v$v.meta || bad "v$v: reference cache_check fails"
	[ "$(dump_counts v$v.meta)" = "$cached $dirty" ] ||
		bad "v$v: dump has $(dump_counts v$v.meta), status $cached $dirty"
	grep -q 'policy="smq" hint_width="4"' v$v.meta.xml || bad "v$v: no smq hints"
	[ "$(grep -c '<hint ' v$v.meta.xml)" = "$cached" ] || bad "v$v: hints"
	grep -q '<discard ' v$v.meta.xml || bad "v$v: no discards recorded"
	head -n 1 v$v.csv | grep -q '^time_s,reads,writes,read_hits,read_misses,write_hits,write_misses,promotions,demotions,writebacks,dirty,residency,bytes_promoted,bytes_written_back$' ||
		bad "v$v: stats header"
	# Interval rows add up to the status line's counters.
	[ "$(awk -F, 'NR > 1 { s += $4 } END { print s }' v$v.csv)" = "$(status_field "$out" 5)" ] ||
		bad "v$v: read hits in the CSV do not add up"
	"$T" verify --metadata v$v.meta --cache v$v.cache --origin v$v.origin \
		--shadow v$v.shadow >out.txt || bad "v$v: verify exit $?"
	grep -q "^$cached mapped blocks ($dirty dirty), 512 blocks compared: consistent$" out.txt ||
		bad "v$v: verify said '$(cat out.txt)'"
	# v1 keeps dirty in the mapping: the reference dumps the same (it
	# prints no discards).
	if [ $v = 1 ]; then
		$REF_DUMP v1.meta >ref.xml
		sed '/<discards /,/<\/discards>/d' v1.meta.xml >ours.xml
		cmp -s ref.xml ours.xml || bad "v1: the reference dump differs"
	fi
done

# ---- the same inputs and seed: the same bytes ----
images again
"$T" replay --metadata again.meta --cache again.cache --origin again.origin \
	--trace trace.log --block-size 128 --metadata-version 2 \
	--shadow again.shadow --verify --seed 7 --stats again.csv -q ||
	bad "second run failed"
for f in meta cache origin shadow; do
	cmp -s v2.$f again.$f || bad "run twice: $f differs"
done
cmp -s v2.csv again.csv || bad "run twice: statistics differ"

# ---- existing v1 metadata: dirty flags in the mappings ----
"$T" replay --metadata v1.meta --cache v1.cache --origin v1.origin \
	--trace mix.log --shadow v1.shadow --verify --seed 9 -q ||
	bad "v1 warm replay: exit $?"
"$BIN/cache_check" -q v1.meta || bad "v1 warm: our check"
$REF_CHECK -q v1.meta || bad "v1 warm: reference check"
"$BIN/cache_dump" v1.meta | grep -q '<superblock .*hint_width="4"' ||
	bad "v1 warm: no hints"

# ---- existing metadata: the first run's state, hints honoured ----
cp v2.meta warm.meta; cp v2.cache warm.cache; cp v2.origin warm.origin
cp v2.shadow warm.shadow
out=$("$T" replay --metadata warm.meta --cache warm.cache \
	--origin warm.origin --trace mix.log --shadow warm.shadow --verify \
	--seed 8 2>err.txt) || bad "warm replay: $(cat err.txt)"
"$BIN/cache_check" -q warm.meta || bad "warm: our check"
$REF_CHECK -q warm.meta || bad "warm: reference check"
# Counters carry on from the superblock: more than this run alone made.
[ "$(status_field "$out" 5)" -gt "$(status_field "$v2out" 5)" ] ||
	bad "warm: read hits $(status_field "$out" 5) not above the first run's"
rh1=$("$T" replay --metadata v2.meta --cache v2.cache --origin v2.origin \
	--trace /dev/null --trace-format native 2>&1)
echo "$rh1" | grep -q 'truncated native trace header' ||
	bad "an empty native trace: '$rh1'"
"$T" verify --metadata warm.meta --cache warm.cache --origin warm.origin \
	--shadow warm.shadow -q || bad "warm: verify"
"$T" replay --metadata warm.meta --cache warm.cache --origin warm.origin \
	--trace mix.log --block-size 64 >out.txt 2>err.txt
[ $? -eq 1 ] || bad "--block-size against the metadata: exit"
[ "$(cat err.txt)" = "cache_replay: --block-size 64 disagrees with the metadata's 128 sectors" ] ||
	bad "--block-size disagreement: '$(cat err.txt)'"

# ---- --crash-at ----
images crash
"$T" replay --metadata crash.meta --cache crash.cache --origin crash.origin \
	--trace trace.log --block-size 128 --crash-at 2 >out.txt 2>err.txt ||
	bad "crash run: exit $?"
[ "$(cat err.txt)" = "cache_replay: stopped after commit 2 without a clean shutdown" ] ||
	bad "crash note: '$(cat err.txt)'"
"$BIN/cache_check" -q crash.meta || bad "crash: our check"
$REF_CHECK -q crash.meta || bad "crash: reference check"
"$BIN/cache_dump" crash.meta 2>dumperr.txt >crash.xml
grep -q 'not shut down cleanly' dumperr.txt || bad "crash: the dump sees a clean shutdown"
mapped=$(grep -c '<mapping ' crash.xml)
[ "$mapped" -gt 0 ] || bad "crash: nothing committed"
# A replay of nothing, with no migration bandwidth: every mapping dirty.
printf 'fio version 3 iolog\n' >empty.log
out=$("$T" replay --metadata crash.meta --cache crash.cache \
	--origin crash.origin --trace empty.log --migration-threshold 0)
[ "$(status_field "$out" 11)" = "$mapped" ] ||
	bad "after a crash: $(status_field "$out" 11) dirty of $mapped: $out"

# ---- tampering ----
cp v2.meta t.meta; cp v2.cache t.cache; cp v2.origin t.origin; cp v2.shadow t.shadow
# A byte of an origin block that is not cached.
ob=$(seq 0 511 | grep -vxF -f <(sed -n 's/.*origin_block="\([0-9]*\)".*/\1/p' v2.meta.xml) | head -n 1)
printf '\x5a' | dd of=t.origin bs=1 seek=$((ob * 65536 + 100)) conv=notrunc status=none
"$T" verify --metadata t.meta --cache t.cache --origin t.origin \
	--shadow t.shadow >out.txt 2>err.txt
[ $? -eq 2 ] || bad "tampered origin: verify exit not 2"
grep -q "^cache_replay: read of origin block $ob offset 100: got 0x5a, the shadow has 0x" err.txt ||
	bad "tampered origin: '$(cat err.txt)'"
printf 'fio version 3 iolog\n0 f read %d 4096\n' $((ob * 65536)) >readit.log
"$T" replay --metadata t.meta --cache t.cache --origin t.origin \
	--trace readit.log --shadow t.shadow --verify >out.txt 2>err.txt
[ $? -eq 2 ] || bad "tampered origin: replay exit not 2"
grep -q "^cache_replay: read of origin block $ob offset 100: got 0x5a" err.txt ||
	bad "tampered replay: '$(cat err.txt)'"

# ---- bad input ----
printf 'fio version 3 iolog\n0 f read 0 4096\n1 f read 33554432 4096\n' >past.log
images bad
"$T" replay --metadata bad.meta --cache bad.cache --origin bad.origin \
	--trace past.log --block-size 128 >out.txt 2>err.txt
[ $? -eq 1 ] || bad "past the origin: exit"
[ "$(cat err.txt)" = "cache_replay: past.log:3: I/O at byte 33554432 + 4096 is past the origin's 33554432 bytes" ] ||
	bad "past the origin: '$(cat err.txt)'"
printf 'fio version 3 iolog\n0 f read 0 4096\n1 f zap 0 1\n' >zap.log
"$T" replay --metadata bad.meta --cache bad.cache --origin bad.origin \
	--trace zap.log --block-size 128 >out.txt 2>err.txt
[ $? -eq 1 ] || bad "bad line: exit"
[ "$(cat err.txt)" = "cache_replay: zap.log:3: unknown action 'zap'" ] ||
	bad "bad line: '$(cat err.txt)'"
images fresh
"$T" replay --metadata fresh.meta --cache fresh.cache --origin fresh.origin \
	--trace mix.log >out.txt 2>err.txt
[ $? -eq 1 ] || bad "no block size: exit"
[ "$(cat err.txt)" = "cache_replay: fresh.meta is empty (all zeroes): --block-size is needed to format it" ] ||
	bad "no block size: '$(cat err.txt)'"
"$T" replay --metadata fresh.meta --cache fresh.cache --origin fresh.meta \
	--trace mix.log --block-size 128 >out.txt 2>err.txt
[ $? -eq 1 ] || bad "same file twice: exit"
[ "$(cat err.txt)" = "cache_replay: the metadata, cache, origin and shadow images must be four different files" ] ||
	bad "same file twice: '$(cat err.txt)'"
"$T" replay --metadata fresh.meta --cache fresh.cache --origin fresh.origin \
	--trace mix.log --block-size 100 >out.txt 2>err.txt
[ "$(cat err.txt)" = "cache_replay: --block-size: 100 is not a multiple of 64 sectors" ] ||
	bad "block size 100: '$(cat err.txt)'"
"$T" replay --metadata fresh.meta --cache fresh.cache --origin fresh.origin \
	--trace mix.log --block-size 128 --verify >out.txt 2>err.txt
[ "$(cat err.txt)" = "cache_replay: --verify needs --shadow" ] ||
	bad "--verify alone: '$(cat err.txt)'"
"$T" replay --metadata fresh.meta --cache fresh.cache --origin fresh.origin \
	--trace mix.log --block-size 128 --policy lru >out.txt 2>err.txt
[ "$(cat err.txt)" = "cache_replay: --policy: unknown policy 'lru' (smq, mq, cleaner)" ] ||
	bad "--policy lru: '$(cat err.txt)'"
"$T" replay --metadata fresh.meta >out.txt 2>err.txt
[ "$(cat err.txt)" = "cache_replay: replay needs --metadata, --cache, --origin and --trace" ] ||
	bad "missing options: '$(cat err.txt)'"
cmp -s fresh.meta <(head -c 4194304 /dev/zero) || bad "a refused replay wrote the metadata"
"$T" replay --help >out.txt || bad "replay --help"
for o in metadata cache origin trace trace-format block-size metadata-version \
	policy io-mode migration-threshold shadow verify seed crash-at stats quiet; do
	grep -q -- "--$o" out.txt || bad "replay --help lacks --$o"
done

[ $fails -eq 0 ]
