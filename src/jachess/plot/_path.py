"""An optimiser's iterates drawn over the contours of a 2-variable function."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from jachess._errors import ShapeError
from jachess.plot._landscape import landscape

# bright on viridis
PATH_COLORS = ("#ff7f0e", "#ffffff", "#e41a1c", "#f781bf", "#00e5ff", "#ffff33")


def path(
    iterates: Any,
    f: Callable,
    *,
    bounds: Sequence[tuple[float, float]] | None = None,
    label: str | None = None,
    ax: Any = None,
):
    """Draw iterates x_0, x_1, ... as a line over the contours of f.

    Args:
        iterates: array of shape (k, 2), or an optimisation result with an
            `iterates` attribute of that shape.
        f: the scalar function of a length-2 array that was minimised.
        bounds: plot box; default: the iterates' range padded by 20%.
        label: legend text for the path.
        ax: axes to draw into; draw several paths by passing the same axes.

    Returns:
        The matplotlib Figure.
    """
    points = np.asarray(getattr(iterates, "iterates", iterates), dtype=float)
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] == 0:
        raise ShapeError(
            f"iterates must have shape (k, 2) for a 2-variable path, but got {points.shape}."
        )
    if bounds is None:
        lo, hi = points.min(axis=0), points.max(axis=0)
        pad = np.maximum(0.2 * (hi - lo), 0.5)
        bounds = list(zip(lo - pad, hi + pad))
    if ax is None:
        figure = landscape(f, bounds)
        ax = figure.axes[0]
    figure = ax.figure
    drawn = sum(1 for line in ax.lines if line.get_gid() == "jachess-path")
    color = PATH_COLORS[drawn % len(PATH_COLORS)]
    line = ax.plot(points[:, 0], points[:, 1], "-o", markersize=3, linewidth=1.8, color=color,
                   label=label or f"{len(points) - 1} steps", gid="jachess-path")[0]
    ax.plot(*points[0], "s", color=line.get_color(), markersize=8, markeredgecolor="black")
    ax.plot(*points[-1], "*", color=line.get_color(), markersize=14, markeredgecolor="black")
    ax.legend(loc="upper right", framealpha=0.9)
    return figure
