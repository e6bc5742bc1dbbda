"""The asyncio client against a real semd."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import Daemon, child_env, tool

import semd
from semd import aio


def run(coro):
    return asyncio.run(coro)


async def wait_status(sock, name, pred, timeout=30.0, retry=False):
    """Poll STATUS until pred(SemStatus or None) holds (with retry, also
    through a daemon being restarted)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            st = (await semd.status(name, socket=sock)).get(name)
            if pred(st):
                return st
        except semd.Unreachable:
            if not retry:
                raise
            st = "(unreachable)"
        if time.monotonic() > deadline:
            raise AssertionError(f"status of {name} never matched: {st}")
        await asyncio.sleep(0.01)


def idle(st):
    return st is None or (st.held == 0 and st.waiting == 0)


def test_async_with_bounds_and_fifo(sock):
    async def main():
        sem = semd.Semaphore("fifo", 2, socket=sock)
        order, inside, peak = [], [0], [0]

        async def task(i):
            async with sem as g:
                assert g and g.name == "fifo" and g.held
                order.append(i)
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
                await asyncio.sleep(0.05)
                inside[0] -= 1

        async with asyncio.TaskGroup() as tg:
            for i in range(8):
                tg.create_task(task(i))
                # Each joins the line before the next starts.
                if i >= 2:
                    await wait_status(sock, "fifo",
                                      lambda s, i=i: s is not None and
                                      s.waiting + len(order) - 2 >= i - 1)
        assert peak[0] == 2
        assert order == list(range(8))
        await wait_status(sock, "fifo", idle)
    run(main())


def test_one_connection_per_loop(sock):
    async def main():
        a = semd.Semaphore("c1", 1, socket=sock)
        b = semd.BoundedSemaphore("c2", 1, socket=sock)
        async with a, b:
            st = await semd.status(socket=sock)
            pids = {h.pid for s in st for h in s.holders}
            assert pids == {os.getpid()}
            conns = aio._registry[asyncio.get_running_loop()]
            assert len(conns) == 1
    run(main())


def test_over_release(sock):
    async def main():
        b = semd.BoundedSemaphore("over", 2, socket=sock)
        await b.acquire()
        await b.acquire()
        b.release()
        b.release()
        with pytest.raises(ValueError, match="released too many times"):
            b.release()
        s = semd.Semaphore("over", 2, socket=sock)
        with pytest.raises(semd.NotHeld):
            s.release()
        # Neither over-release took anything from the daemon.
        await b.acquire()
        st = await wait_status(sock, "over", lambda s: s and s.held == 1)
        assert st.held == 1
        b.release()
        await wait_status(sock, "over", idle)
    run(main())


def test_errors_mirror_codes(sock):
    async def main():
        a = semd.Semaphore("cm", 2, socket=sock)
        async with a:
            with pytest.raises(semd.CapacityMismatch, match="capacity 2"):
                await semd.Semaphore("cm", 3, socket=sock).acquire()
            # Joining without a capacity works.
            async with semd.Semaphore("cm", socket=sock):
                pass
        with pytest.raises(semd.NoCapacity):
            await semd.Semaphore("nocap", socket=sock).acquire()
        with pytest.raises(semd.TooHeavy):
            await semd.Semaphore("heavy", 2, weight=3, socket=sock).acquire()
        with pytest.raises(semd.BadName):
            await semd.Semaphore("bad name", 1, socket=sock).acquire()
        with pytest.raises(ValueError):
            semd.Semaphore("x", 1, weight=0)
        with pytest.raises(TypeError):
            semd.Semaphore("x", 1.5)
        # The connection survived all of that.
        async with semd.Semaphore("cm", 2, socket=sock):
            pass
    run(main())


def test_timeout_parameter(sock):
    async def main():
        a = semd.Semaphore("to", 1, socket=sock)
        async with a:
            t0 = time.monotonic()
            with pytest.raises(semd.Timeout) as ei:
                await semd.Semaphore("to", 1, timeout=0.2,
                                     socket=sock).acquire()
            assert isinstance(ei.value, TimeoutError)
            assert time.monotonic() - t0 >= 0.19
            with pytest.raises(TimeoutError):
                await a.acquire(timeout=0)
            assert a.locked() and await a.alocked()
        await wait_status(sock, "to", idle)
        assert not a.locked()
    run(main())


def test_asyncio_timeout_withdraws(sock):
    async def main():
        holder = semd.Semaphore("at", 1, socket=sock)
        async with holder:
            w = semd.Semaphore("at", 1, socket=sock)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    async with w:
                        raise AssertionError("granted while held")
            # The withdrawn request left the line.
            await wait_status(sock, "at", lambda s: s.waiting == 0)
            assert w.held == 0
        await wait_status(sock, "at", idle)
    run(main())


def test_several_names_at_once(sock):
    async def main():
        both = semd.Semaphore({"db": 2, "gpu": 1}, socket=sock)
        assert both.names == ("db", "gpu")
        try:
            g = await both.acquire()
        except (semd.BadRequest, semd.BadName) as e:
            pytest.skip(f"this semd has no multi-semaphore ACQUIRE: {e}")
        assert g.sems == (("db", 1), ("gpu", 1))
        st = await semd.status(socket=sock)
        assert st.get("db").held == 1 and st.get("gpu").held == 1
        # gpu is full: a second "db + gpu" waits although db has room.
        with pytest.raises(semd.Timeout):
            await both.acquire(timeout=0)
        both.release()
        await wait_status(sock, "gpu", idle)
        await wait_status(sock, "db", idle)
    run(main())


def test_token_on_the_grant(sock):
    async def main():
        s = semd.Semaphore("tok", 2, socket=sock)
        async with s as g1:
            if g1.token is None:
                pytest.skip("this semd sends no grant token yet")
            async with s as g2:
                assert isinstance(g1.token, int) and g1.token != g2.token
                assert s.token == g2.token
            assert s.token == g1.token
    run(main())


def test_rate(sock):
    async def main():
        s = semd.Semaphore("rated", 10, rate=20, burst=1, socket=sock)
        try:
            async with s:
                st = (await semd.status("rated", socket=sock)).get("rated")
        except semd.BadRequest as e:
            pytest.skip(f"this semd has no rates: {e}")
        if st.rate is None:
            pytest.skip("this semd ignores rate")
        assert st.rate == 20 and st.burst == 1
        t0 = time.monotonic()
        for _ in range(5):
            async with s:
                pass
        # 5 grants at 20/s with burst 1: at least 4 intervals of 50 ms.
        assert time.monotonic() - t0 >= 0.19
        with pytest.raises(semd.RateMismatch):
            async with semd.Semaphore("rated", 10, rate=5, socket=sock):
                await asyncio.sleep(0)
    run(main())


def _race_round(sock_a, sock_b, iterations, seed):
    """Cancel a waiter at a random moment around the grant, many times;
    the holder and the waiter on one connection (sock_a == sock_b) or on
    two.  Returns how often each path was taken."""
    rnd = random.Random(seed)
    counts = {"granted": 0, "withdrawn": 0}

    async def main():
        holder = semd.Semaphore("race", 1, socket=sock_a)
        waiter = semd.BoundedSemaphore("race", 1, socket=sock_b)
        for i in range(iterations):
            # A leaked slot would make this time out.
            await holder.acquire(timeout=10)
            got = asyncio.Event()

            async def wait():
                async with waiter:
                    got.set()
                    await asyncio.sleep(3600)

            if i % 2:
                t = asyncio.create_task(wait())
            else:
                async def wait_timeout(d=rnd.random() * 0.002):
                    await asyncio.sleep(0)
                    async with asyncio.timeout(d):
                        await wait()
                t = asyncio.create_task(wait_timeout())
            # Let it join the line, then release and cancel "as the grant
            # arrives": after 0 to a few loop turns, or a few microseconds.
            for _ in range(3):
                await asyncio.sleep(0)
            holder.release()
            k = rnd.randrange(8)
            if k < 6:
                for _ in range(k):
                    await asyncio.sleep(0)
            else:
                await asyncio.sleep(rnd.random() * 0.0005)
            t.cancel()
            try:
                await t
            except (asyncio.CancelledError, TimeoutError):
                pass
            counts["granted" if got.is_set() else "withdrawn"] += 1
            assert waiter.held == 0 and holder.held == 0
        # Every slot came back: nothing held, nobody waiting.
        await wait_status(sock_a, "race", idle)
        raced = sum(c.raced for conns in aio._registry.values()
                    for c in conns.values() if isinstance(c, aio._Conn))
        counts["raced"] = raced
    asyncio.run(main())
    return counts


def test_cancel_races_leak_nothing(sock):
    # 1,000 cancellations around the grant, half on one shared
    # connection, half with holder and waiter on two connections.
    other = sock.replace("/s.sock", "//s.sock")
    c1 = _race_round(sock, sock, 500, 1)
    c2 = _race_round(sock, other, 500, 2)
    print("one connection:", c1, "two connections:", c2)
    for c in (c1, c2):
        assert c["granted"] + c["withdrawn"] == 500
    # The race was really hit: grants that arrived after the withdrawal,
    # given back by the client, and cancellations on both sides of it.
    assert c1["raced"] + c2["raced"] > 0
    assert c1["granted"] + c2["granted"] > 0
    assert c1["withdrawn"] + c2["withdrawn"] > 0


def test_daemon_loss_and_reconnect(tmpdir_short):
    path = os.path.join(tmpdir_short, "s.sock")
    d = Daemon(path).start()

    async def main():
        s = semd.Semaphore("lost", 1, socket=path)
        g = await s.acquire()
        lost = []
        g.on_lost(lost.append)
        w = asyncio.create_task(semd.Semaphore("lost", 1,
                                               socket=path).acquire())
        await wait_status(path, "lost", lambda st: st.waiting == 1)
        d.kill()
        with pytest.raises(semd.DaemonLost):
            await w
        assert isinstance(w.exception(), ConnectionError)
        for _ in range(100):
            if g.lost:
                break
            await asyncio.sleep(0.01)
        assert g.lost and not g.held and lost == [g]
        s.release()  # no error: the daemon already gave it back
        assert s.held == 0
        with pytest.raises(semd.Unreachable):
            await s.acquire()
        d.start()
        async with s as g2:
            assert g2.held
    try:
        run(main())
    finally:
        d.stop()


def test_fifo_across_processes(sock, tmp_path):
    """Six processes, Python clients and semrun in turn, join the line
    one after the other; they are served in that order."""
    out = tmp_path / "order"
    child = textwrap.dedent(f"""
        import asyncio, sys, semd
        async def main():
            async with semd.Semaphore("xfifo", 1, socket={sock!r}):
                with open({str(out)!r}, "a") as f:
                    f.write(sys.argv[1] + "\\n")
        asyncio.run(main())
    """)

    async def main():
        holder = semd.Semaphore("xfifo", 1, socket=sock)
        await holder.acquire()
        procs = []
        for i in range(6):
            if i % 2:
                argv = [tool("semrun"), "-S", sock, "xfifo", "1", "--",
                        "sh", "-c", f"echo {i} >> {out}"]
            else:
                argv = [sys.executable, "-c", child, str(i)]
            procs.append(subprocess.Popen(argv, env=child_env()))
            await wait_status(sock, "xfifo",
                              lambda s, i=i: s.waiting == i + 1)
        st = await semd.status("xfifo", socket=sock)
        assert [w.pid for w in st.get("xfifo").waiters] == \
            [p.pid for p in procs]
        holder.release()
        for p in procs:
            assert await asyncio.to_thread(p.wait, 60) == 0
        await wait_status(sock, "xfifo", idle)
    run(main())
    assert out.read_text().split() == ["0", "1", "2", "3", "4", "5"]


def test_process_exit_gives_back(sock):
    child = textwrap.dedent(f"""
        import asyncio, os, semd
        async def main():
            await semd.Semaphore("exit", 1, socket={sock!r}).acquire()
            print("held", flush=True)
            await asyncio.sleep(3600)
        asyncio.run(main())
    """)

    async def main():
        p = subprocess.Popen([sys.executable, "-c", child],
                             stdout=subprocess.PIPE, env=child_env())
        assert (await asyncio.to_thread(p.stdout.readline)) == b"held\n"
        st = await semd.status("exit", socket=sock)
        assert st.get("exit").holders[0].pid == p.pid
        p.kill()
        p.wait()
        async with semd.Semaphore("exit", 1, timeout=30, socket=sock):
            pass
    run(main())


def test_revoke_cancels_the_holder(sock):
    """semdctl revoke: the holding task is cancelled, its async with gives
    the grant back; on_revoke="keep" only marks the grant."""
    semdctl = tool("semdctl")

    async def revoke(name, token):
        p = await asyncio.create_subprocess_exec(
            semdctl, "-S", sock, "revoke", name, "--token", str(token),
            stdout=subprocess.DEVNULL)
        assert await p.wait() == 0

    async def main():
        s = semd.Semaphore("rv", 1, socket=sock)
        held = asyncio.Event()
        box = []

        async def work():
            async with s as g:
                box.append(g)
                held.set()
                await asyncio.sleep(3600)

        t = asyncio.create_task(work())
        await held.wait()
        await revoke("rv", box[0].token)
        with pytest.raises(asyncio.CancelledError):
            await t
        assert box[0].revoked and box[0].released
        await wait_status(sock, "rv", idle)

        k = semd.Semaphore("rv", 1, socket=sock, on_revoke="keep")
        seen = []
        g = await k.acquire()
        g.on_lost(seen.append)
        await revoke("rv", g.token)
        for _ in range(1000):
            if g.revoked:
                break
            await asyncio.sleep(0.01)
        assert g.revoked and seen == [g] and not g.held
        st = await wait_status(sock, "rv", lambda s: s is not None)
        assert st.held == 1  # kept until released
        k.release()
        await wait_status(sock, "rv", idle)
    run(main())


def test_declared_and_denied(tmpdir_short):
    conf = os.path.join(tmpdir_short, "semd.conf")
    with open(conf, "w") as f:
        f.write("[semd]\nundeclared = deny\n\n[sem api]\ncapacity = 2\n")
    path = os.path.join(tmpdir_short, "c.sock")
    d = Daemon(path, ["-c", conf]).start()

    async def main():
        with pytest.raises(semd.Denied) as ei:
            await semd.Semaphore("other", 1, socket=path).acquire()
        assert isinstance(ei.value, PermissionError)
        assert "undeclared" in str(ei.value)
        async with semd.Semaphore("api", socket=path):
            st = (await semd.status("api", socket=path)).get("api")
            assert st.capacity == 2 and st.declared and not st.drained
        with pytest.raises(semd.CapacityMismatch):
            await semd.Semaphore("api", 3, socket=path).acquire()
    try:
        run(main())
    finally:
        d.stop()


def test_loop_end_gives_back(sock):
    """A grant never released goes back when asyncio.run() ends, not when
    the garbage collector gets to the connection."""
    import gc
    gc.disable()
    try:
        async def forget():
            await semd.Semaphore("forgot", 1, socket=sock).acquire()
        run(forget())

        async def check():
            await wait_status(sock, "forgot", idle, timeout=0.5)
        run(check())
    finally:
        gc.enable()


def _has_reclaim() -> bool:
    from conftest import SEMD_BIN
    p = subprocess.run([SEMD_BIN, "--help"], capture_output=True)
    return b"--grace" in p.stdout + p.stderr


def test_reconnect_reclaims_after_restart(tmpdir_short):
    """kill -9 of semd and a new one on the same socket: with
    reconnect=True the grant is reclaimed under its token and the waiter
    is sent again; without it the grant is lost."""
    if not _has_reclaim():
        pytest.skip("this semd has no grace period / RECLAIM")
    path = os.path.join(tmpdir_short, "r.sock")
    state = os.path.join(tmpdir_short, "state")
    os.mkdir(state, 0o700)
    d = Daemon(path, ["--state-dir", state, "--grace", "20"]).start()

    async def main():
        s = semd.Semaphore("rc", 1, socket=path, reconnect=True)
        g = await s.acquire()
        token = g.token
        waiter = asyncio.create_task(
            semd.Semaphore("rc", 1, socket=path, reconnect=True).acquire())
        await wait_status(path, "rc", lambda st: st.waiting == 1)
        plain = await semd.Semaphore("rc2", 1, socket=path).acquire()
        d.kill()
        d.start()
        # Reclaimed: held by this process again, same token; the waiter
        # is back in line; the plain grant is gone.
        st = await wait_status(path, "rc", lambda st: st is not None and
                               st.holders and st.holders[0].pid ==
                               os.getpid() and st.waiting == 1, retry=True)
        assert st.held == 1
        assert g.held and g.token == token and not g.lost
        for _ in range(1000):
            if plain.lost:
                break
            await asyncio.sleep(0.01)
        assert plain.lost
        assert not waiter.done()
        s.release()
        g2 = await asyncio.wait_for(waiter, 30)
        assert g2.held
        g2._release()
        await wait_status(path, "rc", idle)
    try:
        run(main())
    finally:
        d.stop()
