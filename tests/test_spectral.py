"""jachess.spectral against matrices with prescribed spectra (numpy eigh as the reference)
and against jax.hessian in float64. Statistical tests use fixed keys and bounds derived
from the estimators' known variance, never exact numbers.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import jachess
from jachess import spectral
from jachess._errors import NotPositiveDefiniteError, NotSymmetricError
from jachess.operators import Hessian, Jacobian, Matrix

N = 120


def prescribed(eigenvalues, seed=0):
    """A dense symmetric matrix Q diag(λ) Qᵀ with a random orthogonal Q."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(len(eigenvalues), len(eigenvalues))))
    A = (Q * np.asarray(eigenvalues)) @ Q.T
    return (A + A.T) / 2


@pytest.fixture(scope="module")
def indefinite():
    # Well separated ends on both sides, a bulk in [-1, 1].
    ends = [-9.0, -7.0, -5.5, -4.0, 4.5, 6.0, 8.0, 10.0]
    return prescribed(np.concatenate([np.linspace(-1, 1, N - len(ends)), ends]))


@pytest.fixture(scope="module")
def spd():
    # Decaying spectrum on [0.5, 20.5]: trace estimators benefit from low-rank structure.
    return prescribed(0.5 + 20.0 / np.arange(1, N + 1) ** 1.2, seed=1)


@pytest.mark.parametrize("which", ["largest", "smallest", "both"])
def test_eigsh_matches_eigh_to_1e8_with_true_residuals(indefinite, which):
    exact = np.linalg.eigvalsh(indefinite)
    result = spectral.eigsh(Matrix(indefinite), 4, which=which, tol=1e-10)
    expected = {
        "largest": exact[-4:],
        "smallest": exact[:4],
        "both": np.r_[exact[:2], exact[-2:]],
    }[which]
    np.testing.assert_allclose(result.eigenvalues, expected, rtol=1e-8)
    assert bool(np.all(result.converged))
    V = np.asarray(result.eigenvectors)
    assert V.shape == (N, 4)
    true_residuals = np.linalg.norm(indefinite @ V - V * np.asarray(result.eigenvalues), axis=0)
    # Converged means ||A v - θ v|| <= tol |θ|; the estimate must be honest about it.
    assert np.all(true_residuals <= 1e-10 * np.abs(result.eigenvalues) + 1e-12)
    np.testing.assert_allclose(V.T @ V, np.eye(4), atol=1e-10)
    assert 4 < int(result.num_matvecs) <= 80


def test_eigsh_on_a_network_hessian_matches_jax_hessian():
    rng = np.random.default_rng(2)
    params = {"w1": rng.normal(size=(4, 6)), "w2": rng.normal(size=(6, 2))}
    x, t = rng.normal(size=(50, 4)), rng.normal(size=(50, 2))

    def loss(p, batch):
        inputs, targets = batch
        return jnp.mean((jnp.tanh(inputs @ p["w1"]) @ p["w2"] - targets) ** 2)

    flat, unravel = ravel_pytree(params)
    dense = jax.hessian(lambda f: loss(unravel(f), (x, t)))(flat)
    exact = np.linalg.eigvalsh(np.asarray(dense))
    H = Hessian(loss, params, data=(x, t), batch_size=16)
    result = spectral.eigsh(H, 4, which="both", tol=1e-10)
    # A saddle-rich Hessian: both ends to 1e-8 relative.
    np.testing.assert_allclose(result.eigenvalues, np.r_[exact[:2], exact[-2:]], rtol=1e-8)
    V = np.asarray(result.eigenvectors)
    residuals = np.linalg.norm(dense @ V - V * np.asarray(result.eigenvalues), axis=0)
    assert np.all(residuals <= 1e-9 * np.max(np.abs(exact)))


def test_eigsh_warns_and_flags_when_the_budget_is_too_small(indefinite):
    with pytest.warns(UserWarning, match="did not converge"):
        result = spectral.eigsh(Matrix(indefinite), 4, which="largest", tol=1e-10, max_matvecs=6)
    assert not bool(np.all(result.converged))
    assert int(result.num_matvecs) == 6


def test_eigsh_restarts_and_handles_exhausted_small_spaces():
    # Clustered top end forces several thick restarts with a small basis.
    A = prescribed(np.r_[np.linspace(0, 1, 90), [1.1, 1.15, 1.2]], seed=3)
    result = spectral.eigsh(Matrix(A), 2, krylov_size=8, tol=1e-8, max_matvecs=2000)
    np.testing.assert_allclose(result.eigenvalues, [1.15, 1.2], rtol=1e-8)
    assert int(result.num_matvecs) > 8  # it did restart
    # n = k: the Krylov space is the whole space, every pair exact.
    small = spectral.eigsh(Matrix(np.diag([3.0, -1.0, 2.0])), 3)
    np.testing.assert_allclose(small.eigenvalues, [-1.0, 2.0, 3.0], rtol=1e-12)
    assert bool(np.all(small.converged))


def test_eigsh_rejects_bad_arguments(indefinite):
    with pytest.raises(NotSymmetricError, match="symmetric"):
        spectral.eigsh(Jacobian(jnp.sin, np.ones(3)), 1)
    with pytest.raises(jachess.OptionError, match="at most"):
        spectral.eigsh(Matrix(np.eye(3)), 4)
    with pytest.raises(jachess.OptionError, match="which"):
        spectral.eigsh(Matrix(indefinite), 2, which="LM")
    with pytest.raises(jachess.NotSquareError):
        spectral.eigsh(np.ones((3, 2)), 1)


@pytest.mark.parametrize("method", ["xtrace", "hutch++", "hutchinson"])
def test_trace_estimators_unbiased_calibrated_and_improving(spd, method):
    exact = np.trace(spd)
    op = Matrix(spd)

    def runs(num):
        out = [spectral.trace(op, num_matvecs=num, method=method, key=jax.random.key(s))
               for s in range(20)]
        return np.array([float(e.value) for e in out]), np.array([float(e.std_error) for e in out])

    small_values, _small_errors = runs(24)
    large_values, large_errors = runs(96)
    small_rel = np.mean(np.abs(small_values - exact)) / exact
    large_rel = np.mean(np.abs(large_values - exact)) / exact
    # 4x the products: Hutchinson's error halves; the low-rank methods gain more. The
    # bound 0.8 leaves room for the 20-key sampling noise of these means (~20%).
    assert large_rel < 0.8 * small_rel, (small_rel, large_rel)
    # Unbiased: the 20-key mean is within 4 standard errors of the mean of the truth.
    spread = np.std(small_values, ddof=1) / np.sqrt(20)
    assert abs(np.mean(small_values) - exact) < 4 * spread + 1e-9
    # Calibrated standard errors: |error| <= 3 std_error for most keys.
    assert np.mean(np.abs(large_values - exact) <= 3 * large_errors) >= 0.8


def test_trace_exact_budget_early_stop_and_errors(spd):
    op = Matrix(spd)
    exact = spectral.trace(op, num_matvecs=N, key=jax.random.key(0))
    np.testing.assert_allclose(exact.value, np.trace(spd), rtol=1e-12)
    assert float(exact.std_error) == 0.0 and exact.num_matvecs == N
    target = 0.05 * np.trace(spd)  # one probe has std ≈ 0.35 tr: reached near 50 probes
    early = spectral.trace(
        op, num_matvecs=100, method="hutchinson", key=jax.random.key(1), target_std_error=target
    )
    assert early.num_matvecs < 100 and float(early.std_error) <= target
    with pytest.raises(jachess.OptionError, match="key"):
        spectral.trace(op, num_matvecs=10, key=None)
    with pytest.raises(jachess.OptionError, match="hutchinson"):
        spectral.trace(op, num_matvecs=10, key=jax.random.key(0), target_std_error=1.0)


def test_diagonal_estimate_converges_and_is_exact_at_n(spd):
    op = Matrix(spd)
    exact = spectral.diagonal(op, num_matvecs=N, key=jax.random.key(0))
    np.testing.assert_allclose(exact.value, np.diag(spd), rtol=1e-12)
    estimate = spectral.diagonal(op, num_matvecs=60, key=jax.random.key(3))
    # Per entry: variance Σ_{j≠i} A_ij² / 60; 4 standard errors hold for >= 95% entries.
    sigma = np.sqrt((np.sum(spd**2, axis=1) - np.diag(spd) ** 2) / 60)
    assert np.mean(np.abs(np.asarray(estimate.value) - np.diag(spd)) <= 4 * sigma) >= 0.95
    np.testing.assert_allclose(estimate.std_error, sigma, rtol=0.5)


def test_density_matches_the_smoothed_exact_spectrum(indefinite):
    exact = np.linalg.eigvalsh(indefinite)
    sigma = 0.3
    grid = np.linspace(-11, 12, 400)
    result = spectral.density(
        Matrix(indefinite), num_probes=16, num_steps=40, key=jax.random.key(0),
        grid=grid, sigma=sigma,
    )
    reference = np.mean(
        np.exp(-0.5 * ((grid[:, None] - exact[None]) / sigma) ** 2), axis=1
    ) / (sigma * np.sqrt(2 * np.pi))
    l1 = np.trapezoid(np.abs(np.asarray(result.values) - reference), grid)
    assert l1 < 0.1, l1  # L1 distance between two densities (at most 2)
    assert abs(np.trapezoid(result.values, grid) - 1) < 1e-3
    assert result.eigenvalues_estimate.shape == (16, 40)
    # The extreme nodes converge to the extreme eigenvalues.
    np.testing.assert_allclose(np.max(result.eigenvalues_estimate), exact[-1], rtol=1e-6)


def test_logdet_and_condition_number_of_an_spd_matrix(spd):
    exact = np.linalg.slogdet(spd)[1]
    estimate = spectral.logdet(Matrix(spd), num_probes=30, num_steps=30, key=jax.random.key(0))
    # κ = 41: 30 steps make the quadrature bias negligible; the rest is probe noise.
    assert abs(float(estimate.value) - exact) < 4 * float(estimate.std_error) + 1e-6 * abs(exact)
    assert estimate.num_matvecs == 900
    shifted = prescribed(np.r_[np.linspace(2, 3, N - 2), 1.0, 8.0], seed=4)
    eigenvalues = np.linalg.eigvalsh(shifted)
    kappa = spectral.condition_number(Matrix(shifted), tol=1e-10)
    np.testing.assert_allclose(kappa.value, eigenvalues[-1] / eigenvalues[0], rtol=1e-8)
    with pytest.raises(NotPositiveDefiniteError, match="positive definite"):
        spectral.logdet(Matrix(np.diag([1.0, -2.0, 3.0])), num_probes=2, num_steps=3,
                        key=jax.random.key(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        singular = spectral.condition_number(Matrix(np.diag([0.0, 1.0, 2.0])))
    assert np.isinf(float(singular.value))
