"""Dependency sets as sparse boolean matrices, and the graph that Hessian detection walks back.

Every value of the function's jaxpr becomes a `Node`. Its first-order dependencies are a
scipy CSR matrix of bool with one row per element of the value (row-major) and one column
per input: row e holds the inputs element e can depend on. Constants (values that do not
depend on the input) have ``deps=None`` and, when cheap, their concrete ``value``.

Primitives are described by *links*: output element o depends on input element i when
M[o, i] is set, so deps_out = OR over inputs of M @ deps_in. Hessian detection also
records the links as graph edges, walks them backwards from the scalar output to learn
which elements reach it, and keeps only the second-order interactions that do.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

#: Link sentinel: output element o depends on input element o (same size).
IDENTITY = "identity"
#: Link sentinel: every output element depends on every input element.
ALL = "all"

_ids = itertools.count()


@dataclass(eq=False)
class Node:
    """One jaxpr value during detection: shape, dependency rows, known constant value."""

    shape: tuple[int, ...]
    deps: Any = None  # sp.csr_array (size, n) of bool, or None when constant
    value: Any = None  # numpy array when known at detection time
    # value is bit-for-bit what XLA computes (literals, structural ops, integer arithmetic);
    # folded float arithmetic may round differently under fusion (linspace: 0 vs 5e-18)
    exact: bool = True
    # for an inexact value: where it can be nonzero (a superset), when that is known
    maybe_nonzero: Any = None
    # for an integer value that depends on x (argmax, ...): elementwise (lo, hi) bounds
    bounds: Any = None
    uid: int = field(default_factory=lambda: next(_ids))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def trusted(self):
        """The value when it is known exactly (safe for indices and predicates), else None."""
        return self.value if self.exact else None

    @property
    def nonzero(self):
        """Bool array holding every element that can be nonzero, or None when unknown."""
        if self.deps is not None:
            return None
        if self.value is not None and self.exact:
            return np.asarray(self.value) != 0
        return self.maybe_nonzero


def empty_rows(size: int, n: int) -> sp.csr_array:
    """A size x n dependency matrix with no entries."""
    return sp.csr_array((size, n), dtype=bool)


def selection(index: np.ndarray, in_size: int) -> sp.csr_array:
    """Link matrix from an index map: out element o <- in element index[o] (-1: none)."""
    index = np.asarray(index, dtype=np.int64).ravel()
    keep = index >= 0
    rows = np.nonzero(keep)[0]
    return sp.csr_array(
        (np.ones(rows.size, bool), (rows, index[keep])), shape=(index.size, in_size)
    )


def pairs_matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_array:
    """Link matrix with entries (rows[k], cols[k]); duplicates are merged."""
    rows = np.asarray(rows, dtype=np.int64).ravel()
    cols = np.asarray(cols, dtype=np.int64).ravel()
    matrix = sp.csr_array((np.ones(rows.size, bool), (rows, cols)), shape=shape)
    matrix.sum_duplicates()
    return matrix


def apply_link(link: Any, deps: sp.csr_array, out_size: int) -> sp.csr_array:
    """Dependency rows of the output that `link` makes from an input's rows."""
    if link is IDENTITY:
        return deps
    if link is ALL:
        union = (deps.sum(axis=0) > 0).nonzero()[0] if deps.nnz else np.zeros(0, np.int64)
        cols = np.tile(union, out_size)
        rows = np.repeat(np.arange(out_size, dtype=np.int64), union.size)
        return sp.csr_array(
            (np.ones(cols.size, bool), (rows, cols)), shape=(out_size, deps.shape[1])
        )
    result = link @ deps
    return result.astype(bool) if result.dtype != bool else result


def union(parts: list[sp.csr_array], size: int, n: int) -> sp.csr_array | None:
    """OR of dependency matrices, or None when there are none."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    if total.shape != (size, n):
        raise AssertionError(f"dependency rows of shape {total.shape}, expected {(size, n)}")
    return total


class Graph:
    """Edges and second-order terms recorded for Hessian detection (off for Jacobians)."""

    def __init__(self, record: bool):
        self.record = record
        self.edges: dict[int, list[tuple[Node, Any]]] = {}
        self.nodes: dict[int, Node] = {}
        # (node whose reach gates the term, rowmap or None, L rows, R rows)
        self.terms: list[tuple[Node, Any, sp.csr_array, sp.csr_array]] = []
        self.gate: Node | None = None

    def add_edges(self, node: Node, links: list[tuple[Node, Any]]) -> None:
        if self.record:
            self.nodes[node.uid] = node
            self.edges.setdefault(node.uid, []).extend(links)

    def add_term(self, node: Node, rowmap, left: sp.csr_array, right: sp.csr_array) -> None:
        """Record that element e of `node` makes the inputs in left[e] x right[e] interact."""
        if not self.record or left is None or right is None or not left.nnz or not right.nnz:
            return
        if self.gate is not None:
            # inside a loop body: kept whenever the loop's result reaches the output
            rowmap = np.zeros(left.shape[0], np.int64)
            node = self.gate
        self.nodes[node.uid] = node
        self.terms.append((node, rowmap, left, right))

    def interactions(self, outputs: list[Node], n: int) -> sp.csr_array:
        """The symmetric n x n pattern of the terms whose node elements reach the outputs."""
        reach: dict[int, np.ndarray] = {}
        for out in outputs:
            if out.deps is not None:
                reach[out.uid] = np.ones(out.size, bool)
                self.nodes[out.uid] = out
        # Newest node first (uids grow in creation order, so children come before parents),
        # but as a worklist: loop gates are made after the loop's outputs, so an edge may
        # point from an older node to a newer one, and that node is then visited again.
        pending = [-uid for uid in reach]
        heapq.heapify(pending)
        queued = set(reach)
        while pending:
            uid = -heapq.heappop(pending)
            queued.discard(uid)
            mask = reach[uid]
            for parent, link in self.edges.get(uid, ()):
                if parent.deps is None:
                    continue
                if link is IDENTITY:
                    add = mask
                elif link is ALL:
                    add = np.ones(parent.size, bool)
                else:
                    add = (link.T @ mask.astype(np.int8)) > 0
                prev = reach.get(parent.uid)
                grown = add.copy() if prev is None else (prev | add)
                if prev is None or grown.sum() > prev.sum():
                    reach[parent.uid] = grown
                    self.nodes.setdefault(parent.uid, parent)
                    if parent.uid not in queued:
                        queued.add(parent.uid)
                        heapq.heappush(pending, -parent.uid)
        total = sp.csr_array((n, n), dtype=bool)
        for node, rowmap, left, right in self.terms:
            mask = reach.get(node.uid)
            if mask is None:
                continue
            if rowmap is not None:
                mask = mask[rowmap]
            if not mask.any():
                continue
            if not mask.all():
                keep = np.nonzero(mask)[0]
                left, right = left[keep], right[keep]
            total = total + (left.T @ right).astype(bool)
        return (total + total.T).tocsr()
