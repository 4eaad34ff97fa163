"""This process's own audio: the engine, each session's gain and route, its voices and captures.

The embedded platform and the daemon client both play their sessions' audio in-process through
``LocalAudio``; only who decides (the policy here, or the daemon) differs. Engine events arrive
on audio and watcher threads and are posted to the task loop before anything else sees them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from audiosession.engine.ahead import AheadBuffer, Produce
from audiosession.engine.backend import Backend, DeviceInfo, check_device
from audiosession.engine.engine import (
    DeviceRemoved,
    DevicesChanged,
    Engine,
    EngineEvent,
    OutputFailed,
    OutputLost,
    OutputRestored,
)
from audiosession.engine.gain import DEFAULT_RAMP, Gain
from audiosession.engine.inputs import CaptureTap, LoopedFileInput, SilentInput
from audiosession.engine.mixer import Source, Voice
from audiosession.engine.voice_processing import VoiceProcessing
from audiosession.loop import TaskLoop

log = logging.getLogger(__name__)

VoiceListener = Callable[[Any], None]


class OutsidePlayer(Protocol):
    """Audio of a session that plays outside the engine (``ExternalPlayer``): it hears of the
    session's gain and route and applies them itself."""

    def session_gain_changed(self, gain: float, ramp: float) -> None:
        """The session's gain moves to ``gain`` over ``ramp`` seconds."""

    def session_route_changed(self, device_id: str | None) -> None:
        """The session's audio goes to ``device_id`` (None: the default output)."""


@dataclass
class _SessionAudio:
    gain: Gain = field(default_factory=lambda: Gain(1.0))
    route: str | None = None
    role: str = "animation"
    voices: dict[Voice, tuple[VoiceListener | None, str | None]] = field(default_factory=dict)
    outside: list[OutsidePlayer] = field(default_factory=list)


class LocalAudio:
    """The engine (created on first use) and what each session of this process plays."""

    def __init__(
        self,
        loop: TaskLoop,
        backend_factory: Callable[[], Backend],
        *,
        rate: int = 48000,
        channels: int = 2,
        blocksize: int = 480,
    ) -> None:
        self.loop = loop
        self.rate = rate
        self.channels = channels
        self.blocksize = blocksize
        self._backend_factory = backend_factory
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()
        self._sessions: dict[str, _SessionAudio] = {}
        self._voice_sessions: dict[Voice, str] = {}
        self._device_listeners: list[Callable[[], None]] = []
        self.on_device_removed: Callable[[str, set[str]], set[str]] | None = None
        """The platform applies the policy to an unplug; returns the sessions it stopped."""
        self.on_devices_changed: Callable[[list[DeviceInfo]], None] | None = None
        self._monitors_warned: set[str] = set()

    @property
    def engine(self) -> Engine:
        """The engine, opened on first use (the backend is chosen then)."""
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    self._engine = Engine(
                        self._backend_factory(),
                        rate=self.rate,
                        channels=self.channels,
                        blocksize=self.blocksize,
                        on_event=self._post,
                    )
        return self._engine

    @property
    def backend(self) -> Backend:
        return self.engine.backend

    def devices(self) -> list[DeviceInfo]:
        return self.engine.devices()

    @property
    def output_down(self) -> OutputLost | OutputFailed | None:
        """Why nothing plays now (the sound server is away or did not come back), or None."""
        return None if self._engine is None else self._engine.output_down

    # -- sessions -----------------------------------------------------------------------------

    def add_session(self, session_id: str, role: str) -> None:
        self._sessions[session_id] = _SessionAudio(role=role)

    def remove_session(self, session_id: str) -> None:
        audio = self._sessions.pop(session_id, None)
        if audio is not None:
            for voice in list(audio.voices):
                self.remove_voice(voice)

    def session_gain(self, session_id: str) -> Gain:
        """The policy's gain on every voice of the session (ducks and fades)."""
        return self._sessions[session_id].gain

    def set_session_gain(self, session_id: str, target: float, ramp: float | None = None) -> None:
        """Move the session's gain to ``target`` over ``ramp`` seconds (``Gain.set``), on its
        voices and its players outside the engine."""
        audio = self._sessions[session_id]
        moves = audio.gain.target != target
        audio.gain.set(target, ramp)
        for player in list(audio.outside) if moves else ():
            player.session_gain_changed(target, DEFAULT_RAMP if ramp is None else ramp)

    def set_route(self, session_id: str, device_id: str | None) -> None:
        """Send the session's voices (those without a sink of their own) and its players
        outside the engine to ``device_id``."""
        audio = self._sessions[session_id]
        audio.route = device_id
        for voice, (_, sink) in audio.voices.items():
            if sink is None:
                self.engine.move_voice(voice, device=device_id)
        for player in list(audio.outside):
            player.session_route_changed(device_id)

    def add_outside_player(self, session_id: str, player: OutsidePlayer) -> None:
        """``player`` plays for the session outside the engine: it follows the session's gain
        and route from now, starting with where they are."""
        audio = self._sessions[session_id]
        audio.outside.append(player)
        if audio.gain.target != 1.0:
            player.session_gain_changed(audio.gain.target, 0.0)
        if audio.route is not None:
            player.session_route_changed(audio.route)

    def remove_outside_player(self, session_id: str, player: OutsidePlayer) -> None:
        audio = self._sessions.get(session_id)
        if audio is not None and player in audio.outside:
            audio.outside.remove(player)

    def set_role(self, session_id: str, role: str) -> None:
        """Move the session's voices to the ``role`` stream (media.role follows the type)."""
        audio = self._sessions[session_id]
        if audio.role == role:
            return
        audio.role = role
        for voice in audio.voices:
            voice.role = role

    def sessions_on_device(self, voices: tuple[Voice, ...]) -> set[str]:
        return {self._voice_sessions[v] for v in voices if v in self._voice_sessions}

    # -- voices -------------------------------------------------------------------------------

    def add_voice(
        self,
        session: Any,
        source: Source,
        *,
        gains: tuple[Gain, ...] = (),
        sink: str | None = None,
        watch_audibility: bool = False,
        on_event: VoiceListener | None = None,
    ) -> Voice:
        """Mix ``source`` for ``session`` through ``gains`` and the session's gain, on ``sink``
        or the session's route, in the stream of the session's role."""
        audio = self._sessions[session.session_id]
        voice = self.engine.add_voice(
            source,
            gains=(*gains, audio.gain),
            device=sink if sink is not None else audio.route,
            role=audio.role,
            watch_audibility=watch_audibility,
        )
        audio.voices[voice] = (on_event, sink)
        self._voice_sessions[voice] = session.session_id
        return voice

    def ahead(
        self,
        produce: Produce,
        *,
        tell: Callable[[], float] | None = None,
        name: str = "",
        channels: int | None = None,
    ) -> AheadBuffer:
        """A decode-ahead buffer for a voice of this process (see ``Engine.ahead``)."""
        return self.engine.ahead(produce, tell=tell, name=name, channels=channels)

    def remove_voice(self, voice: Voice | None) -> None:
        if voice is None:
            return
        session_id = self._voice_sessions.pop(voice, None)
        if session_id is not None and session_id in self._sessions:
            self._sessions[session_id].voices.pop(voice, None)
        self.engine.remove_voice(voice)

    def set_sink(self, voice: Voice, sink: str | None) -> None:
        """Give ``voice`` a device of its own (None: back to its session's route)."""
        session_id = self._voice_sessions[voice]
        audio = self._sessions[session_id]
        listener, _ = audio.voices[voice]
        audio.voices[voice] = (listener, sink)
        self.engine.move_voice(voice, device=sink if sink is not None else audio.route)

    # -- captures -----------------------------------------------------------------------------

    def open_capture(self, device_id: str | None = None, *, fake: str | None = None) -> CaptureTap:
        """Capture from ``device_id`` (the default input if None), or from the audio file
        ``fake`` looped at the loop's pace; silence where there is no input at all."""
        if fake:
            return CaptureTap(
                LoopedFileInput(fake, self.channels, self.rate, self.loop.now),
                f"Fake microphone ({fake})",
            )
        devices = self.devices()
        if device_id is not None:
            check_device(device_id, devices, "audioinput")
        inputs = {d.id: d for d in devices if d.kind == "audioinput"}
        if not inputs:
            return CaptureTap(
                SilentInput(self.channels, self.rate, self.loop.now), "No microphone (silence)"
            )
        device = inputs[device_id or self.engine.default_input() or next(iter(inputs))]
        if device_id is None:
            self._warn_if_monitor(device)
        return CaptureTap(self.engine.open_input(device.id), device.label, device)

    def process_voice(self, tap: CaptureTap, processing: VoiceProcessing, session_id: str) -> None:
        """Process ``tap`` as ``processing`` says. The far end is what the engine renders to
        the output the microphone hears: the output a monitor records, else the device the
        session's audio goes to (a call's communications device, or the default output);
        other outputs playing at the same time are not in the reference, since a headset's
        microphone does not hear the speakers and the canceller models one echo path."""
        device = next((d for d in self.devices() if d.id == tap.device_id), None)
        monitored = device.monitor_of if device is not None else None

        def far_end() -> str | None:
            if monitored is not None:
                return monitored
            audio = self._sessions.get(session_id)
            route = audio.route if audio is not None else None
            return route if route is not None else self.engine.default_output()

        tap.set_processing(processing, far_end)

    def _warn_if_monitor(self, device: DeviceInfo) -> None:
        """Once per device: the default input records an output, not the room."""
        if device.monitor_of is not None and device.id not in self._monitors_warned:
            self._monitors_warned.add(device.id)
            log.warning(
                "%s",
                monitor_input_warning(
                    device,
                    "choose another with get_user_media(audio={'device_id': ...}) "
                    "(navigator.media_devices.enumerate_devices() lists the inputs)",
                ),
            )

    # -- engine events ------------------------------------------------------------------------

    def add_device_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (as a task) whenever devices are added or removed."""
        self._device_listeners.append(callback)

    def _post(self, event: EngineEvent) -> None:
        # On an audio or watcher thread: only post.
        self.loop.queue_task(self._dispatch, event)

    def _dispatch(self, event: EngineEvent) -> None:
        if isinstance(event, DeviceRemoved):
            # The engine moved the voices held; the policy decides, then the ones whose
            # session may still play play on (an ambient sound), the others stay silent.
            moved = self.sessions_on_device(event.voices)
            for session_id in moved:
                audio = self._sessions[session_id]
                for voice in event.voices:
                    if voice in audio.voices:
                        listener, _ = audio.voices[voice]
                        audio.voices[voice] = (listener, None)
            stopped = set()
            if self.on_device_removed is not None:
                stopped = self.on_device_removed(event.device_id, moved)
            for voice in event.voices:
                owner = self._voice_sessions.get(voice)
                if owner is not None and owner not in stopped:
                    listener, _ = self._sessions[owner].voices[voice]
                    if listener is not None:
                        listener(event)  # the element sets voice.playing as it wants
            return
        if isinstance(event, DevicesChanged):
            if self.on_devices_changed is not None:
                self.on_devices_changed(list(event.devices))
            for device_listener in list(self._device_listeners):
                device_listener()
            return
        if isinstance(event, (OutputLost, OutputRestored, OutputFailed)):
            # Every voice's owner hears of it (an element fires waiting, playing or error).
            for audio in list(self._sessions.values()):
                for listener, _ in list(audio.voices.values()):
                    if listener is not None:
                        listener(event)
            return
        owner = self._voice_sessions.get(event.voice)
        if owner is None:
            return
        listener, _ = self._sessions[owner].voices.get(event.voice, (None, None))
        if listener is not None:
            listener(event)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


def monitor_input_warning(device: DeviceInfo, choose: str) -> str:
    """What a program capturing the default input ``device``, a monitor, is told; ``choose``:
    how to capture another input."""
    return (
        f"the default input is {device.label!r} ({device.id}), the monitor of output "
        f"{device.monitor_of!r}: it records what plays there, this program's own sound "
        f"included, not a microphone; {choose}"
    )
