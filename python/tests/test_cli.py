"""python -m semd mirrors semdctl; the examples run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

from conftest import PYDIR, child_env, tool

import semd


def pym(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "semd", *args],
                          capture_output=True, env=child_env(), timeout=60)


def ctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool("semdctl"), *args], capture_output=True,
                          timeout=60)


def durations(b: bytes) -> bytes:
    """Blank what differs between two looks a moment apart."""
    b = re.sub(rb" +[0-9]+\.[0-9]s  ", b" D  ", b)
    b = re.sub(rb"next grant in [0-9]+ ms", b"next grant in N ms", b)
    b = re.sub(rb'"next_grant_ms":[0-9]+', b'"next_grant_ms":0', b)
    return re.sub(rb'"(held|waited)_ms":[0-9]+', rb'"\1_ms":0', b)


def test_status_same_as_semdctl(sock):
    semrun = tool("semrun")
    procs = [subprocess.Popen([semrun, "-S", sock, "busy", "2", "--",
                               "sleep", "30"]) for _ in range(3)]
    try:
        deadline = time.monotonic() + 30
        while True:
            st = semd.sync.status("busy", socket=sock).get("busy")
            if st is not None and st.held == 2 and st.waiting == 1:
                break
            assert time.monotonic() < deadline
            time.sleep(0.02)
        rated = semd.sync.Semaphore("rated", 2, rate=0.5, burst=1,
                                    socket=sock)
        rated.acquire()
        unbound = semd.sync.Semaphore("unbound", 0, rate=1000, burst=3,
                                      socket=sock)
        unbound.acquire()
        for args in (["status"], ["status", "busy"], ["status", "--json"],
                     ["status", "nothing"], ["status", "--json", "busy"],
                     ["status", "rated"], ["status", "--json", "rated"]):
            a, b = pym("-S", sock, *args), ctl("-S", sock, *args)
            assert a.returncode == b.returncode == 0, (a, b)
            assert durations(a.stdout) == durations(b.stdout), args
        j = json.loads(pym("-S", sock, "status", "--json").stdout)
        by = {x["name"]: x for x in j["sems"]}
        assert by["busy"]["waiting"] == 1
        assert by["rated"]["rate"] == 0.5 and by["unbound"]["capacity"] == 0
        assert b"no capacity bound" in pym("-S", sock, "status").stdout
        rated.release()
        unbound.release()
        assert pym("-S", sock, "ping").returncode == 0
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_errors_and_usage(tmp_path):
    nowhere = str(tmp_path / "none.sock")
    a, b = pym("-S", nowhere, "status"), ctl("-S", nowhere, "status")
    assert a.returncode == b.returncode == 69
    assert a.stderr.replace(b"python3 -m semd", b"semdctl") == b.stderr
    assert pym("frob").returncode == 64
    assert pym("status", "a", "b").returncode == 64
    assert pym("--help").stdout.startswith(b"usage: python3 -m semd")


def test_seed_demo_timeline(sock):
    p = subprocess.run([sys.executable, str(PYDIR / "examples" /
                                            "seed_demo.py"), "-S", sock,
                        "-d", "0.5"], capture_output=True, env=child_env(),
                       timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.decode().splitlines()
    events = [(ln.split()[1], ln.split()[2]) for ln in lines[:-1]]
    # Two at a time, in order: 0 1 | 2 3 | 4, as in the article.
    acquired = [t for t, what in events if what == "acquired"]
    assert acquired == ["task0", "task1", "task2", "task3", "task4"]
    inside = peak = 0
    for _, what in events:
        inside += 1 if what == "acquired" else -1
        peak = max(peak, inside)
    assert peak == 2 and inside == 0
    assert lines[-1].startswith("5 processes, 2 slots:")


def test_api_client_example(sock):
    p = subprocess.run([sys.executable, str(PYDIR / "examples" /
                                            "api_client.py"), "-S", sock,
                        "-p", "3", "-t", "5", "-l", "2"],
                       capture_output=True, env=child_env(), timeout=120)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert "15 calls" in out and "at most 2 at once (limit 2)" in out
