"""Result types of the stochastic estimators, and helpers they share."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Estimate(NamedTuple):
    """A stochastic estimate.

    Attributes:
        value: the estimate (a scalar, or an array for diagonal).
        std_error: its standard error (same shape; 0 when computed exactly).
        num_matvecs: products with single vectors that it used.
    """

    value: jax.Array
    std_error: jax.Array
    num_matvecs: int


def rademacher(key: jax.Array, n: int, k: int, dtype) -> jax.Array:
    """An (n, k) block of independent ±1 entries."""
    return jax.random.rademacher(key, (n, k), dtype=dtype)


def apply_in_chunks(matmat, V: jax.Array, chunk: int | None) -> jax.Array:
    """A V with at most `chunk` columns per product pass (bounds the memory of one pass)."""
    k = V.shape[1]
    if chunk is None or chunk >= k:
        return matmat(V)
    count = -(-k // chunk)
    padded = jnp.pad(V, ((0, 0), (0, count * chunk - k)))
    blocks = padded.reshape(V.shape[0], count, chunk).transpose(1, 0, 2)
    out = jax.lax.map(matmat, blocks)
    return out.transpose(1, 0, 2).reshape(out.shape[1], count * chunk)[:, :k]


def exact_diagonal(matmat, n: int, dtype, chunk: int | None) -> jax.Array:
    """diag(A) from n products with the standard basis, `chunk` columns at a time."""
    chunk = n if chunk is None else min(chunk, n)
    count = -(-n // chunk)

    def block(i):
        cols = i * chunk + jnp.arange(chunk)
        E = (jnp.arange(n)[:, None] == cols[None, :]).astype(dtype)
        AE = matmat(E)
        return jnp.sum(E * AE, axis=0)

    return jax.lax.map(block, jnp.arange(count)).reshape(-1)[:n]
