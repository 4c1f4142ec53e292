"""`jachess sensitivity EXPR --at ...`: which input moves each output most."""

from __future__ import annotations

import argparse

import jax.numpy as jnp

from jachess.cli._analyze import evaluation_point
from jachess.cli._expression import parse
from jachess.cli._format import dumps, number, table

EPILOG = """\
examples:
  jachess sensitivity "a*b**2 + sin(c)" --at a=3,b=2,c=0.5
  jachess sensitivity "x*y, x+y" --at x=1,y=2 --json
  jachess sensitivity "a*b**2 + sin(c)" --at a=3,b=2,c=0.5 --plot tornado.png
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "sensitivity", help="rank inputs by their effect on each output (local)",
        description="Local sensitivity: the Jacobian's columns as how every output moves "
        "with each input, elasticities (x_j / f_i) df_i/dx_j, and a ranking per output, "
        "most important first.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("expression")
    parser.add_argument("--at", action="append", metavar="x=1,y=2",
                        help="the point (default: every variable 0)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="save a tornado plot")
    parser.set_defaults(run=run)


def sensitivity(source: str, at: list[str] | None):
    """(SensitivityTable, JSON-ready dict) for the expression at the point."""
    from jachess.sensitivity import local

    expression = parse(source)
    order, x, _ = evaluation_point(expression, at)
    f = expression.function(order)
    outputs = ["f"] if expression.is_scalar else [f"f{i}" for i in range(len(expression.outputs))]
    table_ = local(f, jnp.asarray(x), names=list(order), output_names=outputs)
    data = {"expression": expression.source, **table_.to_dict()}
    return table_, data


def render(source: str, table_) -> str:
    lines = [f"f = {source}", ""]
    for i, out in enumerate(table_.output_names):
        lines.append(f"{out} = {number(table_.value[i], 10)}: inputs by |d{out}/dx|")
        rows = [[name, derivative, elasticity]
                for name, derivative, elasticity in table_.ranked(i)]
        lines += [table(["input", f"d{out}/dx", "elasticity"], rows), ""]
    return "\n".join(lines).rstrip()


def run(args: argparse.Namespace) -> int:
    table_, data = sensitivity(args.expression, args.at)
    if args.plot:
        from jachess.plot import tornado

        tornado(table_).savefig(args.plot, dpi=120)
    print(dumps(data) if args.json else render(args.expression, table_))
    return 0


