"""Plots return Figures holding the expected artists and save non-empty PNGs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.sparse

import jachess
import jachess.plot as jplot
from jachess.cli import main


def himmelblau(v):
    return (v[0] ** 2 + v[1] - 11) ** 2 + (v[0] + v[1] ** 2 - 7) ** 2


def test_landscape_marks_each_point(tmp_path):
    grad = jax.grad(himmelblau)
    maximum = scipy.optimize.root(lambda v: np.asarray(grad(jnp.asarray(v))),
                                  [-0.27, -0.92], tol=1e-14).x  # refine the published digits
    points = [jachess.critical.classify(himmelblau, jnp.array(p)) for p in [(3.0, 2.0), maximum]]
    figure = jplot.landscape(himmelblau, [(-5, 5), (-5, 5)], points)
    ax = figure.axes[0]
    markers = [line for line in ax.lines if line.get_marker() not in (None, "None", "")]
    assert len(markers) == 2
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"minimum", "maximum"}
    figure.savefig(tmp_path / "landscape.png")
    assert (tmp_path / "landscape.png").stat().st_size > 5000


def test_spy_colours_each_class(tmp_path):
    n = 40
    pattern = scipy.sparse.diags_array([np.ones(n - 1), np.ones(n), np.ones(n - 1)],
                                       offsets=[-1, 0, 1]).astype(bool)
    figure = jplot.spy(pattern, np.arange(n) % 3)
    scatter = figure.axes[0].collections[0]
    assert len(scatter.get_offsets()) == pattern.nnz
    assert len({tuple(c) for c in scatter.get_facecolors()}) == 3
    assert "3 column colours" in figure.axes[0].get_title()
    figure.savefig(tmp_path / "spy.png")
    assert (tmp_path / "spy.png").stat().st_size > 2000


def test_spy_checks_colour_length():
    with pytest.raises(jachess.ShapeError, match="one entry per column"):
        jplot.spy(np.eye(3, dtype=bool), [0, 1])


def test_path_draws_iterates(tmp_path):
    iterates = np.array([[-1.2, 1.0], [-1.0, 0.9], [0.0, 0.0], [1.0, 1.0]])
    f = lambda v: (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2  # noqa: E731
    figure = jplot.path(iterates, f, label="newton")
    jplot.path(iterates[::2], f, ax=figure.axes[0], label="other")
    paths = [line for line in figure.axes[0].lines if line.get_gid() == "jachess-path"]
    assert [len(p.get_xdata()) for p in paths] == [4, 2]
    assert paths[0].get_color() != paths[1].get_color()
    figure.savefig(tmp_path / "path.png")
    with pytest.raises(jachess.ShapeError, match=r"shape \(k, 2\)"):
        jplot.path(np.ones((3, 3)), f)


@pytest.mark.parametrize(
    ("expression", "at"),
    [("x**2 - y**2", "x=0.1,y=0"), ("x**4 - x**2", "x=0"), ("r*cos(t), r*sin(t)", "r=2,t=1")],
)
def test_analyze_plot(tmp_path, capsys, expression, at):
    target = tmp_path / "out.png"
    assert main(["analyze", expression, "--at", at, "--plot", str(target)]) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 5000


def test_analyze_plot_refuses_three_variables(tmp_path, capsys):
    assert main(["analyze", "x+y+z", "--plot", str(tmp_path / "p.png")]) == 2
    assert "--plot draws a function of 1 or 2 variables" in capsys.readouterr().err
