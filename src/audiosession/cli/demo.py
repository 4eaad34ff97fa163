"""``audiosession demo``: music, a notification, a voice prompt, a call and a second player,
played by five programs on one platform.

Each party is a top-level ``Window`` of its own, so the policy table applies between them:

====  ==============  ================  ================================================
  s   party           type              what the platform does
====  ==============  ================  ================================================
 0    music           playback          plays
 2    notification    transient         ducks the music by 14 dB while it chimes
 5    voice prompt    transient-solo    pauses the music, which resumes afterwards
 9    call            play-and-record   pauses the music; routed to the communications
                                        device; the microphone is the fake-capture file
11    second player   playback          tries to start: delayed until the call ends
14    call hangs up                     the second player starts; the music is stopped
====  ==============  ================  ================================================

Everything here uses the public API only: ``Window``, ``Audio``, ``MediaStream.from_file``,
``navigator.media_devices.get_user_media``, ``audiosession.run(until=...)`` to let time pass
(in a ``VirtualEnvironment`` that moves the virtual clock instead), and
``audiosession.platform().sessions()`` sampled between steps to follow states, gains and the
policy's decisions.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import queue
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

import audiosession
from audiosession import Audio, MediaStream, MediaStreamTrack, SessionInfo, Window
from audiosession.cli import sounds
from audiosession.cli.common import CommandError, Printer, is_null_sink, label_causes, level_dbfs
from audiosession.cli.plot import plot_timeline
from audiosession.cli.timeline import LaneSample, Rendering, Timeline, lane_detail
from audiosession.dependencies import CLI_EXTRA
from audiosession.engine.backend import DeviceInfo
from audiosession.testing import VirtualEnvironment

log = logging.getLogger(__name__)

STEP = 0.02
"""Seconds between two samples of ``platform().sessions()``."""

TAIL = 0.6
"""Seconds recorded after the last sound ends."""

TIME_LIMIT = 40.0
"""Seconds after which the demo ends whatever happens."""

OUTPUT_NAMES = ("demo.wav", "demo.png", "demo-communications.wav")

CUE_TIMES = {
    "music": 0.0,
    "notification": 2.0,
    "voice prompt": 5.0,
    "call": 9.0,
    "second player": 11.0,
    "hang up": 14.0,
}
"""When each cue of the scenario happens (seconds from the start)."""


# --------------------------------------------------------------------------------------------
# The parties and the scenario
# --------------------------------------------------------------------------------------------


class Party:
    """One program taking part: a top-level window whose session has a declared type."""

    def __init__(self, label: str, type_: str, events: queue.SimpleQueue[tuple[str, str]]):
        self.label = label
        self.type = type_
        self.window = Window()
        self.session = self.window.navigator.audio_session
        self.session.type = type_
        self._events = events
        # Listeners run on the audiosession loop; the main loop prints what they queue.
        self.session.add_event_listener("statechange", self._on_statechange)

    def _on_statechange(self, event: Any) -> None:
        self._events.put((self.label, f"statechange -> {self.session.state}"))


class Scenario:
    """The cues of the demo, run against whatever clock ``audiosession.run`` moves."""

    def __init__(
        self,
        media: dict[str, str],
        clock: Callable[[], float],
        printer: Printer,
        timeline: Timeline,
    ) -> None:
        self.media = media
        self.clock = clock
        self.printer = printer
        self.timeline = timeline
        self.events: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self.parties = {
            label: Party(label, type_, self.events)
            for label, type_ in (
                ("music", "playback"),
                ("notification", "transient"),
                ("voice prompt", "transient-solo"),
                ("call", "play-and-record"),
                ("second player", "playback"),
            )
        }
        timeline.parties = [(p.label, p.type) for p in self.parties.values()]
        timeline.lanes = {label: [] for label in self.parties}
        self.labels = {party.window.owner: label for label, party in self.parties.items()}
        self.previous: dict[str, SessionInfo] = {}
        self.announced: dict[str, str] = {}
        devices = audiosession.platform().devices()
        self.default_device = next(
            (d.id for d in devices if d.kind == "audiooutput" and d.is_default), None
        )
        self.remote: Audio | None = None
        self.microphone: MediaStreamTrack | None = None
        self.radio: Audio | None = None

    # -- the cues -------------------------------------------------------------------------

    def cues(self) -> list[tuple[str, str, str, Callable[[], None]]]:
        """(cue, party, what happens, action), in the order of ``CUE_TIMES``."""
        return [
            ("music", "music", "plays music.wav", self.start_music),
            ("notification", "notification", "a message arrives: chime", self.notify),
            ("voice prompt", "voice prompt", "the assistant speaks", self.prompt),
            ("call", "call", "incoming call answered: caller + microphone", self.answer_call),
            ("second player", "second player", "play() during the call", self.start_radio),
            ("hang up", "call", "hangs up", self.hang_up),
        ]

    def _play(self, label: str, name: str) -> Audio:
        audio = Audio(self.media[name], window=self.parties[label].window)
        audio.play()
        return audio

    def start_music(self) -> None:
        self._play("music", "music.wav")

    def notify(self) -> None:
        self._play("notification", "notification.wav")

    def prompt(self) -> None:
        self._play("voice prompt", "prompt.wav")

    def answer_call(self) -> None:
        window = self.parties["call"].window
        # A video call: the remote participant's audio, then the microphone.
        self.remote = Audio(window=window)
        self.remote.src_object = MediaStream.from_file(self.media["caller.wav"], window=window)
        self.remote.play()
        window.navigator.media_devices.get_user_media(audio=True).then(self._microphone_open)

    def _microphone_open(self, stream: MediaStream) -> None:
        (track,) = stream.get_audio_tracks()
        self.microphone = track
        self.events.put(("call", f"microphone open: {track.label}"))

    def start_radio(self) -> None:
        self.radio = self._play("second player", "radio.wav")

    def hang_up(self) -> None:
        if self.remote is not None:
            self.remote.pause()
        if self.microphone is not None:
            self.microphone.stop()
            self.microphone = None

    def finished(self) -> bool:
        return self.radio is not None and (self.radio.ended or self.radio.error is not None)

    # -- running ----------------------------------------------------------------------------

    def run(self) -> str:
        """Play every cue at its time, sampling between steps; ``"done"`` or ``"interrupted"``."""
        self.sample()
        for cue, label, text, action in self.cues():
            at = CUE_TIMES[cue]
            while self.clock() < at - 1e-9:
                if self.wait(min(STEP, at - self.clock())) == "interrupted":
                    return "interrupted"
            self.timeline.cues.append((self.clock(), cue))
            self.printer.cue(self.clock(), label, text)
            action()
            self.sample()
        while not self.finished() and self.clock() < TIME_LIMIT:
            if self.wait(STEP) == "interrupted":
                return "interrupted"
        end = self.clock() + TAIL
        while self.clock() < end:
            if self.wait(STEP) == "interrupted":
                return "interrupted"
        return "done"

    def wait(self, seconds: float) -> str:
        reason = audiosession.run(until=seconds)
        if reason != "interrupted":
            self.sample()
        return reason

    def sample(self) -> None:
        now = self.clock()
        while True:
            try:
                label, text = self.events.get_nowait()
            except queue.Empty:
                break
            self.report(now, label, text)
        infos = {
            self.labels[i.owner]: i
            for i in audiosession.platform().sessions()
            if i.owner in self.labels
        }
        for label, info in infos.items():
            self.decisions(now, label, self.previous.get(label), info)
        self.previous = infos
        self.timeline.times.append(now)
        for label, lane in self.timeline.lanes.items():
            found = infos.get(label)
            if found is None:
                lane.append(LaneSample("inactive", "inactive", 1.0))
                continue
            lane.append(
                LaneSample(
                    str(found.state),
                    lane_detail(found),
                    found.gain,
                    label_causes(found.causes, self.labels),
                )
            )
            if str(found.state) == "active" and found.route:
                self.timeline.routes[label] = found.route
        level = -math.inf
        if self.microphone is not None:
            level = level_dbfs(self.microphone.read())
        self.timeline.mic_levels.append(level)
        self.printer.sessions(now, list(infos.values()), self.labels, level)

    def decisions(
        self, now: float, label: str, before: SessionInfo | None, after: SessionInfo
    ) -> None:
        """Report what the policy did to ``label`` since the previous sample."""
        old = set(before.causes) if before is not None else set()
        for cause in after.causes:
            if cause not in old:
                self.report(now, label, f"policy: {label_causes((cause,), self.labels)}")
        for cause in before.causes if before is not None else ():
            if cause not in after.causes and str(after.state) != "inactive":
                self.report(now, label, f"policy: no longer {label_causes((cause,), self.labels)}")
        if (
            str(after.state) == "active"
            and after.route
            and after.route != self.default_device
            and self.announced.get(label) != after.route
        ):
            self.announced[label] = after.route
            why = " (communications device)" if str(after.type) == "play-and-record" else ""
            self.report(now, label, f"policy: routed to {after.route}{why}")

    def report(self, now: float, label: str, text: str) -> None:
        self.timeline.events.append((now, label, text))
        self.printer.event(now, label, text)

    def close(self) -> None:
        for party in self.parties.values():
            party.window.close()


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


def check_outputs(out: Path, force: bool) -> None:
    """Refuse (``CommandError``, exit 2) to overwrite an earlier demo without ``force``."""
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} is a file, not a directory; name a directory")
    if force:
        return
    for name in OUTPUT_NAMES:
        if (out / name).exists():
            raise CommandError(
                f"{out / name} already exists; pass --force to overwrite it, or --out DIR"
            )


def real_outputs() -> list[DeviceInfo] | None:
    """This machine's devices, or None when the engine fell back to the null sink."""
    devices = audiosession.platform().devices()
    if is_null_sink(devices):
        return None
    return devices


def render(media: dict[str, str], printer: Printer) -> Rendering | None:
    """Play the scenario in virtual time; None if interrupted."""
    timeline = Timeline()
    with VirtualEnvironment() as env:
        scenario = Scenario(media, lambda: env.now, printer, timeline)
        try:
            if scenario.run() != "done":
                return None
        finally:
            scenario.close()
        devices = audiosession.platform().devices()
        default = next(d.id for d in devices if d.kind == "audiooutput" and d.is_default)
        call_route = timeline.routes.get("call")
        return Rendering(
            timeline,
            env.rate,
            env.output(default),
            default,
            env.output(call_route) if call_route and call_route != default else None,
            call_route if call_route != default else None,
        )


def run_live(
    media: dict[str, str], printer: Printer, devices: list[DeviceInfo]
) -> Rendering | None:
    """Play the scenario in real time on this machine's devices, recording what each output
    device receives (``platform().record``); None if interrupted."""
    platform = audiosession.platform()
    outputs = [d.id for d in devices if d.kind == "audiooutput"]
    default = next((d.id for d in devices if d.kind == "audiooutput" and d.is_default), outputs[0])
    recordings = {device: platform.record(device) for device in outputs}
    timeline = Timeline()
    start = time.monotonic()
    scenario = Scenario(media, lambda: time.monotonic() - start, printer, timeline)
    try:
        result = scenario.run()
    finally:
        scenario.close()
        received = {device: recording.stop() for device, recording in recordings.items()}
    if result != "done":
        return None
    call_route = timeline.routes.get("call")
    other = call_route if call_route and call_route != default else None
    return Rendering(
        timeline,
        platform.audio.rate,
        received[default],
        default,
        received.get(other) if other else None,
        other,
    )


def write_outputs(rendering: Rendering, out: Path, *, picture: bool) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "demo.wav"]
    sf.write(written[0], np.clip(rendering.default_output, -1, 1), rendering.rate, subtype="PCM_16")
    if rendering.communications_output is not None:
        path = out / "demo-communications.wav"
        sf.write(
            path, np.clip(rendering.communications_output, -1, 1), rendering.rate, subtype="PCM_16"
        )
        written.append(path)
    if picture:
        written.append(out / "demo.png")
        plot_timeline(rendering, written[-1])
    return written


def demo(out: Path, *, virtual: bool, force: bool, printer: Printer) -> int:
    """The ``demo`` command; returns the exit status."""
    check_outputs(out, force)
    picture = importlib.util.find_spec("matplotlib") is not None
    if not picture:  # said before it plays, not after 19 s
        printer.note(f"demo.png will not be drawn: it needs matplotlib; {CLI_EXTRA}")
    with tempfile.TemporaryDirectory(prefix="audiosession-demo-") as folder:
        media = sounds.write_sounds(folder)
        os.environ["AUDIOSESSION_FAKE_MIC"] = media["microphone.wav"]
        devices = None if virtual else real_outputs()
        if devices is None:
            if not virtual:
                printer.note(
                    "No sound device found: rendering the demo in virtual time "
                    "instead (nothing to hear; see demo.wav)."
                )
            printer.heading("virtual time: speakers 'default', headset 'headset' (phone role)")
            rendering = render(media, printer)
            if rendering is None:
                return 130
        else:
            printer.heading(f"real time on {describe(devices)}")
            live = run_live(media, printer, devices)
            if live is None:
                printer.stop_live()
                printer.note("audiosession demo: stopped (Ctrl-C); no files written")
                return 130
            rendering = live
        written = write_outputs(rendering, out, picture=picture)
    printer.done(written)
    return 0


def describe(devices: list[DeviceInfo]) -> str:
    default = next((d for d in devices if d.kind == "audiooutput" and d.is_default), None)
    return f"{default.label} ({default.id})" if default is not None else "the default output"
