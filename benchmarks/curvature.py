"""Curvature at model scale: jachess.operators + jachess.spectral against the anchors.

Problems (curvature_problems.py, fixed NumPy seed): an MLP 64-256-256-10 (tanh, 85,002
parameters, cross-entropy, 2048 samples in batches of 512) and a CNN with 1,055,082
parameters (two 3x3 convolutions, 512 images 3x16x16 in batches of 128).

In this process (JAX, float32 at full precision, CPU): jachess; scipy eigsh over a
jitted JAX HVP (forward-over-reverse, the anchor to beat); matfree (fixed-depth
Lanczos eigh_partial, XTrace). In a second process (its own venv): PyHessian and
curvlinops (benchmarks/curvature_torch.py), on the same weights and data.

Measured: time per full-dataset HVP; top-5 eigenvalues at tol 1e-3 (time, HVPs,
relative error against a float64 reference solve); trace from 100 matvecs (mean
relative error over 20 keys against BackPACK's exact float64 trace); compile times.

    .venv/bin/python benchmarks/curvature.py            # writes benchmarks/results/curvature.md
    .venv/bin/python benchmarks/curvature.py --no-torch # JAX side only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import jax

jax.config.update("jax_enable_x64", True)  # float64 references; benchmarks stay float32

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse.linalg  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import jachess.spectral as spectral  # noqa: E402
from _timing import median_time, timed  # noqa: E402
from curvature_problems import make_problems  # noqa: E402
from jachess.operators import Hessian  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


# -- models (PyTorch layouts: Linear weight (out, in), images NCHW) -------------------
def mlp(params, x):
    for i in range(3):
        x = x @ params[f"w{i}"].T + params[f"b{i}"]
        if i < 2:
            x = jnp.tanh(x)
    return x


def cnn(params, x):
    dn = ("NCHW", "OIHW", "NCHW")
    for i in range(2):
        x = jax.lax.conv_general_dilated(x, params[f"c{i}"], (1, 1), "SAME",
                                         dimension_numbers=dn)
        x = jnp.tanh(x + params[f"cb{i}"][None, :, None, None])
    x = x.reshape(x.shape[0], -1)
    x = jnp.tanh(x @ params["w0"].T + params["b0"])
    return x @ params["w1"].T + params["b1"]


def cross_entropy(logits, y):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def make_loss(model):
    def loss(params, batch):
        x, y = batch
        return cross_entropy(model(params, x), y)

    return loss


def load(arrays, prefix, dtype):
    params = {k[len(prefix) + 1 :]: jnp.asarray(v, dtype) for k, v in arrays.items()
              if k.startswith(prefix + "_") and k not in (f"{prefix}_x", f"{prefix}_y")}
    x = jnp.asarray(arrays[f"{prefix}_x"], dtype)
    y = jnp.asarray(arrays[f"{prefix}_y"], jnp.int32)
    return params, x, y


def plain_hvp(loss, params, x, y, batch_size):
    """The anchor: jax.jvp(jax.grad(mean loss)) over the batches, jitted, flat vectors."""
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    starts = range(0, x.shape[0], batch_size)

    def mean_loss(f, x, y):
        p = unravel(f)
        return sum(loss(p, (x[s : s + batch_size], y[s : s + batch_size]))
                   * (min(batch_size, x.shape[0] - s) / x.shape[0]) for s in starts)

    @jax.jit
    def core(f, v, x, y):
        return jax.jvp(lambda g: jax.grad(mean_loss)(g, x, y), (f,), (v,))[1]

    def hvp(f, v):
        return core(f, v, x, y)

    return flat, hvp


def rel_error(values, reference):
    values, reference = np.sort(np.asarray(values)), np.sort(np.asarray(reference))
    return float(np.max(np.abs(values - reference) / np.abs(reference)))


def run_jax(arrays, quick, eigsh_only=False):
    import jax.flatten_util
    from matfree import decomp, eig, stochtrace

    out = {"jax": jax.__version__, "devices": str(jax.devices())}
    loss = make_loss(mlp)
    params, x, y = load(arrays, "mlp", jnp.float32)
    flat, hvp = plain_hvp(loss, params, x, y, 512)
    n = flat.size
    out["mlp_n"] = int(n)
    v = jax.random.normal(jax.random.key(1), (n,), jnp.float32)

    # Full-dataset HVP.
    _, out["plain_hvp_first_s"] = timed(lambda: hvp(flat, v))
    out["plain_hvp_s"] = median_time(lambda: hvp(flat, v))
    H = Hessian(loss, params, data=(x, y), batch_size=512)
    _, out["ours_hvp_first_s"] = timed(lambda: H @ v)
    out["ours_hvp_s"] = median_time(lambda: H @ v)
    V = jax.random.normal(jax.random.key(2), (n, 8), jnp.float32)
    out["ours_matmat8_per_vector_s"] = median_time(lambda: H.matmat(V)) / 8

    print(json.dumps(out), flush=True)

    # Reference top-5 eigenvalues: float64 operator, tight tolerance.
    params64, x64, y64 = load(arrays, "mlp", jnp.float64)
    H64 = Hessian(loss, params64, data=(x64, y64), batch_size=512)
    reference = spectral.eigsh(H64, 5, tol=1e-10, max_matvecs=2000)
    assert bool(np.all(reference.converged))
    ref_top5 = np.asarray(reference.eigenvalues)
    out["reference_top5"] = ref_top5.tolist()

    # Ours: top-5 at tol 1e-3.
    result, out["ours_top5_first_s"] = timed(lambda: spectral.eigsh(H, 5, tol=1e-3))
    out["ours_top5_s"] = median_time(lambda: spectral.eigsh(H, 5, tol=1e-3).eigenvalues, 5)
    out["ours_top5_hvps"] = int(result.num_matvecs)
    out["ours_top5_error"] = rel_error(result.eigenvalues, ref_top5)
    out["ours_top5_converged"] = bool(np.all(result.converged))
    result = spectral.eigsh(H, 5, tol=1e-4)
    out["ours_top5_tol4_s"] = median_time(lambda: spectral.eigsh(H, 5, tol=1e-4).eigenvalues, 3)
    out["ours_top5_tol4_hvps"] = int(result.num_matvecs)
    out["ours_top5_tol4_error"] = rel_error(result.eigenvalues, ref_top5)

    print(json.dumps(out), flush=True)

    # Anchor: scipy eigsh over the jitted JAX HVP.
    calls = {"n": 0}

    def matvec(z):
        calls["n"] += 1
        return np.asarray(hvp(flat, jnp.asarray(z, jnp.float32)))

    scipy_op = scipy.sparse.linalg.LinearOperator((n, n), matvec=matvec, dtype=np.float32)

    def scipy_solve():
        calls["n"] = 0
        return scipy.sparse.linalg.eigsh(scipy_op, k=5, which="LA", tol=1e-3,
                                         return_eigenvectors=False)

    scipy_values = scipy_solve()
    out["scipy_top5_hvps"] = calls["n"]
    out["scipy_top5_s"] = median_time(scipy_solve, 5)
    out["scipy_top5_error"] = rel_error(scipy_values, ref_top5)

    print(json.dumps(out), flush=True)

    # Anchor: matfree fixed-depth Lanczos (full reorthogonalisation), 60 matvecs.
    lanczos = eig.eigh_partial(decomp.tridiag_sym(60, reortho="full"))
    matfree_top = jax.jit(lambda f, v0: lanczos(lambda z: hvp(f, z), v0)[0][-5:])
    v0 = jax.random.normal(jax.random.key(3), (n,), jnp.float32)
    v0 = v0 / jnp.linalg.norm(v0)
    matfree_values = matfree_top(flat, v0)
    out["matfree_top5_s"] = median_time(lambda: matfree_top(flat, v0), 5)
    out["matfree_top5_hvps"] = 60
    out["matfree_top5_error"] = rel_error(matfree_values, ref_top5)

    print(json.dumps(out), flush=True)
    if eigsh_only:
        return out

    # Trace from 100 matvecs, 20 keys.
    keys = range(5 if quick else 20)
    for method in ("xtrace", "hutch++", "hutchinson"):
        values = [float(spectral.trace(H, num_matvecs=100, method=method,
                                       key=jax.random.key(s)).value) for s in keys]
        out[f"ours_trace_{method}"] = values
        out[f"ours_trace_{method}_s"] = median_time(
            lambda method=method: spectral.trace(H, num_matvecs=100, method=method,
                                                 key=jax.random.key(0)).value, 3)
    sampler = stochtrace.sampler_normal(flat, num=50)
    estimator = stochtrace.estimator_leave_one_out(stochtrace.leave_one_out_xtrace(), sampler)
    matfree_xtrace = jax.jit(lambda f, key: estimator(lambda z: hvp(f, z), key))
    out["matfree_xtrace"] = [float(matfree_xtrace(flat, jax.random.key(s))) for s in keys]
    out["matfree_xtrace_s"] = median_time(lambda: matfree_xtrace(flat, jax.random.key(0)), 3)
    signs = stochtrace.sampler_signs(flat, num=100)
    hutch = stochtrace.estimator_monte_carlo(stochtrace.monte_carlo_trace(), signs)
    matfree_hutch = jax.jit(lambda f, key: hutch(lambda z: hvp(f, z), key))
    out["matfree_hutchinson"] = [float(matfree_hutch(flat, jax.random.key(s))) for s in keys]

    print(json.dumps(out), flush=True)

    # CNN, >= 1M parameters: full-dataset HVP and top-1 eigenvalue.
    cnn_loss = make_loss(cnn)
    cparams, cx, cy = load(arrays, "cnn", jnp.float32)
    cflat, chvp = plain_hvp(cnn_loss, cparams, cx, cy, 128)
    out["cnn_n"] = int(cflat.size)
    cv = jax.random.normal(jax.random.key(4), cflat.shape, jnp.float32)
    _, out["cnn_plain_hvp_first_s"] = timed(lambda: chvp(cflat, cv))
    out["cnn_plain_hvp_s"] = median_time(lambda: chvp(cflat, cv), 3)
    CH = Hessian(cnn_loss, cparams, data=(cx, cy), batch_size=128)
    _, out["cnn_ours_hvp_first_s"] = timed(lambda: CH @ cv)
    out["cnn_ours_hvp_s"] = median_time(lambda: CH @ cv, 3)
    result, out["cnn_ours_top1_first_s"] = timed(lambda: spectral.eigsh(CH, 1, tol=1e-3))
    out["cnn_ours_top1_s"] = median_time(lambda: spectral.eigsh(CH, 1, tol=1e-3).eigenvalues, 1)
    out["cnn_ours_top1_hvps"] = int(result.num_matvecs)
    out["cnn_ours_top1"] = float(result.eigenvalues[0])
    return out


COMPILE_SNIPPET = """
import sys, time, jax, jax.numpy as jnp, numpy as np
sys.path.insert(0, {here!r})
import curvature as c
import jachess.spectral as spectral
from jachess.operators import Hessian
arrays = dict(np.load({problems!r}))
params, x, y = c.load(arrays, "mlp", jnp.float32)
H = Hessian(c.make_loss(c.mlp), params, data=(x, y), batch_size=512)
start = time.perf_counter()
spectral.eigsh(H, 5, tol=1e-3).eigenvalues.block_until_ready()
print(time.perf_counter() - start)
"""


def compile_cache_times(problems):
    """First call of eigsh in a fresh process: without, then with a warm persistent cache."""
    import tempfile

    times = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=cache,
                   JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
        code = COMPILE_SNIPPET.format(here=HERE, problems=problems)
        for label in ("cold_cache_s", "warm_cache_s"):
            done = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                  capture_output=True, text=True)
            times[label] = float(done.stdout.strip().splitlines()[-1])
    return times


def run_torch(problems):
    python = os.path.join(ROOT, ".venv-torch", "bin", "python")
    if not os.path.exists(python):
        return None
    target = problems.replace(".npz", "_torch.json")
    subprocess.run([python, os.path.join(HERE, "curvature_torch.py"), problems, target],
                   check=True)
    with open(target) as f:
        return json.load(f)


def report(j, t, command):
    lines = ["# Curvature at model scale (issue 4)", "",
             f"Command: `{command}`", "",
             f"JAX {j['jax']} on {j['devices']}, float32 at full precision; MLP 64-256-256-10 "
             f"({j['mlp_n']} params, 2048 samples, batches of 512); CNN ({j['cnn_n']} params, "
             "512 images 3x16x16, batches of 128). Medians of repeats after warm-up; the "
             "machine was shared (2 cores, other jobs running), so compare ratios within "
             "this run.", ""]
    ref = np.asarray(j["reference_top5"])
    lines += ["## Full-dataset HVP", "", "| problem | method | time (ms) | vs plain JAX |",
              "|---|---|---|---|"]
    rows = [("MLP", "plain jitted JAX (jvp of grad)", j["plain_hvp_s"]),
            ("MLP", "jachess `H @ v`", j["ours_hvp_s"]),
            ("MLP", "jachess `H.matmat(V)`, 8 vectors, per vector",
             j["ours_matmat8_per_vector_s"]),
            ("MLP", "jachess inside eigsh (solve time / HVPs)",
             j["ours_top5_s"] / j["ours_top5_hvps"])]
    if t:
        rows += [("MLP", "PyHessian", t["mlp_pyhessian"]["hvp_s"]),
                 ("MLP", "curvlinops", t["mlp_curvlinops"]["hvp_s"])]
    rows += [("CNN", "plain jitted JAX (jvp of grad)", j["cnn_plain_hvp_s"]),
             ("CNN", "jachess `H @ v`", j["cnn_ours_hvp_s"]),
             ("CNN", "jachess inside eigsh (solve time / HVPs)",
              j["cnn_ours_top1_s"] / j["cnn_ours_top1_hvps"])]
    if t:
        rows += [("CNN", "PyHessian", t["cnn_pyhessian"]["hvp_s"]),
                 ("CNN", "curvlinops", t["cnn_curvlinops"]["hvp_s"])]
    for problem, name, seconds in rows:
        base = j["plain_hvp_s"] if problem == "MLP" else j["cnn_plain_hvp_s"]
        lines.append(f"| {problem} | {name} | {1e3 * seconds:.2f} | {seconds / base:.2f}x |")
    lines += ["", "## Top-5 eigenvalues of the MLP Hessian (tol 1e-3)", "",
              f"Reference (jachess eigsh in float64, tol 1e-10): {np.array2string(ref, precision=6)}",
              "", "| method | time (s) | HVPs | max relative error | time vs scipy+JAX |",
              "|---|---|---|---|---|"]
    rows = [("jachess eigsh", j["ours_top5_s"], j["ours_top5_hvps"], j["ours_top5_error"]),
            ("jachess eigsh, tol 1e-4", j["ours_top5_tol4_s"], j["ours_top5_tol4_hvps"],
             j["ours_top5_tol4_error"]),
            ("scipy eigsh over jitted JAX HVP", j["scipy_top5_s"], j["scipy_top5_hvps"],
             j["scipy_top5_error"]),
            ("matfree eigh_partial, 60 Lanczos steps", j["matfree_top5_s"],
             j["matfree_top5_hvps"], j["matfree_top5_error"])]
    if t:
        for name, key in (("PyHessian (power iteration, defaults)", "mlp_pyhessian"),
                          ("curvlinops + scipy eigsh", "mlp_curvlinops")):
            side = t[key]
            rows.append((name, side["top5_s"], side["top5_hvps"], rel_error(side["top5"], ref)))
    for name, seconds, hvps, err in rows:
        lines.append(f"| {name} | {seconds:.3f} | {hvps} | {err:.1e} | "
                     f"{seconds / j['scipy_top5_s']:.2f}x |")
    lines += ["", f"First call (compile + solve): jachess eigsh {j['ours_top5_first_s']:.1f} s, "
              f"`H @ v` {j['ours_hvp_first_s']:.1f} s, plain JAX HVP "
              f"{j['plain_hvp_first_s']:.1f} s (no persistent cache). In a fresh process, "
              f"first eigsh call {j['cold_cache_s']:.1f} s with an empty persistent "
              f"compilation cache, {j['warm_cache_s']:.1f} s with it warm "
              "(JAX_COMPILATION_CACHE_DIR).", ""]
    if t:
        exact = t["mlp_exact_trace"]
        lines += ["## Trace of the MLP Hessian from 100 matvecs", "",
                  f"Exact trace (BackPACK DiagHessian, float64): {exact:.6f}.", "",
                  "| method | mean relative error | keys | time per estimate (s) |",
                  "|---|---|---|---|"]
        for name, key, tkey in (
            ("jachess XTrace", "ours_trace_xtrace", "ours_trace_xtrace_s"),
            ("jachess Hutch++", "ours_trace_hutch++", "ours_trace_hutch++_s"),
            ("jachess Hutchinson", "ours_trace_hutchinson", "ours_trace_hutchinson_s"),
            ("matfree XTrace", "matfree_xtrace", "matfree_xtrace_s"),
            ("matfree Hutchinson", "matfree_hutchinson", None),
        ):
            values = np.asarray(j[key])
            err = np.mean(np.abs(values - exact)) / abs(exact)
            seconds = f"{j[tkey]:.3f}" if tkey else "-"
            lines.append(f"| {name} | {err:.4f} | {len(values)} | {seconds} |")
        side = t["mlp_curvlinops"]
        err = np.mean(np.abs(np.asarray(side["xtrace_values"]) - exact)) / abs(exact)
        lines.append(f"| curvlinops XTrace | {err:.4f} | {len(side['xtrace_values'])} | "
                     f"{side['xtrace_s']:.3f} |")
        side = t["mlp_pyhessian"]
        err = abs(side["trace"] - exact) / abs(exact)
        lines.append(f"| PyHessian trace (maxIter=100; stopped after {side['trace_hvps']} "
                     f"HVPs) | {err:.4f} | 1 | {side['trace_s']:.3f} |")
    lines += ["", f"CNN top-1 eigenvalue (tol 1e-3): {j['cnn_ours_top1']:.6g} in "
              f"{j['cnn_ours_top1_s']:.2f} s, {j['cnn_ours_top1_hvps']} HVPs.", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--quick", action="store_true", help="5 trace keys instead of 20")
    parser.add_argument("--eigsh-only", action="store_true",
                        help="MLP HVP and top-5 sections only; print JSON, write no report")
    parser.add_argument("--problems", default="/tmp/jachess_curvature.npz")
    parser.add_argument("--torch-json", help="reuse curvature_torch.py results for the "
                        "same (seeded) problems instead of running it again")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "curvature.md"))
    args = parser.parse_args()
    make_problems(args.problems)
    arrays = dict(np.load(args.problems))
    if args.torch_json:
        with open(args.torch_json) as f:
            torch_results = json.load(f)
    else:
        torch_results = None if args.no_torch else run_torch(args.problems)
    if args.eigsh_only:
        print(json.dumps(run_jax(arrays, args.quick, eigsh_only=True)))
        return
    jax_results = run_jax(arrays, args.quick)
    jax_results.update(compile_cache_times(args.problems))
    with open(args.problems.replace(".npz", "_jax.json"), "w") as f:
        json.dump(jax_results, f, indent=1)
    command = "python " + " ".join(["benchmarks/curvature.py", *sys.argv[1:]])
    text = report(jax_results, torch_results, command)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
