"""A small, safe expression language for the command line, compiled to a JAX function.

Grammar: numbers, variables, + - * / ** and unary minus, parentheses, calls of the
whitelisted functions below, the constants pi and e; comma-separated expressions make a
vector function. The text is parsed with Python's `ast` and every node is checked
against a whitelist; nothing is ever passed to eval or exec. Numbers become floats, so
`9**9**9` is inf rather than a giant integer.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from jachess._errors import ExpressionError

MAX_LENGTH = 10_000

UNARY_FUNCTIONS: dict[str, Callable] = {
    "sin": jnp.sin, "cos": jnp.cos, "tan": jnp.tan,
    "arcsin": jnp.arcsin, "arccos": jnp.arccos, "arctan": jnp.arctan,
    "asin": jnp.arcsin, "acos": jnp.arccos, "atan": jnp.arctan,
    "sinh": jnp.sinh, "cosh": jnp.cosh, "tanh": jnp.tanh,
    "arcsinh": jnp.arcsinh, "arccosh": jnp.arccosh, "arctanh": jnp.arctanh,
    "asinh": jnp.arcsinh, "acosh": jnp.arccosh, "atanh": jnp.arctanh,
    "exp": jnp.exp, "expm1": jnp.expm1, "log": jnp.log, "ln": jnp.log, "log1p": jnp.log1p,
    "log2": jnp.log2, "log10": jnp.log10, "sqrt": jnp.sqrt, "cbrt": jnp.cbrt,
    "abs": jnp.abs, "sign": jnp.sign, "erf": jax.scipy.special.erf,
    "sigmoid": jax.nn.sigmoid, "softplus": jax.nn.softplus, "sinc": jnp.sinc,
}
BINARY_FUNCTIONS: dict[str, Callable] = {
    "atan2": jnp.arctan2, "arctan2": jnp.arctan2, "hypot": jnp.hypot,
    "min": jnp.minimum, "max": jnp.maximum, "pow": jnp.power,
}
CONSTANTS = {"pi": math.pi, "e": math.e}
_OPERATORS = {
    ast.Add: jnp.add, ast.Sub: jnp.subtract, ast.Mult: jnp.multiply,
    ast.Div: jnp.divide, ast.Pow: jnp.power,
}
_HINTS = {
    ast.BitXor: "^ is not allowed: use ** for powers (x**2)",
    ast.Attribute: "attributes (a.b) are not allowed: write sin(x), not math.sin(x)",
    ast.Subscript: "indexing (a[i]) is not allowed: name each variable (x, y, z)",
    ast.Lambda: "lambda is not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "and/or are not allowed",
    ast.Mod: "% is not allowed",
    ast.FloorDiv: "// is not allowed: use /",
}


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its source, variables (first-appearance order), outputs."""

    source: str
    variables: tuple[str, ...]
    outputs: tuple[ast.expr, ...]

    @property
    def is_scalar(self) -> bool:
        return len(self.outputs) == 1

    def function(self, variables: tuple[str, ...] | None = None) -> Callable:
        """f(x) with x a 1-D array in `variables` order; scalar or 1-D output."""
        order = self.variables if variables is None else variables
        index = {name: i for i, name in enumerate(order)}
        compiled = [_compile(node, index) for node in self.outputs]
        scalar = self.is_scalar

        def f(x):
            values = [c(x) for c in compiled]
            if scalar:
                return jnp.asarray(values[0], dtype=x.dtype)
            return jnp.stack([jnp.broadcast_to(jnp.asarray(v, x.dtype), ()) for v in values])

        f.__name__ = "expression"
        return f


def parse(source: str) -> Expression:
    """Parse and check an expression; raise ExpressionError with a one-line reason."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("the expression is empty; give one such as 'x**2 + y**2'.")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters.")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"cannot parse {source!r}: {error.msg}.") from None
    except (RecursionError, MemoryError):
        raise ExpressionError("the expression is nested too deeply.") from None
    body = tree.body
    outputs = tuple(body.elts) if isinstance(body, ast.Tuple) else (body,)
    if not outputs:
        raise ExpressionError("the expression has no outputs.")
    names: list[tuple[int, int, str]] = []
    try:
        for node in outputs:
            _check(node, names)
    except RecursionError:
        raise ExpressionError("the expression is nested too deeply.") from None
    ordered = []
    for _, _, name in sorted(names):
        if name not in ordered:
            ordered.append(name)
    return Expression(source.strip(), tuple(ordered), outputs)


def _check(node: ast.AST, names: list) -> None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(f"only numbers are allowed as constants, not {node.value!r}.")
        return
    if isinstance(node, ast.Name):
        if node.id in UNARY_FUNCTIONS or node.id in BINARY_FUNCTIONS:
            raise ExpressionError(f"{node.id} is a function; call it, e.g. {node.id}(x).")
        if node.id.startswith("_"):
            raise ExpressionError(f"variable names may not start with '_': {node.id!r}.")
        if node.id not in CONSTANTS:
            names.append((node.lineno, node.col_offset, node.id))
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _OPERATORS:
            raise ExpressionError(_refusal(node.op))
        _check(node.left, names)
        _check(node.right, names)
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise ExpressionError(_refusal(node.op))
        _check(node.operand, names)
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise ExpressionError(_refusal(node.func))
        name = node.func.id
        if node.keywords:
            raise ExpressionError(f"{name}() takes no keyword arguments.")
        if name in UNARY_FUNCTIONS:
            arity = 1
        elif name in BINARY_FUNCTIONS:
            arity = 2
        else:
            known = ", ".join(sorted({*UNARY_FUNCTIONS, *BINARY_FUNCTIONS}))
            raise ExpressionError(f"unknown function {name!r}; the functions are: {known}.")
        if len(node.args) != arity or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionError(f"{name}() takes {arity} argument(s), got {len(node.args)}.")
        for arg in node.args:
            _check(arg, names)
        return
    if isinstance(node, ast.Tuple):
        raise ExpressionError("nested tuples are not allowed; separate outputs by commas only.")
    raise ExpressionError(_refusal(node))


def _refusal(node: ast.AST) -> str:
    hint = _HINTS.get(type(node))
    if hint:
        return hint + "."
    return f"{type(node).__name__} is not allowed in an expression."


def _compile(node: ast.AST, index: dict[str, int]) -> Callable:
    if isinstance(node, ast.Constant):
        value = float(node.value) if abs(node.value) < 1e308 else math.inf
        return lambda x: value
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS and node.id not in index:
            value = CONSTANTS[node.id]
            return lambda x: value
        i = index[node.id]
        return lambda x: x[i]
    if isinstance(node, ast.BinOp):
        op = _OPERATORS[type(node.op)]
        left, right = _compile(node.left, index), _compile(node.right, index)
        return lambda x: op(left(x), right(x))
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand, index)
        if isinstance(node.op, ast.USub):
            return lambda x: -operand(x)
        return operand
    if isinstance(node, ast.Call):
        args = [_compile(a, index) for a in node.args]
        if node.func.id in UNARY_FUNCTIONS:
            fn = UNARY_FUNCTIONS[node.func.id]
            return lambda x: fn(args[0](x))
        fn = BINARY_FUNCTIONS[node.func.id]
        return lambda x: fn(args[0](x), args[1](x))
    raise ExpressionError(_refusal(node))


def parse_assignments(texts: list[str] | None, option: str = "--at") -> dict[str, float]:
    """Parse 'x=1,y=2' (possibly repeated) into an ordered dict of floats.

    Values may be constant expressions such as pi/2.
    """
    values: dict[str, float] = {}
    for text in texts or []:
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value_text = part.partition("=")
            name = name.strip()
            if not sep or not name.isidentifier():
                raise ExpressionError(
                    f"{option} takes name=value pairs such as x=1,y=2; got {part!r}."
                )
            values[name] = constant_value(value_text, f"{option} {name}")
    return values


def constant_value(text: str, what: str) -> float:
    """Evaluate a constant expression such as '-pi/2' with the same safe evaluator."""
    expression = parse(text)
    if expression.variables or not expression.is_scalar:
        raise ExpressionError(f"{what} must be a number, got {text!r}.")
    return float(expression.function(())(jnp.zeros((0,))))


def point_for(expression: Expression, values: dict[str, float]) -> tuple[tuple[str, ...], list]:
    """Variables in --at order (then first appearance) and the point; errors name the fix."""
    unknown = [name for name in values if name not in expression.variables]
    if unknown:
        raise ExpressionError(
            f"--at names {', '.join(unknown)}, which the expression does not use "
            f"(its variables: {', '.join(expression.variables) or 'none'})."
        )
    missing = [name for name in expression.variables if name not in values]
    if missing:
        raise ExpressionError(
            f"no value for {', '.join(missing)}; add it to --at, e.g. --at "
            + ",".join(f"{name}=0" for name in expression.variables)
        )
    order = tuple(values)
    return order, [values[name] for name in order]
