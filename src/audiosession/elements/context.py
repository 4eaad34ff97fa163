"""``AudioContext``: a small, real Web Audio subset, as an audio session element.

Its default type is ``ambient``; it is audible while ``running`` and sending non-zero samples to
its destination (detected per block by the engine, with a short hold). Its suspend steps move
it to ``interrupted`` and its resume steps back to ``running``; a context the program suspended
itself stays suspended. The graph renders per block with NumPy on the audio thread.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from audiosession.elements.futures import PendingPromises, Promise
from audiosession.engine.engine import DeviceRemoved
from audiosession.engine.gain import Gain
from audiosession.engine.mixer import AudibilityChanged
from audiosession.errors import InvalidStateError
from audiosession.events import EventHandler, EventTarget
from audiosession.session.element import SessionElement
from audiosession.session.runtime import Runtime
from audiosession.session.window import Window
from audiosession.types import AudioSessionState, AudioSessionType

if TYPE_CHECKING:
    from audiosession.engine.mixer import Voice

log = logging.getLogger(__name__)

WAVEFORMS = ("sine", "square", "sawtooth", "triangle")


class AudioParam:
    """A parameter of a node; ``value`` may change while rendering (ramped over one block)."""

    def __init__(self, value: float, low: float = -math.inf, high: float = math.inf) -> None:
        self._low, self._high = low, high
        self._value = float(value)

    @property
    def value(self) -> float:
        return self._value

    @value.setter
    def value(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise TypeError(f"an AudioParam value must be a number, not {value!r}")
        self._value = float(min(max(value, self._low), self._high))


class AudioNode:
    """A node of the graph: ``connect(destination)`` returns the destination, for chaining."""

    def __init__(self, context: AudioContext) -> None:
        self.context = context
        self._inputs: tuple[AudioNode, ...] = ()
        self._outputs: tuple[AudioNode, ...] = ()

    def connect(self, destination: AudioNode) -> AudioNode:
        """Connect this node's output to ``destination``'s input; returns ``destination``."""
        if not isinstance(destination, AudioNode):
            raise TypeError(f"connect() takes an AudioNode, not {destination!r}")
        if destination.context is not self.context:
            raise InvalidStateError("cannot connect nodes of different AudioContexts")
        if destination is self or destination in self._upstream():
            raise InvalidStateError("this connection would make a cycle")
        if getattr(destination, "number_of_inputs", 1) == 0:
            raise ValueError(f"{destination!r} has no inputs: nothing can be connected to it")
        if destination not in self._outputs:
            self._outputs += (destination,)
            destination._inputs += (self,)
        return destination

    def disconnect(self, destination: AudioNode | None = None) -> None:
        """Disconnect this node's output from ``destination`` (None: from every node)."""
        for target in self._outputs if destination is None else (destination,):
            if target in self._outputs:
                self._outputs = tuple(n for n in self._outputs if n is not target)
                target._inputs = tuple(n for n in target._inputs if n is not self)

    def _upstream(self) -> set[AudioNode]:
        seen: set[AudioNode] = set()
        stack = list(self._inputs)
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(node._inputs)
        return seen

    def _render(self, start: int, frames: int, cache: dict[int, np.ndarray]) -> np.ndarray:
        """This node's output for frames [start, start + frames), once per block."""
        key = id(self)
        if key not in cache:
            cache[key] = self._process(start, frames, self._mix_inputs(start, frames, cache))
        return cache[key]

    def _mix_inputs(self, start: int, frames: int, cache: dict[int, np.ndarray]) -> np.ndarray:
        total = np.zeros(frames, dtype=np.float64)
        for node in self._inputs:
            total += node._render(start, frames, cache)
        return total

    def _process(self, start: int, frames: int, mixed: np.ndarray) -> np.ndarray:
        return mixed


class AudioDestinationNode(AudioNode):
    """Where the context's sound leaves for the device."""


class GainNode(AudioNode):
    """Multiplies its input by ``gain.value`` (ramped across a block when it changes)."""

    def __init__(self, context: AudioContext) -> None:
        super().__init__(context)
        self.gain = AudioParam(1.0)
        self._last = 1.0

    def _process(self, start: int, frames: int, mixed: np.ndarray) -> np.ndarray:
        target = self.gain.value
        if target == self._last:
            return mixed * target
        ramp = np.linspace(self._last, target, frames, endpoint=False)
        self._last = target
        return mixed * ramp


class AudioScheduledSourceNode(AudioNode):
    """A source with ``start(when)`` / ``stop(when)`` in context time; ``onended`` fires."""

    def __init__(self, context: AudioContext) -> None:
        super().__init__(context)
        self._start_frame: int | None = None
        self._stop_frame: int | None = None
        self._ended = False
        self._listeners = EventTarget()

    def start(self, when: float = 0.0) -> None:
        if self._start_frame is not None:
            raise InvalidStateError("start() may be called only once on a source node")
        self._start_frame = self.context._frame_at(when)

    def stop(self, when: float = 0.0) -> None:
        if self._start_frame is None:
            raise InvalidStateError("stop() before start()")
        self._stop_frame = self.context._frame_at(when)

    @property
    def onended(self) -> Any:
        return self._listeners._get_handler("ended")

    @onended.setter
    def onended(self, callback: Any) -> None:
        self._listeners._set_handler("ended", callback)

    def add_event_listener(self, type: str, callback: Any, *, once: bool = False) -> None:
        self._listeners.add_event_listener(type, callback, once=once)

    @property
    def playing(self) -> bool:
        return self._start_frame is not None and not self._ended

    def _process(self, start: int, frames: int, mixed: np.ndarray) -> np.ndarray:
        if self._start_frame is None or self._ended:
            return np.zeros(frames)
        end = start + frames
        if self._start_frame >= end:
            return np.zeros(frames)
        first = max(self._start_frame, start)
        last = end if self._stop_frame is None else min(end, max(self._stop_frame, first))
        out = np.zeros(frames)
        if last > first:
            signal, finished = self._generate(first - self._start_frame, last - first)
            out[first - start : first - start + len(signal)] = signal
            if finished:
                last = first + len(signal)
                self._finish()
        if self._stop_frame is not None and self._stop_frame <= end:
            self._finish()
        return out

    def _finish(self) -> None:
        if not self._ended:
            self._ended = True
            self.context._loop.queue_task(self._listeners._fire, "ended")

    def _generate(self, offset: int, frames: int) -> tuple[np.ndarray, bool]:
        raise NotImplementedError


class OscillatorNode(AudioScheduledSourceNode):
    """A periodic waveform: ``type`` sine, square, sawtooth or triangle at ``frequency``."""

    def __init__(self, context: AudioContext) -> None:
        super().__init__(context)
        self._type = "sine"
        self.frequency = AudioParam(440.0, 0.0, context.sample_rate / 2)
        self._phase = 0.0

    @property
    def type(self) -> str:
        return self._type

    @type.setter
    def type(self, value: str) -> None:
        if value not in WAVEFORMS:
            allowed = ", ".join(WAVEFORMS)
            raise ValueError(f"oscillator type must be one of {allowed}, not {value!r}")
        self._type = value

    def _generate(self, offset: int, frames: int) -> tuple[np.ndarray, bool]:
        step = self.frequency.value / self.context.sample_rate
        phase = (self._phase + step * np.arange(frames)) % 1.0
        self._phase = float((self._phase + step * frames) % 1.0)
        if self._type == "sine":
            signal = np.sin(2 * np.pi * phase)
        elif self._type == "square":
            signal = np.where(phase < 0.5, 1.0, -1.0)
        elif self._type == "sawtooth":
            signal = 2.0 * phase - 1.0
        else:
            signal = 1.0 - 4.0 * np.abs(phase - 0.5)
        return signal, False


class AudioBufferSourceNode(AudioScheduledSourceNode):
    """Plays a NumPy buffer (frames, or (frames, channels): mixed to mono for the graph)."""

    def __init__(self, context: AudioContext) -> None:
        super().__init__(context)
        self._buffer: np.ndarray | None = None
        self.loop = False

    @property
    def buffer(self) -> np.ndarray | None:
        return self._buffer

    @buffer.setter
    def buffer(self, samples: Any) -> None:
        array = np.asarray(samples, dtype=np.float64)
        if array.ndim == 2:
            array = array.mean(axis=1)
        if array.ndim != 1 or len(array) == 0 or not np.all(np.isfinite(array)):
            raise ValueError("a buffer must be a non-empty 1-D or 2-D array of finite samples")
        self._buffer = array

    def _generate(self, offset: int, frames: int) -> tuple[np.ndarray, bool]:
        if self._buffer is None:
            return np.zeros(frames), False
        size = len(self._buffer)
        if self.loop:
            return self._buffer[(offset + np.arange(frames)) % size], False
        signal = self._buffer[offset : offset + frames]
        return signal, offset + frames >= size


class _GraphSource:
    """What the mixer reads for a context: its destination, rendered block by block."""

    def __init__(self, context: AudioContext) -> None:
        self.context = context
        self.frames = 0

    def read(self, frames: int) -> np.ndarray:
        mono = self.context.destination._render(self.frames, frames, {})
        self.frames += frames
        channels = self.context._channels
        return np.repeat(mono.astype(np.float32)[:, None], channels, axis=1)


class AudioContext(EventTarget, SessionElement):
    """A Web Audio ``AudioContext``: ``create_oscillator()``, ``create_buffer_source()``,
    ``create_gain()``, ``node.connect(context.destination)``, ``resume()``, ``suspend()``."""

    default_type = AudioSessionType.AMBIENT

    onstatechange = EventHandler["AudioContext"]("statechange")

    def __init__(self, *, window: Window | None = None) -> None:
        EventTarget.__init__(self)
        SessionElement.__init__(self, window)
        audio = self.audio_session.platform.audio
        self._loop = self.window.runtime.loop
        self.sample_rate: int = audio.rate
        self._channels: int = audio.channels
        self.destination = AudioDestinationNode(self)
        self._source = _GraphSource(self)
        self._state = "running"
        self._user_suspended = False
        self._samples_audible = False
        self._pending_resumes = PendingPromises()
        self._gate = Gain(0.0)
        self._lock = threading.Lock()
        self._on_close: list[Callable[[], None]] = []  # what nodes hold (AudioWorkletNode)
        self._voice: Voice | None = audio.add_voice(
            self.audio_session,
            self._source,
            gains=(self._gate,),
            watch_audibility=True,
            on_event=self._on_engine_event,
        )
        self._gate_follows_session()

    def _event_runtime(self) -> Runtime:
        return self.window.runtime

    # -- attributes ---------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """``suspended``, ``running``, ``interrupted`` or ``closed``."""
        return self._state

    @property
    def current_time(self) -> float:
        """Seconds of audio this context has rendered."""
        return self._source.frames / self.sample_rate

    currentTime = current_time  # noqa: N815
    sampleRate = property(  # noqa: N815
        lambda self: self.sample_rate, doc="The spec's spelling of ``sample_rate``."
    )

    def create_oscillator(self) -> OscillatorNode:
        """A new ``OscillatorNode`` of this context (a sine at 440 Hz until told otherwise)."""
        self._check_open()
        return OscillatorNode(self)

    def create_buffer_source(self) -> AudioBufferSourceNode:
        """A new ``AudioBufferSourceNode`` of this context, to play a buffer of samples."""
        self._check_open()
        return AudioBufferSourceNode(self)

    def create_gain(self) -> GainNode:
        """A new ``GainNode`` of this context, to change the level of what goes through it."""
        self._check_open()
        return GainNode(self)

    createOscillator = create_oscillator  # noqa: N815
    createBufferSource = create_buffer_source  # noqa: N815
    createGain = create_gain  # noqa: N815

    def _frame_at(self, when: float) -> int:
        if isinstance(when, bool) or not isinstance(when, (int, float)) or when < 0:
            raise ValueError(f"a time must be a number of seconds >= 0, not {when!r}")
        return max(int(round(when * self.sample_rate)), self._source.frames)

    def _check_open(self) -> None:
        if self._state == "closed":
            raise InvalidStateError("the AudioContext is closed")
        self._check_usable()

    # -- the program's controls ---------------------------------------------------------------

    def resume(self) -> Promise[None]:
        """Run again; the future resolves once it runs (after an interruption ends)."""
        with self._loop.lock:
            self._check_open()
            self._user_suspended = False
            future: Promise[None] = Promise(self._loop, "AudioContext.resume()")
            if self._state == "interrupted":
                self._pending_resumes.append(future)
                return future
            self._set_state("running")
            future.set_result(None)
            return future

    def suspend(self) -> Promise[None]:
        """Stop rendering until ``resume()``; stays suspended after an interruption."""
        with self._loop.lock:
            self._check_open()
            self._user_suspended = True
            self.audio_session._forget_interrupted(self)
            if self._state in ("running", "interrupted"):
                self._set_state("suspended")
            return Promise.settled(self._loop)

    def close(self) -> Promise[None]:
        """Stop for good and free the device stream."""
        with self._loop.lock:
            if self._state != "closed":
                self._remove_voice()
                self._set_state("closed")
            return Promise.settled(self._loop)

    def _set_state(self, state: str) -> None:
        if state == self._state:
            return
        self._state = state
        if self._voice is not None:
            self._voice.playing = state == "running"
        # The engine reports changes of audibility; what it last heard still holds on resume.
        voice = self._voice
        self._samples_audible = state == "running" and voice is not None and voice.audible
        self._loop.queue_task(self._fire_statechange)
        self._refresh_audible()
        if state == "running":
            self._pending_resumes.resolve()

    @property
    def _keeps_itself_alive(self) -> bool:
        return self._state != "closed"  # a closed context never renders again

    def _fire_statechange(self) -> None:
        if not self._released:
            self._fire("statechange")

    def _remove_voice(self) -> None:
        if self._voice is not None:
            self.audio_session.platform.audio.remove_voice(self._voice)
            self._voice = None
        for release in self._on_close:
            release()
        self._on_close.clear()

    def _on_engine_event(self, event: Any) -> None:
        if isinstance(event, AudibilityChanged) and self._state == "running":
            self._samples_audible = event.audible
            self._refresh_audible()
        elif isinstance(event, DeviceRemoved) and self._voice is not None:
            self._voice.playing = self._state == "running"  # moved off an unplugged device

    # -- the element contract (spec § AudioContext) -------------------------------------------

    def _is_audible_now(self) -> bool:
        return self._state == "running" and self._samples_audible

    @property
    def pending_play(self) -> bool:
        return self._state == "running" and any(
            isinstance(node, AudioScheduledSourceNode) and node.playing
            for node in self.destination._upstream()
        )

    def _update_steps(self) -> None:
        self._gate_follows_session()

    def _gate_follows_session(self) -> None:
        # Sound leaves for the device only while the session is active; the engine still
        # renders (silently) before that, to learn whether the context is audible.
        active = self.audio_session.state is AudioSessionState.ACTIVE
        self._gate.set(1.0 if active else 0.0)

    def _suspend_steps(self) -> None:
        # "Queue a control message to suspend": the context is interrupted.
        if self._state == "running":
            self._set_state("interrupted")

    def _resume_steps(self) -> None:
        # "Queue a control message to unsuspend", unless the program suspended it meanwhile.
        if self._state == "interrupted" and not self._user_suspended:
            self._set_state("running")

    def _release(self) -> None:
        self._remove_voice()
        self._state = "closed"
        for future in self._pending_resumes.take():
            future.cancel()
        super()._release()

    def __repr__(self) -> str:
        return f"<AudioContext {self._state} in {self.window.name}>"
