"""Functions with custom derivative rules (jax.custom_jvp, jax.custom_vjp).

JAX differentiates such a function through its rule, not through its primal body, so the
pattern must come from the rule: a straight-through estimator ``round`` with JVP ``t``
has the identity Jacobian although its primal body has none.

First order: the rule is traced once by JAX itself (``jax.jvp`` or ``jax.vjp`` of the
re-bound primitive) and interpreted with the primal values held constant, so only the
tangent map is read: out element o depends on input element i when the tangent (or
cotangent) of one reaches the other. That local link matrix then maps the inputs'
dependency rows as any other link does.

Second order (Hessians of a custom_jvp function): the derivative of the tangent map
J(x)·t with respect to x. The JVP jaxpr is interpreted once more with real primal and
tangent nodes (the tangent of input k carries input k's dependency rows), so every
product t·c(x) records its pairs. A custom function met inside that second pass, and
every custom_vjp function, takes the nonlinear default instead (each output element
couples all inputs it depends on): sound, and it keeps the rules of a function whose
JVP calls itself (``jnp.sinc``) from unfolding without end.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from jachess.sparsity._detection._graph import IDENTITY, Node

try:  # JAX's own dead-code elimination; private, so its absence only costs time
    from jax._src.interpreters import partial_eval as _partial_eval
except ImportError:
    _partial_eval = None
from jachess.sparsity._detection._interpret import Context, interpret


def _is_float_shape(aval) -> bool:
    return jnp.issubdtype(aval.dtype, jnp.inexact)


def _rebound(eqn):
    """The equation's primitive as a Python function of its inputs (as jax.core does)."""
    params = eqn.primitive.get_bind_params(eqn.params)
    if isinstance(params, tuple):  # older JAX: (subfuns, params)
        subfuns, params = params
    else:
        subfuns = ()

    def call(*args):
        out = eqn.primitive.bind(*subfuns, *args, **params)
        return list(out) if eqn.primitive.multiple_results else [out]

    return call


def _dead_code_removed(closed):
    """Drop equations that no output needs (the primal half of a traced JVP)."""
    if _partial_eval is None:
        return closed
    try:
        jaxpr, _ = _partial_eval.dce_jaxpr(closed.jaxpr, True, instantiate=True)
        return closed.replace(jaxpr=jaxpr)
    except Exception:  # private API changed: interpreting dead code is only slower
        return closed


def _local_identity(sizes: list[int], k: int) -> sp.csr_array:
    """Dependency rows of block k when the blocks are numbered one after another."""
    start = int(np.sum(sizes[:k]))
    total = int(np.sum(sizes))
    cols = np.arange(start, start + sizes[k])
    return sp.csr_array(
        (np.ones(sizes[k], bool), (np.arange(sizes[k]), cols)), shape=(sizes[k], total)
    )


def _constant(node: Node) -> Node:
    return Node(node.shape, value=node.value, exact=node.exact,
                maybe_nonzero=None if node.deps is not None else node.maybe_nonzero)


def _traced_once(kind: str):
    """Cache a rule's traced jaxpr per equation for one detection run: an unrolled scan meets
    the same equation once per step, and tracing costs milliseconds."""

    def decorate(trace):
        def cached(eqn, *positions, ctx: Context):
            key = (kind, id(eqn), *(tuple(p) for p in positions))
            found = ctx.traced.get(key)
            if found is None:
                found = ctx.traced[key] = (eqn, trace(eqn, *positions))  # eqn kept alive
            return found[1]

        return cached

    return decorate


def _of_floats(call, primals: list, float_in: list[int], float_out: list[int] | None = None):
    """call as a function of the float inputs at positions float_in, the rest held fixed."""

    def partial(*floats):
        full = list(primals)
        for k, value in zip(float_in, floats):
            full[k] = value
        outs = call(*full)
        return outs if float_out is None else [outs[k] for k in float_out]

    return partial


def _specs(avals) -> list:
    return [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in avals]


@_traced_once("jvp")
def _jvp_jaxpr(eqn, float_in: list[int]):
    """Closed jaxpr of (primals..., tangents of the float inputs...) -> output tangents."""
    call, count = _rebound(eqn), len(eqn.invars)

    def tangent_map(*args):
        primals, tangents = list(args[:count]), list(args[count:])
        partial = _of_floats(call, primals, float_in)
        return jax.jvp(partial, [primals[k] for k in float_in], tangents)[1]

    specs = _specs([v.aval for v in eqn.invars])
    return _dead_code_removed(jax.make_jaxpr(tangent_map)(*specs, *[specs[k] for k in float_in]))


@_traced_once("vjp")
def _vjp_jaxpr(eqn, float_in: list[int], float_out: list[int]):
    """Closed jaxpr of (primals..., cotangents of the float outputs...) -> input cotangents."""
    call, count = _rebound(eqn), len(eqn.invars)

    def cotangent_map(*args):
        primals, cotangents = list(args[:count]), list(args[count:])
        partial = _of_floats(call, primals, float_in, float_out)
        return list(jax.vjp(partial, *[primals[k] for k in float_in])[1](cotangents))

    specs = _specs([v.aval for v in eqn.invars]) + _specs([eqn.outvars[k].aval for k in float_out])
    return _dead_code_removed(jax.make_jaxpr(cotangent_map)(*specs))


def _first_order(jaxpr, ins: list[Node], seeds: list[Node], local_n: int, ctx: Context):
    """Dependency rows (on the local seed numbering) of the jaxpr's outputs, primals constant."""
    local = Context(local_n, hessian=False, strict=ctx.strict)
    local.traced = ctx.traced
    local.reading_tangents = True
    outs = interpret(jaxpr, [_constant(node) for node in ins] + seeds, local)
    for primitive, reason in local.unproven.items():
        ctx.unproven_here(primitive, reason)
    return [None if out.deps is None else out.deps for out in outs]


def _float_positions(avals) -> list[int]:
    return [k for k, aval in enumerate(avals) if _is_float_shape(aval)]


def _varying_float_inputs(eqn, ins: list[Node]) -> list[int]:
    """Positions of the float inputs that depend on x (the others are held constant)."""
    return [k for k in _float_positions([v.aval for v in eqn.invars]) if ins[k].deps is not None]


def _on_tangents(eqn, ins: list[Node], ctx: Context) -> list[Node]:
    """A custom function applied to tangents inside a rule (``permute(t)``): the tangent
    map is linear in t, so its value dependence is the primal body's pattern. Reading
    the function's own rule here would unfold without end."""
    return interpret(eqn.params["call_jaxpr"], ins, ctx)


def custom_jvp_rule(eqn, ins: list[Node], ctx: Context) -> list[Node]:
    """Outputs of a custom_jvp function, read from its JVP rule (see the module docstring)."""
    if ctx.reading_tangents:
        return _on_tangents(eqn, ins, ctx)
    float_in = _varying_float_inputs(eqn, ins)
    jaxpr = _jvp_jaxpr(eqn, float_in, ctx=ctx)
    sizes = [ins[k].size for k in float_in]
    seeds = [
        Node(ins[k].shape, deps=_local_identity(sizes, j)) for j, k in enumerate(float_in)
    ]
    local_rows = _first_order(jaxpr, ins, seeds, int(np.sum(sizes)), ctx)
    outs = _outputs_from_local(eqn, ins, float_in, sizes, local_rows, ctx)
    if not ctx.hessian:
        return outs
    if ctx.custom_depth > 0:
        for node in outs:
            if node.deps is not None:
                ctx.term(node, node.deps, node.deps)
        return outs
    tangents = [ctx.make(ins[k].shape, [(ins[k], IDENTITY)]) for k in float_in]
    ctx.custom_depth += 1
    try:
        tangent_outs = interpret(jaxpr, list(ins) + tangents, ctx)
    finally:
        ctx.custom_depth -= 1
    for node, tangent in zip(outs, tangent_outs):
        if node.deps is not None and tangent.deps is not None:
            ctx.graph.add_edges(node, [(tangent, IDENTITY)])
    return outs


def custom_vjp_rule(eqn, ins: list[Node], ctx: Context) -> list[Node]:
    """Outputs of a custom_vjp function, read from its backward rule."""
    if ctx.reading_tangents:
        return _on_tangents(eqn, ins, ctx)
    float_in = _varying_float_inputs(eqn, ins)
    float_out = _float_positions([v.aval for v in eqn.outvars])
    jaxpr = _vjp_jaxpr(eqn, float_in, float_out, ctx=ctx)
    out_sizes = [int(np.prod(eqn.outvars[k].aval.shape, dtype=np.int64)) for k in float_out]
    seeds = [
        Node(tuple(eqn.outvars[k].aval.shape), deps=_local_identity(out_sizes, j))
        for j, k in enumerate(float_out)
    ]
    # rows of input cotangent k on the output numbering; transposed, they are the links
    cotangent_rows = _first_order(jaxpr, ins, seeds, int(np.sum(out_sizes)), ctx)
    starts = np.concatenate([[0], np.cumsum(out_sizes)]).astype(np.int64)
    outs = []
    for k, var in enumerate(eqn.outvars):
        shape = tuple(int(d) for d in var.aval.shape)
        if k not in float_out:
            outs.append(ctx.constant(shape))
            continue
        j = float_out.index(k)
        links = []
        for k_in, rows in zip(float_in, cotangent_rows):
            if rows is None:
                continue
            links.append((ins[k_in], sp.csr_array(rows.T[starts[j] : starts[j + 1]], dtype=bool)))
        node = ctx.make(shape, links)
        if node.deps is not None:
            ctx.term(node, node.deps, node.deps)
        outs.append(node)
    return outs


def _outputs_from_local(eqn, ins, float_in, sizes, local_rows, ctx: Context) -> list[Node]:
    """Output nodes whose links are the local tangent map's blocks, one per float input."""
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    outs = []
    for var, rows in zip(eqn.outvars, local_rows):
        shape = tuple(int(d) for d in var.aval.shape)
        if rows is None or not _is_float_shape(var.aval):
            outs.append(ctx.constant(shape))
            continue
        rows = sp.csr_array(rows, dtype=bool)
        links = [
            (ins[k], sp.csr_array(rows[:, starts[j] : starts[j + 1]], dtype=bool))
            for j, k in enumerate(float_in)
        ]
        outs.append(ctx.make(shape, links))
    return outs


def _stacked_rows(blocks, sizes: list[int], width: int) -> sp.csr_array:
    """One dependency matrix from per-output blocks (None: a block of no entries)."""
    return sp.csr_array(sp.vstack([
        rows if rows is not None else sp.csr_array((size, width), dtype=bool)
        for rows, size in zip(blocks, sizes)]), dtype=bool)


def _reach_closure(pattern: sp.csr_array) -> sp.csr_array:
    """Reflexive transitive closure of a square pattern, by repeated squaring.

    A nonsingular A has A^-1 = p(A) for a polynomial p (Cayley-Hamilton), so the pattern of
    A^-1 lies inside the closure of the pattern of A.
    """
    size = pattern.shape[0]
    closure = (sp.eye_array(size, dtype=bool, format="csr") + pattern).astype(bool)
    while True:
        grown = (closure + (closure @ closure)).astype(bool)
        if grown.nnz == closure.nnz:
            return grown.tocsr()
        closure = grown


def custom_linear_solve_rule(eqn, ins: list[Node], ctx: Context) -> list[Node]:
    """x = A(θ)^-1 b from lax.custom_linear_solve (jnp.linalg.solve, jax.scipy solvers).

    The primitive's contract is solve(matvec, matvec(x)) == x, so the solve is A^-1 whatever
    its body does (its LU pivots are value-dependent indices that would make it dense):
    x depends on b through closure(pattern(A)), and on θ through
    closure(pattern(A)) · pattern(∂(A x)/∂θ), both read from the matvec jaxpr.
    Cost: one local pass over matvec, and boolean squarings of the b-sized pattern.
    """
    lengths = eqn.params["const_lengths"]
    matvec = eqn.params["jaxprs"].matvec
    num_consts = sum(lengths)
    consts, rhs = ins[: lengths.matvec], ins[num_consts:]
    rhs_sizes = [node.size for node in rhs]
    m = int(np.sum(rhs_sizes))
    seeds = [Node(node.shape, deps=_local_identity(rhs_sizes, j)) for j, node in enumerate(rhs)]
    a_rows = _first_order(matvec, [], [_constant(c) for c in consts] + seeds, m, ctx)
    a_pattern = _stacked_rows(a_rows, rhs_sizes, m)
    inverse = _reach_closure(a_pattern)

    varying = [k for k, c in enumerate(consts) if c.deps is not None]
    theta_links = []
    if varying:
        sizes = [consts[k].size for k in varying]
        const_seeds = [Node(consts[k].shape, deps=_local_identity(sizes, j))
                       for j, k in enumerate(varying)]
        inputs = [_constant(c) for c in consts]
        for j, k in enumerate(varying):
            inputs[k] = const_seeds[j]
        theta_rows = _first_order(matvec, [], inputs + [_constant(r) for r in rhs],
                                  int(np.sum(sizes)), ctx)
        stacked = _stacked_rows(theta_rows, rhs_sizes, int(np.sum(sizes)))
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        for j, k in enumerate(varying):
            theta_links.append((consts[k], stacked[:, starts[j] : starts[j + 1]]))

    starts = np.concatenate([[0], np.cumsum(rhs_sizes)]).astype(np.int64)
    outs = []
    for j, var in enumerate(eqn.outvars):
        block = inverse[starts[j] : starts[j + 1]]
        links = [(node, sp.csr_array(block[:, starts[i] : starts[i + 1]], dtype=bool))
                 for i, node in enumerate(rhs) if node.deps is not None]
        links += [(node, sp.csr_array((block @ link).astype(bool))) for node, link in theta_links]
        node = ctx.make(tuple(int(d) for d in var.aval.shape), links)
        if node.deps is not None and varying:
            ctx.term(node, node.deps, node.deps)
        outs.append(node)
    return outs
