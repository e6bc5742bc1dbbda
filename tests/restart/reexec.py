#!/usr/bin/python3
"""reexec.py -- an upgrade in place: SIGUSR2 makes semd execute its
binary again with the same pid, handing the listening socket over; the
connections close, and their semruns reclaim their slots from the new
image at once.  The holders' commands keep running, never more than
CAPACITY run at once by their own clocks, the waiters are served in the
order the new image queued them, and every semrun exits 0."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from restartlib import (Test, check_order, check_runs,  # noqa: E402
                        hello_pid, holders_and_waiters, reclaim_ms, status)

t = Test("semd-reexec.")
try:
    sock = t.path("sock")
    d = t.semd("semd", sock, "--grace", "5")
    pid = hello_pid(sock)
    cap, n = 2, 5
    durations = ["2.0", "2.4", "0.5", "0.7", "0.9"]
    procs, log = holders_and_waiters(t, sock, "up", cap, n, durations)
    t0 = time.monotonic()
    os.kill(pid, signal.SIGUSR2)

    def said(i, what):
        with open(t.path("up-%d.err" % i)) as f:
            return what in f.read()

    def settled():
        # The signal is asynchronous: first see every semrun notice it.
        if not all(said(i, "reclaimed the slot") for i in range(cap)) or \
                not all(said(i, "asking again") for i in range(cap, n)):
            return None
        s = status(sock, "up")
        if s.get("held") == cap and s.get("waiting") == n - cap and \
                all(h["pid"] != 0 for h in s.get("holders", [])):
            return s
        return None
    st = t.wait_until("the holders reclaimed from the new image", settled)
    took = time.monotonic() - t0
    if hello_pid(sock) != pid or d.poll() is not None:
        t.fail("after SIGUSR2 another process answers")
    order = [w["pid"] for w in st["waiters"]]
    runs = check_runs(t, procs, log, cap, durations)
    check_order(t, runs, order)
    ms = [reclaim_ms(t.path("up-%d.err" % i)) for i in range(cap)]
    if None in ms:
        t.fail("a holder did not reclaim: %r" % ms)
    if "re-executing" not in open(t.path("semd.log")).read():
        t.fail("semd did not log the re-execution")
    t.ok("SIGUSR2: same pid, listener handed over, holders reclaimed "
         "(%s ms; settled %.0f ms after the signal), never more than %d "
         "at once, waiters served in order" %
         ("/".join(str(x) for x in ms), took * 1000, cap))
    d.terminate()
    d.wait()
finally:
    t.cleanup()
