"""log det A of a symmetric positive definite operator by stochastic Lanczos quadrature."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jachess._errors import NotPositiveDefiniteError
from jachess._options import check_positive_int
from jachess.operators._base import AbstractOperator, precision_context
from jachess.spectral._checks import check_operator, require_key
from jachess.spectral._estimate import Estimate
from jachess.spectral._slq import quadrature


def logdet(
    op: AbstractOperator,
    *,
    num_probes: int,
    num_steps: int,
    key,
    reorthogonalize: bool = True,
) -> Estimate:
    """log det A = tr log A for SPD A, by stochastic Lanczos quadrature.

    Per Rademacher probe z: zᵀ log(A) z ≈ n Σ_j τ_j² log θ_j (Gauss quadrature of
    num_steps Lanczos steps); the estimate is their mean, the standard error their
    spread / √num_probes. The quadrature error falls geometrically with num_steps at a
    rate set by √κ (κ the condition number); it is not in std_error, so take num_steps
    well above √κ · log(1/accuracy) / 2.

    Cost: num_probes · num_steps products.

    Args:
        op: symmetric positive definite operator (e.g. a GGN or Fisher plus damping).
        num_probes: random probes.
        num_steps: Lanczos steps per probe.
        key: PRNG key.
        reorthogonalize: full reorthogonalisation of each probe's basis.

    Returns:
        Estimate(value, std_error, num_matvecs).

    Raises:
        NotPositiveDefiniteError: when a quadrature node is <= 0 (A is not SPD).

    Example:
        >>> jachess.spectral.logdet(Matrix(A), num_probes=30, num_steps=30, key=key)
    """
    op = check_operator(op, "logdet", square=True, symmetric=True)
    check_positive_int("num_probes", num_probes)
    check_positive_int("num_steps", num_steps)
    key = require_key(key, "logdet")
    n = op.shape[0]
    with precision_context(op.precision):
        nodes, weights = quadrature(
            op, key, num_probes=num_probes, num_steps=num_steps,
            reorthogonalize=bool(reorthogonalize),
        )
    used = weights > 0
    smallest = float(jnp.min(jnp.where(used, nodes, jnp.inf)))
    if smallest <= 0:
        raise NotPositiveDefiniteError(
            "logdet requires a symmetric positive definite operator, but Lanczos found "
            f"a Ritz value {smallest:.3e} <= 0 (so A has an eigenvalue <= that). Add "
            "damping (e.g. a GGN plus λ·I) or use density() to inspect the spectrum."
        )
    safe = jnp.where(used, nodes, 1.0)
    per_probe = n * jnp.sum(weights * jnp.log(safe), axis=1)
    value = jnp.mean(per_probe)
    err = (
        jnp.std(per_probe, ddof=1) / np.sqrt(num_probes)
        if num_probes > 1
        else jnp.asarray(jnp.inf, op.dtype)
    )
    return Estimate(value, err, int(num_probes * min(num_steps, n)))
