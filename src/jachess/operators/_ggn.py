"""Generalized Gauss-Newton operator Jᵀ ∇²ℓ J for a model and a convex loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from jachess.operators._base import Precision
from jachess.operators._curvature import CurvatureOperator, scalar_of, split_pair


class GGN(CurvatureOperator):
    """G = (1/N) Σ_b n_b J_bᵀ ∇²_z ℓ(z_b, y_b) J_b, J_b = ∂ model(params, x_b) / ∂ params.

    The Hessian with the model's second derivatives dropped: positive semi-definite when
    ℓ is convex in the outputs (cross-entropy, MSE). Per product: one JVP and one VJP of
    the model plus an HVP of ℓ in output space (after one linearization).

    Args:
        model: model(params, inputs) -> outputs (any pytree).
        loss: loss(outputs, targets) -> the batch's mean loss (scalar).
        params: parameters (any pytree of floating arrays).
        data: (inputs, targets) arrays with `batch_size`, or an iterable of such pairs.
        batch_size: examples per batch when data is arrays (as for Hessian).
        wrt: params -> the sub-pytree to take curvature in (as for Hessian).
        linearize: linearise the model once per batch (as for Hessian).
        precision: matmul precision (as for Hessian).
        devices: devices to shard batches across (as for Hessian).
        progress: show a progress bar over batches (as for Hessian).

    Shape: (n, n), n = number of selected parameters.

    Example:
        >>> G = GGN(mlp, cross_entropy, params, data=(X, Y), batch_size=512)
        >>> G @ v
    """

    def __init__(
        self,
        model: Callable,
        loss: Callable,
        params: Any,
        data: Any,
        *,
        batch_size: int | None = None,
        wrt: Callable | None = None,
        linearize: bool = True,
        precision: Precision = "highest",
        devices: Any = None,
        progress: bool = False,
    ):
        self.model = model
        self.loss = loss
        self._setup(params, data, batch_size, wrt, linearize, precision, devices, progress)
        self._check_first_batch()

    def batch_gradient(self, s, s0, batch, index):
        del index
        inputs, targets = split_pair(batch, "jachess.operators.GGN")

        def outputs_of(s):
            return self.model(self.params_at(s), inputs)

        z0, dz = jax.jvp(outputs_of, (s0,), (s - s0,))
        z_lin = jax.tree_util.tree_map(lambda a, b: a + b, z0, dz)

        def loss_of(z):
            return scalar_of(self.loss(z, targets), "the loss of jachess.operators.GGN")

        gz = jax.grad(loss_of)(z_lin)
        _, pullback = jax.vjp(outputs_of, s0)
        return pullback(gz)[0]
