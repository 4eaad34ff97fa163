"""Reading the package's environment variables that choose one of a few values."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

log = logging.getLogger(__name__)

__all__ = ["env_choice"]


def env_choice(name: str, choices: Sequence[str], default: str) -> str:
    """Environment variable ``name``, trimmed and lowercased: ``default`` when it is unset or
    empty, and (with a warning that names the right values) when it is none of ``choices``."""
    value = os.environ.get(name, "").strip().lower() or default
    if value not in choices:
        log.warning("%s=%r is not one of %s; using %r", name, value, ", ".join(choices), default)
        return default
    return value
