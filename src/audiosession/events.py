"""DOM events: ``Event`` and ``EventTarget`` with the DOM's listener semantics.

Listeners run in registration order; an identical second registration is ignored; a listener
removed during a dispatch is not called; an exception in one listener is logged with its
traceback and the others still run. ``on<type>`` handler attributes take their place among the
listeners when first set, as in the DOM. A listener may be a coroutine function: it runs on the
asyncio loop that was running when it was added (docs/design.md, *Time and threads*), else on
one background asyncio loop of this module's own (a thread), so that awaiting never holds up
the other tasks.

This module is the bottom floor: a target reports its events to an ``EventRecorder`` (the
runtime above, which stamps them and keeps ``env.events``) and knows nothing more of it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, overload

log = logging.getLogger(__name__)

Listener = Callable[["Event"], Any]


class EventRecorder(Protocol):
    """What a target reports each event it dispatches to (a runtime): it stamps the event's
    ``time_stamp`` from its clock and, where asked, keeps it in a log (``env.events``)."""

    def record_event(self, target: EventTarget, event: Event) -> None: ...


class Event:
    """A DOM ``Event``. Events this package fires are trusted; ``dispatch_event`` ones are not."""

    def __init__(self, type: str, *, bubbles: bool = False, cancelable: bool = False) -> None:
        if not isinstance(type, str) or not type:
            raise TypeError(f"an event type must be a non-empty str, not {type!r}")
        self.type = type
        self.bubbles = bubbles
        self.cancelable = cancelable
        self.target: EventTarget | None = None
        self.current_target: EventTarget | None = None
        self.is_trusted = False
        self.time_stamp = 0.0
        self.default_prevented = False
        self._stop_immediate = False

    def prevent_default(self) -> None:
        """Cancel the event's default action, if it is cancelable."""
        if self.cancelable:
            self.default_prevented = True

    def stop_immediate_propagation(self) -> None:
        """Call no further listener for this dispatch."""
        self._stop_immediate = True

    stop_propagation = stop_immediate_propagation  # no tree to propagate through

    # The DOM's spelling, so MDN examples port line by line.
    @property
    def currentTarget(self) -> EventTarget | None:  # noqa: N802
        """The target whose listeners are being called; None after the dispatch."""
        return self.current_target

    @property
    def isTrusted(self) -> bool:  # noqa: N802
        """True for an event this package fired, False for one of ``dispatch_event``."""
        return self.is_trusted

    @property
    def timeStamp(self) -> float:  # noqa: N802
        """When the event was dispatched, in seconds of the runtime's clock."""
        return self.time_stamp

    @property
    def defaultPrevented(self) -> bool:  # noqa: N802
        """Whether a listener cancelled the event (``prevent_default``)."""
        return self.default_prevented

    def preventDefault(self) -> None:  # noqa: N802
        """The DOM's spelling of ``prevent_default``."""
        self.prevent_default()

    def stopImmediatePropagation(self) -> None:  # noqa: N802
        """The DOM's spelling of ``stop_immediate_propagation``."""
        self.stop_immediate_propagation()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.type!r}>"


@dataclass(eq=False)
class _Entry:
    type: str
    callback: Any
    once: bool = False
    asyncio_loop: asyncio.AbstractEventLoop | None = None
    removed: bool = field(default=False)


class EventTarget:
    """A DOM ``EventTarget``."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[_Entry]] = {}
        self._handlers: dict[str, _Entry] = {}

    def _event_runtime(self) -> EventRecorder | None:
        """The runtime this target's events are stamped and recorded by; None for plain
        targets (``EventTarget()``)."""
        return None

    def add_event_listener(self, type: str, callback: Any, *, once: bool = False) -> None:
        """Call ``callback(event)`` for each ``type`` event; a repeat registration is ignored."""
        if callback is None:
            return
        if not callable(callback) and not callable(getattr(callback, "handle_event", None)):
            raise TypeError(
                f"an event listener must be callable or have handle_event(), not {callback!r}"
            )
        entries = self._listeners.setdefault(type, [])
        handler = self._handlers.get(type)
        if any(entry.callback == callback and entry is not handler for entry in entries):
            return
        entries.append(_Entry(type, callback, once, running_asyncio_loop()))

    def remove_event_listener(self, type: str, callback: Any) -> None:
        """Stop calling ``callback`` for ``type`` events (no error if it was not registered)."""
        entries = self._listeners.get(type, [])
        for entry in entries:
            if entry.callback == callback and entry is not self._handlers.get(type):
                entry.removed = True
                entries.remove(entry)
                return

    def dispatch_event(self, event: Event) -> bool:
        """Dispatch ``event`` to this target's listeners; False if a listener cancelled it."""
        if not isinstance(event, Event):
            raise TypeError(f"dispatch_event() takes an Event, not {type(event).__name__}")
        if event.target is not None and event.current_target is not None:
            raise ValueError(f"{event!r} is already being dispatched")
        return self._dispatch(event, trusted=False)

    def _fire(self, type: str, event: Event | None = None) -> bool:
        """The DOM's "fire an event": a trusted event named ``type`` at this target."""
        return self._dispatch(event if event is not None else Event(type), trusted=True)

    def _dispatch(self, event: Event, *, trusted: bool) -> bool:
        recorder = self._event_runtime()
        event.is_trusted = trusted
        event.target = self
        event.current_target = self
        if recorder is not None:
            recorder.record_event(self, event)
        for entry in list(self._listeners.get(event.type, [])):
            if entry.removed:
                continue
            if entry.once:
                self.remove_event_listener(event.type, entry.callback)
            _invoke(entry, event)
            if event._stop_immediate:
                break
        event.current_target = None
        return not event.default_prevented

    def _set_handler(self, type: str, callback: Listener | None) -> None:
        entry = self._handlers.get(type)
        if callback is None:
            if entry is not None:
                entry.removed = True
                self._listeners[type].remove(entry)
                del self._handlers[type]
            return
        if not callable(callback):
            raise TypeError(f"on{type} must be callable or None, not {callback!r}")
        if entry is None:
            entry = _Entry(type, callback, asyncio_loop=running_asyncio_loop())
            self._handlers[type] = entry
            self._listeners.setdefault(type, []).append(entry)
        else:
            entry.callback = callback

    def _get_handler(self, type: str) -> Listener | None:
        entry = self._handlers.get(type)
        return entry.callback if entry is not None else None

    # The DOM's spelling.
    def addEventListener(self, type: str, callback: Any, options: Any = None) -> None:  # noqa: N802
        """The DOM's ``add_event_listener``; ``options`` may be ``{"once": True}``."""
        once = bool(options.get("once")) if isinstance(options, dict) else False
        self.add_event_listener(type, callback, once=once)

    def removeEventListener(self, type: str, callback: Any) -> None:  # noqa: N802
        """The DOM's spelling of ``remove_event_listener``."""
        self.remove_event_listener(type, callback)

    def dispatchEvent(self, event: Event) -> bool:  # noqa: N802
        """The DOM's spelling of ``dispatch_event``."""
        return self.dispatch_event(event)


TargetT = TypeVar("TargetT", bound=EventTarget)


class EventHandler(Generic[TargetT]):
    """An ``on<type>`` attribute: ``session.onstatechange = callback``. ``fired_when`` says when
    the event fires (the spec's words); with it, ``help()`` shows each handler."""

    def __init__(self, type: str, fired_when: str = "") -> None:
        self.type = type
        self.__doc__ = f"The ``{type}`` event's handler: called as ``callback(event)``; None: none."
        if fired_when:
            self.__doc__ += f" Fired when {fired_when}."

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> EventHandler[TargetT]: ...
    @overload
    def __get__(self, instance: TargetT, owner: type) -> Listener | None: ...
    def __get__(self, instance: TargetT | None, owner: type) -> Any:
        if instance is None:
            return self
        return instance._get_handler(self.type)

    def __set__(self, instance: TargetT, value: Listener | None) -> None:
        instance._set_handler(self.type, value)


def running_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The asyncio loop running in this thread, if any: where a coroutine listener added now
    will run."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _invoke(entry: _Entry, event: Event) -> None:
    callback = entry.callback
    if not callable(callback):
        callback = callback.handle_event
    try:
        result = callback(event)
        if inspect.isawaitable(result):
            run_awaitable(result, entry.asyncio_loop)
    except Exception:
        log.exception("exception in %r listener %r", event.type, entry.callback)


def run_awaitable(awaitable: Awaitable[Any], loop: asyncio.AbstractEventLoop | None) -> None:
    """Start what a coroutine listener returned, without waiting for it: on ``loop`` (the
    asyncio loop that was running when the listener was added) while it is open, else on the
    background listener loop. An exception it raises is logged with its traceback."""

    async def report() -> None:
        try:
            await awaitable
        except Exception:
            log.exception("exception in coroutine event listener")

    if loop is None or loop.is_closed():
        loop = _background_listener_loop()
    if loop is running_asyncio_loop():
        loop.create_task(report())
    else:
        asyncio.run_coroutine_threadsafe(report(), loop)


_background_loop: asyncio.AbstractEventLoop | None = None
_background_loop_lock = threading.Lock()


def _background_listener_loop() -> asyncio.AbstractEventLoop:
    """The asyncio loop for coroutine listeners added while no asyncio loop was running: one
    daemon thread ("audiosession-listeners"), started on first use. Listeners awaiting there
    hold up neither the audiosession loop's tasks nor each other."""
    global _background_loop
    with _background_loop_lock:
        if _background_loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="audiosession-listeners", daemon=True
            )
            thread.start()
            _background_loop = loop
        return _background_loop
