#!/usr/bin/env python3
"""Pairs per second from one Python process (BENCHMARKS.md, "Python").

    python3 bench/bench.py [-b SEMD] [-S PATH] [-c 64] [-s 0.5] [-w 5]

A pair is one acquire and one release (`async with sem: pass`), as in
semd-bench's throughput section: capacity 64, so nobody ever waits.
Measured three ways, taking turns inside each window, median of the
windows; besides pairs/s, the client's CPU time per pair (getrusage of
this process, all threads), which a busy machine disturbs less:

* asyncio: one event loop, CONCURRENCY tasks, one shared connection
  (pipelined);
* sync: semd.sync from CONCURRENCY threads (one connection, the
  background loop thread);
* asyncio, one task: the latency of a pair, for scale.

Starts its own semd (-b, else $SEMD_BIN, else semd on PATH) on a
temporary socket unless -S names a running one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import semd  # noqa: E402


async def asyncio_pairs(path: str, tasks: int, seconds: float) -> float:
    sem = semd.Semaphore("bench-py", 64, socket=path)
    async with sem:  # connect and HELLO outside the window
        pass
    stop = time.monotonic() + seconds
    counts = [0] * tasks

    async def one(i: int) -> None:
        n = 0
        while time.monotonic() < stop:
            async with sem:
                pass
            n += 1
        counts[i] = n

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(tasks)))
    return sum(counts) / (time.monotonic() - t0)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measured(fn, *args) -> tuple[float, float]:
    """(pairs/s, client CPU us per pair) of one window."""
    c0 = _cpu()
    t0 = time.monotonic()
    rate = fn(*args)
    pairs = rate * (time.monotonic() - t0)
    return rate, (_cpu() - c0) * 1e6 / max(pairs, 1)


def sync_pairs(path: str, threads: int, seconds: float) -> float:
    sem = semd.sync.Semaphore("bench-py", 64, socket=path)
    with sem:
        pass
    stop = time.monotonic() + seconds
    counts = [0] * threads

    def one(i: int) -> None:
        n = 0
        while time.monotonic() < stop:
            with sem:
                pass
            n += 1
        counts[i] = n

    ts = [threading.Thread(target=one, args=(i,)) for i in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / (time.monotonic() - t0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-b", "--semd", default=os.environ.get("SEMD_BIN") or
                   shutil.which("semd"))
    p.add_argument("-S", "--socket")
    p.add_argument("-c", "--concurrency", type=int, default=64)
    p.add_argument("-s", "--seconds", type=float, default=0.5)
    p.add_argument("-w", "--windows", type=int, default=5)
    a = p.parse_args()

    tmp = proc = None
    path = a.socket
    if path is None:
        if not a.semd:
            p.error("no semd: give -b or set SEMD_BIN")
        tmp = tempfile.mkdtemp(prefix="semd-pybench-")
        path = os.path.join(tmp, "s.sock")
        proc = subprocess.Popen([a.semd, "-f", "-S", path])
        for _ in range(3000):
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(path)
                    break
                except OSError:
                    time.sleep(0.01)
    try:
        res: dict[str, list[tuple[float, float]]] = {
            "asyncio": [], "sync": [], "one": []}
        load = os.getloadavg()[0]
        for _ in range(a.windows):
            res["asyncio"].append(measured(lambda: asyncio.run(
                asyncio_pairs(path, a.concurrency, a.seconds))))
            res["sync"].append(measured(sync_pairs, path, a.concurrency,
                                        a.seconds))
            res["one"].append(measured(lambda: asyncio.run(
                asyncio_pairs(path, 1, a.seconds))))
        print(f"Python {sys.version.split()[0]}, load average {load:.2f} "
              f"before; median of {a.windows} windows of {a.seconds} s")
        print("                                      pairs/s   client CPU/pair")
        for key, what in (("asyncio", f"asyncio, {a.concurrency} tasks, one "
                           f"process"),
                          ("sync", f"semd.sync, {a.concurrency} threads"),
                          ("one", "asyncio, 1 task")):
            rate = statistics.median(r for r, _ in res[key])
            cpu = statistics.median(c for _, c in res[key])
            print(f"  {what:<34} {rate:9,.0f}   {cpu:7.1f} us")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
