"""Sparsity detection never misses a nonzero silently.

The truth is JAX's own dense derivative in float64 (jax.jacfwd / jax.jacrev, forward-over-
forward or forward-over-reverse Hessians) at random points: a global pattern must contain
every entry that is nonzero at some point. Each reproducer below was once unsound or
crashed; the fuzzer composes the same primitive families at random (hypothesis) so that a
rule that ignores a parameter (dimensions, axis, reverse, strides, permutation) or a
higher-order primitive that drops a link shows up as a missing entry.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jax import lax
from jax.experimental import sparse as jsparse

from jachess._errors import SparsityDetectionError
from jachess.sparsity import (
    SparsityWarning,
    hessian_pattern,
    jacobian_pattern,
    prepare_hessian,
    prepare_jacobian,
)


def _points(n, seed=0, count=3):
    rng = np.random.default_rng(seed)
    return [jnp.asarray(rng.normal(size=n)) for _ in range(count)]


def _truth(derivative, f, n, seed=0):
    """Union of the nonzeros of the dense derivative at a few random points."""
    total = None
    for x in _points(n, seed):
        d = np.asarray(derivative(f)(x))
        d = d.reshape(-1, n)
        nz = np.abs(d) > 0
        total = nz if total is None else total | nz
    return total


def _jac_fwd(f):
    return jax.jacfwd(lambda z: jnp.ravel(f(z)))


def _jac_rev(f):
    return jax.jacrev(lambda z: jnp.ravel(f(z)))


def _hess_fwd(f):
    return jax.jacfwd(jax.jacfwd(f))


def _hess_rev(f):
    return jax.jacfwd(jax.jacrev(f))


def _quiet(detect, f, x):
    """Pattern as a dense bool array, and whether a SparsityWarning was emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pattern = detect(f, x).toarray()
    return pattern, any(issubclass(w.category, SparsityWarning) for w in caught)


def assert_sound(pattern, truth):
    missing = truth & ~pattern
    assert not missing.any(), f"pattern misses {int(missing.sum())} nonzero(s) at {np.argwhere(missing)[:5].tolist()}"


@jax.custom_jvp
def straight_through(x):
    return jnp.round(x)


straight_through.defjvp(lambda p, t: (straight_through(*p), t[0]))


@jax.custom_vjp
def clipped_identity(x):
    return x


clipped_identity.defvjp(lambda x: (x, None), lambda _, ct: (jnp.clip(ct, -1.0, 1.0),))


BCOO_MATRIX = jsparse.BCOO.fromdense(jnp.array(
    [[1.0, 0, 0, 2, 0, 0], [0, 0, 3, 0, 0, 0], [0, 0, 0, 0, 0, 0], [4, 0, 0, 0, 5, 6]]))


# ---------------------------------------------------------------- the reproducers

JACOBIAN_CASES = {
    "ravel_order_F": (lambda x: x.reshape(2, 3).ravel(order="F"), 6, "exact"),
    "reshape_transposed_3d": (lambda x: x.reshape(2, 2, 2).transpose(2, 0, 1).ravel(order="F"), 8,
                              "exact"),
    "straight_through": (straight_through, 3, "exact"),
    "straight_through_times_x": (lambda x: straight_through(x) * x[::-1], 4, "exact"),
    "scan_cumulative_sum": (lambda x: lax.scan(lambda c, a: (c + a, c + a), 0.0, x)[1], 5,
                            "exact"),
    "scan_reverse": (lambda x: lax.scan(lambda c, a: (c * a, c), 1.0, x, reverse=True)[1], 5,
                     "sound"),
    "fori_shift": (lambda x: lax.fori_loop(0, 2, lambda i, c: c + jnp.roll(c, 1) * 0.5, x), 5,
                   "exact"),
    "fori_dynamic_index": (
        lambda x: lax.fori_loop(0, 3, lambda i, c: c.at[i + 1].add(c[i] ** 2), x), 5, "exact"),
    "top_k_axis0": (lambda x: lax.top_k(x.reshape(2, 3), 1, axis=0)[0], 6, "sound"),
    "sinc": (jnp.sinc, 4, "exact"),
    "logsumexp_pairs": (lambda x: jax.nn.logsumexp(x.reshape(3, 2), axis=1), 6, "exact"),
    "known_zero_factor": (lambda x: x * jnp.array([1.0, 0.0, 2.0, 0.0]), 4, "exact"),
    "avg_pool_same": (lambda x: lax.reduce_window(x.reshape(2, 3), 0.0, lax.add, (1, 2), (1, 1),
                                                  "SAME"), 6, "exact"),
    "max_pool": (lambda x: lax.reduce_window(x.reshape(3, 3), -jnp.inf, lax.max, (2, 2), (1, 1),
                                             "VALID"), 9, "sound"),
    "cholesky": (lambda x: jnp.linalg.cholesky(
        x.reshape(3, 3) @ x.reshape(3, 3).T + 3 * jnp.eye(3)), 9, "sound"),
    "qr_r_upper": (lambda x: jnp.linalg.qr(x.reshape(3, 3))[1], 9, "sound"),
    "triangular_solve": (lambda x: jax.scipy.linalg.solve_triangular(
        x.reshape(3, 3) + 4 * jnp.eye(3), x.reshape(3, 3)[:, :2], lower=True), 9, "sound"),
    "switch_known_index": (lambda x: lax.switch(1, [jnp.sin, lambda u: u[::-1],
                                                     lambda u: u * u[0]], x), 4, "exact"),
    "cond_on_loop_counter": (lambda x: lax.fori_loop(0, 3, lambda i, c: lax.cond(
        i == 1, lambda u: u * jnp.roll(u, 1), lambda u: u, c), x), 4, "exact"),
    # folded float arithmetic can round to 0 where XLA does not (linspace(-0.5, 0.5)[250]):
    # such values may not drop entries or pick branches
    "linspace_factor": (lambda x: x[0] * jnp.linspace(-0.5, 0.5, 501) + x[1], 2, "exact"),
    "linspace_predicate": (lambda x: jnp.where(jnp.linspace(-0.5, 0.5, 501) > 0, x[0], x[1]),
                           2, "sound"),
    "stencil_built_inside": (lambda x: (2 * jnp.eye(6) - jnp.eye(6, k=1) - jnp.eye(6, k=-1)) @ x,
                             6, "exact"),
    # whole-number index arithmetic done in floats is exact, so the gather stays precise
    "float_index_arithmetic": (lambda x: x * x[((2 * jnp.arange(1.0, 7.0) - 1) % 6).astype(int)],
                               6, "exact"),
    "bcoo_matvec": (lambda x: BCOO_MATRIX @ jnp.sin(x), 6, "exact"),
    "tril": (lambda x: jnp.tril(x.reshape(3, 3)), 9, "exact"),
    "where_known_mask": (lambda x: jnp.where(jnp.arange(9) % 2 == 0, x, x[::-1] ** 2), 9,
                         "exact"),
    "solve": (lambda x: jnp.linalg.solve(x.reshape(3, 3) + 4 * jnp.eye(3), x[:3]), 9, "sound"),
    "solve_bidiagonal_rhs": (lambda x: jnp.linalg.solve(
        jnp.diag(jnp.arange(1.0, 7.0)) + jnp.eye(6, k=1), x), 6, "exact"),
    "solve_batched": (lambda x: jax.vmap(jnp.linalg.solve)(
        jnp.stack([jnp.eye(2) * (2 + x[0]), jnp.eye(2) * (2 + x[1])]), x[2:].reshape(2, 2)), 6,
        "sound"),
    "cg_diagonal": (lambda x: jax.scipy.sparse.linalg.cg(lambda v: v * (2 + x[:3] ** 2),
                                                         x[3:])[0], 6, "exact"),
}


@pytest.mark.parametrize("name", sorted(JACOBIAN_CASES))
def test_jacobian_reproducers_are_sound_and_quiet(name):
    f, n, kind = JACOBIAN_CASES[name]
    pattern, warned = _quiet(jacobian_pattern, f, jnp.ones(n))
    truth = _truth(_jac_fwd, f, n)
    assert_sound(pattern, truth)
    assert not warned
    if kind == "exact":
        np.testing.assert_array_equal(pattern, truth)


def test_batched_solve_keeps_its_blocks():
    f, n, _ = JACOBIAN_CASES["solve_batched"]
    pattern = jacobian_pattern(f, jnp.ones(n)).toarray()
    assert not pattern[:2, 4:].any() and not pattern[2:, 2:4].any()


def test_long_scan_is_a_warned_fixed_point():
    f = lambda x: lax.scan(lambda c, a: (c + a, c), 0.0, jnp.tile(x, 600))[1]  # noqa: E731
    with pytest.warns(SparsityWarning, match="scan"):
        pattern = jacobian_pattern(f, jnp.ones(2)).toarray()
    assert pattern.all()


def test_custom_vjp_follows_the_backward_rule():
    f = lambda x: clipped_identity(x) * 2.0  # noqa: E731
    pattern, warned = _quiet(jacobian_pattern, f, jnp.ones(4))
    np.testing.assert_array_equal(pattern, _truth(_jac_rev, f, 4))
    assert not warned


HESSIAN_CASES = {
    "fori_after_square": (lambda x: jnp.sum(lax.fori_loop(0, 3, lambda i, c: c * 1.5 + 1.0,
                                                          x ** 2)), 4, _hess_fwd),
    "scan_after_square": (lambda x: jnp.sum(lax.scan(lambda c, _: (c * 1.5 + 1.0, None), x ** 2,
                                                     None, length=3)[0]), 4, _hess_fwd),
    "while_after_square": (lambda x: jnp.sum(lax.while_loop(
        lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * 1.5 + 1.0), (0, x ** 2))[1]), 4,
        _hess_fwd),
    "while_nonlinear_body": (lambda x: jnp.sum(lax.while_loop(
        lambda c: c[0] < 2, lambda c: (c[0] + 1, jnp.sin(c[1]) * jnp.roll(c[1], 1)),
        (0, x))[1]), 4, _hess_fwd),
    "ravel_order_F_times_x": (lambda x: jnp.sum(x.reshape(2, 3).ravel(order="F") * x), 6,
                              _hess_fwd),
    "straight_through_squared": (lambda x: jnp.sum(straight_through(x) ** 2), 3, _hess_fwd),
    "straight_through_product": (lambda x: jnp.sum(straight_through(x) * x[::-1] ** 2), 4,
                                 _hess_fwd),
    "custom_vjp_squared": (lambda x: jnp.sum(clipped_identity(x) ** 2 * x[::-1]), 4, _hess_rev),
    "scan_product": (lambda x: lax.scan(lambda c, a: (c * a, None), 1.0, x)[0], 4, _hess_fwd),
    "cond_in_loop": (lambda x: jnp.sum(lax.fori_loop(0, 2, lambda i, c: lax.cond(
        c[0] > 0, lambda u: u * jnp.roll(u, 1), jnp.sin, c), x)), 4, _hess_fwd),
}


@pytest.mark.parametrize("name", sorted(HESSIAN_CASES))
def test_hessian_reproducers_are_sound(name):
    f, n, derivative = HESSIAN_CASES[name]
    pattern, warned = _quiet(hessian_pattern, f, jnp.ones(n))
    assert_sound(pattern, _truth(derivative, f, n))
    assert not warned


@pytest.mark.parametrize("name", ["fori_after_square", "scan_after_square",
                                  "ravel_order_F_times_x", "straight_through_product",
                                  "cond_in_loop"])
def test_sparse_hessian_values_equal_dense(name):
    # tolerance: the two are computed by different numbers of float64 HVP passes
    f, n, derivative = HESSIAN_CASES[name]
    prepared = prepare_hessian(f, jnp.ones(n))
    for x in _points(n, seed=3, count=2):
        np.testing.assert_allclose(np.asarray(prepared(x).todense()),
                                   np.asarray(derivative(f)(x)), rtol=1e-12, atol=1e-12)


def test_sparse_jacobian_of_ravel_F_equals_dense():
    f = lambda x: jnp.sin(x.reshape(2, 3).ravel(order="F")) * x  # noqa: E731
    prepared = prepare_jacobian(f, jnp.ones(6))
    x = _points(6)[0]
    np.testing.assert_allclose(np.asarray(prepared(x).todense()), np.asarray(jax.jacfwd(f)(x)),
                               rtol=1e-13, atol=1e-13)


def test_patterns_are_the_same_from_inside_jit_and_vmap():
    f, n, _ = JACOBIAN_CASES["ravel_order_F"]
    eager = jacobian_pattern(f, jnp.ones(n)).toarray()
    seen = {}

    def record(x):
        seen["jit"] = jacobian_pattern(f, x).toarray()
        seen["hessian"] = hessian_pattern(lambda z: jnp.sum(f(z) * z), x).toarray()
        return x

    jax.jit(record)(jnp.ones(n))
    np.testing.assert_array_equal(seen["jit"], eager)
    np.testing.assert_array_equal(
        seen["hessian"], hessian_pattern(lambda z: jnp.sum(f(z) * z), jnp.ones(n)).toarray())
    jax.vmap(lambda x: record(x))(jnp.ones((2, n)))
    np.testing.assert_array_equal(seen["jit"], eager)


# ---------------------------------------------------------------- shapes and dtypes JAX accepts


@pytest.mark.parametrize("op", [jnp.sort, jnp.argsort, jnp.cumsum, lambda x: lax.top_k(x, 0)[0],
                                lambda x: x[jnp.argsort(x)], lambda x: jnp.cumprod(x)[::-1]])
def test_zero_size_inputs_give_empty_patterns(op):
    x = jnp.zeros(0)
    pattern = jacobian_pattern(lambda z: op(z).astype(float), x)
    assert pattern.shape == (np.asarray(op(x)).size, 0)


def test_python_scalar_output_has_an_empty_hessian():
    assert hessian_pattern(lambda x: 1.0, jnp.ones(3)).nnz == 0
    assert hessian_pattern(lambda x: np.float64(2.0), jnp.ones(3)).nnz == 0


def test_integer_and_boolean_intermediates_carry_no_derivative():
    def f(x):
        k = jnp.argmax(x)
        mask = (x > 0).astype(x.dtype)
        return mask * x + k.astype(x.dtype) + jnp.sum(x > 1)

    pattern, warned = _quiet(jacobian_pattern, f, jnp.ones(4))
    np.testing.assert_array_equal(pattern, np.eye(4, dtype=bool))
    assert not warned


# ---------------------------------------------------------------- conservative means announced


def test_bounded_value_dependent_indices_are_enumerated():
    # argmax(x[:2]) is 0 or 1: each output sees the elements of both possible windows
    f = lambda x: lax.dynamic_slice(x, (jnp.argmax(x[:2]),), (3,))  # noqa: E731
    pattern, warned = _quiet(jacobian_pattern, f, jnp.ones(5))
    np.testing.assert_array_equal(pattern, banded_rows(3, 5, 2))
    assert not warned
    g = lambda x: x[:3].at[jnp.argmax(x[3:]) % 2].set(x[3])  # noqa: E731
    pattern, warned = _quiet(jacobian_pattern, g, jnp.ones(5))
    np.testing.assert_array_equal(pattern, np.array(
        [[1, 0, 0, 1, 0], [0, 1, 0, 1, 0], [0, 0, 1, 0, 0]], bool))
    assert not warned


def banded_rows(rows, cols, width):
    return np.array([[0 <= j - i < width for j in range(cols)] for i in range(rows)])


def test_value_dependent_index_warns_and_strict_raises():
    f = lambda x: x[jnp.clip(x[0] * 3, 0, 3).astype(int)] * x  # noqa: E731
    pattern, warned = _quiet(jacobian_pattern, f, jnp.ones(4))
    assert warned
    assert_sound(pattern, _truth(_jac_fwd, f, 4))
    with pytest.raises(SparsityDetectionError, match="dynamic_slice"):
        jacobian_pattern(f, jnp.ones(4), strict=True)


def test_untraceable_primitive_warns_naming_it():
    def f(x):
        return jax.pure_callback(lambda v: np.sin(v), jax.ShapeDtypeStruct(x.shape, x.dtype), x)

    with pytest.warns(SparsityWarning, match="pure_callback"):
        pattern = jacobian_pattern(f, jnp.ones(3))
    assert pattern.toarray().all()


# ---------------------------------------------------------------- the fuzzer

N = 6  # every op maps a length-6 vector to a length-6 vector
PERM = np.array([3, 0, 5, 1, 4, 2])
SPARSE = np.array([[1.0, 0, 0, 2, 0, 0], [0, 0, 3, 0, 0, 0], [0, 1, 0, 0, 0, 1],
                   [0, 0, 0, 0, 0, 0], [4, 0, 0, 0, 5, 0], [0, 0, 0, 0, 0, 6]])


def _sin_pair(v):
    return jnp.sin(v) * v[::-1]


OPS = {
    "sin": jnp.sin,
    "tanh_square": lambda v: jnp.tanh(v) ** 2,
    "times_rev": lambda v: v * v[::-1],
    "times_roll": lambda v: v * jnp.roll(v, 1),
    "ravel_F": lambda v: v.reshape(2, 3).ravel(order="F"),
    "ravel_F_3d": lambda v: v.reshape(1, 2, 3).ravel(order="F"),
    "transpose": lambda v: v.reshape(2, 3).T.ravel(),
    "swap_axes_3d": lambda v: jnp.swapaxes(v.reshape(1, 2, 3), 0, 2).ravel(),
    "strided_slice": lambda v: jnp.concatenate([v[::2] * v[1::2], v[5:0:-2]]),
    "cumsum": jnp.cumsum,
    "cumsum_rev": lambda v: lax.cumsum(v, reverse=True),
    "cumprod_rows": lambda v: jnp.cumprod(v.reshape(2, 3), axis=1).ravel(),
    "cummax_cols": lambda v: lax.cummax(v.reshape(2, 3), axis=0).ravel(),
    "sort_rows": lambda v: jnp.sort(v.reshape(3, 2), axis=0).ravel(),
    "argsort_take": lambda v: v[jnp.argsort(v[::-1])] * 0 + v,
    "top_k": lambda v: lax.top_k(v.reshape(2, 3), 3)[0].ravel(),
    "row_sum": lambda v: v + jnp.repeat(jnp.sum(v.reshape(2, 3) ** 2, axis=1), 3),
    "max_times": lambda v: v * jnp.max(v[:2]),
    "prod_cols": lambda v: jnp.tile(jnp.prod(v.reshape(2, 3), axis=0), 2),
    "gather_perm": lambda v: v[PERM],
    "scatter_add": lambda v: jnp.zeros(N).at[PERM[:4]].add(v[:4] ** 2) + v,
    "scatter_set": lambda v: v.at[jnp.array([1, 4])].set(v[0] * v[5]),
    "sparse_matvec": lambda v: jnp.asarray(SPARSE) @ v,
    "dynamic_slice": lambda v: lax.dynamic_slice(jnp.concatenate([v, v ** 2]), (2,), (N,)),
    "dynamic_update": lambda v: lax.dynamic_update_slice(v, v[:2] * v[2:4], (3,)),
    "pad_stencil": lambda v: jnp.pad(v, 1)[2:] - 2 * v + jnp.pad(v, 1)[:-2],
    "interior_pad": lambda v: lax.pad(v[:3], 0.0, ((0, 1, 1),)) + v,
    "argmax_window": lambda v: lax.dynamic_slice(jnp.concatenate([v, v ** 2]),
                                                 (jnp.argmax(v[:3]) // 2 + 1,), (N,)),
    "argmax_take": lambda v: v * v[jnp.arange(N) % 3 + jnp.argmax(v[2:4]) % 2],
    "where": lambda v: jnp.where(v > 0, v, jnp.roll(v, 2) ** 2),
    "scan": lambda v: lax.scan(lambda c, a: (c * 0.5 + jnp.sin(a), c * a), 0.0, v)[1],
    "scan_rev_2d": lambda v: lax.scan(lambda c, a: (c + a, c * a), jnp.zeros(3),
                                      v.reshape(2, 3), reverse=True)[1].ravel(),
    "fori": lambda v: lax.fori_loop(0, 3, lambda i, c: c * 0.9 + jnp.roll(c, 1) ** 2 * 0.1, v),
    "fori_index": lambda v: lax.fori_loop(0, 4, lambda i, c: c.at[i + 1].mul(c[i]), v),
    "while": lambda v: lax.while_loop(lambda c: c[0] < 2,
                                      lambda c: (c[0] + 1, jnp.tanh(jnp.roll(c[1], 1)) + c[1]),
                                      (0, v))[1],
    "cond": lambda v: lax.cond(v[0] > 0, lambda u: u ** 2, lambda u: jnp.roll(u, 1), v),
    "switch": lambda v: lax.switch(2, [jnp.sin, lambda u: u[::-1], lambda u: u * u[0]], v),
    "straight_through": lambda v: straight_through(v) * v[::-1],
    "custom_vjp": lambda v: clipped_identity(v * jnp.roll(v, 3)),
    "relu_softplus": lambda v: jax.nn.relu(v) + jax.nn.softplus(v[::-1]),
    "logsumexp_rows": lambda v: jnp.repeat(jax.nn.logsumexp(v.reshape(3, 2), axis=1), 2),
    "checkpoint": lambda v: jax.checkpoint(_sin_pair)(v),
    "jit": lambda v: jax.jit(_sin_pair)(v),
    "vmap": lambda v: jax.vmap(lambda a, b: a * jnp.sin(b))(v.reshape(2, 3), v.reshape(3, 2).T
                                                               ).ravel(),
    "integer_mix": lambda v: v * (jnp.argmax(v) + 1).astype(v.dtype) + (v > 0),
    "avg_pool": lambda v: lax.reduce_window(v.reshape(2, 3), 0.0, lax.add, (2, 2), (1, 1),
                                            "SAME").ravel(),
    "cholesky_blocks": lambda v: jax.vmap(lambda a: jnp.linalg.cholesky(
        jnp.outer(a, a) + 2 * jnp.eye(3)).diagonal())(v.reshape(2, 3)).ravel(),
    "expand_squeeze": lambda v: jnp.squeeze(jnp.expand_dims(v, 0) * v[:, None][:, :1].T, 0),
    "dot_batched": lambda v: jnp.einsum("bi,bj->bij", v.reshape(2, 3), v.reshape(2, 3)
                                        )[:, 0, :].ravel(),
}
FORWARD_ONLY = {"while"}  # reverse mode of while_loop is undefined in JAX
REVERSE_ONLY = {"custom_vjp"}  # forward mode of custom_vjp is undefined in JAX


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(st.sampled_from(sorted(OPS)), min_size=1, max_size=4),
       hessian=st.booleans(), seed=st.integers(0, 2**16))
def test_fuzzed_programs_are_sound(names, hessian, seed):
    forward = not (set(names) & REVERSE_ONLY)
    assume(forward or not (set(names) & FORWARD_ONLY))

    def program(v):
        for name in names:
            v = OPS[name](v)
        return v

    if hessian:
        def f(v):
            return jnp.sum(jnp.sin(program(v)) * jnp.linspace(1.0, 2.0, N))

        derivative = _hess_fwd if forward else _hess_rev
        detect = hessian_pattern
    else:
        f = program
        derivative = _jac_fwd if forward else _jac_rev
        detect = jacobian_pattern
    pattern, _ = _quiet(detect, f, jnp.ones(N))
    assert_sound(pattern, _truth(derivative, f, N, seed))
