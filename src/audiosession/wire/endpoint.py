"""Where the daemon listens and which protocol it speaks: what both ends need before the first
message, and all that ``audiosession notify``'s short way needs of the wire (docs/cli.md).
Only ``os`` and ``stat`` are imported, so that a short-lived command pays for nothing else.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (slow to import)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Final

__all__ = [
    "PROTOCOL_VERSION",
    "SOCKET_ENV",
    "default_socket_path",
    "directory_problem",
    "socket_problem",
]

PROTOCOL_VERSION: Final = 1
"""The version a client names in its ``hello``; the daemon speaks exactly this one."""

SOCKET_ENV: Final = "AUDIOSESSION_DAEMON_SOCKET"
"""Environment variable naming the socket (for both ends) instead of the default path."""


def default_socket_path(environ: Mapping[str, str] | None = None) -> str:
    """``$AUDIOSESSION_DAEMON_SOCKET`` if set, else
    ``$XDG_RUNTIME_DIR/audiosession/daemon.sock``, else
    ``$TMPDIR/audiosession-<uid>/daemon.sock`` with ``/tmp`` if ``TMPDIR`` is unset
    (XDG_RUNTIME_DIR unset, as under some ``su`` or cron sessions)."""
    env = os.environ if environ is None else environ
    explicit = env.get(SOCKET_ENV)
    if explicit:
        return os.path.expanduser(explicit)
    runtime = env.get("XDG_RUNTIME_DIR") or ""
    if runtime and os.path.isabs(runtime):
        return os.path.join(runtime, "audiosession", "daemon.sock")
    temporary = env.get("TMPDIR") or ""
    base = temporary if os.path.isabs(temporary) else "/tmp"
    return os.path.join(base, f"audiosession-{os.getuid()}", "daemon.sock")


def directory_problem(directory: str | os.PathLike[str]) -> str | None:
    """Why another user could have put a socket in ``directory`` or could swap ours, or None:
    it must belong to this user (or root) and be writable by nobody else, unless it is
    sticky like ``/tmp`` (where others can add entries but not replace ours)."""
    uid = os.getuid()
    try:
        info = os.stat(directory)
    except PermissionError:
        return f"its directory {directory} cannot be read by you (uid {uid})"
    if info.st_uid not in (uid, 0):
        return f"its directory {directory} belongs to uid {info.st_uid}, not to you (uid {uid})"
    if info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
        return (
            f"other users may write to its directory {directory} (mode "
            f"{stat.S_IMODE(info.st_mode):o})"
        )
    return None


def socket_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the socket at ``path`` may not be this user's daemon's, or None: its directory
    passes ``directory_problem`` and it is a socket of this user. (What finally decides is
    the listening process's uid, ``peer_credentials``, once connected.)"""
    problem = directory_problem(os.path.dirname(os.fspath(path)) or ".")
    if problem is not None:
        return problem
    uid = os.getuid()
    info = os.lstat(path)
    if not stat.S_ISSOCK(info.st_mode):
        return f"{path} is not a socket"
    if info.st_uid != uid:
        return f"the socket belongs to uid {info.st_uid}, not to you (uid {uid})"
    return None
