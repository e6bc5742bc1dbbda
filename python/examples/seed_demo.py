#!/usr/bin/env python3
"""The seed article's example, across processes.

The article (asyncio semaphores) runs five tasks with
asyncio.Semaphore(2) inside one event loop: two at a time, about 3 s in
all.  Here each task is its own process, and the semaphore is semd's:

    python3 seed_demo.py            # five processes, two slots
    python3 seed_demo.py -S PATH    # a semd at PATH instead of the default

It prints the same timeline: task0 and task1 at once, task2 and task3
after ~1 s, task4 after ~2 s, done in ~3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import semd  # noqa: E402

NAME = "seed-demo"


async def fetch_data(semaphore: semd.Semaphore, name: str, delay: float,
                     t0: float) -> str:
    """The article's fetch_data, unchanged but for the semaphore."""
    async with semaphore:
        print(f"{time.time() - t0:5.2f}s  {name} acquired semaphore "
              f"(pid {os.getpid()})", flush=True)
        await asyncio.sleep(delay)  # Simulated work
        print(f"{time.time() - t0:5.2f}s  {name} releasing semaphore",
              flush=True)
    return f"{name} done"


def task(args: argparse.Namespace) -> int:
    sem = semd.Semaphore(NAME, 2, socket=args.socket)
    asyncio.run(fetch_data(sem, f"task{args.task}", args.delay, args.t0))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-S", "--socket", help="semd's socket")
    p.add_argument("-n", "--tasks", type=int, default=5)
    p.add_argument("-d", "--delay", type=float, default=1.0)
    p.add_argument("--task", type=int, help=argparse.SUPPRESS)
    p.add_argument("--t0", type=float, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.task is not None:
        return task(args)

    t0 = time.time()
    sock = ["-S", args.socket] if args.socket else []
    procs = []
    for i in range(args.tasks):
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--task", str(i), "--t0", repr(t0),
             "-d", str(args.delay), *sock]))
        # Start the next one once this one holds or waits (or is done),
        # so they line up in order, as the article's tasks do.
        while procs[-1].poll() is None:
            st = semd.sync.status(NAME, socket=args.socket).get(NAME)
            if st is not None and procs[-1].pid in \
                    [h.pid for h in st.holders + st.waiters]:
                break
            time.sleep(0.005)
    rc = max(p.wait() for p in procs)
    print(f"{args.tasks} processes, 2 slots: {time.time() - t0:.1f}s",
          flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
