"""``audiosession notify FILE`` the short way, from a process that loads neither NumPy nor the
engine (docs/cli.md, "How notify starts quickly").

A notification must sound when it is asked for, and a new Python process that imports NumPy
and opens an engine takes a fifth of a second to do so. So, as libcanberra's programs hand
event sounds to a running server, ``notify`` first hands its file to the running daemon
(``play_file``, docs/protocol.md): the daemon plays it as a ``transient`` session of this
process under the one policy, and this process only waits for the end. Without a daemon, a
PCM WAV file goes straight to PulseAudio with the role of a ``transient`` session (what this
process's own policy would decide for its single notification: play it now, on the default
output). Anything else (other options, formats, backends, or no server to hand it to) takes
the general way, the ``notify`` of ``cli/commands.py``, which also gives every error its
usual one line.

Only the standard library (and ``wire.endpoint`` and, without a daemon, the pulse backend's
``simple``, both made of it) is imported here, and only what each way needs. Through the daemon,
nothing loads before the request is on its way but the C modules behind ``socket`` and
``json``: the two request lines are written here, and ``json`` (about a millisecond) and the
progress line load while the daemon starts the sound.
"""

from __future__ import annotations

import os
import stat
import sys

from audiosession.wire.endpoint import PROTOCOL_VERSION, default_socket_path

try:  # the C module ``socket`` wraps, without the wrapper's imports (enum, selectors)
    import _socket as socket_module
except ImportError:  # pragma: no cover - another Python than CPython
    import socket as socket_module  # type: ignore[no-redef]
try:  # the C function behind json.dumps(text) for a str, without importing json
    from _json import encode_basestring_ascii as json_string
except ImportError:  # pragma: no cover - another Python than CPython
    from json import dumps as json_string

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (slow to import)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

CONNECT_TIMEOUT = 1.0
"""Seconds to reach the daemon and hear its hello, as the client platform allows."""

MAX_REPLY = 64 * 1024
SESSION_TYPE = "transient"
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Notification:
    """What ``notify`` was asked: the file and its options."""

    def __init__(self, path: str, volume: float, loop: bool, device: str | None) -> None:
        self.path = path
        self.volume = volume
        self.loop = loop
        self.device = device
        self.title = os.path.basename(path)


def notify(argv: list[str]) -> int | None:
    """Play ``notify FILE [--volume V] [--device ID] [--loop]`` the short way and return the
    exit status; None when it must take the general way (anything else, or nothing to hand
    the file to)."""
    request = parse(argv)
    if request is None or sys.platform == "win32":
        return None
    backend = (os.environ.get("AUDIOSESSION_BACKEND") or "auto").strip().lower()
    mode = (os.environ.get("AUDIOSESSION_DAEMON") or "auto").strip().lower()
    try:
        if mode in ("auto", "required") and backend == "auto":
            status = through_the_daemon(request)
            if status is not None or mode == "required":
                return status
        if mode in ("auto", "off") and backend in ("auto", "pulse"):
            return through_pulseaudio(request)
    except KeyboardInterrupt:  # before the sound began: as the general way says it
        print(f"\n{request.title}: stopped (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED
    return None


def parse(argv: list[str]) -> Notification | None:
    """The request in ``argv`` (``notify``, one file, the player options), or None for
    anything else (argparse then says what is wrong with it)."""
    if not argv or argv[0] != "notify":
        return None
    files: list[str] = []
    options: dict[str, str] = {}
    loop = False
    words = iter(argv[1:])
    for word in words:
        if word == "--loop":
            loop = True
        elif word in ("--volume", "--device"):
            value = next(words, None)
            if value is None:
                return None
            options[word] = value
        elif word.startswith(("--volume=", "--device=")):
            name, _, value = word.partition("=")
            options[name] = value
        elif word.startswith("-") and word != "-":
            return None
        else:
            files.append(word)
    if len(files) != 1:
        return None
    try:
        volume = float(options.get("--volume", "1"))
    except ValueError:
        return None
    if not 0.0 <= volume <= 1.0:
        return None
    try:
        info = os.stat(files[0])
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(info.st_mode) or not os.access(files[0], os.R_OK):
        return None
    return Notification(os.path.abspath(files[0]), volume, loop, options.get("--device"))


# -- through the daemon -------------------------------------------------------------------------


def through_the_daemon(request: Notification) -> int | None:
    """Ask the daemon to play the file and wait for its end; None if no daemon that plays
    files answers (then nothing was played)."""
    sock = socket_module.socket(socket_module.AF_UNIX, socket_module.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT)
    try:
        sock.connect(default_socket_path())
        # Both at once: one round trip. A daemon without play_file answers it with an
        # error, and the hello's features say so first.
        sock.sendall(request_lines(request))
        messages = _messages(sock)
        greeting = next(messages)
        if not greeting.get("ok") or "play-file" not in greeting.get("features", ()):
            sock.close()
            return None
        reply = next(m for m in messages if m.get("id") == 1)
    except (OSError, StopIteration, ValueError):
        sock.close()
        return None
    if not reply.get("ok"):
        sock.close()
        return None  # the general way says what is wrong (or plays it itself)
    sock.settimeout(None)
    try:
        return _follow(request, reply["session"], messages)
    except KeyboardInterrupt:
        sock.close()  # the daemon stops the sound of a client that goes away
        print(f"\n{request.title}: stopped (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        sock.close()


def request_lines(request: Notification) -> bytes:
    """The ``hello`` and the ``play_file`` request (id 1), as two JSON lines. Written here
    rather than by ``json.dumps``, whose module would load before the request could leave;
    tests/cli/test_notify.py checks that ``json`` reads them as meant."""
    args = [f'"path": {json_string(request.path)}']
    if request.volume != 1.0:
        args.append(f'"volume": {request.volume!r}')  # a finite float's repr is JSON
    if request.loop:
        args.append('"loop": true')
    if request.device is not None:
        args.append(f'"device": {json_string(request.device)}')
    hello = (
        f'{{"op": "hello", "version": {PROTOCOL_VERSION}, "pid": {os.getpid()}, '
        f'"program": "audiosession notify", "features": ["ping"]}}'
    )
    play = f'{{"id": 1, "op": "play_file", "args": {{{", ".join(args)}}}}}'
    return f"{hello}\n{play}\n".encode()


def _follow(request: Notification, session: str, messages: Iterator[dict[str, Any]]) -> int:
    """Show the sound's progress from the daemon's ``sound`` pushes until it is over."""
    from audiosession.cli.progress import ProgressLine, player_line

    progress = ProgressLine()
    duration = float("nan")
    try:
        for message in messages:
            if message.get("push") != "sound" or message.get("session") != session:
                continue
            event = message.get("event")
            if event in ("started", "state"):
                if event == "started" and message.get("duration") is not None:
                    duration = float(message["duration"])
                state = str(message.get("state"))
                progress.show(
                    player_line(request.title, 0.0, duration, "playing", state, SESSION_TYPE),
                    key=state,
                )
            elif event == "ended":
                progress.show(
                    player_line(request.title, duration, duration, "ended", "active", SESSION_TYPE),
                    key="ended",
                )
                return EXIT_OK
            elif event == "stopped":
                progress.end()
                print(
                    f"{request.title}: stopped by the platform (see `audiosession status`)",
                    file=sys.stderr,
                )
                return EXIT_OK
            elif event == "failed":
                progress.end()
                print(f"audiosession notify: {message.get('error')}", file=sys.stderr)
                return EXIT_USAGE
    finally:
        progress.end()
    print(
        f"audiosession notify: the audiosession daemon went away while it played {request.path}",
        file=sys.stderr,
    )
    return EXIT_USAGE


def _messages(sock: socket_module.socket) -> Iterator[dict[str, Any]]:
    """The JSON objects the daemon sends, one per line; its liveness pings are answered
    here (a process stopped by Ctrl-Z then misses them, and the daemon silences its sound
    until it runs again: docs/protocol.md, "Liveness")."""
    import json

    pending = b""
    while True:
        while b"\n" not in pending:
            data = sock.recv(MAX_REPLY)
            if not data:
                return
            pending += data
        line, _, pending = pending.partition(b"\n")
        message = json.loads(line)
        if not isinstance(message, dict):
            continue
        if message.get("push") == "ping":
            sock.sendall(f"{json.dumps({'pong': message.get('token')})}\n".encode())
            continue
        yield message


# -- without a daemon: straight to PulseAudio ---------------------------------------------------


def through_pulseaudio(request: Notification) -> int | None:
    """Play a PCM WAV file on a PulseAudio server as ``paplay`` would, in the stream role of
    a ``transient`` session; None if that cannot be done (another format, a volume to
    apply, no server, an unknown device)."""
    import wave

    from audiosession.cli.progress import ProgressLine, player_line
    from audiosession.engine.backends.pulse.simple import WAV_SAMPLE_FORMATS, SimpleStream

    if request.volume != 1.0:
        return None  # the engine applies volumes
    try:
        wav = wave.open(request.path, "rb")
    except (wave.Error, EOFError, OSError):
        return None  # not a WAV the standard library reads: the engine decodes it
    with wav:
        sample_format = WAV_SAMPLE_FORMATS.get(wav.getsampwidth())
        if sample_format is None:
            return None
        stream = SimpleStream.open(
            wav.getframerate(), wav.getnchannels(), sample_format, request.device, _transient_role()
        )
        if stream is None:
            return None
        frames = max(1, wav.getframerate() // 10)
        duration = wav.getnframes() / wav.getframerate()
        progress = ProgressLine()
        try:
            progress.show(
                player_line(request.title, 0.0, duration, "playing", "active", SESSION_TYPE),
                key="playing",
            )
            while True:
                data = wav.readframes(frames)
                if data:
                    stream.write(data)
                elif request.loop:
                    wav.rewind()
                else:
                    break
            stream.drain()
            progress.show(
                player_line(request.title, duration, duration, "ended", "active", SESSION_TYPE),
                key="ended",
            )
            return EXIT_OK
        except OSError as error:
            progress.end()
            print(f"audiosession notify: {request.path}: {error}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            progress.end()
            print(f"\n{request.title}: stopped (Ctrl-C)", file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            progress.end()
            stream.close()


def _transient_role() -> str:
    """The stream role the policy gives ``transient`` sessions (``event`` unless
    ``audiosession.toml`` says otherwise)."""
    from audiosession.policy import find_config

    return find_config().role(SESSION_TYPE)
