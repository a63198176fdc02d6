#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_replay trace convert and stat on traces made by other programs:
# fio's own iologs (fio --write_iolog), blkparse's text decoding of binary
# blktrace files we lay out from a known list of I/Os, MSR CSV, gzip of
# each (one member and several), and native.  Each must give exactly the
# I/Os that went in (compared as fio v3 lines, times in microseconds).
# Then every kind of bad trace and bad usage: one line naming the file and
# line, exit 1, no output file left behind.
set -u
: "${BIN:?}"
T="$BIN/cache_replay"
command -v fio >/dev/null || { echo "no fio"; exit 77; }
command -v blkparse >/dev/null || { echo "no blkparse"; exit 77; }
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect_err 'STDERR' ARGS...: exit 1, exactly that stderr, nothing on stdout.
expect_err() {
	local want_err=$1 rc
	shift
	"$T" "$@" >out.txt 2>err.txt
	rc=$?
	if [ $rc -ne 1 ] || [ "$(cat err.txt)" != "$want_err" ]; then
		bad "cache_replay $*: rc=$rc stderr='$(cat err.txt)'"
		echo "      wanted rc=1 stderr='$want_err'"
	fi
	[ -s out.txt ] && bad "cache_replay $*: stdout not empty"
}

# ---- fio: its own iolog, read back I/O for I/O ----
fio --name=j --ioengine=null --size=256M --rw=randrw --rwmixread=70 \
	--bs=4k --number_ios=3000 --randseed=7 --write_iolog=fio.log \
	>/dev/null 2>&1 || { echo "fio failed"; exit 1; }
head -n 1 fio.log | grep -qx 'fio version 3 iolog' || bad "fio wrote no v3 log"
# The same I/Os, as our writer must print them (fio's file renamed).
awk 'NR > 1 && NF == 5 { print $1, "trace", $3, $4, $5 }' fio.log >fio.expect
[ "$(wc -l <fio.expect)" -eq 3000 ] || bad "fio.expect: $(wc -l <fio.expect) I/Os"
"$T" trace convert --trace fio.log --to fio -o fio.out || bad "convert fio -> fio"
grep -v -e ' add$' -e ' open$' -e ' close$' -e '^fio version' fio.out >fio.got
cmp -s fio.got fio.expect || bad "fio -> fio differs: $(diff fio.got fio.expect | head -3)"
reads=$(grep -c ' read ' fio.expect)
writes=$(grep -c ' write ' fio.expect)
"$T" trace stat --trace fio.log >stat.txt || bad "stat fio"
grep -qx "reads: $reads ($((reads * 4096)) bytes)" stat.txt || bad "stat reads: $(grep reads: stat.txt)"
grep -qx "writes: $writes ($((writes * 4096)) bytes)" stat.txt || bad "stat writes"
grep -qx "format: fio" stat.txt || bad "stat format"
grep -qx "ios: 3000" stat.txt || bad "stat ios"

# fio -> native -> msr -> native -> fio keeps every read and write.
"$T" trace convert --trace fio.log --to native -o a.nat || bad "fio -> native"
[ "$(stat -c %s a.nat)" -eq $((32 + 32 * 3000)) ] || bad "native size $(stat -c %s a.nat)"
"$T" trace convert --trace a.nat --to msr -o a.csv || bad "native -> msr"
[ "$(wc -l <a.csv)" -eq 3000 ] || bad "msr lines"
"$T" trace convert --trace a.csv --to native -o b.nat || bad "msr -> native"
"$T" trace convert --trace b.nat --to fio -o - >b.fio || bad "native -> fio (stdout)"
grep -v -e ' add$' -e ' open$' -e ' close$' -e '^fio version' b.fio |
	awk '{ $1 = ""; print }' >b.got
awk '{ $1 = ""; print }' fio.expect >b.expect
# MSR times count from the first line: compare the I/Os, then the deltas.
cmp -s b.got b.expect || bad "fio -> native -> msr -> native -> fio differs"
# Through a pipe (native header count 0) and back: same records.
"$T" trace convert --trace a.nat --to native -o - | cat >c.nat
"$T" trace convert --trace - --to fio -o c.fio <c.nat || bad "stdin native"
"$T" trace convert --trace a.nat --to fio -o a.fio
cmp -s a.fio c.fio || bad "native through a pipe differs"

# gzip: one member, and concatenated members.
gzip -c fio.log >fio.log.gz
head -n 1500 fio.log | gzip -c >two.gz
tail -n +1501 fio.log | gzip -c >>two.gz
for z in fio.log.gz two.gz; do
	"$T" trace convert --trace $z --to fio -o z.fio || bad "convert $z"
	cmp -s z.fio fio.out || bad "$z reads differently from the plain log"
done

# ---- blkparse: binary events we write, decoded by blkparse ----
python3 - <<'EOF' || bad "python blktrace writer"
import random, struct
random.seed(3)
dev = (8 << 20) | 16
t0 = t = 1000000
with open("sdb.blktrace.0", "wb") as out, open("blk.expect", "w") as exp:
    for seq in range(1, 2001):
        kind = random.choice("RWWDF")
        sector = random.randint(0, 1 << 20) * 8
        n = random.choice([8, 16, 64, 128, 1024])
        cat = {"R": 1, "W": 2, "D": 1 << 13, "F": (1 << 2) | 2}[kind]
        nbytes = 0 if kind == "F" else n * 512
        if kind == "F":
            sector = 0
        # A queue event, then its completion (which the reader skips).
        for action in (1, 8):
            out.write(struct.pack("<IIQQIIIIIHH", 0x65617407, seq, t, sector,
                                  nbytes, action | (cat << 16), 4242, dev, 0,
                                  0, 0))
        op = {"R": "read", "W": "write", "D": "trim", "F": "sync"}[kind]
        exp.write("%d trace %s %d %d\n" % ((t - t0) // 1000, op,
                                           sector * 512, nbytes))
        t += random.randint(1000, 3000000)
EOF
blkparse -i sdb >blk.txt 2>/dev/null || bad "blkparse failed"
grep -q '^CPU0 (' blk.txt || bad "blkparse printed no summary"
"$T" trace convert --trace blk.txt --to fio -o blk.fio || bad "convert blkparse"
# A data-less flush is a sync line at its time, with a preflush write a
# sync line before it; ours has no data-carrying preflush writes.
grep -v -e ' add$' -e ' open$' -e ' close$' -e '^fio version' blk.fio >blk.got
cmp -s blk.got blk.expect || bad "blkparse I/Os differ: $(diff blk.got blk.expect | head -4)"
"$T" trace stat --trace blk.txt >blkstat.txt || bad "stat blkparse"
grep -qx "format: blkparse" blkstat.txt || bad "blkparse not detected"
grep -qx "ios: 2000" blkstat.txt || bad "blkparse ios: $(grep ios: blkstat.txt)"

# ---- oracleGeneral: one 24-byte record per block request ----
"$T" trace convert --trace fio.log --to oracle --block-size 8 -o o.bin ||
	bad "convert oracle"
req=$(sed -n 's/^block requests: //p' stat.txt)
[ "$(stat -c %s o.bin)" -eq $((24 * 3000)) ] || bad "oracle size $(stat -c %s o.bin)"
"$T" trace stat --trace fio.log --block-size 8 | grep -qx "block requests: 3000" ||
	bad "stat block requests at 8 sectors"
[ -n "$req" ] || bad "stat printed no block requests"

# ---- bad traces: FILE:LINE: what, exit 1 ----
printf 'fio version 3 iolog\n1 f read 0 4096\n2 f read 4096\n' >short.log
expect_err "cache_replay: short.log:3: bad length" trace stat --trace short.log
printf 'fio version 3 iolog\n1 f read 0 4096\n2 f jump 0 1\n' >act.log
expect_err "cache_replay: act.log:3: unknown action 'jump'" \
	trace convert --trace act.log --to native -o act.nat
[ -e act.nat ] && bad "a failed convert left its output"
printf '1,h,0,Read,0,4096,1\n2,h,0,Read,0,4096\n' >m.csv
expect_err "cache_replay: m.csv:2: expected 7 fields" trace stat --trace m.csv
printf 'hello\n' >junk.txt
expect_err "cache_replay: junk.txt:1: cannot tell the trace format from the first line; name it" \
	trace stat --trace junk.txt
: >empty.txt
expect_err "cache_replay: empty.txt: empty trace: cannot tell its format" \
	trace stat --trace empty.txt
head -c 1000 a.nat >cut.nat
expect_err "cache_replay: cut.nat:31: truncated record (the file ends inside it)" \
	trace stat --trace cut.nat
head -c $((32 + 32 * 10)) a.nat >short.nat
expect_err "cache_replay: short.nat:11: truncated: 10 records, the header says 3000" \
	trace stat --trace short.nat
head -c 300 fio.log.gz >cut.gz
expect_err "cache_replay: cut.gz: truncated gzip data" trace stat --trace cut.gz
expect_err "cache_replay: missing.log: No such file or directory" \
	trace stat --trace missing.log
"$T" trace stat --trace fio.log --trace-format native >out.txt 2>err.txt
[ $? -eq 1 ] || bad "text as native: exit"
grep -q '^cache_replay: fio.log: not a native trace (magic)$' err.txt ||
	bad "text as native: '$(cat err.txt)'"

# ---- bad usage ----
expect_err "cache_replay: trace stat needs --trace" trace stat
expect_err "cache_replay: trace convert needs --trace, --to and -o" \
	trace convert --trace fio.log --to msr
expect_err "cache_replay: --to: unknown trace format 'xml'" \
	trace convert --trace fio.log --to xml -o x
expect_err "cache_replay: --to: blkparse traces are read, not written" \
	trace convert --trace fio.log --to blkparse -o x
expect_err "cache_replay: --to oracle needs --block-size (its requests are cache blocks)" \
	trace convert --trace fio.log --to oracle -o x
expect_err "cache_replay: --trace-format: oracle traces are written, not read" \
	trace stat --trace o.bin --trace-format oracle
expect_err "cache_replay: --block-size: '0' is not a number of sectors from 1 to 8388607" \
	trace stat --trace fio.log --block-size 0
expect_err "cache_replay: trace: expected 'convert', 'stat' or 'gen', not frob" trace frob
expect_err "cache_replay: fio.log: the output is the input (fio.log); refusing to overwrite it" \
	trace convert --trace fio.log --to fio -o fio.log
"$T" bogus >out.txt 2>err.txt
[ $? -eq 1 ] || bad "unknown command: exit"
[ "$(head -n 1 err.txt)" = "cache_replay: unknown command 'bogus'" ] ||
	bad "unknown command: '$(head -n 1 err.txt)'"
"$T" --help >out.txt 2>err.txt || bad "--help exit"
grep -q '^Usage: cache_replay COMMAND' out.txt || bad "--help text"
"$T" -V >out.txt || bad "-V exit"
[ "$(cat out.txt)" = "$("$BIN/dm-cache-tools" -V)" ] || bad "-V: '$(cat out.txt)'"
"$T" trace stat --help >out.txt || bad "trace stat --help"
grep -q -- '--trace-format' out.txt || bad "trace stat --help lists no --trace-format"

[ $fails -eq 0 ]
