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
import time
from collections.abc import Iterator

import pytest

from support.pulse_server import PulseServer, _die_with_parent

REQUIRED_TOOLS = {
    "pipewire": "pipewire-bin",
    "pipewire-pulse": "pipewire-pulse",
    "wireplumber": "wireplumber",
    "dbus-daemon": "dbus",
    "pactl": "pulseaudio-utils",
    "paplay": "pulseaudio-utils",
}


class PipeWireServerError(RuntimeError):
    """The private PipeWire could not be started."""


def missing_packages() -> list[str]:
    """Debian packages whose programs are missing."""
    return sorted({pkg for tool, pkg in REQUIRED_TOOLS.items() if shutil.which(tool) is None})


class PipeWireServer:
    """A private PipeWire + WirePlumber + pipewire-pulse (see the module docstring)."""

    # The same ``pactl`` parsing as the PulseAudio fixture's.
    sink_names = PulseServer.sink_names
    sink_inputs = PulseServer.sink_inputs

    def __init__(self) -> None:
        self.dir: str | None = None
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def server_string(self) -> str:
        """The value for ``PULSE_SERVER``."""
        assert self.dir is not None, "start() first"
        return f"unix:{self.dir}/run/pulse/native"

    @property
    def env(self) -> dict[str, str]:
        """An environment for PulseAudio clients of this server."""
        env = dict(os.environ)
        env["PULSE_SERVER"] = self.server_string
        env.pop("PULSE_SINK", None)
        return env

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
            self._wait(self._answers, timeout, "pipewire-pulse")
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
        self.processes.append(
            subprocess.Popen(
                args,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        )

    def _wait(self, condition: object, timeout: float, what: str) -> None:
        assert callable(condition)
        deadline = time.monotonic() + timeout
        while not condition():
            for process in self.processes:
                if process.poll() is not None:
                    raise PipeWireServerError(
                        f"{process.args[0]} exited while starting {what}:\n{self.log()}"
                    )
            if time.monotonic() > deadline:
                raise PipeWireServerError(f"{what} did not start within {timeout} s:\n{self.log()}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        result = subprocess.run(["pactl", "info"], env=self.env, capture_output=True, timeout=5)
        return result.returncode == 0

    def pactl(self, *args: str) -> str:
        """Run ``pactl args...`` against this server and return its output."""
        result = subprocess.run(["pactl", *args], env=self.env, capture_output=True, timeout=10)
        if result.returncode != 0:
            raise PipeWireServerError(
                f"pactl {' '.join(args)} failed: {result.stderr.decode(errors='replace')}"
            )
        return result.stdout.decode(errors="replace")

    def log(self) -> str:
        """What the processes printed so far."""
        if self.dir is None:
            return ""
        with open(os.path.join(self.dir, "log"), "rb") as file:
            return file.read().decode(errors="replace")[-4000:]

    def stop(self) -> None:
        """End the processes (newest first) and remove the directory."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
        self.processes.clear()
        if getattr(self, "_log", None) is not None:
            self._log.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


@pytest.fixture(scope="module")
def pipewire_server() -> Iterator[PipeWireServer]:
    """A started private PipeWire with pipewire-pulse (module scope)."""
    ci = os.environ.get("CI", "").lower() == "true"
    missing = missing_packages()
    if missing:
        message = (
            f"a private PipeWire needs the Debian packages {' '.join(missing)} "
            f"(apt-get install {' '.join(missing)}, or AUDIOSESSION_TEST_PIPEWIRE=1 "
            "scripts/setup --test; note that Debian's pipewire-pulse enables its "
            "socket for every user)"
        )
        if ci:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    server = PipeWireServer()
    try:
        server.start()
    except PipeWireServerError as error:
        if ci:
            pytest.fail(str(error), pytrace=False)
        pytest.skip(str(error))
    try:
        yield server
    finally:
        server.stop()
