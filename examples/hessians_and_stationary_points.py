"""Tutorial: Hessians and stationary points.

The Hessian's eigenvalues classify a stationary point: all positive, a minimum; all
negative, a maximum; mixed signs, a saddle; a zero, degenerate. Here on the monkey
saddle and on a function with every kind, then drawn.
"""

import jax.numpy as jnp
import numpy as np

import jachess
import jachess.plot
from _common import parse_args
from jachess.critical import classify


def f(v):
    x, y = v
    return x**3 - 3 * x + y**3 - 3 * y


def main() -> None:
    args = parse_args(__doc__)
    # ∇f = (3x² - 3, 3y² - 3) vanishes at the four points (±1, ±1)
    candidates = [jnp.array([sx, sy]) for sx in (1.0, -1.0) for sy in (1.0, -1.0)]
    points = [classify(f, p) for p in candidates]
    for p in points:
        print(np.asarray(p.x), p)

    # The Hessian and a second-order Taylor model around the saddle.
    saddle = candidates[1]
    print("H at (1, -1) =\n", np.asarray(jachess.hessian(f, saddle)))
    print("escape direction:", points[1].escape_direction)
    model = jachess.taylor(f, saddle, order=2)
    d = jnp.array([0.05, -0.02])
    print("Taylor model error at distance 0.05:", float(abs(model(saddle + d) - f(saddle + d))))

    # The monkey saddle: a zero Hessian, so second order cannot decide.
    monkey = classify(lambda v: v[0] ** 3 - 3 * v[0] * v[1] ** 2, jnp.zeros(2))
    print("monkey saddle at the origin:", monkey.kind)

    figure = jachess.plot.landscape(f, [(-2.2, 2.2), (-2.2, 2.2)], points)
    figure.axes[0].set_title("f = x³ - 3x + y³ - 3y")
    figure.savefig(args.out / "stationary_points.png", dpi=110)


if __name__ == "__main__":
    main()
