"""The abstract interpreter: walk a jaxpr equation by equation, one rule per primitive.

Known constants are folded (their values are computed eagerly) so that index arrays of
gathers, scatters and dynamic slices are concrete when they do not depend on the input.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.extend.core
import numpy as np

from jachess._errors import SparsityDetectionError
from jachess.sparsity._detection._graph import (
    IDENTITY,
    Graph,
    Node,
    apply_link,
    selection,
    union,
)

#: Constants larger than this are not folded (their values stay unknown).
_FOLD_LIMIT = 5_000_000


class SparsityWarning(UserWarning):
    """Detection could not prove a pattern for some elements and made them conservative.

    The message names each primitive and why (value-dependent indices, no rule, a scan too
    long to unroll); the pattern is still sound. Pass ``strict=True`` to raise instead.
    """


class Context:
    """State of one detection run: input size, Hessian graph, strictness, warnings."""

    def __init__(self, n: int, *, hessian: bool, strict: bool):
        self.n = n
        self.hessian = hessian
        self.strict = strict
        self.graph = Graph(record=hessian)
        self.unproven: dict[str, str] = {}
        # > 0 while the JVP rule of a custom_jvp function is read for second-order terms
        self.custom_depth = 0
        # True in the local pass that reads a custom rule's tangent map
        self.reading_tangents = False
        # traced derivative rules of custom_jvp / custom_vjp equations, per equation
        self.traced: dict = {}

    def make(self, shape, links, value=None) -> Node:
        """A node whose deps are the OR of its links' images (and, for Hessians, its edges)."""
        node = Node(tuple(int(d) for d in shape), value=value)
        size = node.size
        links = [(parent, link) for parent, link in links if parent.deps is not None]
        node.deps = union(
            [apply_link(link, parent.deps, size) for parent, link in links], size, self.n
        )
        if node.deps is not None:
            self.graph.add_edges(node, links)
        return node

    def constant(self, shape, value=None) -> Node:
        return Node(tuple(int(d) for d in shape), value=value)

    def term(self, node: Node, left, right, rowmap=None) -> None:
        """Second-order interaction: element e of node couples left[e] with right[e]."""
        if self.hessian:
            self.graph.add_term(node, rowmap, left, right)

    def unproven_here(self, primitive: str, reason: str) -> None:
        """Note a conservative rule; raise at once under strict=True."""
        if self.strict:
            raise SparsityDetectionError(
                f"Sparsity detection requires every primitive to have a proven pattern, but "
                f"{primitive!r} {reason}. Pass strict=False to accept a conservative "
                "(denser) pattern, or give the pattern yourself with sparsity=<pattern>."
            )
        self.unproven.setdefault(primitive, reason)

    def emit_warnings(self) -> None:
        if self.unproven:
            listed = "; ".join(f"{p!r} {r}" for p, r in self.unproven.items())
            warnings.warn(
                f"Sparsity pattern is conservative (denser than it may be) where: {listed}. "
                "Pass the pattern yourself with sparsity=<pattern> to avoid this.",
                SparsityWarning,
                stacklevel=4,
            )


def broadcast_link(node: Node, out_shape):
    """Elementwise link from an operand to the output, broadcasting as numpy does."""
    out_shape = tuple(out_shape)
    if node.shape == out_shape:
        return IDENTITY
    ids = np.arange(node.size, dtype=np.int64).reshape(node.shape)
    return selection(np.broadcast_to(ids, out_shape), node.size)


def _closed(jaxpr):
    """(open jaxpr, consts) of a ClosedJaxpr or an open Jaxpr."""
    if hasattr(jaxpr, "jaxpr") and hasattr(jaxpr, "consts"):
        return jaxpr.jaxpr, list(jaxpr.consts)
    return jaxpr, []


def _const_node(ctx: Context, value) -> Node:
    shape = np.shape(value)
    try:
        known = np.asarray(value) if np.size(value) <= _FOLD_LIMIT else None
    except Exception:  # opaque constants (keys, tokens) stay unknown
        known = None
    return ctx.constant(shape, known)


def interpret(jaxpr, args: list[Node], ctx: Context) -> list[Node]:
    """Run the rules over a (closed or open) jaxpr with argument nodes; return output nodes."""
    from jachess.sparsity._detection._rules import apply_rule

    open_jaxpr, consts = _closed(jaxpr)
    env: dict[Any, Node] = {}

    def read(atom) -> Node:
        if isinstance(atom, jax.extend.core.Literal):
            return _const_node(ctx, atom.val)
        return env[atom]

    for var, value in zip(open_jaxpr.constvars, consts):
        env[var] = _const_node(ctx, value)
    if len(args) != len(open_jaxpr.invars):
        raise AssertionError(f"{len(args)} arguments for {len(open_jaxpr.invars)} jaxpr inputs")
    for var, node in zip(open_jaxpr.invars, args):
        env[var] = node
    for eqn in open_jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        outs = apply_rule(eqn, ins, ctx)
        for var, node in zip(eqn.outvars, outs):
            if not isinstance(var, jax.extend.core.DropVar):
                env[var] = node
    return [read(v) for v in open_jaxpr.outvars]


def call_subjaxpr(jaxpr, ins: list[Node], ctx: Context) -> list[Node]:
    """Nested jaxprs (jit, custom_jvp/vjp, remat, closed_call): interpret in place."""
    return interpret(jaxpr, ins, ctx)
