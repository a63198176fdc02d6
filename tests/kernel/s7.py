#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""s7.py -- the traces of scenario 7 and the comparison of its two replays.

Scenario 7 (tests/kernel/run.sh) replays one trace on the real dm-cache in
the guest (tests/progs/kreplay) and, at the times the guest really issued
each I/O, with cache_replay on copies of the same starting images.

  s7.py gen KIND SEED BLOCK_SECTORS ORIGIN_BLOCKS CACHE_BLOCKS OUT
      a native trace (engine/trace.h) for the workload KIND:
        full   full-block writes of distinct blocks on a fresh cache, fewer
               than it holds, then full-block rewrites and 4 KiB reads of
               them: immediate (copy-free) promotions and hits only
        zipf   4 KiB reads and writes (70/30), 80 % on a hot set of
               CACHE_BLOCKS/2 blocks with zipf(0.9) popularity, 20 %
               uniform over the origin
        scan   a hot set read now and then, and sequential 16 KiB reads
               over a quarter of the origin, twice
  s7.py log LOG                print a native log: "issue_ns done_ns op offset len"
  s7.py late TRACE LOG         how late the guest issued the trace's I/O: the
                               90th percentile, in ms
  s7.py compare KSTATUS MSTATUS KXML MXML TOLERANCE
      KSTATUS the kernel's `dmsetup status` line, MSTATUS cache_replay's
      (the fields after "cache"), KXML and MXML the XML our cache_dump
      printed for each metadata.  Prints one "ROW what kernel model differ"
      line per measure and "FAIL ..." for every asserted measure outside
      TOLERANCE: "exact" (every measure equal, the cache blocks too), or
      "C:S:H:N", the percentages allowed for the counters (cached blocks,
      read and write hits and misses, demotions, promotions, dirty; of the
      larger count), the mapping and dirty sets (origin blocks only one
      side holds, of the larger set) and the hints of the mappings both
      sides hold in the same cache block, and N, a difference allowed
      whatever its percentage (a few blocks of 20 are many percent).  Where the counts may differ,
      the cache blocks are reported, not asserted: a promotion more or
      less moves every later one to another block.
"""
import random
import struct
import sys

OP_READ, OP_WRITE, OP_DISCARD, OP_FLUSH = 0, 1, 2, 3
NO_TIME = (1 << 64) - 1
KIB4 = 4096


def write_native(path, ios):
    with open(path, 'wb') as f:
        f.write(b'DMCTRACE' + struct.pack('<IIQQ', 1, 32, len(ios), 0))
        for t, op, off, ln in ios:
            f.write(struct.pack('<QQIBBHQ', t, off, ln, op, 0, 0, NO_TIME))


def read_native(path):
    data = open(path, 'rb').read()
    if data[:8] != b'DMCTRACE':
        raise SystemExit('%s: not a native trace' % path)
    n = struct.unpack_from('<Q', data, 16)[0]
    out = []
    for i in range(n):
        t, off, ln, op, _fl, _r, done = struct.unpack_from('<QQIBBHQ', data, 32 + 32 * i)
        out.append((t, done, op, off, ln))
    return out


def zipf_picker(rng, n, s):
    w = [1.0 / (r + 1) ** s for r in range(n)]
    tot = sum(w)
    cum, acc = [], 0.0
    for x in w:
        acc += x / tot
        cum.append(acc)

    def pick():
        u = rng.random()
        lo, hi = 0, n - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if cum[mid] < u:
                lo = mid + 1
            else:
                hi = mid
        return lo
    return pick


def gen(kind, seed, bs, nob, ncb):
    rng = random.Random('%s-%d' % (kind, seed))
    bb = bs * 512
    ios = []
    t = 0
    if kind == 'full':
        # distinct blocks, 3/4 of the cache: every write an overwrite
        # promotion into a free block, then rewrites and reads: hits
        blocks = rng.sample(range(nob), ncb * 3 // 4)
        step = 10 * 10**6
        for b in blocks:
            t += step
            ios.append((t, OP_WRITE, b * bb, bb))
        for _ in range(2 * len(blocks)):
            t += step
            ios.append((t, OP_WRITE, rng.choice(blocks) * bb, bb))
        for _ in range(len(blocks)):
            t += step
            b = rng.choice(blocks)
            ios.append((t, OP_READ, b * bb + rng.randrange(bb // KIB4) * KIB4, KIB4))
    elif kind == 'zipf':
        hot = rng.sample(range(nob), ncb // 2)
        pick = zipf_picker(rng, len(hot), 0.9)
        step = 8 * 10**6
        for _ in range(2000):
            t += step
            b = hot[pick()] if rng.random() < 0.8 else rng.randrange(nob)
            op = OP_READ if rng.random() < 0.7 else OP_WRITE
            ios.append((t, op, b * bb + rng.randrange(bb // KIB4) * KIB4, KIB4))
    elif kind == 'scan':
        hot = rng.sample(range(nob // 2, nob), ncb // 4)
        step = 8 * 10**6
        per = bb // (4 * KIB4)
        for _ in range(2):
            for b in range(nob // 4):
                for k in range(per):
                    t += step
                    ios.append((t, OP_READ, b * bb + k * 4 * KIB4, 4 * KIB4))
                if b % 2 == 0:
                    t += step
                    h = rng.choice(hot)
                    ios.append((t, OP_READ, h * bb + rng.randrange(bb // KIB4) * KIB4, KIB4))
    else:
        raise SystemExit('unknown workload %s' % kind)
    return ios


def status_fields(line):
    f = line.split()
    if 'cache' in f:
        f = f[f.index('cache') + 1:]
    # md_bs md_used/total cbs used/total rh rm wh wm dem prom dirty ...
    return {
        'cached': int(f[3].split('/')[0]),
        'read hits': int(f[4]), 'read misses': int(f[5]),
        'write hits': int(f[6]), 'write misses': int(f[7]),
        'demotions': int(f[8]), 'promotions': int(f[9]), 'dirty': int(f[10]),
    }


def xml_maps(path):
    import re
    maps, hints = {}, {}
    for l in open(path):
        m = re.search(r'<mapping cache_block="(\d+)" origin_block="(\d+)" dirty="(\w+)"', l)
        if m:
            maps[int(m.group(2))] = (int(m.group(1)), m.group(3) == 'true')
        m = re.search(r'<hint cache_block="(\d+)" data="([^"]*)"', l)
        if m:
            hints[int(m.group(1))] = m.group(2)
    return maps, hints


def compare(kstatus, mstatus, kxml, mxml, tol):
    """tol: 'exact', or 'C:S:H:N', the percentages allowed for the
    counters, the mapping and dirty sets, and the hints, and a number of
    blocks any measure may differ by whatever its percentage."""
    k = status_fields(open(kstatus).read())
    m = status_fields(open(mstatus).read())
    exact = tol == 'exact'
    tc, ts, th, floor = (0.0, 0.0, 0.0, 0) if exact else (float(x) for x in tol.split(':'))
    fails = []

    def row(what, kv, mv, diff, base, allowed):
        pct = 100.0 * diff / base if base else 0.0
        told = 'asserted' if allowed is not None else 'reported'
        print('ROW %-24s kernel %5s  model %5s  differ %4d (%5.1f%%, %s)' % (what, kv, mv, diff, pct, told))
        if allowed is not None and diff and (exact or (pct > allowed and diff > floor)):
            fails.append('%s: kernel %s, model %s (%d or %.1f%% apart, allowed %s)' %
                         (what, kv, mv, diff, pct, 'none' if exact else '%g%% or %d' % (allowed, floor)))

    for what in ('cached', 'read hits', 'read misses', 'write hits', 'write misses',
                 'demotions', 'promotions', 'dirty'):
        row(what, k[what], m[what], abs(k[what] - m[what]), max(k[what], m[what]), tc)
    km, kh = xml_maps(kxml)
    mm, mh = xml_maps(mxml)
    n = max(len(km), len(mm))
    # a mapping only one side holds: how many blocks the two caches
    # would have to exchange to agree
    row('mapping set', len(km), len(mm), max(len(set(km) - set(mm)), len(set(mm) - set(km))), n, ts)
    kd = {o for o in km if km[o][1]}
    md = {o for o in mm if mm[o][1]}
    row('dirty set', len(kd), len(md), max(len(kd - md), len(md - kd)), max(len(kd), len(md)), ts)
    # placement follows the order of promotions: one promotion more or
    # less shifts every later cache block, so it is asserted only exact
    both = set(km) & set(mm)
    same = [o for o in both if km[o][0] == mm[o][0]]
    row('placement', len(both), len(same), len(both) - len(same), len(both), 0.0 if exact else None)
    hd = sum(1 for o in same if kh.get(km[o][0]) != mh.get(mm[o][0]))
    row('hints (same place)', len(same), len(same) - hd, hd, len(same), th)
    for f in fails:
        print('FAIL ' + f)
    return 1 if fails else 0


def lateness(plan, log):
    """The 90th percentile of how late the guest issued the I/Os, in ms."""
    p = read_native(plan)
    late = sorted(max(0, l[0] - q[0]) for l, q in zip(read_native(log), p))
    return late[len(late) * 9 // 10] / 1e6 if late else 0.0


def main(a):
    if len(a) == 7 and a[0] == 'gen':
        write_native(a[6], gen(a[1], int(a[2]), int(a[3]), int(a[4]), int(a[5])))
        return 0
    if len(a) == 2 and a[0] == 'log':
        for t, done, op, off, ln in read_native(a[1]):
            print(t, done, op, off, ln)
        return 0
    if len(a) == 3 and a[0] == 'late':
        print('%.1f' % lateness(a[1], a[2]))
        return 0
    if len(a) == 6 and a[0] == 'compare':
        return compare(a[1], a[2], a[3], a[4], a[5])
    sys.stderr.write(__doc__)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
