"""Where the daemon listens: its socket's directory checked, its single-instance lock file taken
and its 0600 socket bound, each refusing what another user could have planted there
(docs/protocol.md, "Where, and who may connect")."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import stat
from pathlib import Path

from audiosession.errors import AudioSessionError
from audiosession.wire.endpoint import directory_problem

__all__ = ["DaemonStartError", "bind_socket", "check_socket_directory", "take_lock"]


class DaemonStartError(AudioSessionError, RuntimeError):
    """The daemon cannot start: another one runs, or its socket directory is not private."""


def check_socket_directory(socket_path: Path, *, private: bool) -> None:
    """The directory of ``socket_path`` may hold the daemon's socket: with ``private`` (the
    default location) it exists, is ours and is 0700 (created so if missing); otherwise it
    must exist and be one nobody else could replace the socket in."""
    directory = socket_path.parent
    if private:
        _make_private_dir(directory)
    elif not directory.is_dir():
        raise DaemonStartError(f"cannot listen on {socket_path}: no directory {directory}")
    else:
        problem = directory_problem(directory)
        if problem is not None:
            raise DaemonStartError(
                f"cannot listen on {socket_path}: {problem}; use a directory of your own"
            )


def take_lock(socket_path: Path) -> int:
    """Lock ``<socket>.lock`` for this daemon (one daemon per socket) and write our pid in
    it; returns its descriptor, to be closed when the daemon stops."""
    lock_path = socket_path.with_name(socket_path.name + ".lock")
    fd = _open_own_file(lock_path, "the lock file")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise DaemonStartError(
            f"another audiosession daemon (pid {other}) is already serving "
            f"{socket_path}; stop it first (systemctl --user stop audiosession)"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def bind_socket(path: Path, backlog: int) -> socket.socket:
    """A non-blocking listening Unix socket at ``path``, created 0600 (we hold the lock, so
    a socket already there is a stale one: it is replaced), on which ``backlog`` connections
    may wait to be accepted (the kernel caps it at ``net.core.somaxconn``)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a stale socket: we hold the lock, so nobody serves it
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o177)
    try:
        sock.bind(os.fspath(path))
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old_mask)
    # Created 0600 by the umask. No chmod by path: in a directory others may write, the
    # path could be another file by now.
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def _open_own_file(path: Path, what: str) -> int:
    """Open (or create, 0600) ``path`` for reading and writing without following a symbolic
    link, and only if it is a regular file of this user with no other name: a file another
    user planted there (a link to a file of ours, say) is refused, never written."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as error:
        # ELOOP, or EACCES where the kernel protects links in sticky directories
        if error.errno == errno.ELOOP or os.path.islink(path):
            raise DaemonStartError(
                f"{what} {path} is a symbolic link; refusing to follow it (another user may "
                "have put it there to have this daemon overwrite a file). Remove it, or keep "
                "the socket in a directory of your own"
            ) from None
        raise DaemonStartError(f"cannot open {what} {path} ({error.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_nlink != 1:
        os.close(fd)
        raise DaemonStartError(
            f"{what} {path} is not a file of yours alone (uid {info.st_uid}, "
            f"{info.st_nlink} link(s)); remove it, or keep the socket in a directory of your "
            "own"
        )
    return fd


def _make_private_dir(directory: Path) -> None:
    """``directory`` exists, is ours and is 0700 (created so if missing)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise DaemonStartError(
            f"{directory} must be a directory owned by uid {os.getuid()} (it is "
            f"{'a directory' if stat.S_ISDIR(info.st_mode) else 'not a directory'} of uid "
            f"{info.st_uid}); remove it or set XDG_RUNTIME_DIR"
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(directory, 0o700)
