"""Which daemon a caller reaches, and starting one (DESIGN.md, "One
limiter per caller").

The same rules as libsemd's (proto/sockpath.c, client/autostart.c), in
the same order (proto/sockpath.c):

1. the ``socket`` argument, else ``$SEMD_SOCKET`` (not empty);
2. the system daemon, ``/run/semd/semd.sock``, when that file is a socket
   (not a symlink) that accepts a connection;
3. the per-user daemon, ``/tmp/semd-EUID/semd.sock``: one path per
   effective uid whatever the environment.  Its directory is created 0700
   and refused when it is not a directory of ours that only we may write.
   Only here, when nothing listens, a daemon is started (unless
   ``$SEMD_NO_AUTOSTART`` is set, not empty and not ``0``): under an
   exclusive flock on ``semd.lock`` in that directory, try once more,
   then run ``semd -S PATH --idle-exit 60`` (``$SEMD_BIN``, else ``semd``
   on ``$PATH``, else the installed one) and connect, retrying for up to
   5 s.  So a Python client, semrun and libsemd starting at once start
   one daemon between them.

Everything here blocks; the asyncio client runs it in an executor.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
import subprocess
import time

from . import _config
from .errors import Error, Unreachable

SYSTEM_SOCKET = "/run/semd/semd.sock"
USER_PREFIX = "/tmp/semd-"
SOCKET_NAME = "semd.sock"
LOCK_NAME = "semd.lock"
IDLE_EXIT = "60"
START_WAIT = 5.0
_SUN_PATH_MAX = 108

GIVEN, ENV, SYSTEM, USER = "given", "env", "system", "user"


def user_dir(uid: int | None = None) -> str:
    """The per-user daemon's directory for uid (default: the effective
    uid)."""
    return f"{USER_PREFIX}{os.geteuid() if uid is None else uid}"


def _check_path(path: str, where: str) -> str:
    if not path:
        raise Error(f"empty socket path{where}")
    if len(os.fsencode(path)) >= _SUN_PATH_MAX:
        raise Error(f"socket path too long ({len(os.fsencode(path))} "
                    f"bytes, at most {_SUN_PATH_MAX - 1}){where}: {path}")
    return path


def _check_dir(d: str) -> None:
    """Create d 0700 if missing; refuse it unless it is a real directory
    of ours that others cannot write to."""
    old = os.umask(0)
    try:
        os.mkdir(d, 0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise Unreachable(f"cannot create the directory {d}: "
                          f"{e.strerror}") from None
    finally:
        os.umask(old)
    try:
        st = os.lstat(d)
    except OSError as e:
        raise Unreachable(f"cannot use the directory {d}: "
                          f"{e.strerror}") from None
    uid = os.geteuid()
    if not stat.S_ISDIR(st.st_mode):
        raise Unreachable(f"refusing the directory {d}: not a directory "
                          f"(remove it, or set SEMD_SOCKET)")
    if st.st_uid != uid:
        raise Unreachable(f"refusing the directory {d}: owned by uid "
                          f"{st.st_uid}, not {uid} (remove it, or set "
                          f"SEMD_SOCKET)")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise Unreachable(f"refusing the directory {d}: mode "
                          f"{stat.S_IMODE(st.st_mode):04o} lets others "
                          f"write to it (chmod 700 {d})")


def _try(path: str) -> socket.socket:
    """Connect to path once: a blocking connect, close-on-exec, and never
    on fds 0-2 (a process started with stdio closed must not get its
    connection where its output goes)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if s.fileno() <= 2:
        fd = fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, 3)
        s.close()
        s = socket.socket(fileno=fd)
    try:
        while True:
            try:
                s.connect(path)
                return s
            except InterruptedError:
                continue
    except BaseException:
        s.close()
        raise


def _system() -> socket.socket | None:
    """A connection to the system daemon, or None when there is no socket
    there or it does not accept."""
    try:
        if not stat.S_ISSOCK(os.lstat(SYSTEM_SOCKET).st_mode):
            return None
        return _try(SYSTEM_SOCKET)
    except OSError:
        return None


def resolve(given: str | None = None) -> tuple[str, str]:
    """Where a caller with this ``socket`` argument goes: (path, kind),
    kind one of "given", "env", "system", "user".  Does not connect,
    except to find out whether the system daemon accepts; creates and
    checks the per-user directory."""
    if given is not None:
        return _check_path(given, ""), GIVEN
    env = os.environ.get("SEMD_SOCKET")
    if env:
        return _check_path(env, " (from SEMD_SOCKET)"), ENV
    s = _system()
    if s is not None:
        s.close()
        return SYSTEM_SOCKET, SYSTEM
    d = user_dir()
    _check_dir(d)
    return _check_path(os.path.join(d, SOCKET_NAME), ""), USER


def _no_autostart() -> bool:
    v = os.environ.get("SEMD_NO_AUTOSTART")
    return bool(v) and v != "0"


def find_semd() -> str:
    """The daemon binary auto-start runs: $SEMD_BIN, else semd on $PATH
    (absolute entries only), else the installed one."""
    env = os.environ.get("SEMD_BIN")
    if env:
        return env if env.startswith("/") else os.path.join(os.getcwd(), env)
    for d in os.environ.get("PATH", "").split(":"):
        if not d.startswith("/"):
            continue
        cand = os.path.join(d, "semd")
        try:
            if stat.S_ISREG(os.stat(cand).st_mode) and \
                    os.access(cand, os.X_OK):
                return cand
        except OSError:
            continue
    return os.path.join(_config.SBINDIR, "semd")


def _unreachable(path: str, kind: str, e: OSError) -> Unreachable:
    code = e.errno
    if code in (errno.ENOENT, errno.ECONNREFUSED):
        hint = ("is it running? try: semd" if kind == USER
                else f"is it running? try: semd -S {path}")
    elif code in (errno.EACCES, errno.EPERM):
        hint = "check the permissions of the socket and its directory"
    elif code == errno.EAGAIN:
        hint = "the daemon is overloaded; try again"
    else:
        hint = None
    msg = f"cannot reach semd at {path}: {os.strerror(code or 0)}"
    if hint:
        msg += f" ({hint})"
    err = Unreachable(msg)
    err.errno = code  # type: ignore[attr-defined]
    return err


def _spawn(binary: str, path: str) -> int:
    """Run `semd -S path --idle-exit 60` detached; wait for its parent,
    which exits 0 once the socket listens.  Returns that exit status."""
    try:
        p = subprocess.Popen(
            ["semd", "-S", path, "--idle-exit", IDLE_EXIT],
            executable=binary, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=True, start_new_session=True, cwd="/",
            restore_signals=True)
    except OSError as e:
        raise Unreachable(f"cannot start semd: cannot run {binary}: "
                          f"{e.strerror} (install semd, or set SEMD_BIN "
                          f"to its path)") from None
    rc = p.wait()
    return rc if rc >= 0 else 128 - rc


def _retry(path: str, wait: float) -> socket.socket:
    deadline = time.monotonic() + wait
    while True:
        try:
            return _try(path)
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ECONNREFUSED) or \
                    time.monotonic() >= deadline:
                raise
        time.sleep(0.01)


def connect(given: str | None = None, autostart: bool = True
            ) -> tuple[socket.socket, str]:
    """Connect to the daemon this caller uses; start the per-user one if
    it is the one and nothing listens.  Returns (connected blocking
    socket, path).  Raises Unreachable (or Error for a bad path)."""
    if given is not None:
        path, kind = _check_path(given, ""), GIVEN
    elif os.environ.get("SEMD_SOCKET"):
        path, kind = _check_path(os.environ["SEMD_SOCKET"],
                                 " (from SEMD_SOCKET)"), ENV
    else:
        s = _system()
        if s is not None:
            return s, SYSTEM_SOCKET
        d = user_dir()
        _check_dir(d)
        path, kind = _check_path(os.path.join(d, SOCKET_NAME), ""), USER
    try:
        return _try(path), path
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.ECONNREFUSED) or \
                kind != USER or not autostart or _no_autostart():
            raise _unreachable(path, kind, e) from None

    lockpath = os.path.join(os.path.dirname(path), LOCK_NAME)
    try:
        lockfd = os.open(lockpath, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC |
                         os.O_NOFOLLOW, 0o600)
    except OSError as e:
        raise Unreachable(f"cannot start semd: cannot open the lock "
                          f"{lockpath}: {e.strerror}") from None
    try:
        try:
            fcntl.flock(lockfd, fcntl.LOCK_EX)
        except OSError as e:
            raise Unreachable(f"cannot start semd: cannot lock {lockpath}: "
                              f"{e.strerror}") from None
        # Another client may have started it while we waited.
        try:
            return _try(path), path
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ECONNREFUSED):
                raise _unreachable(path, kind, e) from None
        binary = find_semd()
        status = _spawn(binary, path)
        # Keep the lock until connected: the others wait, then connect.
        try:
            return _retry(path, START_WAIT if status == 0 else 0), path
        except OSError as e:
            if status > 0:
                raise Unreachable(
                    f"cannot start semd: {binary} exited with status "
                    f"{status} (run `{binary} -f -S {path}` to see "
                    f"why)") from None
            raise Unreachable(f"started {binary} but cannot reach it at "
                              f"{path}: {e.strerror}") from None
    finally:
        os.close(lockfd)
