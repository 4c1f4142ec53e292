"""PyTorch anchors for benchmarks/curvature.py: PyHessian and curvlinops (CPU).

Runs in its own venv (torch cannot share one with JAX here):

    python3 -m venv .venv-torch
    .venv-torch/bin/pip install torch==2.13.0 pyhessian curvlinops-for-pytorch
    .venv-torch/bin/python benchmarks/curvature_torch.py PROBLEMS.npz OUT.json

It loads the weights and data that curvature.py generated (curvature_problems.py, fixed
NumPy seed) and writes timings, matvec counts and results as JSON. The exact float64
trace of the MLP's Hessian comes from BackPACK's DiagHessian (exact for Linear, Tanh
and cross-entropy), the reference for every trace estimator.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np
import scipy.sparse.linalg
import torch
from torch import nn

torch.set_num_threads(max(1, torch.get_num_threads()))


def median_time(fn, repeats=5):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def mlp_from(arrays, dtype):
    layers = []
    for i in range(3):
        w = torch.tensor(arrays[f"mlp_w{i}"], dtype=dtype)
        linear = nn.Linear(w.shape[1], w.shape[0]).to(dtype)
        with torch.no_grad():
            linear.weight.copy_(w)
            linear.bias.copy_(torch.tensor(arrays[f"mlp_b{i}"], dtype=dtype))
        layers.append(linear)
        if i < 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def cnn_from(arrays, dtype):
    c = arrays["cnn_x"].shape[1]
    model = nn.Sequential(
        nn.Conv2d(c, 16, 3, padding=1), nn.Tanh(),
        nn.Conv2d(16, 32, 3, padding=1), nn.Tanh(),
        nn.Flatten(), nn.Linear(arrays["cnn_w0"].shape[1], 128), nn.Tanh(), nn.Linear(128, 10),
    ).to(dtype)
    names = [("cnn_c0", "cnn_cb0"), ("cnn_c1", "cnn_cb1"), ("cnn_w0", "cnn_b0"),
             ("cnn_w1", "cnn_b1")]
    modules = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        for module, (w, b) in zip(modules, names):
            module.weight.copy_(torch.tensor(arrays[w], dtype=dtype))
            module.bias.copy_(torch.tensor(arrays[b], dtype=dtype))
    return model


def batches(x, y, size, dtype):
    return [
        (torch.tensor(x[i : i + size], dtype=dtype), torch.tensor(y[i : i + size]).long())
        for i in range(0, len(x), size)
    ]


def exact_trace(arrays, batch_size):
    from backpack import backpack, extend
    from backpack.extensions import DiagHessian

    model = extend(mlp_from(arrays, torch.float64))
    loss_fn = extend(nn.CrossEntropyLoss())
    data = batches(arrays["mlp_x"], arrays["mlp_y"], batch_size, torch.float64)
    total = 0.0
    count = 0
    for x, y in data:
        model.zero_grad()
        loss = loss_fn(model(x), y)
        with backpack(DiagHessian()):
            loss.backward()
        total += len(x) * sum(float(p.diag_h.sum()) for p in model.parameters())
        count += len(x)
    return total / count


def pyhessian_side(model, data, out, top_n=5):
    from pyhessian import hessian

    h = hessian(model, nn.CrossEntropyLoss(), dataloader=data, cuda=False)
    v = [torch.randn_like(p) for p in h.params]
    out["hvp_s"] = median_time(lambda: h.dataloader_hv_product(v))
    if top_n:
        calls = {"n": 0}
        original = h.dataloader_hv_product

        def counted(v):
            calls["n"] += 1
            return original(v)

        h.dataloader_hv_product = counted
        start = time.perf_counter()
        values, _ = h.eigenvalues(top_n=top_n)  # defaults: maxIter=100, tol=1e-3
        out["top5_s"] = time.perf_counter() - start
        out["top5_hvps"] = calls["n"]
        out["top5"] = sorted(float(v) for v in values)
        calls["n"] = 0
        start = time.perf_counter()
        traces = h.trace(maxIter=100)
        out["trace_s"] = time.perf_counter() - start
        out["trace_hvps"] = calls["n"]
        out["trace"] = float(np.mean(traces))


def curvlinops_side(model, data, out, top_n=5):
    from curvlinops import HessianLinearOperator
    from curvlinops.trace.epperly2024xtrace import xtrace

    params = [p for p in model.parameters() if p.requires_grad]
    op = HessianLinearOperator(model, nn.CrossEntropyLoss(), params, data,
                               check_deterministic=False)
    n = sum(p.numel() for p in params)
    v = torch.randn(n, dtype=params[0].dtype)
    out["hvp_s"] = median_time(lambda: op @ v)
    if top_n:
        scipy_op = op.to_scipy()
        calls = {"n": 0}

        def matvec(x):
            calls["n"] += 1
            return scipy_op @ x

        counted = scipy.sparse.linalg.LinearOperator(scipy_op.shape, matvec=matvec,
                                                     dtype=scipy_op.dtype)
        start = time.perf_counter()
        values = scipy.sparse.linalg.eigsh(counted, k=top_n, which="LA", tol=1e-3,
                                           return_eigenvectors=False)
        out["top5_s"] = time.perf_counter() - start
        out["top5_hvps"] = calls["n"]
        out["top5"] = sorted(float(x) for x in values)
        estimates = []
        start = time.perf_counter()
        for seed in range(5):
            torch.manual_seed(seed)
            estimates.append(float(xtrace(op, 100)))
        out["xtrace_s"] = (time.perf_counter() - start) / 5
        out["xtrace_values"] = estimates


def main(problems: str, output: str) -> None:
    arrays = dict(np.load(problems))
    torch.manual_seed(0)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    result["mlp_exact_trace"] = exact_trace(arrays, 512)
    mlp = mlp_from(arrays, torch.float32)
    data = batches(arrays["mlp_x"], arrays["mlp_y"], 512, torch.float32)
    result["mlp_pyhessian"] = {}
    pyhessian_side(mlp, data, result["mlp_pyhessian"])
    result["mlp_curvlinops"] = {}
    curvlinops_side(mlp, data, result["mlp_curvlinops"])
    cnn = cnn_from(arrays, torch.float32)
    cnn_data = batches(arrays["cnn_x"], arrays["cnn_y"], 128, torch.float32)
    result["cnn_pyhessian"] = {}
    pyhessian_side(cnn, cnn_data, result["cnn_pyhessian"], top_n=0)
    result["cnn_curvlinops"] = {}
    curvlinops_side(cnn, cnn_data, result["cnn_curvlinops"], top_n=0)
    with open(output, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
