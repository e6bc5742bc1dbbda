"""The asyncio client: semd.Semaphore and semd.BoundedSemaphore.

Every event loop has one connection per socket to semd, shared by all
the semaphores used in that loop; requests are pipelined on it and
replies matched by id.  The connection is opened (and the per-user daemon
started, see semd._socket) by the first acquire.

Slots belong to the connection: when the process exits or the connection
breaks, semd gives back everything it held.
"""

from __future__ import annotations

import asyncio
import math
import os
import weakref
from typing import Any, Iterable, Mapping, Union

from . import _proto, _socket
from ._types import Sem, Status, status_from_reply
from .errors import (DaemonLost, Error, NotHeld, ProtocolError, Timeout,
                     from_reply)

__version__ = "0.1.0"
CLIENT_NAME = "python"
"""The client name this package gives in HELLO (status shows it)."""

NameSpec = Union[str, Sem, Mapping[str, Union[int, None]], Iterable[Any]]


class _Unset:
    def __repr__(self) -> str:
        return "<default>"


_UNSET: Any = _Unset()


class Grant:
    """What one acquire got: the slots, held until released.

    ``token`` is the daemon's grant token (an int, unique for the daemon;
    ``SEMD_TOKEN`` for semrun's commands) or None from a daemon that does
    not send one.  A Grant is true, so ``assert await sem.acquire()``
    reads as with asyncio.
    """

    __slots__ = ("sems", "token", "released", "lost", "revoked",
                 "_conn", "_owner", "_callbacks", "_on_revoke", "_reconnect",
                 "__weakref__")

    def __init__(self, conn: "_Conn", sems: tuple[Sem, ...],
                 token: int | None) -> None:
        self.sems: tuple[tuple[str, int], ...] = tuple(
            (s.name, s.weight) for s in sems)
        """(name, weight) of each semaphore held."""
        self.token = token
        self.released = False
        """True once released (by release() or leaving ``async with``)."""
        self.lost = False
        """True when the connection broke: semd gave the slots back."""
        self.revoked = False
        """True when an administrator revoked the grant."""
        self._conn: _Conn | None = conn
        self._owner: Any = None
        self._callbacks: list[Any] = []
        self._on_revoke: Any = "cancel"
        self._reconnect = False

    @property
    def name(self) -> str:
        """The (first) semaphore's name."""
        return self.sems[0][0]

    @property
    def weight(self) -> int:
        """The (first) semaphore's weight."""
        return self.sems[0][1]

    @property
    def held(self) -> bool:
        """True while the slots are held: not released, lost or
        revoked."""
        return not (self.released or self.lost or self.revoked)

    def on_lost(self, fn: Any) -> None:
        """Call fn(grant) when the grant is lost (daemon gone) or revoked;
        at once if it already is."""
        if self.lost or self.revoked:
            fn(self)
        else:
            self._callbacks.append(fn)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        state = ("released" if self.released else "lost" if self.lost else
                 "revoked" if self.revoked else "held")
        names = ", ".join(f"{n}:{w}" if w != 1 else n for n, w in self.sems)
        return f"<semd.Grant {names} token={self.token} {state}>"

    def _set_lost(self, revoked: bool = False) -> None:
        if revoked:
            self.revoked = True
        else:
            self.lost = True
        cbs, self._callbacks = self._callbacks, []
        for fn in cbs:
            try:
                fn(self)
            except Exception:  # a callback's bug is not ours to raise
                pass

    def _release(self) -> None:
        if self.released:
            return
        self.released = True
        conn, self._conn = self._conn, None
        if conn is not None and not self.lost:
            conn.give_back(self)


class _Req:
    __slots__ = ("fut", "sems", "position", "withdrawn", "fields", "conn",
                 "id", "reconnect", "deadline")

    def __init__(self, fut: asyncio.Future, sems: tuple[Sem, ...],
                 fields: dict[str, Any], reconnect: bool) -> None:
        self.fut = fut
        self.sems = sems
        self.position: int | None = None
        self.withdrawn = False
        self.fields = fields
        self.conn: _Conn | None = None
        self.id = 0
        self.reconnect = reconnect
        t = fields.get("timeout_ms")
        self.deadline = None if t is None else \
            fut.get_loop().time() + t / 1000

    def send(self, conn: "_Conn") -> None:
        """(Re)send the ACQUIRE on conn, with what is left of its
        timeout."""
        fields = self.fields
        if self.deadline is not None:
            left = max(0, math.ceil((self.deadline - conn.loop.time()) *
                                    1000))
            fields = {**fields, "timeout_ms": left}
        i = conn._next()
        conn.reqs[i] = self
        try:
            conn._send({"op": "ACQUIRE", "id": i, **fields})
        except BaseException:
            del conn.reqs[i]
            raise
        self.conn, self.id = conn, i


class _Conn(asyncio.Protocol):
    """One connection to semd, used by every semaphore of one loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, path: str,
                 key: str | None) -> None:
        self.loop = loop
        self.path = path
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.wbuf: list[bytes] = []
        self.reader = _proto.FrameReader()
        self.next_id = 1
        self.reqs: dict[int, _Req] = {}
        self.calls: dict[int, asyncio.Future | None] = {}
        self.grants: dict[int, Grant] = {}
        self.closed = False
        self.server: str | None = None
        self.daemon_pid: int | None = None
        self.release_errors = 0
        self.closing = False
        self.reclaimed = 0
        """Grants taken back from a restarted daemon (RECLAIM)."""
        self.grace_ms = 0
        self.closer: Any = None
        self.raced = 0
        """Grants that came for a withdrawn acquire and were given back."""

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            msgs = self.reader.feed(data)
        except _proto.FrameError as e:
            self._fail(ProtocolError(f"semd at {self.path} sent a bad "
                                     f"frame: {e}"))
            if self.transport is not None:
                self.transport.abort()
            return
        for m in msgs:
            self._dispatch(m)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        why = f": {exc}" if exc is not None else ""
        self._fail(DaemonLost(f"lost the connection to semd at "
                              f"{self.path}{why}"))

    # --- requests ---

    def _next(self) -> int:
        while True:
            i = self.next_id
            self.next_id = i + 1 if i < _proto.MAX_ID else 1
            if i not in self.reqs and i not in self.calls:
                return i

    def _send(self, msg: dict[str, Any]) -> None:
        """Queue a request; the frames queued during one turn of the loop
        go out in one write (64 tasks pipelining cost one system call,
        not 64)."""
        if self.closed or self.transport is None:
            raise DaemonLost(f"lost the connection to semd at {self.path}")
        frame = _proto.encode(msg)
        if not self.wbuf:
            self.loop.call_soon(self._flush)
        self.wbuf.append(frame)

    def _flush(self) -> None:
        buf, self.wbuf = self.wbuf, []
        if buf and not self.closed and self.transport is not None:
            self.transport.write(b"".join(buf))

    async def call(self, op: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Send a request that gets exactly one reply; return the reply
        (an ERROR reply is returned, not raised)."""
        i = self._next()
        fut = self.loop.create_future()
        self.calls[i] = fut
        try:
            self._send({"op": op, "id": i, **fields})
        except BaseException:
            del self.calls[i]
            raise
        return await fut

    async def acquire(self, fields: dict[str, Any],
                      sems: tuple[Sem, ...], reconnect: bool = False
                      ) -> Grant:
        """ACQUIRE and wait for the grant.  Cancelled while waiting, it
        withdraws the request (TIMEOUT); a grant that raced the
        withdrawal is given back as soon as it arrives.  With reconnect,
        a request the daemon lost is sent again to the next one (it may
        be on another connection then: req.conn)."""
        fut = self.loop.create_future()
        req = _Req(fut, sems, fields, reconnect)
        req.send(self)
        try:
            return await fut
        except asyncio.CancelledError:
            conn = req.conn
            if fut.done() and not fut.cancelled():
                # The answer came, but we were cancelled before we could
                # take it: give a grant back at once.
                if fut.exception() is None:
                    self.raced += 1
                    fut.result()._release()
            elif conn is not None and conn.reqs.get(req.id) is req and \
                    not conn.closed:
                req.withdrawn = True
                conn._send({"op": "TIMEOUT", "id": req.id})
            raise

    def give_back(self, g: Grant) -> None:
        """Release a grant (fire and forget: the RELEASED reply is only
        counted)."""
        if g.token is not None:
            self.grants.pop(g.token, None)
        if self.closed:
            return
        if g.token is not None:
            # The whole grant, whatever else this connection holds there.
            msgs: list[dict[str, Any]] = [{"token": g.token}]
        else:
            msgs = [{"sem": n, "weight": w} for n, w in g.sems]
        for m in msgs:
            i = self._next()
            self.calls[i] = None
            self._send({"op": "RELEASE", "id": i, **m})

    # --- replies ---

    def _dispatch(self, m: dict[str, Any]) -> None:
        op = m.get("op")
        i = m.get("id")
        if op == "REVOKED":
            self._revoked(m)
            return
        req = self.reqs.get(i)  # type: ignore[arg-type]
        if req is not None:
            if op == "QUEUED":
                req.position = m.get("position")
                return
            if op == "ERROR" and req.withdrawn and \
                    m.get("code") == "NOT_PENDING":
                return  # the final answer is still to come
            del self.reqs[i]  # type: ignore[arg-type]
            fut = req.fut
            if op == "ACQUIRED":
                token = m.get("token")
                if not isinstance(token, int) or isinstance(token, bool):
                    token = None
                g = Grant(self, req.sems, token)
                g._reconnect = req.reconnect
                if token is not None:
                    self.grants[token] = g
                if fut.done():
                    self.raced += 1
                    g._release()  # withdrawn: the grant raced it
                else:
                    fut.set_result(g)
            elif fut.done():
                pass
            elif op == "TIMEOUT":
                fut.set_exception(Timeout(
                    f"no slot of {_names(req.sems)} within the timeout"))
            elif op == "ERROR":
                fut.set_exception(from_reply(m))
            else:
                fut.set_exception(ProtocolError(
                    f"semd answered ACQUIRE with {op!r}"))
            return
        if i in self.calls:
            fut2 = self.calls.pop(i)  # type: ignore[arg-type]
            if fut2 is None:
                if op == "ERROR":
                    self.release_errors += 1
            elif not fut2.done():
                fut2.set_result(m)
        # Anything else (the NOT_PENDING answering a withdrawal whose
        # ACQUIRE already ended, an event we do not know) is ignored.

    def _revoked(self, m: dict[str, Any]) -> None:
        """REVOKED {sem, token}: an administrator wants the grant back.
        It stays held until released; the grant's on_revoke says what
        happens to its holder."""
        token = m.get("token")
        if isinstance(token, int) and token in self.grants:
            hit = [self.grants[token]]
        else:
            hit = [g for g in self.grants.values()
                   if any(n == m.get("sem") for n, _ in g.sems)]
        for g in hit:
            if g.revoked or g.released:
                continue
            g._set_lost(revoked=True)
            policy = g._on_revoke
            if callable(policy):
                try:
                    policy(g)
                except Exception:
                    pass
            elif policy == "cancel" and isinstance(g._owner, asyncio.Task) \
                    and not g._owner.done():
                g._owner.cancel(f"semd: an administrator revoked the grant "
                                f"of {g.name} (token {g.token})")

    def _fail(self, err: Error) -> None:
        if self.closed:
            return
        self.closed = True
        conns = _registry.get(self.loop)
        if conns is not None and conns.get(self.key) is self:
            del conns[self.key]
        # Reconnect only when the daemon went away, not when we closed.
        again = isinstance(err, DaemonLost) and not self.closing
        reqs, self.reqs = self.reqs, {}
        resend = []
        for req in reqs.values():
            if req.fut.done():
                continue
            if req.reconnect and not req.withdrawn and again:
                req.conn = None
                resend.append(req)
            else:
                req.fut.set_exception(err)
        calls, self.calls = self.calls, {}
        for fut in calls.values():
            if fut is not None and not fut.done():
                fut.set_exception(err)
        grants, self.grants = self.grants, {}
        reclaim = []
        for g in grants.values():
            if g.released or g.revoked:
                continue
            if g._reconnect and len(g.sems) == 1 and again:
                g._conn = None
                reclaim.append(g)
            else:
                g._set_lost()
        _untokened_lost(self)
        if reclaim or resend:
            t = self.loop.create_task(_reconnect(
                self.loop, self.key, reclaim, resend, err,
                (self.grace_ms or DEFAULT_GRACE_MS) / 1000 + RECONNECT_MARGIN))
            _tasks.add(t)
            t.add_done_callback(_tasks.discard)

    def close(self) -> None:
        """Close the connection: the daemon gives back everything it held
        or waited for."""
        self.closing = True
        if self.transport is not None:
            self.transport.abort()


# Grants without a token (a v1 daemon) are found through their semaphores.
_holders: "weakref.WeakSet[Semaphore]" = weakref.WeakSet()


def _untokened_lost(conn: _Conn) -> None:
    for sem in list(_holders):
        for g in sem._grants:
            if g._conn is conn and not g.lost:
                g._set_lost()


_registry: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, " \
    "dict[str | None, Any]]" = weakref.WeakKeyDictionary()


async def _closer(conn: _Conn) -> Any:
    """An async generator whose only job is to be closed: the loop
    registers it, and asyncio.run() (any loop's shutdown_asyncgens())
    closes it on the way out, which closes the connection, so its slots
    go back when the loop ends, not when the garbage collector gets to
    it."""
    try:
        yield
    finally:
        conn.close()


async def _open(loop: asyncio.AbstractEventLoop, key: str | None) -> _Conn:
    sock, path = await loop.run_in_executor(None, _socket.connect, key)
    conn = _Conn(loop, path, key)
    try:
        sock.setblocking(False)
        await loop.create_unix_connection(lambda: conn, sock=sock)
    except BaseException:
        sock.close()
        raise
    reply = await conn.call("HELLO", {"version": _proto.PROTOCOL_VERSION,
                                      "client": CLIENT_NAME})
    if reply.get("op") == "ERROR":
        conn.close()
        raise from_reply(reply)
    conn.server = reply.get("server")
    conn.daemon_pid = reply.get("pid")
    g = reply.get("grace_ms")
    conn.grace_ms = g if isinstance(g, int) and not isinstance(g, bool) \
        else 0
    conn.closer = _closer(conn)
    await conn.closer.__anext__()
    return conn


DEFAULT_GRACE_MS = 5000
"""The grace period assumed when the daemon announced none (libsemd's)."""
RECONNECT_MARGIN = 5.0
"""Seconds of reconnecting beyond the grace period (libsemd's)."""
_tasks: set[asyncio.Task] = set()


async def _reconnect(loop: asyncio.AbstractEventLoop, key: str | None,
                     grants: list[Grant], reqs: list[_Req], err: Error,
                     wait: float) -> None:
    """After the daemon went away: connect again (with backoff, for the
    grace period it announced plus a margin, starting a per-user daemon
    as any acquire would), RECLAIM the grants under their tokens, and
    send the waiting requests again (they lose their place in line).  A
    grant the new daemon refuses is lost; if no daemon comes back, the
    grants are lost and the requests fail with err."""
    deadline = loop.time() + wait
    delay = 0.02
    while True:
        try:
            conn = await _connection(key)
            break
        except Error:
            if loop.time() >= deadline:
                for g in grants:
                    if not g.released:
                        g._set_lost()
                for req in reqs:
                    if not req.fut.done():
                        req.fut.set_exception(err)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
    for g in grants:
        if g.released:
            continue  # given back meanwhile: let the grace period end it
        name, weight = g.sems[0]
        try:
            reply = await conn.call("RECLAIM", {"token": g.token,
                                                "sem": name,
                                                "weight": weight})
        except Error:
            reply = {}
        if reply.get("op") == "ACQUIRED":
            g._conn = conn
            conn.grants[g.token] = g  # type: ignore[index]
            conn.reclaimed += 1
            if g.released:
                conn.give_back(g)
        else:
            g._set_lost()
    for req in reqs:
        if not req.fut.done():
            try:
                req.send(conn)
            except Error as e:
                req.fut.set_exception(e)


async def _connection(key: str | None) -> _Conn:
    """This loop's connection for a socket argument, opened when there is
    none (shared by concurrent callers)."""
    loop = asyncio.get_running_loop()
    conns = _registry.get(loop)
    if conns is None:
        conns = _registry[loop] = {}
    c = conns.get(key)
    if isinstance(c, _Conn) and not c.closed:
        return c
    if not isinstance(c, asyncio.Task):
        c = loop.create_task(_open(loop, key))
        conns[key] = c

        def done(t: asyncio.Task, conns: dict = conns) -> None:
            if conns.get(key) is not t:
                if not t.cancelled() and t.exception() is None:
                    t.result().close()
                return
            if t.cancelled() or t.exception() is not None:
                del conns[key]
            elif t.result().closed:
                del conns[key]
            else:
                conns[key] = t.result()
        c.add_done_callback(done)
    return await asyncio.shield(c)


def _close_inherited() -> None:
    """In a forked child: close the connections of the parent's loops, so
    that the child does not keep the parent's slots held after it
    exits."""
    for conns in list(_registry.values()):
        for c in list(conns.values()):
            if isinstance(c, _Conn) and c.transport is not None:
                sock = c.transport.get_extra_info("socket")
                if sock is not None:
                    try:
                        os.close(sock.fileno())
                    except OSError:
                        pass
                c.closed = True
        conns.clear()


os.register_at_fork(after_in_child=_close_inherited)


def _names(sems: tuple[Sem, ...]) -> str:
    return " + ".join(repr(s.name) for s in sems)


def _check_uint(v: Any, what: str, low: int, high: int) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError(f"{what} must be an int, not {type(v).__name__}")
    if not low <= v <= high:
        raise ValueError(f"{what} must be {low} to {high}, not {v}")
    return v


def _check_rate(v: Any) -> float | int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or \
            not math.isfinite(v) or v <= 0:
        raise ValueError(f"rate must be a positive number of grants per "
                         f"second, not {v!r}")
    return v


def _sem(s: Sem) -> Sem:
    if not isinstance(s.name, str) or not s.name:
        raise ValueError(f"semaphore name must be a non-empty str, not "
                         f"{s.name!r}")
    if s.capacity is not None:
        _check_uint(s.capacity, "capacity", 0, _proto.MAX_CAPACITY)
    _check_uint(s.weight, "weight", 1, _proto.MAX_CAPACITY)
    _check_rate(s.rate)
    if s.burst is not None:
        _check_uint(s.burst, "burst", 1, _proto.MAX_CAPACITY)
    return s


def _normalize(name: NameSpec, capacity: int | None, weight: int,
               rate: float | None, burst: int | None) -> tuple[Sem, ...]:
    """The semaphores a constructor names: one str, one Sem, a mapping
    {name: capacity}, or an iterable of Sem / (name, capacity[, weight])
    / name."""
    if isinstance(name, str):
        return (_sem(Sem(name, capacity, weight, rate, burst)),)
    if capacity is not None:
        raise TypeError("capacity goes with each name when naming several "
                        "semaphores")
    if isinstance(name, Sem):
        items: list[Any] = [name]
    elif isinstance(name, Mapping):
        items = [Sem(n, c) for n, c in name.items()]
    else:
        items = list(name)
    sems = []
    for it in items:
        if isinstance(it, Sem):
            s = it
        elif isinstance(it, str):
            s = Sem(it)
        elif isinstance(it, tuple) and 1 <= len(it) <= 3:
            s = Sem(*it)
        else:
            raise TypeError(f"cannot read {it!r} as a semaphore: give a "
                            f"name, a (name, capacity[, weight]) tuple or "
                            f"a semd.Sem")
        if len(items) == 1:
            s = Sem(s.name, s.capacity,
                    weight if s.weight == 1 else s.weight,
                    s.rate if s.rate is not None else rate,
                    s.burst if s.burst is not None else burst)
        sems.append(_sem(s))
    if not 1 <= len(sems) <= 16:
        raise ValueError(f"a request names 1 to 16 semaphores, not "
                         f"{len(sems)}")
    if len({s.name for s in sems}) != len(sems):
        raise ValueError("a request names each semaphore only once")
    if len(sems) > 1 and (rate is not None or burst is not None or
                          weight != 1):
        raise TypeError("with several semaphores, give weight, rate and "
                        "burst per name (semd.Sem)")
    return tuple(sems)


def _timeout_ms(timeout: float | None) -> int | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
            or math.isnan(timeout) or timeout < 0:
        raise ValueError(f"timeout must be a number of seconds >= 0 or "
                         f"None, not {timeout!r}")
    return min(math.ceil(timeout * 1000), _proto.MAX_TIMEOUT_MS)


def _fields(sems: tuple[Sem, ...], timeout_ms: int | None) -> dict[str, Any]:
    """The ACQUIRE fields (after op and id), in the order libsemd writes
    them."""
    f: dict[str, Any] = {}
    if len(sems) == 1:
        s = sems[0]
        f["sem"] = s.name
        if s.capacity is not None:
            f["capacity"] = s.capacity
        f["weight"] = s.weight
        if s.rate is not None:
            f["rate"] = s.rate
        if s.burst is not None:
            f["burst"] = s.burst
    else:
        lst = []
        for s in sems:
            e: dict[str, Any] = {"sem": s.name}
            if s.capacity is not None:
                e["capacity"] = s.capacity
            e["weight"] = s.weight
            if s.rate is not None:
                e["rate"] = s.rate
            if s.burst is not None:
                e["burst"] = s.burst
            lst.append(e)
        f["sems"] = lst
    if timeout_ms is not None:
        f["timeout_ms"] = timeout_ms
    return f


def _current_owner() -> Any:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


class Semaphore:
    """A semaphore held by semd, shared by every process that names it.

    ``Semaphore("api-x", 3)`` is asyncio.Semaphore(3) for the whole
    machine: at most 3 holders at once, served strictly in arrival order.

    :param name: the semaphore's name (1 to 128 of ``A-Z a-z 0-9 . _ - :
        @ / +``); or several at once, granted all together: a mapping
        ``{"db": 2, "gpu": 4}``, or a list of :class:`semd.Sem` /
        ``(name, capacity[, weight])`` tuples.
    :param capacity: its capacity; the first user creates the semaphore
        with it and later users must agree (else
        :class:`~semd.CapacityMismatch`).  None joins it at its current
        (or declared) capacity.
    :param weight: how many slots one acquire takes.
    :param timeout: seconds to wait in line before
        :class:`~semd.Timeout` (a TimeoutError); 0 means only if free
        now; None waits forever.  ``asyncio.timeout()`` and cancellation
        work too.
    :param rate: grants per second (with ``burst``), declared like the
        capacity.
    :param socket: the daemon's socket; default as libsemd resolves it.
    :param reconnect: when semd restarts (crash, upgrade, idle exit and
        auto-start), connect again and RECLAIM the grants under their
        tokens during the new daemon's grace period, and send waiting
        requests again (they lose their place in line), as libsemd's
        SEMD_OPEN_RECONNECT.  Without it, grants are lost
        (``grant.lost``) and waiting acquires raise
        :class:`~semd.DaemonLost`.  Several semaphores in one grant are
        not reclaimed (lost).
    :param on_revoke: what happens when an administrator revokes a grant
        (``semdctl revoke``): ``"cancel"`` (default) cancels the task that
        holds it, so its ``async with`` gives it back, as semrun stops its
        command; ``"keep"`` only sets ``grant.revoked``; a callable is
        called with the grant.  ``grant.on_lost()`` callbacks run in every
        case.

    Unlike asyncio.Semaphore, release() cannot create slots: releasing
    with nothing held raises :class:`~semd.NotHeld`
    (:class:`BoundedSemaphore`: ValueError, as asyncio's does).
    """

    _bounded = False

    def __init__(self, name: NameSpec, capacity: int | None = None, *,
                 weight: int = 1, timeout: float | None = None,
                 rate: float | None = None, burst: int | None = None,
                 socket: str | None = None,
                 on_revoke: Any = "cancel", reconnect: bool = False) -> None:
        self._reconnect = bool(reconnect)
        if not callable(on_revoke) and on_revoke not in ("cancel", "keep"):
            raise ValueError(f"on_revoke must be 'cancel', 'keep' or a "
                             f"callable, not {on_revoke!r}")
        self._on_revoke = on_revoke
        self._sems = _normalize(name, capacity, weight, rate, burst)
        self._timeout_ms = _timeout_ms(timeout)
        self._fields = _fields(self._sems, self._timeout_ms)
        self._socket = socket
        self._grants: list[Grant] = []
        self._owners: dict[Any, list[Grant]] = {}

    def __repr__(self) -> str:
        cls = type(self).__name__
        names = ", ".join(
            s.name + (f"/{s.capacity}" if s.capacity is not None else "")
            for s in self._sems)
        return f"<semd.{cls} {names} held={len(self._grants)}>"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self._sems)

    @property
    def sems(self) -> tuple[Sem, ...]:
        return self._sems

    @property
    def held(self) -> int:
        """How many grants this object holds now."""
        return len(self._grants)

    @property
    def token(self) -> int | None:
        """The token of the grant the current task (else anyone) got last
        through this object, or None."""
        owned = self._owners.get(_current_owner())
        g = owned[-1] if owned else (self._grants[-1] if self._grants
                                     else None)
        return g.token if g is not None else None

    async def acquire(self, *, timeout: float | None = _UNSET) -> Grant:
        """Wait for the slots; return the :class:`Grant`.

        Raises :class:`~semd.Timeout` when ``timeout`` (default: the
        constructor's) runs out, the daemon's refusal
        (:class:`~semd.CapacityMismatch`, :class:`~semd.Denied`, ...),
        or :class:`~semd.Unreachable`.  When the task is cancelled while
        waiting (``asyncio.timeout()``, ``Task.cancel()``), the request
        leaves the line and nothing is held.
        """
        return await self._acquire(_current_owner(), timeout)

    async def _acquire(self, owner: Any, timeout: Any) -> Grant:
        fields = self._fields if timeout is _UNSET else \
            _fields(self._sems, _timeout_ms(timeout))
        conn = await _connection(self._socket)
        g = await conn.acquire(fields, self._sems, self._reconnect)
        g._owner = owner
        g._on_revoke = self._on_revoke
        self._grants.append(g)
        self._owners.setdefault(owner, []).append(g)
        _holders.add(self)
        return g

    def release(self, grant: Grant | None = None) -> None:
        """Give back a grant: the given one, else the current task's
        latest, else this object's oldest.  Does not wait for the daemon.
        With nothing held: :class:`~semd.NotHeld`, or ValueError for a
        BoundedSemaphore."""
        self._release(_current_owner(), grant)

    def _release(self, owner: Any, grant: Grant | None = None) -> None:
        if grant is None:
            owned = self._owners.get(owner)
            if owned:
                grant = owned[-1]
            elif self._grants:
                grant = self._grants[0]
        elif grant not in self._grants:
            grant = None
        if grant is None:
            if self._bounded:
                raise ValueError("BoundedSemaphore released too many times")
            raise NotHeld(f"{self!r}: release() with nothing held")
        self._drop(grant)

    def _drop(self, g: Grant) -> None:
        """Forget g and give it back (no-op if it is not ours)."""
        try:
            self._grants.remove(g)
        except ValueError:
            return
        owned = self._owners.get(g._owner)
        if owned is not None:
            owned.remove(g)
            if not owned:
                del self._owners[g._owner]
        g._release()

    async def _alocked(self) -> bool:
        st = await status(self._sems[0].name if len(self._sems) == 1
                          else None, socket=self._socket)
        for s in self._sems:
            cur = st.get(s.name)
            if cur is None:
                continue
            if cur.waiting > 0 or cur.next_grant_ms > 0:
                return True
            if cur.capacity > 0 and cur.held + s.weight > cur.capacity:
                return True
        return False

    def locked(self) -> bool:
        """True when an acquire() now would have to wait: someone is in
        line, the free slots are fewer than the weight, or the rate does
        not allow a grant yet.  A round trip
        to semd (blocking, well under a millisecond on a local socket);
        ``await sem.alocked()`` does it without blocking the loop."""
        from . import sync
        return sync._run(self._alocked)

    async def alocked(self) -> bool:
        """locked(), awaited."""
        return await self._alocked()

    async def __aenter__(self) -> Grant:
        return await self._acquire(_current_owner(), _UNSET)

    async def __aexit__(self, *exc: Any) -> None:
        self._release(_current_owner())


class BoundedSemaphore(Semaphore):
    """A :class:`Semaphore` whose release() with nothing held raises
    ValueError, as asyncio.BoundedSemaphore's does."""

    _bounded = True


async def status(name: str | None = None, *,
                 socket: str | None = None) -> Status:
    """The daemon's STATUS: every semaphore in use, or only ``name``
    (an empty list when it is not in use)."""
    conn = await _connection(socket)
    reply = await conn.call("STATUS", {"sem": name} if name else {})
    if reply.get("op") == "ERROR":
        raise from_reply(reply)
    if reply.get("op") != "STATUS":
        raise ProtocolError(f"semd answered STATUS with {reply.get('op')!r}")
    try:
        return status_from_reply(reply)
    except ValueError as e:
        raise ProtocolError(str(e)) from None


async def ping(*, socket: str | None = None) -> dict[str, Any]:
    """Connect (starting the per-user daemon if needed); return the
    daemon's HELLO: {"server": ..., "pid": ..., "path": ...}."""
    conn = await _connection(socket)
    return {"server": conn.server, "pid": conn.daemon_pid,
            "path": conn.path}
