"""Stochastic diagonal estimation (Bekas, Kokiopoulou, Saad 2007)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jachess._options import check_positive_int
from jachess.operators._base import AbstractOperator, precision_context
from jachess.spectral._checks import check_operator, require_key
from jachess.spectral._estimate import Estimate, exact_diagonal, rademacher


@functools.partial(jax.jit, static_argnames=("num", "chunk", "exact"))
def _diagonal_jit(op, key, *, num, chunk, exact):
    matmat = op.prepare()
    n = op.shape[0]
    dtype = op.dtype
    if exact:
        return exact_diagonal(matmat, n, dtype, chunk), jnp.zeros((n,), dtype)
    chunk = min(chunk or num, num)
    count = -(-num // chunk)

    def block(i):
        Z = rademacher(jax.random.fold_in(key, i), n, chunk, dtype)
        mask = (i * chunk + jnp.arange(chunk)) < num
        samples = jnp.where(mask[None, :], Z * matmat(Z), 0.0)
        return jnp.sum(samples, axis=1), jnp.sum(samples**2, axis=1)

    sums, squares = jax.lax.map(block, jnp.arange(count))
    mean = jnp.sum(sums, axis=0) / num
    var = jnp.maximum(jnp.sum(squares, axis=0) / num - mean**2, 0.0) * num / max(num - 1, 1)
    return mean, jnp.sqrt(var / num)


def diagonal(
    op: AbstractOperator,
    *,
    num_matvecs: int,
    key: jax.Array,
    chunk_size: int | None = None,
) -> Estimate:
    """Estimate diag(A) as the mean of z ⊙ A z over Rademacher probes z.

    Unbiased; entry i has variance Σ_{j≠i} A_ij² per probe, so the standard error
    shrinks as 1/√num_matvecs. With num_matvecs >= n the diagonal is exact (n basis
    products, std_error 0).

    Args:
        op: square operator.
        num_matvecs: number of probes (products).
        key: PRNG key.
        chunk_size: at most this many probes per product pass.

    Returns:
        Estimate(value (n,), std_error (n,), num_matvecs).

    Example:
        >>> d = jachess.spectral.diagonal(H, num_matvecs=200, key=jax.random.key(0))
    """
    op = check_operator(op, "diagonal", square=True)
    check_positive_int("num_matvecs", num_matvecs)
    check_positive_int("chunk_size", chunk_size, allow_none=True)
    key = require_key(key, "diagonal")
    n = op.shape[0]
    exact = num_matvecs >= n
    with precision_context(op.precision):
        value, err = _diagonal_jit(op, key, num=int(num_matvecs), chunk=chunk_size, exact=exact)
    return Estimate(value, err, n if exact else int(num_matvecs))
