#!/usr/bin/env python3
"""Limit concurrent calls to an API across processes, without aiohttp.

    python3 api_client.py [-p PROCESSES] [-t TASKS] [-l LIMIT] [-S PATH]

Starts a tiny HTTP "API" on 127.0.0.1 that counts how many requests it
serves at once, then PROCESSES worker processes, each with TASKS asyncio
tasks calling it through plain asyncio streams.  Every call holds a slot
of the semd semaphore "api-demo" (capacity LIMIT): the API never sees
more than LIMIT concurrent calls, however many processes call it.
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


async def call_api(port: int, path: str) -> bytes:
    """One HTTP/1.0 GET with asyncio streams: the body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.0\r\nHost: api\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    return data.split(b"\r\n\r\n", 1)[1]


async def worker(port: int, tasks: int, limit: int, socket: str | None
                 ) -> None:
    # The same object for every task, as with asyncio.Semaphore; the
    # bound holds across processes because semd holds it.
    sem = semd.Semaphore("api-demo", limit, socket=socket)

    async def one(i: int) -> None:
        async with sem:
            body = await call_api(port, f"/item/{os.getpid()}-{i}")
            assert body.startswith(b"ok")

    async with asyncio.TaskGroup() as tg:
        for i in range(tasks):
            tg.create_task(one(i))


class Api:
    """The API: answers after 50 ms and records the peak concurrency."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.served = 0

    async def handle(self, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.now += 1
        self.peak = max(self.peak, self.now)
        await asyncio.sleep(0.05)
        self.now -= 1
        self.served += 1
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nok\n")
        await writer.drain()
        writer.close()


async def run(args: argparse.Namespace) -> int:
    api = Api()
    server = await asyncio.start_server(api.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sock = ["-S", args.socket] if args.socket else []
    t0 = time.monotonic()
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--worker", str(port), "-t",
        str(args.tasks), "-l", str(args.limit), *sock)
        for _ in range(args.processes)]
    rcs = [await p.wait() for p in procs]
    server.close()
    await server.wait_closed()
    print(f"{args.processes} processes x {args.tasks} tasks: "
          f"{api.served} calls in {time.monotonic() - t0:.1f}s, at most "
          f"{api.peak} at once (limit {args.limit})")
    return 0 if all(rc == 0 for rc in rcs) and api.peak <= args.limit \
        else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-p", "--processes", type=int, default=4)
    p.add_argument("-t", "--tasks", type=int, default=10)
    p.add_argument("-l", "--limit", type=int, default=3)
    p.add_argument("-S", "--socket")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker is not None:
        asyncio.run(worker(args.worker, args.tasks, args.limit, args.socket))
        return 0
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
