"""Prepared sparse Jacobians and Hessians: detect and colour once, then one jitted call.

A prepared object holds the pattern, the colouring and the decompression indices, and a
jitted evaluation: one vmapped pass of JVPs, VJPs (or both, bicoloured) or HVPs over the
colour seeds, then one gather into a BCOO whose structure is fixed. It is hashable (by
identity) and calling it again with arrays of the same shapes does not re-trace f.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from jax.experimental import sparse as jsparse
from jax.flatten_util import ravel_pytree

from jachess._derivatives._products import _SCALAR_HINT
from jachess._errors import ShapeError
from jachess._options import Mode, check_choice, check_positive_int
from jachess._trees import as_float_tree, describe, require_scalar, tree_size
from jachess.sparsity._coloring import (
    as_pattern,
    bicolor,
    color_columns,
    color_star,
    column_lower_bound,
)
from jachess.sparsity._decompression import (
    bicolor_source,
    coordinates,
    forward_source,
    reverse_source,
    star_source,
)
from jachess.sparsity._detection import hessian_pattern, jacobian_pattern

#: Compressed passes are used when they are at most this fraction of the dense count.
DENSE_FRACTION = 0.75


def _batched(product: Callable, seeds: jax.Array, chunk_size: int | None) -> jax.Array:
    if chunk_size is None or chunk_size >= seeds.shape[0]:
        return jax.vmap(product)(seeds)
    return jax.lax.map(product, seeds, batch_size=chunk_size)


def _check_point(x: Any, like: tuple, name: str = "x") -> Any:
    x = as_float_tree(x, name)
    leaves, treedef = jax.tree_util.tree_flatten(x)
    got = (treedef, tuple((tuple(a.shape), jnp.dtype(a.dtype)) for a in leaves))
    if got != like:
        raise ShapeError(
            f"{name} must have the structure, shapes and dtypes the derivative was prepared "
            f"for, but got {describe(x)}. Prepare again for the new shapes."
        )
    return x


_LEAF = jax.tree_util.tree_structure(0)


def _signature(x: Any) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(x)
    return treedef, tuple((tuple(a.shape), jnp.dtype(a.dtype)) for a in leaves)


class _Prepared:
    """Common base: pattern, colours, mode, and the jitted evaluation."""

    pattern: sp.csr_array
    colors: np.ndarray
    num_colors: int
    mode: str
    lower_bound: int

    def __call__(self, x: Any) -> jsparse.BCOO:
        if not (isinstance(x, jax.Array) and (x.shape, x.dtype) == self._single_leaf):
            x = _check_point(x, self._signature)
        return self._evaluate(x)

    def _set_signature(self, x: Any) -> None:
        self._signature = _signature(x)
        treedef, leaves = self._signature
        # (shape, dtype) when the point is one array: the fast path of __call__
        self._single_leaf = leaves[0] if treedef == _LEAF else None

    def to_scipy(self, x: Any) -> sp.csr_array:
        """The derivative at x as a scipy.sparse.csr_array."""
        from jachess.sparsity._api import to_scipy

        return to_scipy(self(x))

    def __repr__(self) -> str:
        m, n = self.pattern.shape
        return (
            f"{type(self).__name__}(shape=({m}, {n}), nnz={self.pattern.nnz}, "
            f"mode={self.mode!r}, num_colors={self.num_colors}, lower_bound={self.lower_bound})"
        )


class PreparedJacobian(_Prepared):
    """A sparse Jacobian ready to evaluate: ``prepared(x) -> BCOO`` (m, n).

    Attributes:
        pattern: the (m, n) boolean csr_array used.
        colors: column colours (mode "fwd"), row colours ("rev"), or for "bidirectional"
            the column colours with -1 for columns not seeded (see `row_colors`).
        row_colors: row colours of the VJP side ("rev", "bidirectional"), else None.
        num_colors: number of passes (JVPs + VJPs) per evaluation.
        mode: "fwd", "rev" or "bidirectional".
        lower_bound: the most nonzeros in one row ("fwd") or column ("rev"): no colouring
            of that side can use fewer colours; None for "bidirectional".
    """

    def __init__(
        self,
        f: Callable,
        x: Any,
        *,
        pattern: Any = None,
        mode: Mode = "auto",
        chunk_size: int | None = None,
        dense_fallback: bool = False,
    ):
        check_choice("mode", mode, Mode)
        check_positive_int("chunk_size", chunk_size, allow_none=True)
        x = as_float_tree(x, "x")
        self._set_signature(x)
        x_flat, unravel = ravel_pytree(x)
        n = x_flat.shape[0]
        out_struct = jax.eval_shape(f, x)
        m = tree_size(out_struct)
        if pattern is None:
            pattern = jacobian_pattern(f, x)
        else:
            pattern = as_pattern(pattern)
            if pattern.shape != (m, n):
                raise ShapeError(
                    f"pattern must have shape (f(x).size, x.size) = ({m}, {n}), but got "
                    f"{pattern.shape}. Flatten outputs and inputs row-major."
                )
        self.pattern = pattern
        self.row_colors = None
        column_colors, row_colors, bi = self._choose(pattern, mode, dense_fallback)
        if bi is not None:
            self.mode = "bidirectional"
            self.colors, self.row_colors = bi.column_colors, bi.row_colors
            num_columns = max(int(bi.column_colors.max()) + 1 if n else 0, 0)
            num_rows = max(int(bi.row_colors.max()) + 1 if m else 0, 0)
            source = bicolor_source(pattern, bi)
            self.lower_bound = None
        elif column_colors is not None:
            self.mode = "fwd"
            self.colors = column_colors
            num_columns, num_rows = (int(column_colors.max()) + 1 if n else 0), 0
            source = forward_source(pattern, column_colors)
            self.lower_bound = column_lower_bound(pattern)
        else:
            self.mode = "rev"
            self.colors = self.row_colors = row_colors
            num_columns, num_rows = 0, int(row_colors.max()) + 1 if m else 0
            source = reverse_source(pattern, row_colors)
            self.lower_bound = column_lower_bound(sp.csr_array(pattern.T))
        if pattern.nnz == 0:
            num_columns = num_rows = 0
        self.num_colors = num_columns + num_rows
        self._evaluate = _jacobian_evaluator(
            f, unravel, (m, n), pattern, source, self.colors, self.row_colors,
            num_columns, num_rows, chunk_size,
        )

    @staticmethod
    def _choose(pattern: sp.csr_array, mode: str, dense_fallback: bool):
        m, n = pattern.shape
        transposed = sp.csr_array(pattern.T)
        by_rows = column_lower_bound(transposed)  # most nonzeros in a column
        by_columns = column_lower_bound(pattern)  # most nonzeros in a row
        dense_passes = min(m, n) if mode == "auto" else (n if mode == "fwd" else m)
        one_sided_bound = by_columns if mode == "fwd" else by_rows
        if dense_fallback and mode != "auto" and one_sided_bound > DENSE_FRACTION * dense_passes:
            # colouring cannot pay: plain dense passes, read into the pattern
            if mode == "fwd":
                return np.arange(n, dtype=np.int64), None, None
            return None, np.arange(m, dtype=np.int64), None
        options = []
        if mode in ("auto", "fwd"):
            cols = color_columns(pattern)
            options.append((int(cols.max()) + 1 if n else 0, 0, (cols, None, None)))
        # row colours are at least the most nonzeros in a column: skip when that cannot win
        if mode == "rev" or (mode == "auto" and options[0][0] > by_rows):
            rows = color_columns(transposed)
            options.append((int(rows.max()) + 1 if m else 0, 1, (None, rows, None)))
        if mode == "auto" and m and n and pattern.nnz:
            best = min(options)[0]
            row_counts = np.diff(pattern.indptr)
            col_counts = np.diff(transposed.indptr)
            skewed = (row_counts.max() > 4 * max(np.median(row_counts), 1)
                      or col_counts.max() > 4 * max(np.median(col_counts), 1))
            if best > 3 and skewed:
                bi = bicolor(pattern)
                if bi is not None:
                    options.append((bi.num_passes, 2, (None, None, bi)))
        passes, _, choice = min(options, key=lambda o: (o[0], o[1]))
        if dense_fallback and passes > DENSE_FRACTION * dense_passes:
            if n <= m or mode == "fwd":
                return np.arange(n, dtype=np.int64), None, None
            return None, np.arange(m, dtype=np.int64), None
        return choice


def _jacobian_evaluator(f, unravel, shape, pattern, source, column_colors, row_colors,
                        num_columns, num_rows, chunk_size):
    m, n = shape
    indices = jax.device_put(coordinates(pattern).astype(_index_dtype(max(m, n))))
    # seeds and gather indices are compile-time constants: XLA fuses the gather
    source = np.asarray(source, dtype=_index_dtype(max(len(source), m * n)))
    column_seeds = _seeds(column_colors, num_columns)
    row_seeds = _seeds(row_colors, num_rows)

    def f_flat(z):
        return ravel_pytree(f(unravel(z)))[0]

    def evaluate(x):
        x_flat = ravel_pytree(x)[0]
        parts = []
        if num_columns:
            _, linear = jax.linearize(f_flat, x_flat)
            seeds = jnp.asarray(column_seeds, dtype=x_flat.dtype)
            parts.append(_batched(linear, seeds, chunk_size).ravel())
        if num_rows:
            y, pullback = jax.vjp(f_flat, x_flat)
            seeds = jnp.asarray(row_seeds, dtype=y.dtype)

            def row(u):
                return pullback(u)[0]

            parts.append(_batched(row, seeds, chunk_size).ravel())
        if parts:
            flat = parts[0] if len(parts) == 1 else jnp.concatenate(parts)
            return flat.at[source].get(mode="promise_in_bounds", unique_indices=True)
        dtype = jax.eval_shape(f_flat, x_flat).dtype
        return jnp.zeros((0,), jnp.result_type(dtype, x_flat.dtype))

    return _as_bcoo(jax.jit(evaluate), indices, (m, n))


def _index_dtype(largest: int):
    return np.int32 if largest < 2**31 - 1 else np.int64


def _seeds(colors, count):
    """(count, len(colors)) 0/1 seed matrix: row c marks colour c (-1: none)."""
    if not count:
        return None
    colors = np.asarray(colors)
    return colors[None, :] == np.arange(count)[:, None]


#: Results with at most this many nonzeros are assembled inside the jitted call.
_SMALL_NNZ = 50_000


def _as_bcoo(data_of: Callable, indices: jax.Array, shape: tuple[int, int]) -> Callable:
    """Wrap a jitted x -> data into x -> BCOO with the fixed (device-resident) indices.

    The BCOO is assembled from its pytree parts, skipping the constructor's Python-side
    validation on every call (the indices are sorted and unique by construction).
    """
    if indices.shape[0] <= _SMALL_NNZ:
        # small results: one jitted call returning the BCOO has the least overhead
        def whole(x):
            # indices is a closed-over device array: jit forwards it, no copy per call
            return jsparse.BCOO((data_of(x), indices), shape=tuple(shape),
                                indices_sorted=True, unique_indices=True)

        whole = jax.jit(whole)
        whole.data = data_of
        return whole
    attributes = {"shape": tuple(shape), "indices_sorted": True, "unique_indices": True,
                  "indices": indices}
    new = object.__new__

    def evaluate(x):
        # what BCOO.tree_unflatten does, without re-checking the fixed attributes
        result = new(jsparse.BCOO)
        result.__dict__.update(attributes)
        result.data = data_of(x)
        return result

    evaluate.data = data_of
    return evaluate


class PreparedHessian(_Prepared):
    """A sparse Hessian ready to evaluate: ``prepared(x) -> BCOO`` (n, n).

    One HVP (forward-over-reverse) per colour of a star colouring, then one gather.

    Attributes:
        pattern: the symmetric (n, n) boolean csr_array used.
        colors: star colours of the n variables.
        num_colors: number of HVPs per evaluation.
        mode: "fwd" (HVPs are forward-over-reverse).
        lower_bound: 2 when the pattern couples two variables, 1 for a diagonal, 0 empty.
    """

    def __init__(self, f: Callable, x: Any, *, pattern: Any = None,
                 chunk_size: int | None = None, dense_fallback: bool = False):
        check_positive_int("chunk_size", chunk_size, allow_none=True)
        x = as_float_tree(x, "x")
        self._set_signature(x)
        x_flat, unravel = ravel_pytree(x)
        n = x_flat.shape[0]

        def scalar_f(z):
            return require_scalar(f(z), "jachess.hessian", _SCALAR_HINT)

        if pattern is None:
            pattern = hessian_pattern(scalar_f, x)
        else:
            jax.eval_shape(scalar_f, x)
            pattern = as_pattern(pattern)
            if pattern.shape != (n, n):
                raise ShapeError(
                    f"pattern must have shape (x.size, x.size) = ({n}, {n}), but got "
                    f"{pattern.shape}."
                )
            pattern = as_pattern(pattern + pattern.T)
        self.pattern = pattern
        self.mode = "fwd"
        off_diagonal = pattern.nnz > int(pattern.diagonal().sum())
        self.lower_bound = 2 if off_diagonal else int(pattern.nnz > 0)
        colors = color_star(pattern) if n else np.zeros(0, np.int64)
        if dense_fallback and n and colors.max() + 1 > DENSE_FRACTION * n:
            colors = np.arange(n, dtype=np.int64)  # colouring does not pay: dense HVPs
        self.colors = colors
        self.num_colors = int(colors.max()) + 1 if pattern.nnz else 0
        source = star_source(pattern, colors) if pattern.nnz else np.zeros(0, np.int64)
        self._evaluate = _hessian_evaluator(scalar_f, unravel, n, pattern, source, colors,
                                            self.num_colors, chunk_size)


def _hessian_evaluator(f, unravel, n, pattern, source, colors, num_colors, chunk_size):
    indices = jax.device_put(coordinates(pattern).astype(_index_dtype(n)))
    source = np.asarray(source, dtype=_index_dtype(max(len(source), n * max(num_colors, 1))))
    seeds = _seeds(colors, num_colors)

    def f_flat(z):
        return f(unravel(z))

    def evaluate(x):
        x_flat = ravel_pytree(x)[0]
        if num_colors:
            _, hvp = jax.linearize(jax.grad(f_flat), x_flat)
            flat = _batched(hvp, jnp.asarray(seeds, dtype=x_flat.dtype), chunk_size).ravel()
            # H[i, j] and H[j, i] may be read from one place: indices are not unique
            return flat.at[source].get(mode="promise_in_bounds")
        return jnp.zeros((0,), x_flat.dtype)

    return _as_bcoo(jax.jit(evaluate), indices, (n, n))


def prepare_jacobian(f: Callable, x: Any, *, pattern: Any = None, mode: Mode = "auto",
                     chunk_size: int | None = None) -> PreparedJacobian:
    """Detect (unless given), colour and compile a sparse Jacobian of f at x's shapes.

    Cost per evaluation: one JVP per column colour ("fwd"), one VJP per row colour
    ("rev"), or both ("bidirectional": dense rows by VJPs, the rest by JVPs, chosen by
    "auto" when it takes fewer passes, e.g. 3 for an arrowhead), vmapped, then one
    gather.

    Args:
        f: function of an array or pytree.
        x: a point with the shapes and dtypes of later calls.
        pattern: an (m, n) boolean pattern (dense or scipy.sparse); None to detect it.
        mode: "auto" (fewest passes), "fwd" or "rev".
        chunk_size: evaluate at most this many seeds at once.

    Returns:
        PreparedJacobian: ``prepared(x)`` is a BCOO of shape (f(x).size, x.size).

    Example:
        >>> jac = prepare_jacobian(lambda x: x[1:] * x[:-1], jnp.ones(5))
        >>> jac(jnp.arange(5.0)).todense()
    """
    return PreparedJacobian(f, x, pattern=pattern, mode=mode, chunk_size=chunk_size)


def prepare_hessian(f: Callable, x: Any, *, pattern: Any = None,
                    chunk_size: int | None = None) -> PreparedHessian:
    """Detect (unless given), star-colour and compile a sparse Hessian of scalar f.

    Cost per evaluation: one HVP (forward-over-reverse) per colour, vmapped, one gather.

    Args:
        f: scalar function of an array or pytree.
        x: a point with the shapes and dtypes of later calls.
        pattern: an (n, n) boolean pattern (symmetrised); None to detect it.
        chunk_size: evaluate at most this many HVPs at once.

    Returns:
        PreparedHessian: ``prepared(x)`` is a BCOO of shape (x.size, x.size).

    Example:
        >>> hess = prepare_hessian(lambda x: jnp.sum(x[1:] * x[:-1] ** 2), jnp.ones(5))
        >>> hess(jnp.arange(5.0)).todense()
    """
    return PreparedHessian(f, x, pattern=pattern, chunk_size=chunk_size)


__all__ = ["PreparedHessian", "PreparedJacobian", "prepare_hessian", "prepare_jacobian"]
