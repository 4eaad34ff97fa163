"""The libpulse structures that both its APIs take (the asynchronous one of ``bindings`` and
the simple one of ``simple``): ctypes only, so the simple one loads nothing else."""

from __future__ import annotations

from ctypes import Structure, c_int, c_uint8, c_uint32

__all__ = ["BufferAttr", "SampleSpec"]


class SampleSpec(Structure):
    """``pa_sample_spec``: a stream's sample format, rate and channels."""

    _fields_ = [("format", c_int), ("rate", c_uint32), ("channels", c_uint8)]


class BufferAttr(Structure):
    """``pa_buffer_attr``: a stream's buffer sizes in bytes (0xFFFFFFFF: the server's choice)."""

    _fields_ = [
        ("maxlength", c_uint32),
        ("tlength", c_uint32),
        ("prebuf", c_uint32),
        ("minreq", c_uint32),
        ("fragsize", c_uint32),
    ]
