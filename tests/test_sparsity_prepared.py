"""Prepared sparse derivatives and the sparsity= route of jachess.jacobian/hessian.

Values are compared with dense jax.jacfwd / jax.hessian in float64 to 1e-12 relative to
the largest entry: compressed passes add distinct nonzeros exactly once, so the only
differences are from floating-point reassociation inside f's derivative.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from jax.experimental import sparse as jsparse

import jachess
from jachess._errors import NotScalarError, OptionError, ShapeError
from jachess.sparsity import (
    clear_cache,
    prepare_hessian,
    prepare_jacobian,
    sparse_jacobian,
    to_scipy,
)

TOL = 1e-12


def close(bcoo, dense):
    dense = np.asarray(dense).reshape(bcoo.shape)
    scale = max(np.abs(dense).max(), 1.0)
    return np.abs(np.asarray(bcoo.todense()) - dense).max() <= TOL * scale


def bratu(u):
    up = jnp.pad(u, 1)
    return (up[2:] - 2 * up[1:-1] + up[:-2]) * (u.size + 1) ** 2 + jnp.exp(u)


def broyden(x):
    xp = jnp.pad(x, 1)
    return (3 - 2 * x) * x - xp[:-2] - 2 * xp[2:] + 1


def arrowhead(x):
    return jnp.concatenate([jnp.sum(x ** 2)[None], x[0] * x[1:] + jnp.sin(x[1:])])


def energy_2d(u):
    k = round(u.size ** 0.5)
    g = u.reshape(k, k)
    return jnp.sum((g[1:] - g[:-1]) ** 2) + jnp.sum((g[:, 1:] - g[:, :-1]) ** 2) + jnp.sum(
        jnp.exp(g) * g ** 2
    )


def rosenbrock(x):
    return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rectangular(x):
    return jnp.concatenate([x[1:] * x[:-1], jnp.sin(x[::3]), jnp.sum(x)[None] * 0.5])


@pytest.mark.parametrize(
    ("f", "mode"),
    [(bratu, "auto"), (broyden, "fwd"), (broyden, "rev"), (arrowhead, "auto"),
     (arrowhead, "fwd"), (arrowhead, "rev"), (rectangular, "auto"), (rectangular, "rev")],
)
def test_prepared_jacobian_equals_dense(f, mode, key):
    x = jax.random.uniform(key, (40,), minval=0.5, maxval=1.5)
    prepared = prepare_jacobian(f, x, mode=mode)
    result = prepared(x)
    assert isinstance(result, jsparse.BCOO) and result.shape == prepared.pattern.shape
    assert close(result, jax.jacfwd(f)(x))
    assert prepared.mode in ("fwd", "rev", "bidirectional")
    if mode != "auto":
        assert prepared.mode == mode


def test_mode_auto_picks_few_passes(key):
    x = jax.random.uniform(key, (200,), minval=0.5, maxval=1.5)
    assert prepare_jacobian(bratu, x).num_colors == 3
    arrow = prepare_jacobian(arrowhead, x)
    assert arrow.mode == "bidirectional" and arrow.num_colors <= 3
    assert close(arrow(x), jax.jacfwd(arrowhead)(x))
    wide = prepare_jacobian(lambda z: jnp.stack([jnp.sum(z), jnp.sum(z ** 2)]), x)
    assert wide.mode == "rev" and wide.num_colors == 2


def test_public_route_uses_bicoloring_on_the_arrowhead(key):
    from jachess.sparsity._api import _cache

    clear_cache()
    x = jax.random.uniform(key, (300,), minval=0.5, maxval=1.5)
    result = jachess.jacobian(arrowhead, x, sparsity="auto")
    (prepared,) = _cache.values()
    assert prepared.mode == "bidirectional" and prepared.num_colors == 3
    assert close(result, jax.jacfwd(arrowhead)(x))


def arrow_energy(x):
    return jnp.sum(x[0] * x[1:] ** 2) + jnp.sum(x ** 4)


@pytest.mark.parametrize("f", [rosenbrock, energy_2d, arrow_energy])
def test_prepared_hessian_equals_dense(f, key):
    x = jax.random.uniform(key, (16,), minval=0.5, maxval=1.5)
    prepared = prepare_hessian(f, x)
    assert close(prepared(x), jax.hessian(f)(x))
    assert prepared.num_colors < 16


def test_chunked_evaluation_matches(key):
    x = jax.random.uniform(key, (30,), minval=0.5, maxval=1.5)
    full = prepare_jacobian(broyden, x)(x)
    chunked = prepare_jacobian(broyden, x, chunk_size=1)(x)
    assert np.array_equal(np.asarray(full.data), np.asarray(chunked.data))
    hessian_chunked = prepare_hessian(rosenbrock, x, chunk_size=2)
    assert hessian_chunked.num_colors == 3 and close(hessian_chunked(x), jax.hessian(rosenbrock)(x))


def test_pytree_input_and_output(key):
    x = {"a": jax.random.normal(key, (3,)), "b": jnp.ones((2, 2))}

    def f(p):
        return {"y": p["a"] * p["b"][0, 0], "z": jnp.sin(p["b"]).ravel()}

    result = jachess.jacobian(f, x, sparsity="auto")
    flat, unravel = jax.flatten_util.ravel_pytree(x)
    dense = jax.jacfwd(lambda z: jax.flatten_util.ravel_pytree(f(unravel(z)))[0])(flat)
    assert result.shape == (7, 7) and close(result, dense)


def test_repeated_calls_do_no_detection_colouring_or_tracing(key):
    clear_cache()
    calls = []

    def f(x):
        calls.append(1)
        return x[1:] * jnp.exp(x[:-1])

    def g(x):
        calls.append(1)
        return jnp.sum(x[1:] ** 2 * x[:-1])

    x = jax.random.normal(key, (12,))
    first = jachess.jacobian(f, x, sparsity="auto")
    traced = len(calls)
    assert traced > 0
    second = jachess.jacobian(f, x + 1.0, sparsity="auto")
    assert len(calls) == traced
    assert close(second, jax.jacfwd(f)(x + 1.0)) and close(first, jax.jacfwd(f)(x))
    jachess.hessian(g, x, sparsity="auto")
    traced = len(calls)
    hess = jachess.hessian(g, x * 2.0, sparsity="auto")
    assert len(calls) == traced and hess.shape == (12, 12)
    jachess.jacobian(f, jnp.ones(13), sparsity="auto")  # new shape: prepared again
    assert len(calls) > traced


def test_given_pattern_skips_detection_and_is_checked(key):
    x = jax.random.uniform(key, (8,), minval=0.5, maxval=1.5)
    pattern = sp.diags_array([np.ones(7), np.ones(8), np.ones(7)], offsets=[-1, 0, 1])
    dense = jax.jacfwd(bratu)(x)
    assert close(jachess.jacobian(bratu, x, sparsity=pattern), dense)
    dense_pattern = np.asarray(pattern.toarray() != 0)
    assert close(jachess.jacobian(bratu, x, sparsity=dense_pattern), dense)
    with pytest.raises(ShapeError, match="pattern"):
        jachess.jacobian(bratu, x, sparsity=np.ones((3, 3), bool))
    assert close(jachess.hessian(rosenbrock, x, sparsity=dense_pattern),
                 jax.hessian(rosenbrock)(x))


def test_auto_falls_back_to_dense_passes_and_still_returns_bcoo(key):
    x = jax.random.normal(key, (5,))

    def dense(z):
        return jnp.tanh(jnp.outer(z, z).sum(axis=1))

    result = jachess.jacobian(dense, x, sparsity="auto")
    assert isinstance(result, jsparse.BCOO) and close(result, jax.jacfwd(dense)(x))
    hess = jachess.hessian(lambda z: jnp.sum(dense(z)), x, sparsity="auto")
    assert isinstance(hess, jsparse.BCOO)
    assert close(hess, jax.hessian(lambda z: jnp.sum(dense(z)))(x))


def test_to_scipy_feeds_scipy_linear_solvers(key):
    x = jax.random.uniform(key, (60,), minval=0.1, maxval=0.5)
    jac = to_scipy(jachess.jacobian(bratu, x, sparsity="auto"))
    assert isinstance(jac, sp.csr_array)
    b = np.arange(60.0)
    solution = spla.spsolve(sp.csc_matrix(jac), b)
    assert np.allclose(np.asarray(jax.jacfwd(bratu)(x)) @ solution, b, rtol=1e-10)
    with pytest.raises(OptionError):
        to_scipy(np.ones((2, 2)))


def test_prepared_object_is_hashable_and_checks_shapes(key):
    x = jax.random.normal(key, (10,))
    prepared = prepare_jacobian(broyden, x)
    assert hash(prepared) == hash(prepared) and {prepared: 1}[prepared] == 1
    assert prepared.colors.shape == (10,) and prepared.lower_bound == 3
    assert "num_colors=3" in repr(prepared)
    with pytest.raises(ShapeError, match="prepared"):
        prepared(jnp.ones(11))


def test_empty_and_linear_cases():
    x = jnp.ones(4)
    hess = prepare_hessian(lambda z: jnp.sum(3.0 * z), x)
    assert hess.num_colors == 0 and hess(x).nse == 0 and hess(x).shape == (4, 4)
    const = prepare_jacobian(lambda z: jnp.zeros(3) * jnp.floor(z[:3]), x)
    assert const(x).shape == (3, 4) and const.num_colors == 0


def test_bad_options():
    with pytest.raises(OptionError, match="sparsity"):
        jachess.jacobian(bratu, jnp.ones(3), sparsity="yes")
    with pytest.raises(OptionError, match="mode"):
        sparse_jacobian(bratu, jnp.ones(3), sparsity="auto", mode="forward", chunk_size=None)
    with pytest.raises(OptionError, match="chunk_size"):
        prepare_jacobian(bratu, jnp.ones(3), chunk_size=0)
    with pytest.raises(NotScalarError):
        prepare_hessian(bratu, jnp.ones(3))
