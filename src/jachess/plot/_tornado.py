"""Tornado charts of sensitivities: one horizontal bar per input, largest on top.

For a local table (jachess.sensitivity.local), input j's bar spans the linearised
output f_i(x) + J[i, j]·(±δ_j) when x_j alone moves by δ_j = step·|x_j| (step when
x_j = 0), so bar lengths compare inputs on their own scales. For a DGSM result, bars
are ν_j with their 95% intervals as whiskers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jachess._errors import OptionError, ShapeError
from jachess.plot._common import new_axes


def _new_figure(num_bars: int, ax: Any):
    return new_axes(ax, figsize=(6.4, 1.2 + 0.38 * max(num_bars, 1)))


def _local(table, output: int, step: float, title: str | None, ax: Any):
    m = table.jacobian.shape[0]
    if not (isinstance(output, int | np.integer) and -m <= output < m):
        raise OptionError(f"output must be an index in [0, {m}), but got {output!r}.")
    if not (np.isfinite(step) and step > 0):
        raise OptionError(f"step must be a positive number, but got {step!r}.")
    center = float(table.value[output])
    delta = np.where(table.x != 0, step * np.abs(table.x), step)
    swing = table.jacobian[output] * delta
    order = np.argsort(-np.abs(swing), kind="stable")
    fig, ax = _new_figure(order.size, ax)
    labels = [table.names[j] for j in order]
    positions = np.arange(order.size)[::-1]
    low, high = center - swing[order], center + swing[order]
    ax.barh(positions, high - center, left=center, color="#d62728", label="x_j + δ_j")
    ax.barh(positions, low - center, left=center, color="#1f77b4", label="x_j - δ_j")
    ax.axvline(center, color="black", linewidth=0.8)
    ax.set_yticks(positions, labels)
    ax.set_xlabel(f"{table.output_names[output]} (linearised), δ_j = {step:g}·|x_j|")
    ax.legend(loc="lower right", fontsize="small")
    ax.set_title(title or f"Sensitivity of {table.output_names[output]} = {center:.4g}")
    return fig


def _dgsm(result, title: str | None, ax: Any):
    values = np.asarray(result.values, float)
    order = np.argsort(-values, kind="stable")
    fig, ax = _new_figure(order.size, ax)
    positions = np.arange(order.size)[::-1]
    low = values[order] - np.asarray(result.ci_low, float)[order]
    high = np.asarray(result.ci_high, float)[order] - values[order]
    ax.barh(positions, values[order], xerr=np.stack([low, high]), color="#1f77b4",
            capsize=3)
    ax.set_yticks(positions, [result.names[j] for j in order])
    ax.set_xlabel("ν_j = E[(∂f/∂x_j)²] with 95% interval")
    ax.set_title(title or f"DGSM from {result.num_samples} samples")
    return fig


def tornado(
    result: Any,
    *,
    output: int = 0,
    step: float = 0.1,
    title: str | None = None,
    ax: Any = None,
):
    """A tornado chart of a sensitivity result, as a matplotlib Figure (never shown).

    Args:
        result: a SensitivityTable from jachess.sensitivity.local, or a DGSM result
            from jachess.sensitivity.dgsm.
        output: which output of a local table to plot.
        step: relative move of each input for a local table: δ_j = step·|x_j|.
        title: figure title (a default names the output).
        ax: draw into these matplotlib axes instead of a new figure.

    Returns:
        matplotlib.figure.Figure (Agg canvas); save it with fig.savefig("tornado.png").

    Example:
        >>> fig = tornado(jachess.sensitivity.local(f, x, names=["a", "b"]))
        >>> fig.savefig("tornado.png")
    """
    if hasattr(result, "jacobian") and hasattr(result, "ranking"):
        return _local(result, output, float(step), title, ax)
    if hasattr(result, "values") and hasattr(result, "ci_low"):
        return _dgsm(result, title, ax)
    raise ShapeError(
        "tornado needs a result of jachess.sensitivity.local or jachess.sensitivity.dgsm, "
        f"but got {type(result).__name__}."
    )
