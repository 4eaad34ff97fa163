"""The download thread of a network source: the body of an HTTP(S) URL into a ``ByteRing``.

One GET at a time, with ``Range: bytes=N-`` from where the body is needed: from the start,
again after the decoder jumped outside the ring (a seek), and again after a connection was
cut mid-body when the server supports ranges (``RESUME_ATTEMPTS`` times without progress).
The response's status and type are checked and its length and range support learned
(docs/network.md gives the errors). The ring's writer waits when the ring is full, so the
socket is not read meanwhile (TCP back-pressure).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

try:
    import httpx
except ModuleNotFoundError as error:  # in the default install; a trimmed one may lack it
    from audiosession.dependencies import missing_dependency

    raise missing_dependency(
        error,
        "httpx",
        needed_for="playing http: and https: URLs",
        install="pip install httpx (a default install of audiosession has it)",
    ) from None

from audiosession.elements.byte_ring import ByteRing
from audiosession.elements.media_error import MediaError, MediaSourceError

log = logging.getLogger(__name__)

__all__ = ["HttpDownload", "check_url"]

CONNECT_TIMEOUT = 10.0
"""Seconds to connect before failing with ``MEDIA_ERR_NETWORK``."""

READ_TIMEOUT = 30.0
"""Seconds without a byte, while reading, before the download fails with a timeout."""

PROGRESS_INTERVAL = 0.35
"""``progress`` fires at most this often while bytes arrive (HTML: 350 ms)."""

RESUME_ATTEMPTS = 3
"""Times a cut connection is resumed with ``Range`` (servers that support it) without progress."""

AUDIO_TYPES = ("audio/", "video/")
OTHER_MEDIA_TYPES = frozenset(
    {
        "application/ogg",
        "application/octet-stream",
        "binary/octet-stream",
        "application/x-flac",
    }
)


def check_url(url: str) -> None:
    """Raise ``MediaSourceError`` unless ``url`` is a URL with a host."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as error:
        raise MediaSourceError(
            MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED, f"{url}: bad URL ({error})"
        ) from None
    if not parsed.host:
        raise MediaSourceError(MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED, f"{url}: no host in the URL")


class HttpDownload:
    """Fetches ``url`` into ``ring`` on the thread that calls ``run()``.

    ``fail(code, reason)`` reports an error (a ``MediaError`` code; the source records it in
    the ring, which ends the download); ``notify("progress")`` reports bytes arriving.
    ``client``: an ``httpx.Client`` to use (tests), else one of its own.
    """

    def __init__(
        self,
        url: str,
        ring: ByteRing,
        *,
        fail: Callable[[int, str], None],
        notify: Callable[[str], None],
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url
        self._ring = ring
        self._fail = fail
        self._notify = notify
        self._client = client

    def run(self) -> None:
        """The thread's body: fetch until the body is complete, the source closes or fails."""
        client = self._client or httpx.Client(
            timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
            follow_redirects=True,
            headers={"Accept-Encoding": "identity"},
        )
        try:
            self._run_with(client)
        except Exception as error:  # a bug, not a network condition: still fail cleanly
            log.exception("download of %s failed", self.url)
            self._fail(MediaError.MEDIA_ERR_NETWORK, f"download failed ({error})")
        finally:
            if self._client is None:
                client.close()
            with self._ring.cond:
                self._ring.fetching = False

    def _run_with(self, client: httpx.Client) -> None:
        ring = self._ring
        offset = 0
        first = True
        attempts = 0
        while True:
            with ring.cond:
                if ring.closed or ring.error is not None:
                    return
                if ring.restart_at is not None:
                    offset, ring.restart_at = ring.restart_at, None
                    ring.reset(offset)
                elif ring.done:
                    ring.fetching = False
                    ring.cond.wait(0.25)
                    continue
                ring.fetching = True
                ring.last_data = time.monotonic()
            before = offset
            try:
                outcome, offset = self._fetch(client, offset, first)
            finally:
                with ring.cond:
                    ring.socket = None
            first = False
            if outcome == "failed":
                return
            if outcome == "cut":
                with ring.cond:
                    ranges, seeking = ring.ranges, ring.restart_at is not None
                attempts = 0 if offset > before else attempts + 1
                if seeking:
                    continue
                if not ranges or attempts >= RESUME_ATTEMPTS:
                    got = f"{offset} of {ring.length} bytes" if ring.length else f"{offset} bytes"
                    self._fail(MediaError.MEDIA_ERR_NETWORK, f"the connection was cut after {got}")
                    return
                log.info(
                    "%s: connection cut at byte %d; resuming with a range request", self.url, offset
                )

    def _fetch(self, client: httpx.Client, offset: int, first: bool) -> tuple[str, int]:
        """One GET from ``offset``: ("complete" | "cut" | "failed", the next offset)."""
        ring = self._ring
        headers = {"Range": f"bytes={offset}-"}
        answered = False

        def trace(event: str, info: dict[str, Any]) -> None:
            # The socket as soon as it connects: a close or a deadline can then cut a
            # server that trickles its headers.
            if event == "connection.connect_tcp.complete" and info.get("return_value"):
                with ring.cond:
                    ring.socket = info["return_value"].get_extra_info("socket")
                    if ring.closed or ring.error is not None:
                        ring.abort_fetch()

        try:
            with client.stream(
                "GET", self.url, headers=headers, extensions={"trace": trace}
            ) as response:
                answered = True
                if not self._accept(response, offset, first):
                    return "failed", offset
                if response.status_code == 416:
                    return "complete", offset
                stream = response.extensions.get("network_stream")
                with ring.cond:
                    ring.socket = stream.get_extra_info("socket") if stream else None
                    if ring.closed or ring.restart_at is not None:
                        return "cut", offset
                last_progress = 0.0
                for chunk in response.iter_raw():
                    if not ring.write(chunk, offset):
                        return "cut", offset  # closed, or the decoder jumped elsewhere
                    offset += len(chunk)
                    now = time.monotonic()
                    if now - last_progress >= PROGRESS_INTERVAL:
                        last_progress = now
                        self._notify("progress")
        except httpx.TimeoutException as error:
            if offset == 0:
                self._fail(MediaError.MEDIA_ERR_NETWORK, f"timed out ({_reason(error)})")
                return "failed", offset
            self._fail(
                MediaError.MEDIA_ERR_NETWORK, f"timed out after {offset} bytes ({_reason(error)})"
            )
            return "failed", offset
        except httpx.ConnectError as error:
            self._fail(MediaError.MEDIA_ERR_NETWORK, f"cannot connect ({_reason(error)})")
            return "failed", offset
        except httpx.UnsupportedProtocol as error:
            # Only a redirect can get here (the URL itself is http: or https:).
            target = error.request.url
            self._fail(
                MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED,
                f"the server redirected to a {target.scheme}: URL ({target}); only "
                "http: and https: redirects are followed",
            )
            return "failed", offset
        except (httpx.RemoteProtocolError, httpx.ReadError) as error:
            if isinstance(error, httpx.RemoteProtocolError) and not answered:
                # No valid response at all (headers too large, garbage): not a cut body.
                self._fail(MediaError.MEDIA_ERR_NETWORK, _malformed_response(error))
                return "failed", offset
            log.info("%s: read failed at byte %d: %s", self.url, offset, _reason(error))
            return "cut", offset
        except httpx.HTTPError as error:
            self._fail(MediaError.MEDIA_ERR_NETWORK, f"request failed ({_reason(error)})")
            return "failed", offset
        with ring.cond:
            if ring.length is not None and offset < ring.length:
                return "cut", offset
            ring.done = True
            ring.length = offset if ring.length is None and ring.low == 0 else ring.length
            ring.cond.notify_all()
        self._notify("progress")
        return "complete", offset

    def _accept(self, response: httpx.Response, offset: int, first: bool) -> bool:
        """Check a response's status, type and range; learn the length and range support."""
        ring = self._ring
        status = response.status_code
        if status == 416 and not first:  # asked past the end: the end was already there
            with ring.cond:
                ring.done = True
                ring.cond.notify_all()
            return True
        if status not in (200, 206):
            code = (
                MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED
                if 400 <= status < 500
                else MediaError.MEDIA_ERR_NETWORK
            )
            self._fail(code, f"HTTP {status} {response.reason_phrase}".rstrip())
            return False
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if first and kind and not (kind.startswith(AUDIO_TYPES) or kind in OTHER_MEDIA_TYPES):
            self._fail(
                MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED,
                f"the server sent {kind!r}, not audio (HTTP {status})",
            )
            return False
        total = _content_range_total(response) if status == 206 else None
        length = response.headers.get("content-length")
        with ring.cond:
            if status == 206:
                ring.ranges = True
                if total is not None:
                    ring.length = total
            elif offset > 0:
                # The server ignored the Range header: it sent the whole body again.
                ring.ranges = False
                self._fail(
                    MediaError.MEDIA_ERR_NETWORK,
                    f"the server ignored a range request for byte {offset} "
                    "(it does not support ranges)",
                )
                return False
            else:
                ring.ranges = response.headers.get("accept-ranges", "").lower() == "bytes"
                if length is not None and length.isdigit():
                    ring.length = int(length)
            if first:
                ring.live = ring.length is None
            if first and ring.length is not None and not ring.data:
                ring.capacity = max(1, min(ring.capacity, ring.length))  # a short body
            ring.cond.notify_all()
        return True


def _content_range_total(response: httpx.Response) -> int | None:
    """The total length from ``Content-Range: bytes a-b/total`` (None if ``*`` or absent)."""
    value = response.headers.get("content-range", "")
    total = value.rpartition("/")[2].strip()
    return int(total) if total.isdigit() else None


def _malformed_response(error: Exception) -> str:
    """What went wrong when the server's answer was not a valid HTTP response."""
    reason = _reason(error)
    if reason == "Receive buffer too long":  # h11, through httpcore's 100 kB limit
        return (
            "the server's response headers are larger than 100 kB (no body was read); "
            "httpx refuses them"
        )
    return f"the server's answer is not a valid HTTP response ({reason})"


def _reason(error: Exception) -> str:
    text = str(error).strip()
    return text or type(error).__name__
