"""`jachess demo`: a short guided tour over built-in examples, for a newcomer to read."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

import jachess
from jachess.cli._analyze import analyze, describe_classification, render
from jachess.cli._format import matrix_table, number

DESCRIPTION = "A guided tour of jachess on built-in examples (about a minute on a laptop)."


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="a guided tour on built-in examples",
                                   description=DESCRIPTION)
    parser.add_argument("--json", action="store_true",
                        help="print each step's numbers as JSON instead of prose")
    parser.set_defaults(run=run)


def _heading(number_: int, title: str) -> str:
    text = f"{number_}. {title}"
    return f"\n{text}\n{'=' * len(text)}"


def step_minimum() -> tuple[str, dict]:
    result = analyze("(1-x)**2 + 100*(y-x**2)**2", ["x=1,y=1"])
    text = (
        "Rosenbrock's banana valley f = (1-x)² + 100(y-x²)² has its minimum at (1, 1).\n"
        "The gradient vanishes there and every Hessian eigenvalue is positive; the large\n"
        "condition number is why plain gradient descent crawls along the valley.\n\n"
        + render(result)
    )
    return text, result


def step_saddle() -> tuple[str, dict]:
    result = analyze("x**2 - y**2", ["x=0,y=0"])
    text = (
        "f = x² - y² curves up along x and down along y: a saddle. The escape direction\n"
        "is the eigenvector of the most negative eigenvalue, the way downhill.\n\n"
        + render(result)
    )
    return text, result


def step_degenerate() -> tuple[str, dict]:
    result = analyze("x**3 - 3*x*y**2", ["x=0,y=0"])
    text = (
        "The monkey saddle f = x³ - 3xy² has a zero Hessian at the origin: the second-order\n"
        "test cannot decide, so the point is reported as degenerate (third-order terms\n"
        "make it a saddle with three valleys).\n\n"
        + describe_classification(result["classification"], result["variables"])
    )
    return text, result


def step_jacobian() -> tuple[str, dict]:
    result = analyze("r*cos(t), r*sin(t)", ["r=2,t=pi/4"])
    text = (
        "Polar coordinates (r, t) -> (r cos t, r sin t). The Jacobian is the best linear\n"
        "map near the point, and det J = r is how much it stretches area: the r in\n"
        "∫∫ f r dr dt.\n\n" + render(result)
    )
    return text, result


def step_chain_rule() -> tuple[str, dict]:
    def polar(v):
        return jnp.stack([v[0] * jnp.cos(v[1]), v[0] * jnp.sin(v[1])])

    def energy(p):
        return jnp.stack([p[0] ** 2 + p[1] ** 2, p[0] * p[1]])

    x = jnp.array([2.0, jnp.pi / 4])
    composed = np.asarray(jachess.jacobian(lambda v: energy(polar(v)), x))
    product = np.asarray(jachess.jacobian(energy, polar(x)) @ jachess.jacobian(polar, x))
    error = float(np.max(np.abs(composed - product)))
    text = (
        "Chain rule: J_(g∘f)(x) = J_g(f(x)) · J_f(x). Differentiating g(polar(r, t)) in one\n"
        "go and multiplying the two Jacobians agree to "
        f"{number(error, 2)}:\n\n"
        + matrix_table(composed, ["r²", "xy"], ["r", "t"])
    )
    return text, {"composed": composed.tolist(), "product": product.tolist(),
                  "max_difference": error}


STEPS: list[tuple[str, Callable[[], tuple[str, dict]]]] = [
    ("A minimum", step_minimum),
    ("A saddle point and its escape direction", step_saddle),
    ("A degenerate point", step_degenerate),
    ("A Jacobian and its determinant", step_jacobian),
    ("The chain rule", step_chain_rule),
]


def run(args: argparse.Namespace) -> int:
    from jachess.cli._format import dumps

    if not args.json:
        print("jachess demo: Jacobians and Hessians, exact, on a few classic examples.")
    collected = {}
    for i, (title, step) in enumerate(STEPS, start=1):
        text, numbers = step()
        collected[title] = numbers
        if not args.json:
            print(_heading(i, title))
            print(text, flush=True)
    if args.json:
        print(dumps(collected))
    else:
        print("\nTry it yourself:  jachess analyze \"x**2*y - y**3\" --at x=1,y=0.5")
    return 0
