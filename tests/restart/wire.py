"""wire.py -- a minimal semd client for the restart tests: frames,
requests, replies.  Deliberately independent of libsemd, so that the
tests can send what libsemd never would (forged and replayed tokens)."""

import socket
import struct
import time

import msgpack


class Conn:
    """One connection to semd at path."""

    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 0

    def close(self):
        self.sock.close()

    def send(self, op, **fields):
        """Send one request; return its id."""
        self.next_id += 1
        m = {"op": op, "id": self.next_id}
        m.update(fields)
        body = msgpack.packb(m)
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        return self.next_id

    def recv(self):
        """Read one reply (a dict); EOFError when the daemon closed."""
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    body = self.buf[4:4 + n]
                    self.buf = self.buf[4 + n:]
                    return msgpack.unpackb(body, raw=False)
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("semd closed the connection")
            self.buf += data

    def call(self, op, **fields):
        """Send a request and return its final reply (QUEUED skipped)."""
        rid = self.send(op, **fields)
        while True:
            r = self.recv()
            if r.get("id") == rid and r.get("op") != "QUEUED":
                return r


def connect_retry(path, deadline_s=30.0):
    """Connect, retrying while nothing listens yet."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            return Conn(path)
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.02)
