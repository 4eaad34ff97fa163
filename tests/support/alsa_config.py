"""An ALSA configuration whose PCMs reach a private PulseAudio server, for the portaudio backend.

PortAudio's ALSA host API lists the PCMs that ALSA's configuration defines. ``AlsaConfig``
writes one file that defines ``pcm.!default`` (playback on the first sink, capture from the
``mic`` PCM) and one PCM per entry of ``pcms`` (``type pulse; server "<server>"; device
"<sink or source>"; handle_underrun true``, through the ``pulse`` plugin of Debian's
``libasound2-plugins``: without ``handle_underrun`` the plugin reports no underrun), and
points ``ALSA_CONFIG_PATH`` at ``/usr/share/alsa/alsa.conf:<file>``. ALSA reads the file when
PortAudio is initialised: the backend re-initialises PortAudio when it is created with none of
its streams open, and its device watcher (a child process) re-initialises its own every poll,
so ``write()`` with other PCMs is a hot-plug. The file is replaced atomically (a reader never
sees half of it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.pulse_server import PulseServer
from support.requirements import unavailable

SYSTEM_CONFIG = "/usr/share/alsa/alsa.conf"


class AlsaConfig:
    """One generated ALSA configuration file (see the module docstring)."""

    def __init__(self, path: Path, server: str) -> None:
        self.path = path
        self.server = server

    @property
    def config_path(self) -> str:
        """The value for ``ALSA_CONFIG_PATH``: the system's configuration, then ours."""
        return f"{SYSTEM_CONFIG}:{self.path}"

    def write(
        self, pcms: dict[str, str], *, default: str | None = None, capture: str | None = "mic"
    ) -> None:
        """Define ``pcm.<name>`` for each ``name: device`` of ``pcms`` and ``pcm.!default``
        (playback on ``default``, else the first PCM; capture from ``capture``)."""
        lines = []
        for name, device in pcms.items():
            lines.append(
                f'pcm.{name} {{ type pulse; server "{self.server}"; '
                f'device "{device}"; handle_underrun true }}'
            )
        playback = default or next(iter(pcms))
        if capture is not None:
            lines.append(
                f'pcm.!default {{ type asym; playback.pcm "{playback}"; capture.pcm "{capture}" }}'
            )
        else:
            lines.append(f'pcm.!default {{ type plug; slave.pcm "{playback}" }}')
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text("\n".join(lines) + "\n")
        os.replace(temporary, self.path)


def require_alsa_pulse_plugin() -> None:
    """The test is unavailable without ALSA's pulse plugin (libasound2-plugins)."""
    if not any(Path("/usr/lib").glob("*/alsa-lib/libasound_module_pcm_pulse.so")):
        unavailable("ALSA's pulse plugin is missing (apt-get install libasound2-plugins)")


def alsa_config(server: PulseServer, folder: Path, monkeypatch: pytest.MonkeyPatch) -> AlsaConfig:
    """``speakers``, ``headset`` (the two sinks) and ``mic`` (the speakers' monitor), with
    ``ALSA_CONFIG_PATH`` set for this test."""
    require_alsa_pulse_plugin()
    config = AlsaConfig(folder / "asound.conf", server.server_string)
    config.write({"speakers": "speakers", "headset": "headset", "mic": "speakers.monitor"})
    monkeypatch.setenv("ALSA_CONFIG_PATH", config.config_path)
    return config
