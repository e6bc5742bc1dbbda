#!/usr/bin/python3
"""check-grants.py LOG N CAPACITY -- check the commands' own record of
their grants, independent of semd.

LOG has a line "S <ns> <token> <tag>" when a command starts and "E <ns>
<token> <tag>" when it ends (date +%s%N, $SEMD_TOKEN).  There must be N
of each, never more than CAPACITY running at once, and the grants in
token order: an earlier token starts before a later one ends (FIFO by
revision), give or take SLACK_NS.  A command records its start some time
after its grant (watch delivery to its host, fork and exec of sh and
date on a loaded machine), while two tokens among the first CAPACITY are
granted together and a later one may run its whole hold before the
earlier one's host has even seen its key.  So the order is checked with
SLACK_NS of slack: a request passed over while later ones came and went
still shows.  Exit 0 and one "ok" line, or an AssertionError."""
import sys

path, n, cap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start, end = {}, {}
for line in open(path):
    kind, ts, tok, host = line.split()
    (start if kind == "S" else end)[int(tok)] = int(ts)
assert len(start) == n and set(start) == set(end), \
    "%d starts, %d ends, want %d each" % (len(start), len(end), n)
ev = sorted([(t, 1) for t in start.values()] + [(t, -1) for t in end.values()],
            key=lambda e: (e[0], e[1]))
cur = top = 0
for t, d in ev:
    cur += d
    top = max(top, cur)
assert top <= cap, "%d ran at once, capacity %d" % (top, cap)
SLACK_NS = 2 * 10**9
toks = sorted(start)
for i, a in enumerate(toks):
    for b in toks[i + 1:]:
        assert start[a] < end[b] + SLACK_NS, \
            "token %d started %.3f s after %d ended" % \
            (a, (start[a] - end[b]) / 1e9, b)
print("ok - at most %d at once (capacity %d), %d grants in token order"
      % (top, cap, n))
