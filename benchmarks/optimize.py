"""Benchmark jachess.optimize against scipy.optimize, optimistix and jaxopt (one process).

Sections (``--section``):
  mgh    the 35 Moré-Garbow-Hillstrom problems (tests/problems/mgh.py): success count
         (the issue's test), iterations, function evaluations, median wall time per solve
         after compile (block_until_ready), for every solver of the families chosen
         (``--family``: ours, scipy, optimistix, jaxopt; all by default).
  rosen  extended Rosenbrock n in {1e3, 1e4, 1e5}: trust-ncg and lbfgs (ours, scipy
         trust-ncg / L-BFGS-B with exact JAX derivatives).
  bratu  2D Bratu -Δu = λeᵘ (λ = 6) on N x N grids: root with a sparse Jacobian against
         scipy.optimize.root(method="krylov") and scipy Newton + SuperLU with an
         explicit sparse Jacobian.

Each run appends JSON lines to benchmarks/results/optimize.jsonl; ``--report`` turns
them into the markdown tables of benchmarks/results/optimize.md.

    python benchmarks/optimize.py --section mgh --repeats 5
    python benchmarks/optimize.py --report
"""

from __future__ import annotations

import argparse
import json
import pathlib
import random
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
RESULTS = ROOT / "benchmarks" / "results" / "optimize.jsonl"

from problems.bratu import bratu_residual  # noqa: E402
from problems.mgh import PROBLEMS, solved  # noqa: E402


def _median_time(run, repeats, slow=0.5):
    """Median of `repeats` timed runs (one run when a single run takes over `slow` s)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
        if times[0] > slow:
            break
    return float(np.median(times)), out


def _record(**row):
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


# ----------------------------------------------------------------------------------- MGH


def _ours(method):
    from jachess.optimize import least_squares, minimize

    def solve(problem):
        if method in ("lm", "gauss-newton"):
            r = least_squares(problem.residual, problem.x0, method=method)
        else:
            r = minimize(problem.objective, problem.x0, method=method)
        jax.block_until_ready(r.x)
        return np.asarray(r.x), int(r.num_iterations), int(r.num_fun), int(r.num_grad + r.num_jac)

    return solve


def _scipy(method):
    import scipy.optimize as so

    def solve_factory(problem):
        vg = jax.jit(jax.value_and_grad(problem.objective))
        hess = jax.jit(jax.hessian(problem.objective))
        hvp = jax.jit(lambda x, v: jax.jvp(jax.grad(problem.objective), (x,), (v,))[1])
        res = jax.jit(problem.residual)
        jac = jax.jit(jax.jacfwd(problem.residual))

        def fun_and_grad(x):
            v, g = vg(x)
            return float(v), np.asarray(g)

        def run():
            x0 = np.asarray(problem.x0, float)
            if method in ("lm", "trf"):
                r = so.least_squares(lambda x: np.asarray(res(x)), x0, jac=lambda x: np.asarray(jac(x)),
                                     method=method, xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=20000)
                return r.x, int(r.nfev), int(r.nfev), int(r.njev or 0)
            kw = {}
            if method in ("Newton-CG", "trust-ncg", "trust-krylov"):
                kw["hessp"] = lambda x, v: np.asarray(hvp(x, v))
            if method == "trust-exact":
                kw["hess"] = lambda x: np.asarray(hess(x))
            options = {"maxiter": 1000}
            if method in ("BFGS", "trust-ncg", "trust-krylov", "trust-exact"):
                options["gtol"] = 1e-9
            if method == "L-BFGS-B":
                options.update(gtol=1e-12, ftol=1e-15, maxfun=20000)
            if method == "Newton-CG":
                options["xtol"] = 1e-12
            r = so.minimize(fun_and_grad, x0, jac=True, method=method, options=options, **kw)
            return r.x, int(r.get("nit", 0)), int(r.nfev), int(r.get("njev", 0))

        return run

    cache = {}

    def solve(problem):
        if problem.number not in cache:
            cache[problem.number] = solve_factory(problem)
        return cache[problem.number]()

    return solve


def _optimistix(name):
    import optimistix as optx

    solvers = {
        "BFGS": lambda: optx.BFGS(rtol=1e-10, atol=1e-10),
        "LBFGS": lambda: optx.LBFGS(rtol=1e-10, atol=1e-10),
        "LevenbergMarquardt": lambda: optx.LevenbergMarquardt(rtol=1e-10, atol=1e-10),
        "GaussNewton": lambda: optx.GaussNewton(rtol=1e-10, atol=1e-10),
    }
    cache = {}

    def solve(problem):
        if problem.number not in cache:
            solver = solvers[name]()
            if name in ("LevenbergMarquardt", "GaussNewton"):
                def fn(y0, solver=solver):
                    sol = optx.least_squares(lambda y, _: problem.residual(y), solver, y0,
                                             throw=False, max_steps=10000)
                    return sol.value, sol.stats["num_steps"]
            else:
                def fn(y0, solver=solver):
                    sol = optx.minimise(lambda y, _: problem.objective(y), solver, y0,
                                        throw=False, max_steps=10000)
                    return sol.value, sol.stats["num_steps"]
            cache[problem.number] = jax.jit(fn)
        value, steps = cache[problem.number](problem.x0)
        jax.block_until_ready(value)
        steps = int(steps)
        return np.asarray(value), steps, steps, steps

    return solve


def _jaxopt(name):
    import jaxopt

    cache = {}

    def solve(problem):
        if problem.number not in cache:
            if name == "LBFGS":
                solver = jaxopt.LBFGS(fun=problem.objective, maxiter=10000, tol=1e-9)
            else:
                solver = jaxopt.LevenbergMarquardt(residual_fun=problem.residual, maxiter=10000,
                                                   tol=1e-10)
            cache[problem.number] = jax.jit(solver.run)
        params, state = cache[problem.number](problem.x0)
        jax.block_until_ready(params)
        steps = int(state.iter_num)
        return np.asarray(params), steps, steps, steps

    return solve


FAMILIES = {
    "ours": [("jachess", m, _ours) for m in
             ["newton", "trust-ncg", "trust-exact", "bfgs", "lbfgs", "lm", "gauss-newton"]],
    "scipy": [("scipy", m, _scipy) for m in
              ["Newton-CG", "trust-ncg", "trust-krylov", "trust-exact", "BFGS", "L-BFGS-B",
               "lm", "trf"]],
    "optimistix": [("optimistix", m, _optimistix) for m in
                   ["BFGS", "LBFGS", "LevenbergMarquardt", "GaussNewton"]],
    "jaxopt": [("jaxopt", m, _jaxopt) for m in ["LBFGS", "LevenbergMarquardt"]],
}


def bench_mgh(families, repeats, problems):
    """Per problem: every solver compiled and warmed up, then `repeats` rounds in which
    each solver runs once, in a fresh random order (load drifts hit every library
    alike); a solver whose first timed run exceeds 0.5 s is not repeated."""
    rng = random.Random(0)
    solvers = [(lib, m, make(m)) for fam in families for lib, m, make in FAMILIES[fam]]
    for problem in problems:
        times, outs = {}, {}
        for library, method, solve in solvers:
            try:
                solve(problem)  # compile and warm up
                times[(library, method)] = []
            except Exception as error:  # a library crashing on a problem counts as a failure
                print(f"{library} {method} {problem.number}: {type(error).__name__}: {error}")
        for _ in range(repeats):
            order = [s for s in solvers if (s[0], s[1]) in times]
            rng.shuffle(order)
            for library, method, solve in order:
                runs = times[(library, method)]
                if runs and runs[0] > 0.5:
                    continue
                start = time.perf_counter()
                outs[(library, method)] = solve(problem)
                runs.append(time.perf_counter() - start)
        for library, method, _ in solvers:
            if (library, method) in times:
                x, iterations, nfev, ngev = outs[(library, method)]
                seconds, ok = float(np.median(times[(library, method)])), solved(problem, x)
            else:
                seconds, iterations, nfev, ngev, ok = float("nan"), -1, -1, -1, False
            _record(section="mgh", library=library, method=method, problem=problem.number,
                    success=bool(ok), iterations=iterations, nfev=nfev, ngev=ngev,
                    seconds=seconds)


# ------------------------------------------------------------------------------ Rosenbrock


def _ext_rosen(x):
    return jnp.sum(100.0 * (x[1::2] - x[0::2] ** 2) ** 2 + (1 - x[0::2]) ** 2)


def bench_rosen(sizes, repeats):
    import scipy.optimize as so

    from jachess.optimize import minimize

    for n in sizes:
        x0 = jnp.tile(jnp.array([-1.2, 1.0]), n // 2)
        for method in ("trust-ncg", "lbfgs"):
            run = lambda: minimize(_ext_rosen, x0, method=method)  # noqa: E731
            jax.block_until_ready(run().x)
            seconds, r = _median_time(lambda: jax.block_until_ready(run()), repeats)
            err = float(jnp.max(jnp.abs(r.x - 1)))
            _record(section="rosen", library="jachess", method=method, n=n, success=r.success,
                    iterations=int(r.num_iterations), seconds=seconds, max_error=err)
        vg = jax.jit(jax.value_and_grad(_ext_rosen))
        hvp = jax.jit(lambda x, v: jax.jvp(jax.grad(_ext_rosen), (x,), (v,))[1])
        vg(x0)
        hvp(x0, x0)
        x0n = np.asarray(x0)

        def fg(x):
            v, g = vg(x)
            return float(v), np.asarray(g)

        for method in ("trust-ncg", "L-BFGS-B"):
            kw = {"hessp": lambda x, v: np.asarray(hvp(x, v))} if method == "trust-ncg" else {}
            options = {"gtol": 1e-9, "maxiter": 20000}
            if method == "L-BFGS-B":
                options.update(ftol=1e-15, maxfun=40000)
            seconds, r = _median_time(
                lambda: so.minimize(fg, x0n, jac=True, method=method, options=options, **kw),
                max(1, repeats // 2),
            )
            _record(section="rosen", library="scipy", method=method, n=n, success=bool(r.success),
                    iterations=int(r.nit), seconds=seconds,
                    max_error=float(np.max(np.abs(r.x - 1))))


# ----------------------------------------------------------------------------------- Bratu


BRATU_TOL = 1e-10  # root's default stopping test, ‖F‖∞ <= 1e-10; scipy Newton uses the same
BRATU_SLOW = 20.0  # a route whose first timed run takes longer is not repeated


def _bratu_problem(N, lam):
    """F(u) = A u - h²λ exp(u) (5-point Laplacian A, zero boundary) and A as scipy CSC."""
    import scipy.sparse as sp

    h = 1.0 / (N + 1)
    bratu = bratu_residual(N, lam)

    T = sp.diags([-np.ones(N - 1), 2 * np.ones(N), -np.ones(N - 1)], [-1, 0, 1])
    laplacian = (sp.kron(sp.eye(N), T) + sp.kron(T, sp.eye(N))).tocsc()
    return bratu, laplacian, h


def _bratu_breakdown(run):
    """Seconds of one `run()` spent in the AMG setup, the Krylov solves and SuperLU."""
    from jachess.optimize import _root_sparse as rs

    spent = {"amg_setup": 0.0, "krylov": 0.0, "superlu": 0.0}
    originals = {"_pcg": rs._pcg, "_superlu": rs._superlu}
    hierarchy = rs._LinearSolver._hierarchy

    def timed(name, fun):
        def wrapper(*args):
            start = time.perf_counter()
            try:
                return fun(*args)
            finally:
                spent[name] += time.perf_counter() - start
        return wrapper

    rs._pcg = timed("krylov", originals["_pcg"])
    rs._superlu = timed("superlu", originals["_superlu"])
    rs._LinearSolver._hierarchy = timed("amg_setup", hierarchy)
    try:
        start = time.perf_counter()
        run()
        total = time.perf_counter() - start
    finally:
        rs._pcg, rs._superlu = originals["_pcg"], originals["_superlu"]
        rs._LinearSolver._hierarchy = hierarchy
    spent["other (F, J, CSR refresh, line search)"] = total - sum(spent.values())
    return {k: round(v, 4) for k, v in spent.items()} | {"total": round(total, 4)}


def bench_bratu(sizes, repeats, lam=6.0):
    """Whole solves from u = 0 after a warm-up call, the routes interleaved round by round.

    Timed: jachess root(sparsity="auto") from call to result, after one call that
    detected the pattern, coloured it and compiled F and the compressed Jacobian
    (that first call is recorded separately, as first_call_seconds). scipy routes:
    the same jitted F (compiled before timing); Newton with the explicit sparse
    Jacobian A - h²λ diag(eᵘ) and spsolve (SuperLU) with permc_spec MMD_AT_PLUS_A
    (its fastest ordering for this symmetric pattern) and with the default COLAMD;
    root(method="krylov") preconditioner-free at its default fatol (6e-6) and, for
    N <= 100, at fatol = 1e-10 (the other routes' tolerance; at 300 x 300 that run
    took 435 s).
    """
    import scipy.optimize as so
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    from jachess.optimize import root
    from jachess.optimize._root_sparse import AMG_MIN_SIZE, _pyamg

    for N in sizes:
        ours = ("newton sparse (pyamg RS-AMG V-cycle + CG)" if _pyamg() and N * N >= AMG_MIN_SIZE
                else "newton sparse (SuperLU)")
        bratu, laplacian, h = _bratu_problem(N, lam)
        x0 = jnp.zeros(N * N)
        F_jit = jax.jit(bratu)
        F_jit(x0).block_until_ready()

        def F_np(u):
            return np.asarray(F_jit(u))

        def jachess_root():
            r = root(bratu, x0, sparsity="auto", tol=BRATU_TOL)
            jax.block_until_ready(r.x)
            return np.asarray(r.fun), int(r.num_iterations)

        def scipy_newton(permc_spec):
            def run():
                u = np.zeros(N * N)
                F = F_np(u)
                k = 0
                while np.max(np.abs(F)) > BRATU_TOL and k < 50:
                    J = laplacian - sp.diags(h * h * lam * np.exp(u))
                    u = u + spla.spsolve(J.tocsc(), -F, permc_spec=permc_spec)
                    F = F_np(u)
                    k += 1
                return F, k
            return run

        def scipy_krylov(fatol):
            def run():
                options = {} if fatol is None else {"fatol": fatol}
                r = so.root(F_np, np.zeros(N * N), method="krylov", options=options)
                return F_np(r.x), int(r.nit)
            return run

        routes = [("jachess", ours, BRATU_TOL, jachess_root),
                  ("scipy", "Newton + spsolve MMD_AT_PLUS_A (explicit sparse J)", BRATU_TOL,
                   scipy_newton("MMD_AT_PLUS_A")),
                  ("scipy", "Newton + spsolve COLAMD default (explicit sparse J)", BRATU_TOL,
                   scipy_newton("COLAMD")),
                  ("scipy", "root krylov (default fatol 6e-6)", 6e-6, scipy_krylov(None))]
        if N <= 100:
            routes.append(("scipy", "root krylov (fatol 1e-10)", BRATU_TOL, scipy_krylov(1e-10)))

        start = time.perf_counter()
        jachess_root()
        first_call = time.perf_counter() - start
        times = {method: [] for _, method, _, _ in routes}
        outs = {}
        for round_ in range(repeats):
            for _, method, _, run in routes:
                if round_ and times[method][0] > BRATU_SLOW:
                    continue
                start = time.perf_counter()
                outs[method] = run()
                times[method].append(time.perf_counter() - start)
        breakdown = _bratu_breakdown(jachess_root)
        for library, method, tol, _ in routes:
            F, iterations = outs[method]
            residual = float(np.max(np.abs(F)))
            row = dict(section="bratu", library=library, method=method, N=N,
                       success=residual <= tol, iterations=iterations,
                       seconds=float(np.median(times[method])),
                       runs=[round(t, 4) for t in times[method]], tol=tol, residual=residual)
            if library == "jachess":
                row |= dict(first_call_seconds=round(first_call, 4), breakdown=breakdown)
            _record(**row)


# ---------------------------------------------------------------------------------- report


def report():
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    out = ["# jachess.optimize benchmarks", ""]
    mgh = [r for r in rows if r["section"] == "mgh"]
    if mgh:
        latest = {}
        for r in mgh:
            latest[(r["library"], r["method"], r["problem"])] = r
        keys = sorted({(lib, m) for lib, m, _ in latest})
        problems = sorted({p for _, _, p in latest})
        out += [f"## MGH problems {', '.join(map(str, problems))}", "",
                "| library | method | success / run | median time per solve (ms) | "
                "median iterations |", "|---|---|---|---|---|"]
        for lib, m in keys:
            rs = [r for (a, b, _), r in latest.items() if (a, b) == (lib, m)]
            t = np.nanmedian([r["seconds"] for r in rs]) * 1e3
            out.append(f"| {lib} | {m} | {sum(r['success'] for r in rs)} / {len(rs)} | "
                       f"{t:.3f} | {int(np.median([r['iterations'] for r in rs]))} |")
        out += ["", "Median over problems of (jachess time / anchor time), same process, "
                "same problem (below 1: jachess faster):", "",
                "| jachess | anchor | median ratio | problems |", "|---|---|---|---|"]
        pairs = [
            ("bfgs", [("optimistix", "BFGS"), ("scipy", "BFGS")]),
            ("lbfgs", [("optimistix", "LBFGS"), ("jaxopt", "LBFGS"), ("scipy", "L-BFGS-B")]),
            ("newton", [("scipy", "Newton-CG"), ("scipy", "trust-exact")]),
            ("trust-ncg", [("scipy", "trust-ncg"), ("scipy", "trust-krylov")]),
            ("trust-exact", [("scipy", "trust-exact")]),
            ("lm", [("optimistix", "LevenbergMarquardt"), ("jaxopt", "LevenbergMarquardt"),
                    ("scipy", "lm"), ("scipy", "trf")]),
            ("gauss-newton", [("optimistix", "GaussNewton")]),
        ]
        for ours, anchors in pairs:
            for lib, m in anchors:
                ratios = [latest[("jachess", ours, p)]["seconds"] / latest[(lib, m, p)]["seconds"]
                          for p in problems
                          if ("jachess", ours, p) in latest and (lib, m, p) in latest]
                ratios = [x for x in ratios if np.isfinite(x)]
                if ratios:
                    out.append(f"| {ours} | {lib} {m} | {np.median(ratios):.3f} | "
                               f"{len(ratios)} |")
        out.append("")
    for section, key in (("rosen", "n"), ("bratu", "N")):
        rs = [r for r in rows if r["section"] == section]
        if not rs:
            continue
        out += [f"## {section}", "", f"| library | method | {key} | success | iterations | "
                "seconds |", "|---|---|---|---|---|---|"]
        for r in rs:
            out.append(f"| {r['library']} | {r['method']} | {r[key]} | {r['success']} | "
                       f"{r['iterations']} | {r['seconds']:.4f} |")
        out.append("")
    print("\n".join(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", choices=["mgh", "rosen", "bratu"])
    parser.add_argument("--family", default="ours,scipy,optimistix,jaxopt",
                        help="comma-separated: " + ", ".join(FAMILIES))
    parser.add_argument("--problems", default="", help="comma-separated MGH numbers")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", default="")
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if args.report:
        report()
        return
    if args.section == "mgh":
        chosen = {int(v) for v in args.problems.split(",") if v}
        problems = [p for p in PROBLEMS if not chosen or p.number in chosen]
        bench_mgh(args.family.split(","), args.repeats, problems)
    elif args.section == "rosen":
        bench_rosen([int(float(s)) for s in (args.sizes or "1e3,1e4,1e5").split(",")],
                    args.repeats)
    elif args.section == "bratu":
        bench_bratu([int(s) for s in (args.sizes or "100,300").split(",")], args.repeats)


if __name__ == "__main__":
    main()
