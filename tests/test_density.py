"""Bijectors: analytic log-dets against a dense float64 slogdet of jax.jacfwd, inverses,
pytree behaviour, and pushforward under jit / vmap / grad."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jachess
from jachess.density import (
    Affine,
    AffineCoupling,
    Chain,
    MaskedAutoregressive,
    Permutation,
    Planar,
    Sigmoid,
    Softplus,
    Tanh,
    pushforward,
)
from jachess.density._bijector import AbstractBijector

D = 5


def mlp(params, z):
    """A small network z -> (shift, log_scale); parameters make it a pytree via Partial."""
    h = jnp.tanh(params["w1"] @ z + params["b1"])
    out = params["w2"] @ h + params["b2"]
    return out[: z.shape[0]], 0.5 * jnp.tanh(out[z.shape[0]:])


def mlp_params(key, d, hidden=8):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    return {
        "w1": jax.random.normal(k1, (hidden, d)) / math.sqrt(d),
        "b1": 0.1 * jax.random.normal(k2, (hidden,)),
        "w2": jax.random.normal(k3, (2 * d, hidden)) / math.sqrt(hidden),
        "b2": 0.1 * jax.random.normal(k4, (2 * d,)),
    }


def autoregressive_conditioner(key, d):
    """(shift, log_scale) whose entry i depends only on y_0..y_{i-1} (strictly lower)."""
    k1, k2, k3 = jax.random.split(key, 3)
    strict = jnp.tril(jnp.ones((d, d)), -1)
    a = strict * jax.random.normal(k1, (d, d))
    c = strict * jax.random.normal(k2, (d, d))
    bias = 0.1 * jax.random.normal(k3, (d,))

    def conditioner(y):
        return jnp.sin(a @ y) + bias, 0.5 * jnp.tanh(c @ y)

    return conditioner


def make(name, key):
    k1, k2, k3 = jax.random.split(key, 3)
    if name == "affine":
        return Affine(jax.random.normal(k1, (D,)), jax.random.uniform(k2, (D,), minval=-2,
                                                                       maxval=2) + 0.1)
    if name == "affine_scalar":
        return Affine(0.3, -1.7)
    if name == "softplus":
        return Softplus()
    if name == "sigmoid":
        return Sigmoid()
    if name == "tanh":
        return Tanh()
    if name == "permutation":
        return Permutation(jnp.array([3, 0, 4, 1, 2]))
    if name == "coupling":
        mask = jnp.arange(D) % 2 == 0
        return AffineCoupling(mask, jax.tree_util.Partial(mlp, mlp_params(k1, D)))
    if name == "maf":
        return MaskedAutoregressive(autoregressive_conditioner(k1, D))
    if name == "planar":
        return Planar(jax.random.normal(k1, (D,)), jax.random.normal(k2, (D,)), 0.3)
    if name == "planar_constrained":
        w = jax.random.normal(k2, (D,))
        return Planar.constrained(-3.0 * w, w, -0.2)  # wᵀu = -3‖w‖² < -1 before the fix
    if name == "chain":
        return Chain([
            make("affine", k1), make("coupling", k2), make("permutation", k3),
            make("maf", k3), make("planar_constrained", k1), make("tanh", k1),
        ])
    raise AssertionError(name)


NAMES = ["affine", "affine_scalar", "softplus", "sigmoid", "tanh", "permutation", "coupling",
         "maf", "planar", "planar_constrained", "chain"]


def reference_logdet_matrix(f, x):
    J = jax.jacfwd(f)(x).reshape(x.size, x.size)
    return jnp.linalg.slogdet(J)


@functools.partial(jax.jit, static_argnames="full")
def evaluate(bijector, x, full=True):
    """Everything the checks need, in one compiled program (eager dispatch is slow)."""
    y, log_det = bijector.forward_and_log_det(x)
    x_back, inverse_log_det = bijector.inverse_and_log_det(y)
    out = {
        "y": y,
        "log_det": log_det,
        "reference": reference_logdet_matrix(bijector.forward, x),
        "x_back": x_back,
        "inverse_log_det": inverse_log_det,
        "inverse_reference": reference_logdet_matrix(bijector.inverse, y),
    }
    if full:  # the single-purpose methods and jachess's own slogdet
        out.update(forward=bijector.forward(x), inverse=bijector.inverse(y),
                   forward_log_det=bijector.forward_log_det_jacobian(x),
                   jachess=jachess.slogdet_jacobian(bijector.forward, x, method="dense"))
    return out


def check_bijector(bijector, x, rtol=1e-10, full=True):
    r = evaluate(bijector, x, full=full)
    sign, ref = r["reference"]
    assert sign != 0
    np.testing.assert_allclose(r["log_det"], ref, rtol=rtol, atol=1e-12)
    if full:
        np.testing.assert_allclose(r["forward"], r["y"], rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(r["forward_log_det"], ref, rtol=rtol, atol=1e-12)
        # jachess's own exact log|det J| agrees too.
        np.testing.assert_allclose(r["jachess"].logabsdet, ref, rtol=1e-12, atol=1e-12)
        assert r["jachess"].sign == sign
        np.testing.assert_allclose(r["inverse"], x, rtol=1e-9, atol=1e-10)
    # Inverse: round trip, and its log-det is minus the forward one (and the reference).
    np.testing.assert_allclose(r["x_back"], x, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(r["inverse_log_det"], -r["log_det"], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(r["inverse_log_det"], r["inverse_reference"][1], rtol=1e-8,
                               atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_log_dets_match_dense_reference_and_inverses_round_trip(name, key):
    check_bijector(make(name, key), jax.random.normal(jax.random.fold_in(key, 1), (D,)))


def test_elementwise_bijectors_sum_over_any_sample_shape(key):
    x = jax.random.normal(key, (3, 4))
    for bijector in (Affine(jnp.ones(4), jnp.linspace(0.5, 2.0, 4)), Softplus()):
        y, log_det = bijector.forward_and_log_det(x)
        assert y.shape == x.shape and log_det.shape == ()
        check_bijector(bijector, x, full=False)


def test_elementwise_log_dets_are_stable_in_the_tails():
    x = jnp.array([-40.0, 40.0])
    _, tanh_log_det = Tanh().forward_and_log_det(x)
    np.testing.assert_allclose(tanh_log_det, 2 * (2 * math.log(2) - 80), rtol=1e-12)
    _, sigmoid_log_det = Sigmoid().forward_and_log_det(x)
    np.testing.assert_allclose(sigmoid_log_det, -80.0, rtol=1e-12)
    assert np.isfinite(Softplus().forward_and_log_det(x)[1])


@settings(max_examples=2, deadline=None)
@given(d=st.integers(1, 6), seed=st.integers(0, 2**16), bits=st.integers(0, 63))
def test_coupling_and_planar_any_dimension(d, seed, bits):
    key = jax.random.key(seed)
    mask = jnp.array([(bits >> i) & 1 == 1 for i in range(d)])
    x = jax.random.normal(jax.random.fold_in(key, 7), (d,))
    coupling = AffineCoupling(mask, jax.tree_util.Partial(mlp, mlp_params(key, d)))
    k1, k2 = jax.random.split(key)
    planar = Planar.constrained(jax.random.normal(k1, (d,)), jax.random.normal(k2, (d,)), 0.1)
    check_bijector(Chain([coupling, planar]), x, rtol=1e-9, full=False)


def test_coupling_passes_the_masked_entries_unchanged(key):
    bijector = make("coupling", key)
    x = jax.random.normal(key, (D,))
    y = bijector.forward(x)
    mask = np.arange(D) % 2 == 0
    np.testing.assert_array_equal(y[mask], x[mask])
    assert not np.allclose(y[~mask], x[~mask])


def test_planar_constrained_is_invertible_and_unconstrained_condition_documented(key):
    w = jnp.array([1.0, 0.0])
    bijector = Planar.constrained(jnp.array([-5.0, 0.0]), w, 0.0)
    assert float(jnp.dot(bijector.w, bijector.u)) > -1.0
    alphas = jnp.linspace(-5, 5, 101)
    ys = jax.vmap(lambda a: bijector.forward(jnp.array([a, 0.0])))(alphas)
    assert np.all(np.diff(np.asarray(ys[:, 0])) > 0)  # monotone, hence a bijection


def test_chain_applies_the_last_bijector_first():
    chain = Chain([Affine(1.0, 2.0), Tanh()])
    x = jnp.array([0.3, -0.4])
    np.testing.assert_allclose(chain.forward(x), 1.0 + 2.0 * jnp.tanh(x), rtol=1e-15)


def small_chain(key):
    return Chain([make("affine", key), make("coupling", key), make("permutation", key),
                  make("planar_constrained", key)])


def test_bijectors_are_pytrees_that_jit_and_grad_see_through(key):
    flow = small_chain(key)
    leaves = jax.tree_util.tree_leaves(flow)
    assert len(leaves) == 2 + 4 + 3 and all(isinstance(a, jax.Array) for a in leaves)
    rebuilt = jax.tree_util.tree_map(lambda a: a, flow)
    assert isinstance(rebuilt, Chain) and isinstance(rebuilt.bijectors[1], AffineCoupling)
    x = jax.random.normal(key, (D,))
    np.testing.assert_allclose(jax.jit(lambda b, z: b.forward(z))(flow, x), flow.forward(x),
                               rtol=1e-12)

    @jax.jit
    def loss(b):
        return b.forward_log_det_jacobian(x)

    grads = jax.jit(jax.grad(loss))(flow)
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(flow)
    # Directional derivative of the log-det along the gradient, by finite differences.
    step = 1e-6
    moved = jax.tree_util.tree_map(lambda p, g: p + step * g, flow, grads)
    back = jax.tree_util.tree_map(lambda p, g: p - step * g, flow, grads)
    fd = (loss(moved) - loss(back)) / (2 * step)
    squared = sum(float(jnp.sum(g * g)) for g in jax.tree_util.tree_leaves(grads))
    np.testing.assert_allclose(fd, squared, rtol=1e-6)


def test_plain_function_conditioner_is_static(key):
    coupling = AffineCoupling(jnp.array([True, False]), lambda z: (z[::-1], z[::-1]))
    assert jax.tree_util.tree_leaves(coupling) == []
    y = jax.jit(lambda b, z: b.forward(z))(coupling, jnp.array([1.0, 2.0]))
    np.testing.assert_allclose(y, [1.0, 2.0 * math.e + 1.0], rtol=1e-14)


def standard_normal(x):
    return jnp.sum(jax.scipy.stats.norm.logpdf(x))


def test_pushforward_affine_is_a_gaussian():
    log_prob = pushforward(standard_normal, Affine(jnp.array([1.0, -2.0]), jnp.array([2.0, 0.5])))
    y = jnp.array([0.7, -1.1])
    expected = jax.scipy.stats.norm.logpdf(0.7, 1.0, 2.0) + jax.scipy.stats.norm.logpdf(
        -1.1, -2.0, 0.5)
    np.testing.assert_allclose(log_prob(y), expected, rtol=1e-13)


@pytest.mark.parametrize("bijector", [Sigmoid(), Tanh(), Softplus(), Planar.constrained(
    jnp.array([0.8]), jnp.array([1.5]), 0.2)], ids=["sigmoid", "tanh", "softplus", "planar"])
def test_pushforward_density_integrates_to_one(bijector):
    # Integrate p_Y over y = f(x) on a fine x grid: ∫ p_Y(y) dy = ∫ p_Y(f(x)) f'(x) dx.
    log_prob = jax.vmap(pushforward(standard_normal, bijector))
    xs = jnp.linspace(-12.0, 12.0, 40001)[:, None]
    ys = jax.vmap(bijector.forward)(xs)
    dy = jnp.exp(jax.vmap(bijector.forward_log_det_jacobian)(xs))
    total = jnp.trapezoid(jnp.exp(log_prob(ys)) * dy, xs[:, 0])
    np.testing.assert_allclose(total, 1.0, rtol=1e-7)


class Sinh:
    """Not a jachess bijector: only forward and inverse, no log-det method."""

    def forward(self, x):
        return jnp.sinh(x)

    def inverse(self, y):
        return jnp.arcsinh(y)


def test_pushforward_computes_the_log_det_when_the_bijector_has_none(key):
    log_prob = pushforward(standard_normal, Sinh())
    ys = jax.random.normal(key, (7, 3))

    def analytic(y):
        x = jnp.arcsinh(y)
        return standard_normal(x) - jnp.sum(jnp.log(jnp.cosh(x)))

    batched = jax.jit(jax.vmap(log_prob))(ys)
    np.testing.assert_allclose(batched, jax.vmap(analytic)(ys), rtol=1e-12)
    np.testing.assert_allclose(jax.jit(jax.grad(log_prob))(ys[0]), jax.grad(analytic)(ys[0]),
                               rtol=1e-10)


def test_pushforward_passes_jit_vmap_grad_with_analytic_log_det(key):
    flow = small_chain(key)
    log_prob = pushforward(standard_normal, flow)
    ys = jax.vmap(flow.forward)(jax.random.normal(key, (4, D)))
    values = jax.jit(jax.vmap(log_prob))(ys)
    def by_hand(y):
        x = flow.inverse(y)
        return standard_normal(x) - flow.forward_log_det_jacobian(x)

    np.testing.assert_allclose(values, jax.jit(jax.vmap(by_hand))(ys), rtol=1e-9)

    def nll(b):
        return -jnp.mean(jax.vmap(pushforward(standard_normal, b))(ys))

    grads = jax.jit(jax.grad(nll))(flow)
    assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(jachess.ShapeError, match="permutation of 0..d-1"):
        Permutation([0, 0, 1])
    with pytest.raises(jachess.ShapeError, match="1-D boolean"):
        AffineCoupling([1, 0], lambda z: (z, z))
    with pytest.raises(jachess.ShapeError, match="jax.vmap"):
        Permutation([1, 0]).forward(jnp.ones((3, 2)))
    with pytest.raises(jachess.ShapeError, match="shift and log_scale of shape"):
        AffineCoupling([True, False], lambda z: (z[:1], z[:1])).forward(jnp.ones(2))
    with pytest.raises(jachess.ShapeError, match="scalar b"):
        Planar(jnp.ones(2), jnp.ones(3), 0.0)
    with pytest.raises(jachess.ShapeError, match="keep the sample's shape|broadcast"):
        Affine(jnp.ones(3), 1.0).forward(jnp.ones(2))
    with pytest.raises(TypeError, match="base_log_prob"):
        pushforward(3.0, Tanh())
    with pytest.raises(TypeError, match="inverse"):
        pushforward(standard_normal, object())
    with pytest.raises(jachess.InputDtypeError, match="real"):
        Tanh().forward(jnp.ones(2, dtype=jnp.complex64))


def test_user_subclass_is_registered_as_a_pytree():
    class Scale(AbstractBijector):
        _fields = ("s",)

        def __init__(self, s):
            self.s = jnp.asarray(s)

        def forward_and_log_det(self, x):
            return self.s * x, jnp.log(jnp.abs(self.s)) * x.size

        def inverse_and_log_det(self, y):
            return y / self.s, -jnp.log(jnp.abs(self.s)) * y.size

    grad = jax.grad(lambda b: b.forward_log_det_jacobian(jnp.ones(3)))(Scale(2.0))
    np.testing.assert_allclose(grad.s, 1.5)
