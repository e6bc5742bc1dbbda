"""Exceptions of the semd client.

Every failure the daemon reports is an ERROR reply with a ``code``
(proto/PROTOCOL.md section 6); each code has a class here, named after it
(``CAPACITY_MISMATCH`` is :class:`CapacityMismatch`).  A code this client
does not know becomes a plain :class:`Error` with that ``code``.  They are
all subclasses of :class:`Error`, and of the builtin exception a Python
programmer would reach for (``ValueError`` for a bad name, ``TimeoutError``
for a timeout, ``ConnectionError`` when semd cannot be reached).
"""

from __future__ import annotations

from typing import Any


class Error(Exception):
    """Base of every semd error.

    ``code`` is the protocol's error code (``"CAPACITY_MISMATCH"``), or
    None for errors that happen on this side of the socket; ``message`` is
    the daemon's sentence.
    """

    code: str | None = None

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ProtocolError(Error):
    """This client and the daemon disagree about the protocol (a bug on
    one side: BAD_FRAME, BAD_REQUEST, UNKNOWN_OP, VERSION, or a reply this
    client cannot read)."""


class BadFrame(ProtocolError):
    code = "BAD_FRAME"


class BadRequest(ProtocolError, ValueError):
    code = "BAD_REQUEST"


class UnknownOp(ProtocolError):
    code = "UNKNOWN_OP"


class VersionMismatch(ProtocolError):
    code = "VERSION"


class BadName(Error, ValueError):
    """The semaphore name is not 1 to 128 bytes of ``A-Z a-z 0-9 . _ - :
    @ / +``."""

    code = "BAD_NAME"


class NoCapacity(Error, LookupError):
    """The semaphore does not exist and no capacity was given."""

    code = "NO_CAPACITY"


class CapacityMismatch(Error):
    """The semaphore exists with another capacity (the message says
    which)."""

    code = "CAPACITY_MISMATCH"


class RateMismatch(Error):
    """The semaphore exists with another rate or burst."""

    code = "RATE_MISMATCH"


class TooHeavy(Error, ValueError):
    """The weight is above the semaphore's capacity: it could never be
    granted."""

    code = "TOO_HEAVY"


class NotHeld(Error):
    """RELEASE of more than this connection holds."""

    code = "NOT_HELD"


class NotPending(Error):
    code = "NOT_PENDING"


class DuplicateId(ProtocolError):
    code = "DUPLICATE_ID"


class Limit(Error):
    """A limit of the daemon was reached (the message names the option
    that sets it)."""

    code = "LIMIT"


class Denied(Error, PermissionError):
    """The daemon's access rules refuse this caller."""

    code = "DENIED"


class Timeout(Error, TimeoutError):
    """The acquire waited its whole ``timeout`` without a grant (nothing
    is held)."""

    code = "TIMEOUT"


class Unreachable(Error, ConnectionError):
    """No semd answers at the socket, and none could be started."""


class DaemonLost(Unreachable):
    """The connection to semd broke.  Whatever it held is given back by
    the daemon; pending acquires fail with this error."""


class Revoked(Error):
    """An administrator revoked the grant (REVOKED event)."""

    code = "REVOKED"


_CODES: dict[str, type[Error]] = {
    cls.code: cls for cls in (
        BadFrame, BadRequest, UnknownOp, VersionMismatch, BadName,
        NoCapacity, CapacityMismatch, RateMismatch, TooHeavy, NotHeld,
        NotPending, DuplicateId, Limit, Denied)
    if cls.code is not None
}


def from_reply(msg: dict[str, Any]) -> Error:
    """The exception for an ERROR reply."""
    code = msg.get("code")
    message = msg.get("message")
    if not isinstance(code, str):
        code = "UNKNOWN"
    if not isinstance(message, str) or not message:
        message = f"semd refused the request ({code})"
    cls = _CODES.get(code, Error)
    return cls(message, code)


__all__ = [
    "Error", "ProtocolError", "BadFrame", "BadRequest", "UnknownOp",
    "VersionMismatch", "BadName", "NoCapacity", "CapacityMismatch",
    "RateMismatch", "TooHeavy", "NotHeld", "NotPending", "DuplicateId",
    "Limit", "Denied", "Timeout", "Unreachable", "DaemonLost", "Revoked",
    "from_reply",
]
