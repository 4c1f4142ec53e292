"""`jachess critical EXPR --box x=-5:5,y=-5:5`: every stationary point in a box, classified."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from jachess._errors import ExpressionError, NotScalarError
from jachess.cli._analyze import classification_dict
from jachess.cli._expression import constant_value, parse
from jachess.cli._format import dumps, number, table
from jachess.cli._progress import working

EPILOG = """\
examples:
  jachess critical "(x**2+y-11)**2 + (x+y**2-7)**2" --box x=-5:5,y=-5:5
  jachess critical "(4-2.1*x**2+x**4/3)*x**2 + x*y + (-4+4*y**2)*y**2" \
      --box x=-3:3,y=-2:2 --plot camel.png
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "critical", help="find and classify every stationary point in a box",
        description="Find the stationary points (grad f = 0) of a scalar expression in a box "
        "by multistart Newton on the gradient, deduplicate them and classify each by its "
        "Hessian's eigenvalues.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("expression")
    parser.add_argument("--box", action="append", required=True, metavar="x=lo:hi,y=lo:hi",
                        help="the search box, one lo:hi range per variable")
    parser.add_argument("--starts", type=int, default=None,
                        help="number of Newton starts (default: 64·4^n, at most 4096)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="save the landscape with the points marked (2 variables)")
    parser.set_defaults(run=run)


def parse_box(texts: list[str], variables: tuple[str, ...]) -> list[tuple[float, float]]:
    """'x=-5:5,y=-5:5' -> [(lo, hi)] in the expression's variable order."""
    ranges: dict[str, tuple[float, float]] = {}
    for text in texts:
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, span = part.partition("=")
            lo_text, colon, hi_text = span.partition(":")
            if not sep or not colon or not name.strip().isidentifier():
                raise ExpressionError(
                    f"--box takes name=lo:hi ranges such as x=-5:5; got {part!r}.")
            lo = constant_value(lo_text, f"--box {name} lower bound")
            hi = constant_value(hi_text, f"--box {name} upper bound")
            if not lo < hi:
                raise ExpressionError(f"--box {name}: the lower bound must be below the upper, "
                                      f"got {lo_text}:{hi_text}.")
            ranges[name.strip()] = (lo, hi)
    unknown = [v for v in ranges if v not in variables]
    missing = [v for v in variables if v not in ranges]
    if unknown:
        raise ExpressionError(f"--box names {', '.join(unknown)}, which the expression does not "
                              f"use (its variables: {', '.join(variables)}).")
    if missing:
        raise ExpressionError(f"--box needs a range for {', '.join(missing)}, e.g. "
                              + ",".join(f"{v}=-1:1" for v in variables))
    return [ranges[v] for v in variables]


def find_points(source: str, box: list[str], num_starts: int | None):
    """(points, JSON-ready dict) for the expression in the box."""
    from jachess.critical import find

    expression = parse(source)
    if not expression.is_scalar:
        raise NotScalarError("critical needs one scalar expression; drop the commas.")
    bounds = parse_box(box, expression.variables)
    f = expression.function()
    with working("searching for stationary points"):
        points = find(f, bounds, num_starts=num_starts)
    data = {
        "expression": expression.source,
        "variables": list(expression.variables),
        "box": {v: list(b) for v, b in zip(expression.variables, bounds)},
        "points": [{"x": dict(zip(expression.variables, np.asarray(p.x).tolist())),
                    "value": p.value, "eigenvalues": p.eigenvalues.tolist(),
                    **classification_dict(p)} for p in points],
    }
    counts: dict[str, int] = {}
    for p in points:
        counts[p.kind] = counts.get(p.kind, 0) + 1
    data["counts"] = counts
    return points, bounds, data


def render(data: dict[str, Any]) -> str:
    names = data["variables"]
    plural = {"minimum": "minima", "maximum": "maxima", "saddle": "saddles",
              "degenerate": "degenerate points", "not critical": "non-critical points"}
    summary = ", ".join(f"{n} {k if n == 1 else plural[k]}"
                        for k, n in data["counts"].items()) or "none"
    rows = [[p["kind"], *(number(v, 8) for v in p["x"].values()), p["value"],
             "  ".join(number(v, 4) for v in p["eigenvalues"])] for p in data["points"]]
    return "\n".join([f"f = {data['expression']}",
                      f"{len(data['points'])} stationary points in the box: {summary}", "",
                      table(["kind", *names, "f", "eigenvalues"], rows)])


def run(args: argparse.Namespace) -> int:
    points, bounds, data = find_points(args.expression, args.box, args.starts)
    if args.plot:
        from jachess._errors import OptionError
        from jachess.plot import landscape

        if len(bounds) != 2:
            raise OptionError("--plot draws a 2-variable landscape; drop --plot.")
        f = parse(args.expression).function()
        figure = landscape(f, bounds, points, names=data["variables"])
        figure.axes[0].set_title(f"{len(points)} stationary points", fontsize=10)
        figure.savefig(args.plot, dpi=120)
    print(dumps(data) if args.json else render(data))
    return 0
