"""Dense Jacobians and Hessians: jachess against jax.jacfwd / jax.jacrev / jax.hessian
and numdifftools, in one process.

    .venv/bin/python benchmarks/dense.py [--repeats 30] [--out benchmarks/results/dense.md]

f(x) = tanh(W x + b) for (n, m) in {(1000, 1000), (1000, 10), (10, 1000)}; a dense
scalar function's Hessian at n = 500; numdifftools at n = 100. Steady-state times are
medians of `repeats` calls after compilation (block_until_ready); compile time is the
first call. jachess is called through its public function, so its per-call checks and
dispatch are included; the JAX anchors are pre-jitted functions.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import jachess

jax.config.update("jax_enable_x64", True)


def median_time(fn, repeats: int) -> tuple[float, float]:
    """(first-call seconds, median steady-state seconds)."""
    start = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return first, float(np.median(times))


def interleaved(candidates: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """{name: (first-call seconds, median seconds)}, calls alternating between candidates.

    Alternating (rather than timing one candidate, then the next) spreads the machine's
    drift over all of them, and shuffling the order each round keeps any one candidate
    from always running right after a slow, cache-flushing one.
    """
    rng = np.random.default_rng(0)
    first = {}
    for name, fn in candidates.items():
        start = time.perf_counter()
        jax.block_until_ready(fn())
        first[name] = time.perf_counter() - start
    times = {name: [] for name in candidates}
    if max(first.values()) < 5e-3:  # fast calls: many more repeats, for a stable median
        repeats *= 10
    names = list(candidates)
    for _ in range(repeats):
        for name in rng.permutation(names):
            start = time.perf_counter()
            jax.block_until_ready(candidates[name]())
            times[name].append(time.perf_counter() - start)
    return {name: (first[name], float(np.median(times[name]))) for name in candidates}


def tanh_layer(n: int, m: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    W = jnp.asarray(rng.normal(size=(m, n)) / np.sqrt(n))
    b = jnp.asarray(rng.normal(size=m))
    x = jnp.asarray(rng.normal(size=n))

    def f(x):
        return jnp.tanh(W @ x + b)

    return f, x


def dense_scalar(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    A = jnp.asarray(rng.normal(size=(n, n)) / np.sqrt(n))
    x = jnp.asarray(rng.normal(size=n))

    def f(x):
        return jnp.sum(jnp.log(jnp.cosh(A @ x))) + 0.5 * jnp.sum(x**2)

    return f, x


def jacobian_rows(repeats: int) -> list[dict]:
    rows = []
    for n, m in [(1000, 1000), (1000, 10), (10, 1000)]:
        f, x = tanh_layer(n, m)
        jacfwd, jacrev = jax.jit(jax.jacfwd(f)), jax.jit(jax.jacrev(f))
        t = interleaved({"ours": lambda: jachess.jacobian(f, x), "fwd": lambda: jacfwd(x),
                         "rev": lambda: jacrev(x)}, repeats)
        ours, fwd, rev = t["ours"], t["fwd"], t["rev"]
        np.testing.assert_allclose(jachess.jacobian(f, x), jacfwd(x), rtol=1e-12, atol=1e-14)
        best = min(fwd[1], rev[1])
        rows.append(dict(problem=f"jacobian tanh(Wx+b) n={n} m={m}", ours=ours[1],
                         jacfwd=fwd[1], jacrev=rev[1], ratio=ours[1] / best,
                         compile_ours=ours[0], compile_jax=min(fwd[0], rev[0])))
    f, x = dense_scalar(500)
    hessian = jax.jit(jax.hessian(f))
    t = interleaved({"ours": lambda: jachess.hessian(f, x), "ref": lambda: hessian(x)}, repeats)
    ours, ref = t["ours"], t["ref"]
    np.testing.assert_allclose(jachess.hessian(f, x), hessian(x), rtol=1e-10, atol=1e-12)
    rows.append(dict(problem="hessian dense scalar n=500", ours=ours[1], jacfwd=ref[1],
                     jacrev=float("nan"), ratio=ours[1] / ref[1], compile_ours=ours[0],
                     compile_jax=ref[0]))
    return rows


def dispatch_row() -> dict:
    """Per-call overhead alone: a 10-entry function whose compiled program is trivial."""
    import timeit

    x = jnp.linspace(0.0, 1.0, 10)

    def f(v):
        return 2.0 * v

    jacfwd = jax.jit(jax.jacfwd(f))
    jax.block_until_ready((jacfwd(x), jachess.jacobian(f, x)))
    result = {}
    for name, fn in (("jax", lambda: jacfwd(x)), ("ours", lambda: jachess.jacobian(f, x))):
        result[name] = min(timeit.repeat(fn, number=2000, repeat=5)) / 2000
    return result


def numdifftools_row(repeats: int) -> dict:
    import numdifftools as nd

    f, x = tanh_layer(100, 100)
    x_np = np.asarray(x)
    f_np = jax.jit(f)
    jac_nd = nd.Jacobian(lambda v: np.asarray(f_np(v)))
    t = interleaved({"nd": lambda: jac_nd(x_np), "ours": lambda: jachess.jacobian(f, x)},
                    max(3, repeats // 10))
    nd_time, ours = t["nd"][1], t["ours"][1]
    error = float(np.max(np.abs(jac_nd(x_np) - np.asarray(jachess.jacobian(f, x)))))
    return dict(ours=ours, numdifftools=nd_time, speedup=nd_time / ours, nd_max_error=error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", default=None, help="also write the table to this file")
    args = parser.parse_args()
    lines = [f"jax {jax.__version__}, device {jax.devices()[0].device_kind}, float64, "
             f"median of {args.repeats} shuffled interleaved calls after compilation", "",
             "| problem | jachess auto | jax.jacfwd | jax.jacrev | jachess / faster | "
             "compile jachess | compile jax |", "|---|---|---|---|---|---|---|"]
    for r in jacobian_rows(args.repeats):
        rev = "n/a (jax.hessian)" if np.isnan(r["jacrev"]) else f"{r['jacrev'] * 1e3:.3f} ms"
        lines.append(f"| {r['problem']} | {r['ours'] * 1e3:.3f} ms | {r['jacfwd'] * 1e3:.3f} ms"
                     f" | {rev} | {r['ratio']:.2f}x | {r['compile_ours']:.2f} s | "
                     f"{r['compile_jax']:.2f} s |")
    d = dispatch_row()
    lines += ["", f"dispatch alone (10-entry function, best of 5 x 2000 calls): jachess "
              f"{d['ours'] * 1e6:.1f} us, jitted jax.jacfwd {d['jax'] * 1e6:.1f} us"]
    r = numdifftools_row(args.repeats)
    lines += ["", f"numdifftools at n = m = 100: {r['numdifftools'] * 1e3:.1f} ms, jachess "
              f"{r['ours'] * 1e3:.3f} ms: {r['speedup']:.0f}x faster "
              f"(numdifftools max abs error {r['nd_max_error']:.1e})"]
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as handle:
            handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
