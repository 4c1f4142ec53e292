"""Affine coupling (RealNVP) and masked autoregressive (MAF) bijectors.

Both are triangular maps (after a permutation) whose diagonal is exp(log_scale), so
log|det J| = Σ log_scale over the transformed entries: one conditioner call instead
of an O(n³) determinant.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jachess._errors import ShapeError
from jachess.density._bijector import AbstractBijector, as_event_vector


def _shift_and_log_scale(conditioner, z, size, owner):
    out = conditioner(z)
    if not (isinstance(out, tuple | list) and len(out) == 2):
        raise ShapeError(
            f"{owner}: the conditioner must return a pair (shift, log_scale), but it "
            f"returned {type(out).__name__}."
        )
    shift, log_scale = (jnp.asarray(a) for a in out)
    if shift.shape != (size,) or log_scale.shape != (size,):
        raise ShapeError(
            f"{owner}: the conditioner must return shift and log_scale of shape ({size},) "
            f"(one per input), but got {tuple(shift.shape)} and {tuple(log_scale.shape)}."
        )
    return shift, log_scale


class AffineCoupling(AbstractBijector):
    """RealNVP affine coupling: y = x on the mask, y = x·exp(s) + t off it.

    (t, s) = conditioner(x_masked), x_masked = where(mask, x, 0), so t and s depend
    only on the unchanged (conditioning) entries and
    log|det J| = Σ_{i not in mask} s_i. Inverse in one conditioner call:
    x = (y - t)·exp(-s) off the mask.

    Args:
        mask: boolean vector, True for the conditioning entries that pass unchanged.
        conditioner: x_masked -> (shift, log_scale), each of the mask's shape. A
            pytree callable (e.g. jax.tree_util.Partial(apply, params)) makes its
            parameters trainable leaves; a plain function is static.

    Example:
        >>> mask = jnp.array([True, False])
        >>> layer = AffineCoupling(mask, lambda z: (z[::-1], 0.5 * z[::-1]))
        >>> y, logdet = layer.forward_and_log_det(jnp.array([1.0, 2.0]))  # logdet 0.5
    """

    _fields = ("conditioner",)
    _static_fields = ("mask",)

    def __init__(self, mask, conditioner: Callable):
        mask = np.asarray(mask)
        if mask.ndim != 1 or mask.dtype != bool:
            raise ShapeError(
                f"AffineCoupling needs mask to be a 1-D boolean array, but got "
                f"{mask.dtype}{list(mask.shape)}. Example: mask = jnp.arange(d) % 2 == 0."
            )
        if not callable(conditioner):
            raise TypeError(
                f"AffineCoupling needs a callable conditioner(x_masked) -> (shift, "
                f"log_scale), but got {type(conditioner).__name__}."
            )
        self.mask = tuple(bool(m) for m in mask)
        self.conditioner = conditioner

    def _parts(self, z):
        mask = jnp.asarray(self.mask)
        shift, log_scale = _shift_and_log_scale(
            self.conditioner, jnp.where(mask, z, 0.0), len(self.mask), "AffineCoupling"
        )
        return mask, jnp.where(mask, 0.0, shift), jnp.where(mask, 0.0, log_scale)

    def forward_and_log_det(self, x):
        x = as_event_vector(x, len(self.mask), "x", "AffineCoupling")
        mask, shift, log_scale = self._parts(x)
        y = jnp.where(mask, x, x * jnp.exp(log_scale) + shift)
        return y, jnp.sum(log_scale)

    def inverse_and_log_det(self, y):
        y = as_event_vector(y, len(self.mask), "y", "AffineCoupling")
        mask, shift, log_scale = self._parts(y)
        x = jnp.where(mask, y, (y - shift) * jnp.exp(-log_scale))
        return x, -jnp.sum(log_scale)


class MaskedAutoregressive(AbstractBijector):
    """Masked autoregressive affine flow (MAF), TFP's convention.

    y_i = x_i·exp(s_i(y_{<i})) + t_i(y_{<i}) with (t, s) = conditioner(y), where
    entry i of the conditioner's output may depend only on y_0..y_{i-1}. Then
    J_{f⁻¹}(y) is triangular with diagonal exp(-s(y)), so
    log|det J_f(x)| = Σ s(y). The inverse (density direction) costs one conditioner
    call: x = (y - t(y))·exp(-s(y)); the forward (sampling) direction costs n calls,
    one per entry, as in MAF.

    The autoregressive property is the caller's promise; a conditioner that breaks it
    makes the log-det wrong. Check it with jachess.slogdet_jacobian(layer.forward, x),
    or with jachess.sparsity.jacobian_pattern(conditioner-output, y) being strictly
    lower triangular.

    Args:
        conditioner: y -> (shift, log_scale), autoregressive, each of y's shape.
    """

    _fields = ("conditioner",)

    def __init__(self, conditioner: Callable):
        if not callable(conditioner):
            raise TypeError(
                "MaskedAutoregressive needs a callable conditioner(y) -> (shift, "
                f"log_scale), but got {type(conditioner).__name__}."
            )
        self.conditioner = conditioner

    def _conditioner(self, y):
        return _shift_and_log_scale(self.conditioner, y, y.shape[0], "MaskedAutoregressive")

    def forward_and_log_det(self, x):
        x = _as_vector(x, "x")

        def step(_, y):
            shift, log_scale = self._conditioner(y)
            return x * jnp.exp(log_scale) + shift

        # Entry i is exact after i + 1 sweeps (it depends only on earlier entries).
        y = jax.lax.fori_loop(0, x.shape[0], step, jnp.zeros_like(x))
        _, log_scale = self._conditioner(y)
        return y, jnp.sum(log_scale)

    def inverse_and_log_det(self, y):
        y = _as_vector(y, "y")
        shift, log_scale = self._conditioner(y)
        return (y - shift) * jnp.exp(-log_scale), -jnp.sum(log_scale)


def _as_vector(x, name):
    x = jnp.asarray(x)
    if x.ndim != 1:
        raise ShapeError(
            f"MaskedAutoregressive acts on one sample, a 1-D vector, but {name} has shape "
            f"{tuple(x.shape)}. For a batch use jax.vmap(bijector.forward)(xs)."
        )
    return as_event_vector(x, x.shape[0], name, "MaskedAutoregressive")
