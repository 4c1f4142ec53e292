"""Dense derivatives against references nobody here wrote.

Tolerances: float64 throughout. AD and jax.jacfwd/jax.hessian compute the same
expression graph, so they agree to a few ulps (rtol 1e-12). Analytic formulas are
evaluated in a different order: rtol 1e-12 as well. numdifftools finite differences
are accurate to about 1e-9 relative on smooth functions (its Richardson default), so
those comparisons use rtol 1e-7.
"""

import jax
import jax.numpy as jnp
import numdifftools as nd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jachess
from jachess import InputDtypeError, NotScalarError, OptionError, ShapeError

RTOL_EXACT = 1e-12
RTOL_FD = 1e-7


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_gradient(x):
    x = np.asarray(x)
    g = np.zeros_like(x)
    g[:-1] += -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return g


def rosenbrock_hessian(x):
    x = np.asarray(x)
    n = x.size
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 1200.0 * x[i] ** 2 - 400.0 * x[i + 1] + 2.0
        h[i + 1, i + 1] += 200.0
        h[i, i + 1] += -400.0 * x[i]
        h[i + 1, i] += -400.0 * x[i]
    return h


def polar(v):
    """(r, θ) -> (r cos θ, r sin θ): J = [[cos, -r sin], [sin, r cos]], det J = r."""
    return jnp.stack([v[0] * jnp.cos(v[1]), v[0] * jnp.sin(v[1])])


class TestAnalytic:
    def test_rosenbrock_gradient_and_hessian(self):
        x = jnp.array([-1.2, 1.0, 0.3, 2.0, -0.5])
        np.testing.assert_allclose(jachess.gradient(rosenbrock, x), rosenbrock_gradient(x),
                                   rtol=RTOL_EXACT)
        np.testing.assert_allclose(jachess.hessian(rosenbrock, x), rosenbrock_hessian(x),
                                   rtol=RTOL_EXACT, atol=1e-12)

    def test_polar_jacobian_and_determinant(self):
        r, t = 2.0, 0.7
        expected = np.array([[np.cos(t), -r * np.sin(t)], [np.sin(t), r * np.cos(t)]])
        for mode in ("auto", "fwd", "rev"):
            np.testing.assert_allclose(jachess.jacobian(polar, jnp.array([r, t]), mode=mode),
                                       expected, rtol=RTOL_EXACT)
        sign, logdet = jachess.slogdet_jacobian(polar, jnp.array([r, t]))
        assert sign == 1.0
        np.testing.assert_allclose(logdet, np.log(r), rtol=RTOL_EXACT)

    def test_hvp_is_hessian_times_vector(self):
        x = jnp.array([0.5, -1.0, 2.0, 1.5])
        v = jnp.array([1.0, 2.0, -1.0, 0.5])
        np.testing.assert_allclose(jachess.hvp(rosenbrock, x, v), rosenbrock_hessian(x) @ v,
                                   rtol=RTOL_EXACT)

    def test_jvp_and_vjp(self):
        x = jnp.array([2.0, 0.7])
        J = np.asarray(jax.jacfwd(polar)(x))
        y, jv = jachess.jvp(polar, x, jnp.array([1.0, -1.0]))
        np.testing.assert_allclose(y, polar(x), rtol=RTOL_EXACT)
        np.testing.assert_allclose(jv, J @ np.array([1.0, -1.0]), rtol=RTOL_EXACT)
        y, ujt = jachess.vjp(polar, x, jnp.array([0.5, 2.0]))
        np.testing.assert_allclose(ujt, np.array([0.5, 2.0]) @ J, rtol=RTOL_EXACT)

    def test_value_and_gradient(self):
        x = jnp.array([-1.2, 1.0])
        value, grad = jachess.value_and_gradient(rosenbrock, x)
        np.testing.assert_allclose(value, 24.2, rtol=RTOL_EXACT)
        np.testing.assert_allclose(grad, rosenbrock_gradient(x), rtol=RTOL_EXACT)

    def test_chain_rule(self):
        """J_{g∘f}(x) = J_g(f(x)) J_f(x)."""
        x = jnp.array([1.5, 0.3])

        def g(y):
            return jnp.stack([y[0] * y[1], jnp.exp(y[0]), jnp.sin(y[1])])

        composed = jachess.jacobian(lambda v: g(polar(v)), x)
        product = jachess.jacobian(g, polar(x)) @ jachess.jacobian(polar, x)
        np.testing.assert_allclose(composed, product, rtol=RTOL_EXACT)


class TestAgainstNumdifftools:
    def test_jacobian(self):
        def f(x):
            return jnp.stack([jnp.sin(x[0]) * x[1] ** 2, jnp.exp(x[2] - x[0]), jnp.tanh(x @ x)])

        x = np.array([0.3, -0.8, 1.1])
        expected = nd.Jacobian(lambda v: np.asarray(f(jnp.asarray(v))))(x)
        np.testing.assert_allclose(jachess.jacobian(f, x), expected, rtol=RTOL_FD)

    def test_hessian(self):
        def f(x):
            return jnp.sin(x[0] * x[1]) + jnp.log1p(x[2] ** 2) * x[0]

        x = np.array([0.4, 1.3, -0.6])
        expected = nd.Hessian(lambda v: float(f(jnp.asarray(v))))(x)
        np.testing.assert_allclose(jachess.hessian(f, x), expected, rtol=RTOL_FD, atol=1e-9)


def _tanh_layer(W, b):
    def f(x):
        return jnp.tanh(W @ x.reshape(-1) + b)

    return f


@settings(max_examples=15, deadline=None)
@given(
    x_shape=st.sampled_from([(1,), (3,), (2, 3), (4, 1), (1, 1)]),
    m=st.integers(1, 5),
    mode=st.sampled_from(["auto", "fwd", "rev"]),
    chunk=st.sampled_from([None, 1, 2, 7]),
    seed=st.integers(0, 2**16),
)
def test_jacobian_matches_jacfwd_over_shapes(x_shape, m, mode, chunk, seed):
    rng = np.random.default_rng(seed)
    n = int(np.prod(x_shape))
    f = _tanh_layer(jnp.asarray(rng.normal(size=(m, n))), jnp.asarray(rng.normal(size=m)))
    x = jnp.asarray(rng.normal(size=x_shape))
    result = jachess.jacobian(f, x, mode=mode, chunk_size=chunk)
    expected = jax.jacfwd(f)(x)
    assert result.shape == (m, *x_shape)
    np.testing.assert_allclose(result, expected, rtol=RTOL_EXACT, atol=1e-15)


@settings(max_examples=10, deadline=None)
@given(
    x_shape=st.sampled_from([(1,), (4,), (2, 2), (3, 1)]),
    chunk=st.sampled_from([None, 1, 3]),
    seed=st.integers(0, 2**16),
)
def test_hessian_matches_jax_hessian_over_shapes(x_shape, chunk, seed):
    rng = np.random.default_rng(seed)
    A = jnp.asarray(rng.normal(size=(int(np.prod(x_shape)),) * 2))

    def f(x):
        z = x.reshape(-1)
        return jnp.sum(jnp.cos(A @ z) * z) + jnp.prod(jnp.sin(z))

    x = jnp.asarray(rng.normal(size=x_shape))
    result = jachess.hessian(f, x, chunk_size=chunk)
    assert result.shape == x_shape + x_shape
    np.testing.assert_allclose(result, jax.hessian(f)(x), rtol=1e-11, atol=1e-12)


class TestShapesAndPytrees:
    def test_matrix_input_matrix_output(self):
        def f(X):
            return X @ X.T

        X = jnp.arange(6.0).reshape(2, 3) / 5
        assert jachess.jacobian(f, X).shape == (2, 2, 2, 3)
        np.testing.assert_allclose(jachess.jacobian(f, X), jax.jacfwd(f)(X), rtol=RTOL_EXACT)

    def test_scalar_input(self):
        np.testing.assert_allclose(jachess.jacobian(jnp.sin, 0.5), np.cos(0.5), rtol=RTOL_EXACT)
        np.testing.assert_allclose(jachess.hessian(lambda t: t**3, 2.0), 12.0, rtol=RTOL_EXACT)

    def test_pytree_in_and_out_matches_jacfwd(self):
        def f(p):
            return {"y": jnp.tanh(p["w"] @ p["x"]), "s": jnp.sum(p["x"] ** 2)}

        p = {"w": jnp.ones((2, 3)) * 0.1, "x": jnp.array([1.0, 2.0, 3.0])}
        ours, ref = jachess.jacobian(f, p), jax.jacfwd(f)(p)
        assert jax.tree_util.tree_structure(ours) == jax.tree_util.tree_structure(ref)
        jax.tree_util.tree_map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=RTOL_EXACT), ours, ref)

    def test_pytree_hessian_matches_jax(self):
        def f(p):
            return jnp.sum(p[0] ** 2 * p[1][0]) + jnp.sin(p[1][1]).sum()

        p = (jnp.array([1.0, 2.0]), (jnp.array(0.5), jnp.array([0.1, 0.2, 0.3])))
        ours, ref = jachess.hessian(f, p), jax.hessian(f)(p)
        assert jax.tree_util.tree_structure(ours) == jax.tree_util.tree_structure(ref)
        jax.tree_util.tree_map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=RTOL_EXACT), ours, ref)

    def test_numpy_input_accepted(self):
        x = np.array([1.0, 2.0])
        np.testing.assert_allclose(jachess.gradient(lambda v: jnp.sum(v**2), x), 2 * x)

    def test_size_zero(self):
        assert jachess.jacobian(lambda x: x * 2, jnp.zeros((0,))).shape == (0, 0)
        assert jachess.jacobian(lambda x: jnp.zeros(3) + x.sum(), jnp.zeros((0,))).shape == (3, 0)

    def test_pytree_hvp_and_jvp(self):
        def f(p):
            return jnp.sum(p["a"] ** 3) * p["b"]

        p = {"a": jnp.array([1.0, 2.0]), "b": jnp.array(3.0)}
        v = {"a": jnp.array([1.0, 0.0]), "b": jnp.array(1.0)}
        ours = jachess.hvp(f, p, v)
        ref = jax.jvp(jax.grad(f), (p,), (v,))[1]
        jax.tree_util.tree_map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=RTOL_EXACT), ours, ref)


class TestNoRetrace:
    def _counting(self, body):
        calls = []

        def f(x):
            calls.append(1)
            return body(x)

        return f, calls

    @pytest.mark.parametrize(
        "call",
        [
            lambda f, x: jachess.jacobian(f, x),
            lambda f, x: jachess.jacobian(f, x, mode="rev", chunk_size=2),
            lambda f, x: jachess.hessian(lambda z: jnp.sum(f(z)), x),
            lambda f, x: jachess.jvp(f, x, x),
            lambda f, x: jachess.vjp(f, x, f(x)),
            lambda f, x: jachess.gradient(lambda z: jnp.sum(f(z)), x),
        ],
    )
    def test_second_call_does_not_trace(self, call):
        f, calls = self._counting(lambda x: jnp.sin(x) * x[0])
        x = jnp.array([1.0, 2.0, 3.0])
        if call.__code__.co_names.count("hessian") or call.__code__.co_names.count("gradient"):
            # the lambda around f is new each time; pin it so identity is stable
            def g(z):
                return jnp.sum(f(z))

            pinned = {"hessian": lambda z: jachess.hessian(g, z),
                      "gradient": lambda z: jachess.gradient(g, z)}
            name = "hessian" if "hessian" in call.__code__.co_names else "gradient"
            pinned[name](x)
            after_first = len(calls)
            pinned[name](x + 1.0)
        else:
            call(f, x)
            after_first = len(calls)
            call(f, x + 1.0)
        extra = 1 if "vjp" in call.__code__.co_names else 0  # f(x) in the test's own call
        assert len(calls) == after_first + extra

    def test_new_shape_traces_again(self):
        f, calls = self._counting(jnp.sin)
        jachess.jacobian(f, jnp.ones(3))
        first = len(calls)
        jachess.jacobian(f, jnp.ones(4))
        assert len(calls) > first


class TestErrors:
    def test_integer_input(self):
        with pytest.raises(InputDtypeError, match=r"x must have a floating dtype, but got int"):
            jachess.jacobian(jnp.sin, jnp.array([1, 2]))

    def test_boolean_input(self):
        with pytest.raises(InputDtypeError, match="integers and booleans have no derivatives"):
            jachess.gradient(jnp.sum, np.array([True, False]))

    def test_complex_input(self):
        with pytest.raises(InputDtypeError, match="real floating dtype.*holomorphic"):
            jachess.jacobian(jnp.sin, jnp.array([1j]))

    @pytest.mark.parametrize("fn", [jachess.gradient, jachess.hessian])
    def test_non_scalar_output(self, fn):
        with pytest.raises(NotScalarError, match=r"requires f to return a scalar.*float64\[3\]"):
            fn(jnp.sin, jnp.ones(3))

    def test_non_scalar_hvp(self):
        with pytest.raises(NotScalarError, match="jachess.hvp requires f to return a scalar"):
            jachess.hvp(jnp.sin, jnp.ones(3), jnp.ones(3))

    def test_tangent_shape_mismatch(self):
        with pytest.raises(ShapeError, match=r"v must have the shape of x: expected float64\[3\]"):
            jachess.jvp(jnp.sin, jnp.ones(3), jnp.ones(2))

    def test_tangent_structure_mismatch(self):
        with pytest.raises(ShapeError, match="v must have the same pytree structure as x"):
            jachess.hvp(lambda p: p["a"].sum(), {"a": jnp.ones(2)}, jnp.ones(2))

    def test_cotangent_shape_mismatch(self):
        with pytest.raises(ShapeError, match=r"u must have the shape of f\(x\): expected"):
            jachess.vjp(lambda x: x[:2], jnp.ones(3), jnp.ones(3))

    def test_unknown_mode(self):
        with pytest.raises(OptionError, match=r"mode must be one of 'auto', 'fwd', 'rev', but got 'forward'"):
            jachess.jacobian(jnp.sin, jnp.ones(2), mode="forward")

    def test_bad_chunk_size(self):
        with pytest.raises(OptionError, match="chunk_size must be a positive integer or None"):
            jachess.jacobian(jnp.sin, jnp.ones(2), chunk_size=0)

    def test_non_square_slogdet(self):
        with pytest.raises(jachess.NotSquareError, match="needs a square Jacobian"):
            jachess.slogdet_jacobian(lambda x: x[:2], jnp.ones(3))

    def test_too_large(self):
        with pytest.raises(jachess.TooLargeError, match="sparsity='auto'.*matrix-free"):
            jachess.jacobian(lambda x: x * 2, jnp.ones(200_000))  # J would take 298 GiB


def test_too_large_is_caught_before_any_allocation():
    from jachess._memory import check_dense_fits

    with pytest.raises(jachess.TooLargeError, match=r"shape \(1000000, 1000000\) and take 7\.3 TiB"):
        check_dense_fits("Jacobian", (1_000_000, 1_000_000), np.float64)


def test_singular_slogdet_reports_not_raises():
    sign, logdet = jachess.slogdet_jacobian(lambda x: jnp.stack([x[0] + x[1], x[0] + x[1]]),
                                            jnp.array([1.0, 2.0]))
    assert sign == 0.0 and logdet == -np.inf


def test_slogdet_negative_sign_and_attributes():
    result = jachess.slogdet_jacobian(lambda x: x[::-1] * jnp.array([2.0, 3.0]), jnp.ones(2))
    assert result.sign == -1.0 and result.method == "dense" and result.std_error == 0.0
    np.testing.assert_allclose(result.logabsdet, np.log(6.0), rtol=RTOL_EXACT)
