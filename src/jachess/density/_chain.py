"""Composition and permutation: Chain([b1, b2, ...]) = b1 ∘ b2 ∘ ..., Permutation(perm).

Chain rule for determinants: log|det J_{b1∘b2}(x)| = log|det J_{b1}(b2(x))| +
log|det J_{b2}(x)|, so a chain sums its layers' log-dets.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from jachess._errors import ShapeError
from jachess.density._bijector import AbstractBijector, as_event_vector


class Permutation(AbstractBijector):
    """y = x[perm]; |det J| = 1, so the log-det is 0.

    Args:
        perm: a permutation of 0..d-1 (y_i = x_{perm[i]}).
    """

    _static_fields = ("perm",)

    def __init__(self, perm):
        perm = np.asarray(perm)
        if perm.ndim != 1 or not np.issubdtype(perm.dtype, np.integer) or not np.array_equal(
            np.sort(perm), np.arange(perm.shape[0])
        ):
            raise ShapeError(
                f"Permutation needs perm to be a 1-D integer permutation of 0..d-1, but got "
                f"{perm!r}. Example: Permutation(jnp.arange(d)[::-1])."
            )
        self.perm = tuple(int(p) for p in perm)

    def forward_and_log_det(self, x):
        x = as_event_vector(x, len(self.perm), "x", "Permutation")
        return x[np.asarray(self.perm)], jnp.zeros((), x.dtype)

    def inverse_and_log_det(self, y):
        y = as_event_vector(y, len(self.perm), "y", "Permutation")
        return y[np.argsort(self.perm)], jnp.zeros((), y.dtype)


class Chain(AbstractBijector):
    """b1 ∘ b2 ∘ ... ∘ bk: the last is applied first (as in distrax); log-dets add up.

    Args:
        bijectors: a non-empty sequence of bijectors (anything with
            forward_and_log_det and inverse_and_log_det).

    Example:
        >>> flow = Chain([Affine(1.0, 2.0), Tanh()])  # y = 1 + 2 tanh(x)
    """

    _fields = ("bijectors",)

    def __init__(self, bijectors: Sequence):
        bijectors = tuple(bijectors)
        if not bijectors:
            raise ShapeError("Chain needs at least one bijector, but got an empty sequence.")
        for i, b in enumerate(bijectors):
            if not (hasattr(b, "forward_and_log_det") and hasattr(b, "inverse_and_log_det")):
                raise TypeError(
                    f"Chain needs bijectors with forward_and_log_det and inverse_and_log_det, "
                    f"but bijectors[{i}] is a {type(b).__name__}."
                )
        self.bijectors = bijectors

    def forward_and_log_det(self, x):
        total = 0.0
        for b in reversed(self.bijectors):
            x, log_det = b.forward_and_log_det(x)
            total = total + log_det
        return x, total

    def inverse_and_log_det(self, y):
        total = 0.0
        for b in self.bijectors:
            y, log_det = b.inverse_and_log_det(y)
            total = total + log_det
        return y, total
