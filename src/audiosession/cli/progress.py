"""The progress line the players print (light: the fast ``notify`` path uses it too)."""

from __future__ import annotations

import math
import sys

HELD = "  (held by the platform: resumes when allowed)"


class ProgressLine:
    """One status line: rewritten in place on a terminal, a new line per change otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.last = ""

    def show(self, text: str, key: str) -> None:
        if self.tty:
            sys.stdout.write("\r\x1b[K" + text)
            sys.stdout.flush()
        elif key != self.last:
            print(text, flush=True)
        self.last = key

    def end(self) -> None:
        if self.tty and self.last:
            sys.stdout.write("\n")
            sys.stdout.flush()
        self.last = ""


def clock(seconds: float) -> str:
    """``m:ss.s``; ``--:--`` for an unknown (infinite or NaN) time."""
    if not math.isfinite(seconds):
        return "--:--"
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def player_line(
    title: str, position: float, duration: float, playing: str, state: str, session_type: str
) -> str:
    """What a player shows: the file, where it is, whether it plays, and its session."""
    return (
        f"{title}  {clock(position)} / {clock(duration)}  {playing}  "
        f"session {state} ({session_type}){HELD if state == 'interrupted' else ''}"
    )
