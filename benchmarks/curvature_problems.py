"""The benchmark problems of benchmarks/curvature.py, generated from a fixed NumPy seed.

Saved to an .npz that the JAX script and the PyTorch script (curvature_torch.py, run in
its own venv) both load, so both sides see identical weights and data. Layouts follow
PyTorch (Linear weight (out, in), Conv2d weight (out, in, kh, kw), images NCHW).
"""

from __future__ import annotations

import itertools

import numpy as np

MLP_SIZES = (64, 256, 256, 10)
MLP_SAMPLES, MLP_BATCH = 2048, 512
CNN_SAMPLES, CNN_BATCH = 512, 128
CNN_IMAGE = (3, 16, 16)


def make_problems(path: str, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    arrays = {}
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(MLP_SIZES)):
        arrays[f"mlp_w{i}"] = rng.normal(0, 1 / np.sqrt(fan_in), (fan_out, fan_in))
        arrays[f"mlp_b{i}"] = rng.normal(0, 0.1, fan_out)
    arrays["mlp_x"] = rng.normal(size=(MLP_SAMPLES, MLP_SIZES[0]))
    arrays["mlp_y"] = rng.integers(0, MLP_SIZES[-1], MLP_SAMPLES)
    c, h, w = CNN_IMAGE
    arrays["cnn_c0"] = rng.normal(0, 1 / np.sqrt(c * 9), (16, c, 3, 3))
    arrays["cnn_cb0"] = np.zeros(16)
    arrays["cnn_c1"] = rng.normal(0, 1 / np.sqrt(16 * 9), (32, 16, 3, 3))
    arrays["cnn_cb1"] = np.zeros(32)
    arrays["cnn_w0"] = rng.normal(0, 1 / np.sqrt(32 * h * w), (128, 32 * h * w))
    arrays["cnn_b0"] = np.zeros(128)
    arrays["cnn_w1"] = rng.normal(0, 1 / np.sqrt(128), (10, 128))
    arrays["cnn_b1"] = np.zeros(10)
    arrays["cnn_x"] = rng.normal(size=(CNN_SAMPLES, c, h, w))
    arrays["cnn_y"] = rng.integers(0, 10, CNN_SAMPLES)
    arrays = {k: (v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in arrays.items()}
    np.savez(path, **arrays)


def num_cnn_params() -> int:
    c, h, w = CNN_IMAGE
    return 16 * c * 9 + 16 + 32 * 16 * 9 + 32 + 128 * 32 * h * w + 128 + 10 * 128 + 10
