"""A real device backend on PortAudio (through ``sounddevice``): ALSA-only boards, macOS, Windows.

PortAudio enumerates devices once, when it is initialised, and re-initialising it in a process
ends every stream that process has open (``Pa_Terminate`` closes them; a ``sounddevice`` stream
object is a dangling handle afterwards). So hot-plug is watched by a child process,
``portaudio/watcher.py``, that owns no stream and re-initialises its own PortAudio every
``poll_interval`` seconds, printing the device list as one JSON line whenever it changes. This
process re-initialises its PortAudio only when no stream of this module is open, or, when a
stream is wanted on a device that appeared since, after closing its own streams, to reopen
them at once (docs/devices.md, "PortAudio").
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ....errors import NotFoundError
from ...backend import (
    DeliverCallback,
    DeviceInfo,
    DeviceKind,
    RenderCallback,
    StreamFormat,
    check_format,
    default_latency_blocks,
)
from .host import (
    Snapshot,
    choose_host_api,
    enumerate_devices,
    load_sounddevice,
    reinitialise_portaudio,
)
from .watcher import decode_snapshot

log = logging.getLogger(__name__)

__all__ = [
    "PortAudioBackend",
    "PortAudioInputStream",
    "PortAudioOutputStream",
]

DEFAULT_POLL_INTERVAL = 1.0
"""Seconds between two enumerations of the device-watcher child process."""

WATCHER = f"{__package__}.watcher"
"""The module the device-watcher child process runs."""


# --- the process-wide PortAudio state ---------------------------------------------------------

_PA_LOCK = threading.RLock()
"""Held around every PortAudio open, close and re-initialisation of this process."""

_OPEN: weakref.WeakSet[_PaStream] = weakref.WeakSet()
"""Every PortAudio stream of this module open now (of any backend)."""

_BACKENDS: weakref.WeakSet[PortAudioBackend] = weakref.WeakSet()


def _refresh_in_process(sd: ModuleType) -> None:
    """Re-initialise this process's PortAudio with our open streams closed around it, then
    reopen them (caller holds ``_PA_LOCK``). A stream whose device is gone is marked failed."""
    streams = list(_OPEN)
    if streams:
        log.info("re-initialising PortAudio for a new device: reopening %d stream(s)", len(streams))
    for stream in streams:
        stream._close_portaudio()
    reinitialise_portaudio(sd)
    for backend in list(_BACKENDS):
        backend._rescan()
    for stream in streams:
        try:
            stream._open_portaudio()
        except Exception as exc:  # noqa: BLE001 - the device went away meanwhile
            stream.failed = True
            log.warning(
                "could not reopen the stream on %r after re-initialising PortAudio: %s",
                stream.device_id,
                exc,
            )


# --- streams ----------------------------------------------------------------------------------


class _PaStream:
    """One PortAudio stream of ours: opened on its device by id, reopened after a refresh."""

    kind: DeviceKind = "audiooutput"

    def __init__(self, backend: PortAudioBackend, device_id: str, format: StreamFormat) -> None:
        self.backend = backend
        self.device_id = device_id
        self.format = format
        self.failed = False
        """True once PortAudio stopped the stream on its own (its device went away)."""
        self._stream: Any = None
        self._closing = False
        self._callback_thread: int | None = None

    def _make(self, index: int) -> Any:
        rate, channels, blocksize = self.format
        sd = self.backend._sd
        return (sd.OutputStream if self.kind == "audiooutput" else sd.InputStream)(
            device=index,
            samplerate=rate,
            channels=channels,
            dtype="float32",
            blocksize=blocksize,
            latency=self._latency(),
            callback=self._callback,
            finished_callback=self._finished,
            extra_settings=self.backend._extra_settings(),
        )

    def _latency(self) -> float:
        """Seconds of buffer to ask PortAudio for."""
        raise NotImplementedError

    def _callback(self, data: np.ndarray, frames: int, time: Any, status: Any) -> None:
        raise NotImplementedError

    def _open_portaudio(self) -> None:
        with _PA_LOCK:
            stream = self._make(self.backend._portaudio_index(self.device_id, self.kind))
            stream.start()
            self._stream = stream
            _OPEN.add(self)

    def _close_portaudio(self) -> None:
        with _PA_LOCK:
            stream, self._stream = self._stream, None
            _OPEN.discard(self)
            if stream is None:
                return
            self._closing = True
            try:
                stream.abort()
                stream.close()
            except Exception:  # noqa: BLE001 - closing a stream of a vanished device
                log.debug(
                    "closing the PortAudio stream on %r failed", self.device_id, exc_info=True
                )
            finally:
                self._closing = False

    def _close_soon(self) -> None:
        """Close the PortAudio stream; from inside its own callback, on another thread (PortAudio
        cannot stop a stream from its callback)."""
        if threading.get_ident() == self._callback_thread:
            threading.Thread(target=self._close_portaudio, daemon=True).start()
        else:
            self._close_portaudio()

    def _finished(self) -> None:
        """PortAudio's finished callback: the stream stopped; if we did not stop it, its device
        failed (unplugged): mark it and have the watcher look at the devices now."""
        if self._closing or self._stream is None:
            return
        self.failed = True
        log.warning("the PortAudio stream on %r stopped on its own (device gone?)", self.device_id)
        self.backend._poll_now()


class _DeviceOutput(_PaStream):
    """The one PortAudio output stream of a device: it sums every role stream open on it."""

    def __init__(
        self, backend: PortAudioBackend, device_id: str, format: StreamFormat, latency: float
    ) -> None:
        super().__init__(backend, device_id, format)
        self.latency = latency
        self.roles: tuple[PortAudioOutputStream, ...] = ()
        self.underflows = 0
        self.blocks_rendered = 0
        self.output_delay = 0.0
        """Seconds from the last callback to when its block is heard (PortAudio's estimate:
        with ALSA's pulse plugin it includes the server's buffer, the stream's latency not)."""

    def _latency(self) -> float:
        return self.latency

    def _callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        self._callback_thread = threading.get_ident()
        # When this block will be heard, as PortAudio estimates it (0 where it cannot tell).
        self.output_delay = time.outputBufferDacTime - time.currentTime
        if status.output_underflow:
            self.underflows += 1
            self.backend.underflows += 1
        mixed = False
        for role in self.roles:
            block = role._render_block(frames)
            if block is None:
                continue
            if mixed:
                outdata += block
            else:
                outdata[:] = block
                mixed = True
        if not mixed:
            outdata.fill(0.0)
        self.blocks_rendered += 1


class PortAudioOutputStream:
    """The engine's output stream for one (device, role): its ``render`` is summed into the
    device's PortAudio stream (PortAudio streams carry no role)."""

    def __init__(self, device: _DeviceOutput, role: str, render: RenderCallback) -> None:
        self._device = device
        self.device_id = device.device_id
        self.role = role
        self._render = render
        self._render_failed = False
        self._playing_out = False  # closing once what PortAudio holds of it has played
        self.closed = False

    @property
    def underflows(self) -> int:
        """Callbacks of this device's PortAudio stream flagged ``output_underflow``."""
        return self._device.underflows

    @property
    def blocks_rendered(self) -> int:
        return self._device.blocks_rendered

    @property
    def failed(self) -> bool:
        """True once PortAudio stopped the device's stream on its own."""
        return self._device.failed

    def _render_block(self, frames: int) -> np.ndarray | None:
        if self._render_failed or self._playing_out:
            return None
        try:
            block = self._render(frames)
            expected = (frames, self._device.format[1])
            if block.shape != expected:
                raise ValueError(
                    f"render({frames}) returned shape {block.shape}; expected {expected}"
                )
            return block
        except Exception:
            self._render_failed = True
            log.exception(
                "render callback of the %r output on %r failed; playing silence",
                self.role,
                self.device_id,
            )
            return None

    def close_when_quiet(self) -> None:
        """Close once what the device's stream holds of this role has played: its end is
        heard, not cut when the stream closes with its last role. Renders nothing more (its
        route's sound, if any comes, is a new stream's), and closes once the last block is
        heard (the stream's output latency or PortAudio's estimate of it, and a block)."""
        if self.closed or self._playing_out:
            return
        self._playing_out = True
        device = self._device
        rate, _, blocksize = device.format
        stream = device._stream
        # (an estimate over a second is a host API's odd clock, not a buffer)
        estimate = device.output_delay if device.output_delay < 1.0 else 0.0
        latency = max(device.latency, estimate, float(getattr(stream, "latency", 0.0) or 0.0))
        timer = threading.Timer(latency + blocksize / rate, self.close)
        timer.daemon = True
        timer.start()

    def close(self) -> None:
        """Stop rendering this role; the device's stream closes with its last role."""
        if not self.closed:
            self.closed = True
            self._device.backend._close_output(self)


class PortAudioInputStream(_PaStream):
    """A PortAudio capture stream that calls ``deliver(block)`` with each block."""

    kind: DeviceKind = "audioinput"

    def __init__(
        self,
        backend: PortAudioBackend,
        device_id: str,
        format: StreamFormat,
        deliver: DeliverCallback,
    ) -> None:
        super().__init__(backend, device_id, format)
        self._deliver = deliver
        self.overflows = 0
        """Callbacks flagged ``input_overflow`` (captured audio was lost)."""
        self.closed = False

    def _latency(self) -> float:
        rate, _, blocksize = self.format
        return self.backend._latency(rate, blocksize)

    def _callback(self, indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        self._callback_thread = threading.get_ident()
        if status.input_overflow:
            self.overflows += 1
        try:
            self._deliver(indata.copy())
        except Exception:
            log.exception("deliver callback of the input on %r failed", self.device_id)

    def close(self) -> None:
        """Stop capturing (idempotent)."""
        if not self.closed:
            self.closed = True
            self.backend._forget_input(self)
            self._close_soon()


# --- the backend ------------------------------------------------------------------------------


class PortAudioBackend:
    """The devices of one PortAudio host API (ALSA, Core Audio, WASAPI) as the engine's devices.

    Construction fails with ``BackendUnavailableError`` when ``sounddevice`` or the PortAudio
    library is missing. ``latency_blocks``: each output's PortAudio latency in blocks (default:
    4 blocks and at least 64 ms, as on PulseAudio). ``poll_interval``: seconds between two
    enumerations by the device watcher (started by ``watch_devices``).
    """

    name = "portaudio"

    def __init__(
        self,
        host_api: str | None = None,
        *,
        latency_blocks: int | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        if latency_blocks is not None and latency_blocks < 2:
            raise ValueError(f"latency_blocks must be at least 2, not {latency_blocks!r}")
        if not poll_interval > 0:
            raise ValueError(
                f"poll_interval must be a positive number of seconds, not {poll_interval!r}"
            )
        already_loaded = "sounddevice" in sys.modules
        self._sd = load_sounddevice()
        self.latency_blocks = latency_blocks
        self.poll_interval = float(poll_interval)
        self.underflows = 0
        """Output callbacks flagged ``output_underflow`` (underruns), every device together."""
        self._lock = threading.Lock()
        self._outputs: dict[str, _DeviceOutput] = {}
        self._inputs: list[PortAudioInputStream] = []
        self._watchers: list[Callable[[list[DeviceInfo]], None]] = []
        self._watch_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._probe: subprocess.Popen[str] | None = None
        self._probe_errors: Any = None
        self._closed = False
        with _PA_LOCK:
            if already_loaded and not _OPEN:
                reinitialise_portaudio(self._sd)  # devices may have changed since the import
            self.host_api = choose_host_api(self._sd, host_api)
            self._snapshot, self._ids = enumerate_devices(self._sd, self.host_api)
            _BACKENDS.add(self)

    def __repr__(self) -> str:
        return f"<PortAudioBackend {self.host_api}, default output {self.default_output()!r}>"

    # -- devices --

    def list_devices(self) -> list[DeviceInfo]:
        """The host API's outputs and inputs, as last enumerated."""
        return list(self._snapshot.devices)

    def default_output(self) -> str | None:
        """The host API's default output device, or None."""
        return self._snapshot.default_output

    def default_input(self) -> str | None:
        """The host API's default input device, or None."""
        return self._snapshot.default_input

    def _rescan(self) -> None:
        """After a re-initialisation of this process's PortAudio: its indexes changed. (Once
        the watcher runs, the device list is the watcher's: it reports changes to the engine.)"""
        snapshot, self._ids = enumerate_devices(self._sd, self.host_api)
        if self._watch_thread is None:
            self._snapshot = snapshot

    def _portaudio_index(self, device_id: str, kind: DeviceKind) -> int:
        """This process's PortAudio index of ``device_id`` (caller holds ``_PA_LOCK``). A device
        the watcher has seen but this process's PortAudio has not gets it re-initialised."""
        known = {(d.id, d.kind) for d in self._snapshot.devices}
        if device_id not in self._ids and (device_id, kind) in known:
            _refresh_in_process(self._sd)
        if device_id not in self._ids or (device_id, kind) not in known:
            names = [d.id for d in self._snapshot.devices if d.kind == kind]
            raise NotFoundError(
                f"no PortAudio {kind} device {device_id!r} ({self.host_api}); known: {names}"
            )
        return self._ids[device_id]

    # -- streams --

    def _latency(self, rate: int, blocksize: int) -> float:
        blocks = self.latency_blocks or default_latency_blocks(rate, blocksize)
        return blocks * blocksize / rate

    def _extra_settings(self) -> Any:
        if self.host_api == "Windows WASAPI":  # shared mode: let Windows convert the rate
            return self._sd.WasapiSettings(auto_convert=True)
        return None

    def open_output(
        self,
        device_id: str,
        role: str,
        *,
        rate: int,
        channels: int,
        blocksize: int,
        render: RenderCallback,
    ) -> PortAudioOutputStream:
        """A stream whose ``render(blocksize)`` is called on PortAudio's thread for each block.

        Every role on one device shares that device's PortAudio stream (and its format).
        Raises ``NotFoundError`` for an unknown device.
        """
        format = check_format(rate, channels, blocksize)
        self._check_open()
        with self._lock:
            device = self._outputs.get(device_id)
            if device is not None and not device.failed and device.format != format:
                raise ValueError(
                    f"the streams of {device_id!r} run at rate, channels, blocksize"
                    f" = {tuple(device.format)}, not {tuple(format)}"
                )
            if device is None or device.failed:
                device = _DeviceOutput(self, device_id, format, self._latency(rate, blocksize))
                device._open_portaudio()
                self._outputs[device_id] = device
            stream = PortAudioOutputStream(device, role, render)
            device.roles = (*device.roles, stream)
        log.debug("opened %r output on %r (%s)", role, device_id, self.host_api)
        return stream

    def _close_output(self, stream: PortAudioOutputStream) -> None:
        device = stream._device
        with self._lock:
            device.roles = tuple(r for r in device.roles if r is not stream)
            if device.roles:
                return
            if self._outputs.get(device.device_id) is device:
                del self._outputs[device.device_id]
        device._close_soon()

    def open_input(
        self, device_id: str, *, rate: int, channels: int, blocksize: int, deliver: DeliverCallback
    ) -> PortAudioInputStream:
        """A capture stream that calls ``deliver(block)`` on PortAudio's thread for each
        (blocksize, channels) float32 block. Raises ``NotFoundError`` for an unknown device."""
        format = check_format(rate, channels, blocksize)
        self._check_open()
        stream = PortAudioInputStream(self, device_id, format, deliver)
        stream._open_portaudio()
        with self._lock:
            self._inputs.append(stream)
        return stream

    def _forget_input(self, stream: PortAudioInputStream) -> None:
        with self._lock:
            if stream in self._inputs:
                self._inputs.remove(stream)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this portaudio backend is closed")

    # -- hot-plug --

    def watch_devices(self, callback: Callable[[list[DeviceInfo]], None]) -> None:
        """Call ``callback(devices)`` on a watcher thread whenever the device list changes, as a
        child process polling PortAudio every ``poll_interval`` seconds sees it."""
        self._watchers.append(callback)
        if self._watch_thread is None:
            self._watch_thread = threading.Thread(
                target=self._watch, name="portaudio-watch", daemon=True
            )
            self._watch_thread.start()

    def _start_probe(self) -> subprocess.Popen[str]:
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[4])  # where ``audiosession`` is
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        return subprocess.Popen(
            [sys.executable, "-m", WATCHER, self.host_api, str(self.poll_interval)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._probe_errors,
            text=True,
            env=env,
        )

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._probe_errors = tempfile.TemporaryFile()
            try:
                probe = self._probe = self._start_probe()
            except OSError as exc:
                log.warning("cannot watch PortAudio devices (%s); hot-plug is not seen", exc)
                return
            assert probe.stdout is not None
            for line in probe.stdout:
                try:
                    self._update(decode_snapshot(line))
                except Exception:
                    log.exception("the PortAudio device watcher sent %r", line[:200])
            probe.wait()
            if self._stop.is_set():
                break
            self._probe_errors.seek(0)
            errors = self._probe_errors.read().decode(errors="replace").strip()[-2000:]
            log.warning(
                "the PortAudio device watcher exited with status %s; restarting it. %s",
                probe.returncode,
                errors,
            )
            self._stop.wait(1.0)

    def _update(self, snapshot: Snapshot) -> None:
        """A new enumeration from the watcher: keep what it cannot see, report a change."""
        with self._lock:
            previous = self._snapshot
            held = self._held_devices(previous, snapshot)
            if held:
                snapshot = replace(snapshot, devices=(*snapshot.devices, *held))
            if snapshot == previous:
                return
            self._snapshot = snapshot
        for callback in list(self._watchers):
            try:
                callback(list(snapshot.devices))
            except Exception:
                log.exception("device watch callback %r failed", callback)

    def _held_devices(self, previous: Snapshot, now: Snapshot) -> list[DeviceInfo]:
        """ALSA ``hw:`` devices missing from ``now`` only because our own running stream holds
        them (PortAudio skips a device it cannot open to probe, and a hw device opens once)."""
        if self.host_api != "ALSA":
            return []
        present = {(d.id, d.kind) for d in now.devices}
        running = {
            (s.device_id, s.kind)
            for s in (*self._outputs.values(), *self._inputs)
            if not s.failed and s._stream is not None
        }
        return [
            d
            for d in previous.devices
            if (d.id, d.kind) not in present and (d.id, d.kind) in running and "(hw:" in d.id
        ]

    def _poll_now(self) -> None:
        """Ask the watcher for an enumeration now (a stream of ours stopped on its own)."""
        probe = self._probe
        if probe is not None and probe.stdin is not None:
            try:
                probe.stdin.write("poll\n")
                probe.stdin.flush()
            except (OSError, ValueError):
                pass

    # -- teardown --

    def close(self) -> None:
        """Close every stream and stop the watcher. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            outputs = list(self._outputs.values())
            inputs = list(self._inputs)
            self._outputs.clear()
            self._inputs.clear()
        for stream in (*outputs, *inputs):
            stream._close_portaudio()
        self._stop.set()
        probe = self._probe
        if probe is not None:
            if probe.stdin is not None:
                try:
                    probe.stdin.close()  # the child exits at the end of its input
                except OSError:
                    pass
            try:
                probe.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                probe.kill()
                probe.wait()
        thread = self._watch_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        self._watchers.clear()
        _BACKENDS.discard(self)

    def __enter__(self) -> PortAudioBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
