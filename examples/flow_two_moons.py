"""Train a small normalising flow on two moons by maximum likelihood, and plot its density.

The flow is y = f(x), x ~ N(0, I₂), made of RealNVP affine couplings alternating with a
swap permutation. Its log-density is the change of variables
    log p_Y(y) = log p_X(f⁻¹(y)) + log|det J_{f⁻¹}(y)|,
which jachess.density.pushforward builds from the layers' analytic log-dets; the
bijectors are pytrees, so optax trains them directly.

Run:
    python examples/flow_two_moons.py                 # 1500 steps, docs/figures/flow_two_moons.png
    python examples/flow_two_moons.py --quick --out /tmp   # 20 steps, 2 layers
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib

import jax
import jax.numpy as jnp
import optax

from jachess.density import AffineCoupling, Chain, Permutation, pushforward

jax.config.update("jax_enable_x64", True)


def two_moons(key, n, noise=0.08):
    """n points on two interleaved half circles (no download), scaled to unit-ish size."""
    k1, k2, k3 = jax.random.split(key, 3)
    t = jax.random.uniform(k1, (n,), minval=0.0, maxval=math.pi)
    upper = jax.random.bernoulli(k2, 0.5, (n,))
    x = jnp.where(upper, jnp.cos(t), 1.0 - jnp.cos(t))
    y = jnp.where(upper, jnp.sin(t), 0.5 - jnp.sin(t))
    points = jnp.stack([x, y], axis=1) + noise * jax.random.normal(k3, (n, 2))
    return (points - jnp.array([0.5, 0.25])) * 2.0


def conditioner(params, z):
    """A two-layer MLP z_masked -> (shift, log_scale); tanh keeps the scales tame."""
    h = jnp.tanh(params["w1"] @ z + params["b1"])
    h = jnp.tanh(params["w2"] @ h + params["b2"])
    out = params["w3"] @ h + params["b3"]
    return out[:2], 2.0 * jnp.tanh(out[2:] / 2.0)


def init_flow(key, num_layers=6, hidden=32):
    layers = []
    for i, k in enumerate(jax.random.split(key, num_layers)):
        k1, k2, k3 = jax.random.split(k, 3)
        params = {
            "w1": jax.random.normal(k1, (hidden, 2)) / math.sqrt(2),
            "b1": jnp.zeros(hidden),
            "w2": jax.random.normal(k2, (hidden, hidden)) / math.sqrt(hidden),
            "b2": jnp.zeros(hidden),
            "w3": 0.01 * jax.random.normal(k3, (4, hidden)),
            "b3": jnp.zeros(4),
        }
        layers.append(AffineCoupling(jnp.array([True, False]),
                                     jax.tree_util.Partial(conditioner, params)))
        if i < num_layers - 1:
            layers.append(Permutation([1, 0]))
    return Chain(layers)


def standard_normal(x):
    return jnp.sum(jax.scipy.stats.norm.logpdf(x))


def negative_log_likelihood(flow, batch):
    return -jnp.mean(jax.vmap(pushforward(standard_normal, flow))(batch))


def train(steps, *, seed=0, batch_size=256, learning_rate=2e-3, num_layers=6, hidden=32):
    """Return the trained flow, the data and the loss history (mean NLL per step)."""
    key_data, key_init, key_batches = jax.random.split(jax.random.key(seed), 3)
    data = two_moons(key_data, 4096)
    flow = init_flow(key_init, num_layers, hidden)
    optimizer = optax.adam(learning_rate)
    state = optimizer.init(flow)

    @jax.jit
    def step(flow, state, key):
        batch = data[jax.random.randint(key, (batch_size,), 0, data.shape[0])]
        loss, grads = jax.value_and_grad(negative_log_likelihood)(flow, batch)
        updates, state = optimizer.update(grads, state, flow)
        return optax.apply_updates(flow, updates), state, loss

    losses = []
    for k in jax.random.split(key_batches, steps):
        flow, state, loss = step(flow, state, k)
        losses.append(float(loss))
    return flow, data, losses


def plot(flow, data, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = jnp.linspace(-3.5, 3.5, 160)
    xx, yy = jnp.meshgrid(grid, grid)
    points = jnp.stack([xx.ravel(), yy.ravel()], axis=1)
    density = jnp.exp(jax.jit(jax.vmap(pushforward(standard_normal, flow)))(points))
    fig, (ax_data, ax_density) = plt.subplots(1, 2, figsize=(9, 4.2), constrained_layout=True)
    ax_data.scatter(data[:1500, 0], data[:1500, 1], s=2, alpha=0.5)
    ax_data.set_title("two-moons sample")
    ax_density.pcolormesh(xx, yy, density.reshape(xx.shape), shading="auto", cmap="viridis")
    ax_density.set_title("learned density p(y) = p(f⁻¹(y)) |det J_f⁻¹(y)|")
    for ax in (ax_data, ax_density):
        ax.set_xlim(-3.5, 3.5)
        ax.set_ylim(-3.5, 3.5)
        ax.set_aspect("equal")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("JACHESS_EXAMPLE_QUICK") == "1",
                        help="20 steps and 2 layers (the test suite uses this)")
    parser.add_argument("--steps", type=int, default=None, help="default 1500 (20 when quick)")
    parser.add_argument("--layers", type=int, default=None,
                        help="coupling layers (default 6; 2 when quick)")
    parser.add_argument("--out", type=pathlib.Path,
                        default=pathlib.Path(__file__).parent.parent / "docs" / "figures",
                        help="folder for the figure (default: docs/figures)")
    args = parser.parse_args(argv)
    steps = args.steps or (20 if args.quick else 1500)
    layers = args.layers or (2 if args.quick else 6)
    args.out.mkdir(parents=True, exist_ok=True)
    output = args.out / "flow_two_moons.png"
    flow, data, losses = train(steps, num_layers=layers)
    print(f"mean negative log-likelihood: {losses[0]:.3f} at step 1 -> {losses[-1]:.3f} "
          f"at step {len(losses)}")
    plot(flow, data, output)
    print(f"density plot written to {output}")
    return losses


if __name__ == "__main__":
    main()
