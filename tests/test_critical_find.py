"""critical.find: every stationary point in a box, checked against independent references.

Himmelblau: the 9 published stationary points (4 minima, 1 maximum, 4 saddles).
Six-hump camel in [-3, 3] x [-2, 2]: the reference is built here with hand-written
NumPy gradients and Hessians, scipy.optimize.root from every node of a 61 x 41 grid,
deduplicated and classified by the signs of the hand-written Hessian's eigenvalues.
"""

from __future__ import annotations

import collections

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from jachess import OptionError, ShapeError
from jachess.critical import Classification, find


def himmelblau(v):
    return (v[0] ** 2 + v[1] - 11) ** 2 + (v[0] + v[1] ** 2 - 7) ** 2


def camel(v):
    x, y = v[0], v[1]
    return (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2


def camel_grad(v):
    x, y = v
    return np.array([8 * x - 8.4 * x**3 + 2 * x**5 + y, x - 8 * y + 16 * y**3])


def camel_hess(v):
    x, y = v
    return np.array([[8 - 25.2 * x**2 + 10 * x**4, 1.0], [1.0, -8 + 48 * y**2]])


def _camel_reference():
    points = []
    for x in np.linspace(-3, 3, 61):
        for y in np.linspace(-2, 2, 41):
            sol = scipy.optimize.root(camel_grad, [x, y], jac=camel_hess, tol=1e-13)
            z = sol.x
            inside = abs(z[0]) <= 3 and abs(z[1]) <= 2
            if sol.success and inside and np.linalg.norm(camel_grad(z)) < 1e-9:
                if all(np.linalg.norm(z - p) > 1e-6 for p in points):
                    points.append(z)
    kinds = []
    for z in points:
        lam = np.linalg.eigvalsh(camel_hess(z))
        kinds.append("minimum" if lam[0] > 0 else "maximum" if lam[1] < 0 else "saddle")
    return np.array(points), kinds


# Published (Himmelblau 1972; e.g. Wikipedia's list): minima, maximum, saddles.
HIMMELBLAU = {
    "minimum": [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186),
                (3.584428, -1.848126)],
    "maximum": [(-0.270845, -0.923039)],
    "saddle": [(3.385154, 0.073852), (0.086678, 2.884255), (-3.073026, -0.081353),
               (-0.127961, -1.953715)],
}


def test_himmelblau_all_nine():
    points = find(himmelblau, [(-5, 5), (-5, 5)])
    assert all(isinstance(p, Classification) for p in points)
    assert collections.Counter(p.kind for p in points) == {"minimum": 4, "maximum": 1, "saddle": 4}
    for kind, published in HIMMELBLAU.items():
        found = np.array([np.asarray(p.x) for p in points if p.kind == kind])
        for q in published:
            assert np.min(np.linalg.norm(found - np.array(q), axis=1)) < 1e-5, (kind, q)
    for p in points:
        assert p.gradient_norm < 1e-8
        if p.kind == "saddle":
            assert p.escape_direction is not None
    assert points[0].kind == "minimum"


def test_six_hump_camel_matches_grid_scipy_reference():
    reference, kinds = _camel_reference()
    assert collections.Counter(kinds) == {"minimum": 6, "maximum": 2, "saddle": 7}
    points = find(camel, [(-3, 3), (-2, 2)])
    assert len(points) == len(reference) == 15
    for z, kind in zip(reference, kinds):
        distances = [np.linalg.norm(np.asarray(p.x) - z) for p in points]
        best = int(np.argmin(distances))
        assert distances[best] < 1e-7
        assert points[best].kind == kind
    minima = sorted(p.value for p in points if p.kind == "minimum")
    np.testing.assert_allclose(minima[0], -1.0316284534898774, rtol=1e-12)


def test_find_one_dimensional_and_reproducible(key):
    # sin on [0, 12]: maxima at π/2 + 2kπ, minima at 3π/2 + 2kπ -> 4 points in the box.
    f = lambda v: jnp.sin(v[0])  # noqa: E731
    points = find(f, [(0.0, 12.0)], key=key, num_starts=64)
    xs = sorted(float(p.x[0]) for p in points)
    np.testing.assert_allclose(xs, [np.pi / 2, 3 * np.pi / 2, 5 * np.pi / 2, 7 * np.pi / 2],
                               atol=1e-9)
    again = find(f, [(0.0, 12.0)], key=key, num_starts=64)
    assert [p.kind for p in again] == [p.kind for p in points]


def test_find_errors():
    with pytest.raises(ShapeError, match="bounds"):
        find(himmelblau, [-5, 5])
    with pytest.raises(OptionError, match="lo < hi"):
        find(himmelblau, [(5, -5), (0, 1)])
    with pytest.raises(OptionError, match="num_starts"):
        find(himmelblau, [(-5, 5), (-5, 5)], num_starts=0)


def test_classify_large_uses_lanczos():
    # n = 2500 > 2000: extreme eigenvalues by Lanczos; diagonal Hessians with known spectra.
    from jachess.critical import classify

    n = 2500
    d = jnp.linspace(1.0, 10.0, n)
    minimum = classify(lambda x: 0.5 * jnp.sum(d * x**2), jnp.zeros(n))
    assert minimum.kind == "minimum" and minimum.inertia == (n, 0, 0)
    np.testing.assert_allclose(minimum.eigenvalues[[0, -1]], [1.0, 10.0], rtol=1e-6)
    np.testing.assert_allclose(minimum.condition_number, 10.0, rtol=1e-6)
    d2 = d.at[7].set(-3.0)
    saddle = classify(lambda x: 0.5 * jnp.sum(d2 * x**2), jnp.zeros(n))
    assert saddle.kind == "saddle"
    assert int(np.argmax(np.abs(saddle.escape_direction))) == 7
