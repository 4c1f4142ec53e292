"""Matrix-free products: JVP (forward), VJP (reverse), gradient, HVP (forward-over-reverse).

Costs, in units of one evaluation of f: jvp ≈ 1-3, vjp ≈ 1-4 (stores the forward pass),
gradient = one vjp, hvp ≈ 2-4 gradients. None of them forms a matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from jachess._derivatives._jit import jit_with_static_function
from jachess._errors import ShapeError
from jachess._trees import as_float_tree, as_tangent_like, describe, require_scalar

_SCALAR_HINT = (
    "For a vector-valued f use jachess.jacobian, or reduce it first, e.g. "
    "lambda x: jnp.sum(f(x))."
)


def _scalar(f: Callable, what: str) -> Callable:
    def scalar_f(x):
        return require_scalar(f(x), what, _SCALAR_HINT)

    return scalar_f


# Inputs are checked inside the traced functions: at trace time only, so a compiled
# call costs no more than the jitted JAX function itself.


def _jvp(f, x, v):
    x = as_float_tree(x, "x")
    v = as_tangent_like(v, x, "v")
    return jax.jvp(f, (x,), (v,))


def _vjp(f, x, u):
    x = as_float_tree(x, "x")
    y, pullback = jax.vjp(f, x)
    u_leaves, u_def = jax.tree_util.tree_flatten(u)
    y_leaves, y_def = jax.tree_util.tree_flatten(y)
    if u_def != y_def or any(a.shape != b.shape for a, b in zip(u_leaves, y_leaves)):
        raise ShapeError(
            f"u must have the shape of f(x): expected {describe(y)}, got {describe(u)}."
        )
    u = jax.tree_util.tree_map(lambda a, b: a.astype(b.dtype), u, y)
    return y, pullback(u)[0]


def _gradient(f, x):
    x = as_float_tree(x, "x")
    return jax.grad(_scalar(f, "jachess.gradient"))(x)


def _value_and_gradient(f, x):
    x = as_float_tree(x, "x")
    return jax.value_and_grad(_scalar(f, "jachess.value_and_gradient"))(x)


def _hvp(f, x, v):
    x = as_float_tree(x, "x")
    v = as_tangent_like(v, x, "v")
    return jax.jvp(jax.grad(_scalar(f, "jachess.hvp")), (x,), (v,))[1]


_jvp_jit = jit_with_static_function(_jvp)
_vjp_jit = jit_with_static_function(_vjp)
_gradient_jit = jit_with_static_function(_gradient)
_value_and_gradient_jit = jit_with_static_function(_value_and_gradient)
_hvp_jit = jit_with_static_function(_hvp)


def jvp(f: Callable, x: Any, v: Any) -> tuple[Any, Any]:
    """Forward mode: the value f(x) and the Jacobian-vector product J v.

    Cost: about one to three evaluations of f; J is never formed.

    Args:
        f: function of one array or pytree argument.
        x: point (array or pytree of floating arrays; NumPy accepted).
        v: tangent with the structure and shapes of x.

    Returns:
        (f(x), J v), J v shaped like f(x).

    Example:
        >>> y, jv = jachess.jvp(jnp.sin, jnp.array([0.0, 1.0]), jnp.array([1.0, 0.0]))
    """
    return _jvp_jit(f, x, v)


def vjp(f: Callable, x: Any, u: Any) -> tuple[Any, Any]:
    """Reverse mode: the value f(x) and the vector-Jacobian product uᵀ J.

    Cost: about one to four evaluations of f (the forward pass is stored).

    Args:
        f: function of one array or pytree argument.
        x: point (array or pytree of floating arrays).
        u: cotangent with the structure and shapes of f(x).

    Returns:
        (f(x), uᵀ J), uᵀ J shaped like x.
    """
    return _vjp_jit(f, x, u)


def gradient(f: Callable, x: Any) -> Any:
    """∇f(x) of a scalar function, shaped like x. Cost: one reverse pass (≈ 2-4 f)."""
    return _gradient_jit(f, x)


def value_and_gradient(f: Callable, x: Any) -> tuple[jax.Array, Any]:
    """(f(x), ∇f(x)) of a scalar function in one reverse pass."""
    return _value_and_gradient_jit(f, x)


def hvp(f: Callable, x: Any, v: Any) -> Any:
    """Hessian-vector product H v = d/dt ∇f(x + t v) at t = 0 (forward-over-reverse).

    Cost: about two to four gradients; H is never formed.

    Args:
        f: scalar function.
        x: point (array or pytree).
        v: direction with the structure and shapes of x.

    Returns:
        H v, shaped like x.
    """
    return _hvp_jit(f, x, v)
