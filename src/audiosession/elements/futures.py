"""``Promise``: the future that the elements' asynchronous methods return; ``Playback`` is
``play()``'s.

It is the browser's promise for Python: ``await`` it in asyncio, or call ``.result(timeout)``
in plain code. Waiting on it from inside a task of the audiosession loop would wait for ever
(the loop cannot run the task that settles it), so that raises at once instead.

One rule for every method that returns one (docs/spec-notes.md, note 17): misuse raises at
once (an argument of the wrong type or value, an object whose window or context is closed);
every failure of the operation itself (refused, not found, not supported, a network error)
rejects the future, as the spec rejects the promise.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Generator
from typing import Any, Generic, TypeVar

from audiosession.loop import TaskLoop

ValueT = TypeVar("ValueT")
"""What a promise resolves with."""

PromiseT = TypeVar("PromiseT", bound="Promise[Any]")


class Promise(concurrent.futures.Future, Generic[ValueT]):  # type: ignore[type-arg]
    """A future settled by the audiosession loop: awaitable, or ``.result(timeout)``."""

    def __init__(self, loop: TaskLoop, what: str = "operation") -> None:
        super().__init__()
        self._loop = loop
        self._what = what

    @classmethod
    def settled(
        cls: type[PromiseT],
        loop: TaskLoop,
        value: Any = None,
        error: BaseException | None = None,
    ) -> PromiseT:
        """A promise that is already resolved with ``value`` (or rejected with ``error``)."""
        future = cls(loop)
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
        return future

    def result(self, timeout: float | None = None) -> ValueT:
        if not self.done() and self._loop.in_loop_thread():
            raise RuntimeError(
                f"waiting for {self._what} here would block the loop that settles it; "
                "await it, add a done callback, or (in virtual time) call env.advance() first"
            )
        return super().result(timeout)  # type: ignore[no-any-return]

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if not self.done() and self._loop.in_loop_thread():
            raise RuntimeError(f"waiting for {self._what} here would block the loop")
        return super().exception(timeout)

    def __await__(self) -> Generator[Any, None, ValueT]:
        return asyncio.wrap_future(self).__await__()

    def then(
        self,
        on_fulfilled: Callable[[Any], Any] | None = None,
        on_rejected: Callable[[BaseException], Any] | None = None,
    ) -> Promise[Any]:
        """The promise's ``then``: run a callback (as a task on the loop) once settled; the
        promise returned settles with what it returns (or raises), so MDN chains port as they
        read: ``get_user_media({"audio": True}).then(lambda stream: ...)``."""
        chained: Promise[Any] = Promise(self._loop, self._what)

        def settle() -> None:
            error = super(Promise, self).exception()
            handler = on_fulfilled if error is None else on_rejected
            if handler is None:
                if error is None:
                    chained.resolve(super(Promise, self).result())
                else:
                    chained.reject(error)
                return
            try:
                value = handler(super(Promise, self).result() if error is None else error)
            except Exception as failure:
                chained.reject(failure)
                return
            if isinstance(value, Promise):
                value.add_done_callback(lambda done: chained._adopt(done))
            else:
                chained.resolve(value)

        self.add_done_callback(lambda _: self._loop.queue_task(settle))
        return chained

    def catch(self, on_rejected: Callable[[BaseException], Any]) -> Promise[Any]:
        """The promise's ``catch``: ``then(None, on_rejected)``."""
        return self.then(None, on_rejected)

    def _adopt(self, other: concurrent.futures.Future[Any]) -> None:
        error = other.exception()
        if error is None:
            self.resolve(other.result())
        else:
            self.reject(error)

    def resolve(self, value: Any = None) -> None:
        """Fulfil the future with ``value``, unless it is settled already."""
        if not self.done():
            self.set_result(value)

    def reject(self, error: BaseException) -> None:
        """Reject the future with ``error``, unless it is settled already."""
        if not self.done():
            self.set_exception(error)


class Playback(Promise[ValueT]):
    """What ``play()`` returns: resolves (with None) when sound really starts, or is rejected
    with ``NotAllowedError``, ``NotSupportedError`` or ``NetworkError``."""


def settled(loop: TaskLoop, value: Any = None, error: BaseException | None = None) -> Playback:
    """A ``Playback`` that is already resolved (or rejected with ``error``): what ``play()``
    returns when it can answer at once."""
    future: Playback[Any] = Playback.settled(loop, value, error)
    return future


class PendingPromises:
    """Promises waiting for one outcome, settled together: the media element's "list of
    pending play promises" (HTML: take, resolve and reject pending play promises), the
    AudioContext's pending resume promises."""

    def __init__(self) -> None:
        self._promises: list[Promise[None]] = []

    def __bool__(self) -> bool:
        return bool(self._promises)

    def append(self, promise: Promise[None]) -> None:
        self._promises.append(promise)

    def take(self) -> list[Promise[None]]:
        """HTML's "take pending play promises": the promises, and the list emptied."""
        promises, self._promises = self._promises, []
        return promises

    def resolve(self) -> None:
        """Resolve every pending promise (with None), and empty the list."""
        for promise in self.take():
            promise.resolve(None)

    def reject(self, error: BaseException) -> None:
        """Reject every pending promise with ``error``, and empty the list."""
        for promise in self.take():
            promise.reject(error)
