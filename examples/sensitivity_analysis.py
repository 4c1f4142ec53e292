"""Tutorial: sensitivity analysis, local and global.

Locally, column j of the Jacobian says how every output moves with input j, and the
elasticity (x_j / f) ∂f/∂x_j compares inputs of different units. Globally, the
derivative-based measure ν_j = E[(∂f/∂x_j)²] averages that over the input
distribution. On the Ishigami function f = sin x₁ + 7 sin² x₂ + 0.1 x₃⁴ sin x₁.
"""

import jax
import jax.numpy as jnp

import jachess.plot
from _common import parse_args
from jachess.sensitivity import dgsm, local


def ishigami(x, a=7.0, b=0.1):
    return jnp.sin(x[0]) + a * jnp.sin(x[1]) ** 2 + b * x[2] ** 4 * jnp.sin(x[0])


def uniform_box(key, num_samples):
    return jax.random.uniform(key, (num_samples, 3), minval=-jnp.pi, maxval=jnp.pi)


def main() -> None:
    args = parse_args(__doc__)
    names = ["x1", "x2", "x3"]
    table = local(ishigami, jnp.array([1.0, 0.5, 2.0]), names=names)
    print(table)
    num_samples = 2_000 if args.quick else 100_000
    measures = dgsm(ishigami, uniform_box, num_samples, key=jax.random.key(0), names=names)
    print(measures)
    jachess.plot.tornado(table).savefig(args.out / "sensitivity_tornado.png", dpi=110)


if __name__ == "__main__":
    main()
