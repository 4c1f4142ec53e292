"""The two-moons flow example: training lowers the NLL, and the learned density is one."""

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from jachess.density import pushforward

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "flow_two_moons.py"


def load_example():
    spec = importlib.util.spec_from_file_location("flow_two_moons", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flow_example_trains_and_its_density_integrates_to_one():
    example = load_example()
    flow, data, losses = example.train(30, num_layers=2, hidden=8, learning_rate=1e-2)
    assert data.shape == (4096, 2)
    assert np.mean(losses[-5:]) < losses[0] - 0.2
    # Change of variables done right: the learned density has total mass 1.
    grid = jnp.linspace(-9.0, 9.0, 361)
    xx, yy = jnp.meshgrid(grid, grid)
    points = jnp.stack([xx.ravel(), yy.ravel()], axis=1)
    density = jnp.exp(jax.jit(jax.vmap(pushforward(example.standard_normal, flow)))(points))
    mass = float(jnp.sum(density) * (grid[1] - grid[0]) ** 2)
    np.testing.assert_allclose(mass, 1.0, atol=5e-3)
