"""Jacobian operator at a point: J v by forward mode, Jᵀ u by reverse mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from jachess._trees import as_float_tree
from jachess.operators._base import AbstractOperator, Precision, Structure, check_precision


class Jacobian(AbstractOperator):
    """J = ∂f/∂x at x, shape (m, n) = (f(x).size, x.size), never formed.

    `J @ v` / `J.matmat(V)`: JVPs (forward mode) after one `jax.linearize`;
    `J.T @ u`: VJPs (reverse mode). `Jacobian(g, f(x)) @ Jacobian(f, x)` is the chain
    rule's product operator, equal to `Jacobian(lambda x: g(f(x)), x)`.

    Args:
        f: function of one array or pytree argument, any pytree output.
        x: point (array or pytree of floating arrays).
        precision: "highest" (default), "high" or "default" matmul precision.

    Example:
        >>> J = Jacobian(f, x)
        >>> J @ v, J.T @ u, J.to_dense()
    """

    _dynamic = ("x",)

    def __init__(self, f: Callable, x: Any, *, precision: Precision = "highest"):
        x = as_float_tree(x, "x")
        self.f = f
        self.x = x
        self.precision = check_precision(precision)
        self.in_structure = Structure(x)
        out = jax.eval_shape(f, x)
        self.out_structure = Structure(out)
        self.shape = (self.out_structure.size, self.in_structure.size)
        self.dtype = jax.numpy.result_type(self.in_structure.dtype, self.out_structure.dtype)

    def _flat_f(self):
        def f_flat(z):
            return self.out_structure.ravel(self.f(self.in_structure.unravel(z)))

        return f_flat, self.in_structure.ravel(self.x)

    def prepare(self, once: bool = False):
        f_flat, x0 = self._flat_f()
        _, linear = jax.linearize(f_flat, x0)
        return jax.vmap(linear, in_axes=1, out_axes=1)

    def _prepare_transpose(self):
        f_flat, x0 = self._flat_f()
        _, pullback = jax.vjp(f_flat, x0)
        return jax.vmap(lambda u: pullback(u)[0], in_axes=1, out_axes=1)
