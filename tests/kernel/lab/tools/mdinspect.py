#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
# Copied from shared/kernel-lab and adapted for tests/kernel (see tests/kernel/README.md).
"""mdinspect.py -- look at dm-cache metadata images written by the kernel lab.

  mdinspect.py summary IMG [--json]   superblock, space map, block layout,
                                      padding / dirty / hint facts
  mdinspect.py layout IMG             one line per allocated block: kind
  mdinspect.py where IMG WHAT         block number of: sb, index, bitmap0,
                                      refcount, mapping-root, mapping-ablock0,
                                      hint-root, hint-ablock0, discard-root,
                                      dirty-root, dirty-ablock0
  mdinspect.py flip IMG BLOCK OFFSET [XOR]   xor a byte (default 0xff) in a
                                      block WITHOUT fixing its checksum
  mdinspect.py setsb IMG FIELD VALUE  set a superblock field, re-checksum
  mdinspect.py resum IMG BLOCK KIND   recompute a block's checksum
                                      (KIND: superblock btree bitmap index array)
  mdinspect.py getmap IMG CBLOCK      mapping value of a cache block (hex)
  mdinspect.py setmap IMG CBLOCK VAL  set a mapping value (le64: oblock << 16 |
                                      flags), re-checksum its array block
  mdinspect.py setcount IMG BLOCK N   set a block's 2-bit count in its space-map
                                      bitmap (0..3), re-checksum the bitmap
  mdinspect.py xml IMG                the XML our cache_dump must print: 0.9.0's
                                      layout, dirty from M_DIRTY (v1) or the
                                      dirty bitset (v2), and <discards> ranges
                                      when discard_nr_blocks > 0 (added for
                                      dm-cache-tools)

Written for the lab from the on-disk format (shared/FORMAT.md); it reads
images, it is not part of the product.
"""
import json
import struct
import sys

BS = 4096
XOR = {'superblock': 9031977, 'btree': 121107, 'bitmap': 240779,
       'index': 160478, 'array': 595846735}
SB_FIELDS = {  # name: (offset, struct fmt)
    'flags': (4, '<I'), 'blocknr': (8, '<Q'), 'magic': (32, '<Q'),
    'version': (40, '<I'), 'policy_hint_size': (60, '<I'),
    'mapping_root': (192, '<Q'), 'hint_root': (200, '<Q'),
    'discard_root': (208, '<Q'), 'discard_block_size': (216, '<Q'),
    'discard_nr_blocks': (224, '<Q'), 'data_block_size': (232, '<I'),
    'metadata_block_size': (236, '<I'), 'cache_blocks': (240, '<I'),
    'compat_flags': (244, '<I'), 'compat_ro_flags': (248, '<I'),
    'incompat_flags': (252, '<I'), 'read_hits': (256, '<I'),
    'read_misses': (260, '<I'), 'write_hits': (264, '<I'),
    'write_misses': (268, '<I'), 'policy_version_major': (272, '<I'),
    'policy_version_minor': (276, '<I'), 'policy_version_patch': (280, '<I'),
    'dirty_root': (284, '<Q'),
}

_T = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _T.append(_c)


def crc32c_raw(data, crc=0xFFFFFFFF):
    for b in data:
        crc = _T[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def csum(blk, kind):
    return crc32c_raw(blk[4:BS]) ^ XOR[kind]


class Image:
    def __init__(self, path):
        self.data = open(path, 'rb').read()
        self.nr_blocks = len(self.data) // BS
        self.kinds = {}      # block -> list of kinds (several = shared/bug)
        self.errors = []
        self.arrays = {}     # label -> list of (array block, max, nr, value_size)

    def blk(self, b):
        if b >= self.nr_blocks:
            self.errors.append('block %d beyond end of image' % b)
            return bytes(BS)
        return self.data[b * BS:(b + 1) * BS]

    def mark(self, b, kind):
        self.kinds.setdefault(b, []).append(kind)

    def check(self, b, kind, bn_off):
        blk = self.blk(b)
        if struct.unpack_from('<I', blk, 0)[0] != csum(blk, kind):
            self.errors.append('block %d (%s): bad checksum' % (b, kind))
        if struct.unpack_from('<Q', blk, bn_off)[0] != b:
            self.errors.append('block %d (%s): wrong self blocknr' % (b, kind))
        return blk

    def btree(self, root, label, out, depth=0):
        self.mark(root, label + '-btree-' + ('root' if depth == 0 else 'node'))
        blk = self.check(root, 'btree', 8)
        flags, _, nr, mx, vs = struct.unpack_from('<IQIII', blk, 4)
        if nr > mx or 32 + mx * (8 + vs) > BS:
            self.errors.append('btree node %d: nr %d max %d vs %d' % (root, nr, mx, vs))
            return
        keys = struct.unpack_from('<%dQ' % nr, blk, 32)
        vb = 32 + 8 * mx
        for i in range(nr):
            v = blk[vb + i * vs: vb + (i + 1) * vs]
            if flags & 1:
                self.btree(struct.unpack('<Q', v)[0], label, out, depth + 1)
            else:
                out.append((keys[i], v))

    def array(self, root, vsize, nr_entries, label):
        leaves = []
        self.btree(root, label + '-array', leaves)
        vals = []
        info = []
        for k, v in leaves:
            ab = struct.unpack('<Q', v)[0]
            self.mark(ab, label + '-ablock')
            blk = self.check(ab, 'array', 16)
            mx, nr, vs = struct.unpack_from('<III', blk, 4)
            info.append((ab, mx, nr, vs))
            if vs != vsize:
                self.errors.append('%s ablock %d value size %d' % (label, ab, vs))
            for i in range(nr):
                vals.append(blk[24 + i * vs: 24 + (i + 1) * vs])
        self.arrays[label] = info
        if len(vals) != nr_entries:
            self.errors.append('%s: %d entries, expected %d' % (label, len(vals), nr_entries))
        return vals

    def bitset(self, root, nr_bits, label):
        words = [struct.unpack('<Q', w)[0] for w in
                 self.array(root, 8, (nr_bits + 63) // 64, label)]
        bits = [(words[i // 64] >> (i % 64)) & 1 for i in range(min(nr_bits, len(words) * 64))]
        pad = 0
        if words and nr_bits % 64:
            pad = words[-1] >> (nr_bits % 64)
        return bits, pad


def superblock(img):
    sb = img.blk(0)
    f = {k: struct.unpack_from(fmt, sb, off)[0] for k, (off, fmt) in SB_FIELDS.items()}
    f['policy_name'] = sb[44:60].split(b'\0')[0].decode('ascii', 'replace')
    f['uuid'] = sb[16:32].hex()
    f['csum_ok'] = struct.unpack_from('<I', sb, 0)[0] == csum(sb, 'superblock')
    f['sm_root'] = dict(zip(('nr_blocks', 'nr_allocated', 'bitmap_root', 'ref_count_root'),
                            struct.unpack_from('<4Q', sb, 64)))
    f['sb_tail_nonzero'] = [i for i in range(292, BS) if sb[i]]
    return f


def space_map(img, smr):
    img.mark(0, 'superblock')
    idx = img.check(smr['bitmap_root'], 'index', 8)
    img.mark(smr['bitmap_root'], 'sm-index')
    per = 16320
    nb = smr['nr_blocks']
    counts = []
    entries = []
    for i in range((nb + per - 1) // per):
        bnr, nfree, nfb = struct.unpack_from('<QII', idx, 16 + 16 * i)
        img.mark(bnr, 'sm-bitmap')
        bm = img.check(bnr, 'bitmap', 8)
        real_free = 0
        for j in range(min(per, nb - i * per)):
            byte = bm[16 + j // 4]
            s = 2 * (j % 4)
            c = 2 * ((byte >> s) & 1) + ((byte >> (s + 1)) & 1)
            counts.append(c)
            real_free += (c == 0)
        entries.append(dict(bitmap=bnr, nr_free=nfree, none_free_before=nfb,
                            free_real_blocks=real_free))
    rc = []
    img.btree(smr['ref_count_root'], 'sm-refcount', rc)
    over = {k: struct.unpack('<I', v)[0] for k, v in rc}
    counts = [over.get(b, 3) if c == 3 else c for b, c in enumerate(counts)]
    return entries, counts, over


def inspect(path):
    img = Image(path)
    f = superblock(img)
    out = {'superblock': f}
    entries, counts, over = space_map(img, f['sm_root'])
    out['sm_index'] = entries
    out['sm_overflow'] = over
    nrc = f['cache_blocks']
    maps = [struct.unpack('<Q', v)[0] for v in img.array(f['mapping_root'], 8, nrc, 'mapping')]
    valid = [c for c, v in enumerate(maps) if v & 1]
    v1dirty = [c for c, v in enumerate(maps) if v & 2]
    out['mappings'] = {
        'valid': len(valid),
        'v1_dirty_flag': len(v1dirty),
        'v1_dirty_flag_on_unmapped': len([c for c in v1dirty if not maps[c] & 1]),
        'unmapped_nonzero': len([c for c, v in enumerate(maps) if not v & 1 and v]),
        'other_flag_bits': len([c for c, v in enumerate(maps) if v & 0xFFFC]),
        'first': [(c, maps[c] >> 16, maps[c] & 0xFFFF) for c in valid[:8]],
    }
    if f['hint_root']:
        hs = f['policy_hint_size'] or 4
        hints = img.array(f['hint_root'], hs, nrc, 'hint')
        hv = {}
        hu = {}
        for c, h in enumerate(hints):
            d = hv if maps[c] & 1 else hu
            d[h.hex()] = d.get(h.hex(), 0) + 1
        out['hints'] = {'mapped': hv, 'unmapped': hu}
    else:
        out['hints'] = None
    if f['discard_root']:
        bits, pad = img.bitset(f['discard_root'], f['discard_nr_blocks'], 'discard')
        out['discard'] = {'bits': len(bits), 'set': sum(bits), 'padding_word_bits': hex(pad)}
    if f['version'] >= 2 and f['dirty_root']:
        bits, pad = img.bitset(f['dirty_root'], nrc, 'dirty')
        out['dirty_bitset'] = {
            'set': sum(bits),
            'set_on_mapped': sum(bits[c] for c in valid),
            'set_on_unmapped': sum(bits) - sum(bits[c] for c in valid),
            'padding_word_bits': hex(pad)}
    out['arrays'] = {k: [dict(block=a, max=m, nr=n, vs=v) for a, m, n, v in info]
                     for k, info in img.arrays.items()}
    allocated = [b for b, c in enumerate(counts) if c]
    out['allocated_blocks'] = len(allocated)
    out['sm_nr_allocated_field'] = f['sm_root']['nr_allocated']
    out['leaked'] = [b for b in allocated if b not in img.kinds]
    out['unaccounted'] = [b for b in img.kinds if b >= len(counts) or not counts[b]]
    out['shared'] = {b: k for b, k in img.kinds.items() if len(k) > 1}
    out['count_mismatch'] = [(b, counts[b], len(img.kinds.get(b, [])))
                             for b in allocated if b in img.kinds and counts[b] != len(img.kinds[b])]
    out['layout'] = {b: '+'.join(img.kinds.get(b, ['LEAKED'])) for b in sorted(set(allocated) | set(img.kinds))}
    out['errors'] = img.errors
    return out


def print_summary(r):
    f = r['superblock']
    print('superblock: csum_ok=%s flags=%d (clean_shutdown=%d needs_check=%d) version=%d' % (
        f['csum_ok'], f['flags'], f['flags'] & 1, (f['flags'] >> 1) & 1, f['version']))
    print('  policy=%r version=%d.%d.%d hint_size=%d  compat=%d compat_ro=%d incompat=%d uuid=%s' % (
        f['policy_name'], f['policy_version_major'], f['policy_version_minor'],
        f['policy_version_patch'], f['policy_hint_size'], f['compat_flags'],
        f['compat_ro_flags'], f['incompat_flags'], f['uuid'] if int(f['uuid'], 16) else '0'))
    print('  data_block_size=%d metadata_block_size=%d cache_blocks=%d' % (
        f['data_block_size'], f['metadata_block_size'], f['cache_blocks']))
    print('  discard_block_size=%d discard_nr_blocks=%d' % (f['discard_block_size'], f['discard_nr_blocks']))
    print('  roots: mapping=%d hint=%d discard=%d dirty=%d' % (
        f['mapping_root'], f['hint_root'], f['discard_root'], f['dirty_root']))
    print('  stats: rh=%d rm=%d wh=%d wm=%d  sb tail non-zero bytes: %s' % (
        f['read_hits'], f['read_misses'], f['write_hits'], f['write_misses'], f['sb_tail_nonzero'][:8]))
    s = f['sm_root']
    print('space map: nr_blocks=%d nr_allocated=%d index=%d refcount_root=%d  (counted allocated=%d)' % (
        s['nr_blocks'], s['nr_allocated'], s['bitmap_root'], s['ref_count_root'], r['allocated_blocks']))
    for e in r['sm_index']:
        print('  bitmap %(bitmap)d: nr_free=%(nr_free)d none_free_before=%(none_free_before)d'
              ' (free real blocks=%(free_real_blocks)d)' % e)
    if r['sm_overflow']:
        print('  overflow ref counts: %s' % r['sm_overflow'])
    m = r['mappings']
    print('mappings: valid=%(valid)d v1_dirty_flag=%(v1_dirty_flag)d dirty_on_unmapped=%(v1_dirty_flag_on_unmapped)d'
          ' unmapped_nonzero=%(unmapped_nonzero)d other_flags=%(other_flag_bits)d' % m)
    print('  first: %s' % ', '.join('c%d->o%d/f%d' % t for t in m['first']))
    if r.get('dirty_bitset'):
        print('dirty bitset: set=%(set)d on_mapped=%(set_on_mapped)d on_unmapped=%(set_on_unmapped)d'
              ' padding=%(padding_word_bits)s' % r['dirty_bitset'])
    if r.get('discard'):
        print('discard bitset: bits=%(bits)d set=%(set)d padding=%(padding_word_bits)s' % r['discard'])
    print('hints: %s' % (json.dumps(r['hints']) if r['hints'] is not None else 'none (hint_root=0)'))
    for k, v in r['arrays'].items():
        print('array %s: %s' % (k, ', '.join('blk %(block)d max=%(max)d nr=%(nr)d vs=%(vs)d' % a for a in v)))
    print('layout: ' + ', '.join('%d:%s' % (b, k) for b, k in r['layout'].items()))
    print('leaked=%s unaccounted=%s shared=%s refcount_mismatch=%s' % (
        r['leaked'], r['unaccounted'], r['shared'], r['count_mismatch']))
    print('errors: %s' % (r['errors'] or 'none'))


def expected_xml(path):
    """The dump dm-cache-tools' cache_dump must print for an undamaged image.

    Written independently of the C code from FORMAT.md section 7: 0.9.0's
    exact text, with two differences: the v2 dirty flag comes from the dirty
    bitset (0.9.0 ignores it), and a <discards> element lists the runs of set
    bits of the discard bitset as half-open [dbegin, dend) ranges.  The XML
    shows what is on disk; a missing CLEAN_SHUTDOWN flag changes nothing here.
    A third: hint_width is 0 when there is no hint array (hint_root 0, the
    kernel before its first clean shutdown), where 0.9.0 prints 4; a 4 over
    no array would make the next restore write an array of zero hints.
    """
    import base64
    img = Image(path)
    f = superblock(img)
    nrc = f['cache_blocks']
    hs = (f['policy_hint_size'] or 4) if f['hint_root'] else 0
    out = ['<superblock uuid="%s" block_size="%d" nr_cache_blocks="%d" policy="%s" hint_width="%d">' % (
        bytes.fromhex(f['uuid']).split(b'\0')[0].decode('latin-1'), f['data_block_size'], nrc,
        f['policy_name'], hs)]
    maps = [struct.unpack('<Q', v)[0] for v in img.array(f['mapping_root'], 8, nrc, 'mapping')]
    if f['version'] >= 2:
        dirty, _ = img.bitset(f['dirty_root'], nrc, 'dirty') if f['dirty_root'] else ([0] * nrc, 0)
    else:
        dirty = [(m >> 1) & 1 for m in maps]
    out.append('  <mappings>')
    for c, m in enumerate(maps):
        if m & 1:
            out.append('    <mapping cache_block="%d" origin_block="%d" dirty="%s"/>' % (
                c, m >> 16, 'true' if dirty[c] else 'false'))
    out.append('  </mappings>')
    out.append('  <hints>')
    if f['hint_root']:
        hints = img.array(f['hint_root'], hs, nrc, 'hint')
        for c, m in enumerate(maps):
            if m & 1:
                out.append('    <hint cache_block="%d" data="%s"/>' % (
                    c, base64.b64encode(hints[c]).decode()))
    out.append('  </hints>')
    if f['discard_nr_blocks'] > 0:
        out.append('  <discards discard_block_size="%d" discard_nr_blocks="%d">' % (
            f['discard_block_size'], f['discard_nr_blocks']))
        bits, _ = img.bitset(f['discard_root'], f['discard_nr_blocks'], 'discard')
        d = 0
        while d < len(bits):
            if bits[d]:
                e = d
                while e < len(bits) and bits[e]:
                    e += 1
                out.append('    <discard dbegin="%d" dend="%d"/>' % (d, e))
                d = e
            else:
                d += 1
        out.append('  </discards>')
    out.append('</superblock>')
    if img.errors:
        raise SystemExit('mdinspect xml: damaged image: ' + '; '.join(img.errors))
    return '\n'.join(out) + '\n'


def where(path, what):
    img = Image(path)
    f = superblock(img)
    if what == 'sb':
        return 0
    if what == 'index':
        return f['sm_root']['bitmap_root']
    if what == 'refcount':
        return f['sm_root']['ref_count_root']
    if what == 'bitmap0':
        return struct.unpack_from('<Q', img.blk(f['sm_root']['bitmap_root']), 16)[0]
    name, _, part = what.partition('-')
    root = f[name + '_root']
    if part == 'root':
        return root
    if part == 'ablock0':
        leaves = []
        img.btree(root, name, leaves)
        return struct.unpack('<Q', leaves[0][1])[0]
    raise SystemExit('unknown WHAT %s' % what)


def mapping_slot(path, cblock):
    """(array block, byte offset) of a cache block's mapping value"""
    img = Image(path)
    f = superblock(img)
    leaves = []
    img.btree(f['mapping_root'], 'mapping', leaves)
    per = (BS - 24) // 8
    ab = struct.unpack('<Q', leaves[cblock // per][1])[0]
    return ab, 24 + (cblock % per) * 8


def patch_block(path, b, fn):
    with open(path, 'r+b') as fh:
        fh.seek(b * BS)
        blk = bytearray(fh.read(BS))
        fn(blk)
        fh.seek(b * BS)
        fh.write(blk)


def main(a):
    if len(a) < 2:
        print(__doc__)
        return 2
    cmd, path = a[0], a[1]
    if cmd == 'summary':
        try:
            r = inspect(path)
        except Exception as e:  # damaged beyond what the walker handles
            print('errors: cannot walk the image: %r' % (e,))
            return 1
        if '--json' in a:
            print(json.dumps(r, indent=1, default=str))
        else:
            print_summary(r)
    elif cmd == 'setcount':
        b, n = int(a[2], 0), int(a[3], 0)
        img = Image(path)
        idx = img.blk(superblock(img)['sm_root']['bitmap_root'])
        bm = struct.unpack_from('<Q', idx, 16 + 16 * (b // 16320))[0]
        j = b % 16320

        def sc(blk):
            # count 1 is the odd bit of the pair, count 2 the even one
            s2 = 2 * (j % 4)
            v = blk[16 + j // 4] & ~(3 << s2) & 0xFF
            v |= ((n & 1) << (s2 + 1)) | (((n >> 1) & 1) << s2)
            blk[16 + j // 4] = v
            struct.pack_into('<I', blk, 0, csum(bytes(blk), 'bitmap'))
        patch_block(path, bm, sc)
    elif cmd == 'xml':
        sys.stdout.write(expected_xml(path))
    elif cmd == 'layout':
        for b, k in inspect(path)['layout'].items():
            print(b, k)
    elif cmd == 'where':
        print(where(path, a[2]))
    elif cmd == 'flip':
        b, off = int(a[2], 0), int(a[3], 0)
        x = int(a[4], 0) if len(a) > 4 else 0xFF

        def fl(blk):
            blk[off] ^= x
        patch_block(path, b, fl)
    elif cmd == 'setsb':
        off, fmt = SB_FIELDS[a[2]]

        def st(blk):
            struct.pack_into(fmt, blk, off, int(a[3], 0))
            struct.pack_into('<I', blk, 0, csum(bytes(blk), 'superblock'))
        patch_block(path, 0, st)
    elif cmd == 'resum':
        b, kind = int(a[2], 0), a[3]

        def rs(blk):
            struct.pack_into('<I', blk, 0, csum(bytes(blk), kind))
        patch_block(path, b, rs)
    elif cmd == 'getmap':
        ab, off = mapping_slot(path, int(a[2], 0))
        with open(path, 'rb') as fh:
            fh.seek(ab * BS + off)
            print('%#x' % struct.unpack('<Q', fh.read(8))[0])
    elif cmd == 'setmap':
        ab, off = mapping_slot(path, int(a[2], 0))

        def sm(blk):
            struct.pack_into('<Q', blk, off, int(a[3], 0))
            struct.pack_into('<I', blk, 0, csum(bytes(blk), 'array'))
        patch_block(path, ab, sm)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
