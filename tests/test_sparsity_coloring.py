"""Colourings: valid by construction (a colouring is valid iff decompression of the
compressed product reproduces the matrix exactly), optimal counts on standard patterns
(5 for the 2-D 5-point stencil, 3 for tridiagonal: the largest row count is a lower
bound and is reached), and 3 passes on the arrowhead by bicolouring."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from jachess._errors import OptionError, ShapeError
from jachess.sparsity import bicolor, color
from jachess.sparsity._coloring import star_decompression
from jachess.sparsity._decompression import bicolor_source


def random_pattern(seed, m, n, density):
    rng = np.random.default_rng(seed)
    return rng.random((m, n)) < density


def values_on(pattern, seed):
    rng = np.random.default_rng(seed + 1)
    return np.where(pattern, rng.normal(size=pattern.shape), 0.0)


def seeds(colors):
    k = int(colors.max()) + 1 if colors.size else 0
    return (colors[:, None] == np.arange(k)[None, :]).astype(float)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 30), st.integers(1, 30), st.floats(0.0, 0.5))
def test_column_and_row_colorings_decompress_exactly(seed, m, n, density):
    pattern = random_pattern(seed, m, n, density)
    a = values_on(pattern, seed)
    cols = color(pattern, "column")
    assert cols.shape == (n,) and cols.min() >= 0
    compressed = a @ seeds(cols)  # one JVP per colour
    rows, cc = np.nonzero(pattern)
    recovered = np.zeros_like(a)
    recovered[rows, cc] = compressed[rows, cols[cc]]
    assert np.array_equal(recovered, a)
    row_colors = color(sp.csr_array(pattern), "row")
    compressed = seeds(row_colors).T @ a  # one VJP per colour
    recovered = np.zeros_like(a)
    recovered[rows, cc] = compressed[row_colors[rows], cc]
    assert np.array_equal(recovered, a)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 30), st.floats(0.0, 0.4))
def test_star_coloring_recovers_symmetric_matrices_directly(seed, n, density):
    half = random_pattern(seed, n, n, density)
    pattern = half | half.T | np.eye(n, dtype=bool)
    a = values_on(pattern, seed)
    a = a + a.T
    colors = color(pattern, "star")
    compressed = a @ seeds(colors)  # one HVP per colour
    read_row, read_color = star_decompression(sp.csr_array(pattern), colors)
    rows, cols = np.nonzero(pattern)
    recovered = np.zeros_like(a)
    recovered[rows, cols] = compressed[read_row, read_color]
    assert np.array_equal(recovered, a)


def stencil(k):
    band = sp.diags_array([np.ones(k - 1), np.ones(k), np.ones(k - 1)], offsets=[-1, 0, 1])
    eye = sp.eye_array(k)
    return sp.csr_array((sp.kron(eye, band) + sp.kron(band, eye)) != 0)


@pytest.mark.parametrize("k", [4, 10, 32, 100])
def test_five_point_stencil_gets_the_optimal_five_colors(k):
    colors = color(stencil(k), "column")
    assert colors.max() + 1 == 5
    assert color(stencil(k), "star").max() + 1 <= 5


def test_banded_patterns_reach_their_lower_bound():
    n = 1000
    tri = sp.diags_array([np.ones(n - 1), np.ones(n), np.ones(n - 1)], offsets=[-1, 0, 1])
    assert color(tri, "column").max() + 1 == 3
    assert color(tri, "row").max() + 1 == 3
    assert color(tri, "star").max() + 1 == 3
    penta = sp.diags_array([np.ones(n - abs(d)) for d in range(-2, 3)], offsets=range(-2, 3))
    assert color(penta, "column").max() + 1 == 5


def arrowhead(n):
    a = np.eye(n, dtype=bool)
    a[0, :] = a[:, 0] = True
    return a


def test_arrowhead_needs_three_passes_by_bicoloring():
    pattern = sp.csr_array(arrowhead(300))
    assert color(pattern, "column").max() + 1 == 300
    assert color(pattern, "star").max() + 1 == 2
    bi = bicolor(pattern)
    assert bi.num_passes == 3
    a = values_on(arrowhead(300), 7)
    column_seeds = (bi.column_colors[None, :] == np.arange(bi.column_colors.max() + 1)[:, None])
    row_seeds = (bi.row_colors[None, :] == np.arange(bi.row_colors.max() + 1)[:, None])
    flat = np.concatenate([(a @ column_seeds.T).T.ravel(), (row_seeds @ a).ravel()])
    data = flat[bicolor_source(pattern, bi)]
    rows, cols = np.nonzero(arrowhead(300))
    assert np.array_equal(data, a[rows, cols])


def test_random_three_sparse_map_beats_asdex_seven_colors():
    n = 2000
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(n), 3)
    pattern = sp.csr_array((np.ones(3 * n, bool), (rows, rng.integers(0, n, 3 * n))), shape=(n, n))
    assert color(pattern, "column").max() + 1 <= 7


def test_edge_cases_and_errors():
    assert color(np.zeros((3, 4), bool), "column").tolist() == [0, 0, 0, 0]
    assert color(np.zeros((0, 0), bool), "star").shape == (0,)
    assert color(np.ones((1, 1), bool), "row").tolist() == [0]
    with pytest.raises(OptionError, match="kind"):
        color(np.eye(2), "diagonal")
    with pytest.raises(ShapeError, match="square"):
        color(np.ones((2, 3), bool), "star")
    with pytest.raises(ShapeError, match="2-D"):
        color(np.ones(3, bool), "column")


def test_column_colouring_of_a_complete_conflict_graph():
    """Every pair of columns shares a row (the edge incidence of K_n): n colours, no crash."""
    import itertools

    import numpy as np
    import scipy.sparse as sp

    from jachess.sparsity import color

    n = 300
    edges = np.array(list(itertools.combinations(range(n), 2)))
    rows = np.repeat(np.arange(len(edges)), 2)
    pattern = sp.csr_array((np.ones(rows.size, bool), (rows, edges.ravel())),
                           shape=(len(edges), n))
    colors = color(pattern, "column")
    assert sorted(colors) == list(range(n))
