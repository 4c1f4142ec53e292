"""`jachess analyze EXPR --at x=1,y=2`: value, derivatives, eigenvalues, classification."""

from __future__ import annotations

import argparse
from typing import Any

import jax.numpy as jnp
import numpy as np

from jachess._api import hessian, jacobian
from jachess._derivatives._slogdet import slogdet_jacobian
from jachess.cli._expression import Expression, parse, parse_assignments, point_for
from jachess.cli._format import dumps, matrix_table, number, table
from jachess.critical import classify

DESCRIPTION = """\
Evaluate an expression and its derivatives at a point.

For a scalar expression: the value, the gradient, the Hessian, its eigenvalues and the
classification of the point (minimum, maximum, saddle, degenerate, not critical).
For comma-separated expressions (a vector function): the Jacobian, its determinant when
square, and the Hessian of each output.

Expression language: numbers, variables, + - * / **, parentheses, pi, e, and the
functions sin cos tan arcsin arccos arctan sinh cosh tanh exp log log1p sqrt abs erf
sigmoid softplus ... (atan2, hypot, min, max take two arguments).
"""

EPILOG = """\
examples:
  jachess analyze "(1-x)**2 + 100*(y-x**2)**2" --at x=1,y=1
  jachess analyze "x**2 - y**2" --at x=0,y=0 --json
  jachess analyze "r*cos(t), r*sin(t)" --at r=2,t=pi/4
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "analyze", help="derivatives and classification of an expression at a point",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("expression", help="e.g. 'x**2 - y**2' or 'r*cos(t), r*sin(t)'")
    parser.add_argument("--at", action="append", metavar="x=1,y=2",
                        help="the point (default: every variable 0)")
    parser.add_argument("--tol", type=float, default=None,
                        help="eigenvalues with |λ| <= TOL count as zero (default: scaled)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="save a contour plot around the point (2-variable scalar only)")
    parser.set_defaults(run=run)


def evaluation_point(expression: Expression, at: list[str] | None):
    """(variable order, x as float64 array, note) from --at, defaulting to the origin."""
    values = parse_assignments(at)
    note = None
    if not values:
        values = {name: 0.0 for name in expression.variables}
        if values:
            note = "no --at given: evaluating at the origin"
    order, point = point_for(expression, values)
    return order, jnp.asarray(point, dtype=jnp.float64), note


def analyze(source: str, at: list[str] | None = None, tol: float | None = None) -> dict[str, Any]:
    """All numbers `jachess analyze` shows, as a JSON-ready dict with stable keys."""
    expression = parse(source)
    order, x, note = evaluation_point(expression, at)
    f = expression.function(order)
    result: dict[str, Any] = {
        "expression": expression.source,
        "variables": list(order),
        "point": dict(zip(order, np.asarray(x).tolist())),
    }
    if note:
        result["note"] = note
    if expression.is_scalar:
        c = classify(f, x, tol=tol)
        result.update(
            value=c.value,
            gradient=np.asarray(jacobian(f, x)).tolist(),
            hessian=np.asarray(hessian(f, x)).tolist(),
            eigenvalues=c.eigenvalues.tolist(),
            classification=classification_dict(c),
        )
        return result
    y = np.asarray(f(x))
    J = np.asarray(jacobian(f, x))
    result.update(value=y.tolist(), jacobian=J.tolist())
    if J.shape[0] == J.shape[1] and J.size:
        sign, logabsdet = slogdet_jacobian(f, x)
        result["determinant"] = float(sign * np.exp(logabsdet))
        result["log_abs_determinant"] = float(logabsdet)
    result["hessians"] = []
    for i in range(len(expression.outputs)):
        H = np.asarray(hessian(lambda z, i=i: f(z)[i], x))
        eig = np.linalg.eigvalsh(0.5 * (H + H.T)) if H.size else np.zeros(0)
        result["hessians"].append({"output": i, "hessian": H.tolist(),
                                   "eigenvalues": eig.tolist()})
    return result


def classification_dict(c) -> dict[str, Any]:
    positive, negative, zero = c.inertia
    return {
        "kind": c.kind,
        "gradient_norm": c.gradient_norm,
        "gradient_tolerance": c.gradient_tolerance,
        "eigenvalue_tolerance": c.tolerance,
        "inertia": {"positive": positive, "negative": negative, "zero": zero},
        "condition_number": c.condition_number,
        "escape_direction": None if c.escape_direction is None else c.escape_direction.tolist(),
    }


def render(result: dict[str, Any]) -> str:
    """The human-readable report of `analyze`'s dict."""
    names = result["variables"]
    at = ", ".join(f"{k} = {number(v)}" for k, v in result["point"].items()) or "(no variables)"
    lines = [f"f = {result['expression']}", f"at {at}"]
    if "note" in result:
        lines.append(f"({result['note']})")
    if not _all_finite(result):
        lines.append("warning: the value or a derivative is not finite at this point")
    lines.append("")
    if "classification" in result:
        c = result["classification"]
        lines += [f"value        {number(result['value'], 10)}", "", "gradient"]
        lines.append(table(["variable", "df/dvar"], list(zip(names, result["gradient"]))))
        lines += ["", "Hessian", matrix_table(np.asarray(result["hessian"]), names, names), ""]
        lines.append("eigenvalues  " + "  ".join(number(v) for v in result["eigenvalues"]))
        lines.append("")
        lines.append(describe_classification(c, names))
        return "\n".join(lines)
    outputs = [f"f{i}" for i in range(len(result["value"]))]
    lines.append("value        " + "  ".join(number(v, 10) for v in result["value"]))
    lines += ["", "Jacobian", matrix_table(np.asarray(result["jacobian"]), outputs, names)]
    if "determinant" in result:
        lines += ["", f"det J        {number(result['determinant'], 10)}"
                      f"   (log|det J| = {number(result['log_abs_determinant'], 10)})"]
    for h in result["hessians"]:
        lines += ["", f"Hessian of f{h['output']}",
                  matrix_table(np.asarray(h["hessian"]), names, names),
                  "eigenvalues  " + "  ".join(number(v) for v in h["eigenvalues"])]
    return "\n".join(lines)


def _all_finite(result: dict[str, Any]) -> bool:
    keys = ("value", "gradient", "hessian", "jacobian")
    return all(np.all(np.isfinite(np.asarray(result[k], float))) for k in keys if k in result)


def describe_classification(c: dict[str, Any], names: list[str]) -> str:
    inertia = c["inertia"]
    text = (f"point        {c['kind'].upper()}\n"
            f"             |grad f| = {number(c['gradient_norm'], 3)} "
            f"(critical when <= {number(c['gradient_tolerance'], 3)}); eigenvalues with "
            f"|λ| <= {number(c['eigenvalue_tolerance'], 3)} count as zero\n"
            f"             inertia: {inertia['positive']} positive, {inertia['negative']} "
            f"negative, {inertia['zero']} zero; condition number "
            f"{number(c['condition_number'], 4) if c['condition_number'] is not None else 'inf'}")
    if c["escape_direction"] is not None:
        direction = ", ".join(f"{n} {number(v, 4)}" for n, v in zip(names, c["escape_direction"]))
        text += f"\n             escape direction (most negative curvature): {direction}"
    return text


def run(args: argparse.Namespace) -> int:
    result = analyze(args.expression, args.at, args.tol)
    if args.plot:
        from jachess.cli._plots import save_analysis_plot

        save_analysis_plot(result, args.plot)
    print(dumps(result) if args.json else render(result))
    return 0
