"""The public jacobian and hessian: dense by default, routed to the sparsity layer on request.

This is the one place where layer 1 (dense derivatives) meets layer 2 (sparsity), so
the lower layers never import the higher ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jachess._derivatives._dense import dense_hessian, dense_jacobian
from jachess._options import Mode


def jacobian(
    f: Callable,
    x: Any,
    *,
    mode: Mode = "auto",
    sparsity: Any = None,
    chunk_size: int | None = None,
):
    """Jacobian J[i, j] = ∂f_i/∂x_j of f at x.

    Dense cost: n JVPs (mode="fwd") or m VJPs (mode="rev"), batched; "auto" takes
    forward when n <= m. Sparse cost: one JVP or VJP per colour of the pattern.

    Args:
        f: function of one array or pytree argument, returning an array or pytree.
        x: point, an array or pytree of floating arrays (NumPy accepted).
        mode: "auto" | "fwd" | "rev".
        sparsity: None for a dense result; "auto" to detect the pattern (and use
            compressed passes when they pay); or a boolean (m, n) pattern, dense or
            scipy.sparse. Any non-None value returns a 2-D BCOO of shape
            (f(x).size, x.size), inputs and outputs flattened row-major.
        chunk_size: evaluate at most this many basis vectors at once (bounds memory).

    Returns:
        Dense: an array of shape f(x).shape + x.shape (pytrees nest as in jax.jacfwd).
        Sparse: a jax.experimental.sparse.BCOO.

    Raises:
        TooLargeError: when the dense result would not fit in memory.

    Example:
        >>> jachess.jacobian(lambda x: jnp.stack([x[0] * x[1], jnp.sin(x[0])]),
        ...                  jnp.array([1.0, 2.0]))
    """
    if sparsity is not None:
        from jachess.sparsity import sparse_jacobian

        return sparse_jacobian(f, x, sparsity=sparsity, mode=mode, chunk_size=chunk_size)
    return dense_jacobian(f, x, mode=mode, chunk_size=chunk_size)


def hessian(f: Callable, x: Any, *, sparsity: Any = None, chunk_size: int | None = None):
    """Hessian H[i, j] = ∂²f/∂x_i∂x_j of a scalar f at x.

    Dense cost: n HVPs (forward-over-reverse), batched. Sparse cost: one HVP per
    colour of a symmetric (star) colouring of the pattern.

    Args:
        f: scalar function of one array or pytree argument.
        x: point.
        sparsity: None (dense), "auto" (detect), or a boolean (n, n) pattern; any
            non-None value returns a 2-D BCOO of shape (x.size, x.size).
        chunk_size: evaluate at most this many HVPs at once.

    Returns:
        Dense: an array of shape x.shape + x.shape (pytrees nest as in jax.hessian).
        Sparse: a jax.experimental.sparse.BCOO.
    """
    if sparsity is not None:
        from jachess.sparsity import sparse_hessian

        return sparse_hessian(f, x, sparsity=sparsity, chunk_size=chunk_size)
    return dense_hessian(f, x, chunk_size=chunk_size)
