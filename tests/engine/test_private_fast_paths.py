"""The private parts of soundfile and sounddevice the engine leans on are still there and
still mean what it takes them to mean: a new version that drops or changes one fails here,
rather than leaving the engine on a slower fallback (or a broken one) unnoticed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from audiosession.engine import decode, open_audio
from support.engine import RATE, sine


def test_decoding_reads_through_libsndfile_directly_not_soundfile_read(
    write_audio: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    # engine/decode.py's _read_float: one sf_readf_float on soundfile's own handle, because
    # SoundFile.read seeks around every call (an MP3's seek costs more than the decode).
    assert decode._SF_READF_FLOAT is not None, "soundfile has no _snd.sf_readf_float"
    assert decode._SF_FFI is not None, "soundfile has no _ffi"
    tone = sine(440, 0.5)[:, 0]
    path = write_audio("tone.flac", np.column_stack([tone, -tone]))  # not mapped: decoded

    def fell_back(*args: object, **kwargs: object) -> None:
        raise AssertionError("the decoder fell back to SoundFile.read")

    reader = open_audio(path, rate=RATE, channels=2)  # (its probe of the header reads)
    monkeypatch.setattr(reader._file, "read", fell_back)
    assert reader._file._file is not None, "SoundFile has no _file handle"
    blocks = [reader.read(1024) for _ in range(30)]
    decoded = np.concatenate([block for block in blocks if len(block)])
    assert decoded.shape == (len(tone), 2)
    np.testing.assert_allclose(decoded[:, 0], tone, atol=1 / 32768)


def test_portaudio_reinitialises_through_sounddevices_count_of_initialisations() -> None:
    # The PortAudio backend's _reinitialise_portaudio: terminate while sd._initialized > 0,
    # then initialise once, to enumerate the devices afresh.
    sd = pytest.importorskip("sounddevice")
    assert isinstance(sd._initialized, int), "sounddevice has no _initialized count"
    before = sd._initialized
    assert before >= 1  # importing sounddevice initialises PortAudio
    sd._initialize()
    assert sd._initialized == before + 1
    while sd._initialized > 0:
        sd._terminate()
    assert sd._initialized == 0
    sd._initialize()
    assert sd._initialized == 1
    assert isinstance(sd.query_devices(), sd.DeviceList)  # PortAudio works again
    for _ in range(before - 1):
        sd._initialize()
