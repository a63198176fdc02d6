#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Coverage of the message corpus: every message the tools can print has a
case in tests/messages/*.cases, or is listed in tests/messages/elsewhere
with where it is tested instead.

A message is the format string of a call that prints or records one
(SOURCES below: tool_error(), msg(), parse_error() and fprintf(stderr)
in tools/*.c; the XML reader's fail() and the restore's failf(), whose
text the tools print after "FILE: line N, column M: " or "OUTPUT: "),
adjacent literals and PRIu64-style macros joined, each line of a format
with newlines on its own; plus every other string literal among that
call's arguments (the alternatives of a ?:) and every string an error
table in tools/*.c returns (a function whose name says "error").  A
tools/ format matches a corpus line when the line is the format with each
conversion standing for any text; a library format when it ends a line
after ": "; a fragment when it is part of a line.  Usage: coverage.py TOP.
"""
import glob
import os
import re
import sys

top = sys.argv[1]
# glob: {function: arguments before the format}; fprintf needs "stderr".
SOURCES = {
    'tools/*.c': {'tool_error': 0, 'msg': 0, 'parse_error': 1, 'fprintf': 1},
    'xml/reader.c': {'fail': 1, 'fail_errno': 2},
    'cache/restore.c': {'failf': 2},
    'xml/core.c': {'xml_core_fail': 1},
    'xml/thin_reader.c': {'xml_core_fail': 1},
    'thin/restore.c': {'failf': 2},
}
LIT = re.compile(r'"((?:[^"\\]|\\.)*)"|\b(PRI[diuxX](?:8|16|32|64))\b')
CONV = re.compile(r'%[-+ #0]*(?:\*|[0-9]+)?(?:\.(?:\*|[0-9]+))?'
                  r'(?:hh|h|ll|l|z|j|t)?[diouxXscp]|%llu')


def unescape(s):
    return s.replace('\\n', '\n').replace('\\t', '\t').replace('\\"', '"') \
            .replace('\\\\', '\\').replace('\\r', '\r')


def call_args(src, i):
    """The text of a call's arguments, from just after its '('."""
    depth, j = 1, i
    while depth:
        c = src[j]
        if c == '"':
            j += 1
            while src[j] != '"':
                j += 2 if src[j] == '\\' else 1
        elif c == "'":
            j += 3 if src[j + 1] != '\\' else 4
            continue
        elif c == '(':
            depth += 1
        elif c == ')':
            depth -= 1
        j += 1
    return src[i:j - 1]


def literal_runs(args):
    """Runs of adjacent string literals (macros joined in) in order."""
    runs, cur, last_end = [], None, None
    for m in LIT.finditer(args):
        piece = unescape(m.group(1)) if m.group(1) is not None else 'llu'
        between = args[last_end:m.start()] if last_end is not None else None
        if cur is not None and between is not None and not between.strip():
            cur += piece
        else:
            if cur is not None:
                runs.append(cur)
            cur = piece
        last_end = m.end()
    if cur is not None:
        runs.append(cur)
    return runs


def skip_args(args, n):
    """args without its first n arguments (no literal holds a comma here
    before the format)."""
    depth, i = 0, 0
    while n and i < len(args):
        c = args[i]
        if c in '([':
            depth += 1
        elif c in ')]':
            depth -= 1
        elif c == ',' and not depth:
            n -= 1
        i += 1
    return args[i:]


def messages():
    found = []      # (file, kind, text); kind "format", "lib" or "fragment"
    for pattern, calls in SOURCES.items():
        call = re.compile(r'\b(%s)\s*\(' % '|'.join(calls))
        for path in sorted(glob.glob(os.path.join(top, pattern))):
            found += file_messages(path, calls, call, pattern.startswith('tools/'))
    return found


def file_messages(path, calls, call, tools):
    found = []
    name = os.path.relpath(path, top)
    src = re.sub(r'/\*.*?\*/', lambda m: ' ' * len(m.group(0)),
                 open(path).read(), flags=re.S)
    src = re.sub(r'//[^\n]*', '', src)
    for m in call.finditer(src):
        # Skip the definitions of these functions themselves.
        before = src[max(0, m.start() - 20):m.start()]
        if re.search(r'\b(void|int)\s+$', before):
            continue
        args = call_args(src, m.end())
        if m.group(1) == 'fprintf' and not args.lstrip().startswith('stderr'):
            continue
        args = skip_args(args, calls[m.group(1)])
        runs = literal_runs(args)
        if not runs or not args.lstrip().startswith('"'):
            continue
        for line in runs[0].split('\n'):
            found.append((name, 'format' if tools else 'lib', line))
        for frag in runs[1:]:
            found.append((name, 'fragment', frag))
    if not tools:
        return found
    # Error tables: return "..." inside a function named *error*.
    for fm in re.finditer(r'\n[a-z][^\n]*\b(\w*error\w*)\s*\([^)]*\)\s*\{',
                          src):
        body = src[fm.end():src.find('\n}', fm.end())]
        for rm in re.finditer(r'return\s+((?:"(?:[^"\\]|\\.)*"\s*)+);',
                              body):
            for frag in literal_runs(rm.group(1)):
                found.append((name, 'fragment', frag))
    return found


def trivial(text):
    """Nothing but conversions, blanks and punctuation: matches anything."""
    return not re.sub(CONV, '', text).strip(' :\n\r')


# A tool's own messages must be made by its own cases; shared code's
# (common.c, main.c, the libraries) by any.
OWN_CASES = {
    'tools/cache_check.c': ('check',),
    'tools/cache_dump.c': ('dump',),
    'tools/cache_metadata_size.c': ('msize',),
    'tools/cache_repair.c': ('repair',),
    'tools/cache_restore.c': ('restore', 'restore-xml'),
    'tools/cache_writeback.c': ('writeback',),
    'tools/cache_replay.c': ('replay',),
    'tools/replay_simulate.c': ('simulate',),
}


def main():
    by_file = {}
    for path in glob.glob(os.path.join(top, 'tests', 'messages', '*.cases')):
        name = os.path.basename(path)[:-len('.cases')]
        for line in open(path):
            line = line.rstrip('\n')
            if line and not line.startswith(('#', '$ ', 'exit ')) \
               and line != '...':
                by_file.setdefault(name, []).append(line)
    every = [l for ls in by_file.values() for l in ls]
    elsewhere = set()
    for line in open(os.path.join(top, 'tests', 'messages', 'elsewhere')):
        line = line.rstrip('\n')
        if line and not line.startswith('#'):
            elsewhere.add(line)

    missing, used, total = [], set(), 0
    for name, kind, text in messages():
        if trivial(text):
            continue
        total += 1
        lines = every
        if name in OWN_CASES:
            lines = [l for c in OWN_CASES[name] for l in by_file.get(c, [])]
        key = '%s: %s' % (name, text.replace('\r', '\\r'))
        if key in elsewhere:
            used.add(key)
            continue
        if kind in ('format', 'lib'):
            # A format's "%%" prints one "%".
            parts = [re.escape(p.replace('%%', '%'))
                     for p in CONV.split(text)]
            body = '.*'.join(parts) + '$'
            rx = re.compile(('^' if kind == 'format' else '(^|: )') + body)
            ok = any(rx.search(l) or rx.match(l.split(': ', 1)[-1])
                     for l in lines)
        else:
            ok = any(text in l for l in lines)
        if not ok:
            missing.append(key)
    for key in missing:
        print('FAIL: no case in tests/messages/*.cases prints %r' % key)
    for key in sorted(elsewhere - used):
        print('FAIL: tests/messages/elsewhere lists %r, which the source '
              'no longer prints' % key)
    print('%d messages, %d elsewhere, %d without a case'
          % (total, len(used), len(missing)))
    return 1 if missing or elsewhere - used else 0


sys.exit(main())
