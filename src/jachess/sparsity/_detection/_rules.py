"""One rule per primitive family: elementwise, structural, indexing, reductions, products,
calls and control flow.

A rule maps the input nodes of an equation to its output nodes through links (see
`_graph`), and for Hessians records the second-order terms the primitive creates:
linear primitives none, a product a*b the pairs deps(a) x deps(b), a nonlinear unary
function the pairs deps(a) x deps(a).
"""

from __future__ import annotations

import itertools
import types
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jachess._errors import SparsityDetectionError
from jachess.sparsity._detection._custom import (
    custom_jvp_rule,
    custom_linear_solve_rule,
    custom_vjp_rule,
)
from jachess.sparsity._detection._graph import (
    ALL,
    IDENTITY,
    Node,
    apply_link,
    empty_rows,
    pairs_matrix,
    selection,
)
from jachess.sparsity._detection._interpret import (
    _FOLD_LIMIT,
    Context,
    broadcast_link,
    interpret,
)

Rule = Callable[[object, list[Node], Context], list[Node]]
RULES: dict[str, Rule] = {}


def _is_float(aval) -> bool:
    dtype = getattr(aval, "dtype", None)
    return dtype is not None and jnp.issubdtype(dtype, jnp.inexact)


def _ids(node_or_shape) -> np.ndarray:
    shape = node_or_shape.shape if isinstance(node_or_shape, Node) else node_or_shape
    return np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)


def _out_shape(eqn, k: int = 0) -> tuple[int, ...]:
    return tuple(int(d) for d in eqn.outvars[k].aval.shape)


def _np_broadcast_in_dim(value, shape, broadcast_dimensions, **_):
    expanded = [1] * len(shape)
    for axis, dim in enumerate(broadcast_dimensions):
        expanded[dim] = value.shape[axis]
    return np.broadcast_to(value.reshape(expanded), shape)


def _np_iota(dtype, shape, dimension, **_):
    line = np.arange(shape[dimension], dtype=dtype)
    expanded = [1] * len(shape)
    expanded[dimension] = shape[dimension]
    return np.broadcast_to(line.reshape(expanded), shape)


def _np_slice(value, start_indices, limit_indices, strides, **_):
    strides = strides or (1,) * value.ndim
    return value[tuple(slice(a, b, c) for a, b, c in zip(start_indices, limit_indices, strides))]


#: NumPy versions of cheap primitives, to fold index arithmetic without compiling XLA ops.
_NUMPY_FOLD = {
    "add": lambda a, b, **_: a + b,
    "sub": lambda a, b, **_: a - b,
    "mul": lambda a, b, **_: a * b,
    "neg": lambda a, **_: -a,
    "max": lambda a, b, **_: np.maximum(a, b),
    "min": lambda a, b, **_: np.minimum(a, b),
    "lt": lambda a, b, **_: a < b,
    "le": lambda a, b, **_: a <= b,
    "gt": lambda a, b, **_: a > b,
    "ge": lambda a, b, **_: a >= b,
    "eq": lambda a, b, **_: a == b,
    "ne": lambda a, b, **_: a != b,
    "and": lambda a, b, **_: a & b,
    "or": lambda a, b, **_: a | b,
    "not": lambda a, **_: ~a,
    "select_n": lambda p, *cases, **_: np.choose(p.astype(np.int64), cases),
    "clamp": lambda lo, a, hi, **_: np.clip(a, lo, hi),
    "convert_element_type": lambda a, **_: a,
    "broadcast_in_dim": _np_broadcast_in_dim,
    "reshape": lambda a, new_sizes, dimensions=None, **_: (
        a if dimensions is None else np.transpose(a, dimensions)).reshape(new_sizes),
    "squeeze": lambda a, dimensions, **_: np.squeeze(a, axis=tuple(dimensions)),
    "expand_dims": lambda a, dimensions, **_: np.expand_dims(a, tuple(dimensions)),
    "transpose": lambda a, permutation, **_: np.transpose(a, permutation),
    "rev": lambda a, dimensions, **_: np.flip(a, axis=tuple(dimensions)),
    "slice": _np_slice,
    "concatenate": lambda *a, dimension, **_: np.concatenate(a, axis=dimension),
    "iota": _np_iota,
}


def _fold(eqn, ins: list[Node]):
    """Concrete output values of an equation whose inputs are all known, or None."""
    if any(node.value is None for node in ins):
        return None
    if any(int(np.prod(v.aval.shape, dtype=np.int64)) > _FOLD_LIMIT for v in eqn.outvars):
        return None
    name = eqn.primitive.name
    if name in _NUMPY_FOLD and len(eqn.outvars) == 1:
        try:
            out = _NUMPY_FOLD[name](*[np.asarray(node.value) for node in ins], **eqn.params)
            aval = eqn.outvars[0].aval
            out = np.asarray(out).astype(aval.dtype, copy=False)
            if out.shape == tuple(aval.shape):
                return [out]
        except Exception:  # fall back to JAX's own implementation below
            pass
    try:
        with jax.ensure_compile_time_eval():
            outs = eqn.primitive.bind(*[jnp.asarray(node.value) for node in ins], **eqn.params)
        if not eqn.primitive.multiple_results:
            outs = [outs]
        return [np.asarray(o) for o in outs]
    except Exception:  # folding is an optimisation; unknown values are safe
        return None


#: Primitives whose folded value equals XLA's bit for bit (no float rounding choices).
_EXACT_FOLD = frozenset(
    "broadcast_in_dim reshape squeeze expand_dims transpose rev slice concatenate pad "
    "select_n gather dynamic_slice dynamic_update_slice scatter iota convert_element_type "
    "copy copy_p neg abs max min clamp sign floor ceil round eq ne lt le gt ge and or not xor "
    "sort stop_gradient reduce_max reduce_min argmax argmin split".split()
)


#: Primitives that move or copy elements: zero-ness goes wherever the elements go.
_STRUCTURAL = frozenset(
    "broadcast_in_dim reshape squeeze expand_dims transpose rev slice concatenate pad "
    "select_n gather dynamic_slice dynamic_update_slice scatter convert_element_type copy "
    "copy_p neg abs".split()
)


def _integer_valued_arithmetic(eqn, ins: list[Node], values) -> bool:
    """Float add/sub/mul/rem of whole numbers below 2^24 is exact however XLA fuses it (index
    arithmetic done in floats: 2 * j + q - 1, then cast to int)."""
    if eqn.primitive.name not in ("add", "add_any", "sub", "mul", "rem") or values[0] is None:
        return False
    arrays = [np.asarray(node.value) for node in ins] + [np.asarray(values[0])]
    if any(a.dtype.kind not in "biuf" for a in arrays):
        return False
    return all(bool(np.all(np.isfinite(a) & (a == np.round(a)) & (np.abs(a) < 2**24)))
               for a in arrays)


def _nonzero_superset(eqn, ins: list[Node]):
    """Where an inexactly folded float result can be nonzero, from its inputs' supersets."""
    name = eqn.primitive.name
    shape = _out_shape(eqn)
    if name in ("mul", "add", "sub", "add_any", "div"):
        masks = [node.nonzero for node in ins]
        if any(m is None for m in masks):
            return None
        if name == "mul":
            return np.broadcast_to(masks[0] & masks[1], shape)
        if name == "div":
            return np.broadcast_to(masks[0], shape)
        return np.broadcast_to(masks[0] | masks[1], shape)
    if name not in _STRUCTURAL:
        return None
    # the same structural op applied to 0/1 stand-ins; indices and predicates must be exact
    stand_ins = []
    for var, node in zip(eqn.invars, ins):
        if _is_float(var.aval):
            if node.nonzero is None:
                return None
            stand_ins.append(Node(node.shape, value=np.asarray(node.nonzero, var.aval.dtype)))
        elif node.trusted is None:
            return None
        else:
            stand_ins.append(Node(node.shape, value=node.trusted))
    folded = _fold(eqn, stand_ins)
    return None if folded is None else np.asarray(folded[0]) != 0


def _constant_outputs(eqn, ins: list[Node], ctx: Context) -> list[Node]:
    """Outputs that do not depend on x (or are not floats), with folded values when cheap."""
    values = _fold(eqn, ins) or [None] * len(eqn.outvars)
    avals = [v.aval for v in eqn.invars] + [v.aval for v in eqn.outvars]
    exact = all(node.exact for node in ins) and (
        eqn.primitive.name in _EXACT_FOLD or not any(_is_float(a) for a in avals)
        or _integer_valued_arithmetic(eqn, ins, values))
    outs = []
    for k in range(len(eqn.outvars)):
        node = ctx.constant(_out_shape(eqn, k), values[k])
        node.exact = exact
        if not exact and values[k] is not None and len(eqn.outvars) == 1:
            node.maybe_nonzero = _nonzero_superset(eqn, ins)
        if values[k] is None and not _is_float(eqn.outvars[k].aval) and node.size <= _BOUND_LIMIT:
            node.bounds = _int_bounds(eqn, ins, k)
        outs.append(node)
    return outs


# ---------------------------------------------------------------- integer bounds

#: Integer values larger than this carry no bounds.
_BOUND_LIMIT = 100_000
#: Value-dependent indices are enumerated over at most this many candidates.
_CANDIDATE_LIMIT = 256


def _interval(node: Node):
    """(lo, hi) arrays of the node's shape holding every value it can take, or None."""
    if node.trusted is not None:
        value = np.broadcast_to(np.asarray(node.trusted), node.shape).astype(np.int64)
        return value, value
    return node.bounds


def _int_bounds(eqn, ins: list[Node], k: int):
    """Interval arithmetic for the integer (and boolean) primitives that feed indices."""
    name = eqn.primitive.name
    shape = _out_shape(eqn, k)
    if name in ("argmax", "argmin"):
        length = ins[0].shape[eqn.params["axes"][0]]
        return np.zeros(shape, np.int64), np.full(shape, max(length - 1, 0), np.int64)
    unknown_bool = np.zeros(shape, np.int64), np.ones(shape, np.int64)
    is_bool = jnp.issubdtype(eqn.outvars[k].aval.dtype, jnp.bool_)
    if any(_is_float(v.aval) for v in eqn.invars) or len(eqn.outvars) != 1:
        return unknown_bool if is_bool else None
    bounds = [_interval(node) for node in ins]
    if any(b is None for b in bounds):
        return unknown_bool if is_bool else None
    lo = [b[0] for b in bounds]
    hi = [b[1] for b in bounds]
    try:
        if name in _COMPARISONS:
            always, never = _COMPARISONS[name](lo[0], hi[0], lo[1], hi[1])
            out = np.where(always, 1, 0), np.where(never, 0, 1)
        elif name in ("and", "or", "xor", "not") and is_bool:
            if name == "not":
                out = 1 - hi[0], 1 - lo[0]
            elif name == "and":
                out = lo[0] & lo[1], hi[0] & hi[1]
            elif name == "or":
                out = lo[0] | lo[1], hi[0] | hi[1]
            else:
                return unknown_bool
        elif name in ("add", "add_any"):
            out = lo[0] + lo[1], hi[0] + hi[1]
        elif name == "sub":
            out = lo[0] - hi[1], hi[0] - lo[1]
        elif name == "neg":
            out = -hi[0], -lo[0]
        elif name == "mul":
            corners = [lo[0] * lo[1], lo[0] * hi[1], hi[0] * lo[1], hi[0] * hi[1]]
            out = np.minimum.reduce(corners), np.maximum.reduce(corners)
        elif name in ("max", "min"):
            pick = np.maximum if name == "max" else np.minimum
            out = pick(lo[0], lo[1]), pick(hi[0], hi[1])
        elif name == "clamp":
            out = np.clip(lo[1], lo[0], hi[2]), np.clip(hi[1], lo[0], hi[2])
        elif name == "integer_pow":
            y = eqn.params["y"]
            if y <= 0:
                return (np.ones(shape, np.int64),) * 2 if y == 0 else None
            corners = [lo[0] ** y, hi[0] ** y]
            low = np.minimum(*corners)
            if y % 2 == 0:
                low = np.where((lo[0] <= 0) & (hi[0] >= 0), 0, low)
            out = low, np.maximum(*corners)
        elif name == "div":  # truncating; only for divisors that keep one sign
            if np.any((lo[1] <= 0) & (hi[1] >= 0)):
                return None
            corners = [np.trunc(a / b) for a in (lo[0], hi[0]) for b in (lo[1], hi[1])]
            out = np.minimum.reduce(corners), np.maximum.reduce(corners)
        elif name == "rem":
            reach = np.maximum(np.abs(lo[1]), np.abs(hi[1])) - 1
            # the sign of a, smaller than |b| and than |a|
            out = (np.where(lo[0] >= 0, 0, np.maximum(lo[0], -reach)),
                   np.where(hi[0] <= 0, 0, np.minimum(hi[0], reach)))
        elif name == "abs":
            low = np.where((lo[0] <= 0) & (hi[0] >= 0), 0, np.minimum(abs(lo[0]), abs(hi[0])))
            out = low, np.maximum(abs(lo[0]), abs(hi[0]))
        elif name == "sign":
            out = np.sign(lo[0]), np.sign(hi[0])
        elif name == "select_n":
            fixed = lo[0] == hi[0]  # where the predicate is decided, that case alone
            choice = np.broadcast_to(lo[0], shape)
            cases_lo = np.stack(np.broadcast_arrays(*lo[1:]))
            cases_hi = np.stack(np.broadcast_arrays(*hi[1:]))
            picked_lo = np.take_along_axis(cases_lo, np.clip(choice, 0, len(lo) - 2)[None], 0)[0]
            picked_hi = np.take_along_axis(cases_hi, np.clip(choice, 0, len(lo) - 2)[None], 0)[0]
            out = (np.where(fixed, picked_lo, cases_lo.min(axis=0)),
                   np.where(fixed, picked_hi, cases_hi.max(axis=0)))
        elif name in _STRUCTURAL and name in _NUMPY_FOLD:
            fold = _NUMPY_FOLD[name]
            out = fold(*lo, **eqn.params), fold(*hi, **eqn.params)
        else:
            return None
        low, high = (np.broadcast_to(np.asarray(v), shape).astype(np.int64) for v in out)
    except Exception:  # bounds are an optimisation; none is safe
        return None
    return low, high


#: (always true, never true) masks of a comparison from the operands' bounds.
_COMPARISONS = {
    "lt": lambda la, ha, lb, hb: (ha < lb, la >= hb),
    "le": lambda la, ha, lb, hb: (ha <= lb, la > hb),
    "gt": lambda la, ha, lb, hb: (la > hb, ha <= lb),
    "ge": lambda la, ha, lb, hb: (la >= hb, ha < lb),
    "eq": lambda la, ha, lb, hb: ((la == ha) & (lb == hb) & (la == lb), (ha < lb) | (la > hb)),
    "ne": lambda la, ha, lb, hb: ((ha < lb) | (la > hb), (la == ha) & (lb == hb) & (la == lb)),
}


def _candidates(node: Node, components_axis: int | None = None):
    """Exact arrays that together cover every value the node can take, or None.

    Component c (along `components_axis`, or every element when None) runs over its range
    independently; an index vector's elements thus see their whole box.
    """
    if node.trusted is not None:
        return [np.asarray(node.trusted)]
    bounds = _interval(node)
    if bounds is None:
        return None
    lo, hi = bounds
    if components_axis is None:
        widths = [int(np.max(hi - lo, initial=0))]
        masks = [np.ones(lo.shape, bool)]
    else:
        axis = components_axis % lo.ndim
        widths, masks = [], []
        for c in range(lo.shape[axis]):
            mask = np.zeros(lo.shape, bool)
            np.moveaxis(mask, axis, 0)[c] = True
            widths.append(int(np.max((hi - lo)[mask], initial=0)))
            masks.append(mask)
    if int(np.prod([w + 1 for w in widths], dtype=np.int64)) > _CANDIDATE_LIMIT:
        return None
    out = []
    for offsets in itertools.product(*[range(w + 1) for w in widths]):
        step = np.zeros(lo.shape, np.int64)
        for mask, offset in zip(masks, offsets):
            step[mask] = offset
        out.append(np.minimum(lo + step, hi).astype(np.asarray(lo).dtype))
    return out


def apply_rule(eqn, ins: list[Node], ctx: Context) -> list[Node]:
    """Output nodes of one equation."""
    name = eqn.primitive.name
    any_float_out = any(_is_float(v.aval) for v in eqn.outvars)
    if name not in _CALLS and (all(node.deps is None for node in ins) or not any_float_out):
        return _constant_outputs(eqn, ins, ctx)
    if name not in _CALLS and all(
            int(np.prod(v.aval.shape, dtype=np.int64)) == 0 for v in eqn.outvars):
        return [ctx.constant(_out_shape(eqn, k)) for k in range(len(eqn.outvars))]
    rule = RULES.get(name)
    if rule is None:
        outs = conservative(eqn, ins, ctx, "has no sparsity rule (unknown primitive)")
    else:
        outs = rule(eqn, ins, ctx)
    fixed = []
    for var, node in zip(eqn.outvars, outs):
        if not _is_float(var.aval) and node.deps is not None:
            node = ctx.constant(node.shape)
        fixed.append(node)
    return fixed


def conservative(eqn, ins: list[Node], ctx: Context, reason: str) -> list[Node]:
    """Every float output element depends on every input element; all pairs interact."""
    ctx.unproven_here(eqn.primitive.name, reason)
    outs = []
    for k, var in enumerate(eqn.outvars):
        if not _is_float(var.aval):
            outs.append(ctx.constant(_out_shape(eqn, k)))
            continue
        node = ctx.make(_out_shape(eqn, k), [(node, ALL) for node in ins])
        if node.deps is not None:
            ctx.term(node, node.deps, node.deps)
        outs.append(node)
    return outs


def _register(names, rule: Rule) -> None:
    for name in names.split():
        RULES[name] = rule


# ---------------------------------------------------------------- elementwise

_LINEAR = (
    "add sub neg add_any convert_element_type copy copy_p reduce_precision real imag conj "
    "max min abs rem clamp"
)
_NONLINEAR = (
    "exp exp2 log log1p expm1 sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh "
    "logistic sqrt rsqrt cbrt square pow atan2 erf erfc erf_inv lgamma digamma polygamma igamma "
    "igammac igamma_grad_a random_gamma_grad bessel_i0e bessel_i1e regularized_incomplete_beta "
    "zeta complex"
)
_ZERO_DERIVATIVE = "sign floor ceil round is_finite stop_gradient nextafter"


def _elementwise_links(eqn, ins, ctx, operands=None):
    shape = _out_shape(eqn)
    operands = ins if operands is None else operands
    return [(node, broadcast_link(node, shape)) for node in operands if node.deps is not None]


def _linear(eqn, ins, ctx):
    return [ctx.make(_out_shape(eqn), _elementwise_links(eqn, ins, ctx))]


def _nonlinear(eqn, ins, ctx):
    node = ctx.make(_out_shape(eqn), _elementwise_links(eqn, ins, ctx))
    if node.deps is not None:
        ctx.term(node, node.deps, node.deps)
    return [node]


def _zero(eqn, ins, ctx):
    return [ctx.constant(_out_shape(eqn, k)) for k in range(len(eqn.outvars))]


def _mapped(node: Node, shape):
    return apply_link(broadcast_link(node, shape), node.deps, int(np.prod(shape, dtype=np.int64)))


def _masked_link(node: Node, other: Node, shape):
    """Broadcast link from `node`, dropped where a known constant factor `other` is zero."""
    nonzero = other.nonzero
    if nonzero is None or np.all(nonzero):
        return broadcast_link(node, shape)
    index = np.broadcast_to(_ids(node), shape)
    zero = np.broadcast_to(~nonzero, shape)
    return selection(np.where(zero, -1, index), node.size)


def _mul(eqn, ins, ctx):
    a, b = ins
    shape = _out_shape(eqn)
    links = [(x, _masked_link(x, y, shape)) for x, y in ((a, b), (b, a)) if x.deps is not None]
    node = ctx.make(shape, links)
    if a.deps is not None and b.deps is not None:
        ctx.term(node, _mapped(a, node.shape), _mapped(b, node.shape))
    return [node]


def _div(eqn, ins, ctx):
    a, b = ins
    shape = _out_shape(eqn)
    links = []
    if a.deps is not None:
        links.append((a, broadcast_link(a, shape)))
    if b.deps is not None:  # d(a/b)/db = -a/b^2 vanishes where a is a known zero
        links.append((b, _masked_link(b, a, shape)))
    node = ctx.make(shape, links)
    if b.deps is not None:
        rows_b = apply_link(links[-1][1], b.deps, node.size)
        ctx.term(node, rows_b, rows_b)
        if a.deps is not None:
            ctx.term(node, _mapped(a, node.shape), rows_b)
    return [node]


def _integer_pow(eqn, ins, ctx):
    power = eqn.params["y"]
    if power == 0:
        return _zero(eqn, ins, ctx)
    if power == 1:
        return _linear(eqn, ins, ctx)
    return _nonlinear(eqn, ins, ctx)


def _select_n(eqn, ins, ctx):
    predicate, cases = ins[0], ins[1:]
    shape = _out_shape(eqn)
    bounds = _interval(predicate)
    if bounds is None or np.any(bounds[0] != bounds[1]):
        # value-dependent choice: the union of the cases
        return [ctx.make(shape, _elementwise_links(eqn, ins, ctx, cases))]
    # a decided predicate (jnp.tril, iota masks, a bounded comparison) picks one case
    chosen = np.broadcast_to(bounds[0], shape)
    links = []
    for k, node in enumerate(cases):
        if node.deps is not None:
            index = np.broadcast_to(_ids(node), shape)
            links.append((node, selection(np.where(chosen == k, index, -1), node.size)))
    return [ctx.make(shape, links)]


_register(_LINEAR, _linear)
_register(_NONLINEAR, _nonlinear)
_register(_ZERO_DERIVATIVE, _zero)
_register("mul", _mul)
_register("div", _div)
_register("integer_pow", _integer_pow)
_register("select_n", _select_n)


def _select_if_vmap(eqn, ins, ctx):
    """Equinox's select_if_vmap(pred, on_true, on_false): select_n with the cases swapped."""
    predicate, on_true, on_false = ins
    flipped = predicate
    if predicate.trusted is not None:
        flipped = Node(predicate.shape, value=np.logical_not(predicate.trusted))
    return _select_n(eqn, [flipped, on_false, on_true], ctx)


_register("select_if_vmap", _select_if_vmap)


# ---------------------------------------------------------------- structural (index maps)


def _index_rule(index_of: Callable[[object, Node], np.ndarray]) -> Rule:
    """Rule for a one-operand structural primitive from its map out element -> in element."""

    def rule(eqn, ins, ctx):
        operand = ins[0]
        index = index_of(eqn, operand)
        return [ctx.make(_out_shape(eqn), [(operand, selection(index, operand.size))])]

    return rule


def _same_order(eqn, ins, ctx):
    return [ctx.make(_out_shape(eqn), [(ins[0], IDENTITY)])]


def _broadcast_index(eqn, operand):
    shape = eqn.params["shape"]
    dims = eqn.params["broadcast_dimensions"]
    expanded = [1] * len(shape)
    for axis, dim in zip(range(len(operand.shape)), dims):
        expanded[dim] = operand.shape[axis]
    return np.broadcast_to(_ids(operand).reshape(expanded), shape)


def _transpose_index(eqn, operand):
    return np.transpose(_ids(operand), eqn.params["permutation"])


def _slice_index(eqn, operand):
    strides = eqn.params["strides"] or (1,) * len(operand.shape)
    region = tuple(
        slice(s, e, st)
        for s, e, st in zip(eqn.params["start_indices"], eqn.params["limit_indices"], strides)
    )
    return _ids(operand)[region]


def _rev_index(eqn, operand):
    return np.flip(_ids(operand), axis=tuple(eqn.params["dimensions"]))


def _pad_maps(shape, config):
    """Per-dimension maps output position -> operand position (-1 for padding)."""
    maps = []
    for length, (low, high, interior) in zip(shape, config):
        full = low + high + length + max(length - 1, 0) * interior
        positions = np.full(max(full, 0), -1, np.int64)
        where = low + np.arange(length) * (interior + 1)
        ok = (where >= 0) & (where < full)
        positions[where[ok]] = np.arange(length)[ok]
        maps.append(positions)
    return maps


def _pad(eqn, ins, ctx):
    operand, padding = ins
    maps = _pad_maps(operand.shape, eqn.params["padding_config"])
    strides = np.array(
        [int(np.prod(operand.shape[i + 1 :], dtype=np.int64)) for i in range(len(maps))]
    )
    index = np.zeros([len(m) for m in maps], np.int64)
    valid = np.ones(index.shape, bool)
    for axis, positions in enumerate(maps):
        shape = [1] * len(maps)
        shape[axis] = len(positions)
        index = index + (positions * strides[axis]).reshape(shape)
        valid = valid & (positions >= 0).reshape(shape)
    index = np.where(valid, index, -1)
    links = [(operand, selection(index, operand.size))]
    links.append((padding, selection(np.where(valid, -1, 0), 1)))
    return [ctx.make(_out_shape(eqn), links)]


def _sources_links(combined: np.ndarray, operands: list[Node]):
    """Links from a map out element -> element of concatenated operands (offsets in order)."""
    links = []
    start = 0
    flat = combined.ravel()
    for node in operands:
        local = np.where((flat >= start) & (flat < start + node.size), flat - start, -1)
        links.append((node, selection(local, node.size)))
        start += node.size
    return links


def _concatenate(eqn, ins, ctx):
    offsets = np.cumsum([0] + [node.size for node in ins])
    pieces = [_ids(node) + offsets[k] for k, node in enumerate(ins)]
    combined = np.concatenate(pieces, axis=eqn.params["dimension"])
    return [ctx.make(_out_shape(eqn), _sources_links(combined, ins))]


def _stack(eqn, ins, ctx):
    offsets = np.cumsum([0] + [node.size for node in ins])
    pieces = [_ids(node) + offsets[k] for k, node in enumerate(ins)]
    combined = np.stack(pieces, axis=eqn.params["axis"])
    return [ctx.make(_out_shape(eqn), _sources_links(combined, ins))]


def _tile_index(eqn, operand):
    return np.tile(_ids(operand), eqn.params["reps"])


def _unstack(eqn, ins, ctx):
    operand = ins[0]
    ids = _ids(operand)
    axis = eqn.params["axis"]
    return [
        ctx.make(_out_shape(eqn, k), [(operand, selection(np.take(ids, k, axis=axis),
                                                          operand.size))])
        for k in range(len(eqn.outvars))
    ]


def _split(eqn, ins, ctx):
    operand = ins[0]
    ids = _ids(operand)
    axis = eqn.params["axis"]
    bounds = np.cumsum([0, *list(eqn.params["sizes"])])
    outs = []
    for k in range(len(eqn.outvars)):
        part = np.take(ids, np.arange(bounds[k], bounds[k + 1]), axis=axis)
        outs.append(ctx.make(_out_shape(eqn, k), [(operand, selection(part, operand.size))]))
    return outs


def _start_candidates(starts: list[Node]):
    """Every tuple of start indices the slice can have (known, or enumerated from bounds)."""
    per_dim = []
    for node in starts:
        options = _candidates(node)
        if options is None:
            return None
        per_dim.append(sorted({int(np.asarray(v)) for v in options}))
    if int(np.prod([len(o) for o in per_dim], dtype=np.int64)) > _CANDIDATE_LIMIT:
        return None
    return list(itertools.product(*per_dim))


def _clamped_region(start, sizes, dims):
    return tuple(slice(c, c + size) for c, size in (
        (min(max(s, 0), dim - size), size) for s, size, dim in zip(start, sizes, dims)))


def _dynamic_slice(eqn, ins, ctx):
    operand, starts = ins[0], ins[1:]
    sizes = eqn.params["slice_sizes"]
    options = _start_candidates(starts[: len(operand.shape)])
    if options is None:
        ctx.unproven_here("dynamic_slice", "has start indices that are not known constants")
        return [ctx.make(_out_shape(eqn), [(operand, ALL)])]
    ids = _ids(operand)
    links = [(operand, selection(ids[_clamped_region(start, sizes, operand.shape)], operand.size))
             for start in options]
    return [ctx.make(_out_shape(eqn), links)]


def _dynamic_update_slice(eqn, ins, ctx):
    operand, update, starts = ins[0], ins[1], ins[2:]
    options = _start_candidates(starts)
    if options is None:
        ctx.unproven_here("dynamic_update_slice", "has start indices that are not known constants")
        return [ctx.make(_out_shape(eqn), [(operand, IDENTITY), (update, ALL)])]
    links = []
    always_hit = np.ones(operand.shape, bool)  # overwritten whatever the start
    for start in options:
        region = _clamped_region(start, update.shape, operand.shape)
        combined = _ids(operand).copy()
        combined[region] = _ids(update) + operand.size
        links += _sources_links(combined, [operand, update])[1:]
        hit = np.zeros(operand.shape, bool)
        hit[region] = True
        always_hit &= hit
    links.append((operand, selection(np.where(always_hit, -1, _ids(operand)), operand.size)))
    return [ctx.make(_out_shape(eqn), links)]


def _int_ids(node: Node):
    return jnp.asarray(_ids(node), dtype=jnp.int32 if node.size < 2**31 - 1 else jnp.int64)


def _point_gather(eqn, operand: Node, indices: np.ndarray):
    """NumPy gather of single elements (x[idx], x[i, j]); None for other gathers."""
    dnums = eqn.params["dimension_numbers"]
    if (dnums.offset_dims or dnums.operand_batching_dims
            or any(size != 1 for size in eqn.params["slice_sizes"])
            or sorted(dnums.collapsed_slice_dims) != list(range(len(operand.shape)))):
        return None
    indices = np.asarray(indices, dtype=np.int64)
    full = np.zeros((*indices.shape[:-1], len(operand.shape)), np.int64)
    full[..., list(dnums.start_index_map)] = indices
    dims = np.asarray(operand.shape, dtype=np.int64)
    mode = eqn.params["mode"]
    if mode == jax.lax.GatherScatterMode.FILL_OR_DROP:
        inside = np.all((full >= 0) & (full < dims), axis=-1)
    else:
        inside = np.ones(full.shape[:-1], bool)
    full = np.clip(full, 0, np.maximum(dims - 1, 0))
    flat = np.ravel_multi_index(tuple(np.moveaxis(full, -1, 0)), operand.shape) if len(
        operand.shape) else np.zeros(full.shape[:-1], np.int64)
    return np.where(inside, flat, -1)


def _gather_index(eqn, operand: Node, indices: np.ndarray) -> np.ndarray:
    index = None
    if np.ndim(indices) >= 1 and np.shape(indices)[-1] == len(
            eqn.params["dimension_numbers"].start_index_map):
        index = _point_gather(eqn, operand, indices)
    if index is None:
        params = dict(eqn.params, fill_value=-1)
        with jax.ensure_compile_time_eval():
            index = jax.lax.gather_p.bind(_int_ids(operand), jnp.asarray(indices), **params)
    return np.asarray(index).reshape(_out_shape(eqn))


def _gather(eqn, ins, ctx):
    """Known indices: exact; value-dependent indices with bounds (argmax + offset): the
    union over every index they can take."""
    operand, indices = ins
    options = _candidates(indices, components_axis=-1 if len(indices.shape) else None)
    if options is None:
        ctx.unproven_here("gather", "has indices that are not known constants")
        return [ctx.make(_out_shape(eqn), [(operand, ALL)])]
    links = [(operand, selection(_gather_index(eqn, operand, option), operand.size))
             for option in options]
    return [ctx.make(_out_shape(eqn), links)]


def _scatter_targets(eqn, operand: Node, indices: np.ndarray, updates: Node) -> np.ndarray:
    """For every update element, the operand element it lands on (-1 when dropped)."""
    dnums = eqn.params["dimension_numbers"]
    slice_sizes, pos = [], 0
    for axis in range(len(operand.shape)):
        if axis in dnums.inserted_window_dims or axis in dnums.operand_batching_dims:
            slice_sizes.append(1)
        else:
            slice_sizes.append(updates.shape[dnums.update_window_dims[pos]])
            pos += 1
    gather_dnums = jax.lax.GatherDimensionNumbers(
        offset_dims=dnums.update_window_dims,
        collapsed_slice_dims=dnums.inserted_window_dims,
        start_index_map=dnums.scatter_dims_to_operand_dims,
        operand_batching_dims=dnums.operand_batching_dims,
        start_indices_batching_dims=dnums.scatter_indices_batching_dims,
    )
    with jax.ensure_compile_time_eval():
        target = jax.lax.gather(
            _int_ids(operand),
            jnp.asarray(indices),
            gather_dnums,
            tuple(slice_sizes),
            mode=eqn.params["mode"],
            fill_value=-1,
        )
    return np.asarray(target, dtype=np.int64).ravel()


def _scatter(eqn, ins, ctx):
    operand, indices, updates = ins
    name = eqn.primitive.name
    options = _candidates(indices, components_axis=-1 if len(indices.shape) else None)
    if options is None:
        ctx.unproven_here(name, "has indices that are not known constants")
        node = ctx.make(_out_shape(eqn), [(operand, IDENTITY), (updates, ALL)])
    else:
        links = []
        for option in options:
            target = _scatter_targets(eqn, operand, option, updates)
            valid = target >= 0
            links.append((updates, pairs_matrix(
                target[valid], np.arange(updates.size)[valid], (operand.size, updates.size))))
            operand_link = IDENTITY
            if name == "scatter" and len(options) == 1:  # overwritten elements forget x
                hit = np.zeros(operand.size, bool)
                hit[target[valid]] = True
                operand_link = selection(np.where(hit, -1, np.arange(operand.size)),
                                         operand.size)
            links.append((operand, operand_link))
        node = ctx.make(_out_shape(eqn), links)
    if name == "scatter-mul" and node.deps is not None:
        ctx.term(node, node.deps, node.deps)
    return [node]


def _reshape(eqn, ins, ctx):
    # `dimensions` (e.g. from ravel(order="F")) transposes the operand before the row-major
    # reshape; ignoring it would give the identity where the truth is a permutation.
    operand = ins[0]
    if eqn.params.get("dimensions") is None:
        return _same_order(eqn, ins, ctx)
    index = np.transpose(_ids(operand), eqn.params["dimensions"])
    return [ctx.make(_out_shape(eqn), [(operand, selection(index, operand.size))])]


RULES["reshape"] = _reshape
_register("squeeze expand_dims optimization_barrier_single", _same_order)
RULES["broadcast_in_dim"] = _index_rule(_broadcast_index)
RULES["transpose"] = _index_rule(_transpose_index)
RULES["slice"] = _index_rule(_slice_index)
RULES["rev"] = _index_rule(_rev_index)
_register("pad", _pad)
_register("concatenate", _concatenate)
_register("split", _split)
_register("stack", _stack)
_register("unstack", _unstack)
RULES["tile"] = _index_rule(_tile_index)
_register("dynamic_slice", _dynamic_slice)
_register("dynamic_update_slice", _dynamic_update_slice)
_register("gather", _gather)
_register("scatter-add scatter_add scatter scatter-mul scatter_mul scatter-min scatter_min "
          "scatter-max scatter_max", _scatter)


def _identity_multi(eqn, ins, ctx):
    return [
        ctx.make(_out_shape(eqn, k), [(node, IDENTITY)]) if node.deps is not None else node
        for k, node in enumerate(ins)
    ]


_register("optimization_barrier device_put sharding_constraint pvary mesh_cast reshard",
          _identity_multi)


# ---------------------------------------------------------------- reductions, scans, sort


def _group_link(shape, axes, out_size) -> np.ndarray:
    """For each input element, the index of the output element it is reduced into."""
    kept = [d for i, d in enumerate(shape) if i not in axes]
    out_ids = np.arange(out_size, dtype=np.int64).reshape(kept)
    expanded = [1 if i in axes else d for i, d in enumerate(shape)]
    return np.broadcast_to(out_ids.reshape(expanded), shape).ravel()


def _reduce(eqn, ins, ctx):
    operand = ins[0]
    axes = tuple(eqn.params["axes"])
    out_shape = _out_shape(eqn)
    out_size = int(np.prod(out_shape, dtype=np.int64))
    group = _group_link(operand.shape, axes, out_size)
    link = pairs_matrix(group, np.arange(operand.size), (out_size, operand.size))
    node = ctx.make(out_shape, [(operand, link)])
    if eqn.primitive.name == "reduce_prod" and node.deps is not None:
        ctx.term(node, node.deps, node.deps)
    return [node]


def _cumulative(eqn, ins, ctx):
    operand = ins[0]
    axis, reverse = eqn.params["axis"], eqn.params["reverse"]
    ids = np.moveaxis(_ids(operand), axis, -1)
    length = ids.shape[-1]
    later, earlier = np.tril_indices(length) if not reverse else np.triu_indices(length)
    lines = ids.reshape(-1, length)
    link = pairs_matrix(lines[:, later], lines[:, earlier], (operand.size, operand.size))
    node = ctx.make(operand.shape, [(operand, link)])
    if eqn.primitive.name in ("cumprod", "cumlogsumexp") and node.deps is not None:
        ctx.term(node, node.deps, node.deps)
    return [node]


def _along_axis_link(shape, axis) -> object:
    """Link: each element depends on every element of its line along `axis`."""
    ids = np.moveaxis(np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape), axis, -1)
    lines = ids.reshape(-1, ids.shape[-1])
    length = lines.shape[1]
    rows = np.repeat(lines, length, axis=1)
    cols = np.tile(lines, (1, length))
    size = lines.size
    return pairs_matrix(rows, cols, (size, size))


def _sort(eqn, ins, ctx):
    dimension = eqn.params["dimension"]
    outs = []
    for _k, node in enumerate(ins):
        if node.deps is None:
            outs.append(ctx.constant(node.shape))
            continue
        outs.append(ctx.make(node.shape, [(node, _along_axis_link(node.shape, dimension))]))
    return outs


def _top_k(eqn, ins, ctx):
    operand = ins[0]
    out_shape = _out_shape(eqn)
    axis = eqn.params.get("axis", len(out_shape) - 1) % max(len(out_shape), 1)
    length = out_shape[axis]
    lines_in = np.moveaxis(_ids(operand), axis, -1).reshape(-1, operand.shape[axis])
    lines_out = np.moveaxis(_ids(out_shape), axis, -1).reshape(-1, length)
    rows = np.repeat(lines_out, lines_in.shape[1], axis=1)
    cols = np.tile(lines_in, (1, lines_out.shape[1]))
    link = pairs_matrix(rows, cols, (lines_out.size, operand.size))
    return [ctx.make(out_shape, [(operand, link)]), ctx.constant(_out_shape(eqn, 1))]


_register("reduce_sum reduce_max reduce_min reduce_prod", _reduce)
_register("cumsum cumprod cummax cummin cumlogsumexp", _cumulative)
_register("sort", _sort)
_register("top_k", _top_k)


# ---------------------------------------------------------------- products


def _canonical(node: Node, batch, contract, first: bool):
    """Element ids of a dot operand arranged (batch, free, contract) or (batch, contract, free)."""
    free = [d for d in range(len(node.shape)) if d not in batch and d not in contract]
    ids = _ids(node)
    b = int(np.prod([node.shape[d] for d in batch], dtype=np.int64))
    f = int(np.prod([node.shape[d] for d in free], dtype=np.int64))
    c = int(np.prod([node.shape[d] for d in contract], dtype=np.int64))
    if first:
        return np.transpose(ids, list(batch) + free + list(contract)).reshape(b, f, c), free
    return np.transpose(ids, list(batch) + list(contract) + free).reshape(b, c, f), free


def _nonzero_mask(node: Node, batch, contract, first: bool) -> np.ndarray:
    """Where a constant operand can be nonzero, in the canonical arrangement."""
    ids, _ = _canonical(node, batch, contract, first)
    nonzero = node.nonzero
    if nonzero is None:
        return np.ones(ids.shape, bool)
    return np.broadcast_to(nonzero, node.shape).ravel()[ids]


def _dot_general(eqn, ins, ctx):
    lhs, rhs = ins
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    left, _ = _canonical(lhs, lb, lc, True)  # (B, I, K)
    right, _ = _canonical(rhs, rb, rc, False)  # (B, K, J)
    B, I, K = left.shape
    J = right.shape[2]
    out_size = B * I * J
    out = np.arange(out_size, dtype=np.int64).reshape(B, I, J)
    mask_left = _nonzero_mask(lhs, lb, lc, True)
    mask_right = _nonzero_mask(rhs, rb, rc, False)
    links = []
    if lhs.deps is not None:
        b, k, j = np.nonzero(mask_right)
        i = np.arange(I)[None, :]
        rows = out[b[:, None], i, j[:, None]]
        cols = left[b[:, None], i, k[:, None]]
        links.append((lhs, pairs_matrix(rows, cols, (out_size, lhs.size))))
    if rhs.deps is not None:
        b, i, k = np.nonzero(mask_left)
        j = np.arange(J)[None, :]
        rows = out[b[:, None], i[:, None], j]
        cols = right[b[:, None], k[:, None], j]
        links.append((rhs, pairs_matrix(rows, cols, (out_size, rhs.size))))
    node = ctx.make(_out_shape(eqn), links)
    if ctx.hessian and lhs.deps is not None and rhs.deps is not None:
        b, i, j, k = np.meshgrid(
            np.arange(B), np.arange(I), np.arange(J), np.arange(K), indexing="ij"
        )
        rowmap = out[b, i, j].ravel()
        pick_left = selection(left[b, i, k].ravel(), lhs.size)
        pick_right = selection(right[b, k, j].ravel(), rhs.size)
        ctx.term(node, pick_left @ lhs.deps, pick_right @ rhs.deps, rowmap=rowmap)
    return [node]


_CONV_LIMIT = 20_000_000


def _conv(eqn, ins, ctx):
    lhs, rhs = ins
    out_shape = _out_shape(eqn)
    out_size = int(np.prod(out_shape, dtype=np.int64))
    if out_size * (lhs.size + rhs.size) > _CONV_LIMIT:
        return conservative(eqn, ins, ctx, "is too large for an exact window pattern")
    params = dict(eqn.params, preferred_element_type=None)

    def mask(node):
        if node.nonzero is not None:
            return jnp.asarray(np.broadcast_to(node.nonzero, node.shape), jnp.float32)
        return jnp.ones(node.shape, jnp.float32)

    def conv(a, b):
        return jax.lax.conv_general_dilated_p.bind(a, b, **params).ravel()

    links = []
    with jax.ensure_compile_time_eval():
        if lhs.deps is not None:
            jac = jax.jacfwd(lambda a: conv(a, mask(rhs)))(jnp.zeros(lhs.shape, jnp.float32))
            rows, cols = np.nonzero(np.asarray(jac).reshape(out_size, lhs.size))
            links.append((lhs, pairs_matrix(rows, cols, (out_size, lhs.size))))
        if rhs.deps is not None:
            jac = jax.jacfwd(lambda b: conv(mask(lhs), b))(jnp.zeros(rhs.shape, jnp.float32))
            rows, cols = np.nonzero(np.asarray(jac).reshape(out_size, rhs.size))
            links.append((rhs, pairs_matrix(rows, cols, (out_size, rhs.size))))
    node = ctx.make(out_shape, links)
    if lhs.deps is not None and rhs.deps is not None and node.deps is not None:
        # bilinear: element o couples the lhs inputs in its window with the rhs inputs
        (_, left), (_, right) = links
        ctx.term(node, apply_link(left, lhs.deps, out_size), apply_link(right, rhs.deps, out_size))
    return [node]


def _window(eqn, ins, ctx):
    """reduce_window_{sum,max,min}: out element o depends on the operand elements of its
    window (padding and dilations included), read off the Jacobian of the window sum."""
    operand = ins[0]
    out_shape = _out_shape(eqn)
    out_size = int(np.prod(out_shape, dtype=np.int64))
    if out_size * operand.size > _CONV_LIMIT:
        return conservative(eqn, ins, ctx, "is too large for an exact window pattern")
    names = ("window_dimensions", "window_strides", "padding", "base_dilation", "window_dilation")
    params = {name: eqn.params[name] for name in names}
    with jax.ensure_compile_time_eval():
        jac = jax.jacfwd(
            lambda a: jax.lax.reduce_window_sum_p.bind(a, **params).ravel()
        )(jnp.zeros(operand.shape, jnp.float32))
    rows, cols = np.nonzero(np.asarray(jac).reshape(out_size, operand.size))
    return [ctx.make(out_shape, [(operand, pairs_matrix(rows, cols, (out_size, operand.size)))])]


def _bcoo_dot_general(eqn, ins, ctx):
    """A constant jax.experimental.sparse BCOO matrix times an array: the dense product's
    rule on the matrix's nonzero mask (its stored entries whose data can be nonzero)."""
    data, indices, rhs = ins
    shape = tuple(eqn.params["lhs_spinfo"].shape)
    known = indices.trusted
    nonzero = data.nonzero
    if data.deps is not None or known is None or nonzero is None or np.ndim(known) != 2:
        return conservative(eqn, ins, ctx, "has a sparse matrix that is not a known constant")
    mask = np.zeros(shape, bool)
    known = np.asarray(known, dtype=np.int64)
    inside = np.all((known >= 0) & (known < np.asarray(shape)), axis=1) & np.ravel(nonzero)
    mask[tuple(known[inside].T)] = True
    dense = Node(shape, value=mask.astype(np.float64))
    view = types.SimpleNamespace(params={"dimension_numbers": eqn.params["dimension_numbers"]},
                                 outvars=eqn.outvars)
    return _dot_general(view, [dense, rhs], ctx)


_register("dot_general", _dot_general)
_register("bcoo_dot_general", _bcoo_dot_general)
_register("reduce_window_sum reduce_window_max reduce_window_min", _window)
_register("conv_general_dilated", _conv)


# ---------------------------------------------------------------- linear algebra

#: Matrix factorisations: (outputs, with the triangle each keeps: "lower", "upper" or None).
_FACTORIZATIONS = {
    "cholesky": (None,),  # the triangle is read off JAX's output below
    "qr": (None, "upper"),
    "lu": (None, None, None),
    "eigh": (None, None),
    "svd": (None, None, None),
}


def _batch_link(operand: Node, out_shape, batch: int, triangle=None) -> object:
    """Out element (b, ...) depends on every element of batch b of the operand; elements
    outside `triangle` ("lower"/"upper" of the last two axes) depend on nothing."""
    out_ids = _ids(out_shape)
    keep = np.ones(out_ids.shape, bool)
    if triangle is not None and len(out_shape) - batch == 2:
        rows, cols = np.indices(out_shape[-2:])
        keep = np.broadcast_to(rows >= cols if triangle == "lower" else rows <= cols,
                               out_shape)
    nb = int(np.prod(out_shape[:batch], dtype=np.int64))
    out_rows = out_ids.reshape(nb, -1)
    keep = keep.reshape(nb, -1)
    in_cols = _ids(operand).reshape(nb, -1)
    rows, cols = [], []
    for b in range(nb):
        r = out_rows[b][keep[b]]
        rows.append(np.repeat(r, in_cols.shape[1]))
        cols.append(np.tile(in_cols[b], r.size))
    size = int(np.prod(out_shape, dtype=np.int64))
    return pairs_matrix(np.concatenate(rows), np.concatenate(cols), (size, operand.size))


def _cholesky_triangle(eqn) -> str | None:
    """Which triangle JAX's cholesky primitive fills (checked on a 2x2 identity)."""
    try:
        with jax.ensure_compile_time_eval():
            out = np.asarray(eqn.primitive.bind(jnp.eye(2) * 4.0, **eqn.params))
    except Exception:
        return None
    if out[0, 1] == 0:
        return "lower"
    return "upper" if out[1, 0] == 0 else None


def _factorization(eqn, ins, ctx):
    """Dense per matrix of a batch (a factor of a generic matrix is dense), with the
    structural zeros of triangular factors; nonlinear."""
    operand = ins[0]
    batch = len(operand.shape) - 2
    triangles = _FACTORIZATIONS[eqn.primitive.name]
    if eqn.primitive.name == "cholesky":
        triangles = (_cholesky_triangle(eqn),)
    outs = []
    for k, var in enumerate(eqn.outvars):
        shape = _out_shape(eqn, k)
        if not _is_float(var.aval):
            outs.append(ctx.constant(shape))
            continue
        triangle = triangles[k] if k < len(triangles) else None
        node = ctx.make(shape, [(operand, _batch_link(operand, shape, batch, triangle))])
        if node.deps is not None:
            ctx.term(node, node.deps, node.deps)
        outs.append(node)
    return outs


def _triangular_solve(eqn, ins, ctx):
    """X = op(A)^-1 B (left side) or B op(A)^-1: column j of X (row i on the right side)
    depends on column j (row i) of B and on all of A; linear in B, nonlinear in A."""
    a, b = ins
    shape = _out_shape(eqn)
    batch = len(shape) - 2
    links = []
    if a.deps is not None:
        links.append((a, _batch_link(a, shape, batch)))
    if b.deps is not None:
        ids = _ids(b)
        axis = -2 if eqn.params["left_side"] else -1
        lines = np.moveaxis(ids, axis, -1)
        index = np.repeat(lines[..., None, :], lines.shape[-1], axis=-2)
        index = np.moveaxis(index, (-2, -1), (-2, -1) if axis == -1 else (-1, -2))
        rows = np.repeat(_ids(shape)[..., None], lines.shape[-1], axis=-1)
        links.append((b, pairs_matrix(rows, index, (int(np.prod(shape)), b.size))))
    node = ctx.make(shape, links)
    if a.deps is not None and node.deps is not None:
        a_rows = apply_link(links[0][1], a.deps, node.size)
        ctx.term(node, a_rows, node.deps)
    return [node]


_register(" ".join(_FACTORIZATIONS), _factorization)
_register("triangular_solve", _triangular_solve)


# ---------------------------------------------------------------- calls and control flow


def _call(param: str) -> Rule:
    def rule(eqn, ins, ctx):
        return interpret(eqn.params[param], ins, ctx)

    return rule


_CALLS = {
    "jit": _call("jaxpr"),
    "pjit": _call("jaxpr"),
    "closed_call": _call("call_jaxpr"),
    "core_call": _call("call_jaxpr"),
    "remat2": _call("jaxpr"),
    "checkpoint": _call("jaxpr"),
}


def _by_derivative_rule(derivative_rule) -> Rule:
    """custom_jvp / custom_vjp: the pattern of the rule JAX differentiates (see `_custom`)."""

    def rule(eqn, ins, ctx):
        try:
            return derivative_rule(eqn, ins, ctx)
        except SparsityDetectionError:
            raise
        except Exception as error:  # a rule JAX itself cannot trace here: stay conservative
            return conservative(
                eqn, ins, ctx, f"has a custom derivative rule that could not be traced ({error})"
            )

    return rule


_CALLS["custom_jvp_call"] = _by_derivative_rule(custom_jvp_rule)
_CALLS["custom_vjp_call"] = _by_derivative_rule(custom_vjp_rule)
_CALLS["custom_linear_solve"] = _by_derivative_rule(custom_linear_solve_rule)
RULES.update(_CALLS)


def _cond(eqn, ins, ctx):
    index, operands = ins[0], ins[1:]
    branches = eqn.params["branches"]
    if index.trusted is not None and np.size(index.trusted) == 1:  # known: that branch runs
        taken = int(np.clip(np.asarray(index.trusted).item(), 0, len(branches) - 1))
        branches = [branches[taken]]
    per_branch = [interpret(branch, operands, ctx) for branch in branches]
    outs = []
    for k in range(len(eqn.outvars)):
        sources = [(branch[k], IDENTITY) for branch in per_branch]
        outs.append(ctx.make(_out_shape(eqn, k), sources))
    return outs


def _fixed_point(body, consts: list[Node], carry: list[Node], extra, ctx: Context):
    """Iterate body(consts, carry, *extra) until the carry's dependency rows stop growing."""
    record, ctx.graph.record = ctx.graph.record, False
    try:
        carry = [ctx.make(c.shape, [(c, IDENTITY)]) for c in carry]
        while True:
            outs = interpret(body, consts + carry + list(extra), ctx)
            grown = [
                ctx.make(c.shape, [(c, IDENTITY), (o, IDENTITY)])
                for c, o in zip(carry, outs[: len(carry)])
            ]
            before = [0 if c.deps is None else c.deps.nnz for c in carry]
            after = [0 if g.deps is None else g.deps.nnz for g in grown]
            carry = grown
            if before == after:
                return carry, outs[len(carry) :]
    finally:
        ctx.graph.record = record


def _loop_outputs(eqn, ins, ctx, body, consts, carry, extra, fixed_outs):
    """Hessian bookkeeping of a loop: body terms gated on the loop's outputs reaching f."""
    if not ctx.hessian:
        return fixed_outs
    outer_gate = ctx.graph.gate
    gate = outer_gate
    if gate is None:
        gate = ctx.constant((1,))
        gate.deps = empty_rows(1, ctx.n)
        ctx.graph.add_edges(gate, [(node, ALL) for node in ins if node.deps is not None])
    ctx.graph.gate = gate
    try:
        interpret(body, consts + carry + list(extra), ctx)
    finally:
        ctx.graph.gate = outer_gate
    for node in fixed_outs:
        if node.deps is not None:
            ctx.graph.add_edges(node, [(gate, ALL)])
    return fixed_outs


def _while(eqn, ins, ctx):
    cond_n, body_n = eqn.params["cond_nconsts"], eqn.params["body_nconsts"]
    body = eqn.params["body_jaxpr"]
    consts = ins[cond_n : cond_n + body_n]
    carry, _ = _fixed_point(body, consts, ins[cond_n + body_n :], [], ctx)
    outs = [
        ctx.make(node.shape, [(node, IDENTITY)]) if node.deps is not None else ctx.constant(
            node.shape)
        for node in carry
    ]
    return _loop_outputs(eqn, ins, ctx, body, consts, carry, [], outs)


#: Scans at most this long, with at most this many body equations times steps, are
#: unrolled: every step sees its own slice of xs and the carry of the step before (a
#: cumulative sum gets its triangle, not the dense block the fixed point gives).
_UNROLL_STEPS = 1_000
_UNROLL_WORK = 20_000


def _scan_slices(xs: list[Node], length: int, ctx) -> list[list[Node]]:
    """Per step t, the nodes of xs[t] (constants stay constants, values kept when known)."""
    steps = []
    for t in range(length):
        step = []
        for node in xs:
            shape = node.shape[1:]
            value = None if node.value is None else np.asarray(node.value)[t]
            if node.deps is None:
                step.append(ctx.constant(shape, value))
                step[-1].exact = node.exact
                if node.maybe_nonzero is not None:
                    step[-1].maybe_nonzero = np.asarray(node.maybe_nonzero)[t]
                continue
            picked = selection(_ids(node)[t].ravel(), node.size)
            step.append(ctx.make(shape, [(node, picked)], value=value))
        steps.append(step)
    return steps


def _stacked(eqn, k: int, steps: list[Node], ctx) -> Node:
    """The scan output ys[k] from its per-step slices (in time order)."""
    shape = _out_shape(eqn, k)
    if all(node.deps is None for node in steps):
        return ctx.constant(shape)
    size = int(np.prod(shape, dtype=np.int64))
    block = size // max(len(steps), 1)
    links = []
    for t, node in enumerate(steps):
        if node.deps is not None:
            rows = np.arange(t * block, (t + 1) * block)
            links.append((node, pairs_matrix(rows, np.arange(block), (size, block))))
    return ctx.make(shape, links)


def _scan_unrolled(eqn, ins, ctx):
    num_consts, num_carry = eqn.params["num_consts"], eqn.params["num_carry"]
    length, body = eqn.params["length"], eqn.params["jaxpr"]
    consts = ins[:num_consts]
    carry = list(ins[num_consts : num_consts + num_carry])
    slices = _scan_slices(ins[num_consts + num_carry :], length, ctx)
    order = range(length - 1, -1, -1) if eqn.params["reverse"] else range(length)
    ys: list[list[Node]] = [[] for _ in range(len(eqn.outvars) - num_carry)]
    for t in order:
        outs = interpret(body, consts + carry + slices[t], ctx)
        carry = outs[:num_carry]
        for k, y in enumerate(outs[num_carry:]):
            ys[k].append(y)
    if eqn.params["reverse"]:
        ys = [steps[::-1] for steps in ys]
    return carry + [_stacked(eqn, num_carry + k, steps, ctx) for k, steps in enumerate(ys)]


def _scan(eqn, ins, ctx):
    num_consts, num_carry = eqn.params["num_consts"], eqn.params["num_carry"]
    length = eqn.params["length"]
    body = eqn.params["jaxpr"]
    work = length * max(len(_closed_eqns(body)), 1)
    if length <= _UNROLL_STEPS and work <= _UNROLL_WORK:
        return _scan_unrolled(eqn, ins, ctx)
    ctx.unproven_here(
        "scan", f"of {length} steps is summarised by a fixed point over its carry (every step "
        "sees every slice of xs); shorter scans are unrolled exactly")
    consts = ins[:num_consts]
    init = ins[num_consts : num_consts + num_carry]
    xs = ins[num_consts + num_carry :]
    slices = []
    for node in xs:
        shape = node.shape[1:]
        size = int(np.prod(shape, dtype=np.int64))
        if node.deps is None:
            slices.append(ctx.constant(shape))
            continue
        rows = np.tile(np.arange(size), length)
        link = pairs_matrix(rows, np.arange(node.size), (size, node.size))
        slices.append(ctx.make(shape, [(node, link)]))
    carry, ys = _fixed_point(body, consts, init, slices, ctx)
    outs = [
        ctx.make(node.shape, [(node, IDENTITY)]) if node.deps is not None else ctx.constant(
            node.shape)
        for node in carry
    ]
    for k, y in enumerate(ys):
        shape = _out_shape(eqn, num_carry + k)
        if y.deps is None:
            outs.append(ctx.constant(shape))
            continue
        link = selection(np.tile(np.arange(y.size), length), y.size)
        outs.append(ctx.make(shape, [(y, link)]))
    return _loop_outputs(eqn, ins, ctx, body, consts, carry, slices, outs)


def _closed_eqns(jaxpr):
    return (jaxpr.jaxpr if hasattr(jaxpr, "jaxpr") else jaxpr).eqns


_register("cond", _cond)
_register("while", _while)
_register("scan", _scan)
