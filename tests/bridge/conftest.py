"""Real processes for the bridge tests: a private PulseAudio server, the daemon as a
subprocess pointed at it (``PULSE_SERVER``), foreign ``paplay`` streams and client players."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pulse_server import (  # noqa: E402
    PulseServer,
    SinkInput,
    pulse_server,
    require_pulse_tools,
)

from ..daemon.conftest import Player, Processes, base_env  # noqa: E402

__all__ = ["Bridged", "PulseServer", "bridged", "pulse_server", "require_pulse_tools"]


class Bridged(Processes):
    """The daemon (with its bridge on the private server), players and foreign streams."""

    def __init__(self, tmp_path: Path, server: PulseServer) -> None:
        super().__init__(tmp_path)
        self.server = server
        self.daemon.env["PULSE_SERVER"] = server.server_string
        self.foreign: list[subprocess.Popen[bytes]] = []

    @property
    def journal(self) -> Path:
        return self.runtime_dir / "audiosession" / "volumes.json"

    def start_daemon(self) -> None:
        """Start the daemon and wait until its bridge is connected."""
        mark = len(self.daemon.log())
        self.daemon.start()
        self.wait_log("PulseAudio bridge on", since=mark)

    def wait_log(self, text: str, timeout: float = 10.0, since: int = 0) -> None:
        """Wait until ``text`` appears in the daemon's log after character ``since``."""
        self.daemon.wait_log(text, timeout, since)

    def pulse_player(self, name: str, type: str, src: str, *, loop: bool = False) -> Player:
        """A client player on the private server (the ``pulse`` backend): its streams are
        ours (``application.name=audiosession``), not foreign."""
        env = base_env(self.runtime_dir, self.config_home)
        env.update(
            AUDIOSESSION_BACKEND="pulse",
            AUDIOSESSION_DAEMON="required",
            PULSE_SERVER=self.server.server_string,
        )
        args = ["--type", type, "--src", src, *(["--loop"] if loop else [])]
        player = Player(name, args, env, self.tmp / f"{name}.wav", self.tmp / f"{name}.stderr")
        self.players.append(player)
        return player

    def paplay(self, path: str, role: str | None) -> tuple[subprocess.Popen[bytes], SinkInput]:
        """Start a foreign ``paplay`` stream; return it once the bridge has made it a
        session."""
        mark = len(self.daemon.log())
        args = ["paplay", *([f"--property=media.role={role}"] if role else []), path]
        proc = subprocess.Popen(
            args, env=self.server.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.foreign.append(proc)
        self.wait_log(f"(pid {proc.pid})", since=mark)
        return proc, self.stream_of(proc)

    def stream_of(self, proc: subprocess.Popen[bytes]) -> SinkInput:
        for sink_input in self.server.sink_inputs():
            if sink_input.properties.get("application.process.id") == str(proc.pid):
                return sink_input
        raise AssertionError(f"no sink-input of pid {proc.pid}")

    def volume(self, index: int) -> tuple[list[int], bool]:
        """Raw per-channel volume and mute of sink-input ``index`` (``pactl``)."""
        volume: list[int] = []
        mute = False
        current = None
        for raw in self.server.pactl("list", "sink-inputs").splitlines():
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

    def close(self) -> None:
        for proc in self.foreign:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        super().close()


@pytest.fixture
def bridged(tmp_path: Path, pulse_server: PulseServer) -> Iterator[Bridged]:
    """A running daemon bridged to the private PulseAudio server."""
    processes = Bridged(tmp_path, pulse_server)
    processes.start_daemon()
    try:
        yield processes
    finally:
        processes.close()
