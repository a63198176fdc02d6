#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""s8.py -- scenario 8 (dm-thin) of tests/kernel: the plans the guest runs,
a model of what the kernel does with them, and the comparisons.

A plan is a list of lines the guest's workloads/s8-thin.sh executes in
order, and which the model here interprets on its own:

  pool META DATA            dmsetup create pool (disks by virtio serial)
  msg WORDS...              dmsetup message pool 0 WORDS (set_transaction_id,
                            create_thin, delete, reserve_metadata_snap)
  snap NEW ORIGIN           suspend thin ORIGIN, create_snap NEW ORIGIN, resume
  thin ID NBLOCKS           activate thin device ID (NBLOCKS pool blocks)
  unthin ID                 remove it
  write ID VBLOCK COUNT TAG COUNT whole blocks, the next COUNT blocks of the
                            source disk ("cache"), at VBLOCK of thin ID
  status TAG                dmsetup status of the pool and every active thin
  copy ID OUT BLOCK         thin ID, all of it, to disk OUT at block BLOCK
  unpool                    remove every thin and the pool

Block content is the lab's recognisable data (lab/tools/blocks.py):
64-byte lines "LAB <tag> ob=<n> kernel-lab-data", n the virtual block it
was written at.  The source disk holds the blocks of every write line in
plan order (`src`).

The model follows dm-thin-metadata.c's rules (seed 001), not our tools: a
mapping is shared when its time is before the device's snapshotted_time,
and a write to it then takes a new data block (time = the pool's); a write
to an unshared mapping overwrites its block in place; create_snap adds one
to the pool time and gives origin and snapshot snapshotted_time = that
time, the snapshot the origin's mappings and mapped_blocks; a device's
transaction id is the pool's when it was created.  Data blocks are model
ids; the kernel's numbers are not predicted, only which mappings share one.

  s8.py plan1                           boot 1's plan
  s8.py plan2 NAME:META:DATA:DEVS...     boot 2's plan (see plan2())
  s8.py src PLAN IMG                    the source disk for PLAN's writes
  s8.py model PLAN OUTDIR [META=STATE.json...]
                                        the state of each pool at every
                                        status line and at reserve_metadata_snap
                                        (OUTDIR/TAG.json); a pool on disk META
                                        starts from STATE.json
  s8.py dump STATE XML DATAIMG [--held CURSTATE CURXML]
                                        a thin_dump against the model
  s8.py status STATE SERIAL TAG         the kernel's status lines against the model
  s8.py readback STATE OUTIMG BLOCK ID...
                                        the copies of thin IDs (from BLOCK on,
                                        NBLOCKS each) against the model
  s8.py setsb META mapping-root|details-root
                                        that root pointer zeroed, the
                                        superblock's checksum made right
  s8.py handxml XML STATE DATAIMG       a hand-made pool: <def>/<ref> XML, its
                                        model state and its data device
"""
import hashlib
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

# The lab's CRC-32C (the dm-cache image tool's; thin's superblock differs
# only in its xor, below).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                'lab', 'tools'))
from mdinspect import crc32c_raw  # noqa: E402

BS = 128                # sectors per pool block (64 KiB)
BB = BS * 512
VBLOCKS = 256           # blocks per thin device (16 MiB)


def block(tag, ob):
    line = ('LAB %-12s ob=%-10d %-32s\n' % (tag, ob, 'kernel-lab-data')).encode()
    assert len(line) == 64
    return line * (BB // 64)


def describe(data):
    if not data.strip(b'\0'):
        return 'zero'
    first = data[:64]
    if first.startswith(b'LAB ') and data == first * (len(data) // 64):
        f = first.decode().split()
        return '%s@%s' % (f[1], f[2][3:])
    return 'other'


def md5(data):
    return hashlib.md5(data).hexdigest()


# ----------------------------------------------------------------- plans

def plan1():
    """Boot 1: thin 1 and 2, a snapshot 3 of 1, writes that share and then
    break shared blocks on both sides, thin 4 written and held only by the
    metadata snapshot (deleted after it), writes after the metadata
    snapshot; every transaction id set."""
    return '''pool meta origin
msg set_transaction_id 0 1
msg create_thin 1
msg set_transaction_id 1 2
msg create_thin 2
thin 1 {v}
thin 2 {v}
write 1 0 100 a1
write 1 200 40 b1
write 2 10 50 a2
write 2 128 1 c2
write 2 255 1 d2
status before-snap
msg set_transaction_id 2 3
snap 3 1
thin 3 {v}
write 1 50 20 e1
write 3 80 10 f3
write 3 150 10 g3
write 1 60 5 h1
write 1 80 4 i1
msg set_transaction_id 3 4
msg create_thin 4
thin 4 {v}
write 4 0 30 j4
status before-metasnap
msg reserve_metadata_snap
write 1 0 5 k1
write 3 100 5 l3
write 2 10 5 m2
write 2 200 20 n2
write 4 100 1 o4
unthin 4
msg delete 4
msg set_transaction_id 4 5
status final
unpool
'''.format(v=VBLOCKS)


def plan2(acts):
    """Boot 2: each ACT "NAME:META:DATA:DEVS" (DEVS comma-separated) is a
    pool on disks META and DATA; its thins are activated, their status
    taken (NAME-loaded), new blocks written where the model says they are
    unmapped, shared with a snapshot, or private (NAME-written), and each
    thin copied whole to disk "out" from block k * 4 * VBLOCKS on (k the
    act's position; the thins in DEVS order)."""
    out = []
    for k, act in enumerate(acts):
        name, meta, data, devs = act.split(':')
        devs = [int(d) for d in devs.split(',')]
        t = name[:4]
        out.append('pool %s %s' % (meta, data))
        out += ['thin %d %d' % (d, VBLOCKS) for d in devs]
        out.append('status %s-loaded' % name)
        if devs == [1, 2, 3]:
            # into holes of 2 and 1; into blocks 3 shares with 1 (new
            # blocks for 3); into blocks of 1 that are older than its
            # snapshot but that 3 has since replaced (new blocks for 1, the
            # old ones freed); over blocks 1 wrote after the snapshot (in
            # place)
            out += ['write 2 60 8 %s-u' % t, 'write 1 100 4 %s-h' % t,
                    'write 3 20 4 %s-s' % t, 'write 1 85 4 %s-f' % t,
                    'write 1 50 2 %s-p' % t]
        else:
            # into the shared leaf from both sides, over 12's own blocks
            # (in place), into empty 13
            out += ['write 11 10 4 %s-s' % t, 'write 10 30 2 %s-o' % t,
                    'write 12 5 2 %s-p' % t, 'write 13 0 3 %s-u' % t]
        out.append('status %s-written' % name)
        out += ['copy %d out %d' % (d, k * 4 * VBLOCKS + i * VBLOCKS) for i, d in enumerate(devs)]
        out.append('unpool')
    return '\n'.join(out) + '\n'


def parse(plan):
    ops = []
    for ln in plan.splitlines():
        ln = ln.split('#')[0].split()
        if ln:
            ops.append(ln)
    return ops


def src(plan, img):
    with open(img, 'wb') as f:
        for op in parse(plan):
            if op[0] == 'write':
                v, n, tag = int(op[2]), int(op[3]), op[4]
                for i in range(n):
                    f.write(block(tag, v + i))
        if f.tell() == 0:
            f.write(b'\0' * BB)


# ----------------------------------------------------------------- model

class Pool:
    def __init__(self, state=None):
        s = state or {'time': 0, 'transaction': 0, 'nr_ids': 0,
                      'devs': {}, 'content': {}, 'held': None}
        self.time = s['time']
        self.tid = s['transaction']
        self.nr_ids = s['nr_ids']
        # dev -> {'tid','ctime','stime','map': {vblock: [id, time]}}
        self.devs = {int(d): {'tid': v['tid'], 'ctime': v['ctime'], 'stime': v['stime'],
                              'map': {int(b): list(m) for b, m in v['map'].items()}}
                     for d, v in s['devs'].items()}
        # id -> [tag, ob]: what the data block holds now
        self.content = {int(i): list(c) for i, c in s['content'].items()}
        self.held = s.get('held')

    def new_id(self):
        self.nr_ids += 1
        return self.nr_ids - 1

    def state(self):
        return {'time': self.time, 'transaction': self.tid, 'nr_ids': self.nr_ids,
                'devs': {str(d): {'tid': v['tid'], 'ctime': v['ctime'], 'stime': v['stime'],
                                  'map': {str(b): m for b, m in sorted(v['map'].items())}}
                         for d, v in sorted(self.devs.items())},
                'content': {str(i): c for i, c in sorted(self.content.items())},
                'held': self.held}

    def used(self):
        ids = {m[0] for d in self.devs.values() for m in d['map'].values()}
        if self.held:
            ids |= {m[0] for d in self.held['devs'].values() for m in d['map'].values()}
        return len(ids)

    def msg(self, w):
        if w[0] == 'set_transaction_id':
            assert int(w[1]) == self.tid, w
            self.tid = int(w[2])
        elif w[0] == 'create_thin':
            d = int(w[1])
            assert d not in self.devs
            self.devs[d] = {'tid': self.tid, 'ctime': self.time, 'stime': self.time, 'map': {}}
        elif w[0] == 'create_snap':
            d, o = int(w[1]), int(w[2])
            assert d not in self.devs and o in self.devs
            self.time += 1
            self.devs[o]['stime'] = self.time
            self.devs[d] = {'tid': self.tid, 'ctime': self.time, 'stime': self.time,
                            'map': {b: list(m) for b, m in self.devs[o]['map'].items()}}
        elif w[0] == 'delete':
            del self.devs[int(w[1])]
        elif w[0] == 'reserve_metadata_snap':
            assert self.held is None
            self.held = None
            self.held = json.loads(json.dumps(self.state()))
            self.held['held'] = None
        elif w[0] == 'release_metadata_snap':
            self.held = None
        else:
            raise ValueError('model: unknown message %s' % w)

    def write(self, d, v, n, tag):
        dev = self.devs[d]
        for b in range(v, v + n):
            m = dev['map'].get(b)
            if m is not None and not dev['stime'] > m[1]:
                i = m[0]                # unshared: in place
            else:
                i = self.new_id()
                dev['map'][b] = [i, self.time]
            self.content[i] = [tag, b]


def model(plan, outdir, inits):
    pools = {}
    pool = None
    for op in parse(plan):
        if op[0] == 'pool':
            if op[1] not in pools:
                st = None
                if op[1] in inits:
                    with open(inits[op[1]]) as f:
                        st = json.load(f)
                    # restored or repaired: no metadata snapshot; the
                    # kernel's own metadata (keep_held) keeps its own
                    if not st.pop('keep_held', False):
                        st['held'] = None
                pools[op[1]] = Pool(st)
            pool = pools[op[1]]
        elif op[0] == 'msg':
            pool.msg(op[1:])
            if op[1] == 'reserve_metadata_snap':
                save(outdir, 'metasnap', pool)
        elif op[0] == 'snap':
            pool.msg(['create_snap', op[1], op[2]])
        elif op[0] == 'write':
            pool.write(int(op[1]), int(op[2]), int(op[3]), op[4])
        elif op[0] == 'status':
            save(outdir, op[1], pool)
        elif op[0] in ('thin', 'unthin', 'copy', 'unpool'):
            pass
        else:
            raise ValueError('model: unknown plan line %s' % op)
    return 0


def save(outdir, tag, pool):
    with open(os.path.join(outdir, tag + '.json'), 'w') as f:
        json.dump(pool.state(), f, indent=1)


def load(path):
    with open(path) as f:
        return Pool(json.load(f))


# ----------------------------------------------------------------- dumps

def read_dump(path):
    """(superblock attributes, {dev: (attributes, {vblock: (data, time)})})"""
    root = ET.parse(path).getroot()
    devs = {}
    for d in root.findall('device'):
        m = {}
        for e in d:
            if e.tag == 'single_mapping':
                m[int(e.get('origin_block'))] = (int(e.get('data_block')), int(e.get('time')))
            elif e.tag == 'range_mapping':
                o, db, n = int(e.get('origin_begin')), int(e.get('data_begin')), int(e.get('length'))
                for k in range(n):
                    m[o + k] = (db + k, int(e.get('time')))
            else:
                raise ValueError('unexpected <%s> in device %s' % (e.tag, d.get('dev_id')))
        devs[int(d.get('dev_id'))] = (d.attrib, m)
    return root.attrib, devs


class Errors:
    def __init__(self):
        self.n = 0

    def __call__(self, msg):
        self.n += 1
        if self.n <= 12:
            print('FAIL ' + msg)
        elif self.n == 13:
            print('FAIL (more differences not shown)')


def check_dump(st, xml, dataimg, nr_data_blocks, cur=None):
    """Mappings, details and the data under every mapping, against the
    model.  With cur = (Pool, dump) the state is a held metadata snapshot:
    a data block overwritten in place since holds its new content, so the
    content is checked only where the model's held and current content
    agree, and every id both know must have the same data block in both
    dumps."""
    err = Errors()
    sb, devs = read_dump(xml)
    want_sb = {'time': st.time, 'transaction': st.tid, 'data_block_size': BS}
    if cur is None:
        want_sb['nr_data_blocks'] = nr_data_blocks
    for k, v in want_sb.items():
        if sb.get(k) != str(v):
            err('superblock %s="%s", want "%s"' % (k, sb.get(k), v))
    if sorted(devs) != sorted(st.devs):
        err('devices %s, want %s' % (sorted(devs), sorted(st.devs)))
    id2data = {}
    data2id = {}
    f = open(dataimg, 'rb')
    nmap = 0
    for d in sorted(set(devs) & set(st.devs)):
        attrs, m = devs[d]
        md = st.devs[d]
        want = {'mapped_blocks': len(md['map']), 'transaction': md['tid'],
                'creation_time': md['ctime'], 'snap_time': md['stime']}
        for k, v in want.items():
            if attrs.get(k) != str(v):
                err('device %d: %s="%s", want "%s"' % (d, k, attrs.get(k), v))
        if sorted(m) != sorted(md['map']):
            extra = sorted(set(m) - set(md['map']))
            missing = sorted(set(md['map']) - set(m))
            err('device %d: mapped virtual blocks differ: %d not written (%s), %d written but unmapped (%s)'
                % (d, len(extra), ranges(extra), len(missing), ranges(missing)))
        for v in sorted(set(m) & set(md['map'])):
            data, t = m[v]
            i, wt = md['map'][v]
            nmap += 1
            if t != wt:
                err('device %d block %d: time %d, want %d' % (d, v, t, wt))
            if data >= nr_data_blocks:
                err('device %d block %d: data block %d past the device' % (d, v, data))
                continue
            # the sharing: one model id, one data block, and back
            if id2data.setdefault(i, data) != data:
                err('device %d block %d: data block %d, but the model shares it with data block %d'
                    % (d, v, data, id2data[i]))
            if data2id.setdefault(data, i) != i:
                err('device %d block %d: data block %d mapped where the model has two different blocks'
                    % (d, v, data))
            c = st.content[i]
            if cur is not None and cur[0].content.get(i) != c:
                continue        # overwritten in place after the snapshot
            f.seek(data * BB)
            got = f.read(BB)
            if md5(got) != md5(block(c[0], c[1])):
                err('device %d block %d: data block %d holds %s, want %s@%d'
                    % (d, v, data, describe(got), c[0], c[1]))
    f.close()
    if cur is not None:
        _, cdevs = read_dump(cur[1])
        cid2data = {}
        for d, md in cur[0].devs.items():
            if d in cdevs:
                for v, (i, _) in md['map'].items():
                    if v in cdevs[d][1]:
                        cid2data[i] = cdevs[d][1][v][0]
        for i, data in id2data.items():
            if i in cid2data and cid2data[i] != data:
                err('model block %d: data block %d at the metadata snapshot, %d now (not overwritten in place)'
                    % (i, data, cid2data[i]))
    print('ROW devices %d mappings %d data-blocks %d' % (len(devs), nmap, len(data2id)))
    return 1 if err.n else 0


def ranges(bs):
    out = []
    for b in bs:
        if out and out[-1][1] == b - 1:
            out[-1][1] = b
        else:
            out.append([b, b])
    s = ','.join('%d' % a if a == b else '%d..%d' % (a, b) for a, b in out[:6])
    return s + (',...' if len(out) > 6 else '')


# ----------------------------------------------------------------- kernel

def status(st, serial, tag):
    """The pool's line: <tid> <used>/<total meta> <used>/<total data>
    <held root|-> ...; a thin's: <mapped sectors> <highest mapped sector>."""
    err = Errors()
    lines = {}
    with open(serial, errors='replace') as f:
        for ln in f:
            m = re.match(r'^LAB-S8-STATUS\[%s\]\[([^]]*)\]: (.*)$' % re.escape(tag), ln.rstrip('\r\n'))
            if m:
                lines[m.group(1)] = m.group(2).split()
    p = lines.get('pool')
    if not p:
        err('no pool status for %s' % tag)
        return 1
    # 0 SECTORS thin-pool TID META DATA HELD rw|ro ...
    if p[3] != str(st.tid):
        err('pool transaction id %s, want %d' % (p[3], st.tid))
    used = p[5].split('/')[0]
    if used != str(st.used()):
        err('pool data blocks used %s, want %d' % (used, st.used()))
    if (p[6] != '-') != (st.held is not None):
        err('pool held metadata root "%s", want %s' % (p[6], 'one' if st.held else 'none'))
    if p[7] != 'rw':
        err('pool mode %s, want rw' % p[7])
    for name, f in lines.items():
        if name == 'pool':
            continue
        d = int(name[4:])
        mp = st.devs[d]['map']
        want = '%d %d' % (len(mp) * BS, (max(mp) + 1) * BS - 1 if mp else -1)
        got = ' '.join(f[3:5]) if len(f) >= 5 else ' '.join(f[3:])
        if not mp and len(f) >= 4 and f[3] == '0':
            got = want      # an empty thin prints "0 -"
        if got != want:
            err('%s status "%s", want "%s" (mapped sectors, highest mapped sector)' % (name, got, want))
    print('ROW %s' % ' | '.join('%s: %s' % (k, ' '.join(v[3:])) for k, v in sorted(lines.items())))
    return 1 if err.n else 0


def readback(st, outimg, start, devs):
    """Every block of each copy: the model's content where mapped, zeroes
    elsewhere."""
    err = Errors()
    nm = nz = 0
    with open(outimg, 'rb') as f:
        for k, d in enumerate(devs):
            mp = st.devs[d]['map']
            for v in range(VBLOCKS):
                f.seek((start + k * VBLOCKS + v) * BB)
                got = f.read(BB)
                c = st.content[mp[v][0]] if v in mp else None
                if c is None:
                    nz += 1
                    if got.strip(b'\0'):
                        err('thin %d block %d: unmapped, reads %s, want zeroes' % (d, v, describe(got)))
                else:
                    nm += 1
                    if md5(got) != md5(block(c[0], c[1])):
                        err('thin %d block %d: reads %s, want %s@%d' % (d, v, describe(got), c[0], c[1]))
    print('ROW read %d mapped blocks (checksums as written), %d unmapped (zero)' % (nm, nz))
    return 1 if err.n else 0


# ----------------------------------------------------------------- hand-made pool

HAND_DATA = 512


def hand():
    """Four devices: 10 and 11 share leaf "s" (written once as a <def>), 11
    has its own blocks too, 12 is independent, 13 is empty.  Returns the
    XML and the model (ids = data blocks, block d holding hd@d)."""
    shared = [(0, 100, 40, 0), (64, 7, 1, 0), (70, 160, 30, 0)]
    devs = {
        10: {'tid': 1, 'ctime': 0, 'stime': 2, 'runs': [(100, 200, 10, 1)]},
        11: {'tid': 3, 'ctime': 2, 'stime': 2, 'runs': [(110, 300, 1, 2), (128, 310, 20, 2)]},
        12: {'tid': 4, 'ctime': 2, 'stime': 2, 'runs': [(5, 400, 10, 2), (255, 411, 1, 2)]},
        13: {'tid': 5, 'ctime': 2, 'stime': 2, 'runs': []},
    }
    refs = {10: True, 11: True}
    x = ['<superblock uuid="" time="2" transaction="6" version="2" data_block_size="%d" nr_data_blocks="%d">'
         % (BS, HAND_DATA), '  <def name="s">']
    for o, d, n, t in shared:
        x.append(mapping(o, d, n, t, '    '))
    x.append('  </def>')
    st = Pool()
    st.time, st.tid = 2, 6
    for dev, a in devs.items():
        runs = (shared if refs.get(dev) else []) + a['runs']
        mp = {}
        for o, d, n, t in runs:
            for k in range(n):
                mp[o + k] = [d + k, t]
                st.content[d + k] = ['hd', d + k]
        st.devs[dev] = {'tid': a['tid'], 'ctime': a['ctime'], 'stime': a['stime'], 'map': mp}
        x.append('  <device dev_id="%d" mapped_blocks="%d" transaction="%d" creation_time="%d" snap_time="%d">'
                 % (dev, len(mp), a['tid'], a['ctime'], a['stime']))
        if refs.get(dev):
            x.append('    <ref name="s"/>')
        for o, d, n, t in a['runs']:
            x.append(mapping(o, d, n, t, '    '))
        x.append('  </device>')
    x.append('</superblock>')
    st.nr_ids = HAND_DATA
    return '\n'.join(x) + '\n', st


def mapping(o, d, n, t, ind):
    if n == 1:
        return '%s<single_mapping origin_block="%d" data_block="%d" time="%d"/>' % (ind, o, d, t)
    return '%s<range_mapping origin_begin="%d" data_begin="%d" length="%d" time="%d"/>' % (ind, o, d, n, t)


# ----------------------------------------------------------------- damage

SB_CSUM_XOR = 160774


def sb_csum(sb):
    return crc32c_raw(sb[4:4096]) ^ SB_CSUM_XOR


def setsb(img, field):
    """Zero a u64 superblock field (mapping-root at 320, details-root at
    328) and write the superblock's checksum again: the root is lost, the
    superblock itself is valid."""
    off = {'mapping-root': 320, 'details-root': 328}[field]
    with open(img, 'r+b') as f:
        sb = bytearray(f.read(4096))
        if int.from_bytes(sb[0:4], 'little') != sb_csum(sb):
            print('s8.py: %s: the superblock checksum is already wrong' % img, file=sys.stderr)
            return 1
        sb[off:off + 8] = bytes(8)
        sb[0:4] = sb_csum(sb).to_bytes(4, 'little')
        f.seek(0)
        f.write(sb)
    return 0


def main(a):
    if not a:
        print(__doc__)
        return 2
    cmd = a[0]
    if cmd == 'plan1':
        sys.stdout.write(plan1())
    elif cmd == 'plan2':
        sys.stdout.write(plan2(a[1:]))
    elif cmd == 'src':
        src(open(a[1]).read(), a[2])
    elif cmd == 'model':
        inits = dict(x.split('=', 1) for x in a[3:])
        return model(open(a[1]).read(), a[2], inits)
    elif cmd == 'dump':
        nr = int(ET.parse(a[2]).getroot().get('nr_data_blocks'))
        cur = None
        if len(a) > 4 and a[4] == '--held':
            cur = (load(a[5]), a[6])
            # the held copy's data space map root is zeroed: 0.9.0 prints
            # nr_data_blocks="0" there
            nr = int(ET.parse(a[6]).getroot().get('nr_data_blocks'))
        st = load(a[1])
        if cur is not None:
            st = Pool(st.held)
        return check_dump(st, a[2], a[3], nr, cur)
    elif cmd == 'status':
        return status(load(a[1]), a[2], a[3])
    elif cmd == 'readback':
        devs = [int(x) for x in a[4:]]
        return readback(load(a[1]), a[2], int(a[3]), devs)
    elif cmd == 'setsb':
        return setsb(a[1], a[2])
    elif cmd == 'handxml':
        x, st = hand()
        with open(a[1], 'w') as f:
            f.write(x)
        with open(a[2], 'w') as f:
            json.dump(st.state(), f, indent=1)
        with open(a[3], 'wb') as f:
            for d in range(HAND_DATA):
                f.write(block('hd', d))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
