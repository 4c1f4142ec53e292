"""Tutorial: Jacobians, JVPs, VJPs and the chain rule.

A map from polar to Cartesian coordinates, its Jacobian three ways (forward, reverse,
auto), the products that never form J, the chain rule for a composition, and the
Jacobian determinant as the area-scaling factor r.
"""

import jax.numpy as jnp
import numpy as np

import jachess
from _common import parse_args


def polar(v):
    r, t = v
    return jnp.stack([r * jnp.cos(t), r * jnp.sin(t)])


def energy(p):
    return jnp.stack([p[0] ** 2 + p[1] ** 2, p[0] * p[1]])


def main() -> None:
    args = parse_args(__doc__)
    x = jnp.array([2.0, jnp.pi / 3])

    # The Jacobian: shape f(x).shape + x.shape; forward and reverse agree exactly.
    J = jachess.jacobian(polar, x)
    assert np.allclose(J, jachess.jacobian(polar, x, mode="rev"))
    print("J =\n", np.asarray(J))

    # Products without forming J: one forward pass for J v, one reverse pass for uᵀ J.
    _, Jv = jachess.jvp(polar, x, jnp.array([1.0, 0.0]))  # how (x, y) moves with r
    _, uJ = jachess.vjp(polar, x, jnp.array([1.0, 0.0]))  # how x moves with (r, t)
    print("J v  =", np.asarray(Jv), "   uᵀJ =", np.asarray(uJ))

    # Chain rule: J_(g∘f)(x) = J_g(f(x)) J_f(x).
    composed = jachess.jacobian(lambda v: energy(polar(v)), x)
    product = jachess.jacobian(energy, polar(x)) @ J
    print("chain rule holds to", float(jnp.max(jnp.abs(composed - product))))

    # The determinant is the local area scaling: det J = r.
    sign, logdet = jachess.slogdet_jacobian(polar, x)
    print("det J =", float(sign * jnp.exp(logdet)), "(r =", float(x[0]), ")")

    # A picture: the Jacobian maps a small square in (r, t) to a parallelogram in (x, y).
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4), layout="constrained")
    left, right = figure.subplots(1, 2)
    h = 0.15
    square = np.array([[0, 0], [h, 0], [h, h], [0, h], [0, 0]])
    left.fill(*(np.asarray(x) + square).T, alpha=0.5)
    left.set(title="a square in (r, t)", xlabel="r", ylabel="t", aspect="equal")
    image = np.asarray(jnp.stack([polar(x + s) for s in jnp.asarray(square)]))
    linear = np.asarray(polar(x)) + square @ np.asarray(J).T
    right.fill(*image.T, alpha=0.5, label="f(square)")
    right.plot(*linear.T, "k--", label="f(x) + J d")
    right.set(title=f"its image in (x, y): area × det J = {float(x[0]):.1f}", xlabel="x",
              ylabel="y", aspect="equal")
    right.legend()
    figure.savefig(args.out / "jacobian_square.png", dpi=110)


if __name__ == "__main__":
    main()
