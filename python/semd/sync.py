"""The blocking client, for threads and plain scripts.

    with semd.sync.Semaphore("api-x", 3, timeout=5) as grant:
        ...

The same semaphores as the asyncio client (semd.Semaphore), with the same
arguments.  They run on one private event loop in a background thread
of the process, with one connection per socket shared by every thread:
any number of threads may use one Semaphore object, and all state is
touched only by that loop thread.  A thread interrupted while waiting
(KeyboardInterrupt) withdraws its request; a grant that raced the
withdrawal is given back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from typing import Any, Awaitable, Callable, TypeVar

from . import aio
from ._types import Status
from .aio import _UNSET, Grant, NameSpec

T = TypeVar("T")

_lock = threading.Lock()
_state: tuple[int, asyncio.AbstractEventLoop, threading.Thread] | None = None


def _loop() -> asyncio.AbstractEventLoop:
    """The background loop of this process, started on first use (and
    again in a forked child)."""
    global _state
    st = _state
    if st is not None and st[0] == os.getpid():
        return st[1]
    with _lock:
        if _state is None or _state[0] != os.getpid():
            loop = asyncio.new_event_loop()
            t = threading.Thread(target=loop.run_forever, name="semd-sync",
                                 daemon=True)
            t.start()
            _state = (os.getpid(), loop, t)
        return _state[1]


class _Call:
    """One _run(): the state the loop thread keeps of it.  Only the loop
    thread changes it; the waiting thread reads it once woken."""

    __slots__ = ("task", "done", "abandoned", "wfd")

    def __init__(self, wfd: int) -> None:
        self.task: asyncio.Task | None = None
        self.done = False       # task finished and the waiter was woken
        self.abandoned = False  # the waiter gave up first
        self.wfd = wfd          # the wake-up pipe's write end, or -1


def _wake(call: _Call) -> None:
    """Wake the waiting thread (loop thread): one byte, then close the
    write end.  The waiter may have closed its end already."""
    try:
        os.write(call.wfd, b"x")
    except OSError:
        pass
    os.close(call.wfd)
    call.wfd = -1


def _run(fn: Callable[[], Awaitable[T]],
         on_abandon: Callable[[Any], None] | None = None) -> T:
    """Run the coroutine fn() on the background loop and wait for it.

    If the wait is interrupted (KeyboardInterrupt or any exception in this
    thread), the coroutine is cancelled; if it had already finished,
    on_abandon(result) runs on the loop thread, so a result nobody will
    see (a grant) is not leaked.

    The waiting thread holds no lock the loop thread needs: it sleeps in
    read(2) on a pipe of its own, which the loop thread writes once the
    task is done.  An exception raised by a signal handler (as ^C does)
    can hit this thread between any two bytecodes; had it hit while this
    thread held a lock, as inside concurrent.futures.Future.result(),
    the loop thread would wait for that lock forever.
    """
    loop = _loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        raise RuntimeError("semd.sync called from its own loop thread")
    rfd, wfd = os.pipe()
    call = _Call(wfd)

    def settled(t: asyncio.Task) -> None:
        if call.abandoned:
            if on_abandon is not None and not t.cancelled() and \
                    t.exception() is None:
                on_abandon(t.result())
            elif not t.cancelled():
                t.exception()  # retrieved: no "never retrieved" warning
            return
        call.done = True
        _wake(call)

    def start() -> None:
        call.task = loop.create_task(fn())  # type: ignore[arg-type]
        call.task.add_done_callback(settled)

    def give_up() -> None:
        if call.done:
            # It finished, but the waiter never took the result.
            t = call.task
            assert t is not None
            if on_abandon is not None and not t.cancelled() and \
                    t.exception() is None:
                on_abandon(t.result())
            return
        # Not started (start() is queued before us, so it never will
        # be) or still running: cancel it; settled() hands a late
        # result to on_abandon.
        call.abandoned = True
        os.close(call.wfd)
        call.wfd = -1
        if call.task is not None:
            call.task.cancel()

    try:
        loop.call_soon_threadsafe(start)
        try:
            woken = os.read(rfd, 1)
        finally:
            os.close(rfd)
        t = call.task
        if not woken or t is None:
            raise RuntimeError("semd.sync: the loop thread never answered")
        if t.cancelled():
            raise concurrent.futures.CancelledError()
        exc = t.exception()
        if exc is not None:
            raise exc
        return t.result()
    except BaseException:
        loop.call_soon_threadsafe(give_up)
        raise


def _call(fn: Callable[[], T]) -> T:
    """Run the plain function fn() on the background loop thread and
    return its result (or raise its exception)."""
    async def wrap() -> T:
        return fn()
    return _run(wrap)


class Semaphore:
    """The blocking twin of :class:`semd.Semaphore`: same arguments,
    ``with`` instead of ``async with``, safe to share between threads.

    A grant belongs to the thread that acquired it: leaving ``with``
    releases that thread's latest grant.  A revoked grant
    (``semdctl revoke``) sets ``grant.revoked`` and calls ``on_revoke``
    (a callable, run on the background loop thread) and the grant's
    ``on_lost`` callbacks; the thread is not interrupted.
    """

    _aio_class: type[aio.Semaphore] = aio.Semaphore

    def __init__(self, name: NameSpec, capacity: int | None = None, *,
                 weight: int = 1, timeout: float | None = None,
                 rate: float | None = None, burst: int | None = None,
                 socket: str | None = None,
                 on_revoke: Any = "keep", reconnect: bool = False) -> None:
        if on_revoke == "cancel":
            raise ValueError("semd.sync cannot cancel a thread: on_revoke "
                             "is 'keep' or a callable")
        self._aio = self._aio_class(name, capacity, weight=weight,
                                    timeout=timeout, rate=rate, burst=burst,
                                    socket=socket, on_revoke=on_revoke,
                                    reconnect=reconnect)

    def __repr__(self) -> str:
        return repr(self._aio).replace("<semd.", "<semd.sync.", 1)

    @property
    def names(self) -> tuple[str, ...]:
        return self._aio.names

    @property
    def held(self) -> int:
        """How many grants this object holds now (all threads)."""
        return _call(lambda: self._aio.held)

    @property
    def token(self) -> int | None:
        """The token of this thread's latest grant, or None."""
        owner = threading.get_ident()

        def get() -> int | None:
            owned = self._aio._owners.get(owner)
            return owned[-1].token if owned else None
        return _call(get)

    def acquire(self, *, timeout: float | None = _UNSET) -> Grant:
        """Block until the slots are granted; return the Grant.  Raises
        :class:`~semd.Timeout` when ``timeout`` (default: the
        constructor's) runs out."""
        owner = threading.get_ident()
        return _run(lambda: self._aio._acquire(owner, timeout),
                    on_abandon=self._aio._drop)

    def release(self, grant: Grant | None = None) -> None:
        """Give back a grant: the given one, else this thread's latest,
        else the oldest.  Nothing held: :class:`~semd.NotHeld`, or
        ValueError for a BoundedSemaphore."""
        owner = threading.get_ident()
        _call(lambda: self._aio._release(owner, grant))

    def locked(self) -> bool:
        """True when an acquire() now would have to wait (a round trip to
        semd)."""
        return _run(self._aio._alocked)

    def __enter__(self) -> Grant:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


class BoundedSemaphore(Semaphore):
    """:class:`Semaphore` whose over-release raises ValueError."""

    _aio_class = aio.BoundedSemaphore


def status(name: str | None = None, *, socket: str | None = None) -> Status:
    """The daemon's STATUS (see :func:`semd.status`)."""
    return _run(lambda: aio.status(name, socket=socket))


def ping(*, socket: str | None = None) -> dict[str, Any]:
    """Connect (starting the per-user daemon if needed) and return
    {"server", "pid", "path"} of the daemon."""
    return _run(lambda: aio.ping(socket=socket))


__all__ = ["Semaphore", "BoundedSemaphore", "status", "ping", "Grant"]
