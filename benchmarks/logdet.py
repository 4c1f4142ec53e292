"""Log-determinants at scale: exact dense vs structured vs stochastic; bijector log-dets
against distrax.

Maps (float64, fixed keys):
  autoregressive  y_i = x_i·exp(s_i) + t_i, s and t depending on x_{i-1..i-3}
                  (banded lower-triangular J); exact log|det J| = Σ s_i analytically.
  residual        y = x + 0.9·tanh(k ⊛ x), a circulant convolution with ‖k ⊛‖₂ = 1
                  (Lipschitz g = 0.9 < 1, as in residual flows); J is dense; the
                  reference is the dense LU value.
Stages timed separately: compile (dense, structured evaluation), prepare (structured:
detection + matching + colouring, once per function and shape), evaluate (median of
repeats after a warm-up, block_until_ready). Stochastic: 32 probes x 40 Lanczos steps,
timed whole (the spectral layer compiles inside), median of repeats after a warm-up.

Bijectors: jachess layers (vmapped over a batch) against distrax's (Block / MaskedCoupling)
on the same parameters, forward_and_log_det of a batch, median of repeats.

    .venv/bin/python benchmarks/logdet.py              # writes benchmarks/results/logdet.md
    .venv/bin/python benchmarks/logdet.py --sizes 100 1000   # quicker
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jachess  # noqa: E402
from jachess._derivatives._slogdet_methods import prepare_structured  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from _timing import median_time, timed  # noqa: E402
from problems.residual_flow import residual_map  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LAGS = 3


def shifted(x, k):
    return jnp.concatenate([jnp.zeros(k, x.dtype), x[:-k]])


def autoregressive_map():
    a = jnp.array([0.5, -0.3, 0.2])
    b = jnp.array([0.8, 0.1, -0.4])

    def scale_shift(x):
        lagged = [shifted(x, k + 1) for k in range(LAGS)]
        s = jnp.tanh(sum(a[k] * lagged[k] for k in range(LAGS)))
        t = sum(b[k] * jnp.sin(lagged[k]) for k in range(LAGS))
        return s, t

    def f(x):
        s, t = scale_shift(x)
        return x * jnp.exp(s) + t

    def exact(x):
        return jnp.sum(scale_shift(x)[0])

    return f, exact


def compiled(fn, x):
    start = time.perf_counter()
    executable = jax.jit(fn).lower(x).compile()
    return executable, time.perf_counter() - start


def bench_dense(f, x, repeats):
    executable, compile_s = compiled(
        lambda z: jachess.slogdet_jacobian(f, z, method="dense").logabsdet, x)
    if x.shape[0] >= 5000:  # one run: n JVPs + an n³ LU is long, and the figure is stable
        value, seconds = timed(lambda: executable(x))
    else:
        value = executable(x)
        seconds = median_time(lambda: executable(x), repeats)
    return float(value), seconds, compile_s


def bench_structured(f, x, repeats):
    plan, prepare_s = timed(lambda: prepare_structured(f, x))
    executable, compile_s = compiled(
        lambda z: jachess.slogdet_jacobian(f, z, method="structured").logabsdet, x)
    value = executable(x)
    seconds = median_time(lambda: executable(x), repeats)
    return float(value), seconds, compile_s, prepare_s, plan.num_colors


def bench_stochastic(f, x, key, repeats):
    def run():
        return jachess.slogdet_jacobian(f, x, method="stochastic", key=key)

    result = run()
    seconds = median_time(lambda: run().logabsdet, repeats)
    return float(result.logabsdet), float(result.std_error), seconds


def logdet_rows(sizes, repeats):
    rows = []
    key = jax.random.key(0)
    for n in sizes:
        x = 0.5 * jax.random.normal(jax.random.fold_in(key, n), (n,))
        ar, ar_exact = autoregressive_map()
        exact = float(ar_exact(x))
        dense, dense_s, dense_c = bench_dense(ar, x, repeats)
        struct, struct_s, struct_c, prep_s, colors = bench_structured(ar, x, repeats)
        stoch, stoch_se, stoch_s = bench_stochastic(ar, x, key, max(1, repeats // 2))
        rows.append(dict(map="autoregressive", n=n, exact=exact, dense=dense, dense_s=dense_s,
                         dense_c=dense_c, struct=struct, struct_s=struct_s, struct_c=struct_c,
                         prep_s=prep_s, colors=colors, stoch=stoch, stoch_se=stoch_se,
                         stoch_s=stoch_s))
        print(rows[-1], flush=True)
        res = residual_map(n, jax.random.fold_in(key, 10 * n), 0.9)
        dense, dense_s, dense_c = bench_dense(res, x, repeats)
        stoch, stoch_se, stoch_s = bench_stochastic(res, x, key, max(1, repeats // 2))
        rows.append(dict(map="residual", n=n, exact=dense, dense=dense, dense_s=dense_s,
                         dense_c=dense_c, stoch=stoch, stoch_se=stoch_se, stoch_s=stoch_s))
        print(rows[-1], flush=True)
    return rows


def bijector_rows(batch, dim, repeats):
    import distrax

    from jachess.density import Affine, AffineCoupling, Tanh

    key = jax.random.key(1)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    xs = 0.5 * jax.random.normal(k1, (batch, dim))
    shift, scale = jax.random.normal(k2, (dim,)), jnp.exp(0.3 * jax.random.normal(k3, (dim,)))
    w1 = jax.random.normal(k4, (64, dim)) / np.sqrt(dim)
    w2 = jax.random.normal(jax.random.fold_in(k4, 1), (2 * dim, 64)) / 8.0
    mask = jnp.arange(dim) % 2 == 0

    def net(z):
        out = w2 @ jnp.tanh(w1 @ z)
        return out[:dim], 0.5 * jnp.tanh(out[dim:])

    def distrax_conditioner(z):  # distrax calls it on the batch; returns the layer's params
        return jax.vmap(net)(z)

    layers = {
        "affine": (Affine(shift, scale), distrax.Block(distrax.ScalarAffine(shift, scale), 1)),
        "tanh": (Tanh(), distrax.Block(distrax.Tanh(), 1)),
        "affine coupling": (
            AffineCoupling(mask, net),
            distrax.MaskedCoupling(
                mask, distrax_conditioner,
                lambda p: distrax.ScalarAffine(shift=p[0], log_scale=p[1])),
        ),
    }
    rows = []
    for name, (ours, theirs) in layers.items():
        ours_fn = jax.jit(lambda z, b=ours: jax.vmap(b.forward_and_log_det)(z))
        theirs_fn = jax.jit(lambda z, b=theirs: b.forward_and_log_det(z))
        (y1, l1), (y2, l2) = ours_fn(xs), theirs_fn(xs)
        agree = float(jnp.max(jnp.abs(l1 - l2)) + jnp.max(jnp.abs(y1 - y2)))
        # Interleave to share the machine's noise.
        t_ours = median_time(lambda f=ours_fn: f(xs), repeats)
        t_theirs = median_time(lambda f=theirs_fn: f(xs), repeats)
        t_ours = min(t_ours, median_time(lambda f=ours_fn: f(xs), repeats))
        t_theirs = min(t_theirs, median_time(lambda f=theirs_fn: f(xs), repeats))
        generic = jax.jit(jax.vmap(lambda z, b=ours: jachess.slogdet_jacobian(
            b.forward, z, method="dense").logabsdet))
        np.testing.assert_allclose(generic(xs), l1, rtol=1e-9, atol=1e-9)
        t_generic = median_time(lambda g=generic: g(xs), max(3, repeats // 3))
        rows.append(dict(layer=name, ours=t_ours, distrax=t_theirs, generic=t_generic,
                         agree=agree))
        print(rows[-1], flush=True)
    return rows


NOTES = [
    "Reading the table:",
    "- Speed-up vs dense compares evaluation times; 'incl. prepare + compile' charges the "
    "structured method its one-off detection, colouring and compilation as well (a single "
    "call on a new function). The dense column excludes its own compile time.",
    "- Dense at n = 10000 is one timed run (n JVPs and an n³ LU); smaller sizes are medians.",
    "- The stochastic estimate's absolute error scales roughly like the off-diagonal "
    "Frobenius norm of log JᵀJ over √probes (Hutchinson's variance). For the "
    "residual map log|det J| grows like n and the relative error is small; for the "
    "autoregressive map log|det J| = Σ s_i nearly cancels (|Σ s_i| ≪ ‖s‖), so the same "
    "absolute error is a large relative one, and the reported standard error says so. "
    "method='auto' takes the exact structured method for such maps.",
]


def fmt_s(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def rel(a, b):
    return abs(a - b) / abs(b)


def write(path, rows, brows, args, elapsed):
    lines = [
        "# Log-determinants (benchmarks/logdet.py)",
        "",
        f"Command: `.venv/bin/python benchmarks/logdet.py{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs visible, JAX {jax.__version__} "
        f"on {jax.devices()[0].platform}, float64; shared machine (other jobs running), so "
        "compare ratios within this run. Total run {:.0f} s.".format(elapsed),
        "",
        "Relative error against the exact value (autoregressive: Σ s_i analytically; "
        "residual: dense LU). Times: evaluation only, compile and prepare listed apart.",
        "",
        "| map | n | dense LU | structured eval (colours) | speed-up vs dense | "
        "structured prepare / compile | speed-up incl. prepare + compile | "
        "rel. error structured | stochastic (32x40) | rel. error stochastic ± 1 s.e. |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        dense_err = rel(r["dense"], r["exact"])
        if r["map"] == "autoregressive":
            once = r["struct_s"] + r["prep_s"] + r["struct_c"]
            struct = (f"{fmt_s(r['struct_s'])} ({r['colors']})",
                      f"{r['dense_s'] / r['struct_s']:.0f}x",
                      f"{fmt_s(r['prep_s'])} / {fmt_s(r['struct_c'])}",
                      f"{r['dense_s'] / once:.2g}x",
                      f"{rel(r['struct'], r['exact']):.1e}")
        else:
            struct = ("n/a (dense pattern)", "", "", "", "")
        lines.append(
            f"| {r['map']} | {r['n']} | {fmt_s(r['dense_s'])} (rel. err {dense_err:.0e}) | "
            f"{struct[0]} | {struct[1]} | {struct[2]} | {struct[3]} | {struct[4]} | "
            f"{fmt_s(r['stoch_s'])} | "
            f"{rel(r['stoch'], r['exact']):.2%} ± {r['stoch_se'] / abs(r['exact']):.2%} |"
        )
    lines += ["", *NOTES]
    lines += [
        "",
        f"Bijector log-dets: forward_and_log_det on a batch of {args.batch} x {args.dim}, "
        "jachess (jax.vmap over samples) vs distrax (Block / MaskedCoupling, batched); "
        "'generic' is jachess's exact dense slogdet of the same layer's forward (what "
        "pushforward does for a bijector without a log-det method); it returns only the "
        "log-dets, not y, so it is not a like-for-like time where the layer is cheap (affine).",
        "",
        "| layer | jachess | distrax | jachess / distrax | generic dense slogdet | "
        "max abs diff vs distrax |",
        "|---|---|---|---|---|---|",
    ]
    for b in brows:
        lines.append(f"| {b['layer']} | {fmt_s(b['ours'])} | {fmt_s(b['distrax'])} | "
                     f"{b['ours'] / b['distrax']:.2f} | {fmt_s(b['generic'])} | {b['agree']:.1e} |")
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--output", default=os.path.join(HERE, "results", "logdet.md"))
    args = parser.parse_args()
    start = time.perf_counter()
    brows = bijector_rows(args.batch, args.dim, args.repeats)
    rows = logdet_rows(args.sizes, args.repeats)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    write(args.output, rows, brows, args, time.perf_counter() - start)


if __name__ == "__main__":
    main()
