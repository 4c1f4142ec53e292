"""Taylor models, derivative checks and point classification.

Taylor: the error of an order-p model shrinks like |d|^(p+1) (checked by the ratio of
errors at d and d/2, which must approach 2^(p+1)), and the coefficients match the
analytic series of exp and sin. check_derivatives: it passes correct rules and names
the entry a wrong custom_jvp breaks. classify: textbook points with known signatures.
"""

import math

import jax
import jax.numpy as jnp
import numdifftools as nd
import numpy as np
import pytest

import jachess
from jachess.critical import classify


class TestTaylor:
    @pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
    def test_exp_series(self, order):
        model = jachess.taylor(jnp.exp, jnp.array([0.0]), order=order)
        d = 0.3
        expected = sum(d**k / math.factorial(k) for k in range(order + 1))
        np.testing.assert_allclose(model(jnp.array([d])), [expected], rtol=1e-13)

    @pytest.mark.parametrize("order", [1, 2, 3, 4])
    def test_error_order(self, order):
        def f(x):
            return jnp.sin(x[0]) * jnp.exp(x[1]) + x[0] * x[1] ** 2

        x0 = jnp.array([0.3, -0.2])
        model = jachess.taylor(f, x0, order=order)
        direction = jnp.array([1.0, 0.7])
        errors = [abs(float(model(x0 + h * direction) - f(x0 + h * direction)))
                  for h in (1e-2, 5e-3)]
        np.testing.assert_allclose(errors[0] / errors[1], 2 ** (order + 1), rtol=0.05)

    def test_scalar_model_exposes_gradient_and_hessian(self):
        def f(x):
            return x[0] ** 2 * x[1] + jnp.cos(x[1])

        x0 = jnp.array([1.0, 2.0])
        model = jachess.taylor(f, x0)
        np.testing.assert_allclose(model.value, f(x0))
        np.testing.assert_allclose(model.jacobian, jax.grad(f)(x0), rtol=1e-13)
        np.testing.assert_allclose(model.hessian, jax.hessian(f)(x0), rtol=1e-13)

    def test_vector_pytree_model(self):
        def f(p):
            return {"u": jnp.sin(p["a"]) * p["b"], "v": p["a"] ** 2}

        p0 = {"a": jnp.array([0.5, 1.0]), "b": jnp.array(2.0)}
        model = jachess.taylor(f, p0, order=2)
        ref_hess = jax.hessian(f)(p0)
        jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-13),
                               model.hessian, ref_hess)
        p1 = {"a": jnp.array([0.51, 0.99]), "b": jnp.array(2.01)}
        out = model(p1)
        exact = f(p1)
        np.testing.assert_allclose(out["u"], exact["u"], atol=1e-5)
        np.testing.assert_allclose(out["v"], exact["v"], atol=1e-12)  # quadratic: exact

    def test_bad_order(self):
        with pytest.raises(jachess.OptionError, match="order must be a non-negative integer"):
            jachess.taylor(jnp.sin, jnp.ones(1), order=-1)

    def test_model_input_shape_checked(self):
        model = jachess.taylor(jnp.sin, jnp.ones(2), order=1)
        with pytest.raises(jachess.ShapeError, match="x must have the shape of x0"):
            model(jnp.ones(3))


class TestCheckDerivatives:
    def test_passes_for_correct_function(self):
        def f(x):
            return jnp.stack([jnp.sin(x[0] * x[1]), jnp.exp(x).sum(), jnp.log1p(x[2] ** 2)])

        result = jachess.check_derivatives(f, jnp.array([0.3, 1.2, -0.7]))
        assert result.max_scaled_error < 1e-2 and result.num_checked == 3

    def test_agrees_with_numdifftools(self):
        def f(x):
            return jnp.tanh(x) * x[::-1]

        x = np.array([0.2, -0.4, 0.9])
        expected = nd.Jacobian(lambda v: np.asarray(f(jnp.asarray(v))))(x)
        np.testing.assert_allclose(jachess.jacobian(f, x), expected, rtol=1e-8)
        jachess.check_derivatives(f, x)

    def test_names_the_wrong_custom_jvp_entry(self):
        @jax.custom_jvp
        def bad_square(x):
            return x**2

        @bad_square.defjvp
        def _(primals, tangents):
            (x,), (t,) = primals, tangents
            return x**2, 3.0 * x * t  # wrong: should be 2 x t

        def f(x):
            return jnp.stack([jnp.sin(x[0]), bad_square(x[1])])

        with pytest.raises(jachess.DerivativeMismatchError,
                           match=r"disagree at ∂f\(x\)\[1\]/∂x\[1\]: AD gives 6, finite differences give 4"):
            jachess.check_derivatives(f, jnp.array([0.5, 2.0]))

    def test_large_input_uses_directions(self):
        result = jachess.check_derivatives(lambda x: jnp.cumsum(jnp.sin(x)), jnp.linspace(0, 1, 200))
        assert result.num_checked == 8 and "random direction" in result.worst

    def test_catches_vjp_that_is_not_the_transpose(self):
        @jax.custom_vjp
        def scaled(x):
            return 2.0 * x

        scaled.defvjp(lambda x: (2.0 * x, None), lambda _, g: (3.0 * g,))

        # custom_vjp has no forward mode: reverse mode is checked on its own
        with pytest.raises(jachess.DerivativeMismatchError,
                           match=r"\(reverse mode\).*AD gives 3, finite differences give 2"):
            jachess.check_derivatives(scaled, jnp.array([1.0, 2.0]))

    def test_wrong_custom_jvp_found_in_both_modes(self):
        @jax.custom_jvp
        def f(x):
            return jnp.sin(x)

        f.defjvp(lambda p, t: (jnp.sin(p[0]), 2.0 * jnp.cos(p[0]) * t[0]))
        with pytest.raises(jachess.DerivativeMismatchError, match="forward mode"):
            jachess.check_derivatives(f, jnp.array([0.1, 0.2]))


class TestClassify:
    @pytest.mark.parametrize(
        ("f", "x", "kind", "inertia"),
        [
            (lambda v: (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2, [1.0, 1.0], "minimum", (2, 0, 0)),
            (lambda v: v[0] ** 2 - v[1] ** 2, [0.0, 0.0], "saddle", (1, 1, 0)),
            (lambda v: -(v[0] ** 2) - 3 * v[1] ** 2, [0.0, 0.0], "maximum", (0, 2, 0)),
            (lambda v: v[0] ** 3 - 3 * v[0] * v[1] ** 2, [0.0, 0.0], "degenerate", (0, 0, 2)),
            (lambda v: v[0] ** 4 + v[1] ** 2, [0.0, 0.0], "degenerate", (1, 0, 1)),
            (lambda v: v[0] ** 2 + v[1], [0.0, 0.0], "not critical", (1, 0, 1)),
        ],
    )
    def test_textbook_points(self, f, x, kind, inertia):
        result = classify(f, jnp.array(x))
        assert result.kind == kind
        assert result.inertia == inertia

    def test_saddle_escape_direction_descends(self):
        def f(v):
            return v[0] ** 2 - 2 * v[1] ** 2 + v[0] * v[1]

        result = classify(f, jnp.zeros(2))
        d = result.escape_direction
        np.testing.assert_allclose(np.linalg.norm(d), 1.0)
        H = np.asarray(jax.hessian(f)(jnp.zeros(2)))
        np.testing.assert_allclose(d @ H @ d, result.eigenvalues[0], rtol=1e-12)
        assert result.eigenvalues[0] < 0

    def test_condition_number(self):
        result = classify(lambda v: v[0] ** 2 + 50 * v[1] ** 2, jnp.zeros(2))
        np.testing.assert_allclose(result.condition_number, 50.0, rtol=1e-12)

    def test_approximate_degenerate_point_from_a_solver(self):
        # x⁴ at a point a solver would stop at (gradient 4e-12): still degenerate, not a minimum
        result = classify(lambda v: jnp.sum(v**4), jnp.array([1e-4, -1e-4]))
        assert result.kind == "degenerate"

    def test_user_tolerance(self):
        f = lambda v: v[0] ** 2 + 1e-9 * v[1] ** 2  # noqa: E731
        assert classify(f, jnp.zeros(2)).kind == "minimum"
        assert classify(f, jnp.zeros(2), tol=1e-6).kind == "degenerate"
