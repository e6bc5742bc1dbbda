#!/usr/bin/python3
"""semrun_restart.py -- semd killed with SIGKILL under a socket-activation
emulation (the listening socket outlives the daemon, as with systemd),
while semruns hold and wait; real semd and semrun processes, and an
independent checker of what the commands saw:

- the holders' commands keep running, and their semruns reclaim the
  slots from the new daemon (the time it took is printed);
- never more than CAPACITY commands run at once;
- the waiters queue again and are served in the order the new daemon
  queued them;
- --on-daemon-loss applies only when the reclaim fails: when the daemon
  does not come back (within its grace period plus a margin), or comes
  back without the grants (--grace 0 refuses the tokens).
- a grant of two semaphores (one token) is reclaimed whole.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from restartlib import (Activator, Test, check_order, check_runs,  # noqa
                        holders_and_waiters, reclaim_ms, status)

t = Test("semd-restart.")
try:
    # 1. Socket activation: SIGKILL while 2 hold and 4 wait.
    sock = t.path("act.sock")
    act = Activator(t, sock, ["--grace", "3"])
    act.start()
    cap, n = 2, 6
    durations = ["2.0", "2.5", "0.6", "0.8", "1.0", "1.2"]
    procs, log = holders_and_waiters(t, sock, "act", cap, n, durations)
    t0 = time.monotonic()
    act.kill9()
    act.start()

    def settled():
        s = status(sock, "act")
        if s.get("held") == cap and s.get("waiting") == n - cap and \
                all(h["pid"] != 0 for h in s.get("holders", [])):
            return s
        return None
    st = t.wait_until("the holders reclaimed and the waiters queued again",
                      settled)
    took = time.monotonic() - t0
    if sorted(h["pid"] for h in st["holders"]) != \
            sorted(p.pid for p in procs[:cap]):
        t.fail("the holders after the restart are not the first ones: %r"
               % st["holders"])
    order = [w["pid"] for w in st["waiters"]]
    runs = check_runs(t, procs, log, cap, durations)
    check_order(t, runs, order)
    ms = [reclaim_ms(t.path("act-%d.err" % i)) for i in range(cap)]
    if None in ms:
        t.fail("a holder did not say it reclaimed: %r" % ms)
    t.ok("socket activation, kill -9: holders kept running and reclaimed "
         "(%s ms after the connection broke; all settled %.0f ms after "
         "the kill), never more than %d at once, waiters served in order"
         % ("/".join(str(x) for x in ms), took * 1000, cap))

    # 1b. A grant of two semaphores (one token) is reclaimed whole.
    mark = t.path("multi.started")
    m = t.semrun("multi", ["-v", "-S", sock, "ma", "1", "mb", "1", "--",
                           "sh", "-c", 'touch "$0"; sleep 2', mark])
    t.wait_until("the two-semaphore command runs",
                 lambda: os.path.exists(mark))
    act.kill9()
    act.start()
    t.wait_until("both semaphores are held again by semrun",
                 lambda: all(status(sock, x).get("held") == 1 and
                             status(sock, x)["holders"][0]["pid"] == m.pid
                             for x in ("ma", "mb")))
    for x in ("ma", "mb"):
        r = subprocess.run([os.path.join(os.environ["SEMD_BUILDDIR"],
                                         "client/semrun"), "-n", "-S", sock,
                            x, "1", "--", "true"], stderr=subprocess.DEVNULL)
        if r.returncode != 75:
            t.fail("%s was free after the reclaim (exit %d)" %
                   (x, r.returncode))
    if m.wait(timeout=30) != 0:
        t.fail("the two-semaphore semrun failed")
    t.ok("a grant of two semaphores is reclaimed whole")

    # 2. The daemon does not come back: -K applies once semrun gives up
    #    (grace 1 s announced + 5 s margin), and CMD is terminated.
    sock = t.path("gone.sock")
    d = t.semd("gone", sock, "--grace", "1")
    t.wait_until("semd answers", lambda: os.path.exists(sock) and
                 status(sock, "x") == {})
    mark = t.path("gone.started")
    k = t.semrun("gone-k", ["-K", "--kill-after", "1", "-S", sock, "gone",
                            "1", "--", "sh", "-c",
                            'touch "$0"; exec sleep 60', mark])
    t.wait_until("the command runs", lambda: os.path.exists(mark))
    t0 = time.monotonic()
    d.kill()
    d.wait()
    try:
        st = k.wait(timeout=30)
    except subprocess.TimeoutExpired:
        t.fail("semrun -K did not give up")
    waited = time.monotonic() - t0
    err = open(t.path("gone-k.err")).read()
    if st != 76 or "could not reclaim" not in err or waited < 5:
        t.fail("daemon gone for good: semrun -K exited %d after %.1f s: %s"
               % (st, waited, err))
    t.ok("daemon gone for good: semrun -K terminated CMD after trying "
         "for %.1f s, exit 76" % waited)

    # 3. The daemon comes back without the grants (--grace 0): the
    #    reclaim is DENIED, -K terminates at once; without -K the
    #    command goes on and semrun exits with its status.
    sock = t.path("deny.sock")
    d = t.semd("deny1", sock)
    t.wait_until("semd answers", lambda: os.path.exists(sock) and
                 status(sock, "x") == {})
    mk, mc = t.path("deny.k"), t.path("deny.c")
    k = t.semrun("deny-k", ["-K", "--kill-after", "1", "-S", sock, "dk",
                            "1", "--", "sh", "-c",
                            'touch "$0"; exec sleep 60', mk])
    c = t.semrun("deny-c", ["-S", sock, "dc", "1", "--", "sh", "-c",
                            'touch "$0"; sleep 2; exit 7', mc])
    t.wait_until("both commands run", lambda: os.path.exists(mk) and
                 os.path.exists(mc))
    d.kill()
    d.wait()
    d = t.semd("deny2", sock, "--grace", "0")
    try:
        sk = k.wait(timeout=30)
        sc = c.wait(timeout=30)
    except subprocess.TimeoutExpired:
        t.fail("semruns did not finish after a refused reclaim")
    ek = open(t.path("deny-k.err")).read()
    ec = open(t.path("deny-c.err")).read()
    if sk != 76 or "could not be reclaimed" not in ek:
        t.fail("reclaim refused, -K: exit %d: %s" % (sk, ek))
    if sc != 7 or "CMD continues without it" not in ec:
        t.fail("reclaim refused, continue: exit %d: %s" % (sc, ec))
    t.ok("reclaim refused: -K terminates CMD (76), the default lets it "
         "finish (its status)")
    d.terminate()
    d.wait()
finally:
    t.cleanup()
