"""Planar flow (Rezende & Mohamed 2015): y = x + u·tanh(wᵀx + b).

J = I + u ψᵀ with ψ = (1 - tanh²(wᵀx + b))·w, a rank-one update, so by the matrix
determinant lemma log|det J| = log|1 + uᵀψ| at the cost of two dot products.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jachess._errors import ShapeError
from jachess.density._bijector import AbstractBijector, as_event_vector, as_parameter

_BISECTION_STEPS = 80
_NEWTON_STEPS = 2


class Planar(AbstractBijector):
    """y = x + u·tanh(wᵀx + b); log|det J| = log|1 + (1 - tanh²(wᵀx + b)) wᵀu|.

    Invertible when wᵀu >= -1 (then α ↦ α + wᵀu·tanh(α + b) is increasing).
    `Planar.constrained(u, w, b)` builds one that always is. The inverse solves the
    scalar equation wᵀy = α + wᵀu·tanh(α + b) for α = wᵀx by bisection on the bracket
    |α - wᵀy| <= |wᵀu|, then two Newton steps (which also give exact derivatives).

    Args:
        u: vector of the sample's length d.
        w: vector of the sample's length d.
        b: scalar bias.
    """

    _fields = ("u", "w", "b")

    def __init__(self, u, w, b):
        u, w = as_parameter(u, "u", "Planar"), as_parameter(w, "w", "Planar")
        b = as_parameter(b, "b", "Planar")
        if u.ndim != 1 or u.shape != w.shape or jnp.ndim(b) != 0:
            raise ShapeError(
                f"Planar needs u and w of one shape (d,) and a scalar b, but got u "
                f"{tuple(u.shape)}, w {tuple(w.shape)}, b {tuple(jnp.shape(b))}."
            )
        self.u, self.w, self.b = u, w, b

    @classmethod
    def constrained(cls, u, w, b) -> Planar:
        """Planar with u replaced by û = u + (softplus(wᵀu) - 1 - wᵀu)·w/‖w‖², so wᵀû > -1."""
        u, w = as_parameter(u, "u", "Planar"), as_parameter(w, "w", "Planar")
        wu = jnp.dot(w, u)
        u_hat = u + (jax.nn.softplus(wu) - 1.0 - wu) * w / jnp.dot(w, w)
        return cls(u_hat, w, b)

    def _log_det(self, x):
        t = jnp.tanh(jnp.dot(self.w, x) + self.b)
        return jnp.log(jnp.abs(1.0 + (1.0 - t * t) * jnp.dot(self.w, self.u)))

    def forward_and_log_det(self, x):
        x = as_event_vector(x, self.u.shape[0], "x", "Planar")
        y = x + self.u * jnp.tanh(jnp.dot(self.w, x) + self.b)
        return y, self._log_det(x)

    def inverse_and_log_det(self, y):
        y = as_event_vector(y, self.u.shape[0], "y", "Planar")
        wy, wu = jnp.dot(self.w, y), jnp.dot(self.w, self.u)

        def residual(alpha):
            return alpha + wu * jnp.tanh(alpha + self.b) - wy

        def bisect(_, bracket):
            lo, hi = bracket
            mid = 0.5 * (lo + hi)
            positive = residual(mid) > 0
            return jnp.where(positive, lo, mid), jnp.where(positive, mid, hi)

        width = jnp.abs(wu) + 1.0
        lo, hi = jax.lax.fori_loop(
            0, _BISECTION_STEPS, bisect, (jax.lax.stop_gradient(wy - width),
                                          jax.lax.stop_gradient(wy + width))
        )
        alpha = jax.lax.stop_gradient(0.5 * (lo + hi))
        for _ in range(_NEWTON_STEPS):
            t = jnp.tanh(alpha + self.b)
            alpha = alpha - residual(alpha) / (1.0 + wu * (1.0 - t * t))
        x = y - self.u * jnp.tanh(alpha + self.b)
        return x, -self._log_det(x)
