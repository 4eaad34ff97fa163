"""Decoding to the engine's format: libsndfile (soundfile) against miniaudio and FFmpeg (PyAV).

Run: ``python benchmarks/decoders.py [--minutes 60] [--file-minutes 10] [--small-minutes 5]``

For MP3 (192 kbit/s), FLAC, Ogg Vorbis (q5) and Opus (128 kbit/s), all made by ffmpeg from
the same stereo pink noise (44.1 kHz; Opus is always 48 kHz), each decoder turns ``--minutes`` of
audio (the file of ``--file-minutes`` decoded again and again) into 48 kHz stereo float32:

- ``soundfile``: ``SoundFile.read`` of native frames, then ``soxr`` resamples (what the
  engine did): soundfile asks libsndfile for its position and seeks back there on each call;
- ``libsndfile``: the same library called directly, one ``sf_readf_float`` per call, then the
  same ``soxr`` (what the engine's ``AudioReader`` does now);
- ``miniaudio``: miniaudio's own decoders (dr_mp3, dr_flac, stb_vorbis; no Opus) at the native
  rate, then the same ``soxr``; ``miniaudio-own`` lets miniaudio resample to 48 kHz itself
  (its linear resampler: cheaper, but not the quality soxr gives);
- ``pyav``: FFmpeg's decoders through PyAV, then the same ``soxr``.

Each runs in large chunks (``--chunk`` frames a call, as a decode-ahead worker reads) and in
small calls (480 output frames a call, one 10 ms block, as a decoder called from the audio
callback reads), and the resampling alone is timed too. Printed: seconds of CPU per hour of
audio for each (lower is better) and the per-call overhead the small calls add.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import numpy as np
import soundfile as sf
import soxr

from support.audio import from_lavfi

RATE = 48000
CHANNELS = 2
SMALL = 480

FORMATS = {
    "MP3": ("mp3", ["-ar", "44100", "-c:a", "libmp3lame", "-b:a", "192k"]),
    "FLAC": ("flac", ["-ar", "44100", "-c:a", "flac"]),
    "Vorbis": ("ogg", ["-ar", "44100", "-c:a", "libvorbis", "-q:a", "5"]),
    "Opus": ("opus", ["-ar", "48000", "-c:a", "libopus", "-b:a", "128k"]),  # Opus is 48 kHz
}


def make_files(directory: str, minutes: float) -> dict[str, str]:
    """One file per format, ``minutes`` long, of the same 44.1 kHz stereo signal."""
    source = (
        f"anoisesrc=color=pink:amplitude=0.2:sample_rate=44100:duration={minutes * 60},"
        "pan=stereo|c0=c0|c1=c0"
    )
    paths = {}
    for name, (ext, codec) in FORMATS.items():
        paths[name] = from_lavfi(source, os.path.join(directory, f"signal.{ext}"), *codec)
    return paths


Chunks = Callable[[str, int], Iterator[np.ndarray]]
"""A decoder: ``chunks(path, frames)`` yields (n, 2) float32 blocks at 48 kHz to the end."""


def _resampled(native: Iterator[np.ndarray], rate: int, frames: int) -> Iterator[np.ndarray]:
    """soxr over native blocks, keeping the output at about ``frames`` a call."""
    if rate == RATE:
        yield from native
        return
    stream = soxr.ResampleStream(rate, RATE, CHANNELS, dtype="float32")
    for block in native:
        yield stream.resample_chunk(block, last=False)
    yield stream.resample_chunk(np.zeros((0, CHANNELS), np.float32), last=True)


def soundfile_chunks(path: str, frames: int) -> Iterator[np.ndarray]:
    with sf.SoundFile(path) as f:
        native = max(1, int(frames * f.samplerate / RATE))

        def blocks() -> Iterator[np.ndarray]:
            out = np.empty((native, CHANNELS), np.float32)
            while True:
                block = f.read(native, dtype="float32", always_2d=True, out=out)
                if not len(block):
                    return
                yield block

        yield from _resampled(blocks(), f.samplerate, frames)


def libsndfile_chunks(path: str, frames: int) -> Iterator[np.ndarray]:
    """libsndfile called directly (as ``AudioReader`` does): no seek after each read."""
    with sf.SoundFile(path) as f:
        native = max(1, int(frames * f.samplerate / RATE))
        read = sf._snd.sf_readf_float  # type: ignore[attr-defined]

        def blocks() -> Iterator[np.ndarray]:
            out = np.empty((native, CHANNELS), np.float32)
            pointer = sf._ffi.from_buffer("float[]", out)  # type: ignore[attr-defined]
            while True:
                count = read(f._file, pointer, native)
                if not count:
                    return
                yield out[:count]

        yield from _resampled(blocks(), f.samplerate, frames)


def miniaudio_chunks(path: str, frames: int) -> Iterator[np.ndarray]:
    import miniaudio

    info = miniaudio.get_file_info(path)
    native = max(1, int(frames * info.sample_rate / RATE))
    stream = miniaudio.stream_file(
        path,
        output_format=miniaudio.SampleFormat.FLOAT32,
        nchannels=CHANNELS,
        sample_rate=info.sample_rate,
        frames_to_read=native,
    )
    blocks = (np.frombuffer(b, np.float32).reshape(-1, CHANNELS) for b in stream)
    yield from _resampled(blocks, info.sample_rate, frames)


def miniaudio_own_chunks(path: str, frames: int) -> Iterator[np.ndarray]:
    import miniaudio

    for b in miniaudio.stream_file(
        path,
        output_format=miniaudio.SampleFormat.FLOAT32,
        nchannels=CHANNELS,
        sample_rate=RATE,
        frames_to_read=frames,
    ):
        yield np.frombuffer(b, np.float32).reshape(-1, CHANNELS)


def pyav_chunks(path: str, frames: int) -> Iterator[np.ndarray]:
    import av

    with av.open(path) as container:
        stream = container.streams.audio[0]
        rate = stream.rate or stream.codec_context.sample_rate

        # FFmpeg hands out whole codec frames (1152 for MP3, up to 4608 for FLAC): a caller
        # wanting fewer keeps the rest, as the engine's reader does.
        def blocks() -> Iterator[np.ndarray]:
            for frame in container.decode(stream):
                data = frame.to_ndarray()
                if data.dtype != np.float32:
                    data = data.astype(np.float32) / np.float32(32768.0)
                if frame.format.is_planar:
                    data = data.T
                else:
                    data = data.reshape(-1, CHANNELS)
                yield np.ascontiguousarray(data)

        yield from _resampled(blocks(), rate, frames)


DECODERS: dict[str, Chunks] = {
    "soundfile": soundfile_chunks,
    "libsndfile": libsndfile_chunks,
    "miniaudio": miniaudio_chunks,
    "miniaudio-own": miniaudio_own_chunks,
    "pyav": pyav_chunks,
}


def cpu_per_hour(chunks: Chunks, path: str, frames: int, minutes: float) -> float | None:
    """CPU seconds to decode ``minutes`` of ``path`` in calls of ``frames``, per hour."""
    wanted = int(minutes * 60 * RATE)
    done = 0
    start = time.process_time()
    try:
        while done < wanted:
            for block in chunks(path, frames):
                done += len(block)
                if done >= wanted:
                    break
    except Exception as error:  # noqa: BLE001 - a decoder that cannot read this format
        print(f"    ({chunks.__name__} on {os.path.basename(path)}: {error})", file=sys.stderr)
        return None
    return (time.process_time() - start) * 3600 / (done / RATE)


def resample_only(minutes: float, frames: int) -> float:
    """CPU seconds per hour of soxr alone, 44.1 -> 48 kHz stereo float, in calls of ``frames``."""
    native = max(1, int(frames * 44100 / RATE))
    block = np.random.default_rng(0).standard_normal((native, CHANNELS)).astype(np.float32)
    stream = soxr.ResampleStream(44100, RATE, CHANNELS, dtype="float32")
    calls = math.ceil(minutes * 60 * 44100 / native)
    start = time.process_time()
    for _ in range(calls):
        stream.resample_chunk(block)
    return (time.process_time() - start) * 3600 / (minutes * 60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes",
        type=float,
        default=60.0,
        help="minutes of audio decoded per cell in large chunks (default 60)",
    )
    parser.add_argument(
        "--small-minutes",
        type=float,
        default=5.0,
        help="minutes decoded per cell in small calls (default 5)",
    )
    parser.add_argument(
        "--file-minutes",
        type=float,
        default=10.0,
        help="length of each generated file (default 10)",
    )
    parser.add_argument(
        "--chunk",
        type=int,
        default=8192,
        help="output frames per call in the large-chunk runs (default 8192)",
    )
    parser.add_argument(
        "--decoders", default=",".join(DECODERS), help=f"which ones (default {','.join(DECODERS)})"
    )
    args = parser.parse_args(argv)
    decoders = [d.strip() for d in args.decoders.split(",") if d.strip()]

    with tempfile.TemporaryDirectory(prefix="as-decoders-") as tmp:
        print(f"making {args.file_minutes:g}-minute files ...", flush=True)
        paths = make_files(tmp, args.file_minutes)
        print(
            f"CPU seconds per hour of audio decoded to {RATE} Hz stereo float32; "
            f"large = {args.chunk} frames a call ({args.minutes:g} min), small = {SMALL} "
            f"a call ({args.small_minutes:g} min). soundfile {sf.__version__} "
            f"(libsndfile {sf.__libsndfile_version__}), soxr {soxr.__version__}\n"
        )
        print(f"{'format':<7} {'decoder':<14} {'large':>8} {'small':>8} {'small/large':>11}")
        for fmt, path in paths.items():
            for name in decoders:
                large = cpu_per_hour(DECODERS[name], path, args.chunk, args.minutes)
                small = cpu_per_hour(DECODERS[name], path, SMALL, args.small_minutes)
                if large is None or small is None:
                    print(f"{fmt:<7} {name:<14} {'-':>8} {'-':>8} {'-':>11}", flush=True)
                    continue
                print(
                    f"{fmt:<7} {name:<14} {large:>8.1f} {small:>8.1f} {small / large:>11.2f}",
                    flush=True,
                )
        print(
            f"\nsoxr alone, 44.1 -> 48 kHz: large {resample_only(args.minutes, args.chunk):.1f}"
            f", small {resample_only(args.small_minutes, SMALL):.1f} CPU s per hour"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
