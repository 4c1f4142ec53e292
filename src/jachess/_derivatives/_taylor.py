"""Taylor models f(x0 + d) ≈ Σ_{k=0}^{p} D^k f(x0)[d, ..., d] / k!.

Orders 1 and 2 are built from the dense Jacobian (n passes) and second-derivative
tensor (n² entries per output, n HVP-like passes), so evaluating the model is a few
matrix products. Orders above 2 add the directional terms D^k f(x0)[d]^k with Taylor
mode (jax.experimental.jet) at each call: about p² evaluations of f per call, and no
k-th order tensor is ever formed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.experimental import jet
from jax.flatten_util import ravel_pytree

from jachess._derivatives._dense import jacobian_matrix
from jachess._errors import OptionError
from jachess._trees import (
    as_float_tree,
    as_tangent_like,
    flatten_function,
    tree_size,
    unflatten_matrix,
)


class TaylorModel:
    """Callable Taylor polynomial of f around x0: ``model(x) ≈ f(x)``.

    Attributes:
        x0: the expansion point.
        order: the polynomial degree p.
        value: f(x0).
        jacobian: J(x0) in jax.jacfwd's layout (for scalar f, the gradient), order >= 1.
        hessian: second derivatives in jax.hessian's layout, order >= 2.
    """

    def __init__(self, f: Callable, x0: Any, order: int):
        self.f = f
        self.x0 = x0
        self.order = order
        x_flat, f_flat, _, out_struct = flatten_function(f, x0)
        self._x0_flat = x_flat
        self._f_flat = f_flat
        self._out_struct = out_struct
        _, self._unravel_out = ravel_pytree(
            jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), out_struct)
        )
        m = tree_size(out_struct)
        self._value_flat = jax.jit(f_flat)(x_flat)
        self.value = self._unravel_out(self._value_flat)
        self._jacobian_flat = None
        self._second_flat = None
        if order >= 1:
            self._jacobian_flat = jax.jit(
                lambda z: jacobian_matrix(f_flat, z, m, "auto", None)
            )(x_flat)
            self.jacobian = unflatten_matrix(self._jacobian_flat, out_struct, x0)
        if order >= 2:
            n = x_flat.shape[0]

            def jac(z):
                return jacobian_matrix(f_flat, z, m, "rev", None)

            second = jax.jit(lambda z: jacobian_matrix(lambda w: jac(w).reshape(-1), z,
                                                       m * n, "fwd", None))(x_flat)
            self._second_flat = second.reshape(m, n, n)
            self.hessian = _unflatten_second(self._second_flat, out_struct, x0)
        self._evaluate = jax.jit(self._evaluate_flat)

    def _evaluate_flat(self, x_flat: jax.Array) -> jax.Array:
        d = x_flat - self._x0_flat
        y = self._value_flat
        if self.order >= 1:
            y = y + self._jacobian_flat @ d
        if self.order >= 2:
            y = y + 0.5 * jnp.einsum("inm,n,m->i", self._second_flat, d, d)
        if self.order >= 3:
            series = [d] + [jnp.zeros_like(d)] * (self.order - 1)
            _, terms = jet.jet(self._f_flat, (self._x0_flat,), (series,))
            for k in range(3, self.order + 1):
                y = y + terms[k - 1] / math.factorial(k)
        return y

    def __call__(self, x: Any) -> Any:
        x = as_tangent_like(as_float_tree(x, "x"), self.x0, "x", "x0")
        return self._unravel_out(self._evaluate(ravel_pytree(x)[0]))

    def __repr__(self) -> str:
        return f"TaylorModel(order={self.order}, n={self._x0_flat.shape[0]})"


def _unflatten_second(second: jax.Array, out_struct: Any, x0: Any) -> Any:
    """(m, n, n) second derivatives in jax.hessian's layout: out tree, x tree, x tree.

    The rows (i, j) of second.reshape(m * n, n) are permuted into the ravel order of the
    Jacobian's own tree, which then plays the part of the "output" for one more split.
    """
    m, n, _ = second.shape
    index_tree = unflatten_matrix(jnp.arange(m * n).reshape(m, n), out_struct, x0)
    order = ravel_pytree(index_tree)[0].astype(int)
    return unflatten_matrix(second.reshape(m * n, n)[order], index_tree, x0)


def taylor(f: Callable, x0: Any, order: int = 2) -> TaylorModel:
    """Taylor model of f around x0: model(x) = Σ_{k<=order} D^k f(x0)[x - x0]^k / k!.

    Cost: building order 2 takes n passes for J and n² per output for the second
    derivatives; each call of the model is a few matrix products, plus about order²
    evaluations of f (Taylor mode) when order > 2.

    Args:
        f: function of one array or pytree argument.
        x0: expansion point.
        order: polynomial degree, a non-negative integer.

    Returns:
        A TaylorModel; ``model(x)`` has the structure of f(x0).

    Example:
        >>> model = jachess.taylor(jnp.exp, jnp.array([0.0]), order=3)
        >>> model(jnp.array([0.1]))  # 1 + 0.1 + 0.005 + 0.000167
    """
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise OptionError(f"order must be a non-negative integer, but got {order!r}.")
    return TaylorModel(f, as_float_tree(x0, "x0"), order)
