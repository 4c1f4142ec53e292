"""Estimate whether a dense result fits before materialising it."""

from __future__ import annotations

import os

import jax
import numpy as np

from jachess._errors import TooLargeError


def available_bytes(device: jax.Device | None = None) -> int:
    """Bytes a new array can still take on `device` (host RAM for CPU devices)."""
    device = device or jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        limit = stats.get("bytes_limit")
        if limit is not None:
            return int(limit) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def format_bytes(num_bytes: float) -> str:
    """Human-readable size, e.g. '74.5 GiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if num_bytes < 1024 or unit == "PiB":
            return f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    raise AssertionError("unreachable")


def check_dense_fits(what: str, shape: tuple[int, ...], dtype, *, fraction: float = 0.5) -> None:
    """Raise TooLargeError when an array of `shape` would take more than `fraction` of memory."""
    needed = int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
    free = available_bytes()
    if needed > fraction * free:
        raise TooLargeError(
            f"The dense {what} would have shape {shape} and take {format_bytes(needed)}, but "
            f"only {format_bytes(free)} of memory is available. Use sparsity='auto' when the "
            "derivative is sparse, or a matrix-free operator (jachess.operators.Jacobian / "
            "Hessian with jachess.spectral) when it is not."
        )
