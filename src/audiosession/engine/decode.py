"""Decoding audio files in blocks, resampled and channel-mixed to what the engine plays."""

from __future__ import annotations

import logging
import math
import mmap
import os
import stat
import threading
from typing import IO, Any

import numpy as np
import soundfile as sf
import soxr

from audiosession.errors import AudioSessionError

log = logging.getLogger(__name__)

_UNKNOWN_FRAMES = 2**62
"""libsndfile reports SF_COUNT_MAX frames for streams whose length it cannot know."""

_RELEASE_BYTES = 64 << 20
"""Mapped WAV data already played is handed back to the kernel every this many bytes."""

_READAHEAD_BYTES = 4 << 20
"""Mapped WAV data is asked from the disk this far ahead, so the audio thread never waits."""

_MINUS_3_DB = 10 ** (-3 / 20)

MIN_RATE = 1000
MAX_RATE = 768000
"""Sample rates a file may declare (Hz). Outside them the header is absurd, or the file is not
meant to be played: at 2**31 - 1 Hz one 10 ms block would need 21 million frames decoded."""

MAX_CHANNELS = 64
"""Channels a file may declare: every channel of each block is decoded and mixed down."""

PROBE_FRAMES = 4096
"""Frames decoded when a file opens, so that a file whose audio cannot be decoded (a good
header followed by noise) fails at once rather than playing as silence that ends at 0 s."""

_MP3_SEEK_PREROLL = 4608
"""Frames decoded and dropped before an MP3 seek's target (four MPEG frames)."""

_MIN_NATIVE_READ = 1024
"""Native frames read at least per libsndfile call when resampling (what is left over waits
for the next read), rather than the few frames soxr came short of the last time."""


class DecodeError(AudioSessionError):
    """A file that cannot be played: the message names the file and the reason."""

    def __init__(self, file_name: str, reason: str) -> None:
        super().__init__(f"cannot play {file_name}: {reason}")
        self.file_name = file_name  # not ``name``: that is the error's class name (errors.py)
        self.reason = reason


def open_audio(
    src: str | os.PathLike[str] | IO[bytes], *, rate: int = 48000, channels: int = 2
) -> AudioReader:
    """Open ``src`` (a path or a binary file object) for reading at ``rate`` and ``channels``.

    Only the header is read here: a one-hour file opens at once. Raises ``DecodeError`` for
    a missing, unreadable, undecodable or empty file.
    """
    return AudioReader(src, rate=rate, channels=channels)


def mix_matrix(native: int, channels: int) -> np.ndarray | None:
    """The (native, channels) matrix that maps a file's channels to the engine's; None if equal.

    Mono is copied to every channel; down to mono is the average. Six channels (5.1, in WAV
    order L R C LFE Ls Rs) go to stereo the ITU way: centre and surrounds at -3 dB, LFE
    dropped. Any other layout goes to stereo as the average of its even (left) and odd
    (right) channels.
    """
    if native == channels:
        return None
    matrix = np.zeros((native, channels), dtype=np.float32)
    if native == 1:
        matrix[0, :] = 1.0
        return matrix
    if native == 6 and channels <= 2:
        stereo = np.zeros((6, 2), dtype=np.float32)
        stereo[0, 0] = stereo[1, 1] = 1.0
        stereo[2, :] = _MINUS_3_DB
        stereo[4, 0] = stereo[5, 1] = _MINUS_3_DB
        return stereo if channels == 2 else stereo.mean(axis=1, keepdims=True)
    if channels == 1:
        matrix[:, 0] = 1.0 / native
    elif channels == 2:
        left, right = range(0, native, 2), range(1, native, 2)
        matrix[list(left), 0] = 1.0 / len(left)
        matrix[list(right), 1] = 1.0 / len(right)
    else:
        for i in range(min(native, channels)):
            matrix[i, i] = 1.0
    return matrix


class AudioReader:
    """A file being read block by block at the engine's rate and channel count.

    ``read(frames)`` returns a new (n, channels) float32 array, n < frames only at the end.
    ``read_view(frames)`` is the same without a copy: the array is only valid until the next
    call, and must not be written to (the mixer uses it).
    """

    def __init__(
        self, src: str | os.PathLike[str] | IO[bytes], *, rate: int = 48000, channels: int = 2
    ) -> None:
        if rate <= 0 or channels <= 0:
            raise ValueError(f"rate and channels must be positive, not {rate!r}, {channels!r}")
        self.rate = int(rate)
        self.channels = int(channels)
        self.name = _describe(src)
        self._lock = threading.Lock()  # held for one block's decode at most
        self._file = _open_soundfile(src, self.name)
        self.native_rate: int = self._file.samplerate
        self.native_channels: int = self._file.channels
        frames = self._file.frames
        seekable = self._file.seekable()
        self._native_frames: int | None = (
            frames if seekable and 0 <= frames < _UNKNOWN_FRAMES else None
        )
        if frames == 0:
            self._file.close()
            raise DecodeError(self.name, "the file contains no audio (0 frames)")
        try:
            _check_format(self._file)
            _probe(self._file)
        except DecodeError as error:
            self._file.close()
            raise DecodeError(self.name, error.reason) from None
        self._matrix = mix_matrix(self.native_channels, self.channels)
        self._mix_first = self.native_channels > self.channels
        self._resampler: Any = None
        self._buffer = np.empty((0, self.native_channels), dtype=np.float32)
        self._pending = np.empty((0, self.channels), dtype=np.float32)
        self._eof = False
        self._frames_out = 0
        self._native_pos = 0
        self._released = 0
        self._readahead = 0
        self._map: mmap.mmap | None = None
        self._mapped: np.ndarray | None = None
        self._map_start = 0
        if self.native_rate != self.rate:
            self._resampler = self._new_resampler()
        elif self._matrix is None and isinstance(src, (str, os.PathLike)):
            self._map_wav(src)

    def __repr__(self) -> str:
        return (
            f"AudioReader({self.name}, {self.native_rate} Hz x {self.native_channels} -> "
            f"{self.rate} Hz x {self.channels}, position={self.position:.3f})"
        )

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def duration(self) -> float | None:
        """Length in seconds, or None when the source does not say (a live stream)."""
        if self._native_frames is None:
            return None
        return self._native_frames / self.native_rate

    @property
    def position(self) -> float:
        """Seconds of audio read so far (after ``seek``: from the sought position)."""
        return self._frames_out / self.rate

    def read(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames as a new (n, channels) float32 array; n < frames = end."""
        return np.array(self.read_view(frames), dtype=np.float32, copy=True)

    def read_view(self, frames: int) -> np.ndarray:
        """Like ``read`` but without a copy: valid until the next call, read-only."""
        if frames < 0:
            raise ValueError(f"frames must be >= 0, not {frames!r}")
        with self._lock:
            if self._file.closed:
                return np.empty((0, self.channels), dtype=np.float32)
            if self._mapped is not None:
                block = self._read_mapped(frames)
            elif self._resampler is None:
                block = self._read_native(frames)
                if self._matrix is not None:
                    block = block @ self._matrix
            else:
                block = self._read_resampled(frames)
            self._frames_out += len(block)
        return block

    def seek(self, seconds: float) -> None:
        """Continue reading from ``seconds`` (clamped to the end); resets the resampler.

        Safe to call while another thread reads: it waits for the block being decoded.
        """
        if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"seek position must be a number of seconds >= 0, not {seconds!r}")
        with self._lock:
            if self._file.closed:
                return  # closed (its element took another source): nothing left to read
            if not self._file.seekable():
                raise DecodeError(self.name, "the source cannot seek (a stream)")
            self._seek(seconds)

    def _seek(self, seconds: float) -> None:
        native = int(round(seconds * self.native_rate))
        if self._native_frames is not None:
            native = min(native, self._native_frames)
        if self._mapped is None:
            # libsndfile's MP3 decoder starts afresh at a seek and gives ~1700 frames of
            # silence before the sound; seek that much earlier and decode it away.
            preroll = min(native, _MP3_SEEK_PREROLL) if self._file.format == "MP3" else 0
            try:
                self._file.seek(native - preroll)
                if preroll:
                    _read_float(
                        self._file, np.empty((preroll, self.native_channels), dtype=np.float32)
                    )
            except (sf.LibsndfileError, RuntimeError) as error:
                raise DecodeError(self.name, f"cannot seek to {seconds} s ({error})") from None
        self._native_pos = native
        self._readahead = 0
        self._frames_out = int(round(native * self.rate / self.native_rate))
        self._pending = self._pending[:0]
        self._eof = False
        if self._resampler is not None:
            self._resampler = self._new_resampler()

    def close(self) -> None:
        """Release the file (and its mapping); reading afterwards gives no frames."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        self._mapped = None
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:  # a view handed out is still alive; the GC closes it
                pass
            self._map = None
        self._file.close()

    # -- the three read paths ---------------------------------------------------------------

    def _read_mapped(self, frames: int) -> np.ndarray:
        assert self._mapped is not None
        start = self._native_pos
        block = self._mapped[start : start + frames]
        self._native_pos += len(block)
        played = self._native_pos * self._frame_bytes
        if played - self._released > _RELEASE_BYTES:
            self._release_played()
        if played + _READAHEAD_BYTES // 2 > self._readahead:
            self._read_ahead(played)
        return block

    def _read_native(self, frames: int) -> np.ndarray:
        if self._eof:
            return self._buffer[:0]
        if len(self._buffer) < frames:
            self._buffer = np.empty((frames, self.native_channels), dtype=np.float32)
        out = self._buffer[:frames]
        try:
            block = out[: _read_float(self._file, out)]
        except (sf.LibsndfileError, RuntimeError) as error:
            log.warning("%s: stopped at %.3f s: %s", self.name, self.position, error)
            block = out[:0]
        if len(block) < frames:
            self._eof = True
        self._native_pos += len(block)
        return block

    def _read_resampled(self, frames: int) -> np.ndarray:
        parts = [self._pending] if len(self._pending) else []
        have = len(self._pending)
        while have < frames and not self._eof:
            # soxr gives back a little less than it is given at first; reading only the
            # shortfall then costs a call per few frames. Read a whole slice at least.
            need = max(
                math.ceil((frames - have) * self.native_rate / self.rate) + 16, _MIN_NATIVE_READ
            )
            block = self._read_native(need)
            if self._mix_first and self._matrix is not None:
                block = block @ self._matrix
            out = self._resampler.resample_chunk(block, last=self._eof)
            if len(out):
                out = np.asarray(out, dtype=np.float32)
                if out.ndim == 1:
                    out = out[:, None]
                if not self._mix_first and self._matrix is not None:
                    out = out @ self._matrix
                parts.append(out)
                have += len(out)
        if not parts:
            return self._pending[:0]
        joined = parts[0] if len(parts) == 1 else np.concatenate(parts)
        self._pending = joined[frames:]
        return joined[:frames]

    # -- helpers ----------------------------------------------------------------------------

    def _new_resampler(self) -> Any:
        width = self.channels if self._mix_first else self.native_channels
        return soxr.ResampleStream(self.native_rate, self.rate, width, dtype="float32")

    @property
    def _frame_bytes(self) -> int:
        return 4 * self.native_channels

    def _map_wav(self, path: str | os.PathLike[str]) -> None:
        """Map a float32 WAV's samples: reading a block is then a view, not a copy."""
        info = self._file
        if info.format not in ("WAV", "WAVEX") or info.subtype != "FLOAT":
            return
        if info.endian not in ("FILE", "LITTLE") or self._native_frames is None:
            return
        try:
            with open(path, "rb") as handle:
                offset = _wav_data_offset(handle)
                if offset is None:
                    return
                self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return
        available = (len(self._map) - offset) // self._frame_bytes
        frames = min(self._native_frames, available)
        samples = np.frombuffer(
            self._map, dtype="<f4", count=frames * self.native_channels, offset=offset
        )
        self._mapped = samples.reshape(frames, self.native_channels)
        self._map_start = offset
        if hasattr(mmap, "MADV_SEQUENTIAL"):
            self._map.madvise(mmap.MADV_SEQUENTIAL)

    def _read_ahead(self, played: int) -> None:
        """Start reading the next stretch from disk (asynchronously) into the page cache."""
        assert self._map is not None
        start = self._map_start + played
        start -= start % mmap.PAGESIZE
        length = min(_READAHEAD_BYTES, len(self._map) - start)
        if length > 0 and hasattr(mmap, "MADV_WILLNEED"):
            self._map.madvise(mmap.MADV_WILLNEED, start, length)
        self._readahead = played + _READAHEAD_BYTES

    def _release_played(self) -> None:
        """Let the kernel drop mapped pages already played (bounded memory for long files)."""
        assert self._map is not None
        end = self._map_start + self._native_pos * self._frame_bytes
        end -= end % mmap.PAGESIZE
        if end > 0 and hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED, 0, end)
        self._released = self._native_pos * self._frame_bytes


def _read_float(file: sf.SoundFile, out: np.ndarray) -> int:
    """Read up to ``len(out)`` frames into the C-contiguous float32 ``out``; how many came.

    One libsndfile call on soundfile's own handle. ``SoundFile.read`` also asks libsndfile
    for its position before and seeks there again after every call, to keep its own count,
    and for an MP3 that seek costs more than decoding a thousand frames (docs/realtime.md);
    libsndfile keeps the position itself. Other soundfile versions get ``SoundFile.read``.
    """
    handle = getattr(file, "_file", None)
    if _SF_READF_FLOAT is None or handle is None or file.closed:
        return len(file.read(dtype="float32", always_2d=True, out=out))
    count = int(_SF_READF_FLOAT(handle, _SF_FFI.from_buffer("float[]", out), len(out)))
    if count < len(out):
        code = _SF_LIB.sf_error(handle)
        if code:
            message = _SF_FFI.string(_SF_LIB.sf_error_number(code)).decode(errors="replace")
            raise RuntimeError(f"libsndfile error {code}: {message}")
    return count


_SF_LIB: Any = getattr(sf, "_snd", None)
_SF_FFI: Any = getattr(sf, "_ffi", None)
_SF_READF_FLOAT: Any = getattr(_SF_LIB, "sf_readf_float", None) if _SF_FFI is not None else None


def _describe(src: object) -> str:
    if isinstance(src, (str, os.PathLike)):
        return repr(os.fspath(src))
    name = getattr(src, "name", None)
    return repr(name) if isinstance(name, str) else f"<{type(src).__name__} stream>"


def _open_soundfile(src: str | os.PathLike[str] | IO[bytes], name: str) -> sf.SoundFile:
    source: int | IO[bytes]
    if isinstance(src, (str, os.PathLike)):
        path = os.fspath(src)
        if not os.path.exists(path):
            raise DecodeError(name, "no such file")
        if os.path.isdir(path):
            raise DecodeError(name, "it is a directory, not an audio file")
        if not os.access(path, os.R_OK):
            raise DecodeError(name, "permission denied (the file is not readable)")
        source = _open_regular_file(path, name)
    elif not (hasattr(src, "read") and hasattr(src, "seek")):
        raise TypeError(
            f"an audio source must be a path or a binary file object, not {type(src).__name__}"
        )
    else:
        source = src
    try:
        # A descriptor is closed by libsndfile, also when the open fails.
        return sf.SoundFile(source, closefd=True)
    except sf.LibsndfileError as error:
        reason = str(error.error_string).strip().rstrip(".")
        raise DecodeError(name, f"not a decodable audio file ({reason})") from None
    except (OSError, RuntimeError) as error:
        raise DecodeError(name, f"cannot be read ({error})") from None


def _open_regular_file(path: str, name: str) -> int:
    """A read-only descriptor of the regular file at ``path``; a FIFO, socket or device is a
    ``DecodeError`` at once (never opened in a way that waits for a writer).

    The file is opened here rather than by libsndfile, whose opens share one lock in
    ``soundfile``: a file slow to open (a lease, a hung network share) then holds up only
    its own element, not every other file's open."""
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    try:
        try:
            fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0))
        except BlockingIOError:  # another process holds a lease: wait for it (off the loop)
            fd = os.open(path, flags)
    except OSError as error:
        raise DecodeError(name, f"cannot be read ({error.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise DecodeError(name, f"it is {_special_file_kind(mode)}, not a regular file")
    os.set_blocking(fd, True)
    return fd


def _special_file_kind(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` that is not regular is."""
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "a special file"


def _check_format(file: sf.SoundFile) -> None:
    """Refuse a header whose sample rate or channel count is outside what the engine plays."""
    if not MIN_RATE <= file.samplerate <= MAX_RATE:
        raise DecodeError(
            "",
            f"its header declares {file.samplerate} Hz; the engine plays files from "
            f"{MIN_RATE} to {MAX_RATE} Hz",
        )
    if not 1 <= file.channels <= MAX_CHANNELS:
        raise DecodeError(
            "",
            f"its header declares {file.channels} channels; the engine plays files of "
            f"1 to {MAX_CHANNELS} channels",
        )


def _probe(file: sf.SoundFile) -> None:
    """Decode the first frames and go back to the start. Raise ``DecodeError`` when nothing
    decodes, or when the audio ends within them although the header declares a second more
    (a good header followed by damaged data)."""
    if not file.seekable():
        return
    try:
        decoded = len(file.read(PROBE_FRAMES, dtype="float32", always_2d=True))
    except (sf.LibsndfileError, RuntimeError) as error:
        reason = str(getattr(error, "error_string", error)).strip().rstrip(".")
        raise DecodeError(
            "", f"its data is damaged: decoding its start failed ({reason})"
        ) from None
    declared = file.frames
    if decoded == 0 or (decoded < PROBE_FRAMES and declared - decoded >= file.samplerate):
        raise DecodeError(
            "",
            f"its data is damaged: {decoded / file.samplerate * 1000:.0f} ms of audio "
            f"could be decoded, but its header declares {declared / file.samplerate:.3f} s",
        )
    try:
        file.seek(0)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise DecodeError("", f"cannot go back to its start after reading ({error})") from None


def _wav_data_offset(handle: IO[bytes]) -> int | None:
    """Byte offset of a RIFF/WAVE file's ``data`` chunk, or None if it is not plain RIFF."""
    header = handle.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return None
    position = 12
    while True:
        handle.seek(position)
        chunk = handle.read(8)
        if len(chunk) < 8:
            return None
        size = int.from_bytes(chunk[4:], "little")
        if chunk[:4] == b"data":
            return position + 8
        position += 8 + size + (size & 1)
