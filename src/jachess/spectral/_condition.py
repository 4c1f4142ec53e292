"""Condition number κ = λ_max / λ_min of a symmetric positive (semi-)definite operator."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np

from jachess.operators._base import AbstractOperator
from jachess.spectral._estimate import Estimate
from jachess.spectral._lanczos import eigsh


def condition_number(
    op: AbstractOperator,
    *,
    tol: float = 1e-6,
    max_matvecs: int | None = None,
    key=None,
) -> Estimate:
    """κ(A) = λ_max / λ_min from eigsh(op, 2, which="both").

    The two extreme eigenvalues come from one Lanczos run; for symmetric A each is
    within its residual norm r of a true eigenvalue, so std_error reports the half-width
    of the resulting interval [(θ_max - r_max)/(θ_min + r_min), (θ_max + r_max)/(θ_min - r_min)]
    (a bound, not a statistical error). When λ_min <= 0 (singular or indefinite) the
    value is inf and a warning says so.

    Cost: the matvecs of eigsh (usually a few dozen; the smallest end of an
    ill-conditioned A converges slowest).

    Returns:
        Estimate(value, std_error, num_matvecs).

    Example:
        >>> jachess.spectral.condition_number(GGN(...) ).value
    """
    result = eigsh(op, 2, which="both", tol=tol, max_matvecs=max_matvecs, key=key)
    low, high = (float(v) for v in np.asarray(result.eigenvalues))
    r_low, r_high = (float(r) for r in np.asarray(result.residual_norms))
    dtype = result.eigenvalues.dtype
    num = int(result.num_matvecs)
    if low <= 0:
        warnings.warn(
            f"condition_number: the smallest eigenvalue is {low:.3e} <= 0 (singular or "
            "indefinite operator); the condition number is infinite.",
            stacklevel=2,
        )
        return Estimate(jnp.asarray(jnp.inf, dtype), jnp.asarray(jnp.inf, dtype), num)
    value = high / low
    upper = (high + r_high) / (low - r_low) if low > r_low else np.inf
    lower = (high - r_high) / (low + r_low)
    return Estimate(jnp.asarray(value, dtype), jnp.asarray((upper - lower) / 2, dtype), num)
