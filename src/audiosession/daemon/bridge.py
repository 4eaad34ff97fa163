"""The PulseAudio / PipeWire bridge of the daemon (issue 6, docs/bridge.md): the streams of
programs that do not use this package take part in the policy table.

Each *foreign* playback stream (a sink-input that is not ours) becomes a session of the
daemon's built-in pseudo-client ``pulse`` (session id = the sink-input index, context = the
stream's process), typed from its ``media.role``; it asks to be active when it starts or
uncorks and releases when it corks or ends. Actions the policy decides for those sessions are
applied to the sound server instead of being pushed to a client:

- ``SetGain`` (a duck): the sink-input's volume becomes its own volume × gain (in amplitude,
  per channel; PulseAudio ducks at once, as its own ``module-role-ducking`` does); gain 1
  restores exactly the volume it had (the raw ``pa_volume_t`` values).
- ``SetState`` ``interrupted`` / ``inactive``: the sink-input is muted (a client cannot cork
  another client's stream; PulseAudio's own ``module-role-cork`` mutes it too); ``active``
  unmutes it. A stream the user had muted is left alone.

Each volume or mute the bridge changes is written to a journal (``volumes.json`` next to the
daemon's socket, replaced atomically) before it is changed and dropped once restored, so a
daemon killed mid-duck restores the streams at its next start. If the user changes a ducked
stream's volume (or unmutes a muted one), the user wins: the bridge forgets what it had saved
and does not touch that stream again for that duck.

Only ``pulsectl`` (the native protocol's client API) is used, so it runs the same against
PulseAudio and PipeWire's ``pipewire-pulse``. ``pulsectl`` blocks, so the bridge has two
threads with one connection each: one listens for sink-input events, the other queries and
changes streams; the policy itself runs on the daemon's asyncio loop
(``loop.call_soon_threadsafe``), never blocked by the sound server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from audiosession.errors import AudioSessionError
from audiosession.policy import Action, Arbiter, SetGain, SetState
from audiosession.types import AudioSessionState, AudioSessionType

log = logging.getLogger(__name__)

__all__ = [
    "BRIDGE_CLIENT",
    "OUR_APPLICATION",
    "ROLE_TYPES",
    "BridgeHost",
    "JournalError",
    "PulseBridge",
    "type_for_role",
]

BRIDGE_CLIENT = "pulse"
"""The client id of the bridge's pseudo-client: its sessions are ``pulse/<sink-input>``."""

OUR_APPLICATION = "audiosession"
"""``application.name`` of this package's own streams (``engine.pulse``): never bridged."""

ROLE_TYPES: dict[str, AudioSessionType] = {
    "music": AudioSessionType.PLAYBACK,
    "video": AudioSessionType.PLAYBACK,
    "event": AudioSessionType.TRANSIENT,
    "phone": AudioSessionType.PLAY_AND_RECORD,
    "a11y": AudioSessionType.TRANSIENT_SOLO,
}
"""A foreign stream's session type by its ``media.role``; any other role, or none: ambient."""

RETRY_INTERVAL = 5.0
"""Seconds between attempts to reach the sound server while it is away."""

_VOLUME_NORM = 0x10000  # PA_VOLUME_NORM: raw volumes are integers, 100 % = 65536


def type_for_role(role: str | None) -> AudioSessionType:
    """The session type of a foreign stream with ``media.role`` ``role`` (None: no role)."""
    return ROLE_TYPES.get(role or "", AudioSessionType.AMBIENT)


class JournalError(AudioSessionError, OSError):
    """The journal cannot be written: the bridge turns itself off rather than change volumes
    it could not give back after a ``kill -9``."""


class BridgeHost(Protocol):
    """What the bridge needs of the daemon (called on the daemon's loop only)."""

    arbiter: Arbiter

    def dispatch(self, actions: Iterable[Action]) -> None:
        """Apply ``actions`` decided outside a client's request: push them to their clients
        (and the bridge's own to the bridge)."""

    def client_pids(self) -> set[int]:
        """The process ids of the connected clients (their streams are not foreign). Called
        from the bridge's worker thread: it must only read (a copy)."""


@dataclass
class _Stream:
    """A foreign sink-input as the bridge's worker thread sees it."""

    index: int
    pid: int | None
    program: str
    role: str | None
    corked: bool
    muted: bool = False  # as last seen on the server
    gain: float = 1.0  # the policy's duck gain
    silenced: bool = False  # the policy holds it (interrupted / inactive)
    volume: list[int] | None = None  # raw, as last seen on the server (or set by us)
    channels: list[str] | None = None  # its channel map, e.g. ["front-left", "front-right"]
    entry: str | None = None  # its name in module-stream-restore's database
    original: list[int] | None = None  # the user's volume while we duck it
    ducked_to: list[int] | None = None  # the volume we set
    we_muted: bool = False

    @property
    def changed_by_us(self) -> bool:
        """Whether its volume or mute is the bridge's doing now."""
        return self.original is not None or self.we_muted

    @property
    def session(self) -> str:
        return str(self.index)


class _StreamMemory:
    """PulseAudio's ``module-stream-restore`` (loaded by every stock ``default.pa``) saves a
    stream's volume and mute whenever a client changes them — the bridge's ducks and mutes
    too — under a name shared by similar streams (``sink-input-by-media-role:music``), and
    gives the next such stream what it saved. So that the user's volume is what it
    remembers, the bridge keeps each entry as it was before it first changed a stream of that
    name, writes it back (through the module's protocol extension) after each change the
    module may have saved, takes in what the user changes meanwhile, and lets go once none of
    those streams is changed any more. Where the entry cannot be read (PipeWire's
    ``pipewire-pulse`` takes writes but lists nothing: WirePlumber keeps its own memory), the
    entry written is the stream's own volume and mute as the user left them. Worker thread
    only; a no-op where the extension is missing."""

    def __init__(self, pulse: Any, pulsectl: Any) -> None:
        self._pulse = pulse
        self._pulsectl = pulsectl
        try:
            self.available = pulse.stream_restore_test() is not None
        except pulsectl.PulseError:
            self.available = False
        self.kept: dict[str, Any] = {}  # entry name -> the user's entry (None: not listed)

    def keep(self, name: str | None) -> None:
        """Before the bridge first changes a stream called ``name``: remember its entry."""
        if self.available and name is not None and name not in self.kept:
            entry = self._read(name)
            if self.available:
                self.kept[name] = entry

    def take_user_change(self, name: str, stream: _Stream) -> None:
        """The user changed ``stream`` (the module saved it): that entry is the user's now,
        but for what the bridge still does to ``stream`` (its duck, its mute)."""
        entry = self._read(name)
        if not self.available:
            return
        if entry is not None and stream.original is not None:
            entry.volume = self._pulsectl.PulseVolumeInfo(
                [v / _VOLUME_NORM for v in stream.original]
            )
            entry.channel_list = stream.channels
        if entry is not None and stream.we_muted:
            entry.mute = False
        self.kept[name] = entry

    def put_back(self, name: str, stream: _Stream, still_changed: bool) -> None:
        """Write the kept entry ``name`` back (else ``stream``'s as the user left it); forget
        it unless ``still_changed``."""
        if name not in self.kept:
            return
        entry = self.kept[name] if still_changed else self.kept.pop(name)
        if entry is None:
            user_volume = stream.original or stream.volume or []
            entry = self._pulsectl.PulseExtStreamRestoreInfo(
                name,
                volume=self._pulsectl.PulseVolumeInfo([v / _VOLUME_NORM for v in user_volume]),
                channel_list=stream.channels,
                mute=stream.muted and not stream.we_muted,
            )
        try:
            self._pulse.stream_restore_write(entry, mode="replace", apply_immediately=False)
        except self._pulsectl.PulseOperationFailed as error:
            self._give_up(error)

    def _read(self, name: str) -> Any:
        try:
            entries = self._pulse.stream_restore_list()
        except self._pulsectl.PulseOperationFailed as error:
            self._give_up(error)
            return None
        return next((e for e in entries if e.name == name), None)

    def _give_up(self, error: Exception) -> None:
        """The extension fails: one line, then its memory is left alone."""
        log.warning(
            "PulseAudio bridge: module-stream-restore's extension failed (%s); "
            "leaving what it remembers alone from now on",
            error,
        )
        self.available = False
        self.kept.clear()


@dataclass
class _Row:
    """A foreign session as the loop side sees it (for ``sessions``)."""

    pid: int | None
    program: str


class PulseBridge:
    """Foreign PulseAudio / PipeWire streams as sessions of the daemon's ``pulse``
    pseudo-client (see the module docstring).

    ``start(loop)`` on the daemon's loop starts the threads (it never blocks); ``apply()``
    takes the policy's actions for ``pulse/…`` sessions; ``close()`` restores every stream
    it changed and stops (blocking: call it from an executor or at exit)."""

    def __init__(
        self,
        host: BridgeHost,
        journal: str | os.PathLike[str],
        server: str | None = None,
        *,
        retry_interval: float = RETRY_INTERVAL,
    ) -> None:
        """``server``: a PulseAudio server string (default: ``$PULSE_SERVER``, else libpulse's
        default); ``journal``: the file saved volumes are kept in."""
        import pulsectl  # a core dependency; imported here so that the daemon runs without it

        self._pulsectl = pulsectl
        self.host = host
        self.server = server if server is not None else os.environ.get("PULSE_SERVER") or None
        self.journal_path = Path(journal)
        self.retry_interval = retry_interval
        self.connected = False
        self.status = f"connecting to {self.where}"
        """One line for ``audiosession status``: on (which server), or off and why."""
        self.off_for_good: str | None = None  # why the bridge turned itself off
        self._loop: asyncio.AbstractEventLoop | None = None
        self._work: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        # worker-thread state
        self._pulse: Any = None
        self._memory: _StreamMemory | None = None
        self._streams: dict[int, _Stream] = {}
        self._ignored: set[int] = set()
        # loop-side state
        self.rows: dict[str, _Row] = {}
        self._events_pulse: Any = None

    def _running(self) -> bool:
        return not self._stopping.is_set() and self.off_for_good is None

    @property
    def where(self) -> str:
        """The server this bridge talks to, for logs."""
        return self.server or "the default PulseAudio/PipeWire server"

    # -- life cycle (daemon loop) -------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the event and worker threads; the connection is made by them."""
        self._loop = loop
        for name, target in (("events", self._events_main), ("worker", self._worker_main)):
            thread = threading.Thread(
                target=target, name=f"audiosession-bridge-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def close(self, timeout: float = 5.0) -> None:
        """Restore every stream the bridge changed, forget the journal and stop the threads
        (blocks up to ``timeout`` s)."""
        if self._stopping.is_set():
            return
        done = threading.Event()
        self._work.put(("close", done))
        done.wait(timeout)
        self._stopping.set()
        pulse = self._events_pulse
        if pulse is not None:
            with contextlib.suppress(Exception):
                pulse.event_listen_stop()
        for thread in self._threads:
            thread.join(timeout)

    def apply(self, actions: list[Action]) -> None:
        """The policy's actions for ``pulse/<index>`` sessions (ids without the prefix are
        also accepted): done on the worker thread, in order."""
        if actions:
            self._work.put(("apply", actions))

    def describe(self, session_id: str) -> _Row | None:
        """The loop side's row of session ``session_id`` (without the ``pulse/`` prefix)."""
        return self.rows.get(session_id)

    # -- the event thread ---------------------------------------------------------------

    def _connect(self, name: str) -> Any:
        pulse = self._pulsectl.Pulse(name, server=self.server, connect=False)
        try:
            # No timeout argument: with one, pulsectl always waits all of it. A refused or
            # missing socket fails at once; a hung server blocks only this bridge thread.
            pulse.connect(autospawn=False)
        except Exception:
            pulse.close()
            raise
        return pulse

    def _events_main(self) -> None:
        pulsectl = self._pulsectl
        said_off = False
        while self._running():
            try:
                pulse = self._connect("audiosession-bridge-events")
            except pulsectl.PulseError as error:
                self.status = (
                    f"off: cannot reach {self.where} ({error}); trying again every "
                    f"{self.retry_interval:g} s"
                )
                if not said_off:
                    log.info("PulseAudio bridge %s", self.status)
                    said_off = True
                self._stopping.wait(self.retry_interval)
                continue
            said_off = False
            self._events_pulse = pulse
            try:
                pulse.event_mask_set("sink_input")
                pulse.event_callback_set(self._on_event)
                self._work.put(("connected",))
                while self._running():
                    pulse.event_listen(timeout=1.0)
            except pulsectl.PulseDisconnected:
                log.warning(
                    "PulseAudio bridge: lost %s; its streams are no longer sessions", self.where
                )
                self.status = (
                    f"off: lost {self.where}; trying again every {self.retry_interval:g} s"
                )
                self._work.put(("disconnected",))
            except Exception:  # never die: log and start over
                log.exception("PulseAudio bridge: event listener failed")
                self._work.put(("disconnected",))
            finally:
                self._events_pulse = None
                with contextlib.suppress(Exception):
                    pulse.close()
            self._stopping.wait(self.retry_interval if self._running() else 0)

    def _on_event(self, event: Any) -> None:
        # On the event thread, inside libpulse's loop: no pulse calls here, just hand it on.
        kind = next((name for name in ("new", "change", "remove") if event.t == name), "change")
        self._work.put(("event", kind, int(event.index)))

    # -- the worker thread --------------------------------------------------------------

    def _worker_main(self) -> None:
        while True:
            item = self._work.get()
            kind = item[0]
            try:
                if kind == "close":
                    try:
                        self._restore_all()
                    except Exception as error:  # noqa: BLE001 - stopping anyway
                        log.warning(
                            "PulseAudio bridge: could not give every stream back (%s)", error
                        )
                    finally:
                        with contextlib.suppress(Exception):
                            self._disconnect()
                        item[1].set()
                    return
                if self.off_for_good is not None:
                    continue
                if kind == "connected":
                    self._on_connected()
                elif kind == "disconnected":
                    self._disconnect()
                elif self._pulse is None:
                    continue
                elif kind == "event":
                    self._on_stream_event(item[1], item[2])
                elif kind == "apply":
                    self._apply(item[1])
            except self._pulsectl.PulseDisconnected:
                self._disconnect()
            except JournalError as error:
                self._turn_off(str(error))
            except Exception:  # never die of the server: log and go on
                log.exception("PulseAudio bridge: %s failed", kind)

    def _on_connected(self) -> None:
        if self._pulse is not None:
            self._disconnect()
        try:
            self._pulse = self._connect("audiosession-bridge")
        except self._pulsectl.PulseError as error:
            log.warning("PulseAudio bridge: cannot connect to %s (%s)", self.where, error)
            return
        info = self._pulse.server_info()
        self._memory = _StreamMemory(self._pulse, self._pulsectl)
        self.connected = True
        self.status = f"on: {self.where} ({info.server_name} {info.server_version})"
        log.info(
            "PulseAudio bridge %s; foreign streams are sessions of %r", self.status, BRIDGE_CLIENT
        )
        self._restore_journal()
        for sink_input in self._pulse.sink_input_list():
            self._observe(sink_input)

    def _turn_off(self, why: str) -> None:
        """The journal cannot be written: give back what was changed, end the foreign
        sessions and leave the server alone until the daemon restarts."""
        self.off_for_good = why
        self.status = f"off: {why}; foreign streams are left alone until the daemon restarts"
        log.error("PulseAudio bridge %s", self.status)
        try:
            self._restore_all()
        except Exception as error:  # noqa: BLE001 - going off anyway; say what was left
            log.warning("PulseAudio bridge: could not give every stream back (%s)", error)
        self._disconnect()

    def _disconnect(self) -> None:
        """The server went away: its streams are gone, and so are their sessions."""
        pulse, self._pulse = self._pulse, None
        self._memory = None
        self.connected = False
        if pulse is None:
            return  # never connected: a journal left by an earlier daemon stays for later
        with contextlib.suppress(Exception):
            pulse.close()
        for stream in list(self._streams.values()):
            self._post(self._loop_remove, stream.session)
        self._streams.clear()
        self._ignored.clear()
        self._write_journal()

    def _on_stream_event(self, type_: str, index: int) -> None:
        if type_ == "remove":
            self._ignored.discard(index)
            stream = self._streams.pop(index, None)
            if stream is not None:
                log.info("PulseAudio bridge: foreign stream #%d ended", index)
                self._post(self._loop_remove, stream.session)
                if stream.changed_by_us:
                    self._write_journal()
                    self._put_entry_back(stream)  # the last word, as the user left it
            return
        if index in self._ignored:
            return
        try:
            info = self._pulse.sink_input_info(index)
        except self._pulsectl.PulseIndexError:
            return  # already gone; its remove event follows
        self._observe(info)

    def _observe(self, info: Any) -> None:
        """A sink-input appeared or changed: new session, cork/uncork, role or user change."""
        props = info.proplist
        stream = self._streams.get(info.index)
        if stream is None:
            if self._is_ours(props):
                self._ignored.add(info.index)
                return
            stream = _Stream(
                info.index,
                _pid(props),
                props.get("application.name")
                or props.get("application.process.binary")
                or info.name
                or "?",
                props.get("media.role"),
                bool(info.corked),
                bool(info.mute),
                volume=_raw(info.volume),
                channels=list(info.channel_list),
                entry=_entry_name(props),
            )
            self._streams[info.index] = stream
            owner = f"{BRIDGE_CLIENT}: {stream.program}" + (
                f" (pid {stream.pid})" if stream.pid is not None else ""
            )
            context = f"{stream.pid}" if stream.pid is not None else f"app-{stream.program}"
            self._post(
                self._loop_add,
                stream.session,
                context,
                owner,
                type_for_role(stream.role),
                stream.pid,
                stream.program,
                not stream.corked,
            )
            log.info(
                "PulseAudio bridge: foreign stream #%d of %s, media.role %r -> %s",
                info.index,
                owner,
                stream.role,
                type_for_role(stream.role),
            )
            return
        role = props.get("media.role")
        if role != stream.role:
            stream.role = role
            self._post(self._loop_set_type, stream.session, type_for_role(role))
        by_user = self._check_user_changes(stream, info)
        if self._memory is not None and stream.entry in self._memory.kept:
            # The module saves on every change of a stream the bridge changed: keep its entry
            # the user's.
            assert stream.entry is not None
            if by_user:
                self._memory.take_user_change(stream.entry, stream)
            self._put_entry_back(stream)
        corked = bool(info.corked)
        if corked != stream.corked:
            stream.corked = corked
            self._post(self._loop_activity, stream.session, not corked)

    def _is_ours(self, props: dict[str, str]) -> bool:
        if props.get("application.name") == OUR_APPLICATION:
            return True
        pid = _pid(props)
        return pid is not None and pid in self.host.client_pids()

    def _check_user_changes(self, stream: _Stream, info: Any) -> bool:
        """The user wins: a ducked stream whose volume changed, or a stream we muted that got
        unmuted, is no longer ours to restore. Returns whether anyone but the bridge changed
        the stream's volume or mute."""
        volume, muted = _raw(info.volume), bool(info.mute)
        by_user = ours_forgotten = False
        if stream.ducked_to is not None and not _same(volume, stream.ducked_to):
            log.info(
                "PulseAudio bridge: the volume of stream #%d was changed during a duck; "
                "keeping the new one",
                stream.index,
            )
            stream.original = stream.ducked_to = None
            by_user = ours_forgotten = True
        elif stream.volume is not None and not _same(volume, stream.volume):
            by_user = True
        if stream.we_muted and not muted:
            log.info(
                "PulseAudio bridge: stream #%d was unmuted by someone else; leaving it",
                stream.index,
            )
            stream.we_muted = False
            by_user = ours_forgotten = True
        elif not stream.we_muted and muted != stream.muted:
            by_user = True
        stream.volume, stream.muted = volume, muted
        if ours_forgotten:
            self._write_journal()
        return by_user

    def _apply(self, actions: list[Action]) -> None:
        touched: dict[int, _Stream] = {}
        for action in actions:
            session = action.session_id.rpartition("/")[2]
            try:
                stream = self._streams.get(int(session))
            except ValueError:
                stream = None
            if stream is None:
                continue
            if isinstance(action, SetGain):
                stream.gain = action.gain
            elif isinstance(action, SetState):
                stream.silenced = action.state is not AudioSessionState.ACTIVE
                if action.state is AudioSessionState.INACTIVE:
                    stream.gain = 1.0
            touched[stream.index] = stream
        for stream in touched.values():
            try:
                self._enforce(stream)
            except self._pulsectl.PulseIndexError:
                pass  # gone meanwhile; its remove event follows

    def _enforce(self, stream: _Stream) -> None:
        """Make the server's volume and mute of ``stream`` what the policy wants; then give
        module-stream-restore back the user's entry (``_StreamMemory``)."""
        if self._memory is not None and (stream.gain < 1.0 or stream.silenced):
            self._memory.keep(stream.entry)
        try:
            self._change(stream)
        finally:
            self._put_entry_back(stream)

    def _put_entry_back(self, stream: _Stream) -> None:
        if self._memory is None or stream.entry is None:
            return
        still = any(s.changed_by_us for s in self._streams.values() if s.entry == stream.entry)
        self._memory.put_back(stream.entry, stream, still)

    def _change(self, stream: _Stream) -> None:
        pulse = self._pulse
        if stream.gain < 1.0:
            if stream.original is None:
                stream.original = _raw(pulse.sink_input_info(stream.index).volume)
            target = _scaled(stream.original, stream.gain)
            if target != stream.ducked_to:
                stream.ducked_to = target
                self._write_journal()
                self._set_volume(stream, target)
                log.debug(
                    "PulseAudio bridge: ducked #%d to %s (x%g)", stream.index, target, stream.gain
                )
        elif stream.original is not None:
            original = stream.original
            self._set_volume(stream, original)
            stream.original = stream.ducked_to = None
            self._write_journal()
            log.debug("PulseAudio bridge: restored #%d to %s", stream.index, original)
        want_mute = stream.silenced and not stream.corked
        if want_mute and not stream.we_muted:
            if stream.muted:
                return  # the user muted it already: not ours to unmute later
            stream.we_muted = stream.muted = True
            self._write_journal()
            pulse.sink_input_mute(stream.index, True)
            log.debug("PulseAudio bridge: muted #%d (held by the policy)", stream.index)
        elif not want_mute and stream.we_muted:
            pulse.sink_input_mute(stream.index, False)
            stream.we_muted = stream.muted = False
            self._write_journal()
            log.debug("PulseAudio bridge: unmuted #%d", stream.index)

    def _set_volume(self, stream: _Stream, raw: list[int]) -> None:
        self._set_raw_volume(stream.index, raw)
        stream.volume = raw

    def _set_raw_volume(self, index: int, raw: list[int]) -> None:
        volume = self._pulsectl.PulseVolumeInfo([v / _VOLUME_NORM for v in raw])
        self._pulse.sink_input_volume_set(index, volume)

    def _restore_all(self) -> None:
        """Shutting down: give every stream back its volume and mute."""
        if self._pulse is None:
            return
        for stream in self._streams.values():
            stream.gain, stream.silenced = 1.0, False
            try:
                self._enforce(stream)
            except self._pulsectl.PulseError:
                continue
        self._write_journal()

    # -- the journal (worker thread) ----------------------------------------------------

    def _write_journal(self) -> None:
        """Save what the bridge changed (see the module); ``JournalError`` if it cannot."""
        if self.off_for_good is not None:
            return
        try:
            self._replace_journal()
        except OSError as error:
            raise JournalError(
                f"cannot write its journal {self.journal_path} ({error.strerror or error})"
            ) from None

    def _replace_journal(self) -> None:
        entries = {
            str(s.index): {
                "pid": s.pid,
                "program": s.program,
                "original": s.original,
                "ducked_to": s.ducked_to,
                "muted": s.we_muted,
            }
            for s in self._streams.values()
            if s.original is not None or s.we_muted
        }
        path = self.journal_path
        if not entries:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return
        data = json.dumps({"server": self.server, "streams": entries}, indent=1)
        # Written before the server is changed; replaced atomically. No fsync: it must outlive
        # the daemon (kill -9), not the machine — the streams do not outlive a reboot either.
        # The temporary file gets a new name of its own (mkstemp: O_EXCL, 0600), so that
        # nothing another user put next to the socket is followed or written.
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def _restore_journal(self) -> None:
        """At (re)connection: give back what a previous daemon left ducked or muted."""
        path = self.journal_path
        try:
            saved = json.loads(_read_own_file(path))
            streams = saved["streams"]
            if not isinstance(streams, dict):
                raise ValueError(f"streams must be an object, not {streams!r}")
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("PulseAudio bridge: ignoring the unreadable journal %s (%s)", path, error)
            return
        if saved.get("server") != self.server:
            log.warning(
                "PulseAudio bridge: the journal %s is for server %r, not %r; ignoring it",
                path,
                saved.get("server"),
                self.server,
            )
            return
        for key, entry in streams.items():
            try:
                self._restore_entry(int(key), entry)
            except self._pulsectl.PulseIndexError:
                log.info("PulseAudio bridge: journaled stream #%s is gone", key)
            except (ValueError, KeyError, TypeError, self._pulsectl.PulseError) as error:
                log.warning(
                    "PulseAudio bridge: cannot restore journaled stream #%s (%s)", key, error
                )
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def _restore_entry(self, index: int, entry: dict[str, Any]) -> None:
        info = self._pulse.sink_input_info(index)
        props = info.proplist
        program = (
            props.get("application.name")
            or props.get("application.process.binary")
            or info.name
            or "?"
        )
        if _pid(props) != entry["pid"] or program != entry["program"]:
            log.info(
                "PulseAudio bridge: journaled stream #%d is now another stream; leaving it", index
            )
            return
        original, ducked_to = entry.get("original"), entry.get("ducked_to")
        if original is not None:
            current = _raw(info.volume)
            if ducked_to is not None and (_same(current, ducked_to) or _same(current, original)):
                self._set_raw_volume(index, [int(v) for v in original])
                log.info(
                    "PulseAudio bridge: restored the volume of stream #%d (%s) left "
                    "ducked by a previous daemon",
                    index,
                    program,
                )
            else:
                log.info(
                    "PulseAudio bridge: stream #%d's volume was changed since; leaving it", index
                )
        if entry.get("muted") and info.mute:
            self._pulse.sink_input_mute(index, False)
            log.info(
                "PulseAudio bridge: unmuted stream #%d (%s) left muted by a previous daemon",
                index,
                program,
            )

    # -- the loop side ------------------------------------------------------------------

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the bridge is not started")
        return self._loop

    def _post(self, function: Callable[..., None], *args: Any) -> None:
        loop = self._require_loop()
        with contextlib.suppress(RuntimeError):  # the loop is closed: the daemon is stopping
            loop.call_soon_threadsafe(self._guarded, function, *args)

    def _guarded(self, function: Callable[..., None], *args: Any) -> None:
        try:
            function(*args)
        except Exception:  # never break the daemon's loop
            log.exception("PulseAudio bridge: %s%r failed", function.__name__, args)

    def _name(self, session: str) -> str:
        return f"{BRIDGE_CLIENT}/{session}"

    def _loop_add(
        self,
        session: str,
        context: str,
        owner: str,
        type_: AudioSessionType,
        pid: int | None,
        program: str,
        active: bool,
    ) -> None:
        arbiter = self.host.arbiter
        name = self._name(session)
        if name in arbiter:
            return
        self.rows[session] = _Row(pid, program)
        self.host.dispatch(arbiter.add(name, self._name(context), owner, type_))
        if active:
            self._loop_activity(session, True)

    def _loop_activity(self, session: str, active: bool) -> None:
        name = self._name(session)
        arbiter = self.host.arbiter
        if name not in arbiter:
            return
        if active:
            self.host.dispatch(arbiter.request_active(name, arbiter.record(name).type))
        else:
            self.host.dispatch(arbiter.release(name))

    def _loop_set_type(self, session: str, type_: AudioSessionType) -> None:
        name = self._name(session)
        if name in self.host.arbiter:
            self.host.dispatch(self.host.arbiter.set_type(name, type_))

    def _loop_remove(self, session: str) -> None:
        self.rows.pop(session, None)
        name = self._name(session)
        if name in self.host.arbiter:
            self.host.dispatch(self.host.arbiter.remove(name))


def _read_own_file(path: Path) -> str:
    """The text of ``path``, never through a symbolic link (``OSError`` ELOOP for one)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, encoding="utf-8") as file:
        return file.read()


def _entry_name(props: dict[str, str]) -> str | None:
    """The stream's name in module-stream-restore's database: the module writes it into the
    stream's properties; else it is made as the module makes it."""
    if props.get("module-stream-restore.id"):
        return props["module-stream-restore.id"]
    for key, kind in (
        ("media.role", "media-role"),
        ("application.id", "application-id"),
        ("application.name", "application-name"),
        ("media.name", "media-name"),
    ):
        if props.get(key):
            return f"sink-input-by-{kind}:{props[key]}"
    return None


def _pid(props: dict[str, str]) -> int | None:
    try:
        return int(props["application.process.id"])
    except (KeyError, ValueError):
        return None


def _raw(volume: Any) -> list[int]:
    """A pulsectl volume as raw ``pa_volume_t`` integers (exact, unlike the floats)."""
    return [int(round(v * _VOLUME_NORM)) for v in volume.values]


def _scaled(raw: list[int], gain: float) -> list[int]:
    """``raw`` volumes times the linear amplitude factor ``gain``. PulseAudio's (and
    pipewire-pulse's) ``pa_volume_t`` is cubic: amplitude = (raw / NORM)³, so the raw value is
    scaled by the cube root (×0.2 in amplitude, -14 dB, is ×0.585 in raw volume)."""
    factor = gain ** (1.0 / 3.0)
    return [int(round(v * factor)) for v in raw]


def _same(a: list[int], b: list[int]) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= 1 for x, y in zip(a, b, strict=True))
