"""A runtime: the loop, the platform and the windows of one process or virtual environment.

Which runtime is current is per thread (and per asyncio task): a ``ContextVar``. Entering a
``VirtualEnvironment`` makes its runtime current for the code that entered it, not for other
threads, which keep acting on the process's runtime (real clock, real devices).
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from audiosession.loop import TaskLoop
from audiosession.platforms.base import Platform

if TYPE_CHECKING:
    from audiosession.elements.own_streams import AdoptedStreams
    from audiosession.events import Event, EventTarget
    from audiosession.session.window import Window


@dataclass(frozen=True)
class EventRecord:
    """One dispatched event in ``env.events``: when, in which window, at what, which type, and
    the target's ``state`` after the change where it has one."""

    time: float
    window: Window | None
    target: EventTarget
    type: str
    state: str | None

    def __repr__(self) -> str:
        window = self.window.name if self.window is not None else "-"
        state = f" -> {self.state}" if self.state is not None else ""
        return f"<{self.time:.3f}s {window} {type(self.target).__name__} {self.type}{state}>"


class VirtualClock(Protocol):
    """A clock that moves only when told (a ``VirtualEnvironment``): what ``run()`` moves
    instead of waiting."""

    @property
    def block_duration(self) -> float:
        """Seconds of one step of the clock."""
        ...

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``, rendering and running what falls due."""
        ...


class Runtime:
    """Everything one process (or one ``VirtualEnvironment``) shares: the task loop, the
    platform (created on first use), the windows and, where asked for, the event log.

    ``virtual_clock`` is the environment's clock when time is virtual, None in real time.
    With ``adopt_own_streams`` (the process's runtime), the process's own sound-server streams
    that are not ours join the default window's session once it is made
    (``elements/own_streams.py``).
    """

    def __init__(
        self,
        loop: TaskLoop,
        platform_factory: Callable[[TaskLoop], Platform],
        *,
        record_events: bool = False,
        virtual_clock: VirtualClock | None = None,
        adopt_own_streams: bool = False,
    ) -> None:
        self.loop = loop
        self.virtual_clock = virtual_clock
        self._platform_factory = platform_factory
        self._platform: Platform | None = None
        self._platform_lock = threading.Lock()
        self.windows: list[Window] = []
        self.events: list[EventRecord] | None = [] if record_events else None
        self._window_ids = itertools.count(1)
        self._default_window: Window | None = None
        self._adopt_own_streams = adopt_own_streams
        self._adopted: AdoptedStreams | None = None
        self.claimed_streams: Counter[str] = Counter()
        """The sound-server client names (``application.name``) whose streams an
        ``ExternalPlayer`` of the program stands for: they are not adopted on their own."""
        self.closed = False

    @property
    def platform(self) -> Platform:
        """The platform, created on first use."""
        if self._platform is None:
            with self._platform_lock:
                if self._platform is None:
                    self._platform = self._platform_factory(self.loop)
        return self._platform

    @property
    def default_window(self) -> Window:
        """The window that ``Audio()`` and friends use when none is given."""
        if self._default_window is None or self._default_window.closed:
            from audiosession.session.window import Window

            self._default_window = Window(runtime=self)
            if self._adopt_own_streams and self._adopted is None:
                # An object of the elements layer, imported by name on first use (as the
                # navigator's media_session is): its players are elements.
                from audiosession.elements.own_streams import adopt_own_streams

                self._adopt_own_streams = False
                self._adopted = adopt_own_streams(self)
        return self._default_window

    def claim_streams(self, client_name: str) -> None:
        """An ``ExternalPlayer`` stands for the streams of ``client_name``: any adopted
        already are given back, no more are adopted while it lasts."""
        self.claimed_streams[client_name] += 1
        if self._adopted is not None:
            self._adopted.give_back(client_name)

    def unclaim_streams(self, client_name: str) -> None:
        self.claimed_streams[client_name] -= 1
        if self.claimed_streams[client_name] <= 0:
            del self.claimed_streams[client_name]

    def next_window_id(self) -> int:
        return next(self._window_ids)

    def record_event(self, target: EventTarget, event: Event) -> None:
        """Stamp ``event`` with this runtime's clock and, where asked, log it (``EventRecorder``
        of ``audiosession.events``)."""
        event.time_stamp = self.loop.now() * 1000.0
        if self.events is None:
            return
        window = getattr(target, "window", None)
        state = getattr(target, "state", None)
        self.events.append(EventRecord(self.loop.now(), window, target, event.type, _plain(state)))

    def close(self) -> None:
        """Close every window (releasing what they hold) and the platform."""
        if self._adopted is not None:
            self._adopted.close()
        for window in [w for w in self.windows if w.parent is None]:
            window.close()
        self.closed = True
        if self._platform is not None:
            self._platform.close()


def _plain(value: Any) -> str | None:
    return None if value is None else str(value)


_process_runtime: Runtime | None = None
_process_lock = threading.Lock()
_runtime_stack: ContextVar[tuple[Runtime, ...]] = ContextVar("audiosession_runtimes", default=())
"""The virtual environments entered in this thread (or asyncio task), innermost last."""


def process_runtime() -> Runtime:
    """The runtime of this process, created on first use (real clock, real devices)."""
    global _process_runtime
    if _process_runtime is None:
        with _process_lock:
            if _process_runtime is None:
                from audiosession.loop import ThreadedLoop
                from audiosession.platforms.select import default_platform_factory

                _process_runtime = Runtime(
                    ThreadedLoop(), default_platform_factory, adopt_own_streams=True
                )
    return _process_runtime


def current_runtime() -> Runtime:
    """The runtime of the innermost ``VirtualEnvironment`` this thread (or asyncio task) has
    entered, else the process's."""
    stack = _runtime_stack.get()
    return stack[-1] if stack else process_runtime()


def push_runtime(runtime: Runtime) -> None:
    """Make ``runtime`` current in this thread (or asyncio task) until ``pop_runtime``."""
    _runtime_stack.set((*_runtime_stack.get(), runtime))


def pop_runtime(runtime: Runtime) -> None:
    """``runtime`` is current no more (nothing happens if it was not)."""
    stack = _runtime_stack.get()
    if runtime in stack:
        _runtime_stack.set(tuple(entry for entry in stack if entry is not runtime))
