"""What every command shares: one-line errors, the terminal printer, device and cause wording."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import audiosession
from audiosession import Platform, SessionInfo
from audiosession.engine.backend import DeviceInfo
from audiosession.errors import AudioSessionError

STATE_STYLES = {
    "active": "bold green",
    "interrupted": "bold yellow",
    "inactive": "dim",
}


class CommandError(AudioSessionError):
    """A mistake the user can fix (bad file, type, device id, existing output): printed as one
    line on stderr, exit status 2, no traceback."""


def open_platform(*, audio: bool) -> Platform:
    """The process's platform, with the mistakes in its environment as ``CommandError``s (one
    line, exit status 2): an unknown ``AUDIOSESSION_BACKEND`` or ``AUDIOSESSION_DAEMON``, a
    daemon that is required but does not answer or cannot be trusted. ``audio``: also open
    the sound device (the backend is chosen then), as every command that plays does."""
    from audiosession.platforms.daemon_connection import DaemonUnavailableError

    try:
        platform = audiosession.platform()
        if audio:
            platform.devices()
    except (ValueError, DaemonUnavailableError) as error:
        raise CommandError(str(error)) from None
    return platform


def is_null_sink(devices: Sequence[DeviceInfo]) -> bool:
    """Whether the engine fell back to the null sink: there is no sound device to play on."""
    outputs = [d for d in devices if d.kind == "audiooutput"]
    return not outputs or all(d.id == "null" for d in outputs)


def label_causes(causes: Iterable[str], labels: Mapping[str, str]) -> str:
    """The policy's causes ("ducked by music.py (pid 7), window-2"), owners replaced by labels."""
    words = []
    for cause in causes:
        for owner, label in labels.items():
            cause = cause.replace(owner, label)
        words.append(cause)
    return "; ".join(words)


def format_db(value: float) -> str:
    return "  -inf dB" if not math.isfinite(value) else f"{value:6.1f} dB"


def table_console() -> Any:
    """A rich console for tables whose values must never be cut (a device id to give
    ``--device``, an owner): a terminal's width there, else (a pipe, a file) the table's own;
    ``fit_whole`` widens it for a table that a narrow terminal would cut."""
    from rich.console import Console

    terminal = sys.stdout.isatty()
    return Console(highlight=False, soft_wrap=not terminal, width=None if terminal else 10_000)


def fit_whole(console: Any, renderable: Any) -> Any:
    """``renderable``, after widening ``console`` to the least width at which none of its whole
    columns is cut (a narrower terminal then wraps the lines rather than rich cutting ids)."""
    needed = console.measure(renderable, options=console.options.update_width(10_000)).minimum
    console.width = max(console.width, needed)
    return renderable


def whole_column(table: Any, header: str, values: Iterable[str], **options: Any) -> None:
    """Add a column to ``table`` that is never cut nor wrapped: as wide as its longest value."""
    widest = max((len(value) for value in values), default=0)
    table.add_column(header, no_wrap=True, min_width=max(widest, len(header)), **options)


def session_type(info: SessionInfo) -> str:
    """The session's type, and its computed type where that differs (``auto (playback)``)."""
    if info.computed_type == info.type:
        return str(info.type)
    return f"{info.type} ({info.computed_type})"


def gain_and_causes(info: SessionInfo, labels: Mapping[str, str] | None = None) -> str:
    """What the policy does to a session, in words: ``gain 0.20 (-14.0 dB): ducked by music.py
    (pid 7), window-2``; "" for a session it leaves alone."""
    causes = label_causes(info.causes, labels or {})
    if info.gain >= 0.995:
        return causes
    level = 20 * math.log10(info.gain) if info.gain > 0 else -math.inf
    gain = f"gain {info.gain:.2f} ({format_db(level).strip()})"
    return f"{gain}: {causes}" if causes else gain


def session_table(
    infos: Sequence[SessionInfo], labels: Mapping[str, str] | None = None, title: str | None = None
) -> Any:
    """A rich table of ``platform().sessions()``: who, type, state, gain, causes, route."""
    from rich.table import Table

    labels = labels or {}
    owners = [labels.get(info.owner, info.owner) for info in infos]
    types = [session_type(info) for info in infos]
    table = Table(title=title, title_justify="left", expand=False)
    whole_column(table, "session", owners)
    whole_column(table, "type", types)
    table.add_column("state", no_wrap=True)
    table.add_column("gain", justify="right", no_wrap=True)
    table.add_column("causes", overflow="fold")
    whole_column(table, "route", [info.route or "-" for info in infos])
    for owner, kind, info in zip(owners, types, infos, strict=True):
        state = str(info.state)
        table.add_row(
            owner,
            kind,
            f"[{STATE_STYLES.get(state, '')}]{state}[/]",
            f"{info.gain:.2f}",
            label_causes(info.causes, labels) or "-",
            info.route or "-",
        )
    return table


def session_json(info: SessionInfo) -> dict[str, Any]:
    """One row of ``status --json``: ``SessionInfo``'s fields, enums as their strings."""
    return {
        "id": info.id,
        "owner": info.owner,
        "context": info.context,
        "type": info.type.value,
        "computed_type": info.computed_type.value,
        "state": info.state.value,
        "gain": info.gain,
        "causes": list(info.causes),
        "route": info.route,
    }


class Printer:
    """Prints a command's progress: a timeline of events, and where the terminal allows, a live
    table of the sessions below it (``rich``)."""

    def __init__(self, *, enabled: bool = True, live: bool | None = None) -> None:
        from rich.console import Console

        self.enabled = enabled
        self.console = Console(highlight=False, soft_wrap=not sys.stdout.isatty())
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self.use_live = self.console.is_terminal if live is None else live
        self._live: Any = None

    @classmethod
    def quiet(cls) -> Printer:
        return cls(enabled=False, live=False)

    def print(self, *objects: Any, **options: Any) -> None:
        if not self.enabled:
            return
        if self._live is not None:
            self._live.console.print(*objects, **options)
        else:
            self.console.print(*objects, **options)

    def note(self, text: str) -> None:
        """One line for the user (on stderr, so pipes of stdout stay clean); ``text`` is plain
        (brackets are printed, not read as markup)."""
        if self.enabled:
            from rich.markup import escape

            self.err.print(f"[yellow]{escape(text)}[/]")

    def heading(self, text: str) -> None:
        self.print(f"[bold]audiosession demo[/] - {text}")
        self.print(f"[dim]{'time':>7}  {'party':<14} what happened[/]")

    def cue(self, now: float, label: str, text: str) -> None:
        self.print(f"{now:6.2f}s  [bold]{label:<14}[/] [bold blue]{text}[/]")

    def event(self, now: float, label: str, text: str) -> None:
        if text.startswith("statechange"):
            state = text.rsplit(" ", 1)[-1]
            text = f"statechange -> [{STATE_STYLES.get(state, '')}]{state}[/]"
        elif text.startswith("policy:"):
            text = f"[magenta]{text}[/]"
        self.print(f"{now:6.2f}s  {label:<14} {text}")

    def sessions(
        self, now: float, infos: Sequence[SessionInfo], labels: Mapping[str, str], mic_level: float
    ) -> None:
        if not self.enabled or not self.use_live:
            return
        from rich.live import Live

        table = session_table(
            infos, labels, title=f"t = {now:5.2f} s   microphone {format_db(mic_level)}"
        )
        if self._live is None:
            self._live = Live(table, console=self.console, refresh_per_second=12, transient=True)
            self._live.start()
        else:
            self._live.update(table)

    def stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def done(self, written: Sequence[Path]) -> None:
        self.stop_live()
        for path in written:
            self.print(f"wrote {path}")


def level_dbfs(block: np.ndarray) -> float:
    """The RMS level of ``block`` in dBFS (-inf for silence or nothing)."""
    if block.size == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(np.square(block, dtype=np.float64))))
    return 20 * math.log10(rms) if rms > 1e-9 else -math.inf
