"""Virtual time: the same engine and policy, driven by a manual clock.

See docs/design.md, *Time and threads*.

    with VirtualEnvironment() as env:
        env.navigator.audio_session.type = "playback"
        Audio(tone_file).play()
        env.advance(1.0)
        assert env.navigator.audio_session.state == "active"

Inside the ``with`` block ``Audio(...)``, ``AudioContext()`` and ``audiosession.platform()``
belong to the environment, in the thread that entered it (other threads keep the process's
runtime). Time moves only in ``advance()``, in whole blocks; tasks run in a deterministic
order, so the same script gives the same ``env.events`` every time.

Real I/O (files being opened, URLs downloading) takes real time, which virtual time does not
have. The rule that keeps results independent of the machine's speed: I/O is instantaneous
in virtual time, within real-time bounds.

- ``run_until_idle()`` (and so ``advance()``, before each block's tasks) waits until every
  source being opened has opened or failed, up to ``audiosession.loop.IO_WAIT`` (10 s) of
  real time per opening; so ``Audio(path)`` then ``run_until_idle()`` has its duration, or
  its error.
- Before each block, ``advance()`` waits until every playing source that reads the network
  has that block's audio decoded, has reached its end, has failed, or has stalled (its
  download fetching and no byte for ``elements.network.STALLED_AFTER``), up to
  ``NETWORK_WAIT`` (30 s) of real time per block. A server that trickles slower than real
  time therefore plays without a gap, and a URL's ``play()`` resolves at the same virtual
  time on any machine; silence and ``waiting`` come only from a stalled (or failed)
  download, and start exactly where its audio ran out.
- What measures real time stays real: ``stalled``, ``progress``, the network's timeouts and
  ``LOAD_DEADLINE``. Their events are queued when they happen and run with the next tasks.
  A stalled download that resumes plays again as soon as its bytes arrive, which is a
  real-time matter: a test that needs the exact block waits for it with
  ``NetworkSource.wait_ready`` before advancing.

A source takes part in the second rule by offering ``wait_playable(seconds, timeout)``.
"""

from __future__ import annotations

from types import TracebackType

import numpy as np

from audiosession.engine.backend import DeviceInfo
from audiosession.engine.backends.virtual import VirtualBackend
from audiosession.engine.backends.virtual_room import RoomBackend, SimulatedRoom
from audiosession.loop import ManualLoop, TaskLoop
from audiosession.platforms.base import Platform
from audiosession.platforms.embedded import EmbeddedPlatform
from audiosession.policy import PolicyConfig
from audiosession.session.runtime import EventRecord, Runtime, pop_runtime, push_runtime
from audiosession.session.window import Navigator, Window

__all__ = ["NETWORK_WAIT", "EventRecord", "SimulatedRoom", "VirtualEnvironment"]

NETWORK_WAIT = 30.0
"""Real seconds ``advance()`` waits at most, before one block, for the network sources that
play (see the module docstring); past it the block is rendered with what they have."""


class VirtualEnvironment:
    """A process of its own, with a clock that moves only when told.

    Devices are virtual: outputs ``default`` ("Virtual speakers") and ``headset`` (intended
    role ``phone``, so calls go there), input ``default``; ``add_device`` / ``remove_device``
    plug and unplug. The policy is the shipped default unless ``config`` is given (a user's
    ``audiosession.toml`` does not leak into tests).
    """

    def __init__(
        self,
        *,
        rate: int = 48000,
        channels: int = 2,
        blocksize: int = 480,
        config: PolicyConfig | None = None,
        outputs: list[DeviceInfo] | None = None,
        inputs: list[DeviceInfo] | None = None,
        room: SimulatedRoom | None = None,
    ) -> None:
        """``room``: an input hears an output through a simulated room (its echo is what a
        microphone track's echo cancellation removes)."""
        if rate <= 0 or blocksize <= 0:
            raise ValueError(f"rate and blocksize must be positive, not {rate} and {blocksize}")
        self.rate = rate
        self.channels = channels
        self.blocksize = blocksize
        self.config = config if config is not None else PolicyConfig()
        if room is None:
            self.backend = VirtualBackend(rate, channels, blocksize, outputs=outputs, inputs=inputs)
        else:
            self.backend = RoomBackend(
                rate, channels, blocksize, outputs=outputs, inputs=inputs, room=room
            )
        self.loop = ManualLoop()
        self.runtime = Runtime(
            self.loop, self._make_platform, record_events=True, virtual_clock=self
        )

    def _make_platform(self, loop: TaskLoop) -> Platform:
        return EmbeddedPlatform(
            loop,
            backend_factory=lambda: self.backend,
            config=self.config,
            rate=self.rate,
            channels=self.channels,
            blocksize=self.blocksize,
        )

    @property
    def block_duration(self) -> float:
        """Seconds of audio in one block: the step of the virtual clock."""
        return self.blocksize / self.rate

    def __enter__(self) -> VirtualEnvironment:
        push_runtime(self.runtime)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every window and the platform, and leave the environment."""
        try:
            self.runtime.close()
        finally:
            pop_runtime(self.runtime)

    @property
    def navigator(self) -> Navigator:
        """The environment's default window's navigator."""
        return self.runtime.default_window.navigator

    @property
    def default_window(self) -> Window:
        return self.runtime.default_window

    def window(self, parent: Window | None = None) -> Window:
        """A new top-level window, or a child frame of ``parent``."""
        return Window(parent, runtime=self.runtime)

    @property
    def platform(self) -> Platform:
        return self.runtime.platform

    @property
    def now(self) -> float:
        """Seconds since the environment began."""
        return self.loop.now()

    @property
    def events(self) -> list[EventRecord]:
        """Every event dispatched so far, in order."""
        assert self.runtime.events is not None
        return self.runtime.events

    def run_until_idle(self) -> int:
        """Run queued tasks until none is left; return how many ran. The clock does not move."""
        return self.loop.run_until_idle()

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (rounded to whole blocks), block by block:
        each block is rendered, then the timers and tasks that fall due run."""
        if seconds < 0:
            raise ValueError(f"cannot advance by a negative time: {seconds}")
        blocks = round(seconds / self.block_duration)
        start_block = round(self.loop.now() / self.block_duration)
        self.loop.run_until_idle()
        for index in range(start_block + 1, start_block + blocks + 1):
            self._render_block()
            self.loop.advance_to(index * self.block_duration)

    def _render_block(self) -> None:
        self._wait_for_network()
        self.runtime.platform.render_block()  # type: ignore[attr-defined]

    def _wait_for_network(self) -> None:
        """The rule for real I/O in virtual time (module docstring): before a block, each
        playing voice whose source reads the network gets that block's audio, its end, its
        failure or its stall."""
        engine = self.runtime.platform.audio.engine  # type: ignore[attr-defined]
        for voice in engine.voices:
            wait = getattr(voice.source, "wait_playable", None)
            if wait is not None and voice.playing and not voice.ended:
                wait(self.block_duration, NETWORK_WAIT)

    def output(self, device: str | None = None) -> np.ndarray:
        """Everything ``device`` (the default output if None) received since the start, as a
        (frames, channels) float32 array: sample ``int(t * rate)`` is what played at ``t``."""
        return self.backend.output(device)

    def add_device(self, info: DeviceInfo, signal: np.ndarray | str | None = None) -> None:
        """Plug in a device (an input may take a signal: an array or a WAV path, looped)."""
        self.backend.add_device(info, signal)
        self.loop.run_until_idle()

    def remove_device(self, device_id: str) -> None:
        """Unplug a device: its streams move to the default output (docs/design.md,
        *Platform policy*)."""
        self.backend.remove_device(device_id)
        self.loop.run_until_idle()
