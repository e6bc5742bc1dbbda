"""python -m semd: the semdctl commands a Python install can offer.

    python3 -m semd [-S PATH] status [--json] [NAME]
    python3 -m semd [-S PATH] [-v] ping

The output is semdctl's, byte for byte (same table, same JSON).  Like
semdctl it never starts a daemon.  Exit status: 0 success, 64 usage
error, 69 no semd answering, 77 denied, 70 other failure.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import sys
from typing import Any, NoReturn

from . import _proto, _socket
from ._types import Status, status_from_reply
from .aio import __version__
from .errors import Denied, Error, Unreachable, from_reply

PROG = "python3 -m semd"
EX_USAGE, EX_SOFTWARE, EX_UNAVAILABLE, EX_NOPERM, EX_IOERR = 64, 70, 69, 77, 74
CMDLINE_MAX = 4096
CMDLINE_SHOW = 100

USAGE = f"""\
usage: {PROG} [-v] [-S PATH] COMMAND [ARGS]
Look at semd, the local semaphore daemon (as semdctl does).

Commands:
  status [--json] [NAME]  show capacity, holders and waiters of each
                          semaphore in use (or only NAME)
  ping                    check that semd answers (exit status 0)

Options:
  -S, --socket PATH  talk to the semd at PATH (default: $SEMD_SOCKET,
                     else the system daemon, else the per-user one)
  -v, --verbose      say more
  -h, --help         show this help and exit
  -V, --version      show the version and exit

Exit status: 0 success, 64 usage error, 69 no semd answering,
77 permission denied, 70 other failure.
"""


def _usage_error(msg: str) -> NoReturn:
    sys.stderr.write(f"{PROG}: {msg}\nTry '{PROG} --help' for more "
                     f"information.\n")
    sys.exit(EX_USAGE)


class _Blocking:
    """A plain blocking connection: one request, one reply."""

    def __init__(self, given: str | None) -> None:
        self.sock, self.path = _socket.connect(given, autostart=False)
        self.reader = _proto.FrameReader()
        self.queue: list[dict[str, Any]] = []
        self.next_id = 1

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        i = self.next_id
        self.next_id += 1
        self.sock.sendall(_proto.encode({"op": op, "id": i, **fields}))
        while True:
            while self.queue:
                m = self.queue.pop(0)
                if m.get("id") == i:
                    if m.get("op") == "ERROR":
                        raise from_reply(m)
                    return m
            data = self.sock.recv(65536)
            if not data:
                raise Unreachable(f"semd at {self.path} closed the "
                                  f"connection")
            self.queue.extend(self.reader.feed(data))

    def close(self) -> None:
        self.sock.close()


def _open(given: str | None) -> _Blocking:
    c = _Blocking(given)
    c.call("HELLO", version=_proto.PROTOCOL_VERSION, client="python")
    return c


def _user(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


_SHELL_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        b"0123456789_@%+=:,./-")


def shell_quote(argv: list[bytes], size: int = CMDLINE_MAX) -> bytes:
    """argv quoted as a POSIX shell would need, cut to fit size bytes
    with its NUL (whole words, then "..."): libsemd's
    semd_shell_quote()."""
    out = bytearray()
    for i, a in enumerate(argv):
        safe = bool(a) and all(c in _SHELL_SAFE for c in a)
        need = (i > 0) + (len(a) if safe else
                          2 + sum(4 if c == 0x27 else 1 for c in a))
        if len(out) + need + 4 > size:
            if len(out) + 4 <= size:
                out += b"..."
            return bytes(out)
        if i > 0:
            out += b" "
        if safe:
            out += a
        else:
            out += b"'" + a.replace(b"'", b"'\\''") + b"'"
    return bytes(out)


def _cmdline(p: Any) -> bytes | None:
    """What status shows as the command: the worker_cmd its HELLO gave,
    else /proc/PID/cmdline of the worker (or the connection's process),
    shell-quoted."""
    if p.worker_cmd:
        return p.worker_cmd.encode("utf-8", "surrogateescape")[
            :CMDLINE_MAX - 1]
    pid = p.worker_pid or p.pid
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            b = f.read(CMDLINE_MAX - 1)
    except OSError:
        return None
    b = b.rstrip(b"\0")
    if not b:
        return None
    return shell_quote(b.split(b"\0"))


def _duration(ms: int) -> str:
    s = ms // 1000
    if ms < 60000:
        return f"{s}.{(ms % 1000) // 100}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def _text(b: bytes, limit: int) -> str:
    out = []
    col = 0
    for c in b:
        if col >= limit:
            out.append("...")
            break
        if c < 0x20 or c >= 0x7f:
            out.append(f"\\{c:03o}")
            col += 4
        else:
            out.append(chr(c))
            col += 1
    return "".join(out)


def _party_line(p: Any, ms: int, tag: str) -> str:
    user = _user(p.uid) or str(p.uid)
    cmd = _cmdline(p)
    shown = "-" if cmd is None else _text(cmd, CMDLINE_SHOW)
    return (f"  {tag:<8} {p.worker_pid or p.pid:>8}  {user:<10} "
            f"{p.weight:>6}  {_duration(ms):>7}  {p.client or '-':<8}  "
            f"{shown}")


def format_table(st: Status, name: str | None) -> str:
    """The status table as semdctl prints it."""
    if not st.sems:
        return f"{name}: not in use\n" if name is not None else \
            "no semaphores in use\n"
    lines: list[str] = []
    for i, s in enumerate(st.sems):
        if i > 0:
            lines.append("")
        if s.capacity != 0:
            line = (f"{s.name}: capacity {s.capacity}, held {s.held}, "
                    f"waiting {s.waiting}")
        else:
            line = f"{s.name}: no capacity bound, held {s.held}, " \
                f"waiting {s.waiting}"
        if s.rate:
            line += (f", rate {'%g' % s.rate}/s burst {s.burst or 0}, "
                     f"next grant in {s.next_grant_ms} ms")
        lines.append(line + f"{', declared' if s.declared else ''}"
                     f"{', drained' if s.drained else ''}")
        if not s.holders and not s.waiters:
            continue
        lines.append(f"  {'':<8} {'PID':>8}  {'USER':<10} {'WEIGHT':>6}  "
                     f"{'FOR':>7}  {'CLIENT':<8}  COMMAND")
        for h in s.holders:
            lines.append(_party_line(h, h.held_ms, "holding"))
        for j, w in enumerate(s.waiters):
            lines.append(_party_line(w, w.waited_ms, f"wait #{j + 1}"))
    if st.truncated:
        lines.append("")
        lines.append("(semd shortened these lists to fit its reply)")
    return "\n".join(lines) + "\n"


def _jstr(s: str | bytes) -> str:
    """s as a JSON string, as semdctl writes it: bytes that are not UTF-8
    become \\ufffd escapes."""
    if isinstance(s, bytes):
        s = s.decode("utf-8", "surrogateescape")
    out = []
    for ch in s:
        o = ord(ch)
        if 0xdc80 <= o <= 0xdcff:
            out.append("\\ufffd")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or o == 0x7f:
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _jparties(v: list[Any], key: str) -> str:
    items = []
    for p in v:
        user = _user(p.uid)
        cmd = _cmdline(p)
        ms = getattr(p, key)
        items.append(
            f'{{"pid":{p.pid},"uid":{p.uid},"user":'
            f'{_jstr(user) if user is not None else "null"},'
            f'"weight":{p.weight},"{key}":{ms},"cmdline":'
            f'{_jstr(cmd) if cmd is not None else "null"},"worker_pid":'
            f'{p.worker_pid if p.worker_pid else "null"},"client":'
            f'{_jstr(p.client) if p.client else "null"}}}')
    return "[" + ",".join(items) + "]"


def format_json(st: Status) -> str:
    """The status as semdctl --json prints it (one line)."""
    sems = []
    for s in st.sems:
        rate = (f',"rate":{"%.17g" % s.rate},"burst":{s.burst or 0},'
                f'"next_grant_ms":{s.next_grant_ms}' if s.rate else "")
        sems.append(f'{{"name":{_jstr(s.name)},"capacity":{s.capacity},'
                    f'"held":{s.held},"waiting":{s.waiting}{rate},"holders":'
                    f'{_jparties(s.holders, "held_ms")},"waiters":'
                    f'{_jparties(s.waiters, "waited_ms")},"declared":'
                    f'{"true" if s.declared else "false"},"drained":'
                    f'{"true" if s.drained else "false"}}}')
    return (f'{{"sems":[{",".join(sems)}],"truncated":'
            f'{"true" if st.truncated else "false"}}}\n')


def _fail(e: Error, path: str) -> int:
    if isinstance(e, Unreachable):
        err = getattr(e, "errno", None)
        why = f" ({os.strerror(err)})" if err else ""
        sys.stderr.write(f"{PROG}: no semd running at {path}{why}\n")
        return EX_UNAVAILABLE
    sys.stderr.write(f"{PROG}: {e}\n")
    return EX_NOPERM if isinstance(e, Denied) else EX_SOFTWARE


def _path_for_messages(given: str | None) -> str:
    try:
        return _socket.resolve(given)[0]
    except Error:
        return "the default socket"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, add_help=False)
    p.add_argument("-S", "--socket")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("-V", "--version", action="store_true")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.error = _usage_error  # type: ignore[method-assign]
    a = p.parse_args(argv)
    if a.help:
        sys.stdout.write(USAGE)
        return 0
    if a.version:
        print(f"semd (Python) {__version__}")
        return 0
    if a.socket == "":
        _usage_error("empty socket path")
    if not a.rest:
        _usage_error("missing command (status or ping)")
    cmd, args = a.rest[0], a.rest[1:]
    if cmd == "help":
        sys.stdout.write(USAGE)
        return 0
    if cmd not in ("status", "ping"):
        _usage_error(f"unknown command '{cmd}'")
    name = None
    as_json = False
    if cmd == "status":
        opts = True
        for w in args:
            if opts and w == "--":
                opts = False
            elif opts and w in ("--json", "-j"):
                as_json = True
            elif opts and w.startswith("-") and w != "-":
                _usage_error(f"status: unknown option '{w}'")
            elif name is not None:
                _usage_error(f"status: only one NAME, please ('{name}' and "
                             f"'{w}')")
            else:
                name = w
        if name == "":
            _usage_error("status: empty NAME")
    elif args:
        _usage_error(f"ping: unexpected argument '{args[0]}'")

    path = a.socket if a.socket is not None else _path_for_messages(None)
    try:
        c = _open(a.socket)
    except Error as e:
        return _fail(e, path)
    try:
        if cmd == "ping":
            if a.verbose:
                print(f"semd at {c.path} is alive")
            return 0
        reply = c.call("STATUS", **({"sem": name} if name else {}))
        st = status_from_reply(reply)
    except Error as e:
        return _fail(e, c.path)
    except (OSError, ValueError) as e:
        sys.stderr.write(f"{PROG}: {e}\n")
        return EX_SOFTWARE
    finally:
        c.close()
    try:
        sys.stdout.write(format_json(st) if as_json
                         else format_table(st, name))
        sys.stdout.flush()
    except OSError as e:
        sys.stderr.write(f"{PROG}: write error: {e.strerror}\n")
        return EX_IOERR
    return 0


if __name__ == "__main__":
    sys.exit(main())
