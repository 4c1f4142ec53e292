"""The shared core of Hessian, GGN and Fisher operators over a point or a dataset.

Each kind defines one per-batch function g_b(s; s0) of the selected parameters s (flat)
whose Jacobian at s = s0 is that batch's curvature matrix C_b:

    Hessian   g_b(s) = ∇_s L_b(s)                                 C_b = ∇²L_b
    GGN       g_b(s) = J_bᵀ ∇_z ℓ(z_b + J_b (s - s0))              C_b = J_bᵀ ∇²_z ℓ J_b
    Fisher    g_b(s) = J_ℓᵀ J_ℓ (s - s0) / n_b  (per-example ℓ)    C_b = mean_i g_i g_iᵀ

The operator is C = Σ_b (n_b / N) C_b. Inside jit, `prepare()` linearizes
s -> Σ_b (n_b/N) g_b(s) once at s0 (`jax.linearize`: one forward + backward pass over
the data, activations kept) and returns the vmapped linear map, so each further product
costs only the tangent passes, and a block of k vectors runs as one batched pass.
With `linearize=False` nothing is kept between products (less memory: every product
recomputes the forward pass). Streaming data (an iterable) runs its host loop through
`jax.pure_callback`, so spectral loops still compile, with one host trip per product.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jachess._errors import OptionError, ShapeError
from jachess._trees import as_float_tree, describe, require_scalar
from jachess.operators._base import (
    AbstractOperator,
    Structure,
    _ByIdentity,
    check_precision,
    precision_context,
)
from jachess.operators._data import (
    ArrayData,
    IterableData,
    make_data,
    replicate,
    weighted_sum,
)


class _Marker:
    def __init__(self, index: int):
        self.index = index


class Selection:
    """Which leaves of the parameter pytree the operator differentiates (wrt)."""

    def __init__(self, params: Any, wrt: Callable | None):
        leaves, self.treedef = jax.tree_util.tree_flatten(params)
        if wrt is None:
            self.indices = tuple(range(len(leaves)))
            sub = params
        else:
            if not callable(wrt):
                raise OptionError(
                    "wrt must be None or a function params -> sub-pytree of params (e.g. "
                    f"lambda p: p['layer1']), but got {wrt!r}."
                )
            markers = jax.tree_util.tree_unflatten(
                self.treedef, [_Marker(i) for i in range(len(leaves))]
            )
            try:
                picked = wrt(markers)
            except Exception as error:
                raise OptionError(
                    "wrt must only select leaves of params (indexing, attribute access, "
                    f"building lists/dicts of leaves); calling it failed with: {error!r}."
                ) from None
            picked_leaves = jax.tree_util.tree_leaves(picked)
            if not picked_leaves or not all(isinstance(m, _Marker) for m in picked_leaves):
                raise OptionError(
                    "wrt must return a non-empty sub-pytree made of leaves of params "
                    f"(selected, not computed), but it returned {picked!r}."
                )
            self.indices = tuple(m.index for m in picked_leaves)
            if len(set(self.indices)) != len(self.indices):
                raise OptionError("wrt selected the same leaf of params twice; select it once.")
            sub = jax.tree_util.tree_map(
                lambda m: leaves[m.index], picked, is_leaf=lambda m: isinstance(m, _Marker)
            )
        self.structure = Structure(sub)

    def __hash__(self):
        return hash((self.treedef, self.indices, self.structure))

    def __eq__(self, other):
        return isinstance(other, Selection) and (
            self.treedef,
            self.indices,
            self.structure,
        ) == (other.treedef, other.indices, other.structure)

    def flat(self, leaves) -> jax.Array:
        return self.structure.ravel([leaves[i] for i in self.indices])

    def full(self, leaves, flat: jax.Array) -> Any:
        picked = jax.tree_util.tree_leaves(self.structure.unravel(flat))
        new = list(leaves)
        for index, value in zip(self.indices, picked):
            new[index] = value
        return jax.tree_util.tree_unflatten(self.treedef, new)


class CurvatureOperator(AbstractOperator):
    """Base of Hessian / GGN / Fisher: symmetric (n, n) over the selected parameters."""

    symmetric = True
    _dynamic = ("leaves", "arrays", "key_data")

    def _setup(self, params, data, batch_size, wrt, linearize, precision, devices, progress):
        params = as_float_tree(params, "params")
        self.selection = Selection(params, wrt)
        structure = self.selection.structure
        self.in_structure = self.out_structure = structure
        self.shape = (structure.size, structure.size)
        self.dtype = structure.dtype
        self.precision = check_precision(precision)
        if not isinstance(linearize, bool):
            raise OptionError(f"linearize must be True or False, but got {linearize!r}.")
        self.linearize = linearize
        self.key_data = None
        if data is None:
            if batch_size is not None:
                raise OptionError("batch_size needs data=...; got batch_size without data.")
            self.arrays, self.layout, self.stream = None, None, None
            devices_used = None
        else:
            source = make_data(data, batch_size, devices, bool(progress))
            if isinstance(source, ArrayData):
                self.arrays = (source.full, source.rest)
                self.layout = source.layout()
                self.stream = None
            else:
                self.arrays, self.layout = None, None
                self.stream = _ByIdentity(source)
            devices_used = source.devices
        # Streamed data keeps the parameters on one device: the spectral loop around a
        # streamed product runs there, and only the per-batch products are sharded
        # (a sharded outer loop would block its devices while the host streams).
        if self.stream is not None:
            devices_used = None
        self.leaves = replicate(jax.tree_util.tree_leaves(params), devices_used)

    def _check_first_batch(self):
        """Trace one batch's function abstractly, so mistakes surface at construction."""
        if self.stream is not None:
            batch = next(iter(self.stream.value.source))
            batch = jax.tree_util.tree_map(jnp.asarray, batch)
        elif self.arrays is not None:
            full, rest = self.arrays
            batch = jax.tree_util.tree_map(lambda a: a[0], full) if self.layout[2] else rest
        else:
            batch = None
        s0 = self.selection.flat(self.leaves)
        with precision_context(self.precision):
            jax.eval_shape(lambda s: self.batch_gradient(s, s0, batch, jnp.int32(0)), s0)

    # Kinds implement this: its Jacobian in s at s0 is the batch's curvature matrix.
    def batch_gradient(self, s, s0, batch, index) -> jax.Array:
        raise NotImplementedError(
            f"{type(self).__name__} must define batch_gradient (Hessian, GGN and Fisher do)."
        )

    def params_at(self, s) -> Any:
        return self.selection.full(self.leaves, s)

    def batch_key(self, index) -> jax.Array:
        return jax.random.fold_in(jax.random.wrap_key_data(self.key_data), index)

    def prepare(self, once: bool = False):
        s0 = self.selection.flat(self.leaves)
        if self.stream is not None:
            return self._prepare_stream()
        if self.arrays is None:
            def total(s):
                return self.batch_gradient(s, s0, None, jnp.int32(0))
        else:
            full, rest = self.arrays

            def total(s):
                def one(batch, index):
                    return self.batch_gradient(s, s0, batch, index)

                return weighted_sum(one, full, rest, self.layout)

        if self.linearize and not once:
            _, linear = jax.linearize(total, s0)
        else:
            def linear(v):
                return jax.jvp(total, (s0,), (v,))[1]

        return _blockwise(linear)

    def _prepare_stream(self):
        children, treedef = jax.tree_util.tree_flatten(self)

        def host(children_values, V):
            op = jax.tree_util.tree_unflatten(treedef, list(children_values))
            stream = op.stream.value
            # The per-batch program does not depend on the data source: drop it from the
            # static part, so a new operator over new data reuses the compiled program.
            object.__setattr__(op, "stream", None)
            op, V = replicate((op, V), stream.devices)
            acc, count = None, 0
            with precision_context(op.precision):
                for index, batch, size in stream.passes():
                    out = _batch_matmat_jit(op, batch, np.int32(index), V)
                    acc = out * size if acc is None else acc + out * size
                    count += size
            return np.asarray(acc / count, dtype=V.dtype)

        def matmat(V):
            out = jax.ShapeDtypeStruct(V.shape, V.dtype)
            return jax.pure_callback(host, out, children, V, vmap_method="sequential")

        return matmat

    def _describe_data(self) -> str:
        if self.layout is not None:
            total, size, full, rest = self.layout
            return f", {total} examples in {full} batches of {size}" + (
                f" + {rest}" if rest else ""
            )
        return ", streamed batches" if self.stream is not None else ""

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape}{self._describe_data()})"


def _blockwise(linear):
    """V (n, k) -> columns through `linear`; one column skips vmap (plain matrix-vector
    kernels instead of batched ones of batch size 1)."""

    def matmat(V):
        if V.shape[1] == 1:
            return linear(V[:, 0])[:, None]
        return jax.vmap(linear, in_axes=1, out_axes=1)(V)

    return matmat


@jax.jit
def _batch_matmat_jit(op: CurvatureOperator, batch, index, V):
    s0 = op.selection.flat(op.leaves)

    def g(s):
        return op.batch_gradient(s, s0, batch, index)

    return _blockwise(lambda v: jax.jvp(g, (s0,), (v,))[1])(V)


def scalar_of(value, what: str) -> jax.Array:
    return require_scalar(value, what, "Return the batch's mean loss, e.g. jnp.mean(losses).")


def split_pair(batch, what: str):
    """A GGN / Fisher batch is (inputs, targets)."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ShapeError(
            f"{what} needs batches of (inputs, targets), but got a batch {describe(batch)}. "
            "Pass data=(inputs, targets) with batch_size=..., or a list of such pairs."
        )
    return batch[0], batch[1]


__all__ = ["CurvatureOperator", "IterableData", "Selection", "scalar_of", "split_pair"]
