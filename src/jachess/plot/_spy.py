"""Sparsity pattern, each stored entry coloured by its colour class."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.sparse

from jachess._errors import ShapeError
from jachess.plot._common import new_axes


def class_colors(num: int) -> np.ndarray:
    """`num` distinguishable RGBA colours: tab10, then tab20, then a sampled turbo map."""
    import matplotlib

    if num <= 10:
        return np.asarray(matplotlib.colormaps["tab10"].colors)[: max(num, 1)]
    if num <= 20:
        return np.asarray(matplotlib.colormaps["tab20"].colors)[:num]
    return matplotlib.colormaps["turbo"](np.linspace(0.05, 0.95, num))


def spy(
    pattern: Any,
    colors: Any = None,
    *,
    kind: Literal["column", "row"] = "column",
    markersize: float | None = None,
    ax: Any = None,
):
    """Plot a sparsity pattern; with `colors`, entries take the colour of their class.

    Args:
        pattern: boolean (m, n) pattern, dense or scipy.sparse (e.g. from
            jachess.sparsity.jacobian_pattern).
        colors: integer colour per column (kind="column", star colourings included) or
            per row (kind="row"), as returned by jachess.sparsity.color.
        kind: whether `colors` indexes columns or rows.
        markersize: marker size (default: scaled to the matrix size).
        ax: matplotlib axes to draw into.

    Returns:
        The matplotlib Figure.
    """
    coo = scipy.sparse.coo_array(pattern)
    m, n = coo.shape
    rows, cols = coo.row, coo.col
    figure, ax = new_axes(ax, figsize=(5.5, 5.5 * max(m, 1) / max(n, 1) if n else 5.5))
    size = markersize or max(1.0, min(40.0, 3000.0 / max(m, n, 1)))
    if colors is None:
        ax.scatter(cols, rows, s=size, marker="s", color="#333333", linewidths=0)
        title = f"{coo.nnz} nonzeros"
    else:
        colors = np.asarray(colors)
        expected = n if kind == "column" else m
        if colors.shape != (expected,):
            raise ShapeError(
                f"colors must have one entry per {kind} ({expected}), but got shape "
                f"{colors.shape}."
            )
        classes = colors[cols] if kind == "column" else colors[rows]
        num = int(colors.max()) + 1 if colors.size else 0
        ax.scatter(cols, rows, s=size, marker="s", c=class_colors(num)[classes], linewidths=0)
        title = f"{coo.nnz} nonzeros, {num} {kind} colours"
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(m - 0.5, -0.5)
    ax.set_aspect("equal" if max(m, n) <= 4 * min(m, n, 1e12) else "auto")
    ax.set_xlabel("column (input)")
    ax.set_ylabel("row (output)")
    ax.set_title(title)
    return figure
