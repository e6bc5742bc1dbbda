"""The golden frames of proto/PROTOCOL.md, section 9: decoded, and
encoded byte for byte by the client's own code paths."""

from __future__ import annotations

import re

import msgpack
import pytest
from conftest import SRCDIR

import semd
from semd import _proto
from semd._types import Sem, status_from_reply
from semd import aio
from semd.aio import Grant, _fields
from semd.errors import from_reply


def golden() -> dict[str, bytes]:
    """{the sentence introducing it: frame bytes} for every example in
    PROTOCOL.md section 9."""
    text = (SRCDIR / "proto" / "PROTOCOL.md").read_text()
    sec = text[text.index("## 9. Examples"):text.index("## 10.")]
    out: dict[str, bytes] = {}
    para: list[str] = []
    hexlines: list[str] = []
    for line in sec.splitlines() + [""]:
        if re.fullmatch(r"    ([0-9a-f]{2} )*[0-9a-f]{2}", line):
            hexlines.append(line.strip())
            continue
        if hexlines:
            out[" ".join(para)] = bytes.fromhex(" ".join(hexlines))
            hexlines = []
            para = []
        if not line.strip():
            if para and not para[-1].endswith(":"):
                para = []
            continue
        if not line.startswith("    "):
            para.append(line.strip())
    return out


FRAMES = golden()


def test_all_examples_found():
    # Every op of the v1 exchange, and more as the protocol grows.
    assert len(FRAMES) >= 13, sorted(FRAMES)
    for title, b in FRAMES.items():
        n = int.from_bytes(b[:4], "big")
        assert n == len(b) - 4, title
        m = re.search(r"\((\d+) bytes", title)
        assert m is None or int(m.group(1)) == len(b), title


@pytest.mark.parametrize("title", sorted(FRAMES))
def test_decode_and_reencode(title):
    raw = FRAMES[title]
    r = _proto.FrameReader()
    msgs = r.feed(raw)
    assert len(msgs) == 1 and r.pending() == 0
    assert _proto.encode(msgs[0]) == raw


@pytest.mark.parametrize("title", sorted(FRAMES))
def test_split_anywhere(title):
    raw = FRAMES[title]
    for cut in range(1, len(raw)):
        r = _proto.FrameReader()
        assert r.feed(raw[:cut]) == []
        assert r.feed(raw[cut:]) == [msgpack.unpackb(raw[4:])]


def find(prefix: str) -> bytes:
    (b,) = [v for k, v in FRAMES.items() if k.startswith(prefix)]
    return b


def test_client_requests_byte_for_byte():
    # What the client writes, built as the client builds it.
    assert _proto.encode({"op": "HELLO", "id": 1, "version": 1,
                          "client": "semrun"}) == find("`HELLO")
    acq = {"op": "ACQUIRE", "id": 2,
           **_fields((Sem("api-x", 3),), 30000)}
    assert _proto.encode(acq) == find("`ACQUIRE ")
    rel = {"op": "RELEASE", "id": 3, "sem": "api-x", "weight": 1}
    assert _proto.encode(rel) == find("`RELEASE {id: 3")
    assert _proto.encode({"op": "TIMEOUT", "id": 5}) == find("`TIMEOUT")
    # A grant with a token goes back whole, by token, as give_back sends.
    conn = _Recorder()
    g = Grant(conn, (Sem("api-x"),), 7)  # type: ignore[arg-type]
    conn.next_id = 8
    aio._Conn.give_back(conn, g)  # type: ignore[arg-type]
    assert conn.sent == [find("`RELEASE {id: 8, token")]
    assert _proto.encode({"op": "STATUS", "id": 6, "sem": "api-x"}) == \
        find("`STATUS")


class _Recorder:
    """Stands in for a connection: records the frames give_back sends."""

    closed = False

    def __init__(self):
        self.sent = []
        self.reqs = {}
        self.calls = {}
        self.grants = {}

    def _next(self):
        return aio._Conn._next(self)

    def _send(self, msg):
        self.sent.append(_proto.encode(msg))


def test_acquired_token_read():
    (m,) = _proto.FrameReader().feed(find("`ACQUIRED"))
    assert m["token"] == 7


def test_timeout_seconds_to_ms():
    s = semd.Semaphore("api-x", 3, timeout=30)
    assert _proto.encode({"op": "ACQUIRE", "id": 2, **s._fields}) == \
        find("`ACQUIRE ")


def test_replies_decode_to_meaning():
    (m,) = _proto.FrameReader().feed(find("`ERROR {id: 4"))
    e = from_reply(m)
    assert isinstance(e, semd.NotHeld) and e.code == "NOT_HELD"
    assert str(e) == "RELEASE: this connection holds nothing on 'api-x'"
    (m,) = _proto.FrameReader().feed(find("Its reply"))
    st = status_from_reply(m)
    assert st.truncated is False
    (s,) = st.sems
    assert (s.name, s.capacity, s.held, s.waiting) == ("api-x", 1, 1, 1)
    assert s.holders == [semd.Holder(4243, 1000, 1, 1500)]
    assert s.waiters == [semd.Waiter(4250, 1000, 1, 200)]


def test_unknown_error_code_is_an_error():
    e = from_reply({"op": "ERROR", "id": 1, "code": "FROB", "message": "m"})
    assert type(e) is semd.Error and e.code == "FROB"
    assert isinstance(from_reply({"code": "CAPACITY_MISMATCH"}),
                      semd.CapacityMismatch)
    assert isinstance(from_reply({"code": "DENIED"}), PermissionError)
    assert isinstance(from_reply({"code": "RATE_MISMATCH"}),
                      semd.RateMismatch)


@pytest.mark.parametrize("raw", [
    b"\x00\x00\x00\x00",                       # length 0
    b"\x00\x01\x00\x01",                       # length above 65536
    b"\x00\x00\x00\x05\xdf\x7f\xff\xff\xff",   # a map claiming 2^31-1
    b"\x00\x00\x00\x01\x90",                   # not a map
    b"\x00\x00\x00\x03\x81\x01\x02",           # non-string key
    b"\x00\x00\x00\x02\x80\x80",               # two objects
])
def test_hostile_frames_refused(raw):
    with pytest.raises(_proto.FrameError):
        _proto.FrameReader().feed(raw)


def test_too_big_to_send():
    with pytest.raises(ValueError):
        _proto.encode({"op": "STATUS", "id": 1, "x": "a" * 70000})
