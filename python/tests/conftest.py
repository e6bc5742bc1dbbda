"""Fixtures: a real semd on a private socket, started and stopped by the
test.  The daemon binary is $SEMD_BIN (make check sets it to the build
tree's), else ../../_build/daemon/semd, else semd on $PATH."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PYDIR = HERE.parent
SRCDIR = Path(os.environ.get("SEMD_SRCDIR", PYDIR.parent))
sys.path.insert(0, str(PYDIR))


def _find(env: str, rel: str, name: str) -> str | None:
    v = os.environ.get(env)
    if v:
        return v
    cands = []
    b = os.environ.get("SEMD_BUILDDIR")
    if b:
        cands.append(Path(b) / rel)
    cands.append(PYDIR.parent / "_build" / rel)
    for c in cands:
        if c.exists():
            return str(c)
    return shutil.which(name)


SEMD_BIN = _find("SEMD_BIN", "daemon/semd", "semd")
BUILDDIR = os.environ.get("SEMD_BUILDDIR",
                          str(PYDIR.parent / "_build"))


def tool(name: str) -> str:
    """Path of a built tool (semrun, semdctl)."""
    p = Path(BUILDDIR) / "client" / name
    if p.exists():
        return str(p)
    w = shutil.which(name)
    if w is None:
        pytest.skip(f"{name} not built")
    return w


class Daemon:
    """A semd in the foreground on a temp socket."""

    def __init__(self, path: str, args: list[str] | None = None) -> None:
        self.path = path
        self.args = args or []
        self.proc: subprocess.Popen | None = None
        self.log = path + ".log"

    def start(self) -> "Daemon":
        assert SEMD_BIN, "no semd binary (set SEMD_BIN)"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [SEMD_BIN, "-f", "-S", self.path, *self.args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                break
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"semd exited: {self.logtext()}")
                if time.monotonic() > deadline:
                    raise RuntimeError("semd did not come up in 30 s")
                time.sleep(0.02)
            finally:
                s.close()
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def logtext(self) -> str:
        try:
            return Path(self.log).read_text(errors="replace")
        except OSError:
            return ""


@pytest.fixture
def tmpdir_short():
    d = tempfile.mkdtemp(prefix="semd-py-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def daemon(tmpdir_short):
    d = Daemon(os.path.join(tmpdir_short, "s.sock")).start()
    yield d
    d.stop()


@pytest.fixture
def sock(daemon):
    return daemon.path


def child_env() -> dict[str, str]:
    """Environment for child Python processes: this package first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PYDIR) + (
        ":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
