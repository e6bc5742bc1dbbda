"""The blocking client: threads sharing semaphores."""

from __future__ import annotations

import signal
import threading
import time

import pytest

import semd
from semd import sync


def wait_idle(sock, name, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        s = sync.status(name, socket=sock).get(name)
        if s is None or (s.held == 0 and s.waiting == 0):
            return
        assert time.monotonic() < deadline, f"{name} never idle: {s}"
        time.sleep(0.01)


def test_with_and_status(sock):
    s = sync.Semaphore("plain", 2, timeout=5, socket=sock)
    with s as g:
        assert g.held and s.held == 1
        st = sync.status(socket=sock)
        assert st.get("plain").held == 1
        assert not s.locked()
        with s:
            assert s.locked()
            with pytest.raises(semd.Timeout):
                s.acquire(timeout=0)
    assert s.held == 0
    wait_idle(sock, "plain")


def test_bounded_over_release(sock):
    b = sync.BoundedSemaphore("sb", 1, socket=sock)
    b.acquire()
    b.release()
    with pytest.raises(ValueError):
        b.release()
    with pytest.raises(semd.NotHeld):
        sync.Semaphore("sb", 1, socket=sock).release()


def test_threads_share_one_semaphore(sock):
    """16 threads, 40 acquires each, on one object with capacity 3: never
    more than 3 inside, every thread releases its own grant, nothing left
    held."""
    s = sync.BoundedSemaphore("threads", 3, socket=sock)
    lock = threading.Lock()
    inside = [0]
    peak = [0]
    errors = []

    def worker():
        try:
            for _ in range(40):
                with s as g:
                    assert g.held
                    with lock:
                        inside[0] += 1
                        peak[0] = max(peak[0], inside[0])
                    time.sleep(0.0005)
                    with lock:
                        inside[0] -= 1
                    assert s.token == g.token
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=worker) for _ in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not errors, errors
    assert 1 <= peak[0] <= 3
    assert s.held == 0
    wait_idle(sock, "threads")


def test_release_from_another_thread(sock):
    s = sync.Semaphore("handoff", 1, socket=sock)
    g = s.acquire()
    t = threading.Thread(target=s.release)
    t.start()
    t.join()
    assert g.released
    wait_idle(sock, "handoff")


class Interrupt(Exception):
    pass


# The signal may land where Python cannot raise (a weakref callback): it
# is then reported as unraisable and the wait goes on, which is fine.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_interrupted_waits_leak_nothing(sock):
    """A signal handler raising in the waiting thread (as ^C does) at
    random moments around the grant: the request is withdrawn or the
    grant given back, never kept."""
    holder = sync.Semaphore("intr", 1, socket=sock)
    waiter = sync.Semaphore("intr", 1, socket=sock)

    def raise_it(*_):
        raise Interrupt()

    old = signal.signal(signal.SIGALRM, raise_it)
    got = interrupted = 0
    try:
        for i in range(200):
            holder.acquire(timeout=10)
            threading.Timer(0.002 + (i % 10) * 0.0005,
                            holder.release).start()
            try:
                # Armed inside the try: on a loaded machine the alarm
                # can go off before the next line starts.
                signal.setitimer(signal.ITIMER_REAL,
                                 0.002 + (i % 7) * 0.0005)
                with waiter:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    got += 1
            except Interrupt:
                interrupted += 1
            signal.setitimer(signal.ITIMER_REAL, 0)
            # Let a late timer fire and the holder's release land.
            deadline = time.monotonic() + 10
            while holder.held:
                assert time.monotonic() < deadline
                time.sleep(0.001)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    print(f"granted {got}, interrupted {interrupted}")
    assert waiter.held == 0
    wait_idle(sock, "intr")
