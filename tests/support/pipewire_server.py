"""A private PipeWire with its PulseAudio server (``pipewire-pulse``), for the bridge's tests.

``PipeWireServer.start()`` runs, in a fresh temporary ``XDG_RUNTIME_DIR`` and ``HOME``, a
private ``dbus-daemon --session`` (WirePlumber needs a session bus), ``pipewire``,
``wireplumber`` (the session manager that links streams to sinks) and ``pipewire-pulse``, waits
until ``pactl info`` answers on ``<runtime>/pulse/native``, then adds a null sink ``speakers``
through the PulseAudio protocol (``module-null-sink``, which pipewire-pulse implements) and
makes it the default. ``stop()`` ends the processes it started (by pid) and removes the
directory. The ``pipewire_server`` fixture skips when a Debian package is missing, except
under ``CI=true`` where it fails (``scripts/setup --test`` installs them under ``CI=true`` or
``AUDIOSESSION_TEST_PIPEWIRE=1``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator

import pytest

from support.pulse_server import (
    PulseServer,
    PulseServerError,
    end_process,
    spawn,
    wait_until_started,
)
from support.requirements import unavailable

REQUIRED_TOOLS = {
    "pipewire": "pipewire-bin",
    "pipewire-pulse": "pipewire-pulse",
    "wireplumber": "wireplumber",
    "dbus-daemon": "dbus",
    "pactl": "pulseaudio-utils",
    "paplay": "pulseaudio-utils",
}


class PipeWireServerError(PulseServerError):
    """The private PipeWire could not be started."""


def missing_packages() -> list[str]:
    """Debian packages whose programs are missing."""
    return sorted({pkg for tool, pkg in REQUIRED_TOOLS.items() if shutil.which(tool) is None})


class PipeWireServer:
    """A private PipeWire + WirePlumber + pipewire-pulse (see the module docstring)."""

    # The same PulseAudio clients' environment, ``pactl`` and its parsing as PulseServer's.
    env = PulseServer.env
    answers = PulseServer.answers
    pactl = PulseServer.pactl
    sink_names = PulseServer.sink_names
    sink_inputs = PulseServer.sink_inputs
    volume_of = PulseServer.volume_of

    def __init__(self) -> None:
        self.dir: str | None = None
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def server_string(self) -> str:
        """The value for ``PULSE_SERVER``."""
        assert self.dir is not None, "start() first"
        return f"unix:{self.dir}/run/pulse/native"

    def start(self, timeout: float = 15.0) -> PipeWireServer:
        """Start everything and wait until the PulseAudio protocol answers."""
        missing = missing_packages()
        if missing:
            raise PipeWireServerError(f"missing Debian packages: {' '.join(missing)}")
        self.dir = tempfile.mkdtemp(prefix="as-pipewire-")
        run = os.path.join(self.dir, "run")
        home = os.path.join(self.dir, "home")
        os.makedirs(run, mode=0o700)
        os.makedirs(home, mode=0o700)
        bus = f"unix:path={run}/bus"
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PULSE_SERVER", "PULSE_SINK", "PIPEWIRE_REMOTE", "DISPLAY")
        }
        env.update(
            XDG_RUNTIME_DIR=run,
            HOME=home,
            DBUS_SESSION_BUS_ADDRESS=bus,
            XDG_CONFIG_HOME=os.path.join(home, ".config"),
            XDG_STATE_HOME=os.path.join(home, ".state"),
        )
        self._log = open(os.path.join(self.dir, "log"), "wb")  # noqa: SIM115
        try:
            self._spawn(
                ["dbus-daemon", "--session", f"--address={bus}", "--nofork", "--nopidfile"], env
            )
            self._wait(lambda: os.path.exists(f"{run}/bus"), timeout, "dbus-daemon")
            self._spawn(["pipewire"], env)
            self._wait(lambda: os.path.exists(f"{run}/pipewire-0"), timeout, "pipewire")
            self._spawn(["wireplumber"], env)
            self._spawn(["pipewire-pulse"], env)
            self._wait(self.answers, timeout, "pipewire-pulse")
            self.pactl("load-module", "module-null-sink", "sink_name=speakers")
            self._wait(
                lambda: "speakers" in self.pactl("list", "short", "sinks"), timeout, "the null sink"
            )
            self.pactl("set-default-sink", "speakers")
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, args: list[str], env: dict[str, str]) -> None:
        self.processes.append(spawn(args, env, self._log))

    def _wait(self, started: Callable[[], bool], timeout: float, what: str) -> None:
        wait_until_started(started, self.processes, timeout, what, self.log)

    def log(self) -> str:
        """What the processes printed so far."""
        if self.dir is None:
            return ""
        with open(os.path.join(self.dir, "log"), "rb") as file:
            return file.read().decode(errors="replace")[-4000:]

    def stop(self) -> None:
        """End the processes (newest first) and remove the directory."""
        for process in reversed(self.processes):
            end_process(process)
        self.processes.clear()
        if getattr(self, "_log", None) is not None:
            self._log.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


@pytest.fixture(scope="module")
def pipewire_server() -> Iterator[PipeWireServer]:
    """A started private PipeWire with pipewire-pulse (module scope)."""
    missing = missing_packages()
    if missing:
        unavailable(
            f"a private PipeWire needs the Debian packages {' '.join(missing)} "
            f"(apt-get install {' '.join(missing)}, or AUDIOSESSION_TEST_PIPEWIRE=1 "
            "scripts/setup --test; note that Debian's pipewire-pulse enables its "
            "socket for every user)"
        )
    server = PipeWireServer()
    try:
        server.start()
    except PulseServerError as error:  # PipeWireServerError, or pactl's
        unavailable(str(error))
    try:
        yield server
    finally:
        server.stop()
