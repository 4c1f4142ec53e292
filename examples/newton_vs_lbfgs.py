"""Tutorial: Newton against quasi-Newton on Rosenbrock's valley.

Newton's step d = -H⁻¹∇f uses the exact Hessian and converges quadratically near the
minimum; BFGS and L-BFGS build an inverse-Hessian approximation from gradients only;
trust-region Newton-CG needs nothing but Hessian-vector products. Each solve is one
compiled loop; here we compare their iterations and draw their paths.
"""

import jax.numpy as jnp
import numpy as np

import jachess
import jachess.plot
from _common import parse_args
from jachess.optimize import minimize


def rosenbrock(v):
    return (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2


def iterates(method, x0, num_iterations):
    """x_0..x_k: the compiled solve rerun with max_iterations = 0..k (no recompilation)."""
    return np.stack([np.asarray(minimize(rosenbrock, x0, method=method, max_iterations=k).x)
                     for k in range(num_iterations + 1)])


def main() -> None:
    args = parse_args(__doc__)
    x0 = jnp.array([-1.2, 1.0])
    methods = ["newton", "trust-ncg", "bfgs", "lbfgs"]
    figure, ax = None, None
    from matplotlib.figure import Figure

    convergence = Figure(figsize=(6, 4), layout="constrained")
    conv_ax = convergence.subplots()
    for method in methods:
        result = minimize(rosenbrock, x0, method=method)
        print(f"{method:10s} success={result.success} iterations={int(result.num_iterations):3d}"
              f" f={float(result.fun):.2e} gradients={int(result.num_grad)}"
              f" Hessians={int(result.num_hess)} HVPs={int(result.num_hvp)}")
        points = iterates(method, x0, int(result.num_iterations))
        figure = jachess.plot.path(points, rosenbrock, bounds=[(-1.6, 1.4), (-0.6, 1.6)],
                                   ax=ax, label=f"{method} ({len(points) - 1} steps)")
        ax = figure.axes[0]
        values = np.maximum([float(rosenbrock(jnp.asarray(p))) for p in points], 1e-30)
        conv_ax.semilogy(values, "-o", markersize=3, label=method)
    ax.set_title("paths from (-1.2, 1) to the minimum (1, 1)")
    figure.savefig(args.out / "optimizer_paths.png", dpi=110)
    conv_ax.set(xlabel="iteration", ylabel="f(x_k)", title="Newton's quadratic convergence")
    conv_ax.legend()
    convergence.savefig(args.out / "optimizer_convergence.png", dpi=110)
    print("classified:", jachess.critical.classify(rosenbrock, result.x).kind)


if __name__ == "__main__":
    main()
