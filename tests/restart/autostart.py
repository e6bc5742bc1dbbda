#!/usr/bin/python3
"""autostart.py -- semd killed with SIGKILL when it was auto-started by
its clients (the per-user daemon, no systemd): the semruns that hold
start a new daemon by themselves, reclaim their slots from it, and the
waiters queue again; never more than CAPACITY commands run at once (the
independent checker), waiters are served in the order the new daemon
queued them.

The per-user path is fixed (/tmp/semd-UID/semd.sock), so the test runs
in a private mount namespace with an empty tmpfs on /tmp and /run; it
needs root and unshare, and is skipped without them.
"""

import os
import shutil
import sys
import time

if not os.environ.get("SEMD_AUTOSTART_INNER"):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        print("SKIP: needs root and unshare")
        sys.exit(77)
    if os.system("unshare --mount --propagation private true "
                 ">/dev/null 2>&1") != 0:
        print("SKIP: cannot make a private mount namespace")
        sys.exit(77)
    os.environ["SEMD_AUTOSTART_INNER"] = "1"
    here = os.path.dirname(os.path.abspath(__file__))
    os.environ["SEMD_KEEP_DIRS"] = here
    os.execvp("unshare", ["unshare", "--mount", "--propagation", "private",
                          "sh", os.path.join(here, "..", "lib",
                                             "fresh-tmp.sh"),
                          sys.executable, os.path.abspath(__file__)])

os.environ["TMPDIR"] = "/tmp"
for v in ("SEMD_SOCKET", "SEMD_NO_AUTOSTART", "XDG_RUNTIME_DIR",
          "RUNTIME_DIRECTORY"):
    os.environ.pop(v, None)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tempfile  # noqa: E402
tempfile.tempdir = "/tmp"
from restartlib import (Test, check_order, check_runs,  # noqa: E402
                        hello_pid, holders_and_waiters, reclaim_ms, status)

t = Test("semd-autostart.")
sock = "/tmp/semd-%d/semd.sock" % os.getuid()
daemons = []
try:
    cap, n = 2, 5
    durations = ["2.0", "2.5", "0.6", "0.8", "1.0"]
    procs, log = holders_and_waiters(t, sock, "auto", cap, n, durations,
                                     autostart=True)
    pid = hello_pid(sock)
    daemons.append(pid)
    t0 = time.monotonic()
    os.kill(pid, 9)

    def settled():
        if not os.path.exists(sock):
            return None
        try:
            s = status(sock, "auto")
        except OSError:
            return None
        if s.get("held") == cap and s.get("waiting") == n - cap and \
                all(h["pid"] != 0 for h in s.get("holders", [])):
            return s
        return None
    st = t.wait_until("a new daemon runs, the holders reclaimed and the "
                      "waiters queued again", settled)
    took = time.monotonic() - t0
    pid2 = hello_pid(sock)
    daemons.append(pid2)
    if pid2 == pid:
        t.fail("the same daemon answers after SIGKILL")
    order = [w["pid"] for w in st["waiters"]]
    runs = check_runs(t, procs, log, cap, durations)
    check_order(t, runs, order)
    ms = [reclaim_ms(t.path("auto-%d.err" % i)) for i in range(cap)]
    if None in ms:
        t.fail("a holder did not say it reclaimed: %r" % ms)
    t.ok("auto-start, kill -9: a new daemon was started, the holders "
         "reclaimed (%s ms after the connection broke; all settled "
         "%.0f ms after the kill), never more than %d at once, waiters "
         "served in order" % ("/".join(str(x) for x in ms), took * 1000,
                              cap))
finally:
    for d in daemons:
        try:
            os.kill(d, 9)
        except OSError:
            pass
    t.cleanup()
