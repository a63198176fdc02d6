#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
# Copied from shared/kernel-lab and adapted for tests/kernel (see tests/kernel/README.md).
"""blocks.py -- recognisable data blocks for cache/origin images.

Each block is made of 64-byte lines "LAB <tag> ob=<n> kernel-lab-data\\n",
the same format the guest's lab_gen writes.

  blocks.py fill IMG BLOCK_SECTORS TAG START COUNT   blocks START.. get ob=<index>
  blocks.py put  IMG BLOCK_SECTORS INDEX TAG OB      one block at INDEX naming OB
  blocks.py scan IMG BLOCK_SECTORS                   runs of equal-looking blocks
  blocks.py get  IMG BLOCK_SECTORS INDEX             "TAG OB" of one block, or zero/other
"""
import os
import sys


def line(tag, ob):
    s = 'LAB %-12s ob=%-10d %-32s\n' % (tag, ob, 'kernel-lab-data')
    assert len(s) == 64, s
    return s.encode()


def block(bs, tag, ob):
    return line(tag, ob) * (bs * 512 // 64)


def describe(data):
    if not data.strip(b'\0'):
        return ('zero', None)
    first = data[:64]
    if first.startswith(b'LAB ') and data == first * (len(data) // 64):
        f = first.decode().split()
        return (f[1], int(f[2][3:]))
    if first.startswith(b'LAB '):
        f = first.decode().split()
        return (f[1] + '(mixed)', int(f[2][3:]))
    return ('other', None)


def main(a):
    cmd, img, bs = a[0], a[1], int(a[2])
    bb = bs * 512
    if cmd == 'fill':
        tag, start, count = a[3], int(a[4]), int(a[5])
        with open(img, 'r+b') as f:
            for i in range(start, start + count):
                f.seek(i * bb)
                f.write(block(bs, tag, i))
    elif cmd == 'put':
        idx, tag, ob = int(a[3]), a[4], int(a[5])
        if (idx + 1) * bb > os.path.getsize(img):
            print('blocks.py: block %d is beyond the end of %s, not written' % (idx, img), file=sys.stderr)
            return 1
        with open(img, 'r+b') as f:
            f.seek(idx * bb)
            f.write(block(bs, tag, ob))
    elif cmd == 'get':
        with open(img, 'rb') as f:
            f.seek(int(a[3]) * bb)
            t, ob = describe(f.read(bb))
            print(t if ob is None else '%s %d' % (t, ob))
    elif cmd == 'scan':
        n = os.path.getsize(img) // bb
        runs = []
        with open(img, 'rb') as f:
            for i in range(n):
                t, ob = describe(f.read(bb))
                key = (t, None if ob is None else ob - i)
                if runs and runs[-1][0] == key and runs[-1][2] == i - 1:
                    runs[-1][2] = i
                else:
                    runs.append([key, i, i])
        for (t, delta), s, e in runs:
            if delta is None:
                print('%d..%d %s' % (s, e, t))
            else:
                print('%d..%d %s ob=%d..%d' % (s, e, t, s + delta, e + delta))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
