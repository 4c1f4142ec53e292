"""Sparsity detection: exact patterns on standard problems, one case per primitive family,
control flow, conservative cases. References: dense jax.jacfwd / jax.hessian in float64 at
random points (a global pattern must contain their nonzeros, and equal them where no
value-dependent choice exists) and hand-built patterns of the standard problems."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

from jachess._errors import NotScalarError, SparsityDetectionError
from jachess.sparsity import SparsityWarning, hessian_pattern, jacobian_pattern


def dense_jacobian_pattern(f, x):
    y = jnp.ravel(f(x))
    jac = jax.jacfwd(lambda z: jnp.ravel(f(z)))(x)
    return np.asarray(jac).reshape(y.size, -1) != 0


def dense_hessian_pattern(f, x):
    return np.asarray(jax.hessian(f)(x)).reshape(x.size, x.size) != 0


def banded(n, offsets):
    return sp.diags_array([np.ones(n - abs(k)) for k in offsets], offsets=offsets).toarray() != 0


def bratu(u):
    up = jnp.pad(u, 1)
    return (up[2:] - 2 * up[1:-1] + up[:-2]) * (len(u) + 1) ** 2 + jnp.exp(u)


def bratu_2d(u, k):
    grid = jnp.pad(u.reshape(k, k), 1)
    lap = grid[2:, 1:-1] + grid[:-2, 1:-1] + grid[1:-1, 2:] + grid[1:-1, :-2] - 4 * u.reshape(k, k)
    return (lap + jnp.exp(u.reshape(k, k))).ravel()


def stencil_pattern(k):
    eye = np.eye(k, dtype=bool)
    band = banded(k, [-1, 0, 1])
    return np.kron(eye, band) | np.kron(band, eye)


def arrowhead(x):
    return jnp.concatenate([jnp.sum(x ** 2)[None], x[0] * x[1:] + jnp.sin(x[1:])])


def test_tridiagonal_bratu_exact(key):
    x = jax.random.normal(key, (7,))
    assert np.array_equal(jacobian_pattern(bratu, x).toarray(), banded(7, [-1, 0, 1]))


def test_five_point_stencil_exact(key):
    k = 5
    x = jax.random.normal(key, (k * k,))
    pattern = jacobian_pattern(lambda u: bratu_2d(u, k), x)
    assert np.array_equal(pattern.toarray(), stencil_pattern(k))


def test_arrowhead_exact(key):
    x = jax.random.normal(key, (6,))
    expected = np.eye(6, dtype=bool)
    expected[0, :] = expected[:, 0] = True
    assert np.array_equal(jacobian_pattern(arrowhead, x).toarray(), expected)


def test_random_three_sparse_map_exact(key):
    n = 40
    rng = np.random.default_rng(3)
    idx = rng.integers(0, n, (n, 3))

    def f(x):
        return x[idx[:, 0]] * x[idx[:, 1]] - jnp.cos(x[idx[:, 2]])

    expected = np.zeros((n, n), bool)
    expected[np.repeat(np.arange(n), 3), idx.ravel()] = True
    pattern = jacobian_pattern(f, jax.random.normal(key, (n,)))
    assert pattern.dtype == bool and isinstance(pattern, sp.csr_array)
    assert np.array_equal(pattern.toarray(), expected)


def rosenbrock_chained(x):
    return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rosenbrock_extended(x):
    return jnp.sum(100 * (x[1::2] - x[::2] ** 2) ** 2 + (1 - x[::2]) ** 2)


def test_rosenbrock_hessians_exact(key):
    x = jax.random.normal(key, (8,))
    assert np.array_equal(hessian_pattern(rosenbrock_chained, x).toarray(), banded(8, [-1, 0, 1]))
    block = np.kron(np.eye(4, dtype=bool), np.ones((2, 2), bool))
    assert np.array_equal(hessian_pattern(rosenbrock_extended, x).toarray(), block)


CONST = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]])

EXACT_JACOBIANS = {
    "shifted product": lambda x: x[1:] * x[:-1],
    "broadcast outer": lambda x: jnp.outer(x[:3], x[3:]).ravel(),
    "transpose": lambda x: x.reshape(2, 3).T.ravel() ** 2,
    "rev": lambda x: jnp.flip(x) * x,
    "strided slice": lambda x: jnp.sin(x[::2]),
    "pad interior": lambda x: jax.lax.pad(x, 0.0, [(1, -1, 1)]),
    "concatenate": lambda x: jnp.concatenate([x[:2], jnp.exp(x), x[4:]]),
    "squeeze expand": lambda x: jnp.expand_dims(x, 0).squeeze() * 2.0,
    "reduce_sum axis": lambda x: jnp.sum(x.reshape(2, 3) ** 2, axis=0),
    "reduce_prod": lambda x: jnp.prod(x.reshape(3, 2), axis=1),
    "cumsum": jnp.cumsum,
    "cumprod reverse": lambda x: jax.lax.cumprod(x, reverse=True),
    "dot with constant zeros": lambda x: CONST @ x[:3],
    "matmul": lambda x: (x.reshape(2, 3) @ x.reshape(3, 2)).ravel(),
    "batched dot": lambda x: jnp.einsum("bi,bi->b", x.reshape(2, 3), x.reshape(2, 3) + 1),
    "gather constant indices": lambda x: x[np.array([5, 0, 0, 2])],
    "scatter-add constant": lambda x: jnp.zeros(4).at[np.array([0, 0, 3])].add(x[:3] ** 2),
    "scatter set": lambda x: x.at[np.array([1, 2])].set(x[4:] * 3.0),
    "dynamic_slice constant": lambda x: jax.lax.dynamic_slice(x, (2,), (3,)),
    "dynamic_update_slice constant": lambda x: jax.lax.dynamic_update_slice(x, x[:2] ** 2, (3,)),
    "integer_pow": lambda x: x ** 3,
    "div": lambda x: x[:3] / x[3:],
    "convert and reduce_precision": lambda x: x.astype(jnp.float32).astype(jnp.float64),
    "jit inside": lambda x: jax.jit(lambda z: z[1:] + z[:-1])(x),
    "custom_jvp": lambda x: jax.nn.softplus(x) + jax.nn.relu(x[::-1]),
    "checkpoint": lambda x: jax.checkpoint(lambda z: jnp.sin(z) * z[0])(x),
    "split": lambda x: jnp.split(x, [2])[1] ** 2,
    "stack": lambda x: jnp.stack([x[:3], x[3:] ** 2], axis=1).ravel(),
    "tile and unstack": lambda x: jnp.tile(x[:2], 2) * jnp.unstack(x.reshape(3, 2))[1][0],
    "zero derivative ops": lambda x: jnp.floor(x) + jnp.sign(x) * x,
    "conv window": lambda x: jnp.convolve(x, jnp.array([1.0, 2.0, 1.0]), mode="same"),
    "pytree output": lambda x: {"a": x[:2] * x[2:4], "b": jnp.sum(x)},
}


@pytest.mark.parametrize("name", sorted(EXACT_JACOBIANS))
def test_jacobian_pattern_equals_dense_structure(name, key):
    f = EXACT_JACOBIANS[name]

    def flat(z):
        return jax.flatten_util.ravel_pytree(f(z))[0]

    x = jax.random.uniform(key, (6,), minval=0.5, maxval=2.0)
    pattern = jacobian_pattern(f, x).toarray()
    assert np.array_equal(pattern, dense_jacobian_pattern(flat, x))


def test_pytree_input(key):
    x = {"w": jax.random.normal(key, (2, 2)), "b": jnp.ones(3)}

    def f(p):
        return p["w"].sum(axis=1) * p["b"][:2]

    pattern = jacobian_pattern(f, x).toarray()
    flat, unravel = jax.flatten_util.ravel_pytree(x)
    assert np.array_equal(pattern, dense_jacobian_pattern(lambda z: f(unravel(z)), flat))


def test_value_dependent_choices_take_the_union(key):
    x = jax.random.normal(key, (4,))
    cond = jacobian_pattern(lambda x: jax.lax.cond(x[0] > 0, lambda a: a * 2, jnp.flip, x), x)
    assert np.array_equal(cond.toarray(), np.eye(4, dtype=bool) | np.eye(4, dtype=bool)[::-1])
    where = jacobian_pattern(lambda x: jnp.where(x > 0, x, x ** 2 * x[0]), x).toarray()
    expected = np.eye(4, dtype=bool)
    expected[:, 0] = True
    assert np.array_equal(where, expected)
    assert np.array_equal(jacobian_pattern(jnp.sort, x).toarray(), np.ones((4, 4), bool))
    reduce_max = jacobian_pattern(lambda x: jnp.max(x.reshape(2, 2), axis=1), x).toarray()
    assert np.array_equal(reduce_max, np.kron(np.eye(2, dtype=bool), np.ones((1, 2), bool)))


@pytest.mark.parametrize(
    "loop",
    [
        lambda x: jax.lax.fori_loop(0, 2, lambda i, c: c * c[0], x),
        lambda x: jax.lax.while_loop(lambda c: c[0] < 10.0, lambda c: c + jnp.roll(c, 1), x),
        lambda x: jax.lax.scan(lambda c, xi: (c + xi * c, c * xi), 0.5, x)[1],
        lambda x: jax.lax.scan(lambda c, xi: (jnp.roll(c, 1) * 2.0, c.sum()), x, None, length=3)[0],
    ],
)
def test_loops_reach_a_fixed_point_that_contains_every_iteration(loop, key):
    for k in range(2):
        x = jax.random.uniform(jax.random.fold_in(key, k), (5,), minval=0.5, maxval=1.5)
        pattern = jacobian_pattern(loop, x).toarray()
        assert np.all(pattern >= dense_jacobian_pattern(loop, x))


def test_fixed_point_is_not_dense_when_the_loop_is_local(key):
    x = jax.random.normal(key, (6,))
    pattern = jacobian_pattern(lambda x: jax.lax.fori_loop(0, 3, lambda i, c: c * 2.0, x), x)
    assert np.array_equal(pattern.toarray(), np.eye(6, dtype=bool))


def test_value_dependent_indices_warn_and_are_conservative(key):
    x = jax.random.normal(key, (5,))

    def f(x):
        return x[jnp.argsort(x)[:2]] * x[:2]

    with pytest.warns(SparsityWarning, match="gather"):
        pattern = jacobian_pattern(f, x).toarray()
    assert np.all(pattern >= dense_jacobian_pattern(f, x))
    assert pattern.all()
    with pytest.raises(SparsityDetectionError, match="gather"):
        jacobian_pattern(f, x, strict=True)


def test_unknown_primitive_is_dense_with_a_warning_naming_it(key):
    x = jax.random.normal(key, (3,))

    def f(x):
        out = jax.pure_callback(np.sin, jax.ShapeDtypeStruct((3,), x.dtype), x)
        return jnp.concatenate([out, x * 2])

    with pytest.warns(SparsityWarning, match="pure_callback"):
        pattern = jacobian_pattern(f, x).toarray()
    assert pattern[:3].all() and np.array_equal(pattern[3:], np.eye(3, dtype=bool))
    with pytest.raises(SparsityDetectionError, match="pure_callback"):
        hessian_pattern(lambda x: jnp.sum(f(x)), x, strict=True)


HESSIANS = {
    "product only": (lambda x: x[0] * x[1] + x[2], [(0, 1), (1, 0)]),
    "linear": (lambda x: jnp.sum(3.0 * x) + x[0], []),
    "square of one element reaches": (lambda x: (x * x)[0] + jnp.sum(x), [(0, 0)]),
    "division": (lambda x: x[0] / x[1], [(0, 1), (1, 0), (1, 1)]),
    "exp of sum": (lambda x: jnp.exp(x[0] + x[2]), [(0, 0), (0, 2), (2, 0), (2, 2)]),
    "quadratic form": (lambda x: x[:2] @ x[1:], [(0, 1), (1, 0), (1, 2), (2, 1)]),
    "abs and max are piecewise linear": (lambda x: jnp.abs(x[0]) + jnp.maximum(x[1], x[2]), []),
}


@pytest.mark.parametrize("name", sorted(HESSIANS))
def test_hessian_pattern_cases(name, key):
    f, pairs = HESSIANS[name]
    x = jax.random.uniform(key, (3,), minval=0.5, maxval=2.0)
    expected = np.zeros((3, 3), bool)
    for i, j in pairs:
        expected[i, j] = True
    pattern = hessian_pattern(f, x).toarray()
    assert np.array_equal(pattern, expected)
    assert np.all(pattern >= dense_hessian_pattern(f, x))


@pytest.mark.parametrize(
    "f",
    [
        lambda x: jnp.sum(jnp.sin(x[1:]) * x[:-1]),
        lambda x: jax.lax.fori_loop(0, 3, lambda i, c: c * c[0], x).sum(),
        lambda x: jax.lax.cond(x[0] > 0, lambda a: a[1] * a[2], lambda a: a[3] ** 2, x),
        lambda x: jnp.sum(jnp.cumprod(x[:3])) + jnp.logaddexp(x[3], x[4]),
        lambda x: jax.nn.logsumexp(x[2:]) + jnp.sum(jnp.tanh(x[:2] @ x[2:4].reshape(2, 1))),
        lambda x: jnp.sum(jax.lax.scan(lambda c, xi: (c * xi, c), 1.0, x)[1]),
    ],
)
def test_hessian_pattern_contains_dense_structure(f, key):
    x = jax.random.uniform(key, (5,), minval=0.5, maxval=1.5)
    pattern = hessian_pattern(f, x).toarray()
    assert np.array_equal(pattern, pattern.T)
    assert np.all(pattern >= dense_hessian_pattern(f, x))


def test_hessian_needs_a_scalar(key):
    with pytest.raises(NotScalarError):
        hessian_pattern(lambda x: x * 2, jnp.ones(3))


def test_size_one_and_size_zero_shapes():
    assert jacobian_pattern(lambda x: jnp.sin(x), jnp.ones(1)).toarray().tolist() == [[True]]
    empty = jacobian_pattern(lambda x: x * 2, jnp.ones(0))
    assert empty.shape == (0, 0)
    assert hessian_pattern(lambda x: jnp.sum(x ** 2), jnp.ones(0)).shape == (0, 0)
