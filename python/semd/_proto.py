"""Frames and messages of the semd wire protocol (proto/PROTOCOL.md).

A frame is a 4-byte big-endian length N (1 <= N <= 65536) followed by N
bytes holding exactly one MessagePack map with string keys.  This module
turns dicts into frames and a byte stream back into dicts; it knows
nothing of sockets.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

MAX_FRAME = 65536
"""The largest frame body either side may send, in bytes."""

PROTOCOL_VERSION = 1
"""The protocol version this client announces in HELLO."""

MAX_CAPACITY = 2**31 - 1
MAX_TIMEOUT_MS = 315360000000
MAX_ID = 2**64 - 1

_LEN = struct.Struct(">I")


class FrameError(Exception):
    """The peer sent something that is not a valid frame."""


def encode(msg: dict[str, Any]) -> bytes:
    """Return msg as one frame, length prefix included.

    Keys are written in the dict's order, integers in their smallest
    MessagePack form and strings as str types, which is what the C encoder
    writes (PROTOCOL.md section 9 shows the bytes).
    """
    body = msgpack.packb(msg, use_bin_type=True)
    if len(body) > MAX_FRAME:
        raise ValueError(f"message of {len(body)} bytes does not fit a "
                         f"frame (at most {MAX_FRAME})")
    return _LEN.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    """Decode one frame body into a dict; FrameError if it is not one map
    with string keys."""
    try:
        msg = msgpack.unpackb(body, raw=False, strict_map_key=False,
                              unicode_errors="replace")
    except Exception as e:  # ExtraData, FormatError, StackError, ...
        raise FrameError(f"undecodable frame body: {e}") from None
    if not isinstance(msg, dict):
        raise FrameError("frame body is not a msgpack map")
    _check_keys(msg, 1)
    return msg


def _check_keys(obj: Any, depth: int) -> None:
    if depth > 8:
        raise FrameError("frame nests deeper than 8 levels")
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise FrameError("frame has a map key that is not a string")
            if isinstance(v, (dict, list)):
                _check_keys(v, depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, (dict, list)):
                _check_keys(v, depth + 1)


class FrameReader:
    """Split a byte stream into decoded messages.

    feed() takes whatever the socket gave and returns the complete
    messages it finished; partial frames are kept for the next call.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Add data; return the messages completed by it (maybe none)."""
        buf = self._buf
        buf += data
        out = []
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            (length,) = _LEN.unpack_from(buf, pos)
            if length == 0 or length > MAX_FRAME:
                raise FrameError(f"bad frame length {length}")
            if n - pos - 4 < length:
                break
            out.append(decode_body(bytes(buf[pos + 4:pos + 4 + length])))
            pos += 4 + length
        if pos:
            del buf[:pos]
        return out

    def pending(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf)
