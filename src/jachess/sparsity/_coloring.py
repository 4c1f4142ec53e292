"""Colouring of sparsity patterns: partial distance-2 (columns, rows), star (symmetric),
and bicolouring (some rows by VJPs, the rest by JVPs).

Greedy colouring is sequential, but the colour a vertex gets depends only on the colours
of its neighbours that come earlier in the ordering. So greedy runs here in vectorised
rounds: each round colours, all at once, the vertices whose earlier neighbours are all
coloured (they are never adjacent to one another), with the smallest colour none of
those neighbours has. The result is exactly sequential greedy's; the number of rounds is
the longest chain of earlier neighbours, short for random and colour-class orderings.
Several orderings are tried (random, largest-first, natural when short, iterated greedy
over colour classes, Culberson 1992) and the fewest colours kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from jachess._errors import ShapeError
from jachess._options import check_choice

ColoringKind = Literal["column", "row", "star"]

#: Conflict graphs with more entries than this are not formed (dense rows need n colours).
_GRAPH_LIMIT = 30_000_000
_MAX_ROUNDS = 256


def as_pattern(pattern, name: str = "pattern") -> sp.csr_array:
    """A boolean CSR copy of a dense or scipy.sparse pattern, without explicit zeros."""
    if sp.issparse(pattern):
        matrix = sp.csr_array(pattern)
    else:
        array = np.asarray(pattern)
        if array.ndim != 2:
            raise ShapeError(
                f"{name} must be a 2-D boolean matrix, but got an array of shape {array.shape}."
            )
        matrix = sp.csr_array(array)
    matrix = sp.csr_array(matrix != 0) if matrix.dtype != bool else matrix.copy()
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def _sorted_unique(values: np.ndarray, return_counts: bool = False):
    """np.unique by sorting (numpy's hash-based unique is slow on large int arrays)."""
    values = np.sort(values, kind="stable")
    if values.size == 0:
        return (values, np.zeros(0, np.int64)) if return_counts else values
    head = np.ones(values.size, bool)
    head[1:] = values[1:] != values[:-1]
    unique = values[head]
    if not return_counts:
        return unique
    starts = np.nonzero(head)[0]
    return unique, np.diff(np.append(starts, values.size))


def _has_duplicates(keys: np.ndarray) -> bool:
    keys = np.sort(keys)
    return bool(np.any(keys[1:] == keys[:-1]))


def _expand(indptr: np.ndarray, rows: np.ndarray):
    """Positions of the entries of `rows` in a CSR structure, and the row each belongs to."""
    starts = indptr[rows]
    counts = indptr[rows + 1] - starts
    total = int(counts.sum())
    owner = np.repeat(np.arange(rows.size), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return starts[owner] + offsets, owner


def _mex(owner: np.ndarray, colors: np.ndarray, count: int) -> np.ndarray:
    """Per owner 0..count-1, the smallest non-negative integer not among its colours."""
    result = np.zeros(count, np.int64)
    if owner.size == 0:
        return result
    base = int(colors.max()) + 2
    keys = _sorted_unique(owner * base + colors)
    who, col = keys // base, keys % base
    first = np.ones(keys.size, bool)
    first[1:] = who[1:] != who[:-1]
    start = np.maximum.accumulate(np.where(first, np.arange(keys.size), 0))
    position = np.arange(keys.size) - start
    result[:] = np.bincount(who, minlength=count)
    miss = np.nonzero(col != position)[0]
    if miss.size:
        w = who[miss]
        head = np.ones(miss.size, bool)
        head[1:] = w[1:] != w[:-1]
        result[w[head]] = position[miss[head]]
    return result


def greedy(graph: sp.csr_array, rank: np.ndarray, max_rounds: int | None = None):
    """Sequential greedy colouring in the order given by `rank`, run in vectorised rounds.

    Returns the colours, or None if more than max_rounds rounds would be needed.
    """
    n = graph.shape[0]
    indptr, indices = graph.indptr.astype(np.int64), graph.indices.astype(np.int64)
    src = np.repeat(np.arange(n), np.diff(indptr))
    earlier = rank[indices] < rank[src]
    pending = np.bincount(src[earlier], minlength=n)
    first, then = indices[earlier], src[earlier]
    order = np.argsort(first, kind="stable")
    succ = then[order]
    succ_ptr = np.zeros(n + 1, np.int64)
    succ_ptr[1:] = np.cumsum(np.bincount(first, minlength=n))
    colors = np.full(n, -1, np.int64)
    ready = np.nonzero(pending == 0)[0]
    rounds = 0
    while ready.size:
        rounds += 1
        if max_rounds is not None and rounds > max_rounds:
            return None
        where, owner = _expand(indptr, ready)
        neighbour_colors = colors[indices[where]]
        keep = neighbour_colors >= 0
        colors[ready] = _mex(owner[keep], neighbour_colors[keep], ready.size)
        where, _ = _expand(succ_ptr, ready)
        targets = succ[where]
        if targets.size == 0:
            break
        unique, counts = _sorted_unique(targets, return_counts=True)
        pending[unique] -= counts
        ready = unique[pending[unique] == 0]
    return colors


def _column_graph(pattern: sp.csr_array) -> sp.csr_array | None:
    """Columns that share a row, as a symmetric adjacency without diagonal (None: too big)."""
    counts = np.diff(pattern.indptr).astype(np.int64)
    if int((counts * counts).sum()) > _GRAPH_LIMIT:
        return None
    p = pattern.astype(np.int8)
    graph = sp.csr_array(p.T @ p)
    graph.setdiag(0)
    graph.eliminate_zeros()
    return sp.csr_array(graph, dtype=bool)


def is_valid_column_coloring(pattern: sp.csr_array, colors: np.ndarray) -> bool:
    """True when no row has two nonzero columns of one colour (J S has no collisions)."""
    coo = pattern.tocoo()
    if coo.nnz == 0:
        return True
    k = int(colors.max()) + 1
    keys = coo.row.astype(np.int64) * k + colors[coo.col]
    return not _has_duplicates(keys)


def _class_rank(colors: np.ndarray, rng: np.random.Generator, style: int) -> np.ndarray:
    """An ordering that lists whole colour classes one after another (iterated greedy)."""
    k = int(colors.max()) + 1
    sizes = np.bincount(colors, minlength=k)
    if style == 0:
        class_order = np.arange(k)[::-1]
    elif style == 1:
        class_order = np.argsort(-sizes, kind="stable")
    else:
        class_order = rng.permutation(k)
    position = np.empty(k, np.int64)
    position[class_order] = np.arange(k)
    jitter = rng.random(colors.size)
    order = np.lexsort((jitter, position[colors]))
    rank = np.empty(colors.size, np.int64)
    rank[order] = np.arange(colors.size)
    return rank


def _lattice_candidates(pattern: sp.csr_array, bound: int) -> list[np.ndarray]:
    """Cyclic colourings c(j) = (j + s * (j // w)) mod k: optimal on bands and grids."""
    n = pattern.shape[1]
    cols = np.arange(n, dtype=np.int64)
    candidates = [cols % k for k in range(max(bound, 1), max(bound, 1) + 3)]
    coo = pattern.tocoo()
    if coo.nnz and bound <= 16:
        offsets = np.abs(coo.col.astype(np.int64) - coo.row.astype(np.int64))
        counts = np.bincount(offsets)
        if np.count_nonzero(counts) > 4 * bound:  # not a banded or stencil structure
            return candidates
        counts[:2] = 0
        for w in np.argsort(-counts, kind="stable")[:3]:
            if counts[w] == 0:
                break
            for k in range(max(bound, 1), max(bound, 1) + 2):
                for s in range(1, k):
                    candidates.append((cols + s * (cols // int(w))) % k)
    return candidates


def _compact(colors: np.ndarray) -> np.ndarray:
    """Renumber colours to 0..k-1 in order of first use."""
    if colors.size == 0:
        return colors.astype(np.int64)
    k = int(colors.max()) + 1
    first = np.full(k, colors.size, np.int64)
    first[colors[::-1]] = np.arange(colors.size)[::-1]
    used = np.nonzero(first < colors.size)[0]
    relabel = np.full(k, -1, np.int64)
    relabel[used[np.argsort(first[used], kind="stable")]] = np.arange(used.size)
    return relabel[colors]


def color_columns(pattern: sp.csr_array, *, seed: int = 0, passes: int = 12) -> np.ndarray:
    """Partial distance-2 colouring of the columns: same-coloured columns share no row."""
    pattern = as_pattern(pattern)
    _m, n = pattern.shape
    if n == 0:
        return np.zeros(0, np.int64)
    bound = column_lower_bound(pattern)
    if bound >= 0.9 * n:  # a (nearly) dense row: one colour per column is (nearly) optimal
        return np.arange(n, dtype=np.int64)
    best = None
    for candidate in _lattice_candidates(pattern, bound):
        if is_valid_column_coloring(pattern, candidate):
            candidate = _compact(candidate)
            if best is None or candidate.max() < best.max():
                best = candidate
    if best is not None and best.max() + 1 <= max(bound, 1):
        return best
    graph = _column_graph(pattern)
    if graph is None:
        return best if best is not None else np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    degree = np.diff(graph.indptr)
    ranks = [np.arange(n), rng.permutation(n), rng.permutation(n)]
    order = np.lexsort((rng.random(n), -degree))
    largest_first = np.empty(n, np.int64)
    largest_first[order] = np.arange(n)
    ranks.append(largest_first)
    for rank in ranks:
        colors = greedy(graph, rank, _MAX_ROUNDS)
        if colors is not None and (best is None or colors.max() < best.max()):
            best = colors
    if best is None:  # long dependency chains (dense conflict graphs): no round limit
        best = greedy(graph, largest_first)
    lower = max(bound, 1)
    stale = 0
    for step in range(passes):
        if best.max() + 1 <= lower or stale >= 3:
            break
        colors = greedy(graph, _class_rank(best, rng, step % 3))
        stale = stale + 1 if colors.max() >= best.max() else 0
        if colors.max() <= best.max():
            best = colors
    return _compact(best)


def column_lower_bound(pattern: sp.csr_array) -> int:
    """The most nonzeros in one row: those columns all need different colours."""
    return int(np.diff(pattern.indptr).max()) if pattern.shape[0] and pattern.nnz else 0


# ---------------------------------------------------------------- symmetric (star)


def star_decompression(pattern: sp.csr_array, colors: np.ndarray):
    """Direct symmetric recovery: for each nonzero (i, j), where in B = H S to read it.

    Returns (row, colour) arrays giving B[row, colour] == H[i, j] for every stored entry
    (in CSR order), or None when the colouring does not allow direct recovery.
    """
    coo = pattern.tocoo()
    if coo.nnz == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows, cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
    k = int(colors.max()) + 1
    counts = np.bincount(rows * k + colors[cols], minlength=pattern.shape[0] * k)
    own = counts[rows * k + colors[cols]] == 1
    other = counts[cols * k + colors[rows]] == 1
    if not np.all(own | other):
        return None
    read_row = np.where(own, rows, cols)
    read_color = np.where(own, colors[cols], colors[rows])
    return read_row, read_color


def _star_greedy(adjacency: sp.csr_array, order: np.ndarray) -> np.ndarray:
    """Greedy star colouring (Gebremedhin, Manne, Pothen 2005, Algorithm 4.1)."""
    n = adjacency.shape[0]
    indptr, indices = adjacency.indptr, adjacency.indices
    flat = indices.tolist()
    bounds = indptr.tolist()
    neighbours = [flat[bounds[v] : bounds[v + 1]] for v in range(n)]
    color = [-1] * n
    forbidden = [-1] * (n + 1)
    for v in order.tolist():
        for w in neighbours[v]:
            cw = color[w]
            if cw >= 0:
                forbidden[cw] = v
            for x in neighbours[w]:
                if x == v:
                    continue
                cx = color[x]
                if cx < 0:
                    continue
                if cw < 0:
                    forbidden[cx] = v
                else:
                    for y in neighbours[x]:
                        if y != w and color[y] == cw:
                            forbidden[cx] = v
                            break
        c = 0
        while forbidden[c] == v:
            c += 1
        color[v] = c
    return np.asarray(color, np.int64)


_STAR_WORK_LIMIT = 2_000_000


def color_star(pattern: sp.csr_array, *, seed: int = 0) -> np.ndarray:
    """Symmetric colouring with direct recovery of every H[i, j] from H S."""
    pattern = as_pattern(pattern)
    n = pattern.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    symmetric = as_pattern(pattern + pattern.T + sp.eye_array(n, dtype=bool, format="csr"))
    candidates = [color_columns(symmetric, seed=seed)]
    adjacency = symmetric.copy()
    adjacency.setdiag(False)
    adjacency.eliminate_zeros()
    degree = np.diff(adjacency.indptr).astype(np.int64)
    work = int((degree * degree).sum())
    typical = float(np.percentile(degree + 1, 90)) if n else 1.0
    improvable = candidates[0].max() + 1 > max(3.0, 1.5 * typical)
    if improvable and work <= _STAR_WORK_LIMIT:
        rng = np.random.default_rng(seed)
        for order in (np.argsort(-degree, kind="stable"), np.arange(n), rng.permutation(n)):
            candidates.append(_star_greedy(adjacency, order))
    best = None
    for colors in candidates:
        colors = _compact(colors)
        if star_decompression(symmetric, colors) is None:
            continue
        if best is None or colors.max() < best.max():
            best = colors
    if best is None:  # cannot happen: a distance-2 colouring is always a star colouring
        best = np.arange(n, dtype=np.int64)
    return best


# ---------------------------------------------------------------- bicolouring


@dataclass(frozen=True)
class Bicoloring:
    """Entries read from VJPs (rows) and JVPs (columns); -1 marks unseeded rows/columns."""

    row_colors: np.ndarray  # (m,) colour of each row seeded in a VJP, or -1
    column_colors: np.ndarray  # (n,) colour of each column seeded in a JVP, or -1
    by_row: np.ndarray  # (nnz,) True where entry k (CSR order) is read from the VJPs

    @property
    def num_passes(self) -> int:
        rows = int(self.row_colors.max()) + 1 if self.row_colors.size else 0
        cols = int(self.column_colors.max()) + 1 if self.column_colors.size else 0
        return max(rows, 0) + max(cols, 0)


def _split_rows(pattern: sp.csr_array, dense: np.ndarray, seed: int) -> Bicoloring:
    """Rows flagged `dense` by VJPs, the other rows' entries by column-coloured JVPs."""
    m, n = pattern.shape
    row_colors = np.full(m, -1, np.int64)
    column_colors = np.full(n, -1, np.int64)
    top = pattern[np.nonzero(dense)[0]]
    if top.shape[0]:
        row_colors[dense] = color_columns(sp.csr_array(top.T), seed=seed)
    rest_rows = np.nonzero(~dense)[0]
    rest = pattern[rest_rows]
    used = np.zeros(n, bool)
    used[rest.indices] = True
    if used.any():
        colors = color_columns(rest[:, np.nonzero(used)[0]], seed=seed)
        column_colors[used] = colors
    by_row = np.repeat(dense, np.diff(pattern.indptr))
    return Bicoloring(row_colors, column_colors, by_row)


def bicolor(pattern: sp.csr_array, *, seed: int = 0) -> Bicoloring:
    """Best split found: dense rows by VJPs + the rest by JVPs, or the transpose of that."""
    pattern = as_pattern(pattern)
    best = None
    for transpose in (False, True):
        p = sp.csr_array(pattern.T) if transpose else pattern
        counts = np.diff(p.indptr)
        if counts.size == 0:
            continue
        typical = max(float(np.median(counts)), 1.0)
        thresholds = sorted({int(t) for t in (2 * typical, 4 * typical, 16 * typical)})
        for threshold in thresholds:
            dense = counts > threshold
            if not dense.any() or dense.all():
                continue
            found = _split_rows(p, dense, seed)
            if transpose:
                order = sp.csr_array(
                    (np.arange(p.nnz), p.indices, p.indptr), shape=p.shape
                ).T.tocsr()
                order.sort_indices()
                found = Bicoloring(found.column_colors, found.row_colors,
                                   ~found.by_row[order.data])
            if best is None or found.num_passes < best.num_passes:
                best = found
    return best


# ---------------------------------------------------------------- public


def color(pattern, kind: ColoringKind) -> np.ndarray:
    """Colour the columns, rows or (symmetric) vertices of a sparsity pattern.

    "column": columns of one colour share no row, so J S (S the 0/1 seed matrix of the
    colours) holds every entry of J once: one JVP per colour. "row": the same for rows,
    one VJP per colour. "star": a symmetric colouring from which every H[i, j] is read
    directly from H S (Gebremedhin, Manne, Pothen 2005): one HVP per colour. Greedy over
    several orderings; the fewest colours found are kept.

    Args:
        pattern: (m, n) boolean matrix, dense or scipy.sparse (square for "star").
        kind: "column", "row" or "star".

    Returns:
        numpy int64 array of colours 0..k-1: one per column (n), row (m) or vertex (n).

    Example:
        >>> color(np.eye(3, dtype=bool) | np.eye(3, k=1, dtype=bool), "column")
        array([0, 1, 0])
    """
    check_choice("kind", kind, ColoringKind)
    matrix = as_pattern(pattern)
    if kind == "column":
        return color_columns(matrix)
    if kind == "row":
        return color_columns(sp.csr_array(matrix.T))
    if matrix.shape[0] != matrix.shape[1]:
        raise ShapeError(
            f"pattern must be square for kind='star' (a Hessian pattern), but got shape "
            f"{matrix.shape}. Use kind='column' or 'row' for Jacobians."
        )
    return color_star(matrix)


__all__ = ["Bicoloring", "bicolor", "color", "color_columns", "color_star", "greedy"]
