"""Shared plotting set-up: figures built without pyplot, so nothing opens a window."""

from __future__ import annotations

from typing import Any

KIND_STYLE = {
    "minimum": dict(marker="o", color="#1b9e77", label="minimum"),
    "maximum": dict(marker="^", color="#d95f02", label="maximum"),
    "saddle": dict(marker="X", color="#7570b3", label="saddle"),
    "degenerate": dict(marker="D", color="#e7298a", label="degenerate"),
    "not critical": dict(marker="o", color="#ffffff", label="not critical"),
}


def new_axes(ax: Any = None, figsize: tuple[float, float] = (6.0, 4.8)):
    """(figure, axes): the given axes' figure, or a new Agg-backed Figure."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "jachess.plot needs matplotlib: pip install 'jachess[plot]'"
        ) from error
    if ax is not None:
        return ax.figure, ax
    figure = Figure(figsize=figsize, layout="constrained")
    return figure, figure.subplots()
