"""A private PulseAudio server with null sinks, for tests and benchmarks that need real audio.

How it works: ``PulseServer.start()`` runs ``pulseaudio -n --daemonize=no`` (``-n``: no
default.pa, so nothing but what we ``--load``) with its runtime dir, HOME and state in a fresh
temporary directory, loads ``module-native-protocol-unix`` on ``<tmp>/native`` (anonymous
auth) and one ``module-null-sink`` per requested sink (48 kHz float32 stereo; the first one is
the default), then waits until ``pactl info`` answers. ``env`` / ``activate()`` point
``PULSE_SERVER`` at it, so libpulse clients of this process and its children (pactl, parec,
paplay, our backend) talk to it and never to a user's server. ``module-suspend-on-idle
timeout=0`` is loaded because an idle null sink renders in 2 s blocks and would hold a new
stream back for up to 2 s; a suspended one wakes at once. Running as root works:
pulseaudio only warns. ``stop()`` terminates the daemon (kill after 5 s) and removes the
directory. Each null sink has a monitor source ``<sink>.monitor`` that ``parec`` records, so
tests assert on what the sink really received.

The pytest fixture ``pulse_server`` (module scope) provides one with ``speakers`` (default)
and ``headset`` (``device.intended_roles=phone``). When a Debian package it needs is missing
the fixture skips with the reason, except under ``CI=true`` where it fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

import numpy as np
import pytest

from support.requirements import unavailable

RATE = 48000
CHANNELS = 2

REQUIRED_TOOLS = {
    "pulseaudio": "pulseaudio",
    "pactl": "pulseaudio-utils",
    "parec": "pulseaudio-utils",
}


class PulseServerError(RuntimeError):
    """The private server could not be started or a command against it failed."""


def missing_packages() -> list[str]:
    """Debian packages whose programs the private server needs and that are not installed."""
    return sorted({pkg for tool, pkg in REQUIRED_TOOLS.items() if shutil.which(tool) is None})


@dataclass
class SinkInput:
    """One playback stream as ``pactl list sink-inputs`` shows it."""

    index: int
    sink: str
    properties: dict[str, str] = field(default_factory=dict)
    corked: bool = False

    @property
    def role(self) -> str | None:
        """The stream's ``media.role`` property, if any."""
        return self.properties.get("media.role")


class PulseServer:
    """A private PulseAudio daemon in a temporary directory (see the module docstring)."""

    def __init__(
        self, sinks: dict[str, dict[str, str]] | None = None, null_source: bool = False
    ) -> None:
        """``sinks``: name -> sink properties, in order (the first is the default sink)."""
        self.sinks = (
            sinks
            if sinks is not None
            else {
                "speakers": {"device.description": "Speakers"},
                "headset": {"device.description": "Headset", "device.intended_roles": "phone"},
            }
        )
        self.null_source = null_source
        self.dir: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._saved_env: dict[str, str | None] = {}

    @property
    def socket(self) -> str:
        """Path of the server's native-protocol socket."""
        if self.dir is None:
            raise PulseServerError("the server is not started")
        return os.path.join(self.dir, "native")

    @property
    def server_string(self) -> str:
        """The value for ``PULSE_SERVER``."""
        return f"unix:{self.socket}"

    @property
    def env(self) -> dict[str, str]:
        """An environment for child processes that talk to this server."""
        env = dict(os.environ)
        env["PULSE_SERVER"] = self.server_string
        env.pop("PULSE_SINK", None)
        env.pop("PULSE_SOURCE", None)
        return env

    @property
    def pid(self) -> int:
        """The daemon's process id."""
        if self.process is None:
            raise PulseServerError("the server is not started")
        return self.process.pid

    def start(self, timeout: float = 10.0) -> PulseServer:
        """Start the daemon and wait until it answers ``pactl info``. After ``kill()`` it
        starts again in the same directory, on the same socket (a restarted server)."""
        missing = missing_packages()
        if missing:
            raise PulseServerError(f"missing Debian packages: {' '.join(missing)}")
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="as-pulse-")
            for sub in ("runtime", "home", "state"):
                os.makedirs(os.path.join(self.dir, sub), mode=0o700)
        env = dict(os.environ)
        env.update(
            {
                "XDG_RUNTIME_DIR": os.path.join(self.dir, "runtime"),
                "PULSE_RUNTIME_PATH": os.path.join(self.dir, "runtime"),
                "PULSE_STATE_PATH": os.path.join(self.dir, "state"),
                "HOME": os.path.join(self.dir, "home"),
            }
        )
        for name in ("PULSE_SERVER", "PULSE_SINK", "PULSE_SOURCE", "DBUS_SESSION_BUS_ADDRESS"):
            env.pop(name, None)
        args = [
            "pulseaudio",
            "-n",
            "--daemonize=no",
            "--system=false",
            "--use-pid-file=no",
            "--exit-idle-time=-1",
            "--disallow-module-loading=false",
            "--log-target=stderr",
            "--log-level=warning",
            f"--load=module-native-protocol-unix socket={self.socket} auth-anonymous=1",
        ]
        for name, props in self.sinks.items():
            args.append(f"--load={self._sink_module_args(name, props)}")
        # Null sinks sleep in 2 s blocks while idle and do not wake early when a stream
        # arrives; suspended sinks do (the backend starts streams corked and uncorks them).
        args.append("--load=module-suspend-on-idle timeout=0")
        if self.null_source:
            args.append(f"--load=module-null-source source_name=mic rate={RATE} channels=2")
        self._log = open(os.path.join(self.dir, "pulseaudio.log"), "ab")  # noqa: SIM115
        self.process = spawn(args, env, self._log)
        try:
            wait_until_started(
                lambda: os.path.exists(self.socket) and self.answers(),
                [self.process],
                timeout,
                "pulseaudio",
                self.log,
            )
        except PulseServerError:
            self.stop()
            raise
        first = next(iter(self.sinks), None)
        if first is not None:
            self.pactl("set-default-sink", first)
        return self

    @staticmethod
    def _sink_module_args(name: str, props: dict[str, str]) -> str:
        args = f"module-null-sink sink_name={name} rate={RATE} channels=2 format=float32le"
        if props:
            # module-null-sink parses sink_properties as a proplist string.
            plist = " ".join(f"{k}='{v}'" for k, v in props.items())
            args += f' sink_properties="{plist}"'
        return args

    def answers(self) -> bool:
        """Whether the server answers ``pactl info``."""
        result = subprocess.run(["pactl", "info"], env=self.env, capture_output=True, timeout=5)
        return result.returncode == 0

    def log(self) -> str:
        """The daemon's log so far."""
        if self.dir is None:
            return ""
        try:
            with open(os.path.join(self.dir, "pulseaudio.log"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """Kill the daemon with SIGKILL, as a crash would; its directory and socket path stay,
        so ``start()`` brings up a new server in its place."""
        if self.process is None:
            raise PulseServerError("the server is not started")
        self.process.kill()
        self.process.wait(timeout=5)
        self.process = None
        self._log.close()

    def activate(self) -> None:
        """Point this process's ``PULSE_SERVER`` at the private server (undone by ``stop``)."""
        for name in ("PULSE_SERVER", "PULSE_SINK", "PULSE_SOURCE"):
            self._saved_env.setdefault(name, os.environ.get(name))
        os.environ["PULSE_SERVER"] = self.server_string
        os.environ.pop("PULSE_SINK", None)
        os.environ.pop("PULSE_SOURCE", None)

    def stop(self) -> None:
        """Stop the daemon, restore the environment and remove the temporary directory."""
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        if self.process is not None:
            end_process(self.process)
            self.process = None
        if getattr(self, "_log", None) is not None:
            self._log.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> PulseServer:
        if self.process is None:
            self.start()
        self.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- commands --

    def pactl(self, *args: str) -> str:
        """Run ``pactl args...`` against this server and return its output."""
        result = subprocess.run(["pactl", *args], env=self.env, capture_output=True, timeout=10)
        if result.returncode != 0:
            raise PulseServerError(
                f"pactl {' '.join(args)} failed: {result.stderr.decode(errors='replace')}"
            )
        return result.stdout.decode(errors="replace")

    def load_null_sink(self, name: str, **props: str) -> int:
        """Add a null sink (a hot-plugged device); return its module index for unloading."""
        args = self._sink_module_args(name, props).split(" ", 1)
        return int(self.pactl("load-module", args[0], *_split_module_args(args[1])).strip())

    def unload_module(self, index: int) -> None:
        """Unload a module, e.g. one ``load_null_sink`` returned (the device disappears)."""
        self.pactl("unload-module", str(index))

    def sink_names(self) -> dict[int, str]:
        """Sink index -> name."""
        names = {}
        for line in self.pactl("list", "short", "sinks").splitlines():
            parts = line.split("\t")
            if len(parts) >= 2:
                names[int(parts[0])] = parts[1]
        return names

    def sink_inputs(self) -> list[SinkInput]:
        """Every playback stream on the server, with its sink's name and properties."""
        sinks = self.sink_names()
        inputs: list[SinkInput] = []
        current: SinkInput | None = None
        in_props = False
        for raw in self.pactl("list", "sink-inputs").splitlines():
            line = raw.strip()
            if raw.startswith("Sink Input #"):
                current = SinkInput(index=int(raw.split("#", 1)[1]), sink="")
                inputs.append(current)
                in_props = False
            elif current is None:
                continue
            elif line.startswith("Sink:"):
                value = line.split(":", 1)[1].strip()
                current.sink = sinks.get(int(value), value) if value.isdigit() else value
            elif line.startswith("Corked:"):
                current.corked = line.split(":", 1)[1].strip() == "yes"
            elif line == "Properties:":
                in_props = True
            elif in_props and " = " in line:
                key, value = line.split(" = ", 1)
                current.properties[key] = value.strip().strip('"')
            elif in_props and raw.startswith("\t") and not raw.startswith("\t\t"):
                in_props = False
        return inputs

    def sink_inputs_of(self, pid: int) -> list[SinkInput]:
        """The playback streams of process ``pid``."""
        return [
            s for s in self.sink_inputs() if s.properties.get("application.process.id") == str(pid)
        ]

    def volume_of(self, index: int) -> tuple[list[int], bool]:
        """Raw per-channel volume and mute of sink-input ``index``."""
        volume: list[int] = []
        mute = False
        current = None
        for raw in self.pactl("list", "sink-inputs").splitlines():
            line = raw.strip()
            if raw.startswith("Sink Input #"):
                current = int(raw.split("#", 1)[1])
            elif current == index and line.startswith("Mute:"):
                mute = line.split(":", 1)[1].strip() == "yes"
            elif current == index and line.startswith("Volume:"):
                parts = line.split(":", 1)[1].split(",")
                volume = [int(part.split(":")[1].split("/")[0]) for part in parts]
        if not volume:
            raise AssertionError(f"no sink-input #{index}")
        return volume, mute

    def sink_state(self, name: str) -> str:
        """``RUNNING``, ``IDLE`` or ``SUSPENDED``: sink ``name``'s state."""
        for line in self.pactl("list", "sinks", "short").splitlines():
            fields = line.split("\t")
            if fields[1] == name:
                return fields[-1]
        raise PulseServerError(f"no sink {name!r} on the server")

    def record(self, device: str, *, rate: int = RATE, channels: int = CHANNELS) -> Recorder:
        """Start recording ``device`` (a source, e.g. ``"speakers.monitor"``) in the background."""
        return Recorder(self, device, rate=rate, channels=channels).start()

    def record_monitor(self, sink: str, seconds: float) -> np.ndarray:
        """Record ``seconds`` of what ``sink`` plays (its monitor): (frames, 2) float32."""
        recorder = self.record(f"{sink}.monitor")
        time.sleep(seconds)
        return recorder.stop()

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the daemon has used so far."""
        return process_cpu_seconds(self.pid)


class Recorder:
    """``parec`` of one source into memory on a background thread."""

    def __init__(
        self, server: PulseServer, device: str, *, rate: int = RATE, channels: int = CHANNELS
    ) -> None:
        self.server, self.device, self.rate, self.channels = server, device, rate, channels
        self._chunks: list[bytes] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Recorder:
        """Start ``parec``; returns once the recording stream exists on the server."""
        self._process = subprocess.Popen(
            [
                "parec",
                f"--device={self.device}",
                "--format=float32le",
                f"--rate={self.rate}",
                f"--channels={self.channels}",
                "--latency-msec=20",
                "--raw",
                "--client-name=test-recorder",
            ],
            env=self.server.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._chunks and time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                raise PulseServerError(f"parec --device={self.device} failed: {err}")
            time.sleep(0.005)
        return self

    def _pump(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while True:
            data = self._process.stdout.read1(65536)  # type: ignore[attr-defined]
            if not data:
                return
            self._chunks.append(data)

    def recorded(self) -> np.ndarray:
        """Everything recorded so far as (frames, channels) float32, recording on."""
        data = b"".join(list(self._chunks))
        frame = 4 * self.channels
        data = data[: len(data) - len(data) % frame]
        return np.frombuffer(data, dtype=np.float32).reshape(-1, self.channels).copy()

    def stop_when_quiet(
        self, seconds: float = 0.2, level: float = 1e-3, timeout: float = 10.0
    ) -> np.ndarray:
        """Stop once what was heard has played out: some sound, then ``seconds`` of silence
        (below ``level``) at the end of the recording; return it all, as ``stop`` does."""
        deadline = time.monotonic() + timeout
        quiet = int(seconds * self.rate)
        while True:
            heard = np.abs(self.recorded()[:, 0])
            loud = np.flatnonzero(heard > level)
            if len(loud) and len(heard) - loud[-1] > quiet:
                return self.stop()
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"no sound followed by {seconds} s of silence in {timeout} s")
            time.sleep(0.02)

    def stop(self) -> np.ndarray:
        """Stop recording; return everything recorded as (frames, channels) float32."""
        if self._process is not None:
            self._process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
            if self._process.poll() is None:
                self._process.kill()
                self._process.wait()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._process is not None and self._process.stderr is not None:
            self._process.stderr.close()
        if self._process is not None and self._process.stdout is not None:
            self._process.stdout.close()
        return self.recorded()


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Whether ``condition()`` came true within ``seconds`` (asked every 10 ms)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def spawn(args: list[str], env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start a server's process, its output to ``log``; it ends when the test process dies."""
    return subprocess.Popen(
        args,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )


def wait_until_started(
    started: Callable[[], bool],
    processes: list[subprocess.Popen[bytes]],
    timeout: float,
    what: str,
    log: Callable[[], str],
) -> None:
    """Wait until ``started()``; ``PulseServerError`` with the ``log()`` if one of the
    ``processes`` exits first, or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not started():
        for process in processes:
            if process.poll() is not None:
                raise PulseServerError(f"{process.args[0]} exited while starting {what}:\n{log()}")
        if time.monotonic() > deadline:
            raise PulseServerError(f"{what} did not start within {timeout} s:\n{log()}")
        time.sleep(0.05)


def end_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server's process; kill it if it has not ended 5 s later."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies (no leftovers)."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc/<pid>/stat, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _split_module_args(text: str) -> list[str]:
    """Split ``a=1 b="x y"`` into pactl arguments, keeping quoted values together."""
    out: list[str] = []
    current = ""
    quote = False
    for ch in text:
        if ch == '"':
            quote = not quote
            current += ch
        elif ch == " " and not quote:
            if current:
                out.append(current)
            current = ""
        else:
            current += ch
    if current:
        out.append(current)
    return out


def require_pulse_tools() -> None:
    """The test is unavailable (``support.requirements``) without the server's packages."""
    missing = missing_packages()
    if missing:
        unavailable(
            f"a private PulseAudio server needs the Debian packages {' '.join(missing)} "
            f"(apt-get install {' '.join(missing)})"
        )


def start_or_skip(server: PulseServer) -> PulseServer:
    """Start ``server``; the test is unavailable if it cannot run."""
    require_pulse_tools()
    try:
        return server.start()
    except PulseServerError as error:
        unavailable(str(error))


def level_db(signal: np.ndarray, freq: float, rate: int = RATE) -> float:
    """The ``freq`` component's RMS in dB in a recording: the median over 100 ms windows."""
    window = rate // 10
    levels = []
    for start in range(0, len(signal) - window + 1, window):
        part = signal[start : start + window, 0].astype(np.float64)
        spectrum = np.fft.rfft(part)
        bins = np.fft.rfftfreq(window, 1 / rate)
        rms = np.sqrt(2 * np.sum(np.abs(spectrum[np.abs(bins - freq) <= 20]) ** 2)) / window
        levels.append(20 * np.log10(max(rms, 1e-12)))
    return float(np.median(levels))


REAL_SERVER_FIXTURES = {"pulse_server", "pipewire_server"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses a real server's fixture (itself or through another fixture) is a
    ``real_server`` test."""
    for item in items:
        if REAL_SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_server)


@pytest.fixture(scope="module")
def pulse_server() -> Iterator[PulseServer]:
    """A started private PulseAudio server, active as ``PULSE_SERVER`` for the module."""
    server = start_or_skip(PulseServer())
    server.activate()
    try:
        yield server
    finally:
        server.stop()
