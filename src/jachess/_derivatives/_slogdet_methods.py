"""log|det J| without the dense LU: "structured" (exact) and "stochastic" (estimate).

"structured". Detect the global sparsity pattern P of J, then:
  1. A maximum bipartite matching of rows to columns. If it is not perfect, J is
     structurally singular (det J = 0 at every x). Otherwise Q = J[:, match] has a
     zero-free diagonal and det J = sign(match)·det Q.
  2. The strongly connected components of Q's graph (edge r -> i when Q[r, i] may be
     nonzero) put Q in block-triangular form under one symmetric permutation, so
     det Q = Π_B det Q[B, B] (Duff & Reid's block triangular form). A triangular map
     (autoregressive) has only 1 x 1 blocks; a block-diagonal map has its blocks;
     a permuted triangular map is undone by the matching and the ordering.
  3. Only the entries inside the diagonal blocks are needed. Columns j and k may share
     a JVP seed unless some row r needs (r, j) while P[r, k] is set (or the reverse);
     colouring that conflict graph gives k seeds, so J S (k JVPs) holds every needed
     entry. Cost: k JVPs plus Σ_B |B|³, instead of n JVPs plus n³.
Detection, matching and colouring run once per function and input shape (cached).

"stochastic". log|det J| = ½ log det(JᵀJ), with log det(JᵀJ) = tr log(JᵀJ) estimated
by stochastic Lanczos quadrature on the matrix-free operator JᵀJ (one JVP and one VJP
per product): num_probes·num_steps products. The standard error is the probes'
spread; the sign of det J is not available from JᵀJ and is reported as NaN. When
Lanczos meets a zero (or round-off negative) eigenvalue of JᵀJ the Jacobian is singular:
sign 0 and -inf are reported. A nearly singular J gives a large negative estimate.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from jachess._derivatives._jit import jit_with_static_function
from jachess._derivatives._slogdet import Slogdet, square_flat_function
from jachess._errors import OptionError
from jachess._options import check_positive_int
from jachess._trees import tree_size

DEFAULT_NUM_PROBES = 32
DEFAULT_NUM_STEPS = 40
#: Above this many pair checks the conflict graph is not formed (nearly dense pattern).
_CONFLICT_WORK_LIMIT = 2e7


def _sparsity_tools():
    """jacobian_pattern and color from the sparsity layer (imported late: a higher layer)."""
    try:
        from jachess.sparsity import color, jacobian_pattern
    except ImportError:  # the package front may not be there yet; use its modules
        from jachess.sparsity._coloring import color
        from jachess.sparsity._detection._api import jacobian_pattern
    return jacobian_pattern, color


@dataclass(frozen=True, eq=False)
class StructuredPlan:
    """What "structured" evaluates: seeds, and where each needed entry sits in J S.

    Hashable by identity, so a cached plan is a static argument of the compiled
    evaluation. Attributes are NumPy arrays fixed at preparation.

    Attributes:
        n: size of the square Jacobian.
        num_colors: JVP passes per evaluation.
        colors: colour of each column (n,).
        singular: True when the pattern admits no perfect matching (det J ≡ 0).
        permutation_sign: sign of the column permutation of the matching (±1).
        single_rows, single_cols: positions (r, match[r]) of the 1 x 1 blocks.
        groups: ((rows, cols, mask), ...) for blocks of one size s > 1: rows and cols
            of shape (b, s), mask (b, s, s) of the pattern inside each block.
        block_sizes: the size of every diagonal block.
    """

    n: int
    num_colors: int
    colors: np.ndarray
    singular: bool
    permutation_sign: int
    single_rows: np.ndarray
    single_cols: np.ndarray
    groups: tuple
    block_sizes: np.ndarray

    @property
    def max_block(self) -> int:
        return int(self.block_sizes.max()) if self.block_sizes.size else 0

    @property
    def estimated_cost(self) -> float:
        """Work in units of one n-vector pass: JVPs plus the small block factorisations."""
        return self.num_colors + float(np.sum(self.block_sizes.astype(float) ** 3)) / self.n


def _permutation_sign(perm: np.ndarray) -> int:
    seen = np.zeros(perm.size, bool)
    cycles = 0
    for start in range(perm.size):
        if not seen[start]:
            cycles += 1
            j = start
            while not seen[j]:
                seen[j] = True
                j = perm[j]
    return -1 if (perm.size - cycles) % 2 else 1


def _greedy_colors(graph: sp.csr_array, order: np.ndarray) -> np.ndarray:
    """Sequential greedy colouring of a symmetric graph in the given vertex order."""
    colors = np.full(graph.shape[0], -1, np.int64)
    indptr, indices = graph.indptr, graph.indices
    for v in order:
        taken = colors[indices[indptr[v]:indptr[v + 1]]]
        taken = np.unique(taken[taken >= 0])
        free = np.nonzero(taken != np.arange(taken.size))[0]
        colors[v] = free[0] if free.size else taken.size
    return colors


def _conflict_colors(pattern, needed, color, rank: np.ndarray) -> np.ndarray:
    """Colour columns so that each needed (r, j) is alone among P[r, :] in its colour.

    Conflict graph: j ~ k when some row needs (r, j) and has P[r, k] (or the reverse).
    Columns are renumbered by `rank` (the block-triangular order, where a banded map's
    graph is an interval graph that natural-order greedy colours optimally). A sparse
    conflict graph goes to the sparsity layer's colouring (of its edge-incidence
    matrix, whose column colouring is exactly a proper colouring of the graph); a dense
    one to plain greedy, as there few colours are to be had anyway.
    """
    n = pattern.shape[1]
    w = sp.csr_array(needed, dtype=np.int32)
    p = sp.csr_array(pattern, dtype=np.int32)
    # Forming the conflict graph costs about Σ_r needed_r · nnz_r; when that is huge the
    # pattern is nearly dense and few colours could be saved: one colour per column.
    if float(np.dot(np.diff(w.indptr), np.diff(p.indptr))) > _CONFLICT_WORK_LIMIT:
        return rank.copy()
    conflict = sp.triu((w.T @ p) + (p.T @ w), k=1).tocoo()
    edges = conflict.row.size
    if edges == 0:
        return np.zeros(n, np.int64)
    a, b = rank[conflict.row], rank[conflict.col]
    if edges <= 50 * n:
        rows = np.repeat(np.arange(edges), 2)
        cols = np.stack([a, b], axis=1).ravel()
        incidence = sp.csr_array((np.ones(2 * edges, bool), (rows, cols)), shape=(edges, n))
        ranked = np.asarray(color(incidence, "column"), np.int64)
    else:
        graph = sp.csr_array((np.ones(2 * edges, bool), (np.concatenate([a, b]),
                                                          np.concatenate([b, a]))), shape=(n, n))
        ranked = _greedy_colors(graph, np.arange(n))
    return ranked[rank]


def plan_structured(pattern: sp.csr_array, color: Callable | None = None) -> StructuredPlan:
    """Matching, block-triangular form and colouring of a square pattern (NumPy only)."""
    if color is None:
        color = _sparsity_tools()[1]
    pattern = sp.csr_array(pattern, dtype=bool)
    n = pattern.shape[0]
    empty = np.zeros(0, np.int64)
    match = csgraph.maximum_bipartite_matching(pattern, perm_type="column")
    if n == 0 or np.any(match < 0):
        return StructuredPlan(n, 0, np.zeros(n, np.int64), n > 0, 1, empty, empty, (), empty)
    match = np.asarray(match, np.int64)
    # Q[r, i] = P[r, match[i]]: columns reordered so the diagonal is structurally nonzero.
    q = sp.csr_array(pattern[:, match])
    num_blocks, labels = csgraph.connected_components(q, directed=True, connection="strong")
    # Needed entries: inside a diagonal block, in J's own column numbering.
    qc = q.tocoo()
    inside = labels[qc.row] == labels[qc.col]
    needed = sp.csr_array((np.ones(int(inside.sum()), bool),
                           (qc.row[inside], match[qc.col[inside]])), shape=(n, n))
    order = np.argsort(labels, kind="stable")
    position = np.empty(n, np.int64)
    position[order] = np.arange(n)
    rank = np.empty(n, np.int64)
    rank[match] = position  # column match[r] sits where row r sits in block order
    colors = _conflict_colors(pattern, needed, color, rank)
    sizes = np.bincount(labels, minlength=num_blocks)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    singles, groups = [], {}
    for b in range(num_blocks):
        members = order[starts[b]:starts[b + 1]]
        if members.size == 1:
            singles.append(members[0])
        else:
            groups.setdefault(members.size, []).append(members)
    group_list = []
    for _, blocks in sorted(groups.items()):
        rows = np.stack(blocks)
        mask = np.stack([q[block][:, block].toarray() for block in blocks])
        group_list.append((rows, match[rows], mask))
    single_rows = np.asarray(singles, np.int64)
    return StructuredPlan(
        n=n,
        num_colors=int(colors.max()) + 1 if n else 0,
        colors=colors,
        singular=False,
        permutation_sign=_permutation_sign(match),
        single_rows=single_rows,
        single_cols=match[single_rows],
        groups=tuple(group_list),
        block_sizes=sizes.astype(np.int64),
    )


def _shape_key(x: Any):
    leaves, treedef = jax.tree_util.tree_flatten(x)
    return treedef, tuple((tuple(a.shape), str(a.dtype)) for a in leaves)


@functools.lru_cache(maxsize=64)
def _cached_plan(f: Callable, shape_key) -> StructuredPlan:
    treedef, leaves = shape_key
    x = jax.tree_util.tree_unflatten(treedef, [jnp.zeros(s, d) for s, d in leaves])
    return _plan_for(f, x)


def _plan_for(f: Callable, x: Any) -> StructuredPlan:
    jacobian_pattern, color = _sparsity_tools()
    zeros = jax.tree_util.tree_map(lambda a: jnp.zeros(a.shape, a.dtype), x)
    square_flat_function(f, zeros)  # NotSquareError before any detection work
    return plan_structured(jacobian_pattern(f, zeros), color)


def prepare_structured(f: Callable, x: Any) -> StructuredPlan:
    """The (cached) structured plan of f at x's shapes; detection runs once per shape."""
    key = _shape_key(x)
    try:
        hash(f)
    except TypeError:
        return _plan_for(f, x)
    return _cached_plan(f, key)


def _structured_impl(f, x, *, plan: StructuredPlan):
    x_flat, f_flat = square_flat_function(f, x)
    dtype = x_flat.dtype
    if plan.singular:
        return Slogdet(jnp.zeros((), dtype), jnp.asarray(-jnp.inf, dtype),
                       jnp.zeros((), dtype), "structured")
    seeds = jnp.asarray(np.arange(plan.num_colors)[:, None] == plan.colors[None, :], dtype)
    compressed = jax.vmap(lambda s: jax.jvp(f_flat, (x_flat,), (s,))[1])(seeds)  # (k, n)

    def entries(rows, cols):
        return compressed[plan.colors[cols], rows]

    diagonal = entries(plan.single_rows, plan.single_cols)
    sign = jnp.prod(jnp.sign(diagonal)) * plan.permutation_sign
    logabsdet = jnp.sum(jnp.log(jnp.abs(diagonal)))
    for rows, cols, mask in plan.groups:
        blocks = jnp.where(mask, entries(rows[:, :, None], cols[:, None, :]), 0.0)
        block_sign, block_log = jnp.linalg.slogdet(blocks)
        sign = sign * jnp.prod(block_sign)
        logabsdet = logabsdet + jnp.sum(block_log)
    logabsdet = jnp.where(sign == 0, -jnp.inf, logabsdet)
    return Slogdet(sign.astype(dtype), logabsdet, jnp.zeros((), dtype), "structured")


_structured_jit = jit_with_static_function(_structured_impl, ("plan",))


def _stochastic(f, x, key, num_probes, num_steps) -> Slogdet:
    from jachess._errors import NotPositiveDefiniteError
    from jachess.operators import Jacobian
    from jachess.spectral import logdet

    x_flat, _ = square_flat_function(f, x)
    dtype = x_flat.dtype
    if key is None:
        raise OptionError(
            "slogdet_jacobian(method='stochastic') requires an explicit PRNG key, but got "
            "key=None. Pass key=jax.random.key(0); a different key gives an independent "
            "estimate."
        )
    if isinstance(x_flat, jax.core.Tracer):
        raise OptionError(
            "slogdet_jacobian(method='stochastic') runs its own compiled Lanczos loop and "
            "cannot be traced inside jax.jit / vmap / grad. Call it outside the transform, "
            "or use method='structured' or 'dense' there."
        )
    jac = Jacobian(f, x)
    try:
        estimate = logdet(jac.T @ jac, num_probes=num_probes, num_steps=num_steps, key=key)
    except NotPositiveDefiniteError:
        # JᵀJ has a zero (or round-off negative) eigenvalue: J is singular.
        return Slogdet(jnp.zeros((), dtype), jnp.asarray(-jnp.inf, dtype),
                       jnp.zeros((), dtype), "stochastic")
    return Slogdet(jnp.asarray(jnp.nan, dtype), 0.5 * jnp.asarray(estimate.value, dtype),
                   0.5 * jnp.asarray(estimate.std_error, dtype), "stochastic")


def slogdet_by_method(
    f: Callable,
    x: Any,
    *,
    method: str,
    key: jax.Array | None = None,
    num_probes: int | None = None,
    num_steps: int | None = None,
) -> Slogdet:
    """slogdet_jacobian for method "structured" or "stochastic" (see the module text)."""
    if method == "structured":
        return _structured_jit(f, x, plan=prepare_structured(f, x))
    if method == "stochastic":
        num_probes = DEFAULT_NUM_PROBES if num_probes is None else num_probes
        num_steps = DEFAULT_NUM_STEPS if num_steps is None else num_steps
        check_positive_int("num_probes", num_probes)
        check_positive_int("num_steps", num_steps)
        return _stochastic(f, x, key, num_probes, num_steps)
    raise OptionError(f"method must be 'structured' or 'stochastic' here, but got {method!r}.")


#: Up to this size "auto" takes the dense LU (n JVPs + n³/3 flops are cheap).
AUTO_DENSE_MAX = 256
#: Above this size, an unstructured Jacobian goes to the stochastic estimate.
AUTO_STOCHASTIC_MIN = 4096


def choose_method(f: Callable, x: Any, key) -> str:
    """The method "auto" takes: dense when small, structured when the pattern pays,
    dense up to AUTO_STOCHASTIC_MIN, stochastic beyond (needs a key; inside a
    transformation, dense)."""
    n = tree_size(x)
    if n <= AUTO_DENSE_MAX:
        return "dense"
    plan = prepare_structured(f, x)
    if plan.singular or plan.estimated_cost <= n / 4:
        return "structured"
    traced = any(isinstance(a, jax.core.Tracer) for a in jax.tree_util.tree_leaves(x))
    if n <= AUTO_STOCHASTIC_MIN or traced:
        return "dense"
    if key is None:
        raise OptionError(
            f"slogdet_jacobian(method='auto'): the Jacobian is {n} x {n} with no usable "
            f"structure (a structured evaluation would cost about {plan.estimated_cost:.0f} "
            "passes), so the exact dense LU costs O(n³). Pass key=jax.random.key(0) for the "
            "stochastic estimate (with a standard error), or method='dense' for the exact "
            "value."
        )
    return "stochastic"
