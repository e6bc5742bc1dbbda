"""semd: semaphores for asyncio (and threads) that hold across processes.

    import semd

    sem = semd.Semaphore("api-x", 3)      # like asyncio.Semaphore(3),
    async with sem:                       # but for every process that
        await call_the_api()              # names "api-x"

    with semd.sync.Semaphore("api-x", 3, timeout=5):
        call_the_api()

The semaphores live in semd, a local daemon (started per user on first
use, as tmux starts its server); grants are strictly FIFO, and a process
that exits or crashes gives its slots back.  See the README's "Python"
section and proto/PROTOCOL.md.
"""

from . import sync
from ._types import Holder, Sem, SemStatus, Status, Waiter
from .aio import (CLIENT_NAME, BoundedSemaphore, Grant, Semaphore,
                  __version__, ping, status)
from .errors import (BadFrame, BadName, BadRequest, CapacityMismatch,
                     DaemonLost, Denied, DuplicateId, Error, Limit,
                     NoCapacity, NotHeld, NotPending, ProtocolError,
                     RateMismatch, Revoked, Timeout, TooHeavy, UnknownOp,
                     Unreachable, VersionMismatch)

__all__ = [
    "Semaphore", "BoundedSemaphore", "Grant", "Sem", "status", "ping",
    "sync", "Status", "SemStatus", "Holder", "Waiter", "Error",
    "ProtocolError", "BadFrame", "BadRequest", "UnknownOp",
    "VersionMismatch", "BadName", "NoCapacity", "CapacityMismatch",
    "RateMismatch", "TooHeavy", "NotHeld", "NotPending", "DuplicateId",
    "Limit", "Denied", "Timeout", "Unreachable", "DaemonLost", "Revoked",
    "CLIENT_NAME", "__version__",
]
