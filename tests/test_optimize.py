"""minimize / least_squares / root: API contract, errors, and agreement with scipy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from jachess import ConvergenceError, InputDtypeError, NotScalarError, NotSquareError, OptionError
from jachess.optimize import OptimizeResult, Status, least_squares, minimize, root
from problems.bratu import bratu_residual

METHODS = ["newton", "trust-ncg", "trust-exact", "bfgs", "lbfgs"]


def rosen(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


@pytest.mark.parametrize("method", METHODS)
def test_minimize_rosenbrock_pytree(method):
    # x0 as a pytree: the result has its structure and the scipy/analytic minimum (1, 1, 1).
    def f(tree):
        return rosen(jnp.concatenate([tree["a"], tree["b"]]))

    x0 = {"a": jnp.array([-1.2, 1.0]), "b": jnp.array([0.5])}
    result = minimize(f, x0, method=method)
    assert isinstance(result, OptimizeResult)
    assert result.success and result.status is Status.CONVERGED
    assert set(result.x) == {"a", "b"} and result.x["b"].shape == (1,)
    np.testing.assert_allclose(np.concatenate([result.x["a"], result.x["b"]]), 1.0, atol=1e-6)
    assert float(result.fun) < 1e-12
    assert int(result.num_iterations) > 0 and int(result.num_fun) >= int(result.num_iterations)
    if method in ("newton", "trust-exact"):
        assert int(result.num_hess) > 0
    if method == "trust-ncg":
        assert int(result.num_hvp) > 0 and int(result.num_hess) == 0


def test_minimize_newton_escapes_saddle():
    # Started exactly at a saddle's neighbourhood, the modified Newton step descends.
    f = lambda x: x[0] ** 2 - x[1] ** 2 + x[1] ** 4  # noqa: E731
    result = minimize(f, jnp.array([0.3, 1e-3]), method="newton")
    np.testing.assert_allclose(np.abs(np.asarray(result.x)), [0.0, np.sqrt(0.5)], atol=1e-8)


def test_minimize_reports_then_throws():
    result = minimize(rosen, jnp.array([-1.2, 1.0]), method="bfgs", max_iterations=3)
    assert not result.success and result.status is Status.MAX_ITERATIONS
    assert "max_iterations" in result.message and int(result.num_iterations) == 3
    with pytest.raises(ConvergenceError, match="MAX_ITERATIONS"):
        minimize(rosen, jnp.array([-1.2, 1.0]), method="bfgs", max_iterations=3, throw=True)


def test_minimize_does_not_retrace():
    traces = []

    def f(x):
        traces.append(1)
        return jnp.sum((x - 2.0) ** 2)

    minimize(f, jnp.ones(3), method="lbfgs")
    first = len(traces)
    result = minimize(f, jnp.zeros(3), method="lbfgs")
    assert len(traces) == first
    np.testing.assert_allclose(result.x, 2.0)


def test_minimize_errors():
    with pytest.raises(OptionError, match="method"):
        minimize(rosen, jnp.ones(2), method="nelder-mead")
    with pytest.raises(OptionError, match="tol"):
        minimize(rosen, jnp.ones(2), tol=-1.0)
    with pytest.raises(NotScalarError):
        minimize(lambda x: x**2, jnp.ones(2))
    with pytest.raises(InputDtypeError):
        minimize(rosen, np.array([1, 2]))


def test_least_squares_matches_scipy():
    # Exponential fit; reference: scipy.optimize.least_squares (MINPACK lm).
    t = np.linspace(0, 3, 25)
    y = 2.5 * np.exp(-1.3 * t) + 0.5 + 0.01 * np.sin(7 * t)

    def residual_np(p):
        return p[0] * np.exp(-p[1] * t) + p[2] - y

    def residual(p):
        return p[0] * jnp.exp(-p[1] * t) + p[2] - y

    reference = scipy.optimize.least_squares(residual_np, [1.0, 1.0, 0.0], method="lm",
                                             xtol=1e-15, ftol=1e-15, gtol=1e-15)
    for method in ("lm", "gauss-newton"):
        result = least_squares(residual, jnp.array([1.0, 1.0, 0.0]), method=method)
        assert result.success, result.message
        np.testing.assert_allclose(result.x, reference.x, rtol=1e-8)
        np.testing.assert_allclose(result.cost, reference.cost, rtol=1e-10)
        assert result.fun.shape == (25,) and int(result.num_jac) > 0


def test_least_squares_underdetermined_and_errors():
    # m < n: the minimum-norm direction still drives r to zero.
    result = least_squares(lambda x: jnp.array([x[0] + 2 * x[1] - x[2] ** 2 - 3.0]), jnp.ones(3))
    assert result.success and float(result.cost) < 1e-20
    with pytest.raises(OptionError, match="method"):
        least_squares(lambda x: x, jnp.ones(2), method="trf")


@pytest.mark.parametrize("method", ["newton", "newton-krylov"])
def test_root_matches_scipy(method):
    def F(x):
        return jnp.array([x[0] ** 2 + x[1] ** 2 - 4.0, jnp.exp(x[0]) + x[1] - 1.0])

    def F_np(x):
        return [x[0] ** 2 + x[1] ** 2 - 4.0, np.exp(x[0]) + x[1] - 1.0]

    reference = scipy.optimize.root(F_np, [1.0, -1.0], tol=1e-14)
    result = root(F, jnp.array([1.0, -1.0]), method=method)
    assert result.success, result.message
    np.testing.assert_allclose(result.x, reference.x, rtol=1e-10)
    assert float(jnp.max(jnp.abs(result.fun))) <= 1e-10


def test_root_singular_jacobian_start():
    # J(x0) = [[1, 1], [1, 1]] is exactly singular: the Levenberg-Marquardt fallback still
    # reaches a root of x0·x1 = 1, x0 + x1 = 2.5 (the roots are (2, 0.5) and (0.5, 2)).
    result = root(lambda x: jnp.stack([x[0] * x[1] - 1.0, x[0] + x[1] - 2.5]),
                  jnp.array([1.0, 1.0]))
    assert result.success, result.message
    np.testing.assert_allclose(np.sort(np.asarray(result.x)), [0.5, 2.0], rtol=1e-12)


def test_root_errors():
    with pytest.raises(NotSquareError, match="least_squares"):
        root(lambda x: jnp.stack([x[0], x[1], x[0] * x[1]]), jnp.ones(2))
    with pytest.raises(ConvergenceError):
        root(lambda x: x**2 + 1.0, jnp.array([0.5]), throw=True)


def test_result_is_a_pytree():
    result = minimize(rosen, jnp.array([-1.2, 1.0]))
    leaves = jax.tree_util.tree_leaves(result)
    assert any(getattr(leaf, "shape", None) == (2,) for leaf in leaves)
    assert "CONVERGED" in repr(result)




def test_root_sparse_matches_dense_and_given_pattern():
    # 2D Bratu on 12 x 12: the sparse Newton (detected or given pattern) agrees with the
    # dense Newton, and the 5-point stencil pattern is what it uses.
    import scipy.sparse as sp

    N = 12
    F = bratu_residual(N)
    dense = root(F, jnp.zeros(N * N))
    auto = root(F, jnp.zeros(N * N), sparsity="auto")
    T = sp.diags([np.ones(N - 1), np.ones(N), np.ones(N - 1)], [-1, 0, 1])
    pattern = (sp.kron(sp.eye(N), T) + sp.kron(T, sp.eye(N))).astype(bool)
    given = root(F, jnp.zeros(N * N), sparsity=pattern)
    for result in (dense, auto, given):
        assert result.success, result.message
        assert float(jnp.max(jnp.abs(result.fun))) <= 1e-10
    np.testing.assert_allclose(auto.x, dense.x, atol=1e-12)
    np.testing.assert_allclose(given.x, dense.x, atol=1e-12)
    assert int(auto.num_jac) == int(auto.num_iterations)
    with pytest.raises(OptionError, match="newton"):
        root(F, jnp.zeros(N * N), method="newton-krylov", sparsity="auto")


def test_root_sparse_amg_path():
    # n = 5625 >= 5000 takes the pyamg route (optional extra): same root as SuperLU's.
    pytest.importorskip("pyamg")
    from jachess.optimize import _root_sparse

    N = 75
    F = bratu_residual(N)
    amg = root(F, jnp.zeros(N * N), sparsity="auto")
    limit = _root_sparse.AMG_MIN_SIZE
    try:
        _root_sparse.AMG_MIN_SIZE = 10**9
        direct = root(F, jnp.zeros(N * N), sparsity="auto")
    finally:
        _root_sparse.AMG_MIN_SIZE = limit
    assert amg.success and direct.success
    np.testing.assert_allclose(amg.x, direct.x, atol=1e-10)


def test_root_sparse_amg_keeps_one_hierarchy(monkeypatch):
    # The Ruge-Stüben hierarchy is built on the first Jacobian and reused by every
    # Newton step (the finest level takes the current J); each CG solve stays short.
    pyamg = pytest.importorskip("pyamg")
    from jachess.optimize import _root_sparse

    builds, iterations = [], []
    build, pcg = pyamg.ruge_stuben_solver, _root_sparse._pcg

    def counted_build(A, **options):
        builds.append(A.shape)
        return build(A, **options)

    def counted_pcg(*args):
        out = pcg(*args)
        iterations.append(out[1])
        return out

    monkeypatch.setattr(pyamg, "ruge_stuben_solver", counted_build)
    monkeypatch.setattr(_root_sparse, "_pcg", counted_pcg)
    N = 75
    result = root(bratu_residual(N), jnp.zeros(N * N), sparsity="auto")
    assert result.success, result.message
    assert float(jnp.max(jnp.abs(result.fun))) <= 1e-10
    assert builds == [(N * N, N * N)]
    assert len(iterations) == int(result.num_iterations) >= 3
    assert max(iterations) <= 10


def test_root_sparse_without_pyamg_uses_superlu(monkeypatch):
    # The documented fallback: with pyamg missing, every Newton step is one SuperLU solve,
    # and the root is the AMG route's.
    from jachess.optimize import _root_sparse

    N = 75
    F = bratu_residual(N)
    solves = []
    superlu = _root_sparse._superlu

    def counted_superlu(matrix, rhs):
        solves.append(matrix.shape)
        return superlu(matrix, rhs)

    monkeypatch.setattr(_root_sparse, "_pyamg", lambda: None)
    monkeypatch.setattr(_root_sparse, "_superlu", counted_superlu)
    direct = root(F, jnp.zeros(N * N), sparsity="auto")
    assert direct.success, direct.message
    assert len(solves) == int(direct.num_iterations) >= 3
    monkeypatch.undo()
    if _root_sparse._pyamg() is not None:
        amg = root(F, jnp.zeros(N * N), sparsity="auto")
        np.testing.assert_allclose(amg.x, direct.x, atol=1e-10)


def test_root_sparse_nonsymmetric_jacobian_takes_gmres(monkeypatch):
    # Bratu with a convection term: J is not symmetric, so the AMG route must use GMRES
    # (never CG) and still find SuperLU's root.
    pytest.importorskip("pyamg")
    from jachess.optimize import _root_sparse

    N, c = 75, 20.0
    h = 1.0 / (N + 1)
    bratu = bratu_residual(N)

    def F(u):
        P = jnp.pad(u.reshape(N, N), 1)
        return bratu(u) + (0.5 * c * h * (P[2:, 1:-1] - P[:-2, 1:-1])).reshape(-1)

    cg_calls = []
    monkeypatch.setattr(_root_sparse, "_pcg", lambda *args: cg_calls.append(1))
    amg = root(F, jnp.zeros(N * N), sparsity="auto")
    assert amg.success, amg.message
    assert not cg_calls
    monkeypatch.setattr(_root_sparse, "AMG_MIN_SIZE", 10**9)
    direct = root(F, jnp.zeros(N * N), sparsity="auto")
    assert direct.success
    np.testing.assert_allclose(amg.x, direct.x, atol=1e-10)


def test_sparse_newton_forcing_terms():
    # Eisenstat-Walker choice 2 with its safeguard, capped at ETA_MAX, floored so that
    # the step asks for no more than ‖r‖ <= tol / 2.
    from jachess.optimize._root_sparse import ETA_MAX, _forcing

    assert _forcing(1.0, None, 1e-10) == ETA_MAX
    assert _forcing(1e-3, (1.0, 0.1), 1e-10) == pytest.approx(0.9e-6)
    assert _forcing(0.5, (1.0, 0.5), 1e-10) == ETA_MAX
    assert _forcing(1e-9, (1e-5, 1e-3), 1e-10) == pytest.approx(0.05)


def test_least_squares_sparse_matches_dense():
    # Extended Rosenbrock (n = 40) residuals: the sparse LM (detected pattern, LSMR steps)
    # reaches the dense LM's solution (1, ..., 1).
    def residual(x):
        return jnp.stack([10 * (x[1::2] - x[0::2] ** 2), 1 - x[0::2]], axis=1).reshape(-1)

    x0 = jnp.tile(jnp.array([-1.2, 1.0]), 20)
    dense = least_squares(residual, x0)
    sparse = least_squares(residual, x0, sparsity="auto")
    assert dense.success and sparse.success, sparse.message
    np.testing.assert_allclose(sparse.x, dense.x, atol=1e-9)
    np.testing.assert_allclose(sparse.x, 1.0, atol=1e-9)
    assert int(sparse.num_jac) >= 1
    with pytest.raises(OptionError, match="lm"):
        least_squares(residual, x0, method="gauss-newton", sparsity="auto")
