"""A sink for machines without sound: a real-time clock thread that pulls blocks and drops them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from ..backend import DeliverCallback, DeviceInfo, RenderCallback, check_device

log = logging.getLogger(__name__)

_MAX_LATE = 0.2
"""Seconds behind the clock after which the thread stops catching up and starts afresh."""


class _Stream:
    def __init__(self, backend: RealtimeBackend, device_id: str, callback: Callable) -> None:
        self.backend = backend
        self.device_id = device_id
        self.callback = callback

    def close(self) -> None:
        """Stop this stream (idempotent)."""
        self.backend._forget(self)


class RealtimeBackend:
    """Base of the null and wav sinks: one thread that renders every open stream in real time.

    The thread runs while any stream is open, paced by ``time.monotonic``: block *n* is
    rendered when ``n * blocksize / rate`` seconds have passed since it started. Inputs
    deliver silence.
    """

    name = "realtime"
    output_device = DeviceInfo(
        "null", "Null output (discards audio)", "audiooutput", frozenset(), True
    )
    input_device = DeviceInfo("null", "Silent input", "audioinput", frozenset(), True)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outputs: list[_Stream] = []
        self._inputs: list[_Stream] = []
        self._format: tuple[int, int, int] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.blocks_rendered = 0
        self.late_blocks = 0
        """Blocks the thread could not render on time (its underruns)."""

    def list_devices(self) -> list[DeviceInfo]:
        """One output and one (silent) input."""
        return [self.output_device, self.input_device]

    def default_output(self) -> str | None:
        """The one output."""
        return self.output_device.id

    def default_input(self) -> str | None:
        """The one input."""
        return self.input_device.id

    def open_output(
        self,
        device_id: str,
        role: str,
        *,
        rate: int,
        channels: int,
        blocksize: int,
        render: RenderCallback,
    ) -> _Stream:
        """A stream whose ``render`` is called once per block, in real time."""
        check_device(device_id, [self.output_device])
        stream = _Stream(self, device_id, render)
        self._start(stream, self._outputs, rate, channels, blocksize)
        return stream

    def open_input(
        self, device_id: str, *, rate: int, channels: int, blocksize: int, deliver: DeliverCallback
    ) -> _Stream:
        """A capture stream that receives one block of silence per block, in real time."""
        check_device(device_id, [self.input_device], "audioinput")
        stream = _Stream(self, device_id, deliver)
        self._start(stream, self._inputs, rate, channels, blocksize)
        return stream

    def watch_devices(self, callback: Callable[[list[DeviceInfo]], None]) -> None:
        """Devices never change here: nothing to watch."""

    def close(self) -> None:
        """Stop the clock thread and every stream."""
        with self._lock:
            self._outputs.clear()
            self._inputs.clear()
            thread = self._thread
            self._thread = None
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)

    def _start(
        self, stream: _Stream, streams: list[_Stream], rate: int, channels: int, blocksize: int
    ) -> None:
        if rate <= 0 or channels <= 0 or blocksize <= 0:
            raise ValueError(
                f"rate, channels, blocksize must be positive: {rate}, {channels}, {blocksize}"
            )
        with self._lock:
            if self._format is not None and self._format != (rate, channels, blocksize):
                raise ValueError(
                    f"{self.name} streams all run at rate, channels, blocksize = {self._format}, "
                    f"not {(rate, channels, blocksize)}"
                )
            self._format = (rate, channels, blocksize)
            streams.append(stream)
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(
                    target=self._run,
                    args=(self._stop, rate, channels, blocksize),
                    name=f"audiosession-{self.name}",
                    daemon=True,
                )
                self._thread.start()

    def _forget(self, stream: _Stream) -> None:
        with self._lock:
            for streams in (self._outputs, self._inputs):
                if stream in streams:
                    streams.remove(stream)

    def _run(self, stop: threading.Event, rate: int, channels: int, blocksize: int) -> None:
        period = blocksize / rate
        silence = np.zeros((blocksize, channels), dtype=np.float32)
        started = time.monotonic()
        block = 0
        while not stop.is_set():
            with self._lock:
                outputs = list(self._outputs)
                inputs = list(self._inputs)
            mixed: np.ndarray | None = None
            for stream in outputs:
                try:
                    rendered = stream.callback(blocksize)
                except Exception:
                    log.exception("rendering a %s stream failed", self.name)
                    continue
                mixed = rendered.copy() if mixed is None else mixed + rendered
            self._consume(silence if mixed is None else mixed)
            for stream in inputs:
                try:
                    stream.callback(silence.copy())
                except Exception:
                    log.exception("delivering to a %s input failed", self.name)
            self.blocks_rendered += 1
            block += 1
            delay = started + block * period - time.monotonic()
            if delay < -_MAX_LATE:
                self.late_blocks += 1
                started, block = time.monotonic(), 0
            elif delay > 0:
                stop.wait(delay)
        self._finish()

    def _consume(self, block: np.ndarray) -> None:
        """What happens to each mixed block of the default output (nothing, here)."""

    def _finish(self) -> None:
        """Called on the clock thread when it stops."""


class NullBackend(RealtimeBackend):
    """Plays in real time into nothing: for machines without a sound device."""

    name = "null"
