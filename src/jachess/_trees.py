"""Pytree plumbing shared by every layer: input checks, flattening, describing shapes.

Derivatives are computed on flat vectors (ravel_pytree, row-major) and put back into
the nested layout jax.jacfwd uses: an output-structured tree of input-structured trees,
each leaf of shape out_leaf.shape + in_leaf.shape.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jachess._errors import InputDtypeError, NotScalarError, ShapeError


def describe(tree: Any) -> str:
    """A short text of a pytree's dtypes and shapes, e.g. ``float32[3,2]``."""
    def leaf(a: Any) -> str:
        shape = getattr(a, "shape", ())
        dtype = getattr(a, "dtype", type(a).__name__)
        name = np.dtype(dtype).name if hasattr(a, "dtype") else dtype
        return f"{name}[{','.join(map(str, shape))}]"

    leaves, treedef = jax.tree_util.tree_flatten(tree)
    if treedef.num_leaves == 1 and treedef.num_nodes == 1:
        return leaf(leaves[0])
    return str(jax.tree_util.tree_unflatten(treedef, [leaf(a) for a in leaves])).replace("'", "")


@functools.lru_cache(maxsize=64)
def _dtype_kind(dtype: np.dtype) -> str:
    """'float', 'complex' or 'other' (cached: issubdtype is slow on the hot path)."""
    if jnp.issubdtype(dtype, jnp.complexfloating):
        return "complex"
    return "float" if jnp.issubdtype(dtype, jnp.floating) else "other"


def as_float_tree(x: Any, name: str = "x") -> Any:
    """Convert every leaf to a JAX array and require a real floating dtype.

    Raises:
        InputDtypeError: for integer, boolean or complex leaves, with the fix.
    """
    if isinstance(x, (jax.Array, np.ndarray)) and _dtype_kind(x.dtype) == "float":
        return x  # the common case, kept cheap: this runs on every call
    leaves, treedef = jax.tree_util.tree_flatten(x)
    if not leaves:
        raise ShapeError(
            f"{name} must contain at least one array, but got an empty pytree {x!r}."
        )
    converted = []
    for leaf in leaves:
        # JAX arrays (concrete or tracers) pass as they are; so do NumPy arrays, which
        # jit takes directly (jnp.asarray on the host would cost ~60 µs a call).
        if isinstance(leaf, (jax.Array, np.ndarray)):
            arr = leaf
        else:
            try:
                arr = jnp.asarray(leaf)
            except TypeError as error:
                raise InputDtypeError(
                    f"{name} must be an array or a pytree of arrays, but got a leaf of type "
                    f"{type(leaf).__name__} ({error})."
                ) from None
        kind = _dtype_kind(arr.dtype)
        if kind == "complex":
            raise InputDtypeError(
                f"{name} must have a real floating dtype, but got {arr.dtype}. jachess "
                "differentiates real functions; for complex inputs split real and imaginary "
                "parts, or use jax.jacfwd(..., holomorphic=True)."
            )
        if kind == "other":
            raise InputDtypeError(
                f"{name} must have a floating dtype, but got {arr.dtype}: integers and booleans "
                f"have no derivatives. Pass {name} as floats, e.g. "
                f"jnp.asarray({name}, dtype=float)."
            )
        converted.append(arr)
    return jax.tree_util.tree_unflatten(treedef, converted)


def as_tangent_like(v: Any, like: Any, name: str, like_name: str = "x") -> Any:
    """Check that `v` has the structure and leaf shapes of `like`, and cast it to its dtypes."""
    v_leaves, v_def = jax.tree_util.tree_flatten(v)
    like_leaves, like_def = jax.tree_util.tree_flatten(like)
    if v_def != like_def:
        raise ShapeError(
            f"{name} must have the same pytree structure as {like_name}: expected "
            f"{describe(like)}, got {describe(v)}."
        )
    cast = []
    for a, b in zip(v_leaves, like_leaves):
        a = a if isinstance(a, jax.Array) else jnp.asarray(a)
        if a.shape != b.shape:
            raise ShapeError(
                f"{name} must have the shape of {like_name}: expected {describe(like)}, "
                f"got {describe(v)}."
            )
        if jnp.issubdtype(a.dtype, jnp.complexfloating):
            raise InputDtypeError(f"{name} must be real, but got dtype {a.dtype}.")
        cast.append(a.astype(b.dtype))
    return jax.tree_util.tree_unflatten(like_def, cast)


def require_scalar(y: Any, what: str, alternative: str) -> jax.Array:
    """Return `y` if it is a single real array of shape (); otherwise raise NotScalarError."""
    leaves, treedef = jax.tree_util.tree_flatten(y)
    if treedef.num_leaves == 1 and isinstance(leaves[0], (int, float, np.number, np.ndarray)):
        leaves = [jnp.asarray(leaves[0])]  # a Python or NumPy scalar, as jax.grad accepts
    if treedef.num_leaves != 1 or getattr(leaves[0], "shape", None) != ():
        raise NotScalarError(
            f"{what} requires f to return a scalar (shape ()), but f(x) is {describe(y)}. "
            f"{alternative}"
        )
    if not jnp.issubdtype(leaves[0].dtype, jnp.floating):
        raise InputDtypeError(
            f"{what} requires f to return a floating scalar, but f(x) has dtype {leaves[0].dtype}."
        )
    return leaves[0]


def flatten_function(f, x):
    """Flat view of f around x: (x_flat, f_flat, unravel_x, output shape tree)."""
    x_flat, unravel_x = ravel_pytree(x)
    out_struct = jax.eval_shape(f, x)

    def f_flat(z):
        return ravel_pytree(f(unravel_x(z)))[0]

    return x_flat, f_flat, unravel_x, out_struct


def unflatten_matrix(matrix: jax.Array, out_tree: Any, in_tree: Any) -> Any:
    """Split an (m, n) matrix into jax.jacfwd's nested layout.

    Each block is reshaped to out_leaf.shape + in_leaf.shape; a single array in and out
    gives one array of shape out.shape + in.shape.
    """
    out_leaves, out_def = jax.tree_util.tree_flatten(out_tree)
    in_leaves, in_def = jax.tree_util.tree_flatten(in_tree)
    if len(out_leaves) == 1 and len(in_leaves) == 1:  # the common case: no slicing at all
        block = matrix.reshape(tuple(out_leaves[0].shape) + tuple(in_leaves[0].shape))
        return jax.tree_util.tree_unflatten(
            out_def, [jax.tree_util.tree_unflatten(in_def, [block])])
    row_sizes = [int(np.prod(o.shape)) for o in out_leaves]
    col_sizes = [int(np.prod(i.shape)) for i in in_leaves]
    row_starts = np.concatenate([[0], np.cumsum(row_sizes)]).astype(int)
    col_starts = np.concatenate([[0], np.cumsum(col_sizes)]).astype(int)
    rows = []
    for a, o in enumerate(out_leaves):
        blocks = []
        for b, i in enumerate(in_leaves):
            block = matrix[row_starts[a] : row_starts[a + 1], col_starts[b] : col_starts[b + 1]]
            blocks.append(block.reshape(tuple(o.shape) + tuple(i.shape)))
        rows.append(jax.tree_util.tree_unflatten(in_def, blocks))
    return jax.tree_util.tree_unflatten(out_def, rows)


def tree_size(tree: Any) -> int:
    """Total number of scalar entries in a pytree of arrays or ShapeDtypeStructs."""
    return int(sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(tree)))
