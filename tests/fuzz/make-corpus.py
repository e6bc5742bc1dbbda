#!/usr/bin/env python3
# Write the seed corpus of fuzz_request (tests/fuzz/corpus/) from the
# scripts below; see the comment at the top of fuzz_request.c for the
# format.  Run from anywhere: python3 tests/fuzz/make-corpus.py
import os
import struct

RAW, REQ, CLOSE, SHUT, TICK, READ, HDR, READALL = range(8)
ACQ, REL, WDR, STATUS, HELLO = 0, 3, 5, 6, 7
FOREVER = 0xff


def cmd(action, slot=0):
    return bytes([action + 8 * slot])


def req(slot, kind, name=0, cap=0, wt=0, tmo=FOREVER, rid=0, split=0):
    return cmd(REQ, slot) + bytes([kind | split << 3, name, cap, wt, tmo,
                                   rid])


def raw(slot, data):
    assert len(data) <= 255
    return cmd(RAW, slot) + bytes([len(data)]) + data


def frame(body):
    return struct.pack(">I", len(body)) + body


def mp(v):
    """A tiny MessagePack encoder: dict, list, str, int, float, None,
    bool."""
    if v is None:
        return b"\xc0"
    if v is True or v is False:
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if 0 <= v < 1 << 32:
            return b"\xce" + struct.pack(">I", v)
        if v >= 0:
            return b"\xcf" + struct.pack(">Q", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else
                b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, list):
        return (bytes([0x90 | len(v)]) if len(v) < 16 else
                b"\xdc" + struct.pack(">H", len(v))) + b"".join(
            mp(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(
            mp(k) + mp(x) for k, x in v.items())
    raise TypeError(v)


def holder_and_waiter():
    # Client 0 holds "a" (capacity 1), client 1 waits for it.
    return req(0, ACQ, 0, 1, 1, FOREVER, 1) + req(1, ACQ, 0, 1, 1, FOREVER, 2)


NOLIMIT = b"\x00\x00"
seeds = {
    "hello": NOLIMIT + req(0, HELLO, rid=1) + req(1, HELLO | 0x80, rid=2) +
    cmd(READALL),
    "fifo": NOLIMIT + holder_and_waiter() + req(2, ACQ, 0, 1, 1, FOREVER, 3) +
    cmd(READALL) + req(0, REL, 0, 0, 1, FOREVER, 4) + cmd(READALL) +
    req(1, REL, 0, 0, 1, FOREVER, 5) + cmd(READALL),
    "timeout": NOLIMIT + holder_and_waiter() + req(2, ACQ, 0, 1, 1, 10, 3) +
    req(3, ACQ, 0, 1, 1, 0, 4) + cmd(TICK) + b"\x00" + cmd(READALL),
    "withdraw": NOLIMIT + holder_and_waiter() + req(1, WDR, rid=2) +
    req(1, WDR, rid=2) + cmd(READALL),
    "disconnect": NOLIMIT + holder_and_waiter() + req(2, ACQ, 1, 2, 2, 5, 7) +
    cmd(CLOSE, 0) + cmd(TICK) + b"\x05" + cmd(READALL) + cmd(CLOSE, 1),
    "weights": NOLIMIT + req(0, ACQ, 2, 5, 3, FOREVER, 1) +
    req(1, ACQ, 2, 5, 4, FOREVER, 2) + req(2, ACQ, 2, 5, 1, FOREVER, 3) +
    req(3, ACQ, 2, 4, 1, FOREVER, 4) + req(3, ACQ, 2, 5, 0xfe, FOREVER, 5) +
    req(0, REL, 2, 0, 4, FOREVER, 6) + req(0, REL, 2, 0, 3, FOREVER, 7) +
    cmd(READALL),
    # max_pending 2, max_holds 1, per uid: 3 pending, 2 holds.
    "limits": bytes([2 << 2 | 1 << 4, 3 | 2 << 3]) + holder_and_waiter() +
    req(1, ACQ, 0, 1, 1, FOREVER, 3) + req(1, ACQ, 0, 1, 1, FOREVER, 4) +
    req(2, ACQ, 0, 1, 1, FOREVER, 5) + req(2, ACQ, 0, 1, 1, FOREVER, 6) +
    req(2, ACQ, 1, 1, 1, FOREVER, 7) + req(3, ACQ, 2, 1, 1, FOREVER, 8) +
    cmd(READALL),
    # max_sems 2, max_connections 2.
    "sems-conns": bytes([1 | 1 << 6, 0]) + req(0, ACQ, 0, 1, 1, FOREVER, 1) +
    req(0, ACQ, 1, 1, 1, FOREVER, 2) + req(0, ACQ, 2, 1, 1, FOREVER, 3) +
    req(1, HELLO, rid=1) + req(2, HELLO, rid=1) + cmd(READALL),
    "status": NOLIMIT + holder_and_waiter() + req(2, ACQ, 5, 3, 1, 9, 1) +
    req(3, STATUS, 0, rid=9) + req(3, STATUS, 0x80, rid=10) +
    req(3, STATUS, 0x85, rid=11) + cmd(READALL),
    "split": NOLIMIT + req(0, ACQ, 5, 2, 1, FOREVER, 1, split=3) +
    req(1, ACQ, 5, 2, 2, 20, 2, split=7) + cmd(SHUT, 1) +
    cmd(READALL),
    # A client that never reads its STATUS replies (long names).
    "slow-reader": NOLIMIT + b"".join(
        req(1, ACQ, 5 if i == 0 else i % 5, 7, 1, FOREVER, i)
        for i in range(5)) + b"".join(
        req(0, STATUS, 0, rid=i % 16) for i in range(200)) + cmd(READALL),
    # max_frame 64: the longest name does not fit.
    "max-frame": bytes([0, 1 << 6]) + holder_and_waiter() +
    req(2, ACQ, 5, 1, 1, FOREVER, 3) + cmd(READALL),
    "raw-requests": NOLIMIT + holder_and_waiter() +
    raw(2, frame(mp({"op": "ACQUIRE", "id": 9, "sem": "a", "weight": "x"}))) +
    raw(2, frame(mp({"op": "FROBNICATE", "id": 10}))) +
    raw(2, frame(mp({"op": "ACQUIRE", "id": 11, "sem": "b/c", "capacity": 3,
                     "timeout_ms": -1}))) +
    raw(2, frame(mp({"op": "RELEASE", "id": 2 ** 64 - 1, "sem": "bad name",
                     "x-future": [1, {"a": None}]}))) +
    raw(2, frame(mp({"op": "STATUS", "id": 12}))) + cmd(READALL),
    # ADMIN (v2): the fuzz clients are root, so every action runs.
    "admin": NOLIMIT + holder_and_waiter() +
    raw(2, frame(mp({"op": "ADMIN", "id": 1, "action": "list"}))) +
    raw(2, frame(mp({"op": "ADMIN", "id": 2, "action": "resize",
                     "sem": "a", "capacity": 3}))) +
    raw(2, frame(mp({"op": "ADMIN", "id": 3, "action": "resize",
                     "sem": "a", "capacity": 1}))) +
    raw(2, frame(mp({"op": "ADMIN", "id": 4, "action": "drain",
                     "sem": "a", "wait": True}))) +
    raw(3, frame(mp({"op": "ADMIN", "id": 5, "action": "revoke",
                     "sem": "a", "pid": 1}))) +
    raw(3, frame(mp({"op": "ADMIN", "id": 6, "action": "revoke",
                     "sem": "a", "token": 1}))) +
    cmd(READALL) + req(0, REL, 0, 0, 1, FOREVER, 3) +
    raw(2, frame(mp({"op": "ADMIN", "id": 7, "action": "undrain",
                     "sem": "a"}))) + cmd(READALL),
    "admin-bad": NOLIMIT + holder_and_waiter() +
    raw(2, frame(mp({"op": "ADMIN", "id": 1}))) +
    raw(2, frame(mp({"op": "ADMIN", "id": 2, "action": "explode"}))) +
    raw(2, frame(mp({"op": "ADMIN", "id": 3, "action": "resize",
                     "sem": "a"}))) +
    raw(2, frame(mp({"op": "ADMIN", "id": 4, "action": "revoke",
                     "sem": "a", "pid": 1, "token": 2}))) +
    raw(2, frame(mp({"op": "ADMIN", "id": 5, "action": "drain",
                     "sem": "nothere", "wait": 1}))) +
    raw(2, frame(mp({"op": "ADMIN", "id": 6, "action": "reload"}))) +
    raw(2, frame(mp({"op": "ADMIN", "id": 7, "action": "resize",
                     "sem": "a", "capacity": 0}))) + cmd(READALL),
    # drain --wait whose client leaves before the answer.
    "admin-wait-gone": NOLIMIT + holder_and_waiter() +
    raw(2, frame(mp({"op": "ADMIN", "id": 1, "action": "drain",
                     "sem": "a", "wait": True}))) + cmd(CLOSE, 2) +
    cmd(CLOSE, 0) + cmd(READALL) +
    raw(3, frame(mp({"op": "ADMIN", "id": 2, "action": "undrain",
                     "sem": "a"}))) + cmd(READALL),
    # Several semaphores at once: x/y against y/x, a name twice, too many,
    # sem beside sems, release by token (tokens start at 1).
    "multi": NOLIMIT + holder_and_waiter() +
    raw(2, frame(mp({"op": "ACQUIRE", "id": 1, "sems": [
        {"sem": "a"}, {"sem": "x", "capacity": 2, "weight": 2}]}))) +
    raw(3, frame(mp({"op": "ACQUIRE", "id": 1, "timeout_ms": 5, "sems": [
        {"sem": "x", "capacity": 2}, {"sem": "a", "capacity": 1}]}))) +
    raw(3, frame(mp({"op": "ACQUIRE", "id": 2, "sems": [
        {"sem": "y", "capacity": 1}, {"sem": "y", "capacity": 1}]}))) +
    raw(3, frame(mp({"op": "ACQUIRE", "id": 3, "sem": "a", "sems": [
        {"sem": "y", "capacity": 1}]}))) +
    raw(3, frame(mp({"op": "ACQUIRE", "id": 4, "sems": [
        {"sem": chr(97 + i)} for i in range(17)]}))) +
    raw(3, frame(mp({"op": "ACQUIRE", "id": 5, "sems": [7, []]}))) +
    cmd(READALL) + req(0, REL, 0, 0, 1, FOREVER, 3) + cmd(READALL) +
    raw(2, frame(mp({"op": "RELEASE", "id": 9, "token": 2}))) +
    raw(2, frame(mp({"op": "RELEASE", "id": 10, "token": 2, "sem": "a"}))) +
    raw(1, frame(mp({"op": "RELEASE", "id": 11, "token": 0}))) +
    cmd(TICK) + b"\x03" + cmd(READALL) + cmd(CLOSE, 2) + cmd(READALL),
    # Rates: a declaration, waiters woken by the clock, a mismatch, rate
    # only, bad rates and bursts.
    "rate": NOLIMIT +
    raw(0, frame(mp({"op": "ACQUIRE", "id": 1, "sem": "r", "capacity": 3,
                     "rate": 50.0, "burst": 2}))) +
    raw(1, frame(mp({"op": "ACQUIRE", "id": 1, "sem": "r", "rate": 50}))) +
    raw(2, frame(mp({"op": "ACQUIRE", "id": 1, "sem": "r"}))) +
    raw(3, frame(mp({"op": "ACQUIRE", "id": 1, "sem": "r",
                     "rate": 0.5}))) +
    raw(3, frame(mp({"op": "ACQUIRE", "id": 2, "sem": "q", "capacity": 0,
                     "rate": 1000, "weight": 9}))) +
    raw(3, frame(mp({"op": "ACQUIRE", "id": 3, "sem": "q", "capacity": 0}))) +
    raw(3, frame(mp({"op": "ACQUIRE", "id": 4, "sem": "s", "capacity": 1,
                     "rate": -1.0}))) +
    raw(3, frame(mp({"op": "ACQUIRE", "id": 5, "sem": "s", "capacity": 1,
                     "burst": 3}))) +
    raw(3, frame(mp({"op": "ACQUIRE", "id": 6, "sems": [
        {"sem": "r", "rate": 50, "burst": 2}, {"sem": "q"}]}))) +
    req(3, STATUS, 0x80, rid=7) + cmd(READALL) +
    cmd(TICK) + b"\x00" + cmd(READALL) + cmd(TICK) + b"\x00" +
    cmd(READALL) + cmd(TICK) + b"\x05" + cmd(READALL),
}

# Hostile frames: each one must drop only its sender.
hostile = {
    "len0": struct.pack(">I", 0),
    "array32": frame(b"\xdd\x7f\xff\xff\xff"),
    "map32": frame(b"\xdf\x7f\xff\xff\xff"),
    "str32": frame(b"\x81\xa1x\xdb\x7f\xff\xff\xff"),
    "nested": frame(b"\x91" * 99 + b"\x90"),
    "nested-maps": frame(b"\x81\xa1m" * 40 + b"\x80"),
    "trailing": frame(mp({"op": "HELLO", "id": 1, "version": 1}) + b"\xc0"),
    "int-key": frame(b"\x81\x01\x01"),
    "two-maps": frame(mp({"op": "HELLO", "id": 1}) * 2),
    "truncated": frame(b"\x82\xa2op\xa5HELLO"),
    "int-body": frame(b"\x05"),
}
for name, data in hostile.items():
    seeds["hostile-" + name] = (NOLIMIT + holder_and_waiter() +
                                raw(2, data) + cmd(READALL) +
                                req(0, REL, 0, 0, 1, FOREVER, 3) +
                                cmd(READALL))
seeds["hostile-len65537"] = (NOLIMIT + holder_and_waiter() + cmd(HDR, 2) +
                             bytes([0xfe, 0x01, 4]) + b"AAAA" + cmd(READALL))
seeds["hostile-len2g"] = (NOLIMIT + holder_and_waiter() + cmd(HDR, 2) +
                          bytes([0xff, 0x00, 3]) + b"\x81\xa2o" +
                          cmd(READALL))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
os.makedirs(out, exist_ok=True)
for name, data in sorted(seeds.items()):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print("%d seeds in %s" % (len(seeds), out))
