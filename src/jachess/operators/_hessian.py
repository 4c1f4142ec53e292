"""Hessian operator at a point, or of a mean loss over a dataset."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from jachess.operators._base import Precision
from jachess.operators._curvature import CurvatureOperator, scalar_of


class Hessian(CurvatureOperator):
    """H = ∇² f(x) (point) or ∇² (1/N) Σ_i loss_i(params) (dataset), never formed.

    `Hessian(f, x)`: f(x) -> scalar. `Hessian(loss, params, data=..., batch_size=...)`:
    loss(params, batch) -> the batch's mean loss; the operator is the Hessian of the mean
    over all examples (batches weighted by their size). Products are forward-over-reverse:
    one linearization of the gradient (a forward and a backward pass over the data),
    then about one gradient's cost per vector, k vectors batched in `matmat`.

    Args:
        f: loss function, f(params) or f(params, batch) -> scalar.
        params: point (array or any pytree of floating arrays).
        data: None, a tuple/pytree of arrays sliced along axis 0 by `batch_size`, or an
            iterable (list, DataLoader) of batches.
        batch_size: examples per batch for array data (None: one batch).
        wrt: None, or params -> sub-pytree (one layer, a list of leaves): the Hessian
            block of those parameters, others held fixed.
        linearize: keep the forward pass between products (faster; memory of the
            activations of the whole dataset). False recomputes it every product.
        precision: "highest" (full float32 matmuls, the default), "high", "default".
        devices: devices to shard each batch over (None: all visible devices).
        progress: print a progress line per pass over streamed batches.

    Shape: (n, n), n = number of selected parameters; vectors are flat
    (ravel_pytree order of wrt(params)) or pytrees like wrt(params).

    Example:
        >>> H = Hessian(loss, params, data=(X, Y), batch_size=512)
        >>> jachess.spectral.eigsh(H, 5).eigenvalues
    """

    def __init__(
        self,
        f: Callable,
        params: Any,
        data: Any = None,
        *,
        batch_size: int | None = None,
        wrt: Callable | None = None,
        linearize: bool = True,
        precision: Precision = "highest",
        devices: Any = None,
        progress: bool = False,
    ):
        self.loss = f
        self._setup(params, data, batch_size, wrt, linearize, precision, devices, progress)
        self._check_first_batch()

    def batch_gradient(self, s, s0, batch, index):
        del s0, index

        def loss_of(s):
            params = self.params_at(s)
            value = self.loss(params) if batch is None else self.loss(params, batch)
            return scalar_of(value, "jachess.operators.Hessian")

        return jax.grad(loss_of)(s)
