"""Sparse Jacobians and Hessians: jachess.sparsity against asdex, sparsejac and dense JAX.

One process, float64, CPU. Per problem and tool: colours (passes) and the lower bound,
preparation (detection + colouring) time, compile time (first call), evaluation time
(median over repeats, block_until_ready), and the evaluation relative to passes x one
JVP (or HVP) of the same function. Correctness of every sparse result is checked against
jachess's (max abs difference) and, where small enough, against dense jax.jacfwd/hessian.

Run:  .venv/bin/python benchmarks/sparse.py [--quick] [--out benchmarks/results/sparse.md]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.experimental import sparse as jsparse  # noqa: E402

from jachess.sparsity import prepare_hessian, prepare_jacobian, to_scipy  # noqa: E402

warnings.filterwarnings("ignore")

# ---------------------------------------------------------------- problems


def bratu_1d(n):
    h2 = (n + 1) ** 2

    def f(u):
        up = jnp.pad(u, 1)
        return (up[2:] - 2 * up[1:-1] + up[:-2]) * h2 + jnp.exp(u)

    return f, jnp.linspace(0.1, 0.9, n)


def bratu_2d(k):
    h2 = (k + 1) ** 2

    def f(u):
        g = jnp.pad(u.reshape(k, k), 1)
        lap = g[2:, 1:-1] + g[:-2, 1:-1] + g[1:-1, 2:] + g[1:-1, :-2] - 4 * g[1:-1, 1:-1]
        return (lap * h2 + jnp.exp(u.reshape(k, k))).ravel()

    return f, jnp.linspace(0.1, 0.9, k * k)


def broyden(n):
    def f(x):
        xp = jnp.pad(x, 1)
        return (3 - 2 * x) * x - xp[:-2] - 2 * xp[2:] + 1

    return f, jnp.linspace(-1.0, -0.5, n)


def arrowhead(n):
    def f(x):
        return jnp.concatenate([jnp.sum(x**2)[None], x[0] * x[1:] + jnp.sin(x[1:])])

    return f, jnp.linspace(0.5, 1.5, n)


def random_map(n, k=3, seed=0):
    idx = np.random.default_rng(seed).integers(0, n, (n, k))

    def f(x):
        return x[idx[:, 0]] * x[idx[:, 1]] + jnp.sin(x[idx[:, 2]])

    return f, jnp.linspace(0.5, 1.5, n)


def rosenbrock_ext(n):
    def f(x):
        return jnp.sum(100 * (x[1::2] - x[::2] ** 2) ** 2 + (1 - x[::2]) ** 2)

    return f, jnp.linspace(-1.2, 1.0, n)


def energy_2d(k):
    def f(u):
        g = u.reshape(k, k)
        grad_energy = jnp.sum((g[1:] - g[:-1]) ** 2) + jnp.sum((g[:, 1:] - g[:, :-1]) ** 2)
        return 0.5 * (k + 1) ** 2 * grad_energy - jnp.sum(jnp.exp(g))

    return f, jnp.linspace(0.1, 0.9, k * k)


def problems(quick: bool):
    jac = [
        ("tridiagonal Bratu", 1000, bratu_1d(1000)),
        ("tridiagonal Bratu", 10_000, bratu_1d(10_000)),
        ("tridiagonal Bratu", 100_000, bratu_1d(100_000)),
        ("2D Bratu 5-point k=32", 32 * 32, bratu_2d(32)),
        ("2D Bratu 5-point k=100", 100 * 100, bratu_2d(100)),
        ("2D Bratu 5-point k=300", 300 * 300, bratu_2d(300)),
        ("Broyden tridiagonal", 10_000, broyden(10_000)),
        ("arrowhead", 1000, arrowhead(1000)),
        ("arrowhead", 10_000, arrowhead(10_000)),
        ("random 3-sparse map", 10_000, random_map(10_000)),
    ]
    hess = [
        ("extended Rosenbrock", 1000, rosenbrock_ext(1000)),
        ("extended Rosenbrock", 10_000, rosenbrock_ext(10_000)),
        ("extended Rosenbrock", 100_000, rosenbrock_ext(100_000)),
        ("2D energy Hessian k=100", 100 * 100, energy_2d(100)),
        ("2D energy Hessian k=300", 300 * 300, energy_2d(300)),
    ]
    if quick:
        jac = [p for p in jac if p[1] <= 10_000]
        hess = [p for p in hess if p[1] <= 10_000]
    return [("J", *p) for p in jac] + [("H", *p) for p in hess]


# ---------------------------------------------------------------- timing helpers


def block(result):
    return jax.block_until_ready(result)


def timed(fn, *args):
    start = time.perf_counter()
    out = block(fn(*args))
    return out, time.perf_counter() - start


def median_time(fn, *args, budget=0.5, max_reps=200, min_reps=5):
    times = []
    start = time.perf_counter()
    while len(times) < max_reps and (len(times) < min_reps or time.perf_counter() - start < budget):
        t0 = time.perf_counter()
        block(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def one_pass(kind, f, x):
    """One JVP (Jacobians) or one HVP (Hessians), jitted and compiled."""
    v = jnp.ones_like(x)
    if kind == "J":
        product = jax.jit(lambda x, v: jax.jvp(f, (x,), (v,))[1])
    else:
        product = jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])
    block(product(x, v))
    return product, (x, v)


def one_vjp(f, x):
    """One VJP, jitted and compiled (the reverse passes of a bicoloured Jacobian)."""
    u = jnp.ones_like(jax.eval_shape(f, x))
    product = jax.jit(lambda x, u: jax.vjp(f, x)[1](u)[0])
    block(product(x, u))
    return product, (x, u)


def interleaved_medians(calls: dict, budget=3.0, max_rounds=100, min_rounds=7):
    """Median time of each call, timed in shuffled rounds so that machine load hits all alike."""
    times = {name: [] for name in calls}
    names = list(calls)
    order = np.random.default_rng(0)
    start = time.perf_counter()
    rounds = 0
    while rounds < max_rounds and (rounds < min_rounds or time.perf_counter() - start < budget):
        for name in order.permutation(names):  # no tool always first (or last) in a round
            fn, args = calls[name]
            t0 = time.perf_counter()
            block(fn(*args))
            times[name].append(time.perf_counter() - t0)
        rounds += 1
    return {name: statistics.median(ts) for name, ts in times.items()}


def as_csr(result):
    if isinstance(result, jsparse.BCOO):
        return to_scipy(result.sum_duplicates() if not result.unique_indices else result)
    import scipy.sparse as sp

    return sp.csr_array(np.asarray(result))


# ---------------------------------------------------------------- tools


def run_jachess(kind, f, x):
    start = time.perf_counter()
    prepared = prepare_jacobian(f, x) if kind == "J" else prepare_hessian(f, x)
    prep = time.perf_counter() - start
    out, compile_time = timed(prepared, x)
    if kind == "H":
        passes = (prepared.num_colors, 0)
    else:
        forward = int(prepared.colors.max()) + 1 if prepared.mode != "rev" else 0
        passes = (max(forward, 0), prepared.num_colors - max(forward, 0))
    return dict(
        colors=prepared.num_colors,
        passes=passes,
        mode=prepared.mode,
        bound=prepared.lower_bound,
        prep=prep,
        compile=compile_time,
        call=(prepared, (x,)),
        result=out,
        pattern=prepared.pattern,
    )


def run_asdex(kind, f, x):
    import asdex

    start = time.perf_counter()
    if kind == "J":
        coloring = asdex.jacobian_coloring(f, x)
    else:
        coloring = asdex.hessian_coloring(f, x)
    prep = time.perf_counter() - start
    colors = int(coloring.num_colors)
    row = dict(colors=colors, prep=prep)
    if colors * x.size > 20_000_000:
        row["note"] = f"evaluation not run: {colors} x {x.size} seed matrix"
        return row
    if kind == "J":
        evaluate = jax.jit(asdex.jacobian_from_coloring(f, coloring))
    else:
        evaluate = jax.jit(asdex.hessian_from_coloring(f, coloring))
    out, compile_time = timed(evaluate, x)
    row.update(compile=compile_time, call=(evaluate, (x,)), result=out)
    return row


def run_sparsejac(kind, f, x, pattern):
    import sparsejac

    counts = np.diff(pattern.indptr).astype(np.int64)
    if pattern.nnz > 2_000_000 or int((counts * counts).sum()) > 5_000_000:
        # sparsejac builds its column-intersection graph in networkx: hours for a dense row
        return dict(note="not run (networkx conflict graph too large)")
    sparsity = jsparse.BCOO.from_scipy_sparse(pattern.astype(np.float64))
    start = time.perf_counter()
    target = f if kind == "J" else jax.grad(f)
    fn = sparsejac.jacfwd(target, sparsity=sparsity)
    prep = time.perf_counter() - start
    evaluate = jax.jit(fn)
    out, compile_time = timed(evaluate, x)
    return dict(prep=prep, compile=compile_time, call=(evaluate, (x,)), result=out,
                note="pattern given (no detection)")


def run_dense(kind, f, x, name):
    # dense n = 1e4 takes about a minute per problem: only where a target needs it
    limit = 10_000 if name == "tridiagonal Bratu" else 1_000
    if x.size > limit:
        return dict(note="not run (n too large)")
    evaluate = jax.jit(jax.jacfwd(f) if kind == "J" else jax.hessian(f))
    out, compile_time = timed(evaluate, x)
    row = dict(colors=x.size, compile=compile_time,
               eval=median_time(evaluate, x, budget=0.2, max_reps=5, min_reps=2))
    # dense is timed on its own (seconds per call at n = 1e4)
    row["dense"] = out
    return row


# ---------------------------------------------------------------- main


def fmt(seconds):
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="only n <= 1e4")
    parser.add_argument("--out", default=None, help="write the markdown tables here")
    parser.add_argument("--only", default=None, help="substring of problem names to run")
    parser.add_argument("--skip", default=None, help="skip problems whose name has this")
    args = parser.parse_args()
    lines = [
        "| problem | n | tool | colours / passes (lower bound) | prepare | compile | evaluate | "
        "eval / (passes x one JVP or HVP) | max abs diff vs jachess |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    summary = []
    for kind, name, n, (f, x) in problems(args.quick):
        if args.only and args.only not in name:
            continue
        if args.skip and args.skip in name:
            continue
        gc.collect()
        ours = run_jachess(kind, f, x)
        ours_csr = as_csr(ours["result"])
        rows = [("jachess", ours)]
        for tool, runner in (
            ("asdex 0.5.1", lambda: run_asdex(kind, f, x)),
            ("sparsejac", lambda: run_sparsejac(kind, f, x, ours["pattern"])),
            ("dense jax", lambda: run_dense(kind, f, x, name)),
        ):
            try:
                rows.append((tool, runner()))
            except Exception as error:  # an anchor failing is reported, not fatal
                rows.append((tool, dict(note=f"failed: {type(error).__name__}: {error}"[:120])))
        calls = {tool: row.pop("call") for tool, row in rows if "call" in row}
        calls["one pass"] = one_pass(kind, f, x)
        if ours["passes"][1]:
            calls["one vjp"] = one_vjp(f, x)
        medians = interleaved_medians(calls)
        single = medians.pop("one pass")
        single_vjp = medians.pop("one vjp", single)
        for tool, row in rows:
            if tool in medians:
                row["eval"] = medians[tool]
            diff = "-"
            if "result" in row and tool != "jachess":
                diff = f"{abs(as_csr(row['result']) - ours_csr).max():.1e}"
            if "dense" in row:
                dense = np.asarray(row.pop("dense")).reshape(ours_csr.shape)
                diff = f"{np.abs(dense - ours_csr.toarray()).max():.1e}"
            colors = row.get("colors", "-")
            if tool == "jachess":
                colors = f"{colors} {row['mode']} ({row['bound']})"
            ratio = "-"
            if "eval" in row and isinstance(row.get("colors"), int) and row["colors"]:
                ratio = f"{row['eval'] / (row['colors'] * single):.2f}"
            if tool == "jachess" and row["passes"][1]:
                forward, reverse = row["passes"]
                limit = forward * single + reverse * single_vjp
                ratio = f"{row['eval'] / limit:.2f} (vs {forward} JVP + {reverse} VJP)"
            note = f" {row['note']}" if "note" in row else ""
            lines.append(
                f"| {name} | {n} | {tool}{note} | {colors} | {fmt(row.get('prep'))} | "
                f"{fmt(row.get('compile'))} | {fmt(row.get('eval'))} | {ratio} | {diff} |"
            )
            print(lines[-1], flush=True)
        asdex = dict(rows)["asdex 0.5.1"]
        dense = dict(rows)["dense jax"]
        summary.append((name, n, ours, asdex, dense))
    lines += ["", "| problem | n | colours ours / asdex | prepare ours / asdex | "
              "evaluate ours / asdex | dense / ours evaluate |", "|---|---|---|---|---|---|"]
    for name, n, ours, asdex, dense in summary:
        prep = f"{ours['prep'] / asdex['prep']:.2f}" if "prep" in asdex else "-"
        ev = f"{ours['eval'] / asdex['eval']:.2f}" if "eval" in asdex else "-"
        speed = f"{dense['eval'] / ours['eval']:.0f}x" if "eval" in dense else "-"
        colors = f"{ours['colors']} / {asdex.get('colors', '-')}"
        lines.append(f"| {name} | {n} | {colors} | {prep} | {ev} | {speed} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
