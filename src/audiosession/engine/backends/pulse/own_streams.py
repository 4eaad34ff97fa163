"""The program's own PulseAudio / PipeWire streams that are not ours: the sink-inputs whose
``application.process.id`` is this process (or, when asked, one of its child processes) and
that no element of this package plays (``application.name`` is not ``audiosession``), such as
mpv's, pygame's or a libpulse-simple thread's. ``OwnStreams`` watches the server for them,
reports each one's life to a listener and applies what is asked of them with the same duck and
hold as the daemon's bridge applies to foreign programs (``foreign.StreamChanger``).

It sits in the pulse backend, beside ``control`` and ``foreign``, because all it knows is the
sound server: streams, volumes, mutes; which session a stream belongs to, and what the policy
does to it, is the platform's business (``platforms/own_streams.py``)."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .control import PulseEvents, connect_pulsectl
from .foreign import (
    OUR_APPLICATION,
    ForeignStream,
    StreamChanger,
    event_kind,
    follow_event,
    pid_of,
)

log = logging.getLogger(__name__)

__all__ = ["OwnStream", "OwnStreamListener", "OwnStreams", "descends_from"]

RETRY_INTERVAL = 5.0
"""Seconds between attempts to reach the sound server while it is away."""


@dataclass(frozen=True)
class OwnStream:
    """One of the program's own sink-inputs, as it appeared."""

    index: int
    pid: int
    program: str
    role: str | None  # its media.role


class OwnStreamListener(Protocol):
    """What ``OwnStreams`` reports, on its worker thread (hand it on; do not block)."""

    def appeared(self, stream: OwnStream, playing: bool) -> None:
        """A stream of the program appeared, playing (uncorked) or not."""

    def playing(self, index: int) -> None:
        """Stream ``index`` uncorked: its player plays."""

    def paused(self, index: int) -> None:
        """Stream ``index`` corked: its player paused."""

    def gone(self, index: int) -> None:
        """Stream ``index`` ended (or the server went away)."""


class OwnStreams:
    """Watches the server (``server``: a PulseAudio server string; None: ``$PULSE_SERVER``,
    else libpulse's default) for the sink-inputs of process ``pid`` (default: this one) and,
    with ``children``, of its descendants, that are not ours; reports them to ``listener``.

    ``set_gain(index, gain, ramp)`` ducks a stream (its volume × ``gain`` in amplitude, ramped
    over ``ramp`` seconds; 1 gives back exactly the volume it had), ``hold(index, True)``
    silences it for a pause or a stop (a mute: no client can cork another client's stream)
    and ``hold(index, False)`` undoes it. module-stream-restore keeps remembering the user's
    volume. Two threads with a connection each, as the bridge has: one hears the server's
    events, the other queries and changes streams; nothing blocks the caller. ``close()``
    gives every stream back its volume and mute."""

    def __init__(
        self,
        listener: OwnStreamListener,
        server: str | None = None,
        *,
        pid: int | None = None,
        children: bool = False,
        retry_interval: float = RETRY_INTERVAL,
    ) -> None:
        import pulsectl

        self._pulsectl = pulsectl
        self.listener = listener
        self.server = server if server is not None else os.environ.get("PULSE_SERVER") or None
        self.pid = os.getpid() if pid is None else pid
        self.children = children
        self._work: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._closed = threading.Event()
        # worker-thread state
        self._pulse: Any = None
        self._changer: StreamChanger | None = None
        self._streams: dict[int, ForeignStream] = {}
        self._others: set[int] = set()  # sink-inputs seen and not the program's
        self._events = PulseEvents(
            "audiosession-own-streams-events",
            self.server,
            ("sink_input",),
            self._on_event,
            retry_interval=retry_interval,
            on_connected=lambda pulse: self._work.put(("connected",)),
            on_lost=lambda error: self._work.put(("disconnected",)),
        )

    def start(self) -> None:
        """Start watching (the connection is made by the threads; this never blocks)."""
        self._events.start("audiosession-own-streams-events")
        self._worker = threading.Thread(
            target=self._worker_main, name="audiosession-own-streams", daemon=True
        )
        self._worker.start()

    def close(self, timeout: float = 5.0) -> None:
        """Give every stream back its volume and mute and stop (blocks up to ``timeout`` s)."""
        if self._closed.is_set():
            return
        done = threading.Event()
        self._work.put(("close", done))
        done.wait(timeout)
        self._closed.set()
        self._events.stop(timeout)
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout)

    def set_gain(self, index: int, gain: float, ramp: float = 0.0) -> None:
        """Duck stream ``index`` to ``gain`` (an amplitude factor, 1: undo) over ``ramp`` s."""
        if not 0.0 <= gain <= 1.0:
            raise ValueError(f"a stream's gain is between 0 and 1, not {gain!r}")
        if ramp < 0:
            raise ValueError(f"a ramp lasts 0 seconds or more, not {ramp!r}")
        self._work.put(("gain", index, gain, ramp))

    def hold(self, index: int, held: bool) -> None:
        """Silence stream ``index`` (a pause or a stop), or give it back (a resume)."""
        self._work.put(("hold", index, held))

    def is_own(self, props: Mapping[str, str]) -> bool:
        """Whether a sink-input with properties ``props`` is the program's and not ours."""
        if props.get("application.name") == OUR_APPLICATION:
            return False
        pid = pid_of(props)
        if pid is None:
            return False
        return pid == self.pid or (self.children and descends_from(pid, self.pid))

    # -- the event thread ---------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        # Inside libpulse's loop: no pulse calls here, just hand it on.
        self._work.put(("event", event_kind(event), int(event.index)))

    # -- the worker thread --------------------------------------------------------------

    def _worker_main(self) -> None:
        next_step: float | None = None
        while True:
            try:
                item = self._work.get(timeout=next_step)
            except queue.Empty:
                item = ("step",)
            kind = item[0]
            try:
                if kind == "close":
                    try:
                        if self._changer is not None:
                            self._changer.restore_all()
                    finally:
                        self._disconnect()
                        item[1].set()
                    return
                if kind == "connected":
                    self._connect()
                elif kind == "disconnected":
                    self._disconnect()
                elif self._changer is None:
                    continue
                elif kind == "event":
                    self._on_stream_event(item[1], item[2])
                elif kind == "gain":
                    self._change(item[1], gain=item[2], ramp=item[3])
                elif kind == "hold":
                    self._change(item[1], silenced=item[2])
            except self._pulsectl.PulseDisconnected:
                self._disconnect()
            except Exception:  # never die of the server: log and go on
                log.exception("own streams: %s failed", kind)
            finally:
                next_step = self._step()

    def _step(self) -> float | None:
        if self._changer is None:
            return None
        try:
            return self._changer.step()
        except self._pulsectl.PulseDisconnected:
            self._disconnect()
            return None

    def _connect(self) -> None:
        self._disconnect()
        try:
            self._pulse = connect_pulsectl("audiosession-own-streams", self.server)
        except self._pulsectl.PulseError as error:
            log.warning("own streams: cannot connect to the sound server (%s)", error)
            return
        self._changer = StreamChanger(self._pulse, self._pulsectl, self._streams, who="own streams")
        for sink_input in self._pulse.sink_input_list():
            self._observe(sink_input)

    def _disconnect(self) -> None:
        """The server went away: so did its streams."""
        pulse, self._pulse, self._changer = self._pulse, None, None
        if pulse is None:
            return
        with contextlib.suppress(Exception):
            pulse.close()
        for index in list(self._streams):
            self.listener.gone(index)
        self._streams.clear()
        self._others.clear()

    def _on_stream_event(self, kind: str, index: int) -> None:
        follow_event(
            self._pulse,
            self._pulsectl,
            kind,
            index,
            self._streams,
            self._others,
            observe=self._observe,
            ended=self._ended,
        )

    def _ended(self, stream: ForeignStream) -> None:
        log.info("own streams: #%d of %s ended", stream.index, stream.program)
        assert self._changer is not None
        self._changer.ended(stream)
        self.listener.gone(stream.index)

    def _observe(self, info: Any) -> None:
        stream = self._streams.get(info.index)
        if stream is None:
            if not self.is_own(info.proplist):
                self._others.add(info.index)
                return
            stream = self._streams[info.index] = ForeignStream.of(info)
            assert stream.pid is not None
            log.info(
                "own streams: #%d of %s (pid %d), media.role %r",
                info.index,
                stream.program,
                stream.pid,
                stream.role,
            )
            self.listener.appeared(
                OwnStream(info.index, stream.pid, stream.program, stream.role), not stream.corked
            )
            return
        assert self._changer is not None
        self._changer.observe(stream, info)
        corked = bool(info.corked)
        if corked != stream.corked:
            stream.corked = corked
            if stream.silenced:
                self._changer.enforce(stream)  # held: muted only while it plays
            if corked:
                self.listener.paused(stream.index)
            else:
                self.listener.playing(stream.index)

    def _change(
        self,
        index: int,
        *,
        gain: float | None = None,
        ramp: float | None = None,
        silenced: bool | None = None,
    ) -> None:
        stream = self._streams.get(index)
        if stream is None or self._changer is None:
            return
        if gain is not None:
            stream.gain = gain
        if silenced is not None:
            stream.silenced = silenced
        try:
            self._changer.enforce(stream, ramp)
        except self._pulsectl.PulseIndexError:
            pass  # gone meanwhile; its remove event follows


def descends_from(pid: int, ancestor: int) -> bool:
    """Whether process ``pid`` is a descendant of ``ancestor`` (through /proc's parent ids)."""
    seen: set[int] = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
        if pid == ancestor:
            return True
    return False
