"""Plain data: what a semaphore is asked for, what a grant holds, what
STATUS reports."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterator


@dataclass(frozen=True)
class Sem:
    """One name of a request for several semaphores at once.

    ``capacity`` None joins the semaphore at its existing (or declared)
    capacity; ``rate``/``burst`` declare a rate as ``capacity`` declares
    the concurrency bound.
    """

    name: str
    capacity: int | None = None
    weight: int = 1
    rate: float | None = None
    burst: int | None = None


@dataclass(frozen=True)
class Holder:
    """A connection holding slots (STATUS ``holders``)."""

    pid: int
    uid: int
    weight: int
    held_ms: int
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Fields a later daemon adds (``client``, ``worker_pid``, ...)."""

    @property
    def client(self) -> str | None:
        """The client name its HELLO gave (``"semrun"``, ``"python"``)."""
        return self.extra.get("client")

    @property
    def worker_pid(self) -> int | None:
        """The process doing the work (semrun: CMD), when it said."""
        return self.extra.get("worker_pid")

    @property
    def worker_cmd(self) -> str | None:
        """That process's argv, shell-quoted, when it said."""
        return self.extra.get("worker_cmd")


@dataclass(frozen=True)
class Waiter:
    """A request in line (STATUS ``waiters``), head first."""

    pid: int
    uid: int
    weight: int
    waited_ms: int
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    client = Holder.client
    worker_pid = Holder.worker_pid
    worker_cmd = Holder.worker_cmd


@dataclass(frozen=True)
class SemStatus:
    """One semaphore as STATUS reports it."""

    name: str
    capacity: int
    held: int
    waiting: int
    holders: list[Holder]
    waiters: list[Waiter]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Fields a later daemon adds (``rate``, ``burst``, ...)."""

    @property
    def declared(self) -> bool:
        """The daemon's configuration declares it (kept while idle)."""
        return bool(self.extra.get("declared"))

    @property
    def drained(self) -> bool:
        """An administrator stopped grants (``semdctl drain``)."""
        return bool(self.extra.get("drained"))

    @property
    def rate(self) -> float | None:
        """Grants per second, for a semaphore with a rate."""
        return self.extra.get("rate")

    @property
    def burst(self) -> int | None:
        return self.extra.get("burst")

    @property
    def next_grant_ms(self) -> int:
        """Milliseconds until the rate allows the next grant (0: now)."""
        v = self.extra.get("next_grant_ms")
        return v if isinstance(v, int) else 0


@dataclass(frozen=True)
class Status:
    """A STATUS reply: the semaphores in use, and whether the daemon had
    to shorten the holder and waiter lists to fit one frame."""

    sems: list[SemStatus]
    truncated: bool = False

    def __iter__(self) -> Iterator[SemStatus]:
        return iter(self.sems)

    def __len__(self) -> int:
        return len(self.sems)

    def get(self, name: str) -> SemStatus | None:
        """The semaphore called name, or None when it is not in use."""
        for s in self.sems:
            if s.name == name:
                return s
        return None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _uint(v: Any, what: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ValueError(f"STATUS reply: {what} is not an unsigned integer")
    return v


def _party(cls: type, m: Any, ms_key: str) -> Any:
    if not isinstance(m, dict):
        raise ValueError("STATUS reply: a holder or waiter is not a map")
    known = ("pid", "uid", "weight", ms_key)
    return cls(_uint(m.get("pid"), "pid"), _uint(m.get("uid"), "uid"),
               _uint(m.get("weight"), "weight"),
               _uint(m.get(ms_key), ms_key),
               {k: v for k, v in m.items() if k not in known})


def status_from_reply(msg: dict[str, Any]) -> Status:
    """Build a Status from a STATUS reply; ValueError if it is malformed."""
    sems = msg.get("sems")
    if not isinstance(sems, list):
        raise ValueError("STATUS reply without a sems list")
    out = []
    known = ("sem", "capacity", "held", "waiting", "holders", "waiters")
    for s in sems:
        if not isinstance(s, dict) or not isinstance(s.get("sem"), str):
            raise ValueError("STATUS reply: a semaphore without a name")
        holders = s.get("holders") or []
        waiters = s.get("waiters") or []
        if not isinstance(holders, list) or not isinstance(waiters, list):
            raise ValueError("STATUS reply: holders or waiters not a list")
        out.append(SemStatus(
            s["sem"], _uint(s.get("capacity"), "capacity"),
            _uint(s.get("held"), "held"), _uint(s.get("waiting"), "waiting"),
            [_party(Holder, h, "held_ms") for h in holders],
            [_party(Waiter, w, "waited_ms") for w in waiters],
            {k: v for k, v in s.items() if k not in known}))
    return Status(out, bool(msg.get("truncated")))
