"""Which platform a process uses: the system daemon where one runs, else the embedded one.

``AUDIOSESSION_DAEMON`` says how to choose:

- ``auto`` (the default): use the daemon if its socket answers, else decide in this process
  (embedded mode) and say so in one log line;
- ``required``: use the daemon; fail with ``DaemonUnavailableError`` (naming the socket and how to
  start a daemon) if none answers;
- ``off``: embedded mode, without looking for a daemon.

On Windows there is no daemon (it needs Unix sockets with peer credentials): every program
decides for itself, and one log line says so (``required`` fails).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from audiosession.loop import TaskLoop
from audiosession.platforms.base import Platform
from audiosession.platforms.daemon_client import DaemonClientPlatform
from audiosession.platforms.daemon_connection import (
    DaemonConnection,
    DaemonUnavailableError,
    UntrustedDaemonError,
)
from audiosession.platforms.embedded import EmbeddedPlatform
from audiosession.wire.endpoint import default_socket_path

log = logging.getLogger(__name__)

DAEMON_ENV = "AUDIOSESSION_DAEMON"
"""Environment variable: ``off``, ``auto`` or ``required``."""

DAEMON_MODES = ("off", "auto", "required")


def daemon_mode(environ: Mapping[str, str] | None = None) -> str:
    """The value of ``AUDIOSESSION_DAEMON`` (``auto`` if unset or empty); a ValueError names
    the wrong value and the three right ones."""
    env = os.environ if environ is None else environ
    mode = (env.get(DAEMON_ENV) or "auto").strip().lower()
    if mode not in DAEMON_MODES:
        raise ValueError(
            f"{DAEMON_ENV}={env.get(DAEMON_ENV)!r} is not a valid value; use off, auto or required"
        )
    return mode


def default_platform_factory(loop: TaskLoop) -> Platform:
    """The platform for this process's runtime: the daemon's client if one answers (and
    ``AUDIOSESSION_DAEMON`` is not ``off``), else the embedded platform."""
    mode = daemon_mode()
    if mode == "off":
        return EmbeddedPlatform(loop)
    if sys.platform == "win32":
        if mode == "required":
            raise DaemonUnavailableError(
                f"{DAEMON_ENV}=required, but the audiosession daemon does "
                "not run on Windows; set it to auto or off"
            )
        log.info(
            "Windows: no audiosession daemon (it needs Unix sockets with peer "
            "credentials); this process decides for itself (embedded mode)"
        )
        return EmbeddedPlatform(loop)
    path = Path(default_socket_path())
    try:
        connection = DaemonConnection.open(path)
    except DaemonUnavailableError as error:
        if mode == "required":
            raise DaemonUnavailableError(
                f"{DAEMON_ENV}=required, but {error}; start one with `audiosession daemon` "
                "(or `systemctl --user start audiosession`), or set "
                f"{DAEMON_ENV}=auto to run without it"
            ) from None
        if isinstance(error, UntrustedDaemonError):  # someone else's: worth more than a note
            log.warning("%s; this process decides for itself (embedded mode)", error)
        else:
            log.info(
                "no audiosession daemon (%s): this process decides for itself (embedded mode)",
                error,
            )
        return EmbeddedPlatform(loop)
    log.info("using the audiosession daemon at %s (client %s)", path, connection.client_id)
    return DaemonClientPlatform(loop, connection, socket_path=path)
