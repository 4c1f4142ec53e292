"""Fisher information operators: empirical (data labels) and true (sampled labels)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp

from jachess._errors import OptionError
from jachess._options import check_choice
from jachess.operators._base import Precision
from jachess.operators._curvature import CurvatureOperator, scalar_of, split_pair

FisherKind = Literal["empirical", "true"]


class Fisher(CurvatureOperator):
    """F = (1/N) Σ_i g_i g_iᵀ, g_i = ∇_params log p(y_i | x_i), never formed.

    kind="empirical": y_i are the data's targets. kind="true": y_i ~ sample(key, outputs)
    from the model's predictive law, drawn once per operator (batch b uses
    fold_in(key, b)), so the operator is a fixed matrix: a one-sample Monte Carlo
    estimate of E_y[g gᵀ]. Per product: per-example JVP and VJP of the log-likelihood
    (vmapped over the batch's examples) after one linearization.

    Args:
        model: model(params, inputs) -> outputs.
        log_likelihood: log_likelihood(outputs, targets) -> the batch's mean
            log-likelihood; it is called on single-example batches (leading axis 1).
        params: parameters (any pytree).
        data: (inputs, targets) arrays with `batch_size`, or an iterable of pairs
            (targets are ignored when kind="true" but must be present).
        kind: "empirical" or "true".
        sample: sample(key, outputs) -> targets for one batch (kind="true"), e.g.
            lambda key, logits: jax.random.categorical(key, logits).
        key: PRNG key for kind="true".
        batch_size: examples per batch when data is arrays (as for Hessian).
        wrt: params -> the sub-pytree to take curvature in (as for Hessian).
        linearize: linearise the model once per batch (as for Hessian).
        precision: matmul precision (as for Hessian).
        devices: devices to shard batches across (as for Hessian).
        progress: show a progress bar over batches (as for Hessian).

    Example:
        >>> F = Fisher(mlp, log_lik, params, data=(X, Y), batch_size=512)
    """

    def __init__(
        self,
        model: Callable,
        log_likelihood: Callable,
        params: Any,
        data: Any,
        *,
        kind: FisherKind = "empirical",
        sample: Callable | None = None,
        key: jax.Array | None = None,
        batch_size: int | None = None,
        wrt: Callable | None = None,
        linearize: bool = True,
        precision: Precision = "highest",
        devices: Any = None,
        progress: bool = False,
    ):
        self.kind = check_choice("kind", kind, FisherKind)
        if kind == "true" and (sample is None or key is None):
            raise OptionError(
                "Fisher(kind='true') needs sample= and key=, but got sample="
                f"{sample!r}, key={key!r}. Pass e.g. sample=lambda key, logits: "
                "jax.random.categorical(key, logits) and key=jax.random.key(0)."
            )
        self.model = model
        self.log_likelihood = log_likelihood
        self.sample = sample
        self._setup(params, data, batch_size, wrt, linearize, precision, devices, progress)
        if key is not None:
            if not jnp.issubdtype(jnp.asarray(key).dtype, jax.dtypes.prng_key):
                key = jax.random.wrap_key_data(jnp.asarray(key, jnp.uint32))
            self.key_data = jax.random.key_data(key)
        self._check_first_batch()

    def batch_gradient(self, s, s0, batch, index):
        inputs, targets = split_pair(batch, "jachess.operators.Fisher")
        if self.kind == "true":
            outputs0 = self.model(self.params_at(s0), inputs)
            targets = jax.lax.stop_gradient(self.sample(self.batch_key(index), outputs0))

        def per_example(s):
            params = self.params_at(s)

            def one(x, y):
                x1 = jax.tree_util.tree_map(lambda a: a[None], x)
                y1 = jax.tree_util.tree_map(lambda a: a[None], y)
                value = self.log_likelihood(self.model(params, x1), y1)
                return scalar_of(value, "the log_likelihood of jachess.operators.Fisher")

            return jax.vmap(one)(inputs, targets)

        _, scores_v = jax.jvp(per_example, (s0,), (s - s0,))
        _, pullback = jax.vjp(per_example, s0)
        return pullback(scores_v / scores_v.shape[0])[0]
