"""The bridge's journal: each volume or mute it changes, saved before it is changed and dropped
once restored, so that a daemon killed mid-duck gives the streams back at its next start."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from audiosession.engine.backends.pulse.foreign import ForeignStream
from audiosession.errors import AudioSessionError

log = logging.getLogger(__name__)

__all__ = ["Journal", "JournalError"]


class JournalError(AudioSessionError, OSError):
    """The journal cannot be written: the bridge turns itself off rather than change volumes
    it could not give back after a ``kill -9``."""


class Journal:
    """The file ``path`` (``volumes.json`` next to the daemon's socket) for server ``server``."""

    def __init__(self, path: str | os.PathLike[str], server: str | None) -> None:
        self.path = Path(path)
        self.server = server

    def save(self, streams: Iterable[ForeignStream]) -> None:
        """Save what the bridge changed of ``streams`` (none: remove the file);
        ``JournalError`` if it cannot."""
        try:
            self._replace(streams)
        except OSError as error:
            raise JournalError(
                f"cannot write its journal {self.path} ({error.strerror or error})"
            ) from None

    def _replace(self, streams: Iterable[ForeignStream]) -> None:
        entries = {
            str(s.index): {
                "pid": s.pid,
                "program": s.program,
                "original": s.original,
                "ducked_to": s.ducked_to,
                "muted": s.we_muted,
            }
            for s in streams
            if s.original is not None or s.we_muted
        }
        path = self.path
        if not entries:
            self.forget()
            return
        data = json.dumps({"server": self.server, "streams": entries}, indent=1)
        # Written before the server is changed; replaced atomically. No fsync: it must outlive
        # the daemon (kill -9), not the machine — the streams do not outlive a reboot either.
        # The temporary file gets a new name of its own (mkstemp: O_EXCL, 0600), so that
        # nothing another user put next to the socket is followed or written.
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def load(self) -> dict[str, Any] | None:
        """The streams a previous daemon saved for this server (stream index -> entry), or
        None: no journal, an unreadable one, or one of another server (said in the log)."""
        path = self.path
        try:
            saved = json.loads(_read_own_file(path))
            streams = saved["streams"]
            if not isinstance(streams, dict):
                raise ValueError(f"streams must be an object, not {streams!r}")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("PulseAudio bridge: ignoring the unreadable journal %s (%s)", path, error)
            return None
        if saved.get("server") != self.server:
            log.warning(
                "PulseAudio bridge: the journal %s is for server %r, not %r; ignoring it",
                path,
                saved.get("server"),
                self.server,
            )
            return None
        return streams

    def forget(self) -> None:
        """Remove the file."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _read_own_file(path: Path) -> str:
    """The text of ``path``, never through a symbolic link (``OSError`` ELOOP for one)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, encoding="utf-8") as file:
        return file.read()
