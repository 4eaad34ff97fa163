"""Sounds the daemon plays for its clients: the ``play_file`` request (docs/protocol.md).

``audiosession notify FILE`` hands its file to the running daemon instead of starting an engine
of its own, as libcanberra's programs hand event sounds to a sound server. The daemon plays it
as a ``transient`` session of the asking client under the one policy (it ducks music, a voice
prompt holds it, like any notification), on its own engine, which it starts with the daemon so
that the first sound is as quick as the others. Short sounds stay decoded (``SoundCache``).

The client hears how its sound goes in ``sound`` pushes (``started``, ``state``, then
``ended``, ``stopped`` or ``failed``); if it goes away first (Ctrl-C), the sound stops.
Everything here runs on the daemon's event loop, except decoding and opening the engine
(worker threads) and the engine's own audio thread, which only posts to the loop.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from audiosession.engine.backend import Backend
from audiosession.engine.decode import AudioReader, DecodeError, open_audio
from audiosession.engine.engine import DeviceRemoved, Engine, EngineEvent, OutputFailed
from audiosession.engine.gain import Gain
from audiosession.engine.mixer import LoopingSource, Source, Voice, VoiceEnded
from audiosession.engine.selection import BACKEND_ENV, select_backend
from audiosession.errors import AudioSessionError, NotFoundError
from audiosession.policy import Action, Arbiter, PolicyConfig, SetGain, SetState
from audiosession.types import AudioSessionState, AudioSessionType
from audiosession.wire.protocol import ProtocolError, check_string

if TYPE_CHECKING:
    from audiosession.daemon.connected_client import ConnectedClient

log = logging.getLogger(__name__)

__all__ = ["DaemonPlayer", "DecodedSound", "PlayerHost", "SoundCache"]

MAX_CACHED_SOUND = 8 << 20
"""Bytes of decoded audio a sound may have to be kept decoded (about 22 s at 48 kHz stereo);
longer sounds are read from their file as they play."""

MAX_CACHE = 32 << 20
"""Bytes of decoded sounds kept at most; the least recently played go first."""

MAX_SOUNDS_PER_CLIENT = 16
"""Sounds one client may have playing (or being prepared) at once."""

MAX_SOUNDS = 64
"""Sounds the daemon plays at once for all its clients."""

LOOK_AGAIN = 5.0
"""Seconds after which a daemon whose engine found no sound device (it started before the
sound server, at login) looks again, at the next sound that finds nothing playing."""

MAX_PATH = 4096
"""Characters in a path (Linux's PATH_MAX)."""

SOUND_TYPE = AudioSessionType.TRANSIENT
"""The type of every session the daemon plays a sound in (``notify``)."""

ACTIVE = AudioSessionState.ACTIVE
INACTIVE = AudioSessionState.INACTIVE


class SoundError(AudioSessionError):
    """A sound that cannot be played; the message says why, for the client to print."""


class DecodedSound:
    """A decoded sound, read block by block (each play has its own position in the shared,
    read-only samples)."""

    def __init__(self, samples: np.ndarray, rate: int) -> None:
        self._samples = samples
        self._rate = rate
        self._position = 0

    @property
    def duration(self) -> float:
        return len(self._samples) / self._rate

    def read_view(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames (fewer at the end), without a copy."""
        block = self._samples[self._position : self._position + frames]
        self._position += len(block)
        return block

    def read(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames as a new array."""
        return np.array(self.read_view(frames), copy=True)

    def seek(self, seconds: float) -> None:
        self._position = min(len(self._samples), max(0, int(round(seconds * self._rate))))

    def close(self) -> None:
        pass


class SoundCache:
    """Decoded sounds by file identity (device, inode, size, modification time), within a
    byte budget: the least recently played are dropped first. Thread-safe."""

    def __init__(self, budget: int = MAX_CACHE, per_sound: int = MAX_CACHED_SOUND) -> None:
        self.budget = budget
        self.per_sound = per_sound
        self._sounds: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        """Bytes of decoded audio held now."""
        return self._bytes

    def get(self, key: tuple[int, ...]) -> np.ndarray | None:
        with self._lock:
            samples = self._sounds.get(key)
            if samples is not None:
                self._sounds.move_to_end(key)
            return samples

    def put(self, key: tuple[int, ...], samples: np.ndarray) -> None:
        """Keep ``samples`` (if they fit ``per_sound``), dropping the oldest to stay in budget."""
        if samples.nbytes > self.per_sound:
            return
        samples.flags.writeable = False
        with self._lock:
            old = self._sounds.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._sounds[key] = samples
            self._bytes += samples.nbytes
            while self._bytes > self.budget:
                _, dropped = self._sounds.popitem(last=False)
                self._bytes -= dropped.nbytes


@dataclass(eq=False)
class _Sound:
    """One ``play_file`` request of one client, from acceptance to its end."""

    client: ConnectedClient
    session: str  # the client's id for it ("sound-3")
    path: str
    volume: float
    loop: bool
    device: str | None
    name: str = ""  # the daemon-wide session id ("c7/sound-3")
    state: AudioSessionState = INACTIVE
    voice: Voice | None = None
    source: DecodedSound | AudioReader | None = None
    gain: Gain = field(default_factory=Gain)  # the policy's: ducks and fades
    registered: bool = False  # in the Arbiter
    aside: bool = False  # its client stopped answering: silent, out of the policy
    announced: bool = False  # the client was told it started
    finished: bool = False


class PlayerHost(Protocol):
    """What the player needs of the daemon (called on the daemon's loop only)."""

    @property
    def config(self) -> PolicyConfig:
        """The policy the daemon runs (the role its sounds' stream gets)."""

    @property
    def arbiter(self) -> Arbiter:
        """The daemon's one policy, where each sound is a session."""

    def dispatch(self, actions: Iterable[Action]) -> None:
        """Apply ``actions`` decided outside a client's request: push them to their clients."""

    def flush(self) -> None:
        """Write out every client's queued replies and pushes."""


class DaemonPlayer:
    """The daemon's own engine and the sounds it plays for clients (see the module)."""

    def __init__(
        self, daemon: PlayerHost, backend_factory: Callable[[], Backend] = select_backend
    ) -> None:
        self._daemon = daemon
        self._backend_factory = backend_factory
        self._loop: asyncio.AbstractEventLoop | None = None
        self._engine: asyncio.Future[Engine] | None = None
        self._engine_opened = 0.0  # loop time
        # A backend the user did not name may turn up later (a sound server started after us).
        self._may_look_again = (os.environ.get(BACKEND_ENV) or "auto") == "auto"
        self.cache = SoundCache()
        self._sounds: dict[str, _Sound] = {}  # by daemon-wide session id
        self._voices: dict[Voice, _Sound] = {}
        self._preparing: set[asyncio.Task[None]] = set()  # held, so none is collected early
        self._ids = itertools.count(1)

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the engine, so that the first sound does not wait for it. The daemon does
        this before it serves: PortAudio's start silences stderr for a moment (``sounddevice``
        sends it to /dev/null), and the daemon's log lines would be lost meanwhile."""
        loop = self._loop = asyncio.get_running_loop()
        self._engine_opened = loop.time()
        self._engine = asyncio.ensure_future(loop.run_in_executor(None, self._open_engine))
        try:
            await self._engine
        except Exception:  # play_file says so to each client that asks
            log.exception("sounds for clients: the audio engine could not be opened")

    def _open_engine(self) -> Engine:
        engine = Engine(self._backend_factory(), on_event=self._engine_event)
        # The sounds' stream stays open between them: a new stream's set-up would delay each.
        kept = engine.keep_stream(self._daemon.config.role(SOUND_TYPE))
        log.info(
            "sounds for clients play on the %s backend%s",
            engine.backend.name,
            " (their stream kept open, resting)" if kept else "",
        )
        return engine

    async def close(self) -> None:
        """Stop every sound and close the engine."""
        for sound in list(self._sounds.values()):
            self._finish(sound, None)
        if self._engine is None:
            return
        try:
            engine = await self._engine
        except Exception:  # it never opened: nothing to close
            return
        await asyncio.get_running_loop().run_in_executor(None, engine.close)

    # -- requests -----------------------------------------------------------------------------

    def play_file(self, client: ConnectedClient, args: dict[str, Any]) -> dict[str, Any]:
        """The ``play_file`` request: check it, start preparing the sound, and answer with
        the session id the sound's pushes will name."""
        path = args["path"]
        if not isinstance(path, str) or not 0 < len(path) <= MAX_PATH or "\0" in path:
            raise ProtocolError(
                f"path must be a file's path of 1 to {MAX_PATH} characters "
                f"(no NUL), not {path!r:.80}"
            )
        if not os.path.isabs(path):
            raise ProtocolError(
                f"path must be absolute (the daemon has its own working directory), not {path!r}"
            )
        volume = args.get("volume", 1.0)
        if (
            isinstance(volume, bool)
            or not isinstance(volume, (int, float))
            or not 0.0 <= volume <= 1.0
        ):
            raise ProtocolError(f"volume must be a number from 0 to 1, not {volume!r}")
        loop = args.get("loop", False)
        if not isinstance(loop, bool):
            raise ProtocolError(f"loop must be true or false, not {loop!r}")
        device = args.get("device")
        if device is not None:
            device = check_string(device, "device")
        mine = sum(1 for sound in self._sounds.values() if sound.client is client)
        if mine >= MAX_SOUNDS_PER_CLIENT:
            raise ValueError(f"a client may play {MAX_SOUNDS_PER_CLIENT} sounds at once")
        if len(self._sounds) >= MAX_SOUNDS:
            raise ValueError(
                f"the daemon plays {MAX_SOUNDS} sounds at once at most; try "
                "again when one has ended"
            )
        if self._engine is None or self._loop is None:
            raise ValueError("this daemon plays no sounds (it was started without a player)")
        sound = _Sound(client, f"sound-{next(self._ids)}", path, float(volume), loop, device)
        sound.name = client.namespaced(sound.session)
        self._sounds[sound.name] = sound
        task = asyncio.ensure_future(self._prepare(sound))
        self._preparing.add(task)
        task.add_done_callback(self._preparing.discard)
        return {"session": sound.session}

    async def _prepare(self, sound: _Sound) -> None:
        """Open the sound (off the loop), then play it in its session."""
        assert self._engine is not None
        loop = asyncio.get_running_loop()
        try:
            engine = await self._engine_for_sound()
            source = await loop.run_in_executor(None, self._open, sound.path, engine)
        except (SoundError, DecodeError) as error:
            self._finish(sound, "failed", error=str(error))
            return
        except Exception as error:  # a bug or an OS surprise: the client still hears of it
            log.exception("preparing %s failed", sound.path)
            self._finish(sound, "failed", error=f"cannot play {sound.path!r}: {error}")
            return
        if sound.finished:  # the client went away meanwhile
            source.close()
            return
        sound.source = source
        self._begin(sound, engine)

    async def _engine_for_sound(self) -> Engine:
        """The engine; one that found no sound device is opened again (after ``LOOK_AGAIN``
        seconds, and when no sound plays on it) in case a sound server has come since."""
        assert self._engine is not None
        loop = asyncio.get_running_loop()
        engine = await self._engine
        if (
            engine.backend.name != "null"
            or not self._may_look_again
            or self._voices
            or loop.time() - self._engine_opened < LOOK_AGAIN
        ):
            return await self._engine  # (another sound may have replaced it meanwhile)
        log.info("sounds for clients: looking for a sound device again")
        self._engine_opened = loop.time()
        self._engine = asyncio.ensure_future(loop.run_in_executor(None, self._open_engine))
        await loop.run_in_executor(None, engine.close)
        return await self._engine

    def _open(self, path: str, engine: Engine) -> DecodedSound | AudioReader:
        """In a worker thread: the file's audio, from the cache or decoded (short sounds are
        cached). FIFOs, devices and sockets are refused without being opened."""
        try:
            info = os.stat(path)
        except OSError as error:
            raise SoundError(f"cannot play {path!r}: {error.strerror}") from None
        if not stat.S_ISREG(info.st_mode):
            raise SoundError(
                f"cannot play {path!r}: not a regular file (a FIFO, device or "
                "socket); give an audio file"
            )
        key = (
            info.st_dev,
            info.st_ino,
            info.st_size,
            info.st_mtime_ns,
            engine.rate,
            engine.channels,
        )
        samples = self.cache.get(key)
        if samples is not None:
            return DecodedSound(samples, engine.rate)
        reader = open_audio(path, rate=engine.rate, channels=engine.channels)
        duration = reader.duration
        frames = None if duration is None else math.ceil(duration * engine.rate) + 1
        if frames is None or frames * engine.channels * 4 > self.cache.per_sound:
            return reader  # long (or of unknown length): read as it plays
        with reader:
            samples = reader.read(frames)
        self.cache.put(key, samples)
        return DecodedSound(samples, engine.rate)

    def _begin(self, sound: _Sound, engine: Engine) -> None:
        """Register the sound's session, add its voice (silent), and ask for activation: the
        policy's answer sets it playing, or holds it."""
        assert sound.source is not None
        source: Source = LoopingSource(sound.source) if sound.loop else sound.source
        try:
            sound.voice = engine.add_voice(
                source,
                gains=(Gain(sound.volume), sound.gain),
                device=sound.device,
                role=self._daemon.config.role(SOUND_TYPE),
                playing=False,
            )
        except NotFoundError as error:
            self._finish(sound, "failed", error=str(error))
            return
        self._voices[sound.voice] = sound
        client = sound.client
        if client.set_aside is None:
            self._take_part(sound)
        else:
            sound.aside = True  # it waits, silent, until its client answers again
        if sound.finished:
            return
        sound.announced = True
        self._push(
            sound,
            "started",
            state=sound.state.value,
            duration=getattr(sound.source, "duration", None),
        )
        log.info("%s: playing %s (%s)", client, sound.path, sound.state.value)

    def _take_part(self, sound: _Sound) -> None:
        """The sound's session joins the policy and asks to play: the policy's answer sets its
        voice playing, or holds it."""
        arbiter = self._daemon.arbiter
        owner = f"notify {os.path.basename(sound.path)} (pid {sound.client.pid})"
        self._daemon.dispatch(arbiter.add(sound.name, sound.name, owner, SOUND_TYPE))
        sound.registered = True
        self._daemon.dispatch(arbiter.request_active(sound.name, SOUND_TYPE))

    # -- the daemon's hooks -------------------------------------------------------------------

    def set_aside(self, client: ConnectedClient) -> None:
        """``client`` stopped answering (stopped, as by Ctrl-Z, or hung): its sounds fall
        silent where they are and their sessions leave the policy, so that what they ducked
        comes back, as the sessions of its own streams do (``DaemonService.set_aside``)."""
        for sound in [s for s in self._sounds.values() if s.client is client and not s.aside]:
            sound.aside = True
            if sound.voice is not None:
                sound.voice.playing = False
            if sound.registered:
                sound.registered = False
                self._daemon.dispatch(self._daemon.arbiter.remove(sound.name))

    def bring_back(self, client: ConnectedClient) -> None:
        """``client`` answers again: its sounds ask to play again where they stopped."""
        for sound in [s for s in self._sounds.values() if s.client is client and s.aside]:
            sound.aside = False
            if sound.voice is not None:
                self._take_part(sound)

    def owns(self, session_name: str) -> bool:
        """Whether ``session_name`` (daemon-wide) is a sound of this player."""
        return session_name in self._sounds

    def apply(self, actions: list[Action]) -> None:
        """The policy's actions for the sounds' sessions: states and gains."""
        for action in actions:
            sound = self._sounds.get(action.session_id)
            if sound is None or sound.finished:
                continue
            if isinstance(action, SetGain):
                sound.gain.set(action.gain, action.ramp)
            elif isinstance(action, SetState):
                self._set_state(sound, action)

    def _set_state(self, sound: _Sound, action: SetState) -> None:
        sound.state = action.state
        if sound.voice is not None:
            sound.voice.playing = action.state is ACTIVE
        if action.state is INACTIVE:
            # Stopped for good (a permanent interruption): fade out, then it is over.
            sound.gain.set(0.0, action.fade)
            assert self._loop is not None
            self._loop.call_later(action.fade, self._finish, sound, "stopped")
            return
        if sound.announced:
            self._push(sound, "state", state=action.state.value)

    def client_gone(self, client: ConnectedClient) -> None:
        """The client disconnected: its sounds stop."""
        for sound in [s for s in self._sounds.values() if s.client is client]:
            self._finish(sound, None)

    # -- the end of a sound -------------------------------------------------------------------

    def _engine_event(self, event: EngineEvent) -> None:
        # On the audio (or a watcher) thread: only post to the loop.
        if isinstance(event, (VoiceEnded, DeviceRemoved, OutputFailed)) and self._loop is not None:
            self._loop.call_soon_threadsafe(self._engine_said, event)

    def _engine_said(self, event: EngineEvent) -> None:
        if isinstance(event, VoiceEnded):
            sound = self._voices.get(event.voice)
            if sound is not None:
                self._finish(sound, "ended")
        elif isinstance(event, DeviceRemoved):
            # The engine moved the voices to the default output, held: a notification
            # plays on there (it is not music bursting out of the speakers).
            for voice in event.voices:
                moved = self._voices.get(voice)
                if moved is not None:
                    voice.playing = moved.state is ACTIVE
        elif isinstance(event, OutputFailed):
            for sound in list(self._sounds.values()):
                self._finish(sound, "failed", error=f"cannot play {sound.path!r}: {event.reason}")

    def _finish(self, sound: _Sound, outcome: str | None, error: str | None = None) -> None:
        """Remove the sound's voice and session (releasing whatever it ducked) and tell the
        client how it ended (``outcome`` None: the client is gone, tell nobody)."""
        if sound.finished:
            return
        sound.finished = True
        self._sounds.pop(sound.name, None)
        if sound.voice is not None:
            self._voices.pop(sound.voice, None)
            if self._engine is not None and self._engine.done() and not self._engine.exception():
                self._engine.result().remove_voice(sound.voice)
            sound.voice = None
        if sound.source is not None:
            sound.source.close()
        if sound.registered:
            self._daemon.dispatch(self._daemon.arbiter.remove(sound.name))
        if outcome is not None:
            if error is not None:
                log.info("%s: %s", sound.client, error)
            self._push(sound, outcome, **({"error": error} if error is not None else {}))

    def _push(self, sound: _Sound, event: str, **fields: Any) -> None:
        client = sound.client
        if client.closing:
            return
        client.send({"push": "sound", "session": sound.session, "event": event, **fields})
        self._daemon.flush()
