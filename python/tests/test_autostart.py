"""Socket resolution and auto-start, as libsemd does them: Python
clients and semrun started at the same instant, with no daemon anywhere,
end up on one per-user daemon.  Isolated in private mount and pid
namespaces (fresh /tmp and /run), never the machine's real ones."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import HERE, SEMD_BIN, child_env, tool


def in_namespace(*argv: str) -> subprocess.CompletedProcess:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1)")
    # The trees the test runs from stay visible in the namespace even
    # when they live under /tmp (fresh-tmp.sh binds them back).
    fresh = HERE.parent.parent / "tests" / "lib" / "fresh-tmp.sh"
    keep = {str(HERE.parent), os.path.dirname(SEMD_BIN)}
    keep.update(os.path.dirname(a) for a in argv if os.path.isabs(a))
    env = child_env()
    env["SEMD_BIN"] = SEMD_BIN
    env["SEMD_KEEP_DIRS"] = ":".join(sorted(keep))
    p = subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", "--mount-proc",
         "--propagation", "private", "sh", str(fresh), *argv],
        env=env, capture_output=True, timeout=300)
    if p.returncode != 0 and b"unshare" in p.stderr:
        pytest.skip(f"cannot unshare here: {p.stderr.decode()}")
    return p


def test_python_and_semrun_start_one_daemon():
    semrun = tool("semrun")
    p = in_namespace(sys.executable, str(HERE / "ns_driver.py"), semrun, "4")
    assert p.returncode == 0, p.stderr.decode()
    r = json.loads(p.stdout)
    uid = os.geteuid()
    path = f"/tmp/semd-{uid}/semd.sock"
    # Exactly one daemon, on the per-user path, started as libsemd does.
    assert len(r["daemons"]) == 1, r["daemons"]
    argv = r["daemons"][0][1:]
    assert argv[1:] == ["-S", path, "--idle-exit", "60"], argv
    assert "semd.lock" in r["user_dir"] and "semd.sock" in r["user_dir"]
    # Every client ran; the Python ones report that daemon's pid.
    assert all(rc == 0 for rc, _ in r["results"]), r
    pids = {out for rc, out in r["results"][0::2]}
    assert pids == {r["daemons"][0][0]}
    # One bound for all of them: the critical sections never overlapped.
    secs = r["sections"]
    assert len(secs) == 16
    for i in range(0, 16, 2):
        a, b = secs[i].split(), secs[i + 1].split()
        assert a[0] == "start" and b == ["end", a[1]], secs


def test_system_daemon_first():
    """With a system daemon on /run/semd/semd.sock, a Python client with
    no SEMD_SOCKET and semrun both use it; no per-user daemon starts."""
    p = in_namespace(sys.executable, str(HERE / "ns_driver.py"), "system",
                     tool("semrun"))
    assert p.returncode == 0, p.stderr.decode()
    r = json.loads(p.stdout)
    assert r["path"] == "/run/semd/semd.sock"
    assert r["pid"] == r["daemon"]
    assert r["busy"], "semrun's slot was not on the Python client's daemon"
    assert not r["user_dir"]
