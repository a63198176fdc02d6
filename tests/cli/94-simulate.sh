#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_replay simulate: smq (and mq, cleaner) in simulate giving exactly
# the counters of `cache_replay replay` on images of the same sizes (a
# zipf mix with discards, writeback and writethrough, two block sizes,
# per-bio and per-second ticks); the CSV header and row order; the same
# CSV whatever --jobs is, from a file or from standard input; percentage
# cache sizes against the footprint `trace stat` reports; lru's per-bio
# counts equal to a brute-force LRU written here in awk; and bad options
# and traces: exit 1 with one line naming what was wrong.
set -u
: "${BIN:?}"
T="$BIN/cache_replay"
command -v fio >/dev/null || { echo "no fio"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# The trace of 91-replay: a zipf read/write mix with full-block writes,
# discards two seconds in, the mix again at 70 seconds: past smq's first
# 60-second cache period, whose redistribution first lets it demote.
fio --name=j --ioengine=null --size=32M --rw=randrw --rwmixread=70 \
	--bssplit=4k/80:64k/20 --number_ios=6000 --randseed=11 \
	--random_distribution=zipf:1.2 --write_iolog=mix.log >/dev/null 2>&1 ||
	{ echo "fio failed"; exit 1; }
fio --name=j --ioengine=null --size=32M --rw=randtrim --bs=256k \
	--number_ios=20 --randseed=5 --write_iolog=trim.log >/dev/null 2>&1 ||
	{ echo "fio trim failed"; exit 1; }
{
	head -n 3 mix.log
	awk 'NR > 3 && NF == 5 { print $1, "j.0.0", $3, $4, $5 }' mix.log
	awk 'NF == 5 && $3 == "trim" { print 2000000 + $1, "j.0.0", $3, $4, $5 }' trim.log
	awk 'NR > 3 && NF == 5 { print 70000000 + $1, "j.0.0", $3, $4, $5 }' mix.log
} >trace.log

HEADER='policy,block_size,cache_blocks,ios,bios,reads,writes,read_hits,read_misses,write_hits,write_misses,overwrites,io_read_hits,io_read_misses,io_write_hits,io_write_misses,promotions,demotions,writebacks,bytes_promoted,bytes_written_back,residency,dirty,hit_ratio'

# col CSV ROW NAME: the named column of data row ROW (1-based).
col() {
	awk -F, -v row="$2" -v name="$3" '
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i }
		NR == row + 1 { print $c }' "$1"
}

# ---- smq in simulate = replay on images ----
# replay_vs_sim NAME POLICY BLOCK CACHE_BYTES MODE TICK
replay_vs_sim() {
	local name=$1 policy=$2 bs=$3 cache=$4 mode=$5 tick=$6
	rm -f "$name".meta "$name".cache "$name".origin
	truncate -s 4M "$name".meta
	truncate -s "$cache" "$name".cache
	truncate -s 32M "$name".origin
	local st
	st=$("$T" replay --metadata "$name".meta --cache "$name".cache \
		--origin "$name".origin --trace trace.log --block-size "$bs" \
		--policy "$policy" --io-mode "$mode" --tick "$tick" 2>err.txt) ||
		{ bad "$name: replay: $(cat err.txt)"; return; }
	"$T" simulate --trace trace.log --block-size "$bs" \
		--cache-size "$cache" --origin-size 32M --policy "$policy" \
		--io-mode "$mode" --tick "$tick" --jobs 1 >"$name".csv 2>err.txt ||
		{ bad "$name: simulate: $(cat err.txt)"; return; }
	[ -s err.txt ] && bad "$name: simulate stderr: $(cat err.txt)"
	# 8 md cached/total... : fields 3 block size, 4 residency/blocks,
	# 5-8 read/write hits/misses, 9 demotions, 10 promotions, 11 dirty.
	set -- $st
	local f="$name".csv
	local want="$3 ${4%/*} ${4#*/} $5 $6 $7 $8 $9 ${10} ${11}"
	local got
	got="$(col "$f" 1 block_size) $(col "$f" 1 residency) $(col "$f" 1 cache_blocks) $(col "$f" 1 read_hits) $(col "$f" 1 read_misses) $(col "$f" 1 write_hits) $(col "$f" 1 write_misses) $(col "$f" 1 demotions) $(col "$f" 1 promotions) $(col "$f" 1 dirty)"
	[ "$got" = "$want" ] ||
		bad "$name: simulate '$got', replay '$want' ($st)"
	[ "$policy" = cleaner ] || [ "$(col "$f" 1 promotions)" -gt 0 ] ||
		bad "$name: no promotions"
}
replay_vs_sim wb128 smq 128 2M writeback per-bio
replay_vs_sim wb64 smq 64 1M writeback per-bio
replay_vs_sim wt128 smq 128 2M writethrough per-bio
replay_vs_sim sec128 smq 128 512K writeback per-second
replay_vs_sim mq128 mq 128 2M writeback per-bio
replay_vs_sim cl128 cleaner 128 2M writeback per-bio
# The small cache demotes: the comparison covers demotions.
[ "$(col sec128.csv 1 demotions)" -gt 0 ] || bad "sec128: no demotions"

# ---- the CSV: header, one row per configuration, in order ----
"$T" simulate --trace trace.log --block-size 64,128 --cache-size 256K,1M,4M \
	--policy smq,lru,fifo,random,arc,2q,mq-2012 --jobs 1 >j1.csv 2>err.txt ||
	bad "sweep: $(cat err.txt)"
[ "$(head -n 1 j1.csv)" = "$HEADER" ] || bad "header: $(head -n 1 j1.csv)"
[ "$(wc -l <j1.csv)" = 43 ] || bad "sweep: $(wc -l <j1.csv) lines"
awk -F, 'NR > 1 { print $1, $2, $3 }' j1.csv >order.txt
for p in smq lru fifo random arc 2q mq-2012; do
	for b in 64 128; do
		for c in 256 1024 4096; do
			echo "$p $b $((c * 1024 / (b * 512)))"
		done
	done
done >want-order.txt
cmp -s order.txt want-order.txt || bad "row order: $(paste -sd' ' order.txt)"
for j in 2 3 5; do
	"$T" simulate --trace trace.log --block-size 64,128 \
		--cache-size 256K,1M,4M --policy smq,lru,fifo,random,arc,2q,mq-2012 \
		--jobs $j >j$j.csv 2>err.txt || bad "--jobs $j: $(cat err.txt)"
	cmp -s j1.csv j$j.csv || bad "--jobs $j gives another CSV"
done
# Standard input (one pass, one process) and --csv FILE.
"$T" simulate --trace - --block-size 64,128 --cache-size 256K,1M,4M \
	--policy smq,lru,fifo,random,arc,2q,mq-2012 --origin-size 32M --jobs 2 \
	--csv stdin.csv <trace.log >out.txt 2>err.txt || bad "stdin: $(cat err.txt)"
[ -s out.txt ] && bad "--csv FILE still wrote to standard output"
cmp -s j1.csv stdin.csv || bad "standard input gives another CSV"

# ---- percentages of the footprint ----
fp64=$("$T" trace stat --trace trace.log --block-size 64 | sed -n 's/^footprint: \([0-9]*\) blocks.*/\1/p')
fp128=$("$T" trace stat --trace trace.log --block-size 128 | sed -n 's/^footprint: \([0-9]*\) blocks.*/\1/p')
"$T" simulate --trace trace.log --block-size 64,128 --cache-size 1%,12.5%,100% \
	--policy lru >pct.csv 2>err.txt || bad "percentages: $(cat err.txt)"
want=""
for fp in $fp64 $fp128; do
	for p in 1 12.5 100; do
		want="$want $(awk -v f="$fp" -v p="$p" 'BEGIN { b = p * f / 100; c = int(b); if (c < b || c == 0) c++; print c }')"
	done
done
got=$(awk -F, 'NR > 1 { printf " %s", $3 }' pct.csv)
[ "$got" = "$want" ] || bad "percentage sizes:$got, footprints $fp64 $fp128 give$want"
# At 100% of the footprint lru only misses each block once (cold).
[ "$(col pct.csv 3 demotions)" = 0 ] || bad "lru at 100%: demotions"

# Exact shares round to themselves: 100 distinct blocks, 1% is 1 block.
awk 'BEGIN { for (i = 0; i < 100; i++) printf "%d,hm,0,Read,%d,32768,10\n", 128166372000000000 + i, i * 32768 }' >hundred.msr
"$T" simulate --trace hundred.msr --block-size 64 --cache-size 1%,3%,7%,29%,57%,100%,150% \
	--policy fifo >h.csv 2>err.txt || bad "hundred: $(cat err.txt)"
got=$(awk -F, 'NR > 1 { printf " %s", $3 }' h.csv)
[ "$got" = " 1 3 7 29 57 100 150" ] || bad "shares of 100 blocks:$got"

# ---- lru and fifo against a brute force in awk ----
# The block stream of the trace at 64-sector blocks: "BLOCK R|W" per
# block request (discards and the trace's header lines left out).
awk 'NR > 1 && ($3 == "read" || $3 == "write") {
	first = int($4 / 32768); last = int(($4 + $5 - 1) / 32768)
	for (b = first; b <= last; b++) print b, $3 }' trace.log >blocks.txt
for pol in lru fifo; do
	for c in 8 61 300; do
		"$T" simulate --trace trace.log --block-size 64 \
			--cache-size $((c * 32))k --origin-size 32M \
			--policy $pol >bf.csv 2>err.txt || { bad "$pol $c: $(cat err.txt)"; continue; }
		# Misses of the textbook algorithm on the block stream.
		bf=$(awk -v cap=$c -v lru=$([ $pol = lru ] && echo 1 || echo 0) '
			{ b = $1
			  if (b in pos) { hits++; if (lru) { delete order[pos[b]]; pos[b] = ++t; order[t] = b } ; next }
			  misses++
			  if (n == cap) { while (!(h in order)) h++; delete pos[order[h]]; delete order[h]; n-- }
			  pos[b] = ++t; order[t] = b; n++ }
			END { print hits + 0, misses + 0 }' blocks.txt)
		rh=$(col bf.csv 1 read_hits); wh=$(col bf.csv 1 write_hits)
		rm_=$(col bf.csv 1 read_misses); wm=$(col bf.csv 1 write_misses)
		ow=$(col bf.csv 1 overwrites)
		got="$((rh + wh)) $((rm_ + wm + ow))"
		[ "$got" = "$bf" ] || bad "$pol C=$c: simulate hits/misses $got, brute force $bf"
	done
done

# ---- bad options and traces: exit 1, one line ----
printf '128166372000009761,hm,0,Read,0,4096,10\n128166372000009762,hm,0,Reed,0,4096,10\n' >bad.msr
printf '128166372000009761,hm,0,Read,0,4096,10\n128166372000009762,hm,0,Read,1073741824,4096,10\n' >far.msr
err_case() {
	local want=$1
	shift
	"$T" simulate "$@" >out.txt 2>err.txt
	local rc=$?
	[ $rc = 1 ] || bad "simulate $*: exit $rc, wanted 1"
	[ "$(wc -l <err.txt)" = 1 ] || bad "simulate $*: stderr '$(cat err.txt)'"
	grep -qF -- "$want" err.txt || bad "simulate $*: said '$(cat err.txt)', wanted '$want'"
	[ -s out.txt ] && bad "simulate $*: wrote to stdout"
}
G="--block-size 64 --cache-size 1M --policy lru"
err_case "simulate needs --trace, --block-size, --cache-size and --policy" --trace trace.log --block-size 64 --policy lru
err_case "--policy: unknown policy 'lfu'" --trace trace.log --block-size 64 --cache-size 1M --policy lru,lfu
err_case "--block-size: '100' is not a multiple of 64 sectors" --trace trace.log --block-size 100 --cache-size 1M --policy lru
err_case "--block-size: '32k,' has an empty item" --trace trace.log --block-size 32k, --cache-size 1M --policy lru
err_case "--cache-size: '5x' is not a size" --trace trace.log --block-size 64 --cache-size 1M,5x --policy lru
err_case "--cache-size: '0%' is not a size" --trace trace.log --block-size 64 --cache-size 0% --policy lru
err_case "--cache-size: 16k holds less than a block of 64 sectors" --trace trace.log --block-size 64 --cache-size 16k --policy lru
err_case "--origin-size: 'lots' is not a size" --trace trace.log $G --origin-size lots
err_case "--io-mode: 'writearound' is not writeback" --trace trace.log $G --io-mode writearound
err_case "--jobs: '0' is not a number from 1 to 1024" --trace trace.log $G --jobs 0
: no plot refusal any more
err_case "needs a first pass over the trace: give a file, not standard input" --trace - --block-size 64 --cache-size 5% --policy lru --origin-size 32M
err_case "unexpected argument: extra" --trace trace.log $G extra
err_case "nosuch.log: No such file or directory" --trace nosuch.log $G
err_case "bad.msr:2: " --trace bad.msr $G
err_case "bad.msr:2: " --trace bad.msr $G --origin-size 1M --jobs 2
err_case "far.msr:2: I/O at byte 1073741824 + 4096 is past the origin's 1048576 bytes" --trace far.msr $G --origin-size 1M --jobs 2
err_case "--trace-format: oracle traces are written, not read" --trace trace.log $G --trace-format oracle
# A failed run leaves no CSV behind.
"$T" simulate --trace bad.msr $G --csv gone.csv 2>/dev/null
[ -e gone.csv ] && bad "a failed run left its CSV"

[ $fails = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all simulate checks passed"
