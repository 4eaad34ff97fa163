"""Optional parts of the package: when one is missing, one clear error names what to install."""

from __future__ import annotations

from audiosession.errors import MissingDependencyError

__all__ = ["CLI_EXTRA", "MissingDependencyError", "missing_dependency"]

CLI_EXTRA = "pip install 'audiosession[cli]'"
"""How to install what the demo's picture needs beyond the default install (matplotlib)."""


def missing_dependency(
    error: ModuleNotFoundError, package: str, *, needed_for: str, install: str
) -> ModuleNotFoundError:
    """The error to raise for ``error``, met while importing ``package``: a
    ``MissingDependencyError`` when ``package`` itself is missing, else ``error`` unchanged (a
    package that is there but broken is not a missing one)."""
    if (error.name or "").split(".")[0] != package:
        return error
    return MissingDependencyError(
        f"{needed_for} needs the Python package {package!r}, which is not installed; {install}"
    )
