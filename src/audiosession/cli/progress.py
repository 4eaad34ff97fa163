"""The progress line the players print (light: the fast ``notify`` path uses it too)."""

from __future__ import annotations

import math
import os
import sys

HELD = "  (held by the platform: resumes when allowed)"
PAUSED_BY_USER = "  (paused from the media keys: the play key plays on)"


class ProgressLine:
    """One status line: rewritten in place on a terminal, a new line per change otherwise.

    Nobody to read it (``| head -1`` went away, or no standard output at all) is no reason
    to stop the sound: the line is then no longer written, and nothing is said about it."""

    def __init__(self) -> None:
        self.tty = sys.stdout is not None and sys.stdout.isatty()
        self.last = ""
        self.unread = sys.stdout is None

    def show(self, text: str, key: str) -> None:
        if self.tty:
            self._write("\r\x1b[K" + text)
        elif key != self.last:
            self._write(text + "\n")
        self.last = key

    def end(self) -> None:
        if self.tty and self.last:
            self._write("\n")
        self.last = ""

    def _write(self, text: str) -> None:
        if self.unread:
            return
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            self.unread = True
            # What is still buffered goes nowhere, also at exit (as Python's documentation
            # of SIGPIPE advises), so that no "Exception ignored" follows the sound.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


def clock(seconds: float) -> str:
    """``m:ss.s``; ``--:--`` for an unknown (infinite or NaN) time."""
    if not math.isfinite(seconds):
        return "--:--"
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def player_line(
    title: str,
    position: float,
    duration: float,
    playing: str,
    state: str,
    session_type: str,
    *,
    paused_by_user: bool = False,
) -> str:
    """What a player shows: the file, where it is, whether it plays, and its session; and
    who holds it: the user (a media key) or the platform (an interruption)."""
    held = PAUSED_BY_USER if paused_by_user else HELD if state == "interrupted" else ""
    return (
        f"{title}  {clock(position)} / {clock(duration)}  {playing}  "
        f"session {state} ({session_type}){held}"
    )
