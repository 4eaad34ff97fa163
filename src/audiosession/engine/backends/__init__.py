"""The sound backends: ``virtual`` (virtual time, for tests), ``null`` and ``wav`` (real time,
no device), and the real devices ``pulse`` (PulseAudio, PipeWire) and ``portaudio`` (ALSA,
Core Audio, WASAPI). ``engine.selection`` chooses one; each is imported only when used."""
