#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_replay trace gen and bound, and the SVG plots: generated traces are
# the same for the same seed and differ for another; bound's rows equal an
# independent brute-force LRU and Belady (Python, over the block stream the
# trace stat and oracle export describe) at every size asked for, in bytes
# and in percent of the footprint; SHARDS sampling stays within 2% of the
# exact miss ratio; the plots of bound and replay are well-formed SVG; bad
# options and traces fail with one line.
set -u
: "${BIN:?}"
T="$BIN/cache_replay"
command -v python3 >/dev/null || { echo "no python3"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

expect_err() {
	local want=$1 rc
	shift
	"$T" "$@" >out.txt 2>err.txt
	rc=$?
	[ $rc -eq 1 ] && [ "$(cat err.txt)" = "$want" ] ||
		bad "$*: rc=$rc stderr='$(cat err.txt)' wanted '$want'"
}

# ---- trace gen ----
for p in uniform zipf hotset scan mix; do
	"$T" trace gen --pattern $p --ios 3000 --origin-size 16M --seed 5 \
		-o $p.log || bad "gen $p"
	"$T" trace gen --pattern $p --ios 3000 --origin-size 16M --seed 5 \
		-o $p.again || bad "gen $p again"
	cmp -s $p.log $p.again || bad "gen $p: not the same for the same seed"
	"$T" trace stat --trace $p.log >stat.txt || bad "stat $p"
	grep -qx 'ios: 3000' stat.txt || bad "gen $p: $(grep ios: stat.txt)"
	awk 'NF == 5 && ($4 + $5 > 16777216 || $4 % 4096) { exit 1 }' $p.log ||
		bad "gen $p: an I/O outside the origin or unaligned"
done
"$T" trace gen --pattern zipf --ios 3000 --origin-size 16M --seed 6 -o z6.log
cmp -s zipf.log z6.log && bad "gen: another seed gives the same trace"
reads=$(grep -c ' read ' uniform.log)
[ "$reads" -gt 1950 ] && [ "$reads" -lt 2250 ] || bad "gen: $reads reads of 3000 at 0.7"
"$T" trace gen --pattern scan --ios 10 --origin-size 40k --read-ratio 1 \
	--trace-format native -o scan.nat || bad "gen native"
"$T" trace convert --trace scan.nat --to fio -o - | awk 'NF == 5 { print $4 }' |
	tr '\n' ' ' >scan.txt
[ "$(cat scan.txt)" = "0 4096 8192 12288 16384 24576 28672 32768 36864 0 " ] &&
	bad "scan check is wrong"
[ "$(cat scan.txt)" = "0 4096 8192 12288 16384 20480 24576 28672 32768 36864 " ] ||
	bad "gen scan: offsets '$(cat scan.txt)'"
expect_err "cache_replay: --pattern: 'zig' is not uniform, zipf, hotset, scan or mix" \
	trace gen --pattern zig --ios 1 --origin-size 1M -o x
expect_err "cache_replay: trace gen needs --pattern, --ios, --origin-size and -o" \
	trace gen --pattern zipf --ios 1 -o x
expect_err "cache_replay: --read-ratio: '2' is not a number from 0 to 1" \
	trace gen --pattern zipf --ios 1 --origin-size 1M --read-ratio 2 -o x
expect_err "cache_replay: --origin-size: 'lots' is not a size (bytes, or with a unit: 4k, 512m, 10g are powers of 1024; K, M, G of 1000)" \
	trace gen --pattern zipf --ios 1 --origin-size lots -o x

# ---- bound against brute force ----
"$T" trace gen --pattern mix --ios 4000 --origin-size 8M --io-size 8k \
	--seed 9 -o mix.log || bad "gen mix"
# The block stream (4 KiB blocks: an 8 KiB I/O is two requests), in order.
"$T" trace convert --trace mix.log --to oracle --block-size 8 -o mix.oracle ||
	bad "oracle export"
"$T" bound --trace mix.log --block-size 8 \
	--cache-size 4k,64k,256k,1m,2M,10%,50% --csv bound.csv || bad "bound: exit $?"
head -n 1 bound.csv | grep -qx 'cache_blocks,cache_bytes,requests,cold_misses,opt_misses,opt_insertions,lru_misses,opt_miss_ratio,lru_miss_ratio' ||
	bad "bound: CSV header"
python3 - mix.oracle bound.csv <<'EOF' || bad "bound differs from brute force"
import csv, struct, sys
data = open(sys.argv[1], "rb").read()
blocks = [struct.unpack_from("<IQIq", data, i)[1] for i in range(0, len(data), 24)]
n = len(blocks)
nxt = [None] * n
last = {}
for i in range(n - 1, -1, -1):
    nxt[i] = last.get(blocks[i], float("inf"))
    last[blocks[i]] = i
distinct = len(set(blocks))
def lru(c):
    cache, m = [], 0
    for b in blocks:
        if b in cache:
            cache.remove(b)
        else:
            m += 1
            if len(cache) >= c:
                if c == 0:
                    continue
                cache.pop(0)
        cache.append(b)
    return m
def opt(c):
    cache, m, ins = {}, 0, 0
    for i, b in enumerate(blocks):
        if b in cache:
            cache[b] = nxt[i]
            continue
        m += 1
        if nxt[i] == float("inf") or c == 0:
            continue
        if len(cache) < c:
            cache[b] = nxt[i]; ins += 1
        else:
            far = max(cache, key=cache.get)
            if nxt[i] < cache[far]:
                del cache[far]; cache[b] = nxt[i]; ins += 1
    return m, ins
rows = list(csv.DictReader(open(sys.argv[2])))
want = sorted([1, 16, 64, 256, 2000000 // 4096, round(distinct * 0.1), round(distinct * 0.5)])
got = [int(r["cache_blocks"]) for r in rows]
ok = got == want
if not ok:
    print("sizes", got, "want", want)
for r in rows:
    c = int(r["cache_blocks"])
    m, ins = opt(c)
    exp = dict(requests=n, cold_misses=distinct, lru_misses=lru(c),
               opt_misses=m, opt_insertions=ins)
    for k, v in exp.items():
        if int(r[k]) != v:
            print("size", c, k, r[k], "want", v)
            ok = False
sys.exit(0 if ok else 1)
EOF

# ---- sampling ----
"$T" trace gen --pattern zipf --ios 200000 --origin-size 2G --theta 0.9 \
	--seed 2 --trace-format native -o big.nat || bad "gen big"
"$T" bound --trace big.nat --block-size 8 --cache-size 1%,5%,20% \
	--csv exact.csv || bad "bound exact"
"$T" bound --trace big.nat --block-size 8 --cache-size 1%,5%,20% --sample 0.1 \
	--csv sampled.csv || bad "bound sampled"
paste -d, exact.csv sampled.csv | awk -F, 'NR > 1 {
	e = $9 - $18; if (e < 0) e = -e
	printf "sampling error at %d blocks: %.4f\n", $1, e
	if (e > 0.02) bad = 1 }
	END { exit bad }' || bad "SHARDS error above 2%"

# ---- plots ----
"$T" bound --trace mix.log --block-size 8 --plot mrc.svg >/dev/null ||
	bad "bound --plot"
truncate -s 4M m; truncate -s 4M c; truncate -s 8M o
"$T" replay --metadata m --cache c --origin o --trace mix.log --block-size 64 \
	--plot hits.svg -q || bad "replay --plot"
for f in mrc.svg hits.svg; do
	python3 -c "
import sys, xml.dom.minidom as m
d = m.parse(sys.argv[1])
assert d.documentElement.tagName == 'svg'
assert d.getElementsByTagName('polyline'), 'no curve'
" $f || bad "$f is not well-formed SVG with a curve"
done
[ "$(grep -c '<polyline' mrc.svg)" = 3 ] || bad "mrc.svg: not three curves"

# ---- bad input ----
expect_err "cache_replay: bound needs --trace and --block-size" bound --trace mix.log
expect_err "cache_replay: --sample: '0' is not a rate above 0 and at most 1" \
	bound --trace mix.log --block-size 8 --sample 0
expect_err "cache_replay: --cache-size: '200%' is not a percentage above 0 and at most 100" \
	bound --trace mix.log --block-size 8 --cache-size 200%
printf 'fio version 3 iolog\n1 f read 0 4096\n2 f read x 4096\n' >broken.log
expect_err "cache_replay: broken.log:3: bad offset" bound --trace broken.log --block-size 8

[ $fails -eq 0 ]
