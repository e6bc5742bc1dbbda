#!/usr/bin/python3
"""storm.py -- a restart storm (part of make soak): random semrun load on
three semaphores for --seconds (default 30) while semd is killed with
SIGKILL --kills times (default 20) at random moments and started again
on the same listening socket (the socket-activation emulation, as
systemd does), sometimes at once, sometimes after a pause.

Checks, from the commands' own clock (checker.py): never more weight
running on a semaphore than its capacity; every semrun exits 0 (each
one reclaimed or asked again across every kill); and once the load is
over, nothing is held: no slot leaked.

    storm.py [--seconds N] [--kills N] [--seed N]
"""

import argparse
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from restartlib import SEMRUN, Activator, Test, status  # noqa: E402
import wire  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--seconds", type=float, default=30)
ap.add_argument("--kills", type=int, default=20)
ap.add_argument("--seed", type=int, default=int(time.time()))
ap.add_argument("--concurrency", type=int, default=14)
ap.add_argument("--grace", default="2", help="semd --grace")
ap.add_argument("--semrun-arg", action="append", default=[],
                help="more semrun options (--semrun-arg=--reconnect=0 "
                "shows what happens without reclaims)")
opt = ap.parse_args()
rnd = random.Random(opt.seed)
print("# storm: %d kills over %.0f s, seed %d" % (opt.kills, opt.seconds,
                                                   opt.seed), flush=True)

SEMS = {"storm.one": 1, "storm.two": 2, "storm.three": 3}
t = Test("semd-storm.")
try:
    sock = t.path("sock")
    log = t.path("runs")
    open(log, "w").close()
    act = Activator(t, sock, ["--grace", opt.grace])
    act.start()
    wire.connect_retry(sock).close()
    env = dict(os.environ, SEMD_NO_AUTOSTART="1")
    env.pop("SEMD_SOCKET", None)

    kill_at = sorted(rnd.uniform(0.5, opt.seconds - 0.5)
                     for _ in range(opt.kills))
    running = []
    done = []
    start = time.monotonic()
    n = 0
    kills = 0
    while time.monotonic() - start < opt.seconds:
        now = time.monotonic() - start
        if kill_at and now >= kill_at[0]:
            kill_at.pop(0)
            act.kill9()
            kills += 1
            if rnd.random() < 0.3:
                time.sleep(rnd.uniform(0.05, 0.4))
            act.start()
        for p in running[:]:
            if p.poll() is not None:
                running.remove(p)
                done.append(p)
        while len(running) < opt.concurrency:
            sem = rnd.choice(sorted(SEMS))
            w = rnd.randint(1, min(2, SEMS[sem]))
            d = "%.2f" % rnd.uniform(0.05, 0.6)
            n += 1
            cmd = ('echo "start %s %d $PPID $(date +%%s.%%N)" >>"%s"; '
                   'sleep %s; echo "end %s %d $PPID $(date +%%s.%%N)" '
                   '>>"%s"' % (sem, w, log, d, sem, w, log))
            running.append(t.semrun("s%d" % n, opt.semrun_arg +
                                    ["-S", sock, "-w", str(w),
                                                sem, str(SEMS[sem]), "--",
                                                "sh", "-c", cmd], env=env))
        time.sleep(0.02)

    for p in running:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            t.fail("a semrun did not finish after the storm")
        done.append(p)

    # The bound, per semaphore, weighted, from the commands' timestamps.
    ev = {}
    runs = {}
    with open(log) as f:
        for line in f:
            what, sem, w, pid, ts = line.split()
            runs.setdefault(pid, {})[what] = (sem, int(w), float(ts))
    for pid, r in runs.items():
        if "start" not in r:
            continue
        sem, w, s = r["start"]
        if "end" not in r:
            t.fail("command of semrun %s did not log its end" % pid)
        e = r["end"][2]
        ev.setdefault(sem, []).extend([(s, w), (e, -w)])
    for sem, evs in ev.items():
        evs.sort(key=lambda x: (x[0], x[1]))
        cur = most = 0
        for _, d in evs:
            cur += d
            most = max(most, cur)
        if most > SEMS[sem]:
            t.fail("%s: weight %d ran at once, capacity %d" %
                   (sem, most, SEMS[sem]))
    bad = [(p.pid, p.returncode) for p in done if p.returncode != 0]
    if bad:
        t.fail("%d semrun(s) failed, e.g. pid %d exit %d" %
               (len(bad), bad[0][0], bad[0][1]))
    if len(runs) != len(done):
        t.fail("%d commands logged for %d semruns" % (len(runs), len(done)))

    # No slot leaked: once the last grace period is over, nothing held.
    def empty():
        c = wire.connect_retry(sock)
        try:
            r = c.call("STATUS")
        finally:
            c.close()
        return all(s["held"] == 0 and s["waiting"] == 0
                   for s in r.get("sems", [])) or None
    t.wait_until("nothing is held after the storm", empty, deadline=30)
    t.ok("storm: %d kills, %d semruns over %.0f s, all exited 0, never "
         "over capacity, nothing leaked" % (kills, len(done), opt.seconds))
finally:
    t.cleanup()
