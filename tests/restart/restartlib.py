"""restartlib.py -- helpers of the restart tests: a temporary directory,
daemons started plain or through a socket-activation emulation that
keeps the listening socket across daemon deaths (as systemd does), semrun
processes whose commands log what they saw, and the checks."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402
import wire  # noqa: E402

BUILD = os.environ.get("SEMD_BUILDDIR") or sys.exit("run through make check")
SEMD = os.environ.get("SEMD_BIN") or os.path.join(BUILD, "daemon/semd")
SEMRUN = os.path.join(BUILD, "client/semrun")
DEADLINE = float(os.environ.get("SEMD_TEST_DEADLINE", "60"))


class Test:
    """One test run: its directory, its processes, and fail()/ok()."""

    def __init__(self, prefix):
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.procs = []
        self.logs = []

    def fail(self, msg):
        print("FAIL: " + msg, file=sys.stderr)
        for path in self.logs:
            try:
                with open(path) as f:
                    print("--- %s (end)\n%s" % (path, f.read()[-2500:]),
                          file=sys.stderr)
            except OSError:
                pass
        self.cleanup()
        sys.exit(1)

    @staticmethod
    def ok(msg):
        print("ok - " + msg, flush=True)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    p.kill()
                p.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def wait_until(self, what, fn, deadline=DEADLINE):
        end = time.monotonic() + deadline
        while True:
            v = fn()
            if v:
                return v
            if time.monotonic() > end:
                self.fail("gave up waiting until " + what)
            time.sleep(0.02)

    def semd(self, tag, sock, *args):
        """Start semd -f on sock (it creates the socket)."""
        log = self.path(tag + ".log")
        self.logs.append(log)
        p = subprocess.Popen([SEMD, "-f", "-v", "-S", sock] + list(args),
                             stdout=open(log, "w"), stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def semrun(self, tag, args, env=None):
        """Start semrun ARGS in its own session; stderr to tag.err."""
        err = self.path(tag + ".err")
        self.logs.append(err)
        p = subprocess.Popen([SEMRUN] + args, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL,
                             stderr=open(err, "w"), env=env,
                             start_new_session=True)
        self.procs.append(p)
        return p


class Activator:
    """systemd-like socket activation: this object owns the listening
    socket for its whole life and starts semd on it (LISTEN_FDS=1, the
    socket as fd 3); when semd dies, connections wait in the backlog
    until start() is called again."""

    def __init__(self, test, sock, args):
        self.test = test
        self.sock = sock
        self.args = list(args)
        self.l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.l.bind(sock)
        self.l.listen(512)
        self.n = 0
        self.p = None

    def start(self):
        self.n += 1
        log = self.test.path("semd-%d.log" % self.n)
        self.test.logs.append(log)
        fd = self.l.fileno()
        # The shell moves the socket to fd 3 and becomes semd (same pid).
        self.p = subprocess.Popen(
            ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"' +
             ('' if fd == 3 else ' 3<&%d %d<&-' % (fd, fd)), SEMD, "-f",
             "-v"] + self.args,
            stdout=open(log, "w"), stderr=subprocess.STDOUT,
            pass_fds=(fd,), start_new_session=True)
        self.test.procs.append(self.p)
        return self.p

    def kill9(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait()


def hello_pid(sock):
    """The pid of the daemon answering on sock."""
    c = wire.connect_retry(sock)
    try:
        return c.call("HELLO", version=1)["pid"]
    finally:
        c.close()


def status(sock, sem):
    """STATUS of one semaphore as a dict ({} when unknown)."""
    c = wire.connect_retry(sock)
    try:
        r = c.call("STATUS", sem=sem)
    finally:
        c.close()
    return r["sems"][0] if r.get("sems") else {}


def reclaim_ms(errfile):
    """From a semrun -v stderr: the ms its reclaim took, or None."""
    with open(errfile) as f:
        m = re.search(r"reclaimed the slot of \S+ from semd \(pid \d+\) "
                      r"in (\d+) ms", f.read())
    return int(m.group(1)) if m else None


def holders_and_waiters(test, sock, sem, cap, n, durations, autostart=False,
                        args=()):
    """Start n semruns of sem (capacity cap) whose CMDs sleep
    durations[i], on sock (-S), or with autostart on the per-user default
    path; wait until cap run and n - cap wait.  Returns (procs, log)."""
    log = test.path(sem + ".runs")
    open(log, "w").close()
    env = dict(os.environ)
    if autostart:
        for v in ("SEMD_SOCKET", "SEMD_NO_AUTOSTART"):
            env.pop(v, None)
        where = []
    else:
        env["SEMD_NO_AUTOSTART"] = "1"
        where = ["-S", sock]
    procs = []
    for i in range(n):
        procs.append(test.semrun("%s-%d" % (sem, i),
                                 ["-v"] + where + list(args) +
                                 [sem, str(cap), "--"] +
                                 checker.cmd(log, durations[i]), env=env))
        if i < cap:
            test.wait_until("run %d has started" % i,
                            lambda: len(checker.intervals(log)) == i + 1)
    test.wait_until("%d wait" % (n - cap),
                    lambda: status(sock, sem).get("waiting") == n - cap)
    return procs, log


def check_runs(test, procs, log, cap, durations):
    """Every semrun exited 0, every CMD ran its whole time, and never more
    than cap ran at once by the CMDs' own clocks.  Returns the runs."""
    for i, p in enumerate(procs):
        try:
            st = p.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            test.fail("semrun %d did not finish" % i)
        if st != 0:
            test.fail("semrun %d exited %d" % (i, st))
    runs = checker.intervals(log)
    if len(runs) != len(procs):
        test.fail("%d of %d commands ran" % (len(runs), len(procs)))
    for i, p in enumerate(procs):
        s, e = runs[str(p.pid)]
        if e is None or e - s < float(durations[i]) - 0.05:
            test.fail("command of semrun %d did not run its whole time" % i)
    most, at = checker.max_running(runs)
    if most > cap:
        test.fail("%d commands ran at once (capacity %d) at %.3f" %
                  (most, cap, at))
    return runs


def check_order(test, runs, order, slack=0.25):
    """The waiters started in the order the new daemon queued them: each
    one no later than slack seconds after the next (two grants decided
    at once may start a hair apart in either order)."""
    starts = [runs[str(pid)][0] for pid in order]
    for i in range(len(starts) - 1):
        if starts[i] > starts[i + 1] + slack:
            test.fail("waiters were not served in order: %r (order %r)" %
                      (starts, order))
