"""A real HTTP server on 127.0.0.1 for the network tests: ranges, trickles, cuts, stalls."""

from __future__ import annotations

import http.server
import logging
import re
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)


class Body:
    """Bytes served by the server: ``size`` and ``read(offset, n)``."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def read(self, offset: int, n: int) -> bytes:
        return self.data[offset : offset + n]


class SineWav(Body):
    """A 16-bit stereo WAV of a sine, made on the fly: a long body that is never in memory.

    The frequency is a whole number of hertz, so one second of samples repeats exactly.
    """

    def __init__(
        self, seconds: float, freq: int = 440, amplitude: float = 0.5, rate: int = 48000
    ) -> None:
        frames = int(seconds * rate)
        data_bytes = frames * 4
        self.header = (
            b"RIFF"
            + struct.pack("<I", 36 + data_bytes)
            + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 2, rate, rate * 4, 4, 16)
            + b"data"
            + struct.pack("<I", data_bytes)
        )
        self.size = len(self.header) + data_bytes
        t = np.arange(rate) / rate
        mono = np.round(amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2")
        second = np.repeat(mono[:, None], 2, axis=1).tobytes()
        self.period = len(second)
        self.table = second * 2

    def read(self, offset: int, n: int) -> bytes:
        n = max(0, min(n, self.size - offset))
        parts = []
        if offset < len(self.header):
            parts.append(self.header[offset : offset + n])
            n -= len(parts[0])
            offset += len(parts[0])
        while n > 0:
            start = (offset - len(self.header)) % self.period
            part = self.table[start : start + min(n, self.period)]
            parts.append(part)
            n -= len(part)
            offset += len(part)
        return b"".join(parts)


@dataclass
class Route:
    """How one path is served."""

    body: Body | None = None
    content_type: str = "audio/mpeg"
    status: int = 200
    ranges: bool = True
    rate: float | None = None
    """Bytes per second (a trickle); None = as fast as possible."""
    cut_at: int | None = None
    """Close the connection when the body reaches this byte (every response)."""
    stall_at: int | None = None
    """Stop sending at this byte until ``resume`` is set (the first response only)."""
    resume: threading.Event = field(default_factory=threading.Event)
    stalled: threading.Event = field(default_factory=threading.Event)
    hang: bool = False
    """Accept the request and never answer (a timeout)."""
    length: bool = True
    """Send Content-Length; without it the body ends when the connection closes (live)."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers."""
    redirect: str | None = None
    """Answer ``302 Found`` with this ``Location``."""
    drip: float | None = None
    """Seconds between bytes of the whole response, status line and headers included (a
    slowloris): every read of the client gets a byte before its timeout."""
    dropped: threading.Event = field(default_factory=threading.Event)
    """Set when the client closed a connection the server was still writing to."""


class AudioServer:
    """A threaded HTTP/1.0 server; ``add(path, route)`` then ``url(path)``.

    ``requests`` lists (path, Range header or None) as they arrive.
    """

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        """``tls``: (certificate, key) files to serve HTTPS instead of HTTP."""
        self.routes: dict[str, Route] = {}
        self.scheme = "https" if tls else "http"
        self.requests: list[tuple[str, str | None]] = []
        self.closing = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                log.debug(format, *args)

            def do_GET(self) -> None:  # noqa: N802
                server._serve(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def add(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.url(path)

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.closing.set()
        for route in self.routes.values():
            route.resume.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _serve(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?")[0]
        header = handler.headers.get("Range")
        self.requests.append((path, header))
        route = self.routes.get(path)
        if route is None or route.status == 404:
            handler.send_error(404, "Not Found")
            return
        if route.hang:
            self.closing.wait(30)
            return
        if route.redirect is not None:
            handler.send_response(302)
            handler.send_header("Location", route.redirect)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        if route.drip is not None:
            self._drip(handler, route)
            return
        if route.status != 200 or route.body is None:
            handler.send_error(route.status)
            return
        body = route.body
        start, status = 0, 200
        match = re.fullmatch(r"bytes=(\d+)-", header or "")
        if route.ranges and match:
            start, status = int(match.group(1)), 206
            if start >= body.size:
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{body.size}")
                handler.end_headers()
                return
        handler.send_response(status)
        for name, value in route.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", route.content_type)
        if route.length:
            handler.send_header("Content-Length", str(body.size - start))
        if route.ranges:
            handler.send_header("Accept-Ranges", "bytes")
        if status == 206:
            handler.send_header("Content-Range", f"bytes {start}-{body.size - 1}/{body.size}")
        handler.end_headers()
        self._send(handler, route, start, first=header is None or start == 0)

    def _send(
        self, handler: http.server.BaseHTTPRequestHandler, route: Route, start: int, first: bool
    ) -> None:
        body, pos = route.body, start
        assert body is not None
        piece = 64 << 10 if route.rate is None else max(256, int(route.rate / 50))
        began = time.monotonic()
        try:
            while pos < body.size and not self.closing.is_set():
                end = min(body.size, pos + piece)
                if route.cut_at is not None:
                    if pos >= route.cut_at:
                        handler.wfile.flush()
                        handler.connection.shutdown(socket.SHUT_RDWR)
                        return
                    end = min(end, route.cut_at)
                if route.stall_at is not None and first and pos <= route.stall_at < end:
                    end = route.stall_at
                    if end == pos:
                        handler.wfile.flush()
                        route.stalled.set()
                        route.resume.wait(30)
                        first = False
                        began, start = time.monotonic(), pos
                        continue
                handler.wfile.write(body.read(pos, end - pos))
                pos = end
                if route.rate is not None:
                    handler.wfile.flush()
                    delay = began + (pos - start) / route.rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
        except (BrokenPipeError, ConnectionResetError, OSError):
            route.dropped.set()
            return

    def _drip(self, handler: http.server.BaseHTTPRequestHandler, route: Route) -> None:
        body = route.body.read(0, route.body.size) if route.body is not None else b""
        response = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {route.content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        try:
            for i in range(len(response)):
                if self.closing.wait(route.drip):
                    return
                handler.wfile.write(response[i : i + 1])
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            route.dropped.set()


def refused_url() -> str:
    """A URL on a port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nothing.mp3"
