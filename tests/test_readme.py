"""README.md's example runs as written (with a short generated track.mp3 beside it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_the_readme_example_plays_its_track_to_the_end(media, tmp_path):
    (example,) = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is needed to make track.mp3 (scripts/setup --test installs it)"
    subprocess.run([ffmpeg, "-v", "error", "-i", media.tone(440, 1.0, subtype="PCM_16"),
                    str(tmp_path / "track.mp3")], check=True)
    script = example + '\nprint("ended", track.ended, navigator.audio_session.state)\n'
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, env={**os.environ, "AUDIOSESSION_BACKEND": "null",
                         "AUDIOSESSION_DAEMON": "off"})
    assert result.returncode == 0, result.stderr
    word, ended, state = result.stdout.split()
    assert (word, ended) == ("ended", "True")
    assert state in ("active", "inactive")  # its inactivation may be a task away
