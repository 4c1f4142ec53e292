"""Change of variables: the log-density of y = f(x) for x ~ p_X and a bijection f.

log p_Y(y) = log p_X(f⁻¹(y)) + log|det J_{f⁻¹}(y)| = log p_X(x) - log|det J_f(x)|.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jachess._derivatives._slogdet import slogdet_jacobian


def inverse_and_log_det(bijector: Any, y):
    """(x, log|det J_{f⁻¹}(y)|) from whichever methods the bijector has.

    Order: its inverse_and_log_det; else inverse and forward_and_log_det; else inverse
    and jachess's exact log|det J_f(x)| (dense, n JVPs and an LU factorisation).
    """
    if hasattr(bijector, "inverse_and_log_det"):
        return bijector.inverse_and_log_det(y)
    x = bijector.inverse(y)
    if hasattr(bijector, "forward_and_log_det"):
        return x, -bijector.forward_and_log_det(x)[1]
    return x, -slogdet_jacobian(bijector.forward, x, method="dense").logabsdet


def pushforward(base_log_prob: Callable, bijector: Any) -> Callable:
    """Log-density of y = f(x), x ~ p_X: log p_Y(y) = log p_X(f⁻¹(y)) + log|det J_{f⁻¹}(y)|.

    Cost per call: one inverse and the bijector's analytic log-det; when the bijector
    has no log-det method, jachess computes log|det J_f(x)| exactly (n JVPs + LU).

    Args:
        base_log_prob: x -> log p_X(x), a scalar, for one sample.
        bijector: a jachess bijector, a distrax/TFP-style bijector, or any object with
            forward(x) and inverse(y).

    Returns:
        log_prob(y) -> scalar, a pure function that jit, vmap and grad pass through
        (batch with jax.vmap(log_prob)(ys)).

    Example:
        >>> base = lambda x: jax.scipy.stats.norm.logpdf(x).sum()
        >>> log_prob = pushforward(base, Affine(1.0, 2.0))  # N(1, 4) per entry
        >>> log_prob(jnp.array([1.0]))  # -log(2) - 0.5 log(2π)
    """
    if not callable(base_log_prob):
        raise TypeError(
            f"pushforward needs base_log_prob to be a function x -> log p(x), but got "
            f"{type(base_log_prob).__name__}."
        )
    if not (hasattr(bijector, "inverse") or hasattr(bijector, "inverse_and_log_det")):
        raise TypeError(
            f"pushforward needs a bijector with an inverse (inverse or inverse_and_log_det), "
            f"but {type(bijector).__name__} has neither."
        )
    if not (hasattr(bijector, "inverse_and_log_det") or hasattr(bijector, "forward")
            or hasattr(bijector, "forward_and_log_det")):
        raise TypeError(
            f"pushforward needs the bijector's forward map to compute its log-det, but "
            f"{type(bijector).__name__} has no forward or forward_and_log_det."
        )

    def log_prob(y):
        x, log_det = inverse_and_log_det(bijector, y)
        return base_log_prob(x) + log_det

    return log_prob
