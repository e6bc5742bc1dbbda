#!/usr/bin/python3
"""Check a log of recipe runs against a machine-wide job bound.

    jobserver-check.py LOG BOUND COUNT

Every recipe appends "S BUILD RECIPE NANOSECONDS" to LOG when it starts
and "E BUILD RECIPE NANOSECONDS" before it ends (each line one O_APPEND
write, so the order of the lines is the order in which they happened).
Checks, independently of semd and semrun:
  - COUNT distinct recipes ran, each started once and ended once, the
    end after the start;
  - at no point in the log were more than BOUND recipes between their
    start and end line (a recipe runs at least between its two lines);
  - the same by the timestamps (with an end counted before a start at an
    equal time: the lenient reading, the line order is the strict one);
  - BOUND recipes did run at once at some point: the pool was used.
Prints a one-line summary; exits 1 with a reason on the first failure.
"""

import sys


def fail(msg):
    print("jobserver-check: FAIL: " + msg)
    sys.exit(1)


def main():
    path, bound, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    started, ended = {}, {}
    events = []
    running = peak = 0
    with open(path, encoding="ascii") as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if len(parts) != 4 or parts[0] not in ("S", "E"):
                fail("line %d is not 'S|E BUILD RECIPE NS': %r" % (n, line))
            kind, key, ns = parts[0], (parts[1], parts[2]), int(parts[3])
            if kind == "S":
                if key in started:
                    fail("%s %s started twice (line %d)" % (key + (n,)))
                started[key] = n
                running += 1
                if running > bound:
                    fail("%d recipes running at line %d, bound %d"
                         % (running, n, bound))
                peak = max(peak, running)
            else:
                if key not in started or key in ended:
                    fail("%s %s ended without a start (line %d)"
                         % (key + (n,)))
                ended[key] = n
                running -= 1
            events.append((ns, 0 if kind == "E" else 1))
    if len(started) != count:
        fail("%d recipes started, wanted %d" % (len(started), count))
    if len(ended) != count:
        fail("%d recipes ended, wanted %d" % (len(ended), count))
    running = tpeak = 0
    for _, kind in sorted(events):
        running += 1 if kind == 1 else -1
        tpeak = max(tpeak, running)
    if tpeak > bound:
        fail("%d recipes running at once by the timestamps, bound %d"
             % (tpeak, bound))
    if peak != bound:
        fail("at most %d recipes ran at once: the pool of %d was not used"
             % (peak, bound))
    print("jobserver-check: %d recipes, at most %d at once (bound %d)"
          % (count, peak, bound))
    return 0


if __name__ == "__main__":
    sys.exit(main())
