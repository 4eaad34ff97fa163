"""The daemon bridged to a private PulseAudio server, and what the bridge tests measure."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import numpy as np

from support.audio import tone_level_db
from support.daemon import Player, Processes, base_env
from support.pulse_server import RATE, PulseServer, SinkInput


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
        return self.server.volume_of(index)

    def close(self) -> None:
        for proc in self.foreign:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        super().close()


SEVENTY_PERCENT = 45875  # pactl's 70 %: round(0.7 * 65536)


def levels(recorded: np.ndarray, step: float = 0.05) -> np.ndarray:
    """The 440 Hz level of a monitor recording every ``step`` s, in dB re amplitude 0.5."""
    duration = len(recorded) / RATE
    return np.array(
        [tone_level_db(recorded, 440, t, step) for t in np.arange(0.0, duration - step, step)]
    )


def wait_until(condition, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())
