"""Decoding: files are read in blocks, resampled and channel-mixed; bad files say why."""

from __future__ import annotations

import io
import os
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiosession.engine import DecodeError, mix_matrix, open_audio
from support.engine import RATE, dominant_frequency, rms, sine


def read_all(reader, block: int = 4096) -> np.ndarray:  # type: ignore[no-untyped-def]
    parts = []
    while True:
        part = reader.read(block)
        parts.append(part)
        if len(part) < block:
            return np.concatenate(parts)


def test_float_wav_at_the_engine_rate_reads_back_exactly(write_audio: Callable) -> None:
    data = sine(440, 1.0, channels=2)
    reader = open_audio(write_audio("tone.wav", data, subtype="FLOAT"), rate=RATE, channels=2)
    assert (reader.native_rate, reader.native_channels, reader.duration) == (RATE, 2, 1.0)
    out = read_all(reader, 1000)
    np.testing.assert_array_equal(out, data)
    assert reader.position == 1.0


def test_mono_8_khz_file_is_resampled_to_the_right_pitch_and_length(
    write_audio: Callable,
) -> None:
    path = write_audio("phone.wav", sine(1000, 2.0, rate=8000), rate=8000, subtype="PCM_16")
    reader = open_audio(path, rate=RATE, channels=2)
    out = read_all(reader, 480)
    assert abs(len(out) - 2 * RATE) <= 1
    np.testing.assert_array_equal(out[:, 0], out[:, 1])
    assert dominant_frequency(out[RATE // 2 : RATE + RATE // 2]) == pytest.approx(1000, abs=1)
    assert rms(out[RATE // 2 : RATE]) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_stereo_is_averaged_to_mono(write_audio: Callable) -> None:
    data = np.stack([np.full(4800, 0.2), np.full(4800, 0.6)], axis=1).astype(np.float32)
    out = open_audio(write_audio("lr.wav", data, subtype="FLOAT"), rate=RATE, channels=1).read(4800)
    assert out.shape == (4800, 1)
    np.testing.assert_allclose(out, 0.4, atol=1e-6)


def test_six_channel_file_downmixes_itu_style(write_audio: Callable) -> None:
    frames = 4800
    data = np.zeros((frames, 6), dtype=np.float32)
    data[:, 2] = 0.5  # centre only
    data[:, 3] = 0.9  # LFE: dropped
    data[:, 5] = 0.3  # right surround
    out = open_audio(write_audio("51.wav", data, subtype="FLOAT"), rate=RATE, channels=2).read(
        frames
    )
    minus3 = 10 ** (-3 / 20)
    np.testing.assert_allclose(out[:, 0], 0.5 * minus3, atol=1e-6)
    np.testing.assert_allclose(out[:, 1], (0.5 + 0.3) * minus3, atol=1e-6)


def test_other_layouts_average_even_channels_left_and_odd_right() -> None:
    matrix = mix_matrix(4, 2)
    assert matrix is not None
    np.testing.assert_allclose(matrix[:, 0], [0.5, 0, 0.5, 0])
    np.testing.assert_allclose(matrix[:, 1], [0, 0.5, 0, 0.5])


def test_seek_lands_on_the_sample(write_audio: Callable) -> None:
    ramp = (np.arange(RATE * 2) / (RATE * 2)).astype(np.float32)
    reader = open_audio(write_audio("ramp.wav", ramp, subtype="FLOAT"), rate=RATE, channels=1)
    reader.read(480)
    reader.seek(1.25)
    assert reader.position == 1.25
    assert reader.read(1)[0, 0] == pytest.approx(ramp[int(1.25 * RATE)])


@pytest.mark.parametrize("rate", [RATE, 44100], ids=["native", "resampled"])
def test_a_closed_reader_reads_nothing_and_seeks_nowhere(write_audio: Callable, rate) -> None:
    # A looping voice whose element took another source reads, finds the end, seeks to 0:
    # that used to raise "I/O operation on closed file" on the audio thread.
    reader = open_audio(
        write_audio("short.wav", sine(440, 0.01, rate=rate), rate=rate), rate=RATE, channels=1
    )
    reader.close()
    assert len(reader.read(480)) == 0
    reader.seek(0.0)
    assert len(reader.read(480)) == 0


def test_seek_with_resampling_lands_within_one_block(write_audio: Callable) -> None:
    rate = 44100
    ramp = (np.arange(rate * 2) / (rate * 2)).astype(np.float32)
    reader = open_audio(
        write_audio("ramp44.wav", ramp, rate=rate, subtype="FLOAT"), rate=RATE, channels=1
    )
    reader.seek(1.0)
    block = reader.read(4800)
    expected = 0.5 + np.arange(4800) / (RATE * 2)
    # The resampler restarts: after its short warm-up the samples are the file's.
    np.testing.assert_allclose(block[480:, 0], expected[480:], atol=2e-3)
    with pytest.raises(ValueError, match="-1"):
        reader.seek(-1)


def test_binary_file_object_plays(write_audio: Callable) -> None:
    data = sine(440, 0.5)
    blob = io.BytesIO(write_audio("blob.flac", data).read_bytes())
    reader = open_audio(blob, rate=RATE, channels=1)
    assert reader.duration == 0.5
    np.testing.assert_allclose(read_all(reader), data, atol=1e-4)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.wav"
    with pytest.raises(DecodeError, match=r"nowhere\.wav.*no such file"):
        open_audio(path, rate=RATE, channels=2)


def test_a_decode_error_keeps_its_dom_style_name_and_names_the_file_apart(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.wav"
    with pytest.raises(DecodeError) as caught:
        open_audio(path, rate=RATE, channels=2)
    assert caught.value.name == "DecodeError"  # as every AudioSessionError's (errors.py)
    assert caught.value.file_name == repr(str(path))  # as the message quotes it
    assert caught.value.reason == "no such file"


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DecodeError, match="directory"):
        open_audio(tmp_path, rate=RATE, channels=2)


def test_unreadable_file_is_refused(write_audio: Callable, tmp_path: Path) -> None:
    path = write_audio("secret.wav", sine(440, 0.1))
    path.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(DecodeError, match="permission"):
            open_audio(path, rate=RATE, channels=2)
        return
    # Root reads every file: ask from a child process that became nobody, who may enter the
    # folders but not read the file.
    for folder in (tmp_path, *tmp_path.parents):
        if folder == Path(tempfile.gettempdir()):
            break
        folder.chmod(folder.stat().st_mode | 0o001)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.setgid(65534)
            os.setuid(65534)
            open_audio(path, rate=RATE, channels=2)
            message = "opened it"
        except DecodeError as error:
            message = str(error)
        except BaseException as error:  # noqa: BLE001
            message = f"unexpected {error!r}"
        os.write(writer, message.encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        message = pipe.read()
    os.waitpid(pid, 0)
    assert "secret.wav" in message and "permission" in message.lower(), message


def test_text_file_named_wav_is_not_decodable(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("these are not samples\n" * 20)
    with pytest.raises(DecodeError, match=r"notes\.wav.*not a decodable audio file"):
        open_audio(path, rate=RATE, channels=2)


def test_zero_length_wav_contains_no_audio(write_audio: Callable) -> None:
    path = write_audio("empty.wav", np.zeros((0, 2), dtype=np.float32))
    with pytest.raises(DecodeError, match=r"empty\.wav.*contains no audio"):
        open_audio(path, rate=RATE, channels=2)


def test_mp3_decodes_at_the_right_pitch(mp3_of: Callable) -> None:
    reader = open_audio(mp3_of(sine(440, 2.0), RATE), rate=RATE, channels=2)
    assert reader.duration == pytest.approx(2.0, abs=0.06)
    out = read_all(reader)
    assert dominant_frequency(out[RATE // 2 : RATE + RATE // 2]) == pytest.approx(440, abs=1)


def test_an_mp3_seek_plays_sound_from_the_first_frame(write_audio: Callable) -> None:
    # 1 s of 440 Hz then 1 s of 880 Hz, at 44.1 kHz (libsndfile's own MP3 encoder): seeking
    # to 1.5 s gives 880 Hz at once, not the decoder's restart silence.
    tone = np.concatenate([sine(440, 1.0, rate=44100), sine(880, 1.0, rate=44100)])
    reader = open_audio(write_audio("tone.mp3", tone, 44100), rate=RATE, channels=2)
    reader.seek(1.5)
    out = reader.read(RATE // 4)
    assert np.abs(out[:480]).max() > 0.4  # the first 10 ms block is already loud
    assert dominant_frequency(out) == pytest.approx(880, abs=2)
    assert reader.position == pytest.approx(1.75)


def test_truncated_mp3_plays_its_decodable_part(mp3_of: Callable, tmp_path: Path) -> None:
    whole = mp3_of(sine(440, 4.0), RATE).read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole[: len(whole) // 2])
    out = read_all(open_audio(cut, rate=RATE, channels=2))
    assert 1.8 * RATE < len(out) < 2.2 * RATE
    assert dominant_frequency(out[RATE // 2 : RATE]) == pytest.approx(440, abs=2)


def test_ogg_and_flac_decode(write_audio: Callable) -> None:
    for name in ("tone.ogg", "tone.flac"):
        out = read_all(open_audio(write_audio(name, sine(440, 1.0)), rate=RATE, channels=1))
        assert abs(len(out) - RATE) < 10
        assert dominant_frequency(out) == pytest.approx(440, abs=1)


def test_one_hour_file_opens_at_once_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "hour.wav"
    frames = 3600 * RATE
    with sf.SoundFile(path, "w", RATE, 2, "PCM_16") as out:
        out.write(np.zeros((RATE, 2), dtype=np.int16))
    # Grow the file sparsely to one hour and patch the RIFF sizes: no hour of writing.
    data_bytes = frames * 4
    with open(path, "r+b") as handle:
        head = handle.read(4096)
        data_at = head.find(b"data") + 8
        handle.truncate(data_at + data_bytes)
        handle.seek(4)
        handle.write((data_at + data_bytes - 8).to_bytes(4, "little"))
        handle.seek(data_at - 4)
        handle.write(data_bytes.to_bytes(4, "little"))
    tracemalloc.start()
    try:
        reader = open_audio(path, rate=44100, channels=2)
        assert reader.duration == 3600.0
        reader.seek(1800)
        for _ in range(50):
            assert len(reader.read(4410)) == 4410
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, f"opening and reading a 1-hour file used {peak} bytes"
    assert reader.position == pytest.approx(1805, abs=0.01)


def test_hour_long_float_wav_maps_without_copying(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", RATE, 2, "FLOAT") as out:
        for _ in range(30):
            out.write(np.full((RATE, 2), 0.25, dtype=np.float32))
    tracemalloc.start()
    try:
        reader = open_audio(path, rate=RATE, channels=2)
        total = 0
        while len(block := reader.read_view(RATE)):
            total += len(block)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 30 * RATE
    assert peak < 1_000_000
