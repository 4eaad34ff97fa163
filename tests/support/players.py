"""What the tests of the players' adapters need: the libraries, or a clear skip (a failure
under ``CI=true``)."""

from __future__ import annotations

from support.mpris import require


def require_libmpv() -> None:
    try:
        import mpv  # noqa: F401
    except (ImportError, OSError) as error:
        require(
            f"python-mpv with libmpv ({error})",
            False,
            "apt-get install libmpv2; pip install 'audiosession[players]' (scripts/setup --test)",
        )
