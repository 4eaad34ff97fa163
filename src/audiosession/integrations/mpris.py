"""MPRIS2 players on the D-Bus session bus: how media keys and ``playerctl`` reach a window.

Each published player is one D-Bus connection owning the name
``org.mpris.MediaPlayer2.audiosession.instance<pid>_<n>`` with the object
``/org/mpris/MediaPlayer2`` and the interfaces ``org.mpris.MediaPlayer2``,
``org.mpris.MediaPlayer2.Player``, ``org.freedesktop.DBus.Properties``,
``org.freedesktop.DBus.Introspectable`` and ``org.freedesktop.DBus.Peer``. One connection per
player because clients (GDBus, so ``playerctl`` and the desktops) address a player by the
unique name of its owner: two players sharing one connection could not be told apart.

This module knows nothing of sessions or elements. Its user hands it the properties to show
(``MprisPlayer.update``) and a callback for method calls; the callback runs as a task on the
audiosession loop (``loop.queue_task``), never on the D-Bus thread. All D-Bus I/O (connecting,
reading, writing) happens on one daemon thread, ``audiosession-mpris``, which answers
``Get``/``GetAll`` from the last properties it was given.

The D-Bus library is ``jeepney`` (pure Python, no dependencies, maintained): its blocking
connection is driven by this module's own ``select`` loop. Where there is no session bus
(``DBUS_SESSION_BUS_ADDRESS`` unset, jeepney missing, or the bus unreachable) nothing is
published, one line is logged, and nothing fails.
"""

from __future__ import annotations

import itertools
import logging
import os
import selectors
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from audiosession.environment import env_choice
from audiosession.loop import TaskLoop

log = logging.getLogger(__name__)

BUS_NAME_PREFIX = "org.mpris.MediaPlayer2.audiosession"
OBJECT_PATH = "/org/mpris/MediaPlayer2"
ROOT_INTERFACE = "org.mpris.MediaPlayer2"
PLAYER_INTERFACE = "org.mpris.MediaPlayer2.Player"
PROPERTIES_INTERFACE = "org.freedesktop.DBus.Properties"
INTROSPECTABLE_INTERFACE = "org.freedesktop.DBus.Introspectable"
PEER_INTERFACE = "org.freedesktop.DBus.Peer"

ENABLE_ENV = "AUDIOSESSION_MPRIS"
"""``auto`` (default: real processes publish where a session bus exists, virtual environments
do not), ``on`` (virtual environments too) or ``off`` (never)."""
ENABLE_VALUES = ("auto", "on", "off")

PLAYER_METHODS = (
    "Play",
    "Pause",
    "PlayPause",
    "Stop",
    "Next",
    "Previous",
    "Seek",
    "SetPosition",
    "OpenUri",
)
ROOT_METHODS = ("Raise", "Quit")

NAME_FLAG_DO_NOT_QUEUE = 4
CONNECT_TIMEOUT = 1.0

Variant = tuple[str, Any]
"""A D-Bus variant as jeepney writes it: (signature, value)."""
Properties = dict[str, Variant]
MethodCallback = Callable[[str, tuple[Any, ...]], None]
"""``callback(method, args)``: a Player or root method was called (run on the loop)."""

_instance_numbers = itertools.count(1)


def publishing_enabled(*, virtual: bool) -> bool:
    """Whether a runtime publishes MPRIS players: ``$AUDIOSESSION_MPRIS`` (``auto``, ``on``,
    ``off``); ``auto`` publishes from real processes only, never from a virtual environment."""
    value = env_choice(ENABLE_ENV, ENABLE_VALUES, "auto")
    if value == "off":
        return False
    return value == "on" or not virtual


def next_bus_name() -> str:
    """A new player's bus name: ``org.mpris.MediaPlayer2.audiosession.instance<pid>_<n>``
    (a well-known name's element may not start with a digit, hence ``instance``)."""
    return f"{BUS_NAME_PREFIX}.instance{os.getpid()}_{next(_instance_numbers)}"


@dataclass
class _Snapshot:
    root: Properties
    player: Properties
    position_us: int
    playing: bool
    taken_at: float


class MprisPlayer:
    """One published MPRIS player. Make it with ``MprisService.shared().player(...)``;
    ``update()`` its properties from the loop; ``close()`` unpublishes it."""

    def __init__(
        self, service: MprisService, loop: TaskLoop, bus_name: str, on_method: MethodCallback
    ) -> None:
        self.service = service
        self.loop = loop
        self.bus_name = bus_name
        self._on_method = on_method
        self._snapshot = _Snapshot({}, {}, 0, False, time.monotonic())
        self.closed = False
        self.failed = False
        """Set by the D-Bus thread when the bus could not be reached or went away."""
        self._connection: Any = None  # the D-Bus thread's only

    def update(
        self, root: Properties, player: Properties, *, position: float = 0.0, playing: bool = False
    ) -> None:
        """Show these properties; signal ``PropertiesChanged`` for those that changed
        (``Position`` never signals, as MPRIS says: it is read when asked, extrapolated from
        ``position`` seconds while ``playing``)."""
        old = self._snapshot
        self._snapshot = _Snapshot(
            dict(root), dict(player), int(position * 1e6), playing, time.monotonic()
        )
        for interface, before, after in (
            (ROOT_INTERFACE, old.root, root),
            (PLAYER_INTERFACE, old.player, player),
        ):
            changed = {
                name: value
                for name, value in after.items()
                if name != "Position" and before.get(name) != value
            }
            if changed and before:
                self.service.submit(self._signal_changed, interface, changed)

    def close(self) -> None:
        """Unpublish: the name goes away with the player's connection."""
        if not self.closed:
            self.closed = True
            self.service.submit(self.service._close_player, self)

    # -- on the D-Bus thread ------------------------------------------------------------------

    def _signal_changed(self, interface: str, changed: Properties) -> None:
        from jeepney import DBusAddress, new_signal

        emitter = DBusAddress(OBJECT_PATH, interface=PROPERTIES_INTERFACE)
        self.service._send(
            self, new_signal(emitter, "PropertiesChanged", "sa{sv}as", (interface, changed, []))
        )

    def _properties(self, interface: str) -> Properties | None:
        snapshot = self._snapshot
        if interface == ROOT_INTERFACE:
            return snapshot.root
        if interface == PLAYER_INTERFACE:
            position = snapshot.position_us
            if snapshot.playing:
                position += int((time.monotonic() - snapshot.taken_at) * 1e6)
            return {**snapshot.player, "Position": ("x", position)}
        return None

    def _handle(self, message: Any) -> Any:
        """The reply to one method call (a jeepney message), or None for no reply."""
        from jeepney import HeaderFields, new_error, new_method_return

        fields = message.header.fields
        path = fields.get(HeaderFields.path, "")
        interface = fields.get(HeaderFields.interface)
        member = fields.get(HeaderFields.member, "")
        body = message.body
        if interface == INTROSPECTABLE_INTERFACE and member == "Introspect":
            return new_method_return(message, "s", (_introspection(path),))
        if interface == PEER_INTERFACE:
            if member == "Ping":
                return new_method_return(message)
            if member == "GetMachineId":
                return new_method_return(message, "s", (_machine_id(),))
        if path != OBJECT_PATH:
            return new_error(
                message,
                "org.freedesktop.DBus.Error.UnknownObject",
                "s",
                (f"no object at {path!r}; the player is at {OBJECT_PATH}",),
            )
        if interface == PROPERTIES_INTERFACE:
            return self._handle_properties(message, member, body)
        methods = {ROOT_INTERFACE: ROOT_METHODS, PLAYER_INTERFACE: PLAYER_METHODS}
        candidates = [interface] if interface is not None else list(methods)
        for name in candidates:
            if member in methods.get(name, ()):
                self.loop.queue_task(self._call_on_loop, member, tuple(body))
                return new_method_return(message)
        return new_error(
            message,
            "org.freedesktop.DBus.Error.UnknownMethod",
            "s",
            (f"no method {member!r} on interface {interface!r}",),
        )

    def _handle_properties(self, message: Any, member: str, body: tuple[Any, ...]) -> Any:
        from jeepney import new_error, new_method_return

        if member == "GetAll":
            properties = self._properties(body[0]) if body else None
            return new_method_return(message, "a{sv}", (properties or {},))
        if member == "Get" and len(body) == 2:
            properties = self._properties(body[0])
            if properties is None or body[1] not in properties:
                return new_error(
                    message,
                    "org.freedesktop.DBus.Error.UnknownProperty",
                    "s",
                    (f"no property {body[1]!r} on interface {body[0]!r}",),
                )
            return new_method_return(message, "v", (properties[body[1]],))
        if member == "Set":
            return new_error(
                message,
                "org.freedesktop.DBus.Error.PropertyReadOnly",
                "s",
                ("this player's properties are read-only",),
            )
        return new_error(
            message,
            "org.freedesktop.DBus.Error.UnknownMethod",
            "s",
            (f"no method {member!r} on {PROPERTIES_INTERFACE}",),
        )

    # -- on the loop --------------------------------------------------------------------------

    def _call_on_loop(self, method: str, args: tuple[Any, ...]) -> None:
        if not self.closed:
            self._on_method(method, args)


class MprisService:
    """The D-Bus thread and the connections of every published player of this process."""

    _shared: MprisService | None = None
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        self._commands: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake_read, self._wake_write = -1, -1
        self._selector: selectors.BaseSelector | None = None
        self._players: dict[int, MprisPlayer] = {}  # socket fd -> player (D-Bus thread only)
        self._failed_addresses: set[str] = set()
        self._said_no_bus = False

    @classmethod
    def shared(cls) -> MprisService:
        """This process's service (its thread starts with the first player)."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def player(self, loop: TaskLoop, on_method: MethodCallback) -> MprisPlayer | None:
        """Publish a new player whose method calls become ``on_method`` tasks on ``loop``;
        None where there is no session bus to publish on (logged once)."""
        address = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
        if not address:
            self._no_bus("DBUS_SESSION_BUS_ADDRESS is not set")
            return None
        if address in self._failed_addresses:
            return None
        try:
            import jeepney  # noqa: F401
        except ImportError:
            self._no_bus("the 'jeepney' package is not installed")
            return None
        player = MprisPlayer(self, loop, next_bus_name(), on_method)
        self.submit(self._open_player, player, address)
        return player

    def _no_bus(self, why: str) -> None:
        if not self._said_no_bus:
            self._said_no_bus = True
            log.info("media keys: no MPRIS player is published (%s)", why)

    def submit(self, command: Callable[..., None], *args: Any) -> None:
        """Run ``command(*args)`` on the D-Bus thread (started on first use)."""
        with self._lock:
            self._commands.append((command, args))
            if self._thread is None:
                self._wake_read, self._wake_write = os.pipe()
                os.set_blocking(self._wake_read, False)
                self._selector = selectors.DefaultSelector()
                self._selector.register(self._wake_read, selectors.EVENT_READ)
                self._thread = threading.Thread(
                    target=self._serve, name="audiosession-mpris", daemon=True
                )
                self._thread.start()
        try:
            os.write(self._wake_write, b"x")
        except BlockingIOError:  # pragma: no cover - the thread has wake-ups pending anyway
            pass

    # -- the D-Bus thread ---------------------------------------------------------------------

    def _serve(self) -> None:
        assert self._selector is not None
        while True:
            for key, _ in self._selector.select():
                if key.fd == self._wake_read:
                    self._run_commands()
                else:
                    player = self._players.get(key.fd)
                    if player is None:
                        continue
                    try:
                        self._read(player)
                    except Exception:
                        # A bug of ours or a message jeepney cannot take: this player goes,
                        # the thread (and the other players) stay.
                        log.exception("MPRIS: %s failed; withdrawing it", player.bus_name)
                        player.failed = True
                        self._close_player(player)

    def _run_commands(self) -> None:
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass
        while True:
            with self._lock:
                if not self._commands:
                    return
                command, args = self._commands.popleft()
            try:
                command(*args)
            except Exception:
                log.exception("MPRIS: %s failed", getattr(command, "__name__", command))

    def _open_player(self, player: MprisPlayer, address: str) -> None:
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection

        if player.closed or address in self._failed_addresses:
            return
        try:
            connection = open_dbus_connection(bus=address, auth_timeout=CONNECT_TIMEOUT)
        except Exception as error:
            self._failed_addresses.add(address)
            player.failed = True
            log.info(
                "media keys: no MPRIS player is published: cannot connect to the session "
                "bus at %s (%s)",
                address,
                error,
            )
            return
        player._connection = connection
        assert self._selector is not None
        self._selector.register(connection.sock, selectors.EVENT_READ)
        self._players[connection.sock.fileno()] = player
        self._send(player, message_bus.RequestName(player.bus_name, NAME_FLAG_DO_NOT_QUEUE))
        log.info("media keys: published the MPRIS player %s", player.bus_name)

    def _close_player(self, player: MprisPlayer) -> None:
        connection = player._connection
        if connection is None:
            return
        player._connection = None
        fd = connection.sock.fileno()
        self._players.pop(fd, None)
        assert self._selector is not None
        try:
            self._selector.unregister(connection.sock)
        except (KeyError, ValueError):
            pass
        connection.close()
        log.debug("MPRIS: withdrew %s", player.bus_name)

    def _send(self, player: MprisPlayer, message: Any) -> None:
        connection = player._connection
        if connection is None:
            return
        try:
            connection.send(message)
        except OSError as error:
            log.info("MPRIS: lost the session bus connection of %s (%s)", player.bus_name, error)
            player.failed = True
            self._close_player(player)

    def _read(self, player: MprisPlayer) -> None:
        from jeepney import MessageType

        connection = player._connection
        while connection is not None and player._connection is connection:
            try:
                message = connection.receive(timeout=0)
            except TimeoutError:
                return
            except (OSError, ValueError) as error:
                log.info("MPRIS: the session bus closed %s (%s)", player.bus_name, error)
                player.failed = True
                self._close_player(player)
                return
            kind = message.header.message_type
            if kind is MessageType.method_call:
                reply = player._handle(message)
                if reply is not None:
                    self._send(player, reply)
            elif kind is MessageType.error:
                log.info(
                    "MPRIS: the bus refused a request of %s: %s", player.bus_name, message.body
                )
            elif kind is MessageType.method_return and message.body == (3,):
                # RequestName's DBUS_REQUEST_NAME_REPLY_EXISTS: someone has our name.
                log.info("MPRIS: %s is taken by another connection", player.bus_name)


def _machine_id() -> str:
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(path) as file:
                return file.read().strip()
        except OSError:
            continue
    return "0" * 32


def _introspection(path: str) -> str:
    header = (
        '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN" '
        '"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n'
    )
    if path != OBJECT_PATH:
        parts = [p for p in OBJECT_PATH.split("/") if p]
        have = [p for p in path.split("/") if p]
        child = parts[len(have)] if parts[: len(have)] == have and len(have) < len(parts) else ""
        return header + (f'<node><node name="{child}"/></node>' if child else "<node/>")
    return header + _PLAYER_XML


_PLAYER_XML = """<node>
  <interface name="org.freedesktop.DBus.Introspectable">
    <method name="Introspect"><arg name="data" direction="out" type="s"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Peer">
    <method name="Ping"/>
    <method name="GetMachineId"><arg name="machine_uuid" direction="out" type="s"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Properties">
    <method name="Get">
      <arg name="interface_name" direction="in" type="s"/>
      <arg name="property_name" direction="in" type="s"/>
      <arg name="value" direction="out" type="v"/>
    </method>
    <method name="GetAll">
      <arg name="interface_name" direction="in" type="s"/>
      <arg name="properties" direction="out" type="a{sv}"/>
    </method>
    <method name="Set">
      <arg name="interface_name" direction="in" type="s"/>
      <arg name="property_name" direction="in" type="s"/>
      <arg name="value" direction="in" type="v"/>
    </method>
    <signal name="PropertiesChanged">
      <arg name="interface_name" type="s"/>
      <arg name="changed_properties" type="a{sv}"/>
      <arg name="invalidated_properties" type="as"/>
    </signal>
  </interface>
  <interface name="org.mpris.MediaPlayer2">
    <method name="Raise"/>
    <method name="Quit"/>
    <property name="CanQuit" type="b" access="read"/>
    <property name="CanRaise" type="b" access="read"/>
    <property name="HasTrackList" type="b" access="read"/>
    <property name="Identity" type="s" access="read"/>
    <property name="SupportedUriSchemes" type="as" access="read"/>
    <property name="SupportedMimeTypes" type="as" access="read"/>
  </interface>
  <interface name="org.mpris.MediaPlayer2.Player">
    <method name="Next"/>
    <method name="Previous"/>
    <method name="Pause"/>
    <method name="PlayPause"/>
    <method name="Stop"/>
    <method name="Play"/>
    <method name="Seek"><arg name="Offset" direction="in" type="x"/></method>
    <method name="SetPosition">
      <arg name="TrackId" direction="in" type="o"/>
      <arg name="Position" direction="in" type="x"/>
    </method>
    <method name="OpenUri"><arg name="Uri" direction="in" type="s"/></method>
    <signal name="Seeked"><arg name="Position" type="x"/></signal>
    <property name="PlaybackStatus" type="s" access="read"/>
    <property name="Rate" type="d" access="read"/>
    <property name="Metadata" type="a{sv}" access="read"/>
    <property name="Volume" type="d" access="read"/>
    <property name="Position" type="x" access="read"/>
    <property name="MinimumRate" type="d" access="read"/>
    <property name="MaximumRate" type="d" access="read"/>
    <property name="CanGoNext" type="b" access="read"/>
    <property name="CanGoPrevious" type="b" access="read"/>
    <property name="CanPlay" type="b" access="read"/>
    <property name="CanPause" type="b" access="read"/>
    <property name="CanSeek" type="b" access="read"/>
    <property name="CanControl" type="b" access="read"/>
  </interface>
</node>
"""
