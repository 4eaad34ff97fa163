"""Who is at the other end of a Unix socket: the peer's pid, uid and gid, on Linux and macOS.

- Linux: ``getsockopt(SOL_SOCKET, SO_PEERCRED)`` fills a ``struct ucred { pid_t pid; uid_t
  uid; gid_t gid; }`` (socket(7), unix(7)): the credentials the peer had when it connected.
- macOS (and the BSDs' layout of it): ``getsockopt(SOL_LOCAL, LOCAL_PEERCRED)`` fills a
  ``struct xucred { u_int cr_version; uid_t cr_uid; short cr_ngroups; gid_t cr_groups[16]; }``
  (<sys/ucred.h>, ``cr_version`` is ``XUCRED_VERSION`` 0; ``cr_groups[0]`` is the effective
  gid), and ``LOCAL_PEERPID`` the peer's pid (<sys/un.h>, macOS 10.8 and later). ``SOL_LOCAL``
  is 0 there. This path is checked against those headers and unix(4), not run on the project's
  Linux machines.

Windows has no peer credentials for the sockets Python offers there: the daemon does not run
on Windows, and programs use embedded mode (docs/protocol.md).
"""

from __future__ import annotations

import socket
import struct
import sys
from typing import NamedTuple

__all__ = ["PeerCredentials", "peer_credentials"]

_UCRED = struct.Struct("=iII")  # Linux struct ucred: pid_t, uid_t, gid_t
_XUCRED = struct.Struct("=IIh2x16I")  # macOS struct xucred: 4 + 4 + 2 (+2 padding) + 16 * 4
_XUCRED_VERSION = 0
_SOL_LOCAL = 0  # <sys/un.h>
_LOCAL_PEERCRED = 0x001
_LOCAL_PEERPID = 0x002
_PID_SIZE = struct.calcsize("=i")


class PeerCredentials(NamedTuple):
    """The peer process of a Unix socket connection."""

    pid: int
    uid: int
    gid: int


def peer_credentials(sock: socket.socket) -> PeerCredentials:
    """``(pid, uid, gid)`` of the process at the other end of the connected Unix socket
    ``sock``; ``OSError`` where the system cannot tell."""
    if sys.platform.startswith("linux"):
        data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        return PeerCredentials(*_UCRED.unpack(data))
    if sys.platform == "darwin":
        return _darwin_peer_credentials(sock)
    raise OSError(
        f"peer credentials of a Unix socket are not supported on {sys.platform!r}; "
        "the audiosession daemon runs on Linux and macOS"
    )


def _darwin_peer_credentials(sock: socket.socket) -> PeerCredentials:
    """macOS: ``LOCAL_PEERCRED`` for uid and gid, ``LOCAL_PEERPID`` for the pid."""
    data = sock.getsockopt(_SOL_LOCAL, _LOCAL_PEERCRED, _XUCRED.size)
    version, uid, groups, *gids = _XUCRED.unpack(data)
    if version != _XUCRED_VERSION or groups < 1:
        raise OSError(f"unexpected struct xucred (version {version}, {groups} groups)")
    pid_data = sock.getsockopt(_SOL_LOCAL, _LOCAL_PEERPID, _PID_SIZE)
    (pid,) = struct.unpack("=i", pid_data)
    return PeerCredentials(pid, uid, gids[0])
