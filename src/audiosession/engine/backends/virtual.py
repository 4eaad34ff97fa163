"""A backend in virtual time: blocks are rendered only when the test clock says so."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from ...errors import NotFoundError
from ..backend import DeliverCallback, DeviceInfo, RenderCallback, check_device

DEFAULT_OUTPUTS = (
    DeviceInfo("default", "Virtual speakers", "audiooutput", frozenset(), True),
    DeviceInfo("headset", "Virtual headset", "audiooutput", frozenset({"phone"}), False),
)
DEFAULT_INPUTS = (DeviceInfo("default", "Virtual microphone", "audioinput", frozenset(), True),)


class _VirtualOutput:
    def __init__(
        self, backend: VirtualBackend, device_id: str, role: str, render: RenderCallback
    ) -> None:
        self.backend = backend
        self.device_id = device_id
        self.role = role
        self.render = render
        self.closed = False

    def close(self) -> None:
        """Stop rendering this stream (idempotent)."""
        self.closed = True
        self.backend._forget(self)


class _VirtualInput:
    def __init__(self, backend: VirtualBackend, device_id: str, deliver: DeliverCallback) -> None:
        self.backend = backend
        self.device_id = device_id
        self.deliver = deliver
        self.closed = False

    def close(self) -> None:
        """Stop delivering to this stream (idempotent)."""
        self.closed = True
        self.backend._forget(self)


class VirtualBackend:
    """Devices whose streams are rendered one block per ``render_block()`` call.

    Every output device's signal is recorded from time 0 (zeros while nothing played), so
    ``output(device)[int(t * rate)]`` is what it received at ``t`` seconds. Inputs deliver
    their signal (an array or a WAV file, looped) or silence. Devices can be added and
    removed while streams are open (hot-plug); watchers hear of it at once.
    """

    name = "virtual"
    realtime = False
    """Blocks are rendered when the test says, not by a clock: the engine then makes decoded
    audio on demand while rendering rather than ahead on a worker (the same mix every run)."""

    def __init__(
        self,
        rate: int = 48000,
        channels: int = 2,
        blocksize: int = 480,
        *,
        outputs: Iterable[DeviceInfo] | None = None,
        inputs: Iterable[DeviceInfo] | None = None,
        signals: Mapping[str, np.ndarray | str | os.PathLike[str]] | None = None,
        record: bool = True,
        on_block: Callable[[str, np.ndarray], None] | None = None,
    ) -> None:
        """``outputs``/``inputs`` replace the default devices; ``signals`` maps input ids to
        what they capture. ``record=False`` keeps nothing (``output()`` is then silent);
        ``on_block(device_id, block)`` sees each device's mixed block as it is rendered (valid
        during the call only): offline rendering to a file streams through it.
        """
        if rate <= 0 or channels <= 0 or blocksize <= 0:
            raise ValueError(
                f"rate, channels and blocksize must be positive, not {rate}, {channels}, "
                f"{blocksize}"
            )
        self.rate = int(rate)
        self.channels = int(channels)
        self.blocksize = int(blocksize)
        self._lock = threading.RLock()
        self._outputs: dict[str, DeviceInfo] = {}
        self._inputs: dict[str, DeviceInfo] = {}
        for info in DEFAULT_OUTPUTS if outputs is None else outputs:
            self._check_kind(info, "audiooutput")
            self._outputs[info.id] = info
        for info in DEFAULT_INPUTS if inputs is None else inputs:
            self._check_kind(info, "audioinput")
            self._inputs[info.id] = info
        self._signals: dict[str, tuple[np.ndarray, int]] = {}
        for device_id, signal in (signals or {}).items():
            self.set_signal(device_id, signal)
        self._output_streams: list[_VirtualOutput] = []
        self._input_streams: list[_VirtualInput] = []
        self._recorded: dict[str, list[tuple[int, np.ndarray]]] = {}
        self._watchers: list[Callable[[list[DeviceInfo]], None]] = []
        self.record = record
        self.on_block = on_block
        self.frames = 0
        """Frames rendered so far (the virtual clock, in samples)."""

    @staticmethod
    def _check_kind(info: DeviceInfo, kind: str) -> None:
        if info.kind != kind:
            raise ValueError(f"{info.id!r} is a {info.kind}, expected an {kind}")

    @property
    def time(self) -> float:
        """Seconds rendered so far."""
        return self.frames / self.rate

    # -- Backend protocol -------------------------------------------------------------------

    def list_devices(self) -> list[DeviceInfo]:
        """Outputs then inputs, in the order they were added."""
        with self._lock:
            return [*self._outputs.values(), *self._inputs.values()]

    def default_output(self) -> str | None:
        """The output marked default, else the first output, else None."""
        return _default(self._outputs)

    def default_input(self) -> str | None:
        """The input marked default, else the first input, else None."""
        return _default(self._inputs)

    def open_output(
        self,
        device_id: str,
        role: str,
        *,
        rate: int,
        channels: int,
        blocksize: int,
        render: RenderCallback,
    ) -> _VirtualOutput:
        """A stream rendered once per ``render_block()`` (with this backend's blocksize)."""
        self._check_format(rate, channels)
        with self._lock:
            check_device(device_id, self._outputs.values())
            stream = _VirtualOutput(self, device_id, role, render)
            self._output_streams.append(stream)
        return stream

    def open_input(
        self, device_id: str, *, rate: int, channels: int, blocksize: int, deliver: DeliverCallback
    ) -> _VirtualInput:
        """A capture stream fed one block of the device's signal per ``render_block()``."""
        self._check_format(rate, channels)
        with self._lock:
            check_device(device_id, self._inputs.values(), "audioinput")
            stream = _VirtualInput(self, device_id, deliver)
            self._input_streams.append(stream)
        return stream

    def watch_devices(self, callback: Callable[[list[DeviceInfo]], None]) -> None:
        """Call ``callback(devices)`` whenever a device is added or removed."""
        self._watchers.append(callback)

    def close(self) -> None:
        """Close every stream."""
        with self._lock:
            streams: list[_VirtualOutput | _VirtualInput] = [
                *self._output_streams,
                *self._input_streams,
            ]
        for stream in streams:
            stream.close()

    def _check_format(self, rate: int, channels: int) -> None:
        if rate != self.rate or channels != self.channels:
            raise ValueError(
                f"this virtual backend runs at {self.rate} Hz x {self.channels} channels, "
                f"not {rate} Hz x {channels}"
            )

    def _forget(self, stream: _VirtualOutput | _VirtualInput) -> None:
        with self._lock:
            if isinstance(stream, _VirtualOutput):
                if stream in self._output_streams:
                    self._output_streams.remove(stream)
            elif stream in self._input_streams:
                self._input_streams.remove(stream)

    # -- the clock --------------------------------------------------------------------------

    def render_block(self) -> None:
        """Render one block of every open output stream and deliver one of every input."""
        frames = self.blocksize
        with self._lock:
            outputs = list(self._output_streams)
            inputs = list(self._input_streams)
        mixed: dict[str, np.ndarray] = {}
        for stream in outputs:
            block = np.asarray(stream.render(frames), dtype=np.float32)
            if block.shape != (frames, self.channels):
                raise ValueError(
                    f"render returned shape {block.shape}, expected {(frames, self.channels)}"
                )
            if stream.device_id in mixed:
                mixed[stream.device_id] = mixed[stream.device_id] + block
            else:
                mixed[stream.device_id] = block.copy() if self.record else block
        for device_id, block in mixed.items():
            if self.record:
                self._recorded.setdefault(device_id, []).append((self.frames, block))
            if self.on_block is not None:
                self.on_block(device_id, block)
        captured: dict[str, np.ndarray] = {}  # each input's block, whatever reads it
        for capture in inputs:
            if capture.device_id not in captured:
                captured[capture.device_id] = self._next_input_block(capture.device_id, frames)
            capture.deliver(captured[capture.device_id])
        self.frames += frames

    def render(self, seconds: float) -> None:
        """Render ``seconds`` of audio (rounded to whole blocks)."""
        for _ in range(round(seconds * self.rate / self.blocksize)):
            self.render_block()

    def output(self, device_id: str | None = None) -> np.ndarray:
        """What ``device_id`` (default: the default output) received, from time 0.

        A (frames, channels) float32 array covering every block rendered so far.
        """
        device = device_id if device_id is not None else self.default_output()
        out = np.zeros((self.frames, self.channels), dtype=np.float32)
        for start, block in self._recorded.get(device or "", ()):
            out[start : start + len(block)] = block
        return out

    # -- hot-plug and inputs ----------------------------------------------------------------

    def add_device(
        self, info: DeviceInfo, signal: np.ndarray | str | os.PathLike[str] | None = None
    ) -> None:
        """Plug in a device (an input may come with its signal); watchers are told."""
        with self._lock:
            table = self._outputs if info.kind == "audiooutput" else self._inputs
            if info.id in table:
                raise ValueError(f"there is already an {info.kind} {info.id!r}")
            table[info.id] = info
        if signal is not None:
            self.set_signal(info.id, signal)
        self._notify()

    def remove_device(self, device_id: str, kind: str | None = None) -> None:
        """Unplug a device: its streams stop at once; watchers are told."""
        with self._lock:
            removed = False
            if kind in (None, "audiooutput") and device_id in self._outputs:
                del self._outputs[device_id]
                self._output_streams = [s for s in self._output_streams if s.device_id != device_id]
                removed = True
            if kind in (None, "audioinput") and device_id in self._inputs:
                del self._inputs[device_id]
                self._input_streams = [s for s in self._input_streams if s.device_id != device_id]
                removed = True
        if not removed:
            raise NotFoundError(f"no device {device_id!r} to remove")
        self._notify()

    def set_signal(self, device_id: str, signal: np.ndarray | str | os.PathLike[str]) -> None:
        """What input ``device_id`` captures, looped: a (frames[, channels]) array or a file."""
        if isinstance(signal, (str, os.PathLike)):
            from ..decode import open_audio

            with open_audio(signal, rate=self.rate, channels=self.channels) as reader:
                blocks = []
                while True:
                    block = reader.read(self.rate)
                    blocks.append(block)
                    if len(block) < self.rate:
                        break
            data = np.concatenate(blocks)
        else:
            data = np.asarray(signal, dtype=np.float32)
            if data.ndim == 1:
                data = data[:, None]
            if data.shape[1] == 1 and self.channels > 1:
                data = np.repeat(data, self.channels, axis=1)
            if data.ndim != 2 or data.shape[1] != self.channels:
                raise ValueError(
                    f"an input signal must be (frames,) or (frames, {self.channels}), "
                    f"not {np.shape(signal)}"
                )
        if len(data) == 0:
            raise ValueError(f"the signal for {device_id!r} is empty")
        self._signals[device_id] = (np.ascontiguousarray(data), 0)

    def _next_input_block(self, device_id: str, frames: int) -> np.ndarray:
        entry = self._signals.get(device_id)
        if entry is None:
            return np.zeros((frames, self.channels), dtype=np.float32)
        data, position = entry
        index = (position + np.arange(frames)) % len(data)
        self._signals[device_id] = (data, (position + frames) % len(data))
        return data[index]

    def _notify(self) -> None:
        devices = self.list_devices()
        for callback in list(self._watchers):
            callback(devices)


def _default(devices: Mapping[str, DeviceInfo]) -> str | None:
    for info in devices.values():
        if info.is_default:
            return info.id
    return next(iter(devices), None)
