"""Shared by the benchmarks: how a distribution of latencies is printed."""

from __future__ import annotations

import numpy as np


def describe(values: list[float]) -> str:
    """Median, p99, min and max of ``values`` (seconds), in milliseconds."""
    ms = np.array(values) * 1000
    return (
        f"median {np.median(ms):6.1f} ms, p99 {np.percentile(ms, 99):6.1f} ms, "
        f"min {ms.min():5.1f}, max {ms.max():5.1f} (n={len(ms)})"
    )
