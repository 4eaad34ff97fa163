"""``play``, ``notify``, ``prompt``, ``ambient``, ``call``, ``devices`` and ``status``.

Each is a short program on the public API: a session of the right type on ``navigator``,
``Audio`` elements, ``audiosession.run(until=...)`` to keep the process alive while it plays.
The platform pauses and resumes the elements by itself; the commands only watch and report.
The user's media keys (MPRIS, ``playerctl``) pause a player and play it on: the players take
those actions themselves, so that a pause the user asked for is never read as the platform's.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import audiosession
from audiosession import Audio, MediaStream, MediaStreamTrack, NotFoundError
from audiosession.cli.common import (
    CommandError,
    Printer,
    fit_whole,
    format_db,
    gain_and_causes,
    is_null_sink,
    level_dbfs,
    session_json,
    session_table,
    table_console,
    whole_column,
)
from audiosession.cli.progress import ProgressLine, clock, player_line
from audiosession.elements.sources import url_scheme
from audiosession.engine.backend import check_device
from audiosession.platforms.local_audio import monitor_input_warning
from audiosession.policy import find_config, route_for

EXIT_INTERRUPTED = 130
PROGRESS_INTERVAL = 0.25


def warn_if_silent() -> None:
    """One line when there is no sound device (the engine plays to the null sink)."""
    if is_null_sink(audiosession.platform().devices()):
        Printer().note(
            "audiosession: no sound device found; playing to the null sink "
            "(silent). Run with -v for why."
        )


def warn_if_monitor(track: MediaStreamTrack) -> None:
    """One line when the default input is a monitor: the call would record its own output."""
    device_id = track.get_settings().get("device_id")
    device = next((d for d in audiosession.platform().devices() if d.id == device_id), None)
    if device is not None and device.monitor_of is not None:
        Printer().note(
            "audiosession: "
            + monitor_input_warning(
                device, "choose another with --mic ID (see `audiosession devices`)"
            )
        )


def _check_files(files: list[str]) -> None:
    """Each of ``files`` is a file; a URL is left to the element, which reports what fails."""
    for name in files:
        if url_scheme(name):
            continue
        path = Path(name)
        if not path.exists():
            raise CommandError(f"no such file: {name}")
        if not path.is_file():
            raise CommandError(f"not a file: {name} (give an audio file: WAV, FLAC, Ogg, MP3)")


def _check_output(device: str | None) -> None:
    if device is None:
        return
    try:
        check_device(device, audiosession.platform().devices())
    except NotFoundError as error:
        raise CommandError(f"{error} (see `audiosession devices`)") from None


def play(files: list[str], *, type_: str, volume: float, loop: bool, device: str | None) -> int:
    """Play ``files`` one after the other in a session of ``type_``."""
    _check_files(files)
    _check_output(device)
    session = audiosession.navigator.audio_session
    session.type = type_
    progress = ProgressLine()
    try:
        while True:
            for name in files:
                if (
                    _play_one(
                        name,
                        volume=volume,
                        loop=loop and len(files) == 1,
                        device=device,
                        progress=progress,
                    )
                    == "interrupted"
                ):
                    return EXIT_INTERRUPTED
            if not loop:
                return 0
    finally:
        progress.end()


_warned: list[bool] = []


class _MediaKeys:
    """The media session's ``play``, ``pause`` and ``stop`` actions for ``audio``: ``pause``
    and ``stop`` pause it (where it is, as the library's default ``stop`` does), ``play``
    plays it on. ``paused_by_user`` tells the command that the pause was asked for: only a
    pause nobody asked for, in an inactive session, is the platform stopping it for good.
    The handlers run on the loop, under its lock."""

    def __init__(self, audio: Audio) -> None:
        self.audio = audio
        self.paused_by_user = False
        media_session = audiosession.navigator.media_session
        media_session.set_action_handler("play", self.play)
        media_session.set_action_handler("pause", self.pause)
        media_session.set_action_handler("stop", self.pause)

    def play(self) -> None:
        self.paused_by_user = False
        self.audio.play()

    def pause(self) -> None:
        self.paused_by_user = True
        self.audio.pause()


def _play_one(
    name: str, *, volume: float, loop: bool, device: str | None, progress: ProgressLine
) -> str:
    session = audiosession.navigator.audio_session
    audio = Audio(name)  # it loads in the background: a bad file shows in the loop below
    audio.volume = volume
    audio.loop = loop
    if device is not None:
        try:
            audio.set_sink_id(device).result(timeout=5.0)
        except NotFoundError as error:
            raise CommandError(str(error)) from None
    media_keys = _MediaKeys(audio)
    audio.play()
    title = Path(name).name
    while True:
        reason = audiosession.run(until=PROGRESS_INTERVAL)
        if reason == "interrupted":
            print(f"\n{title}: stopped (Ctrl-C)", file=sys.stderr)
            return reason
        with audio.window.runtime.loop.lock:  # one moment: not half before a media key
            state = str(session.state)
            paused_by_user = media_keys.paused_by_user and audio.paused
            stopped = (
                state == "inactive"
                and audio.paused
                and not audio.ended
                and not audio.pending_play
                and not paused_by_user
            )
        playing = "ended" if audio.ended else ("paused" if audio.paused else "playing")
        if audio.error is not None:
            raise CommandError(audio.error.message)
        if not _warned:
            _warned.append(True)
            warn_if_silent()
        policy = _what_the_policy_does(session)
        progress.show(
            player_line(
                title,
                audio.current_time,
                audio.duration,
                playing,
                state,
                str(session.type),
                paused_by_user=paused_by_user,
            )
            + (f"  {policy}" if policy else ""),
            key=f"{playing} {state} {paused_by_user} {policy}",
        )
        if audio.ended:
            progress.end()
            return "done"
        if stopped:
            # Stopped by the platform for good (a newer player took over).
            progress.end()
            print(f"{title}: stopped by the platform (see `audiosession status`)", file=sys.stderr)
            return "done"


def _what_the_policy_does(session: audiosession.AudioSession) -> str:
    """This session's gain and causes as ``platform().sessions()`` reports them ("" if none)."""
    for info in audiosession.platform().sessions():
        if info.owner == session.owner:
            return gain_and_causes(info)
    return ""


def call(
    *, mic: str | None, remote: str | None, seconds: float | None, processing: bool = True
) -> int:
    """A play-and-record session: the far end plays, the microphone's level is printed; the
    microphone is voice processed (echo, noise, gain) unless ``processing`` is False."""
    if remote is not None:
        _check_files([remote])
    navigator = audiosession.navigator
    navigator.audio_session.type = "play-and-record"
    if remote is not None:
        far_end = Audio()
        far_end.src_object = MediaStream.from_file(remote)
        far_end.play()
    constraints: dict[str, object] = {} if mic is None else {"device_id": mic}
    if not processing:
        constraints.update(
            echo_cancellation=False, noise_suppression=False, auto_gain_control=False
        )
    request = navigator.media_devices.get_user_media(audio=constraints or True)
    try:
        stream = request.result(timeout=5.0)
    except NotFoundError as error:
        raise CommandError(str(error)) from None
    (track,) = stream.get_audio_tracks()
    warn_if_silent()
    if mic is None:
        warn_if_monitor(track)
    in_force = [name for name, on in track.get_settings().items() if on is True]
    print(
        f"call: microphone {track.label}"
        + (f" ({', '.join(in_force).replace('_', ' ')})" if in_force else " (raw)")
        + (f", far end {Path(remote).name}" if remote else "")
        + " (Ctrl-C hangs up)"
    )
    progress = ProgressLine()
    start = time.monotonic()
    try:
        while seconds is None or time.monotonic() - start < seconds:
            reason = audiosession.run(until=PROGRESS_INTERVAL)
            if reason == "interrupted":
                print("\ncall: hung up (Ctrl-C)", file=sys.stderr)
                return EXIT_INTERRUPTED
            level = level_dbfs(track.read()[:, :1])
            bars = 0 if not math.isfinite(level) else max(0, min(30, int((level + 60) / 2)))
            state = str(navigator.audio_session.state)
            progress.show(
                f"input {format_db(level)} [{'#' * bars:<30}]  session {state}  "
                f"{clock(time.monotonic() - start)}",
                key=f"{state} {int(time.monotonic() - start)}",
            )
    finally:
        progress.end()
    track.stop()
    return 0


def devices(*, as_json: bool = False) -> int:
    """List outputs and inputs; mark the default and the communications device."""
    from rich.table import Table

    platform = audiosession.platform()
    found = platform.devices()
    communications = route_for("play-and-record", found, find_config())
    backend = platform.audio.backend
    host_api = getattr(backend, "host_api", None)  # PortAudio's ALSA, Core Audio, WASAPI
    rows: list[dict[str, Any]] = [
        {
            "kind": device.kind,
            "id": device.id,
            "label": device.label,
            "default": device.is_default,
            "communications": device.kind == "audiooutput" and device.id == communications,
            "roles": sorted(device.intended_roles),
        }
        for device in found
    ]
    if as_json:
        report = {
            "backend": backend.name,
            "host_api": host_api,
            "null_sink": is_null_sink(found),
            "communications": communications,
            "devices": rows,
        }
        print(json.dumps(report, indent=2))
        return 0
    title = f"devices of the {backend.name}{f' ({host_api})' if host_api else ''} backend"
    table = Table(title=title, title_justify="left")
    table.add_column("kind", no_wrap=True)
    whole_column(table, "id", [row["id"] for row in rows])
    table.add_column("label", overflow="fold")
    table.add_column("default", no_wrap=True)
    table.add_column("communications", no_wrap=True)
    table.add_column("roles", overflow="fold")
    for row in rows:
        table.add_row(
            "output" if row["kind"] == "audiooutput" else "input",
            row["id"],
            row["label"],
            "yes" if row["default"] else "",
            "yes" if row["communications"] else "",
            ", ".join(row["roles"]) or "-",
        )
    console = table_console()
    console.print(fit_whole(console, table))
    if is_null_sink(found):
        print("no sound device found: audio goes to the null sink (run with -v for why)")
    return 0


def status(*, watch: bool, as_json: bool = False) -> int:
    """Print ``platform().sessions()`` as a table (live with ``watch``), or as JSON."""
    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    platform = audiosession.platform()
    console = table_console()

    def daemon_report() -> dict[str, Any] | None:
        daemon_status = getattr(platform, "daemon_status", None)
        return daemon_status() if daemon_status is not None else None

    def report() -> str:
        return json.dumps(
            {
                "platform": platform.name,
                "sessions": [session_json(info) for info in platform.sessions()],
                "daemon": daemon_report(),
            }
        )

    def table() -> Any:
        infos = platform.sessions()
        shown = session_table(
            infos, title=f"{len(infos)} session(s) on the {platform.name} platform"
        )
        daemon = daemon_report()
        if daemon is None:
            return shown
        notes = [f"PulseAudio bridge {daemon.get('bridge')}"]
        if daemon.get("not_answering"):
            notes.append(
                f"{daemon['not_answering']} client(s) not answering: their sessions "
                "are set aside until they do"
            )
        return Group(shown, *(Text(note) for note in notes))

    if as_json:
        print(report(), flush=True)
        while watch:
            if audiosession.run(until=0.5) == "interrupted":
                return EXIT_INTERRUPTED
            print(report(), flush=True)
        return 0
    if platform.name == "embedded":
        console.print(
            "[dim]The embedded platform arbitrates one process: this command sees "
            "only its own sessions. The system daemon (`audiosession daemon`) "
            "shares every process's.[/]"
        )
    if not watch:
        console.print(fit_whole(console, table()))
        return 0
    with Live(fit_whole(console, table()), console=console, refresh_per_second=4) as live:
        while True:
            if audiosession.run(until=0.5) == "interrupted":
                return EXIT_INTERRUPTED
            live.update(fit_whole(console, table()))
