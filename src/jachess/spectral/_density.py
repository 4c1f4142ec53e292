"""Spectral density by stochastic Lanczos quadrature with Gaussian broadening."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jachess._errors import OptionError, ShapeError
from jachess._options import check_positive_int
from jachess.operators._base import AbstractOperator, precision_context
from jachess.spectral._checks import check_operator, require_key
from jachess.spectral._slq import quadrature


class Density(NamedTuple):
    """A smoothed spectral density φ(t) = (1/n) Σ_i N(t; λ_i, σ²), estimated by SLQ.

    Attributes:
        grid: (g,) points t.
        values: (g,) φ(t); it integrates to 1 over the real line.
        eigenvalues_estimate: (num_probes, num_steps) quadrature nodes (Ritz values):
            the extreme ones converge to A's extreme eigenvalues.
        weights: (num_probes, num_steps) quadrature weights (each row sums to 1).
        sigma: the Gaussian width used.
        num_matvecs: products used (num_probes · num_steps).
    """

    grid: jax.Array
    values: jax.Array
    eigenvalues_estimate: jax.Array
    weights: jax.Array
    sigma: float
    num_matvecs: int


def broaden(nodes, weights, grid, sigma) -> jax.Array:
    """Mean over probes of Σ_j w_j N(grid; θ_j, σ²)."""
    diff = (grid[:, None, None] - nodes[None, :, :]) / sigma
    kernel = jnp.exp(-0.5 * diff**2) / (sigma * jnp.sqrt(2 * jnp.pi))
    return jnp.sum(kernel * weights[None], axis=(1, 2)) / nodes.shape[0]


def density(
    op: AbstractOperator,
    *,
    num_probes: int,
    num_steps: int,
    key: jax.Array,
    grid: jax.Array | None = None,
    sigma: float | None = None,
    num_points: int = 1000,
    reorthogonalize: bool = True,
) -> Density:
    """Spectral density of a symmetric operator (stochastic Lanczos quadrature).

    φ(t) = (1/n) Σ_i N(t; λ_i, σ²) ≈ mean over probes of Σ_j τ_j² N(t; θ_j, σ²), with
    (θ_j, τ_j²) the Gauss quadrature of num_steps Lanczos steps from each Rademacher
    probe. Features narrower than σ or than the spacing of num_steps nodes are not
    resolved; the probe-to-probe spread shrinks as 1/√num_probes.

    Cost: num_probes · num_steps products (one matmat of num_probes columns per step);
    memory num_probes · num_steps · n numbers with reorthogonalisation.

    Args:
        op: symmetric operator.
        num_probes: number of random start vectors.
        num_steps: Lanczos steps per probe (at most n are used).
        key: PRNG key.
        grid: points at which to evaluate φ (default: num_points over the node range
            widened by 5σ).
        sigma: Gaussian width (default: 1% of the node range, at least tiny).
        num_points: size of the default grid.
        reorthogonalize: full reorthogonalisation of each probe's basis.

    Returns:
        Density(grid, values, eigenvalues_estimate, weights, sigma, num_matvecs).

    Example:
        >>> d = jachess.spectral.density(H, num_probes=10, num_steps=80, key=key)
        >>> plt.semilogy(d.grid, d.values)
    """
    op = check_operator(op, "density", square=True, symmetric=True)
    check_positive_int("num_probes", num_probes)
    check_positive_int("num_steps", num_steps)
    check_positive_int("num_points", num_points)
    key = require_key(key, "density")
    with precision_context(op.precision):
        nodes, weights = quadrature(
            op,
            key,
            num_probes=num_probes,
            num_steps=num_steps,
            reorthogonalize=bool(reorthogonalize),
        )
    low = float(jnp.min(jnp.where(weights > 0, nodes, jnp.inf)))
    high = float(jnp.max(jnp.where(weights > 0, nodes, -jnp.inf)))
    if sigma is None:
        sigma = max(0.01 * (high - low), 1e-3 * max(abs(low), abs(high)), 1e-12)
    elif not (isinstance(sigma, (int, float)) and sigma > 0):
        raise OptionError(f"sigma must be a positive number, but got {sigma!r}.")
    if grid is None:
        grid = jnp.linspace(low - 5 * sigma, high + 5 * sigma, num_points, dtype=op.dtype)
    else:
        grid = jnp.asarray(grid, dtype=op.dtype)
        if grid.ndim != 1:
            raise ShapeError(f"grid must be 1-D, but got shape {grid.shape}.")
    values = jax.jit(broaden)(nodes, weights, grid, jnp.asarray(sigma, op.dtype))
    steps = min(num_steps, op.shape[0])
    return Density(grid, values, nodes, weights, float(sigma), int(num_probes * steps))


