# SPDX-License-Identifier: GPL-3.0-or-later
# Scenario 8 (sourced by the guest's /init, booted with -n): dm-thin.
# Runs the plan in /cfg/s8.plan line by line (the language is in
# tests/kernel/s8.py, which also models what the kernel should do with it):
# thin pools on the disks the plan names (by virtio serial), thin devices,
# whole-block O_DIRECT writes whose data comes from the source disk
# (serial "cache", the blocks of every write line in plan order), status
# lines, copies of whole thin devices to an output disk for the host to
# read back.  The guest only runs things and prints; the host asserts.
#
# A failing line prints LAB-S8-FAIL[META]: with the line and the kernel's
# last messages, the pool is taken down and the plan goes on at the next
# "pool" line (each pool is its own check on the host).

S8_BB=$((LAB_BLOCK_SIZE * 512))
S8_SRC=0            # next block of the source disk
S8_THINS=           # active thin ids
S8_POOL=            # the disk serial of the active pool's metadata
S8_SKIP=0
S8_N=0

s8_fail() {
    echo "LAB-S8-FAIL[$S8_POOL]: line $S8_N: $*"
    dmesg | tail -n 8 | sed "s/^/LAB-S8-KMSG[$S8_POOL]: /"
    s8_unpool
    S8_SKIP=1
}

s8_unpool() {
    for _t in $S8_THINS; do dmsetup remove "thin$_t" || echo "LAB-ERROR: remove thin$_t"; done
    S8_THINS=
    if dmsetup info pool >/dev/null 2>&1; then
        dmsetup suspend pool && dmsetup remove pool
        echo "LAB-S8-UNPOOL[$S8_POOL]: rc=$?"
    fi
}

s8_status() {
    echo "LAB-S8-STATUS[$1][pool]: $(dmsetup status pool)"
    for _t in $S8_THINS; do
        echo "LAB-S8-STATUS[$1][thin$_t]: $(dmsetup status "thin$_t")"
    done
}

s8_line() {
    case $1 in
    pool)
        S8_POOL=$2 S8_SKIP=0
        _m=$(lab_disk "$2") && _d=$(lab_disk "$3") || { s8_fail "no disk $2 or $3"; return; }
        _t="0 $(blockdev --getsz "$_d") thin-pool $_m $_d $LAB_BLOCK_SIZE 16 0"
        echo "LAB-S8-TABLE[$2]: $_t"
        dmsetup create pool --table "$_t" || { s8_fail "dmsetup create pool"; return; }
        echo "LAB-S8-POOL[$2]: created" ;;
    msg)
        shift
        dmsetup message pool 0 "$@" || s8_fail "message $*" ;;
    snap)
        case " $S8_THINS " in *" $3 "*) _a=1 ;; *) _a=0 ;; esac
        [ $_a = 0 ] || dmsetup suspend "thin$3" || { s8_fail "suspend thin$3"; return; }
        dmsetup message pool 0 create_snap "$2" "$3" || { s8_fail "create_snap $2 $3"; return; }
        [ $_a = 0 ] || dmsetup resume "thin$3" || s8_fail "resume thin$3" ;;
    thin)
        dmsetup create "thin$2" --table "0 $(($3 * LAB_BLOCK_SIZE)) thin /dev/mapper/pool $2" ||
            { s8_fail "dmsetup create thin$2"; return; }
        S8_THINS="$S8_THINS $2" ;;
    unthin)
        dmsetup remove "thin$2" || { s8_fail "remove thin$2"; return; }
        _l=
        for _t in $S8_THINS; do [ "$_t" = "$2" ] || _l="$_l $_t"; done
        S8_THINS=$_l ;;
    write)
        dd if="$CACHE" of="/dev/mapper/thin$2" bs=$S8_BB skip=$S8_SRC seek=$3 count=$4 \
            conv=notrunc oflag=direct 2>/tmp/s8.err || { s8_fail "write $*: $(cat /tmp/s8.err)"; return; } ;;
    status)
        s8_status "$2" ;;
    copy)
        _o=$(lab_disk "$3") || { s8_fail "no disk $3"; return; }
        dd if="/dev/mapper/thin$2" of="$_o" bs=1M seek=$(($4 * S8_BB)) conv=notrunc \
            iflag=direct oflag=direct,seek_bytes 2>/tmp/s8.err || s8_fail "copy $*: $(cat /tmp/s8.err)" ;;
    unpool)
        s8_unpool ;;
    *)
        s8_fail "unknown plan line: $*" ;;
    esac
}

echo "LAB-S8-DISKS: src=$CACHE"
while read -r _line; do
    S8_N=$((S8_N + 1))
    set -- $_line
    [ $# -gt 0 ] || continue
    [ "$1" = pool ] || [ $S8_SKIP = 0 ] && s8_line "$@"
    # the source disk's blocks are taken in plan order, failed pool or not
    [ "$1" = write ] && S8_SRC=$((S8_SRC + $4))
done < /cfg/s8.plan
s8_unpool
echo "LAB-S8-DONE"
exit 0
