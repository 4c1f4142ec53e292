"""`jachess minimize EXPR --from x=..,y=.. --method ...`: one solve, its path and its answer."""

from __future__ import annotations

import argparse
from typing import Any, get_args

import jax.numpy as jnp
import numpy as np

from jachess.cli._analyze import classification_dict, describe_classification
from jachess.cli._expression import parse, parse_assignments, point_for
from jachess.cli._format import dumps, number, table
from jachess.cli._progress import working
from jachess.critical import classify

EPILOG = """\
examples:
  jachess minimize "(1-x)**2 + 100*(y-x**2)**2" --from x=-1.2,y=1
  jachess minimize "(1-x)**2 + 100*(y-x**2)**2" --from x=-1.2,y=1 --method lbfgs --plot path.png
  jachess minimize "x**4 + y**2 - x*y" --from x=1,y=1 --method all --json
"""


def _methods() -> tuple[str, ...]:
    from jachess.optimize._minimize import Method

    return get_args(Method)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "minimize", help="minimise an expression (Newton, trust-region, BFGS, L-BFGS)",
        description="Minimise a scalar expression from a starting point with exact "
        "derivatives, then classify the point reached.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("expression")
    parser.add_argument("--from", dest="start", action="append", metavar="x=1,y=2",
                        help="starting point (default: every variable 0)")
    parser.add_argument("--method", default="newton", choices=[*_methods(), "all"],
                        help="solver, or 'all' to compare every method (default: newton)")
    parser.add_argument("--tol", type=float, default=1e-9, help="gradient tolerance")
    parser.add_argument("--max-iterations", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="save the path over the contours (2 variables)")
    parser.set_defaults(run=run)


def iterates(f, x0, method: str, tol: float, num_iterations: int) -> np.ndarray:
    """x_0 .. x_k, by re-running the (compiled, deterministic) solve with k = 0, 1, ...

    The solver's iteration limit is a traced argument, so this costs k short solves
    and no recompilation; it is only used for pictures of small problems.
    """
    from jachess.optimize import minimize

    steps = min(num_iterations, 400)
    return np.stack([np.asarray(minimize(f, x0, method=method, tol=tol, max_iterations=k).x)
                     for k in range(steps + 1)])


def solve(source: str, start: list[str] | None, method: str, tol: float,
          max_iterations: int | None) -> dict[str, Any]:
    """All numbers `jachess minimize` shows, as a JSON-ready dict."""
    from jachess.optimize import minimize

    expression = parse(source)
    if not expression.is_scalar:
        from jachess._errors import NotScalarError

        raise NotScalarError("minimize needs one scalar expression; drop the commas.")
    values = parse_assignments(start, "--from") or {v: 0.0 for v in expression.variables}
    order, point = point_for(expression, values)
    f = expression.function(order)
    x0 = jnp.asarray(point, dtype=jnp.float64)
    methods = _methods() if method == "all" else (method,)
    runs = []
    for name in methods:
        with working(f"minimising with {name}"):
            result = minimize(f, x0, method=name, tol=tol, max_iterations=max_iterations)
            point_kind = classify(f, result.x)
        runs.append({
            "method": name,
            "x": dict(zip(order, np.asarray(result.x).tolist())),
            "fun": float(result.fun),
            "success": bool(result.success),
            "status": result.status.name,
            "message": result.message,
            "gradient_norm": float(result.gradient_norm),
            "num_iterations": int(result.num_iterations),
            "num_fun": int(result.num_fun), "num_grad": int(result.num_grad),
            "num_hess": int(result.num_hess), "num_hvp": int(result.num_hvp),
            "classification": classification_dict(point_kind),
        })
    return {"expression": expression.source, "variables": list(order),
            "start": dict(zip(order, point)), "runs": runs}


def render(result: dict[str, Any]) -> str:
    start = ", ".join(f"{k} = {number(v)}" for k, v in result["start"].items())
    lines = [f"minimise f = {result['expression']}", f"from {start}", ""]
    rows = []
    for run in result["runs"]:
        x = ", ".join(number(v, 8) for v in run["x"].values())
        rows.append([run["method"], "yes" if run["success"] else "NO", run["fun"],
                     run["gradient_norm"], str(run["num_iterations"]),
                     f"{run['num_fun']}/{run['num_grad']}/{run['num_hess']}/{run['num_hvp']}",
                     run["classification"]["kind"], f"({x})"])
    lines.append(table(["method", "converged", "f", "|grad|", "iterations",
                        "f/grad/hess/hvp", "point", "x"], rows))
    if len(result["runs"]) == 1:
        run = result["runs"][0]
        lines += ["", run["message"], "",
                  describe_classification(run["classification"], result["variables"])]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    result = solve(args.expression, args.start, args.method, args.tol, args.max_iterations)
    if args.plot:
        save_path_plot(result, args.tol, args.plot)
    print(dumps(result) if args.json else render(result))
    return 0 if all(r["success"] for r in result["runs"]) else 1


def save_path_plot(result: dict[str, Any], tol: float, path: str) -> None:
    from jachess._errors import OptionError
    from jachess.plot import path as draw_path

    if len(result["variables"]) != 2:
        raise OptionError("--plot draws the path of a 2-variable minimisation; drop --plot.")
    f = parse(result["expression"]).function(tuple(result["variables"]))
    x0 = jnp.asarray(list(result["start"].values()), dtype=jnp.float64)
    figure, ax = None, None
    paths = {run["method"]: iterates(f, x0, run["method"], tol, run["num_iterations"])
             for run in result["runs"]}
    everything = np.concatenate(list(paths.values()))
    lo, hi = everything.min(axis=0), everything.max(axis=0)
    pad = np.maximum(0.2 * (hi - lo), 0.5)
    bounds = list(zip(lo - pad, hi + pad))
    for method, points in paths.items():
        figure = draw_path(points, f, bounds=bounds, ax=ax,
                           label=f"{method} ({len(points) - 1} steps)")
        ax = figure.axes[0]
    ax.set_title(f"f = {result['expression']}", fontsize=10)
    figure.savefig(path, dpi=120)
