"""Public detection: global Jacobian and Hessian sparsity patterns of a function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import scipy.sparse as sp

from jachess._derivatives._products import _SCALAR_HINT
from jachess._trees import as_float_tree, flatten_function, require_scalar
from jachess.sparsity._detection._graph import Node
from jachess.sparsity._detection._interpret import Context, interpret


def _trace(f: Callable, x: Any):
    x = as_float_tree(x, "x")
    x_flat, f_flat, _, out_struct = flatten_function(f, x)
    closed = jax.make_jaxpr(f_flat)(x_flat)
    return closed, x_flat.shape[0], out_struct


def _run(closed, n: int, *, hessian: bool, strict: bool):
    ctx = Context(n, hessian=hessian, strict=strict)
    x_node = Node((n,), deps=sp.eye_array(n, dtype=bool, format="csr"))
    outs = interpret(closed, [x_node], ctx)
    return ctx, x_node, outs


def _as_pattern(deps, size: int, n: int) -> sp.csr_array:
    if deps is None:
        return sp.csr_array((size, n), dtype=bool)
    pattern = sp.csr_array(deps, dtype=bool)
    pattern.sum_duplicates()
    pattern.eliminate_zeros()
    pattern.sort_indices()
    return pattern


def jacobian_pattern(f: Callable, x: Any, *, strict: bool = False) -> sp.csr_array:
    """Global sparsity pattern of the Jacobian of f, valid at every x.

    Interprets the jaxpr of f once (no derivative is evaluated): entry (i, j) is set
    when output i can depend on input j for some input value (both branches of a cond,
    every case of a select). Functions with custom derivative rules are read through the
    rule JAX differentiates (custom_jvp's JVP, custom_vjp's backward pass); scans up to
    1000 steps are unrolled. The pattern is sound: where a primitive cannot be proven it
    is made denser and a SparsityWarning names it. Cost: one trace of f plus sparse-matrix
    work linear in the number of dependencies.

    The pattern is static structure: only x's shapes and dtypes are read, so x may be a
    tracer inside jax.jit / vmap / grad and the answer is the same; the result is a
    host-side scipy matrix, not a JAX array (compute it once, outside the hot loop).

    Args:
        f: function of an array or pytree, returning an array or pytree.
        x: a point; only its shapes and dtypes matter.
        strict: raise SparsityDetectionError instead of warning when a primitive's
            pattern cannot be proven (unknown primitives, value-dependent indices).

    Returns:
        scipy.sparse.csr_array of bool, shape (f(x).size, x.size), flattened row-major.

    Example:
        >>> jacobian_pattern(lambda x: x[1:] * x[:-1], jnp.ones(4)).toarray()
    """
    closed, n, _out_struct = _trace(f, x)
    ctx, _, outs = _run(closed, n, hessian=False, strict=strict)
    ctx.emit_warnings()
    (out,) = outs
    return _as_pattern(out.deps, out.size, n)


def hessian_pattern(f: Callable, x: Any, *, strict: bool = False) -> sp.csr_array:
    """Global sparsity pattern of the Hessian of a scalar f, valid at every x.

    (i, j) is set when d²f/dx_i dx_j can be nonzero: products a*b couple the inputs of a
    with those of b, nonlinear functions couple all inputs of their argument, linear
    operations couple nothing; only terms that reach the output count. ``x0 * x1`` gives
    the off-diagonal pair only, a linear f an empty pattern. Like jacobian_pattern it
    reads only x's shapes and dtypes (a tracer is fine) and returns a host-side matrix.

    Args:
        f: scalar function of an array or pytree.
        x: a point; only its shapes and dtypes matter.
        strict: raise SparsityDetectionError instead of warning when a pattern cannot be
            proven.

    Returns:
        scipy.sparse.csr_array of bool, shape (x.size, x.size), symmetric.

    Example:
        >>> hessian_pattern(lambda x: jnp.sum(x[1:] * x[:-1]), jnp.ones(4)).toarray()
    """

    def scalar_f(z):
        return require_scalar(f(z), "jachess.sparsity.hessian_pattern", _SCALAR_HINT)

    closed, n, _ = _trace(scalar_f, x)
    ctx, _, outs = _run(closed, n, hessian=True, strict=strict)
    ctx.emit_warnings()
    pattern = ctx.graph.interactions(outs, n)
    return _as_pattern(pattern, n, n)


__all__ = ["hessian_pattern", "jacobian_pattern"]
