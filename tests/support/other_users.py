"""Another user (``nobody``) on this machine, for the tests of who may reach the daemon."""

from __future__ import annotations

import subprocess
import sys

import pytest

NOBODY = 65534


def python_for(uid: int) -> str:
    for candidate in (sys.executable, "/usr/bin/python3"):
        try:
            result = subprocess.run(
                [candidate, "-c", "pass"], user=uid, capture_output=True, timeout=20
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if result.returncode == 0:
            return candidate
    pytest.fail(f"no Python that uid {uid} may run (tried {sys.executable}, /usr/bin/python3)")
