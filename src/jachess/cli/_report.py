"""`jachess report EXPR --at ... --out report.html`: one self-contained HTML page.

The page holds the value, the derivatives, the classification, the sensitivity
ranking and the picture (PNG inlined as base64), plus the commands that reproduce
each part. Everything user-given is HTML-escaped.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import shlex
from typing import Any

import numpy as np

from jachess.cli._analyze import analyze
from jachess.cli._format import number
from jachess.cli._sensitivity import sensitivity

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; }
td, th { border: 1px solid #ccc; padding: 0.2rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
code, pre { background: #f6f6f6; padding: 0.1rem 0.3rem; }
.kind { font-weight: bold; font-size: 1.1rem; }
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="write a self-contained HTML report of an expression at a point",
        description="Write one HTML page with the value, gradient or Jacobian, Hessian, "
        "eigenvalues, classification, sensitivity ranking and a picture (inlined).",
    )
    parser.add_argument("expression")
    parser.add_argument("--at", action="append", metavar="x=1,y=2",
                        help="the point (default: every variable 0)")
    parser.add_argument("--out", default="report.html", metavar="FILE.html",
                        help="where to write the page (default: report.html)")
    parser.set_defaults(run=run)


def _matrix(matrix: Any, rows: list[str], cols: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["", *cols])
    body = "".join(
        "<tr><td>" + html.escape(r) + "</td>"
        + "".join(f"<td>{number(v)}</td>" for v in np.atleast_1d(row)) + "</tr>"
        for r, row in zip(rows, np.atleast_2d(matrix))
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _picture(result: dict[str, Any]) -> str:
    from jachess._errors import OptionError
    from jachess.cli._plots import analysis_figure

    try:
        figure = analysis_figure(result)
    except OptionError:
        return "<p>(no picture: more than two variables)</p>"
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def build_report(source: str, at: list[str] | None) -> str:
    """The HTML text of the report."""
    result = analyze(source, at)
    _, sens = sensitivity(source, at)
    names = result["variables"]
    at_text = ",".join(f"{k}={v!r}" for k, v in result["point"].items())
    command = f"jachess analyze {shlex.quote(source)}" + (f" --at {at_text}" if at_text else "")
    parts = [f"<h1>f = <code>{html.escape(source)}</code></h1>",
             "<p>at " + html.escape(", ".join(f"{k} = {number(v)}"
                                              for k, v in result["point"].items())) + "</p>"]
    if "classification" in result:
        c = result["classification"]
        parts += [
            f"<p>value: {number(result['value'], 12)}</p>",
            f'<p class="kind">{html.escape(c["kind"])}</p>',
            f"<p>|grad f| = {number(c['gradient_norm'], 3)} (critical when &le; "
            f"{number(c['gradient_tolerance'], 3)}); eigenvalues with |&lambda;| &le; "
            f"{number(c['eigenvalue_tolerance'], 3)} count as zero; inertia "
            f"{c['inertia']['positive']} positive, {c['inertia']['negative']} negative, "
            f"{c['inertia']['zero']} zero.</p>",
            "<h2>Gradient</h2>", _matrix(np.asarray(result["gradient"])[:, None], names, ["∂f"]),
            "<h2>Hessian</h2>", _matrix(result["hessian"], names, names),
            "<h2>Eigenvalues</h2><p>" + ", ".join(number(v) for v in result["eigenvalues"])
            + "</p>",
        ]
    else:
        outputs = [f"f{i}" for i in range(len(result["value"]))]
        parts += ["<h2>Jacobian</h2>", _matrix(result["jacobian"], outputs, names)]
        if "determinant" in result:
            parts.append(f"<p>det J = {number(result['determinant'], 12)}</p>")
        for h in result["hessians"]:
            parts += [f"<h2>Hessian of f{h['output']}</h2>",
                      _matrix(h["hessian"], names, names),
                      "<p>eigenvalues: " + ", ".join(number(v) for v in h["eigenvalues"])
                      + "</p>"]
    parts.append("<h2>Sensitivity (most important first)</h2>")
    for output in sens["outputs"]:
        rows = [[r["input"], r["derivative"], r["elasticity"]] for r in output["ranking"]]
        parts.append(f"<p>{html.escape(output['name'])}</p>" + _matrix(
            [row[1:] for row in rows], [row[0] for row in rows], ["∂/∂input", "elasticity"]))
    parts += ["<h2>Picture</h2>", _picture(result), "<h2>Reproduce</h2>",
              "<pre>" + html.escape("\n".join([
                  command, command + " --json", command + " --plot plot.png",
                  command.replace("analyze", "sensitivity", 1)])) + "</pre>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>jachess report: {html.escape(source)}</title><style>{STYLE}</style>"
            "</head><body>" + "\n".join(parts) + "</body></html>\n")


def run(args: argparse.Namespace) -> int:
    text = build_report(args.expression, args.at)
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"wrote {args.out}")
    return 0
