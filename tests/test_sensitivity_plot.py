"""Tornado charts: bars ordered by swing, spans equal to the linearised change."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jachess
from jachess.plot._tornado import tornado
from jachess.sensitivity import dgsm, local


def top_to_bottom(ax):
    ticks = ax.get_yticks()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    return [label for _, label in sorted(zip(ticks, labels, strict=True), reverse=True)]


def test_tornado_local_bars_are_the_linearised_swings(tmp_path):
    def f(v):
        return jnp.stack([v[0] * v[1] ** 2 + 3 * v[2], v[0]])

    table = local(f, jnp.array([3.0, 2.0, 0.0]), names=["a", "b", "c"])
    fig = tornado(table, step=0.1)
    ax = fig.axes[0]
    # Swings J·δ with δ = 0.1|x| (0.1 when x = 0): a 0.4·... = 4·0.3 = 1.2, b 12·0.2 = 2.4,
    # c 3·0.1 = 0.3 -> top to bottom b, a, c.
    assert top_to_bottom(ax) == ["b", "a", "c"]
    widths = sorted(abs(p.get_width()) for p in ax.patches)
    np.testing.assert_allclose(widths, [0.3, 0.3, 1.2, 1.2, 2.4, 2.4], rtol=1e-12)
    fig.savefig(tmp_path / "tornado.png")
    assert (tmp_path / "tornado.png").stat().st_size > 1000


def test_tornado_dgsm_and_errors(tmp_path, key):
    result = dgsm(lambda x: x[0] ** 2 + 3 * x[1], lambda k, n: jax.random.normal(k, (n, 2)),
                  200, key=key, names=["p", "q"])
    fig = tornado(result, title="DGSM")
    assert top_to_bottom(fig.axes[0]) == ["q", "p"]  # ν_q = 9 > ν_p = E[(2x)²] = 4
    assert fig.axes[0].get_title() == "DGSM"
    with pytest.raises(jachess.ShapeError, match="sensitivity.local"):
        tornado(np.ones(3))
    with pytest.raises(jachess.OptionError, match="output"):
        tornado(local(lambda x: x, jnp.ones(2)), output=5)
