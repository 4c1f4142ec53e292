"""Tutorial: the curvature of a neural network's loss.

A small MLP classifier on synthetic data. Its Hessian (one entry per pair of
parameters) is never formed: `jachess.operators.Hessian` gives the Hessian-vector
products of the mean loss over the whole dataset, batch by batch, and
`jachess.spectral` turns them into the top eigenvalues (sharpness), the trace and the
spectral density. The Gauss-Newton matrix (GGN) is the positive semi-definite part.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np

import jachess.plot
from _common import parse_args
from jachess import operators, spectral


def init_mlp(key, sizes):
    params = []
    keys = jax.random.split(key, len(sizes) - 1)
    for layer_key, (fan_in, fan_out) in zip(keys, itertools.pairwise(sizes)):
        w = jax.random.normal(layer_key, (fan_in, fan_out)) / jnp.sqrt(fan_in)
        params.append({"w": w, "b": jnp.zeros(fan_out)})
    return params


def mlp(params, inputs):
    for layer in params[:-1]:
        inputs = jnp.tanh(inputs @ layer["w"] + layer["b"])
    return inputs @ params[-1]["w"] + params[-1]["b"]


def cross_entropy(logits, labels):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], 1))


def loss(params, batch):
    inputs, labels = batch
    return cross_entropy(mlp(params, inputs), labels)


def main() -> None:
    args = parse_args(__doc__)
    rng = np.random.default_rng(0)
    num = 512 if args.quick else 2048
    inputs = jnp.asarray(rng.normal(size=(num, 16)))
    labels = jnp.asarray((inputs[:, 0] * inputs[:, 1] > 0).astype(int) + 2 * (inputs[:, 2] > 0))
    params = init_mlp(jax.random.key(0), [16, 32, 32, 4])
    data = (inputs, labels)

    hessian = operators.Hessian(loss, params, data=data, batch_size=256)
    print("parameters:", hessian.shape[0])
    top = spectral.eigsh(hessian, k=3, which="both", tol=1e-6, key=jax.random.key(1))
    print("extreme eigenvalues:", np.asarray(top.eigenvalues), "converged:",
          np.asarray(top.converged), "HVPs:", int(top.num_matvecs))
    estimate = spectral.trace(hessian, num_matvecs=60, key=jax.random.key(2))
    print(f"trace ≈ {float(estimate.value):.4f} ± {float(estimate.std_error):.4f}")

    ggn = operators.GGN(mlp, cross_entropy, params, data=data, batch_size=256)
    top_ggn = spectral.eigsh(ggn, k=1, tol=1e-6, key=jax.random.key(3))
    print("largest GGN eigenvalue:", float(top_ggn.eigenvalues[-1]))

    # Per-layer curvature: the block of the last layer only.
    last = operators.Hessian(loss, params, data=data, batch_size=256, wrt=lambda p: p[-1])
    print("last-layer block:", last.shape, "top eigenvalue",
          float(spectral.eigsh(last, k=1, key=jax.random.key(4)).eigenvalues[-1]))

    steps = 20 if args.quick else 40
    estimated = spectral.density(hessian, num_probes=4 if args.quick else 10, num_steps=steps,
                                 key=jax.random.key(5))
    figure = jachess.plot.spectrum(
        estimated, eigenvalues=top.eigenvalues,
        title=f"Hessian spectral density ({hessian.shape[0]} parameters, SLQ)")
    figure.savefig(args.out / "hessian_density.png", dpi=110)


if __name__ == "__main__":
    main()
