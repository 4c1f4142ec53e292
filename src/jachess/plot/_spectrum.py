"""Spectrum plots: a spectral density with eigenvalues, and eigsh's convergence.

Matplotlib (the `plot` extra) is imported inside each function; figures are built
without pyplot (Agg canvas), returned, never shown or printed.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _new_figure(ncols: int):
    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError("jachess.plot needs matplotlib: pip install 'jachess[plot]'") from error
    figure = Figure(figsize=(5.0 * ncols + 1.0, 4.0), layout="constrained")
    axes = figure.subplots(1, ncols)
    return figure, (list(axes) if ncols > 1 else [axes])


def spectrum(
    density: Any,
    *,
    ax: Any = None,
    eigenvalues: Any = None,
    log: bool = True,
    title: str | None = None,
):
    """Plot a `jachess.spectral.density` result, with optional known eigenvalues.

    Args:
        density: a Density (grid, values, eigenvalues_estimate, ...).
        eigenvalues: optional eigenvalues (e.g. eigsh's) drawn as ticks on the axis.
        log: logarithmic density axis (Hessian spectra are mostly a bulk near 0 with a
            few outliers, invisible on a linear axis).
        ax: draw into these axes instead of a new figure.
        title: axes title.

    Returns:
        matplotlib.figure.Figure.

    Example:
        >>> fig = jachess.plot.spectrum(jachess.spectral.density(H, ...))
        >>> fig.savefig("density.png")
    """
    grid = np.asarray(density.grid)
    values = np.asarray(density.values)
    if ax is None:
        fig, (ax,) = _new_figure(1)
    else:
        fig = ax.figure
    floor = max(values.max(initial=0.0) * 1e-8, np.finfo(float).tiny)
    ax.plot(grid, np.maximum(values, floor) if log else values, color="C0",
            label=f"SLQ density (σ = {density.sigma:.3g})")
    if log:
        ax.set_yscale("log")
    if eigenvalues is not None:
        known = np.ravel(np.asarray(eigenvalues))
        ax.plot(known, np.full(known.shape, floor if log else 0.0), "|", color="C3",
                markersize=14, label="eigenvalues")
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    ax.legend(loc="upper right")
    ax.set_title(title or "Spectral density")
    return fig


def eigenvalue_convergence(result: Any, *, reference: Any = None, title: str | None = None):
    """Plot Ritz values and relative residuals against matvecs for eigsh(..., return_history=True).

    Left: each wanted Ritz value after every product (dashed lines: reference values if
    given). Right: relative residual ||A v - θ v|| / |θ| on a log axis — the quantity
    eigsh's tol bounds.

    Returns:
        matplotlib.figure.Figure.

    Example:
        >>> r = jachess.spectral.eigsh(H, 5, return_history=True)
        >>> jachess.plot.eigenvalue_convergence(r).savefig("convergence.png")
    """
    if getattr(result, "history", None) is None:
        raise ValueError(
            "eigenvalue_convergence needs eigsh(..., return_history=True), but the "
            "result has no history. Rerun eigsh with return_history=True."
        )
    values, residuals = (np.asarray(h) for h in result.history)
    steps = np.arange(1, values.shape[0] + 1)
    fig, (left, right) = _new_figure(2)
    for i in range(values.shape[1]):
        left.plot(steps, values[:, i], color=f"C{i % 10}")
        relative = residuals[:, i] / np.maximum(np.abs(values[:, i]), np.finfo(float).tiny)
        right.semilogy(steps, relative, color=f"C{i % 10}", label=f"θ{i + 1}")
    if reference is not None:
        for i, value in enumerate(np.ravel(np.asarray(reference))):
            left.axhline(value, color=f"C{i % 10}", linestyle="--", linewidth=0.8)
    left.set_xlabel("matvecs")
    left.set_ylabel("Ritz value")
    right.set_xlabel("matvecs")
    right.set_ylabel("relative residual")
    right.legend(loc="upper right", fontsize="small")
    fig.suptitle(title or f"eigsh convergence ({int(result.num_matvecs)} matvecs)")
    return fig
