"""The bridge's policy glue: foreign streams become sessions of the daemon's ``pulse``
pseudo-client, and the policy's actions for them become volumes and mutes on the server
(see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from audiosession.engine.backends.pulse.control import PulseEvents, connect_pulsectl
from audiosession.engine.backends.pulse.foreign import (
    OUR_APPLICATION,
    ForeignStream,
    StreamChanger,
    event_kind,
    follow_event,
    pid_of,
    program_of,
    raw,
    same,
)
from audiosession.engine.backends.pulse.own_streams import descends_from
from audiosession.policy import ROLE_TYPES, Action, Arbiter, SetGain, SetState, type_for_role
from audiosession.types import AudioSessionState, AudioSessionType

from .journal import Journal, JournalError

log = logging.getLogger(__name__)

__all__ = [
    "BRIDGE_CLIENT",
    "OUR_APPLICATION",
    "ROLE_TYPES",
    "BridgeHost",
    "PulseBridge",
    "type_for_role",
]

BRIDGE_CLIENT = "pulse"
"""The client id of the bridge's pseudo-client: its sessions are ``pulse/<sink-input>``."""

RETRY_INTERVAL = 5.0
"""Seconds between attempts to reach the sound server while it is away."""


class BridgeHost(Protocol):
    """What the bridge needs of the daemon (called on the daemon's loop only)."""

    arbiter: Arbiter

    def dispatch(self, actions: Iterable[Action]) -> None:
        """Apply ``actions`` decided outside a client's request: push them to their clients
        (and the bridge's own to the bridge)."""

    def client_pids(self) -> set[int]:
        """The process ids of the connected clients (their streams are not foreign). Called
        from the bridge's worker thread: it must only read (a copy)."""

    def pids_adopting_descendants(self) -> set[int]:
        """The process ids of the clients that adopt the streams of their descendant
        processes too (``own_streams`` with ``children``): those are not foreign either.
        Called from the worker thread, as ``client_pids``."""


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
        # Imported here, not with the module: pulsectl loads libpulse as it is imported, and
        # a daemon on a machine without libpulse still serves its clients (bridge off).
        import pulsectl

        self._pulsectl = pulsectl
        self.host = host
        self.server = server if server is not None else os.environ.get("PULSE_SERVER") or None
        self._journal = Journal(journal, self.server)
        self.retry_interval = retry_interval
        self.connected = False
        self.status = f"connecting to {self.where}"
        """One line for ``audiosession status``: on (which server), or off and why."""
        self.off_for_good: str | None = None  # why the bridge turned itself off
        self._loop: asyncio.AbstractEventLoop | None = None
        self._work: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        # worker-thread state
        self._pulse: Any = None
        self._changer: StreamChanger | None = None
        self._streams: dict[int, ForeignStream] = {}
        self._ignored: set[int] = set()
        # loop-side state
        self.rows: dict[str, _Row] = {}
        self._said_off = False  # the event thread said that the server cannot be reached
        self._events = PulseEvents(
            "audiosession-bridge-events",
            self.server,
            ("sink_input",),
            self._on_event,
            retry_interval=retry_interval,
            on_connected=self._events_connected,
            on_unreachable=self._events_unreachable,
            on_lost=self._events_lost,
        )

    @property
    def where(self) -> str:
        """The server this bridge talks to, for logs."""
        return self.server or "the default PulseAudio/PipeWire server"

    # -- life cycle (daemon loop) -------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the event and worker threads; the connection is made by them."""
        self._loop = loop
        self._events.start("audiosession-bridge-events")
        self._worker = threading.Thread(
            target=self._worker_main, name="audiosession-bridge-worker", daemon=True
        )
        self._worker.start()

    def close(self, timeout: float = 5.0) -> None:
        """Restore every stream the bridge changed, forget the journal and stop the threads
        (blocks up to ``timeout`` s)."""
        if self._stopping.is_set():
            return
        done = threading.Event()
        self._work.put(("close", done))
        done.wait(timeout)
        self._stopping.set()
        self._events.stop(timeout)
        if self._worker is not None:
            self._worker.join(timeout)

    def apply(self, actions: list[Action]) -> None:
        """The policy's actions for ``pulse/<index>`` sessions (ids without the prefix are
        also accepted): done on the worker thread, in order."""
        if actions:
            self._work.put(("apply", actions))

    def reconsider(self) -> None:
        """Which streams are a client's has changed (a client connected, or adopts its
        descendants' streams now): the foreign streams that are a client's now stop being
        sessions, given back their volume and mute (on the worker thread)."""
        self._work.put(("reconsider",))

    def describe(self, session_id: str) -> _Row | None:
        """The loop side's row of session ``session_id`` (without the ``pulse/`` prefix)."""
        return self.rows.get(session_id)

    # -- the event thread ---------------------------------------------------------------

    def _events_connected(self, pulse: Any) -> None:
        self._said_off = False
        self._work.put(("connected",))

    def _events_unreachable(self, error: Exception) -> None:
        self.status = (
            f"off: cannot reach {self.where} ({error}); trying again every "
            f"{self.retry_interval:g} s"
        )
        if not self._said_off:
            log.info("PulseAudio bridge %s", self.status)
            self._said_off = True

    def _events_lost(self, error: Exception | None) -> None:
        if error is None:
            log.warning(
                "PulseAudio bridge: lost %s; its streams are no longer sessions", self.where
            )
            self.status = f"off: lost {self.where}; trying again every {self.retry_interval:g} s"
        self._work.put(("disconnected",))

    def _on_event(self, event: Any) -> None:
        # On the event thread, inside libpulse's loop: no pulse calls here, just hand it on.
        self._work.put(("event", event_kind(event), int(event.index)))

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
                elif kind == "reconsider":
                    self._let_go_of_clients_streams()
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
            self._pulse = connect_pulsectl("audiosession-bridge", self.server)
        except self._pulsectl.PulseError as error:
            log.warning("PulseAudio bridge: cannot connect to %s (%s)", self.where, error)
            return
        info = self._pulse.server_info()
        self._changer = StreamChanger(
            self._pulse,
            self._pulsectl,
            self._streams,
            who="PulseAudio bridge",
            record=self._write_journal,
        )
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
        self._events.stop()
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
        self._changer = None
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

    def _on_stream_event(self, kind: str, index: int) -> None:
        follow_event(
            self._pulse,
            self._pulsectl,
            kind,
            index,
            self._streams,
            self._ignored,
            observe=self._observe,
            ended=self._ended,
        )

    def _ended(self, stream: ForeignStream) -> None:
        log.info("PulseAudio bridge: foreign stream #%d ended", stream.index)
        self._post(self._loop_remove, stream.session)
        if self._changer is not None:
            self._changer.ended(stream)

    def _observe(self, info: Any) -> None:
        """A sink-input appeared or changed: new session, cork/uncork, role or user change."""
        props = info.proplist
        stream = self._streams.get(info.index)
        if stream is None:
            if self._is_ours(props):
                self._ignored.add(info.index)
                log.debug(
                    "PulseAudio bridge: #%d (pid %s) is ours or a client's: not foreign",
                    info.index,
                    props.get("application.process.id"),
                )
                return
            stream = ForeignStream.of(info)
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
        if self._changer is not None:
            self._changer.observe(stream, info)
        corked = bool(info.corked)
        if corked != stream.corked:
            stream.corked = corked
            self._post(self._loop_activity, stream.session, not corked)

    def _is_ours(self, props: dict[str, str]) -> bool:
        if props.get("application.name") == OUR_APPLICATION:
            return True
        pid = pid_of(props)
        return pid is not None and self._is_a_clients(pid)

    def _is_a_clients(self, pid: int) -> bool:
        """Whether a stream of process ``pid`` is a client's to adopt (not foreign)."""
        if pid in self.host.client_pids():
            return True
        return any(descends_from(pid, parent) for parent in self.host.pids_adopting_descendants())

    def _let_go_of_clients_streams(self) -> None:
        assert self._changer is not None
        for stream in list(self._streams.values()):
            if stream.pid is None or not self._is_a_clients(stream.pid):
                continue
            log.info(
                "PulseAudio bridge: stream #%d of %s (pid %d) is a client's own: not foreign",
                stream.index,
                stream.program,
                stream.pid,
            )
            stream.gain, stream.silenced, stream.ramp = 1.0, False, None
            try:
                self._changer.enforce(stream)
            except self._pulsectl.PulseIndexError:
                pass  # gone meanwhile; its remove event is then ignored
            del self._streams[stream.index]
            self._ignored.add(stream.index)
            self._post(self._loop_remove, stream.session)
            self._changer.ended(stream)

    def _apply(self, actions: list[Action]) -> None:
        touched: dict[int, ForeignStream] = {}
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
                assert self._changer is not None
                self._changer.enforce(stream)
            except self._pulsectl.PulseIndexError:
                pass  # gone meanwhile; its remove event follows

    def _restore_all(self) -> None:
        """Shutting down: give every stream back its volume and mute."""
        if self._changer is None:
            return
        self._changer.restore_all()
        self._write_journal()

    # -- the journal (worker thread) ----------------------------------------------------

    def _write_journal(self) -> None:
        """Save what the bridge changed (see ``journal``); ``JournalError`` if it cannot."""
        if self.off_for_good is None:
            self._journal.save(self._streams.values())

    def _restore_journal(self) -> None:
        """At (re)connection: give back what a previous daemon left ducked or muted."""
        streams = self._journal.load()
        if streams is None:
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
        self._journal.forget()

    def _restore_entry(self, index: int, entry: dict[str, Any]) -> None:
        info = self._pulse.sink_input_info(index)
        props = info.proplist
        program = program_of(info)
        if pid_of(props) != entry["pid"] or program != entry["program"]:
            log.info(
                "PulseAudio bridge: journaled stream #%d is now another stream; leaving it", index
            )
            return
        original, ducked_to = entry.get("original"), entry.get("ducked_to")
        if original is not None:
            current = raw(info.volume)
            if ducked_to is not None and (same(current, ducked_to) or same(current, original)):
                assert self._changer is not None
                self._changer.set_raw_volume(index, [int(v) for v in original])
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
