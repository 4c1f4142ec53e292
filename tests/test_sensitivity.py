"""Sensitivity: local tables against hand derivatives; DGSM against the analytic values
of the Ishigami and Sobol' G functions (derived below from ν_j = E[(∂f/∂x_j)²])."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jachess
from jachess.sensitivity import dgsm, local

# Ishigami: f = sin x1 + a sin² x2 + b x3⁴ sin x1, x_i ~ U(-π, π), E[x^k] = π^k / (k + 1).
#   ∂f/∂x1 = cos x1 (1 + b x3⁴)   -> ν1 = ½ (1 + 2b π⁴/5 + b² π⁸/9)
#   ∂f/∂x2 = a sin 2x2            -> ν2 = a²/2
#   ∂f/∂x3 = 4b x3³ sin x1        -> ν3 = 16 b² · ½ · π⁶/7 = 8 b² π⁶ / 7
A, B = 7.0, 0.1
ISHIGAMI_NU = np.array([
    0.5 * (1 + 2 * B * math.pi**4 / 5 + B**2 * math.pi**8 / 9),
    A**2 / 2,
    8 * B**2 * math.pi**6 / 7,
])


def ishigami(x):
    return jnp.sin(x[0]) + A * jnp.sin(x[1]) ** 2 + B * x[2] ** 4 * jnp.sin(x[0])


def ishigami_sampler(key, n):
    return jax.random.uniform(key, (n, 3), minval=-jnp.pi, maxval=jnp.pi)


# Sobol' G: f = Π g_i(x_i), g_i = (|4x_i - 2| + a_i)/(1 + a_i), x_i ~ U(0, 1).
#   (∂g_j/∂x_j)² = 16/(1 + a_j)² almost everywhere; with t = |4x - 2| ~ U(0, 2),
#   E[g_i²] = (4/3 + 2a_i + a_i²)/(1 + a_i)² = 1 + 1/(3(1 + a_i)²), so
#   ν_j = 16/(1 + a_j)² · Π_{i≠j} (1 + 1/(3(1 + a_i)²)).
G_A = np.array([0.0, 1.0, 4.5, 9.0, 99.0, 99.0])


def sobol_g_nu(a):
    second = 1 + 1 / (3 * (1 + a) ** 2)
    return np.array([16 / (1 + a[j]) ** 2 * np.prod(np.delete(second, j))
                     for j in range(len(a))])


def sobol_g(x):
    a = jnp.asarray(G_A)
    return jnp.prod((jnp.abs(4 * x - 2) + a) / (1 + a))


def sobol_g_sampler(key, n):
    return jax.random.uniform(key, (n, G_A.shape[0]))


def test_dgsm_ishigami_matches_analytic_values(key):
    result = dgsm(ishigami, ishigami_sampler, 40_000, key=key, names=["x1", "x2", "x3"])
    values, se = np.asarray(result.values), np.asarray(result.std_error)
    assert np.all(np.abs(values - ISHIGAMI_NU) < 4 * se), (values, ISHIGAMI_NU, se)
    assert np.all(se < 0.03 * ISHIGAMI_NU)  # the standard error itself is informative
    assert np.all(result.ci_low <= ISHIGAMI_NU) and np.all(ISHIGAMI_NU <= result.ci_high)
    assert list(result.ranking) == [1, 2, 0]
    text = str(result)
    assert text.index("x2") < text.index("x3") < text.index("x1")


def test_dgsm_sobol_g_matches_analytic_values(key):
    nu = sobol_g_nu(G_A)
    result = dgsm(sobol_g, sobol_g_sampler, 40_000, key=key, chunk_size=8192)
    values, se = np.asarray(result.values), np.asarray(result.std_error)
    assert np.all(np.abs(values - nu) < 4 * se + 1e-12), (values, nu, se)
    assert np.all(se < 0.05 * nu)
    assert list(result.ranking[:2]) == [0, 1]


def test_dgsm_interval_covers_about_95_percent(key):
    # 60 independent replications of a small Ishigami estimate: the 95% interval should
    # cover ν_2 in roughly 57 of 60; binomial(60, 0.95) >= 51 with probability > 0.999.
    keys = jax.random.split(key, 60)
    covered = 0
    for k in keys:
        r = dgsm(ishigami, ishigami_sampler, 400, key=k)
        covered += int(r.ci_low[1] <= ISHIGAMI_NU[1] <= r.ci_high[1])
    assert covered >= 51


def test_dgsm_bad_inputs():
    with pytest.raises(jachess.ShapeError, match=r"\(num_samples, n\)"):
        dgsm(ishigami, lambda k, n: jnp.zeros((n,)), 10, key=jax.random.key(0))
    with pytest.raises(jachess.NotScalarError, match="once per output"):
        dgsm(lambda x: x, ishigami_sampler, 10, key=jax.random.key(0))
    with pytest.raises(jachess.OptionError, match="num_samples"):
        dgsm(ishigami, ishigami_sampler, 0, key=jax.random.key(0))
    with pytest.raises(jachess.ShapeError, match="3 names"):
        dgsm(ishigami, ishigami_sampler, 10, key=jax.random.key(0), names=["a"])


def test_local_table_matches_hand_derivatives():
    def f(v):
        a, b, c = v
        return jnp.stack([a * b**2, jnp.exp(c) + a])

    x = jnp.array([3.0, 2.0, 0.0])
    table = local(f, x, names=["a", "b", "c"], output_names=["g", "h"])
    expected = np.array([[4.0, 12.0, 0.0], [1.0, 0.0, 1.0]])
    np.testing.assert_allclose(table.jacobian, expected, rtol=1e-15)
    np.testing.assert_allclose(table.value, [12.0, 4.0])
    # Elasticity (x_j / f_i) ∂f_i/∂x_j: for g = a b², exactly the exponents 1 and 2.
    np.testing.assert_allclose(table.elasticities[0], [1.0, 2.0, 0.0], rtol=1e-15)
    np.testing.assert_allclose(table.elasticities[1], [0.75, 0.0, 0.0], rtol=1e-15)
    np.testing.assert_array_equal(table.ranking, [[1, 0, 2], [0, 2, 1]])
    assert table.ranked(0)[0] == ("b", 12.0, 2.0)
    text = str(table)
    g_part, h_part = text.split("\n\n")
    assert g_part.startswith("g = 12")
    assert g_part.index("b ") < g_part.index("a ") < g_part.index("c ")
    assert h_part.startswith("h = 4")
    assert table.to_dict()["outputs"][0]["ranking"][0]["input"] == "b"


def test_local_scalar_output_pytree_input_and_zero_value():
    table = local(lambda p: p["u"][0] * p["w"] - p["u"][1], {"u": jnp.array([1.0, 1.0]),
                                                            "w": jnp.array(1.0)})
    assert table.names == ["x['u'][0]", "x['u'][1]", "x['w']"]
    assert table.output_names == ["f"]
    np.testing.assert_allclose(table.jacobian, [[1.0, -1.0, 1.0]])
    assert np.all(np.isnan(table.elasticities))  # f = 0: elasticities are undefined


def test_local_matches_jacfwd_on_a_random_map(key):
    W = jax.random.normal(key, (4, 3))

    def f(x):
        return jnp.tanh(W @ x) + x[0]

    x = jnp.array([0.1, -0.3, 0.7])
    table = local(f, x)
    np.testing.assert_allclose(table.jacobian, jax.jacfwd(f)(x), rtol=1e-14)
    assert table.names == ["x[0]", "x[1]", "x[2]"]
    for i in range(4):
        ordered = np.abs(table.jacobian[i, table.ranking[i]])
        assert np.all(np.diff(ordered) <= 0)


def test_local_bad_names():
    with pytest.raises(jachess.ShapeError, match="expected 2 names"):
        local(lambda x: x.sum(), jnp.ones(2), names=["a"])
    with pytest.raises(jachess.InputDtypeError):
        local(lambda x: x.sum(), jnp.ones(2, dtype=int))


@settings(max_examples=5, deadline=None)
@given(m=st.integers(1, 4), n=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_local_affine_maps_of_any_shape(m, n, seed):
    rng = np.random.default_rng(seed)
    A, b, x = rng.normal(size=(m, n)), rng.normal(size=m) + 5.0, rng.normal(size=n)
    table = local(lambda z: jnp.asarray(A) @ z + b, x)
    np.testing.assert_allclose(table.jacobian, A, rtol=1e-14)
    np.testing.assert_allclose(table.elasticities, A * x[None, :] / (A @ x + b)[:, None],
                               rtol=1e-12)
    np.testing.assert_array_equal(table.ranking, np.argsort(-np.abs(A), axis=1, kind="stable"))
    assert len(str(table).split("\n\n")) == m
