"""Square nonlinear systems F(x) = 0 from the Moré-Garbow-Hillstrom set, MINPACK style.

    .venv/bin/python benchmarks/root_systems.py

The 13 square MGH residual systems that have a root (Rosenbrock, Powell badly scaled,
helical valley, Powell singular, extended Rosenbrock and Powell, trigonometric, Brown
almost-linear, discrete boundary value, discrete integral equation, Broyden tridiagonal
and banded, Chebyquad n = 7), each from x0, 10·x0 and 100·x0 as in MINPACK-1's tests:
39 runs. This is close to, not the same as, MINPACK-1's 45-run hybrd set (which adds the
Wood and Watson gradient systems and more sizes). Success: ‖F(x)‖∞ <= 1e-8. jachess
root(newton) against scipy.optimize.root hybr and lm, both given the exact jitted
Jacobian, in one process; times are the median solve after compilation.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from jachess.optimize import root  # noqa: E402
from problems import mgh  # noqa: E402

SQUARE_WITH_ROOT = [1, 3, 7, 13, 21, 22, 26, 27, 28, 29, 30, 31]


def systems():
    by_number = {p.number: p for p in mgh.PROBLEMS}
    for number in SQUARE_WITH_ROOT:
        problem = by_number[number]
        yield problem.name, problem.residual, np.asarray(problem.x0, float)
    n = 7
    yield "Chebyquad n=7", mgh.PROBLEMS[-1].residual, np.arange(1, n + 1) / (n + 1)


def timed(fn, repeats=3):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, float(np.median(times))


def main() -> None:
    rows, wins = [], {"jachess newton": 0, "scipy hybr": 0, "scipy lm": 0}
    totals = {k: 0.0 for k in wins}
    for name, F, x0 in systems():
        F_jit = jax.jit(F)
        J_jit = jax.jit(jax.jacfwd(F))
        for scale in (1, 10, 100):
            start = scale * x0
            results = {}
            r, t = timed(lambda: root(F, jnp.asarray(start), method="newton"))
            results["jachess newton"] = (float(jnp.max(jnp.abs(F_jit(r.x)))), t)
            for method in ("hybr", "lm"):
                def solve(method=method):
                    return scipy.optimize.root(lambda v: np.asarray(F_jit(v)), start,
                                               jac=lambda v: np.asarray(J_jit(v)),
                                               method=method)
                s, t = timed(solve)
                results[f"scipy {method}"] = (float(np.max(np.abs(F_jit(s.x)))), t)
            cells = []
            for key, (residual, seconds) in results.items():
                ok = residual <= 1e-8
                wins[key] += ok
                totals[key] += seconds
                cells.append(f"{'ok' if ok else 'FAIL'} {residual:.1e} / {seconds * 1e3:.1f} ms")
            rows.append(f"| {name} | {scale} | " + " | ".join(cells) + " |")
    print("| system | x0 scale | jachess newton | scipy hybr | scipy lm |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    runs = len(rows)
    print(f"\n| solver | solved (of {runs}) | total time |")
    print("|---|---|---|")
    for key in wins:
        print(f"| {key} | {wins[key]} | {totals[key]:.3f} s |")


if __name__ == "__main__":
    main()
