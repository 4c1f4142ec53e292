"""slogdet_jacobian "structured", "stochastic" and "auto" against a dense float64
jnp.linalg.slogdet(jax.jacfwd(f)(x)) reference and analytic log-dets."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jachess
from jachess._derivatives._slogdet_methods import choose_method, prepare_structured
from problems.residual_flow import residual_map


@functools.partial(jax.jit, static_argnums=0)
def reference(f, x):
    J = jax.jacfwd(f)(x).reshape(x.size, x.size)
    return jnp.linalg.slogdet(J)


def shifted(x, k):
    """x delayed by k entries (zeros in front): entry i is x[i - k]."""
    return jnp.concatenate([jnp.zeros(k, x.dtype), x[:-k]])


def banded_autoregressive(x):
    """y_i = x_i exp(s_i) + t_i with s, t depending on x_{i-1}, x_{i-2}: bandwidth 2."""
    s = jnp.tanh(0.5 * shifted(x, 1) - 0.3 * shifted(x, 2))
    return x * jnp.exp(s) + jnp.sin(shifted(x, 1))


def block_map(x, blocks=6, size=4):
    A = jnp.sin(jnp.arange(blocks * size * size, dtype=x.dtype)).reshape(blocks, size, size)
    z = x.reshape(blocks, size)
    return (jnp.tanh(jnp.einsum("bij,bj->bi", A, z)) + 1.5 * z).ravel()


def assert_matches(f, x, *, colors=None):
    sign, logdet = reference(f, x)
    result = jachess.slogdet_jacobian(f, x, method="structured")
    assert result.method == "structured"
    assert result.sign == sign
    np.testing.assert_allclose(result.logabsdet, logdet, rtol=1e-12, atol=1e-12)
    assert float(result.std_error) == 0.0
    if colors is not None:
        assert prepare_structured(f, x).num_colors == colors


def test_structured_triangular_needs_bandwidth_plus_one_passes(key):
    x = jax.random.normal(key, (40,))
    assert_matches(banded_autoregressive, x, colors=3)


def test_structured_diagonal_needs_one_pass(key):
    x = jax.random.normal(key, (30,))
    assert_matches(lambda z: jnp.sinh(z) * 2.0 - z**3, x, colors=1)


def test_structured_block_diagonal_uses_the_blocks(key):
    x = jax.random.normal(key, (24,))
    assert_matches(block_map, x, colors=4)
    plan = prepare_structured(block_map, x)
    assert plan.max_block == 4 and plan.block_sizes.size == 6


def test_structured_permuted_triangular(key):
    x = jax.random.normal(key, (40,))
    rows = np.asarray(jax.random.permutation(jax.random.fold_in(key, 1), 40))
    cols = np.asarray(jax.random.permutation(jax.random.fold_in(key, 2), 40))
    assert_matches(lambda z: banded_autoregressive(z[cols])[rows], x, colors=3)
    odd = np.arange(40)
    odd[[0, 1]] = odd[[1, 0]]  # one transposition: the sign flips
    s_even = jachess.slogdet_jacobian(banded_autoregressive, x, method="structured").sign
    s_odd = jachess.slogdet_jacobian(lambda z: banded_autoregressive(z)[odd], x,
                                     method="structured").sign
    assert s_odd == -s_even


def test_structured_block_triangular_with_dense_coupling(key):
    def f(x):
        a, b = x[:5], x[5:]
        return jnp.concatenate([jnp.tanh(a) + 2 * a, b * jnp.exp(jnp.sum(a**2) / 10) + b[::-1]])

    assert_matches(f, jax.random.normal(key, (11,)))


def test_structured_maf_bijector_matches_its_analytic_log_det(key):
    from jachess.density import MaskedAutoregressive

    d = 8
    strict = jnp.tril(jnp.ones((d, d)), -1) * jax.random.normal(key, (d, d))
    layer = MaskedAutoregressive(lambda y: (jnp.sin(strict @ y), 0.3 * jnp.tanh(strict @ y)))
    x = jax.random.normal(jax.random.fold_in(key, 1), (d,))
    result = jachess.slogdet_jacobian(layer.forward, x, method="structured")
    np.testing.assert_allclose(result.logabsdet, layer.forward_log_det_jacobian(x), rtol=1e-10)


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**16), sizes=st.lists(st.integers(1, 3), min_size=1, max_size=4))
def test_structured_random_block_triangular_maps(seed, sizes):
    n = sum(sizes)
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    # Lower block-triangular dependence, then random row and column permutations.
    allowed = (labels[:, None] >= labels[None, :]) & (rng.random((n, n)) < 0.7)
    allowed |= labels[:, None] == labels[None, :]
    weights = np.where(allowed, rng.normal(size=(n, n)), 0.0) + 3 * np.eye(n)
    rows, cols = rng.permutation(n), rng.permutation(n)
    W = jnp.asarray(weights)

    def f(x):
        z = x[cols]
        return (W @ jnp.tanh(z) + z)[rows]

    assert_matches(f, jnp.asarray(rng.normal(size=n)))


def test_singular_jacobians_give_sign_zero_and_minus_infinity():
    # Structurally singular: output 2 and the unused input x[2].
    def f(x):
        return jnp.stack([x[0] * x[1], x[0] + x[1], jnp.sin(x[0])])

    x = jnp.array([0.3, 0.5, 0.7])
    for method in ("dense", "structured"):
        sign, logdet = jachess.slogdet_jacobian(f, x, method=method)
        assert sign == 0 and logdet == -np.inf
    # Numerically singular at this x only: d/dx x³ = 0 at 0.
    sign, logdet = jachess.slogdet_jacobian(lambda z: z**3, jnp.array([1.0, 0.0, 2.0]),
                                            method="structured")
    assert sign == 0 and logdet == -np.inf


def test_non_square_maps_are_refused_by_every_method(key):
    for method in ("auto", "dense", "structured", "stochastic"):
        with pytest.raises(jachess.NotSquareError, match="square"):
            jachess.slogdet_jacobian(lambda z: z[:2], jnp.ones(3), method=method, key=key)


def test_structured_is_prepared_once_and_jit_grad_pass_through(key):
    traces = []

    def f(x):
        traces.append(1)
        return banded_autoregressive(x)

    x = jax.random.normal(key, (20,))
    jachess.slogdet_jacobian(f, x, method="structured")
    count = len(traces)
    jachess.slogdet_jacobian(f, x + 1.0, method="structured")
    assert len(traces) == count  # neither detection nor compilation ran again

    def logdet(z):
        return jachess.slogdet_jacobian(banded_autoregressive, z, method="structured").logabsdet

    def dense_logdet(z):
        return reference(banded_autoregressive, z)[1]

    np.testing.assert_allclose(jax.jit(jax.grad(logdet))(x), jax.grad(dense_logdet)(x),
                               rtol=1e-10, atol=1e-12)




def test_stochastic_is_within_its_error_bar(key):
    n = 200
    f = residual_map(n, key, 0.7)
    x = jax.random.normal(jax.random.fold_in(key, 1), (n,))
    _, exact = reference(f, x)
    result = jachess.slogdet_jacobian(f, x, method="stochastic", key=key, num_probes=40,
                                      num_steps=30)
    assert result.method == "stochastic" and np.isnan(result.sign)
    assert 0 < float(result.std_error) < 0.05 * abs(float(exact))
    assert abs(float(result.logabsdet - exact)) < 4 * float(result.std_error)


def test_stochastic_needs_a_key_and_no_transform():
    f = residual_map(16, jax.random.key(1), 0.7)
    with pytest.raises(jachess.OptionError, match="explicit PRNG key"):
        jachess.slogdet_jacobian(f, jnp.ones(16), method="stochastic")
    with pytest.raises(jachess.OptionError, match="cannot be traced"):
        jax.jit(lambda z: jachess.slogdet_jacobian(f, z, method="stochastic",
                                                   key=jax.random.key(0)).logabsdet)(jnp.ones(16))
    with pytest.raises(jachess.OptionError, match="num_probes"):
        jachess.slogdet_jacobian(f, jnp.ones(16), method="dense", num_probes=3)


def test_auto_chooses_by_size_and_structure(key, monkeypatch):
    # Thresholds lowered (dense up to 8, stochastic from 64) so the test stays small;
    # the logic is the one used at the default sizes (256 and 4096).
    from jachess._derivatives import _slogdet_methods

    monkeypatch.setattr(_slogdet_methods, "AUTO_DENSE_MAX", 8)
    monkeypatch.setattr(_slogdet_methods, "AUTO_STOCHASTIC_MIN", 64)
    assert jachess.slogdet_jacobian(banded_autoregressive, jnp.ones(6)).method == "dense"
    x = jax.random.normal(key, (96,))
    banded = jachess.slogdet_jacobian(banded_autoregressive, x[:40])
    assert banded.method == "structured"
    np.testing.assert_allclose(banded.logabsdet, reference(banded_autoregressive, x[:40])[1],
                               rtol=1e-12)
    residual = residual_map(48, key, 0.7)
    # fft has no sparsity rule: detection says so and stays conservative (dense).
    with pytest.warns(UserWarning, match="fft"):
        assert jachess.slogdet_jacobian(residual, x[:48]).method == "dense"
    big = residual_map(96, key, 0.7)
    with pytest.warns(UserWarning, match="fft"):
        assert choose_method(big, x, key) == "stochastic"
    with pytest.raises(jachess.OptionError, match="key=jax.random.key"):
        jachess.slogdet_jacobian(big, x)


def test_structured_sizes_zero_and_one():
    empty = jachess.slogdet_jacobian(lambda z: 2 * z, jnp.zeros(0), method="structured")
    assert empty.sign == 1 and empty.logabsdet == 0  # det of a 0 x 0 matrix is 1
    one = jachess.slogdet_jacobian(lambda z: -3 * z**3, jnp.ones(1), method="structured")
    assert one.sign == -1
    np.testing.assert_allclose(one.logabsdet, np.log(9.0), rtol=1e-15)


def test_stochastic_reports_an_exactly_singular_jacobian(key):
    mask = jnp.ones(50).at[3].set(0.0)
    result = jachess.slogdet_jacobian(lambda z: jnp.tanh(z) * mask, jnp.full(50, 0.3),
                                      method="stochastic", key=key)
    assert result.sign == 0 and result.logabsdet == -np.inf
