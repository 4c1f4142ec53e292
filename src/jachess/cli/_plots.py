"""Pictures for `jachess analyze --plot`: a landscape, a curve or a Jacobian heat map."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jachess._errors import OptionError
from jachess.cli._expression import parse


def analysis_figure(result: dict[str, Any]):
    """The figure that fits `analyze`'s result (see save_analysis_plot)."""
    from jachess.plot import landscape
    from jachess.plot._common import KIND_STYLE, new_axes

    names = result["variables"]
    x = np.asarray(list(result["point"].values()), dtype=float)
    f = parse(result["expression"]).function(tuple(names))
    if "classification" in result and len(names) == 2:
        half = np.maximum(1.0, 0.5 * np.abs(x))
        bounds = [(x[0] - half[0], x[0] + half[0]), (x[1] - half[1], x[1] + half[1])]
        point = _Marked(result["classification"]["kind"], x)
        figure = landscape(f, bounds, [point], names=names)
        figure.axes[0].set_title(f"f = {result['expression']}", fontsize=10)
        return figure
    if "classification" in result and len(names) == 1:
        half = max(1.0, 0.5 * abs(x[0]))
        ts = np.linspace(x[0] - half, x[0] + half, 400)
        ys = np.asarray(jax.vmap(f)(jnp.asarray(ts)[:, None]))
        figure, ax = new_axes()
        ax.plot(ts, ys, color="#1f77b4")
        style = KIND_STYLE[result["classification"]["kind"]]
        ax.plot(x[0], result["value"], linestyle="none", markersize=10,
                markeredgecolor="black", **style)
        ax.legend()
        ax.set_xlabel(names[0])
        ax.set_ylabel("f")
        ax.set_title(f"f = {result['expression']}", fontsize=10)
        return figure
    if "jacobian" in result:
        J = np.asarray(result["jacobian"])
        figure, ax = new_axes()
        bound = float(np.max(np.abs(J))) or 1.0
        image = ax.imshow(J, cmap="RdBu_r", vmin=-bound, vmax=bound)
        ax.set_xticks(range(J.shape[1]), names)
        ax.set_yticks(range(J.shape[0]), [f"f{i}" for i in range(J.shape[0])])
        for (i, j), value in np.ndenumerate(J):
            ax.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize=9,
                    color="white" if abs(value) > 0.6 * bound else "black")
        figure.colorbar(image, ax=ax, label="∂f_i/∂x_j")
        ax.set_title("Jacobian", fontsize=10)
        return figure
    raise OptionError(
        f"--plot draws a function of 1 or 2 variables or a Jacobian; this expression has "
        f"{len(names)} variables. Drop --plot, or fix all but two variables."
    )


class _Marked:
    """A point with a kind, as landscape() expects of a Classification."""

    def __init__(self, kind: str, x: np.ndarray):
        self.kind, self.x = kind, x


def save_analysis_plot(result: dict[str, Any], path: str) -> None:
    """Write the analysis picture to `path` (PNG, SVG or PDF by extension)."""
    analysis_figure(result).savefig(path, dpi=120)
