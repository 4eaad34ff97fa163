"""Real processes for the daemon tests: a daemon and client players, each a subprocess."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audiosession.wire.protocol import encode_message

PLAYER = Path(__file__).with_name("player.py")


def base_env(runtime_dir: Path, config_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIOSESSION_")}
    env["XDG_RUNTIME_DIR"] = str(runtime_dir)
    env["XDG_CONFIG_HOME"] = str(config_home)  # no user's audiosession.toml
    env["PYTHONUNBUFFERED"] = "1"
    return env


class DaemonProcess:
    """``python -m audiosession.daemon`` in a private XDG_RUNTIME_DIR, logging to a file."""

    def __init__(self, runtime_dir: Path, config_home: Path, log_path: Path) -> None:
        self.runtime_dir = runtime_dir
        self.socket = runtime_dir / "audiosession" / "daemon.sock"
        self.env = base_env(runtime_dir, config_home)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.args: list[str] = []  # more options for the daemon

    def start(self) -> DaemonProcess:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "audiosession.daemon", "-v", *self.args],
            env=self.env,
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the daemon exited at start:\n{self.log()}")
            if self.answers():
                return self
            time.sleep(0.02)
        self.kill()  # the fixture has not started yet: nobody else would
        raise RuntimeError(f"the daemon did not start listening:\n{self.log()}")

    def answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(1)
                sock.connect(str(self.socket))
                sock.sendall(encode_message({"op": "hello", "version": 1, "program": "probe"}))
                return b'"ok":true' in sock.recv(4096)
        except OSError:
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, text: str, timeout: float = 10.0, since: int = 0) -> None:
        """Wait until ``text`` appears in the daemon's log after character ``since`` (take
        ``len(daemon.log())`` before the action that should log it, so that an earlier line
        with the same words does not end the wait)."""
        deadline = time.monotonic() + timeout
        while text not in self.log()[since:]:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the daemon's log:\n{self.log()}")
            time.sleep(0.01)


class Player:
    """One ``player.py`` client process; its stdout events are collected as they come."""

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], wav: Path, stderr_path: Path
    ) -> None:
        self.name = name
        self.wav = wav
        self.stderr_path = stderr_path
        err = open(stderr_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(PLAYER), *args],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
        )
        err.close()
        self.events: list[dict[str, Any]] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._seen: list[dict[str, Any]] = []  # events taken from the queue, in order
        self._cursor = 0
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self.events.append(event)
            self._queue.put(event)
        self._queue.put(None)

    def wait_for(self, event: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """The next event named ``event`` (with ``fields``) after the last one waited for."""
        deadline = time.monotonic() + timeout
        while True:
            while self._cursor < len(self._seen):
                item = self._seen[self._cursor]
                self._cursor += 1
                if item["event"] == event and all(item.get(k) == v for k, v in fields.items()):
                    return item
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{self.name}: no {event} {fields} within {timeout} s; "
                    f"events: {self.events}\nstderr:\n{self.stderr()}"
                )
            try:
                got = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if got is None:
                raise AssertionError(
                    f"{self.name} exited before {event} {fields}; events: "
                    f"{self.events}\nstderr:\n{self.stderr()}"
                )
            self._seen.append(got)

    def wait_log(self, pattern: str, timeout: float = 10.0) -> str:
        """The first line of the player's stderr (its log) that matches the regular
        expression ``pattern``, once there is one. Make the pattern match only the line
        awaited: a word that an earlier line also contains ends the wait at once."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.stderr().splitlines():
                if re.search(pattern, line):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name}: no line matching {pattern!r} within "
                    f"{timeout} s; stderr:\n{self.stderr()}"
                )
            time.sleep(0.01)

    def wait_played(self, seconds: float, timeout: float = 10.0) -> float:
        """Wait until the element's position (``current_time``: where its output has taken
        the media to, so what is in its WAV) reaches ``seconds``; return that position. Ask
        it only where no other event is awaited meanwhile: the wait skips the events
        between its answers."""
        deadline = time.monotonic() + timeout
        while (position := self.ask("position")["current_time"]) < seconds:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name}: at {position} s, not {seconds} s, after {timeout} s; "
                    f"events: {self.events}\nstderr:\n{self.stderr()}"
                )
            time.sleep(0.01)
        return position

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()

    def ask(self, command: str, timeout: float = 10.0) -> dict[str, Any]:
        self.send(command)
        return self.wait_for(command, timeout)

    def quit(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


class Processes:
    """The daemon and the players of one test."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.runtime_dir = tmp_path / "run"
        self.runtime_dir.mkdir(mode=0o700)
        self.config_home = tmp_path / "config"
        self.config_home.mkdir()
        self.daemon = DaemonProcess(self.runtime_dir, self.config_home, tmp_path / "daemon.log")
        self.players: list[Player] = []
        self.client_env: dict[str, str] = {}  # more environment for the players

    def player(
        self, name: str, type: str, src: str, *, loop: bool = False, play: bool = True
    ) -> Player:
        wav = self.tmp / f"{name}.wav"
        env = base_env(self.runtime_dir, self.config_home)
        env["AUDIOSESSION_BACKEND"] = f"wav:{wav}"
        env["AUDIOSESSION_DAEMON"] = "required"
        env.update(self.client_env)
        args = ["--type", type, "--src", src]
        if loop:
            args.append("--loop")
        if not play:
            args.append("--no-play")
        player = Player(name, args, env, wav, self.tmp / f"{name}.stderr")
        self.players.append(player)
        return player

    def close(self) -> None:
        for player in self.players:
            player.kill()
        self.daemon.kill(signal.SIGTERM)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    """A running daemon (``procs.daemon``) and a factory of players (``procs.player``)."""
    processes = Processes(tmp_path)
    processes.daemon.start()
    try:
        yield processes
    finally:
        processes.close()
