"""Elementwise bijectors: y_i = g(x_i), so J is diagonal and log|det J| = Σ_i log|g'(x_i)|.

Each acts on a sample of any shape; the log-det is summed over all its entries.
Cost: one pass over x; no Jacobian is formed.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jachess._errors import ShapeError
from jachess.density._bijector import AbstractBijector, as_parameter, as_sample


class Affine(AbstractBijector):
    """y = shift + scale * x (elementwise, broadcasting); log|det J| = Σ log|scale|.

    Args:
        shift: array broadcastable to the sample's shape.
        scale: array broadcastable to the sample's shape; nonzero for a bijection
            (a zero scale gives log-det -inf).

    Example:
        >>> y, logdet = Affine(1.0, jnp.array([2.0, 3.0])).forward_and_log_det(jnp.ones(2))
        >>> # y = [3, 4], logdet = log 6
    """

    _fields = ("shift", "scale")

    def __init__(self, shift, scale):
        self.shift = as_parameter(shift, "shift", "Affine")
        self.scale = as_parameter(scale, "scale", "Affine")

    def _check(self, x):
        try:
            shape = jnp.broadcast_shapes(x.shape, jnp.shape(self.shift), jnp.shape(self.scale))
        except ValueError:
            shape = None
        if shape != x.shape:
            raise ShapeError(
                f"Affine: shift {tuple(jnp.shape(self.shift))} and scale "
                f"{tuple(jnp.shape(self.scale))} must broadcast to the sample's shape "
                f"{tuple(x.shape)} without changing it (a bijection keeps the shape)."
            )
        return jnp.sum(jnp.broadcast_to(jnp.log(jnp.abs(self.scale)), x.shape))

    def forward_and_log_det(self, x):
        x = as_sample(x, "x")
        log_det = self._check(x)
        return self.shift + self.scale * x, log_det

    def inverse_and_log_det(self, y):
        y = as_sample(y, "y")
        log_det = self._check(y)
        return (y - self.shift) / self.scale, -log_det


class Softplus(AbstractBijector):
    """y = log(1 + eˣ) onto (0, ∞); g'(x) = sigmoid(x), so log|det J| = Σ log σ(x).

    Inverse: x = y + log(1 - e^{-y}) for y > 0 (NaN outside the range).
    """

    def forward_and_log_det(self, x):
        x = as_sample(x, "x")
        return jax.nn.softplus(x), jnp.sum(jax.nn.log_sigmoid(x))

    def inverse_and_log_det(self, y):
        y = as_sample(y, "y")
        x = y + jnp.log(-jnp.expm1(-y))
        return x, -jnp.sum(jax.nn.log_sigmoid(x))


class Sigmoid(AbstractBijector):
    """y = 1 / (1 + e⁻ˣ) onto (0, 1); log|det J| = Σ [log σ(x) + log σ(-x)].

    Inverse (logit): x = log y - log(1 - y) for 0 < y < 1.
    """

    def forward_and_log_det(self, x):
        x = as_sample(x, "x")
        return jax.nn.sigmoid(x), jnp.sum(jax.nn.log_sigmoid(x) + jax.nn.log_sigmoid(-x))

    def inverse_and_log_det(self, y):
        y = as_sample(y, "y")
        x = jnp.log(y) - jnp.log1p(-y)
        return x, -jnp.sum(jax.nn.log_sigmoid(x) + jax.nn.log_sigmoid(-x))


def _log_tanh_derivative(x):
    # log(1 - tanh²x) = 2 (log 2 - x - softplus(-2x)), stable for large |x|.
    return 2.0 * (math.log(2.0) - x - jax.nn.softplus(-2.0 * x))


class Tanh(AbstractBijector):
    """y = tanh(x) onto (-1, 1); log|det J| = Σ log(1 - tanh² x), computed stably.

    Inverse: x = artanh(y) for |y| < 1.
    """

    def forward_and_log_det(self, x):
        x = as_sample(x, "x")
        return jnp.tanh(x), jnp.sum(_log_tanh_derivative(x))

    def inverse_and_log_det(self, y):
        y = as_sample(y, "y")
        x = jnp.arctanh(y)
        return x, -jnp.sum(_log_tanh_derivative(x))
