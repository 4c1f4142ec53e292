"""Timing helpers shared by the benchmark scripts (JAX results are waited on)."""

from __future__ import annotations

import statistics
import time

import jax


def median_time(fn, repeats=7):
    """Median wall time of `repeats` calls after one warm-up call."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed(fn):
    """(result, seconds) of one call."""
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - start
