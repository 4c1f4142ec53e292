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


def _analysis_step(source: str, at: str, intro: str, full: bool = True):
    """A step that explains, then shows `jachess analyze SOURCE --at AT`."""

    def step() -> tuple[str, dict]:
        result = analyze(source, [at])
        shown = render(result) if full else describe_classification(
            result["classification"], result["variables"])
        return intro + "\n\n" + shown, result

    return step


step_minimum = _analysis_step(
    "(1-x)**2 + 100*(y-x**2)**2", "x=1,y=1",
    "Rosenbrock's banana valley f = (1-x)² + 100(y-x²)² has its minimum at (1, 1).\n"
    "The gradient vanishes there and every Hessian eigenvalue is positive; the large\n"
    "condition number is why plain gradient descent crawls along the valley.")
step_saddle = _analysis_step(
    "x**2 - y**2", "x=0,y=0",
    "f = x² - y² curves up along x and down along y: a saddle. The escape direction\n"
    "is the eigenvector of the most negative eigenvalue, the way downhill.")
step_degenerate = _analysis_step(
    "x**3 - 3*x*y**2", "x=0,y=0",
    "The monkey saddle f = x³ - 3xy² has a zero Hessian at the origin: the second-order\n"
    "test cannot decide, so the point is reported as degenerate (third-order terms\n"
    "make it a saddle with three valleys).", full=False)
step_jacobian = _analysis_step(
    "r*cos(t), r*sin(t)", "r=2,t=pi/4",
    "Polar coordinates (r, t) -> (r cos t, r sin t). The Jacobian is the best linear\n"
    "map near the point, and det J = r is how much it stretches area: the r in\n"
    "∫∫ f r dr dt.")


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


def step_sparse() -> tuple[str, dict]:
    import time

    import jax

    from jachess import sparsity

    k = 40
    h = 1.0 / (k + 1)

    def bratu(u_flat):
        u = jnp.pad(u_flat.reshape(k, k), 1)
        laplacian = (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:]
                     - 4 * u[1:-1, 1:-1]) / h**2
        return (-laplacian - 6.0 * jnp.exp(u[1:-1, 1:-1])).reshape(-1)

    u = jnp.full(k * k, 0.1)
    prepared = sparsity.prepare_jacobian(bratu, u)
    jax.block_until_ready(prepared(u))
    start = time.perf_counter()
    sparse = jax.block_until_ready(prepared(u))
    sparse_time = time.perf_counter() - start
    jax.block_until_ready(jachess.jacobian(bratu, u))
    start = time.perf_counter()
    dense = jax.block_until_ready(jachess.jacobian(bratu, u))
    dense_time = time.perf_counter() - start
    error = float(jnp.max(jnp.abs(sparse.todense() - dense)))
    text = (
        f"The 2D Bratu residual on a {k}x{k} grid (5-point stencil) has a "
        f"{k * k}x{k * k} Jacobian\nwith {prepared.pattern.nnz} nonzeros. jachess reads the "
        f"pattern off the jaxpr and colours\nit: {prepared.num_colors} {prepared.mode} passes "
        f"instead of {k * k}.\n"
        f"  sparse: {sparse_time * 1e3:.2f} ms   dense: {dense_time * 1e3:.2f} ms   "
        f"max difference: {number(error, 2)}"
    )
    return text, {"n": k * k, "nonzeros": int(prepared.pattern.nnz),
                  "passes": int(prepared.num_colors), "mode": prepared.mode,
                  "sparse_seconds": sparse_time, "dense_seconds": dense_time,
                  "max_difference": error}


def step_curvature() -> tuple[str, dict]:
    import jax

    from jachess import operators, spectral

    rng = np.random.default_rng(0)
    inputs = jnp.asarray(rng.normal(size=(256, 8)))
    targets = jnp.asarray(np.sin(rng.normal(size=(256, 1))))
    params = {"w1": jnp.asarray(rng.normal(size=(8, 16)) / 3), "w2":
              jnp.asarray(rng.normal(size=(16, 1)) / 4)}

    def loss(p, batch):
        x, y = batch
        return jnp.mean((jnp.tanh(x @ p["w1"]) @ p["w2"] - y) ** 2)

    hessian = operators.Hessian(loss, params, data=(inputs, targets), batch_size=64)
    top = spectral.eigsh(hessian, k=2, which="both", tol=1e-8, key=jax.random.key(0))
    exact = np.linalg.eigvalsh(np.asarray(hessian.to_dense()))
    text = (
        f"A small network's loss over 256 examples in batches of 64: {hessian.shape[0]}\n"
        "parameters, Hessian never formed. Lanczos on Hessian-vector products gives the\n"
        f"extreme eigenvalues {', '.join(number(v, 8) for v in top.eigenvalues)} in "
        f"{int(top.num_matvecs)} HVPs\n"
        f"(dense check: {number(exact[0], 8)}, {number(exact[-1], 8)}). A negative "
        "eigenvalue: this point is not a minimum."
    )
    return text, {"num_params": int(hessian.shape[0]),
                  "eigenvalues": np.asarray(top.eigenvalues).tolist(),
                  "num_hvps": int(top.num_matvecs),
                  "dense_extremes": [float(exact[0]), float(exact[-1])]}


def step_optimize() -> tuple[str, dict]:
    from jachess.optimize import minimize

    def rosenbrock(v):  # Moré-Garbow-Hillstrom's extended Rosenbrock: 5 independent pairs
        odd, even = v[0::2], v[1::2]
        return jnp.sum(100 * (even - odd**2) ** 2 + (1 - odd) ** 2)

    x0 = jnp.tile(jnp.array([-1.2, 1.0]), 5)
    rows, numbers = [], {}
    for method in ("newton", "trust-ncg", "bfgs", "lbfgs"):
        result = minimize(rosenbrock, x0, method=method)
        rows.append([method, "yes" if result.success else "no", str(int(result.num_iterations)),
                     f"{int(result.num_grad)}/{int(result.num_hess)}/{int(result.num_hvp)}",
                     float(result.fun)])
        numbers[method] = {"success": bool(result.success),
                           "iterations": int(result.num_iterations), "f": float(result.fun)}
    from jachess.cli._format import table

    text = ("Extended Rosenbrock in 10 variables from the standard start (-1.2, 1, ...).\n"
            "Newton uses the exact Hessian and needs the fewest iterations; trust-region\n"
            "Newton-CG only Hessian-vector products; BFGS and L-BFGS only gradients.\n\n"
            + table(["method", "converged", "iterations", "grad/hess/hvp", "f"], rows))
    return text, numbers


def step_density() -> tuple[str, dict]:
    import jax

    from jachess import density

    def base(x):
        return jnp.sum(jax.scipy.stats.norm.logpdf(x))

    class Exp:  # any object with forward and inverse: jachess supplies log|det J|
        def forward(self, x):
            return jnp.exp(x)

        def inverse(self, y):
            return jnp.log(y)

    log_prob = density.pushforward(base, Exp())
    y = jnp.array([0.5, 2.0])
    ours = float(log_prob(y))
    lognormal = float(jnp.sum(jax.scipy.stats.norm.logpdf(jnp.log(y)) - jnp.log(y)))
    text = ("Change of variables: if x ~ N(0, I) and y = exp(x), then log p(y) = log p(x) -\n"
            "log|det J|. Given only forward and inverse, jachess computes the Jacobian's\n"
            f"log-determinant itself: log p(y) at y = (0.5, 2) is {ours:.10f}; the\n"
            f"log-normal formula gives {lognormal:.10f}.")
    return text, {"log_prob": ours, "lognormal": lognormal}


def step_sensitivity() -> tuple[str, dict]:
    from jachess.cli._sensitivity import render, sensitivity

    table_, data = sensitivity("a*b**2 + sin(c)", ["a=3,b=2,c=0.5"])
    text = ("Sensitivity: column j of the Jacobian is how the output moves with input j.\n"
            "Ranked, most important first, with elasticities (x_j / f) df/dx_j:\n\n"
            + render("a*b**2 + sin(c)", table_))
    return text, data


STEPS: list[tuple[str, Callable[[], tuple[str, dict]]]] = [
    ("A minimum", step_minimum),
    ("A saddle point and its escape direction", step_saddle),
    ("A degenerate point", step_degenerate),
    ("A Jacobian and its determinant", step_jacobian),
    ("The chain rule", step_chain_rule),
    ("A sparse Jacobian in a handful of passes", step_sparse),
    ("The curvature of a network's loss, matrix-free", step_curvature),
    ("Newton against quasi-Newton", step_optimize),
    ("A log-density under a change of variables", step_density),
    ("Which input matters most", step_sensitivity),
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
