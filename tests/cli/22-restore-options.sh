#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# cache_restore options and the superblock fields they set: -h, -V, missing
# or unknown options and their messages, version 2 by default and 1 on
# request, 0.9.0's --debug-override-metadata-version (any u32 into the
# superblock, over version 2's layout from 2 on), CLEAN_SHUTDOWN unless --omit-clean-shutdown, the
# kernel's policy version and hint size, input from standard input, and the
# outputs refused: missing, a directory, a character device, the input
# itself.  With a terminal (through script(1), when there is one) a big
# restore draws a progress bar on stderr, and -q stops it.
set -u
: "${BIN:?}" "${PROGS:?}"
R="$BIN/cache_restore"
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect NAME RC STDERR-LINE CMD...: exit code and the whole of stderr.
expect() {
	local name=$1 rc=$2 want=$3 got
	shift 3
	"$@" >"$name.out" 2>"$name.err"
	got=$?
	[ $got -eq "$rc" ] || bad "$name: exit $got, not $rc"
	[ "$(cat "$name.err")" = "$want" ] ||
		bad "$name: stderr '$(cat "$name.err")', not '$want'"
}

# u32 FILE OFFSET: a le32 from the file.
u32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }

"$PROGS/gen_xml" --nr-cache-blocks 100 --seed 4 >in.xml
truncate -s 1M out.img

# -h, -V
"$R" -h >help.out 2>help.err || bad "-h: non-zero exit"
[ -s help.err ] && bad "-h: wrote to stderr"
for o in --input --output --metadata-version --omit-clean-shutdown \
	--quiet --help --version --debug-override-metadata-version; do
	grep -q -- "$o" help.out || bad "-h: no $o"
done
[ "$("$R" -V)" = "$("$BIN/cache_check" -V)" ] || bad "-V differs from cache_check's"
"$R" -V | grep -Eqx '[0-9]+\.[0-9]+\.[0-9]+' || bad "-V: not a bare version"

# usage errors
expect noargs 1 "cache_restore: No input file provided (-i FILE, or -i - for standard input)" "$R"
expect noout 1 "cache_restore: No output file provided (-o DEVICE or FILE)" "$R" -i in.xml
"$R" --bogus -i in.xml -o out.img >bogus.out 2>bogus.err
[ $? -eq 1 ] || bad "--bogus: exit not 1"
[ "$(head -n 1 bogus.err)" = "cache_restore: --bogus: unknown option" ] ||
	bad "--bogus: '$(head -n 1 bogus.err)'"
expect extra 1 "cache_restore: unexpected argument: extra" "$R" -i in.xml -o out.img extra
expect v3 1 "cache_restore: Bad metadata version: --metadata-version must be 1 or 2, not '3'" \
	"$R" -i in.xml -o out.img --metadata-version 3
expect override1x 1 "cache_restore: --debug-override-metadata-version: not a number from 0 to 4294967295: '1x'" \
	"$R" -i in.xml -o out.img --debug-override-metadata-version 1x
expect override-big 1 "cache_restore: --debug-override-metadata-version: not a number from 0 to 4294967295: '4294967296'" \
	"$R" -i in.xml -o out.img --debug-override-metadata-version 4294967296
expect noinput 1 "cache_restore: nope.xml: Couldn't stat file: No such file or directory" \
	"$R" -i nope.xml -o out.img
expect dirinput 1 "cache_restore: .: Not a regular file (a directory, not an XML file)" \
	"$R" -i . -o out.img
expect nooutput 1 "cache_restore: nope.img: Output file does not exist (it must be an existing file or block device, big enough for the metadata)" \
	"$R" -i in.xml -o nope.img
[ -e nope.img ] && bad "nope.img was created"
mkdir d
expect dirout 1 "cache_restore: d: Not a block device or regular file (a directory)" "$R" -i in.xml -o d
expect chrout 1 "cache_restore: /dev/null: Not a block device or regular file" \
	"$R" -i in.xml -o /dev/null
cp in.xml self.xml
expect self 1 "cache_restore: self.xml: the output is the input (self.xml); refusing to overwrite it" \
	"$R" -i self.xml -o self.xml
cmp -s in.xml self.xml || bad "self: the input was written"

# superblock fields
expect default 0 "" "$R" -i in.xml -o out.img
[ "$(u32 out.img 40)" = 2 ] || bad "default: version $(u32 out.img 40), not 2"
[ "$(u32 out.img 4)" = 1 ] || bad "default: flags $(u32 out.img 4), not 1"
[ "$(u32 out.img 60)" = 4 ] || bad "default: policy_hint_size $(u32 out.img 60)"
[ "$(u32 out.img 252)" = 0 ] || bad "default: incompat_flags $(u32 out.img 252)"
[ "$(od -An -tu4 -j 272 -N12 out.img | tr -s ' ')" = " 2 0 0" ] ||
	bad "default: smq policy version not 2.0.0"
[ "$(u32 out.img 232)" = 128 ] || bad "default: data_block_size"
[ "$(u32 out.img 240)" = 100 ] || bad "default: cache_blocks"
[ "$(od -An -c -j 44 -N4 out.img | tr -d ' ')" = 'smq\0' ] || bad "default: policy name"

expect v1 0 "" "$R" -i in.xml -o out.img --metadata-version 1
[ "$(u32 out.img 40)" = 1 ] || bad "v1: version $(u32 out.img 40)"
expect override1 0 "" "$R" -i in.xml -o out.img --debug-override-metadata-version 1
[ "$(u32 out.img 40)" = 1 ] || bad "override1: version $(u32 out.img 40)"
# Any version, over the layout 0.9.0 uses for it (dirty_root at 284 from
# 2 on), the override winning over --metadata-version; the checksum is
# right, so cache_check stops at the version alone.
for v in 0:1 1:2 2:1 3:1 7: 4294967295:; do
	n=${v%%:*} mv=${v#*:}
	expect override$n 0 "" "$R" -i in.xml -o out.img \
		--debug-override-metadata-version $n ${mv:+--metadata-version $mv}
	[ "$(u32 out.img 40)" = $n ] || bad "override$n: version $(u32 out.img 40)"
	dirty=$(od -An -tu8 -j 284 -N8 out.img | tr -d ' ')
	if [ $n -ge 2 ]; then
		[ "$dirty" != 0 ] || bad "override$n: no dirty bitset"
	else
		[ "$dirty" = 0 ] || bad "override$n: a dirty root in a v1 layout"
	fi
	if [ $n -ge 1 ] && [ $n -le 2 ]; then
		"$BIN/cache_check" -q out.img || bad "override$n: check fails"
	else
		"$BIN/cache_check" out.img >check.out 2>&1
		[ "$(sed -n 2p check.out)" = "  error: superblock: version is $n, expected 1 or 2 [sb-version]" ] ||
			bad "override$n: check says '$(cat check.out)'"
	fi
done
expect omit 0 "" "$R" -i in.xml -o out.img --omit-clean-shutdown -q
[ "$(u32 out.img 4)" = 0 ] || bad "omit: flags $(u32 out.img 4), not 0"

"$PROGS/gen_xml" --nr-cache-blocks 10 --policy fancy >fancy.xml
expect fancy 0 "" "$R" -i fancy.xml -o out.img
[ "$(od -An -tu4 -j 272 -N12 out.img | tr -s ' ')" = " 0 0 0" ] ||
	bad "fancy: policy version not 0.0.0"
"$BIN/cache_dump" out.img | cmp -s - fancy.xml || bad "fancy: dump differs"

# standard input
expect stdin 0 "" sh -c "cat in.xml | '$R' -i - -o out.img"
"$BIN/cache_dump" out.img | cmp -s - in.xml || bad "stdin: dump differs"
expect stdinbad 1 "cache_restore: -: line 1, column 1: <superblock>: missing attribute uuid" \
	sh -c "printf '<superblock/>' | '$R' -i - -o out.img"

# progress bar: only on a terminal, and not with -q
if command -v script >/dev/null 2>&1; then
	"$PROGS/gen_xml" --nr-cache-blocks 200000 >big.xml
	truncate -s 16M big.img
	script -qec "'$R' -i big.xml -o big.img" /dev/null >tty.out 2>&1 ||
		bad "tty: restore failed"
	grep -q '100%' tty.out || bad "tty: no progress bar"
	script -qec "'$R' -q -i big.xml -o big.img" /dev/null >tty-q.out 2>&1 ||
		bad "tty -q: restore failed"
	grep -q '%' tty-q.out && bad "tty -q: a progress bar"
	"$R" -i big.xml -o big.img 2>notty.err || bad "no tty: restore failed"
	[ -s notty.err ] && bad "no tty: stderr not empty"
fi

[ $fails -eq 0 ]
