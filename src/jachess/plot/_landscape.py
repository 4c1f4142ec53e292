"""Contour plot of a function of two variables, with classified points marked by kind."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jachess._errors import ShapeError
from jachess.plot._common import KIND_STYLE, new_axes


def landscape(
    f: Callable,
    bounds: Sequence[tuple[float, float]],
    points: Sequence[Any] = (),
    *,
    resolution: int = 200,
    levels: int = 30,
    names: Sequence[str] = ("x", "y"),
    ax: Any = None,
):
    """Filled contours of f(x, y) over a box, stationary points marked by kind.

    Args:
        f: scalar function of a length-2 array.
        bounds: [(x_lo, x_hi), (y_lo, y_hi)].
        points: Classification objects (from jachess.critical) or plain (x, y) pairs.
        resolution: grid points per axis (f is evaluated vmapped on the grid).
        levels: number of contour levels (spaced by quantiles so valleys show).
        names: axis labels.
        ax: matplotlib axes to draw into (default: a new Figure).

    Returns:
        The matplotlib Figure.
    """
    if len(bounds) != 2:
        raise ShapeError(f"bounds must give two (lo, hi) pairs, but got {len(bounds)}.")
    (x_lo, x_hi), (y_lo, y_hi) = bounds
    xs, ys = np.linspace(x_lo, x_hi, resolution), np.linspace(y_lo, y_hi, resolution)
    X, Y = np.meshgrid(xs, ys)
    grid = jnp.stack([jnp.asarray(X.ravel()), jnp.asarray(Y.ravel())], axis=1)
    Z = np.asarray(jax.jit(jax.vmap(f))(grid)).reshape(X.shape)
    figure, ax = new_axes(ax)
    finite = Z[np.isfinite(Z)]
    if finite.size and np.ptp(finite) > 0:
        contour_levels = np.unique(np.quantile(finite, np.linspace(0, 1, levels)))
        filled = ax.contourf(X, Y, Z, levels=contour_levels, cmap="viridis")
        ax.contour(X, Y, Z, levels=contour_levels, colors="white", linewidths=0.3, alpha=0.5)
        figure.colorbar(filled, ax=ax, label="f", format="%.3g")
    seen = set()
    for point in points:
        kind = getattr(point, "kind", None)
        xy = np.asarray(getattr(point, "x", point), dtype=float).reshape(-1)[:2]
        style = dict(KIND_STYLE.get(kind, dict(marker="*", color="white", label="point")))
        if style["label"] in seen:
            style["label"] = None
        seen.add(style.get("label"))
        ax.plot(*xy, linestyle="none", markersize=10, markeredgecolor="black", **style)
    if seen - {None}:
        ax.legend(loc="upper right", framealpha=0.9)
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    return figure
