"""Offline mixing: the engine against ffmpeg amix, sox -m, and an in-memory NumPy floor.

Run: ``python benchmarks/mixing.py [--seconds 60] [--inputs 1,8,32] [--repeat 3]``

For each N it mixes N stereo 48 kHz float WAV files of ``--seconds`` each to one WAV file:
- ours: the engine (virtual backend, large blocks, as fast as it goes), with a new gain,
  ramped, on every input every second;
- ffmpeg: ``-filter_complex amix=inputs=N:normalize=0``;
- sox: ``sox -m`` (a plain copy when N = 1: sox cannot "mix" one file);
- floor: an in-place NumPy sum of the same arrays already in memory (nothing read, nothing
  written, no gains): the least any mixer can do;
- naive: a block-wise soundfile read of 4096 frames and add (what a first attempt does).
The inputs are generated first (not timed); each time is the best of ``--repeat`` runs.

Then the mixer's own cost per real-time block (``--per-voice-only`` runs just this): N voices
of audio already made (what a decode-ahead buffer hands the audio thread), each through two
gains (its element's and its session's, as ``Audio`` plays), rendered in 10 ms blocks: the
microseconds per block, and per voice per block, steady and while every gain ramps.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from audiosession.engine import Engine, Gain, Mixer, VirtualBackend, Voice, open_audio

RATE = 48000
CHANNELS = 2
OFFLINE_BLOCK = 12000
"""Frames per block when rendering offline (a quarter second: 4 gain changes per block max)."""


def generate(directory: Path, count: int, seconds: int) -> list[Path]:
    """``count`` different stereo float WAV files of quiet noise with a tone."""
    paths = []
    t = np.arange(RATE) / RATE
    for index in range(count):
        path = directory / f"input{index:02d}.wav"
        rng = np.random.default_rng(index)
        tone = 0.05 * np.sin(2 * np.pi * (220 + 20 * index) * t)
        with sf.SoundFile(path, "w", RATE, CHANNELS, "FLOAT") as out:
            for _ in range(seconds):
                noise = rng.standard_normal((RATE, CHANNELS)) * 0.01
                out.write((noise + tone[:, None]).astype(np.float32))
        paths.append(path)
    return paths


def mix_ours(paths: list[Path], out: Path, seconds: int) -> None:
    """The engine, offline: a virtual backend rendered block after block as fast as it goes."""
    sink = sf.SoundFile(out, "w", RATE, CHANNELS, "FLOAT")
    backend = VirtualBackend(
        RATE,
        CHANNELS,
        OFFLINE_BLOCK,
        record=False,
        on_block=lambda _device, block: sink.write(block),
    )
    rng = np.random.default_rng(1)
    with sink, Engine(backend, rate=RATE, channels=CHANNELS, blocksize=OFFLINE_BLOCK) as engine:
        gains = [Gain(1.0) for _ in paths]
        for path, gain in zip(paths, gains, strict=True):
            engine.add_voice(open_audio(path, rate=RATE, channels=CHANNELS), gains=[gain])
        blocks = seconds * RATE // OFFLINE_BLOCK
        per_second = RATE // OFFLINE_BLOCK
        for block in range(blocks):
            if block % per_second == 0 and block:
                for gain, value in zip(gains, rng.uniform(0.3, 1.0, len(gains)), strict=True):
                    gain.set(float(value))
            backend.render_block()


def mix_ffmpeg(paths: list[Path], out: Path) -> None:
    inputs = [arg for path in paths for arg in ("-i", str(path))]
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            *inputs,
            "-filter_complex",
            f"amix=inputs={len(paths)}:normalize=0",
            "-c:a",
            "pcm_f32le",
            str(out),
        ],
        check=True,
    )


def mix_sox(paths: list[Path], out: Path) -> None:
    command = (
        ["sox", "-V1", "-m", *map(str, paths), str(out)]
        if len(paths) > 1
        else ["sox", "-V1", str(paths[0]), str(out)]
    )
    subprocess.run(command, check=True)


def mix_naive(paths: list[Path], out: Path) -> None:
    files = [sf.SoundFile(path) for path in paths]
    with sf.SoundFile(out, "w", RATE, CHANNELS, "FLOAT") as sink:
        while True:
            blocks = [f.read(4096, dtype="float32") for f in files]
            mixed = blocks[0].copy()
            for block in blocks[1:]:
                mixed += block
            sink.write(mixed)
            if len(mixed) < 4096:
                break
    for f in files:
        f.close()


def floor(arrays: list[np.ndarray]) -> np.ndarray:
    total = np.zeros_like(arrays[0])
    for array in arrays:
        total += array
    return total


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


class ReadyFrames:
    """A voice's source whose frames are already made: views of a looping array."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.position = 0

    def read_view(self, frames: int) -> np.ndarray:
        if self.position + frames > len(self.data):
            self.position = 0
        block = self.data[self.position : self.position + frames]
        self.position += frames
        return block

    read = read_view


def per_voice_cost(count: int, ramping: bool, blocks: int = 3000, block: int = 480) -> float:
    """Microseconds of ``Mixer.render`` per ``block``-frame block with ``count`` voices."""
    data = (np.random.default_rng(0).standard_normal((RATE, CHANNELS)) * 0.1).astype(np.float32)
    mixer = Mixer(RATE, CHANNELS)
    session = Gain(1.0)
    for _ in range(count):
        mixer.add(Voice(ReadyFrames(data), gains=[Gain(0.15), session], device="out"))
    for _ in range(50):
        mixer.render("out", "music", block)
    started = time.perf_counter()
    for index in range(blocks):
        if ramping and index % 2 == 0:
            session.set(0.2 if index % 4 == 0 else 1.0, ramp=block / RATE)
        mixer.render("out", "music", block)
    return (time.perf_counter() - started) / blocks * 1e6


def print_per_voice(counts: list[int]) -> None:
    print("mixer cost per 10 ms block (microseconds), voices of ready frames, two gains each:")
    print(
        f"{'N':>3} {'steady':>8} {'per voice':>10} {'ramping':>8} {'per voice':>10} {'CPU s/s':>8}"
    )
    for count in counts:
        steady, ramping = per_voice_cost(count, False), per_voice_cost(count, True)
        print(
            f"{count:>3} {steady:8.1f} {steady / count:10.2f} {ramping:8.1f} "
            f"{ramping / count:10.2f} {steady * 100 / 1e6:8.4f}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--inputs", default="1,8,32", help="comma-separated N values")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--per-voice-only",
        action="store_true",
        help="only the mixer's cost per voice per block (N = 1, 8, 32, 64)",
    )
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.inputs.split(",")]
    if args.per_voice_only:
        print_per_voice([1, 8, 32, 64])
        return 0
    missing = [tool for tool in ("ffmpeg", "sox") if shutil.which(tool) is None]
    if missing:
        print(f"missing tools: {', '.join(missing)} (apt-get install {' '.join(missing)})")
        return 1
    with tempfile.TemporaryDirectory(prefix="mixbench-") as tmp:
        directory = Path(tmp)
        print(f"generating {max(counts)} inputs of {args.seconds} s ...", flush=True)
        all_paths = generate(directory, max(counts), args.seconds)
        out = directory / "out.wav"
        header = (
            f"{'N':>3} {'ours':>8} {'floor':>8} {'naive':>8} {'ffmpeg':>8} {'sox':>8} "
            f"{'ours/floor':>11} {'ffmpeg/ours':>12} {'sox/ours':>9}"
        )
        rows = []
        for count in counts:
            paths = all_paths[:count]
            arrays = [sf.read(path, dtype="float32")[0] for path in paths]
            t_floor = best_of(args.repeat, lambda arrays=arrays: floor(arrays))
            del arrays
            t_ours = best_of(args.repeat, lambda p=paths: mix_ours(p, out, args.seconds))
            check, _ = sf.read(out, dtype="float32")
            assert len(check) == args.seconds * RATE, len(check)
            t_naive = best_of(args.repeat, lambda p=paths: mix_naive(p, out))
            t_ffmpeg = best_of(args.repeat, lambda p=paths: mix_ffmpeg(p, out))
            t_sox = best_of(args.repeat, lambda p=paths: mix_sox(p, out))
            rows.append(
                f"{count:>3} {t_ours:8.3f} {t_floor:8.3f} {t_naive:8.3f} {t_ffmpeg:8.3f} "
                f"{t_sox:8.3f} {t_ours / t_floor:11.2f} {t_ffmpeg / t_ours:12.2f} "
                f"{t_sox / t_ours:9.2f}"
            )
            print(rows[-1] if len(rows) > 1 else header + "\n" + rows[-1], flush=True)
        print(
            f"\nseconds per input: {args.seconds}; times are the best of {args.repeat} runs, "
            f"in seconds; ours renders {OFFLINE_BLOCK}-frame blocks with a ramped gain change "
            "on every input every second, and writes its WAV file.\n"
        )
    print_per_voice([1, 8, 32, 64])
    return 0


if __name__ == "__main__":
    sys.exit(main())
