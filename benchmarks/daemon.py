"""Benchmark of system mode: the daemon's throughput and the cross-process pause latency.

    python benchmarks/daemon.py [--seconds 2] [--trials 30]

1. Throughput: state changes per second the daemon answers with 1, 10 and 100 connected
   clients, and the actions it pushes to the others meanwhile. Each client keeps an
   ``ambient`` session playing and makes another session (types cycling through the five over
   the clients) ask to play and go quiet, in pipelined batches: a ``transient`` one ducks
   every other client's ambient session, a ``transient-solo`` one pauses them all.
2. Latency from a prompt's ``play()`` in process B to the music of process A going silent
   (``transient-solo`` pauses ``playback``), measured in A's real output (the ``wav`` backend,
   mapped to the shared monotonic clock), as a distribution (median, p99). The peer measured
   in the same run is the same prompt and music in two windows of *one* process (embedded
   mode); the ratio says what the trip through the daemon costs. (The comparison with
   PulseAudio's own ``module-role-cork`` is in benchmarks/bridge.py.)

The daemon and the clients are real processes; a private XDG_RUNTIME_DIR keeps them apart
from any daemon the user runs.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from latency import describe  # benchmarks/latency.py, beside this script

RATE = 48000
TYPES = ("playback", "transient", "ambient", "transient-solo", "play-and-record")


# -- processes ---------------------------------------------------------------------------------


def private_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIOSESSION_")}
    runtime = root / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    (root / "config").mkdir(exist_ok=True)
    env.update(
        XDG_RUNTIME_DIR=str(runtime), XDG_CONFIG_HOME=str(root / "config"), PYTHONUNBUFFERED="1"
    )
    return env


def start_daemon(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], Path]:
    sock_path = Path(env["XDG_RUNTIME_DIR"]) / "audiosession" / "daemon.sock"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "audiosession.daemon"], env=env, stdout=out, stderr=out
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(str(sock_path))
                return proc, sock_path
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"the daemon did not start; see {log}")


# -- 1. throughput -----------------------------------------------------------------------------


class LoadClient:
    """A raw protocol client that pipelines ``batch`` requests and counts what comes back."""

    def __init__(self, sock_path: Path, index: int, batch: int) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(str(sock_path))
        self.buffer = b""
        self.batch = batch
        self.type = TYPES[index % len(TYPES)]
        self._send({"op": "hello", "version": 1, "program": f"load-{index}"})
        self._wait_replies(1)
        # "bg": an ambient session that plays all along, in a context of its own; "s": the
        # session whose state changes, of this client's type, meeting every other "bg".
        setup = [
            {"op": "add", "args": {"session": "bg", "context": "bg", "owner": f"bg-{index}"}},
            {"op": "request_active", "args": {"session": "bg", "type": "ambient"}},
            {"op": "add", "args": {"session": "s", "context": "s", "owner": f"load-{index}"}},
        ]
        for number, message in enumerate(setup):
            self._send({"id": -1 - number, **message})
            self._wait_replies(1)
        requests = []
        for i in range(batch):
            if i % 2 == 0:
                op = {"id": i, "op": "request_active", "args": {"session": "s", "type": self.type}}
            else:
                op = {"id": i, "op": "release", "args": {"session": "s"}}
            requests.append(json.dumps(op).encode() + b"\n")
        self.requests = b"".join(requests)
        self.pending = 0
        self.answered = 0
        self.pushes = 0
        self.sock.setblocking(False)

    def _send(self, message: dict[str, object]) -> None:
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def _wait_replies(self, count: int) -> None:
        while count:
            data = self.sock.recv(65536)
            self.buffer += data
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                if not line.startswith(b'{"push"'):
                    assert b'"ok":true' in line, line
                    count -= 1

    def send_batch(self) -> None:
        self.sock.setblocking(True)
        self.sock.sendall(self.requests)
        self.sock.setblocking(False)
        self.pending = self.batch

    def on_readable(self) -> None:
        data = self.sock.recv(1 << 20)
        if not data:
            raise RuntimeError("the daemon closed a load client")
        self.buffer += data
        lines = self.buffer.split(b"\n")
        self.buffer = lines.pop()
        for line in lines:
            if line.startswith(b'{"push"'):
                self.pushes += 1
            else:
                self.pending -= 1
                self.answered += 1


def wait_until_idle(sock_path: Path, timeout: float = 120.0) -> None:
    """Wait until the daemon has worked through the load left in its sockets."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(str(sock_path))
        sock.sendall(b'{"op": "hello", "version": 1, "program": "idle-check"}\n')
        sock.recv(4096)


def throughput(sock_path: Path, clients: int, seconds: float, batch: int = 50) -> dict[str, float]:
    load = [LoadClient(sock_path, i, batch) for i in range(clients)]
    selector = selectors.DefaultSelector()
    for client in load:
        selector.register(client.sock, selectors.EVENT_READ, client)
    start = time.perf_counter()
    for client in load:
        client.send_batch()
    while time.perf_counter() - start < seconds:
        for key, _ in selector.select(1.0):
            client = key.data
            client.on_readable()
            if client.pending == 0:
                client.send_batch()
    elapsed = time.perf_counter() - start
    answered = sum(c.answered for c in load)
    pushes = sum(c.pushes for c in load)
    for client in load:
        client.sock.close()
    wait_until_idle(sock_path)
    return {
        "clients": clients,
        "per_second": answered / elapsed,
        "pushes_per_second": pushes / elapsed,
    }


# -- 2. latency --------------------------------------------------------------------------------

CLIENT = textwrap.dedent("""
    import json, sys, time
    import audiosession
    from audiosession import Audio, Window

    def say(**fields):
        print(json.dumps({"t": time.monotonic(), **fields}), flush=True)

    def wav_start():
        backend = audiosession.platform().audio.backend
        rate, _, blocksize = backend._format
        period = blocksize / rate
        best = None
        for _ in range(40):
            estimate = time.monotonic() - backend.blocks_rendered * period
            best = estimate if best is None else max(best, estimate)
            time.sleep(period * 0.37)
        return best

    role, music_src, prompt_src = sys.argv[1:4]
    music = prompt = None
    if role in ("music", "both"):
        audiosession.navigator.audio_session.type = "playback"
        music = Audio(music_src)
        music.loop = True
        music.play().result(5)
    if role in ("prompt", "both"):
        window = Window()
        window.navigator.audio_session.type = "transient-solo"
        prompt = Audio(prompt_src, window=window)
    say(event="ready", platform=audiosession.platform().name)
    for line in sys.stdin:
        command = line.strip()
        if command == "prompt":
            prompt.current_time = 0
            started = time.monotonic()
            prompt.play()
            say(event="prompt", started=started)
        elif command == "clock":
            say(event="clock", wav_start=wav_start())
        elif command == "quit":
            break
""")


def tone(path: Path, freq: float, seconds: float) -> str:
    t = np.arange(int(seconds * RATE)) / RATE
    sf.write(path, 0.5 * np.sin(2 * np.pi * freq * t), RATE, subtype="FLOAT")
    return str(path)


class Client:
    def __init__(
        self, role: str, env: dict[str, str], wav: Path | None, music: str, prompt: str
    ) -> None:
        env = dict(env)
        env["AUDIOSESSION_BACKEND"] = f"wav:{wav}" if wav else "null"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CLIENT, role, music, prompt],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
        )
        self.read()

    def read(self) -> dict[str, object]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("a benchmark client exited")
        return json.loads(line)

    def ask(self, command: str) -> dict[str, object]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def quit(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(10)


def silence_starts(wav: Path, threshold: float = 1e-3) -> np.ndarray:
    """Seconds into ``wav`` where each stretch (>= 50 ms) without the music begins. A moving
    average of 1 ms nulls the 1 kHz prompt (which shares the file in embedded mode) and keeps
    the 440 Hz music."""
    data, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    width = rate // 1000
    music = np.convolve(data[:, 0], np.ones(width) / width, mode="same")
    loud = np.flatnonzero(np.abs(music) > threshold)
    gaps = np.flatnonzero(np.diff(loud) > 0.05 * rate)
    return (loud[gaps] + 1) / rate


def pause_latencies(root: Path, env: dict[str, str], trials: int, separate: bool) -> list[float]:
    """Seconds from the prompt's play() to the music's first silent sample, per trial."""
    music_src = tone(root / "music.wav", 440, 1.0)
    prompt_src = tone(root / "prompt.wav", 1000, 0.25)
    wav = root / f"out-{'daemon' if separate else 'embedded'}.wav"
    if separate:
        music = Client("music", env, wav, music_src, prompt_src)
        prompter = Client("prompt", env, None, music_src, prompt_src)
    else:
        music = prompter = Client("both", env, wav, music_src, prompt_src)
    time.sleep(0.3)
    starts = []
    for _ in range(trials):
        starts.append(float(prompter.ask("prompt")["started"]))  # type: ignore[arg-type]
        time.sleep(0.6)
    clock = float(music.ask("clock")["wav_start"])  # type: ignore[arg-type]
    if separate:
        prompter.quit()
    music.quit()
    silences = clock + silence_starts(wav)
    latencies = []
    for started in starts:
        after = silences[silences >= started - 0.02]
        if len(after):
            latencies.append(float(after[0] - started))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per throughput figure")
    parser.add_argument("--trials", type=int, default=30, help="prompts per latency figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = private_env(root)
        daemon, sock_path = start_daemon(env, root / "daemon.log")
        try:
            print("daemon throughput (state changes answered per second, pipelined):")
            for clients in (1, 10, 100):
                result = throughput(sock_path, clients, args.seconds)
                print(
                    f"  {clients:3d} client(s): {result['per_second']:9.0f} /s "
                    f"(+ {result['pushes_per_second']:8.0f} pushes/s to the others)"
                )
            print("latency from a prompt's play() to the music going silent (its real output):")
            env_daemon = dict(env, AUDIOSESSION_DAEMON="required")
            daemon_ms = pause_latencies(root, env_daemon, args.trials, separate=True)
            print(f"  two processes, via the daemon: {describe(daemon_ms)}")
            env_embedded = dict(env, AUDIOSESSION_DAEMON="off")
            embedded_ms = pause_latencies(root, env_embedded, args.trials, separate=False)
            print(f"  two windows of one process   : {describe(embedded_ms)}")
            ratio = statistics.median(daemon_ms) / statistics.median(embedded_ms)
            print(f"  ratio of medians (daemon / embedded): {ratio:.2f}")
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(10)


if __name__ == "__main__":
    main()
