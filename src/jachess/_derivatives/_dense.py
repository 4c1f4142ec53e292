"""Dense Jacobians and Hessians as batched JVPs / VJPs against the standard basis.

J (m x n) costs n JVPs (forward) or m VJPs (reverse); "auto" takes forward when
n <= m. H (n x n) costs n HVPs (forward-over-reverse). With chunk_size=c the basis
is fed c vectors at a time (lax.map over vmapped chunks), so peak memory is that of
c products instead of n; the basis itself is built chunk by chunk, never as an n x n
identity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jachess._derivatives._jit import jit_with_static_function
from jachess._derivatives._products import _SCALAR_HINT
from jachess._memory import check_dense_fits
from jachess._options import Mode, check_choice, check_positive_int
from jachess._trees import (
    as_float_tree,
    flatten_function,
    require_scalar,
    tree_size,
    unflatten_matrix,
)


def map_basis(
    product: Callable, size: int, dtype, chunk_size: int | None, out_axis: int = 0
) -> jax.Array:
    """Stack product(e_i) over the standard basis e_0..e_{size-1} of R^size along out_axis."""
    if size == 0:
        out = jax.eval_shape(product, jax.ShapeDtypeStruct((0,), dtype))
        return jnp.moveaxis(jnp.zeros((0, *out.shape), out.dtype), 0, out_axis)
    if chunk_size is None or chunk_size >= size:
        return jax.vmap(product, out_axes=out_axis)(jnp.eye(size, dtype=dtype))
    stacked = jax.lax.map(
        lambda i: product(jax.nn.one_hot(i, size, dtype=dtype)),
        jnp.arange(size),
        batch_size=chunk_size,
    )
    return jnp.moveaxis(stacked, 0, out_axis)


def jacobian_matrix(f_flat: Callable, x_flat: jax.Array, m: int, mode: str, chunk_size):
    """The (m, n) Jacobian of a flat function, by columns (fwd) or rows (rev).

    "auto" takes forward when n <= m (mirroring jax.jacfwd / jax.jacrev, whose batched
    layouts XLA already handles well).
    """
    n = x_flat.shape[0]
    if mode == "auto":
        mode = "fwd" if n <= m else "rev"
    if mode == "fwd":
        def column(v):
            return jax.jvp(f_flat, (x_flat,), (v,))[1]

        return map_basis(column, n, x_flat.dtype, chunk_size, out_axis=1)
    y, pullback = jax.vjp(f_flat, x_flat)

    def row(u):
        return pullback(u)[0]

    return map_basis(row, m, y.dtype, chunk_size)


def hessian_matrix(f_flat: Callable, x_flat: jax.Array, chunk_size) -> jax.Array:
    """The (n, n) Hessian of a flat function with output shape (1,), forward-over-reverse.

    The gradient is taken as a one-row reverse Jacobian rather than jax.grad: under the
    outer vmap its products become matrix-matrix (GEMM) instead of matrix-vector, about
    2x faster on CPU than jax.hessian (measured in benchmarks/dense.py). Rows are the
    HVPs H e_i; H is symmetric, so stacking them row-wise is H itself.
    """
    n = x_flat.shape[0]

    def gradient(z):
        return jax.jacrev(f_flat)(z).reshape(n)

    def hvp(v):
        return jax.jvp(gradient, (x_flat,), (v,))[1]

    return map_basis(hvp, n, x_flat.dtype, chunk_size)


def _jacobian(f, x, *, mode, chunk_size):
    x = as_float_tree(x, "x")  # at trace time: a compiled call pays nothing for it
    x_flat, f_flat, _, out_struct = flatten_function(f, x)
    m = tree_size(out_struct)
    check_dense_fits("Jacobian", (m, x_flat.shape[0]), x_flat.dtype)
    matrix = jacobian_matrix(f_flat, x_flat, m, mode, chunk_size)
    return unflatten_matrix(matrix, out_struct, x)


def _hessian(f, x, *, chunk_size):
    x = as_float_tree(x, "x")
    def scalar_f(z):
        return require_scalar(f(z), "jachess.hessian", _SCALAR_HINT)

    x_flat, f_flat, _, _ = flatten_function(scalar_f, x)
    n = x_flat.shape[0]
    check_dense_fits("Hessian", (n, n), x_flat.dtype)
    return unflatten_matrix(hessian_matrix(f_flat, x_flat, chunk_size), x, x)


_jacobian_jit = jit_with_static_function(_jacobian, ("mode", "chunk_size"))
_hessian_jit = jit_with_static_function(_hessian, ("chunk_size",))


def dense_jacobian(f: Callable, x: Any, *, mode: Mode = "auto", chunk_size: int | None = None):
    """Dense Jacobian J[i, j] = ∂f_i/∂x_j, shaped f(x).shape + x.shape (as jax.jacfwd)."""
    check_choice("mode", mode, Mode)
    check_positive_int("chunk_size", chunk_size, allow_none=True)
    return _jacobian_jit(f, x, mode=mode, chunk_size=chunk_size)


def dense_hessian(f: Callable, x: Any, *, chunk_size: int | None = None):
    """Dense Hessian H[i, j] = ∂²f/∂x_i∂x_j, shaped x.shape + x.shape (as jax.hessian)."""
    check_positive_int("chunk_size", chunk_size, allow_none=True)
    return _hessian_jit(f, x, chunk_size=chunk_size)
