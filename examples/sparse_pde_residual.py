"""Tutorial: the sparse Jacobian of a PDE residual.

The 2D Bratu problem -Δu = λ eᵘ on a k x k grid, discretised with the 5-point
stencil: each residual touches a point and its four neighbours, so the k² x k²
Jacobian has at most 5 nonzeros per row. jachess reads that pattern off the
function's jaxpr, colours the columns (5 colours: columns in one colour share no
row) and gets the whole Jacobian in 5 JVPs instead of k².
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse.linalg

import jachess
import jachess.plot
from _common import parse_args
from jachess import sparsity


def bratu_residual(k, lam=6.0):
    h = 1.0 / (k + 1)

    def residual(u_flat):
        u = jnp.pad(u_flat.reshape(k, k), 1)  # zero boundary values
        laplacian = (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:]
                     - 4 * u[1:-1, 1:-1]) / h**2
        return (-laplacian - lam * jnp.exp(u[1:-1, 1:-1])).reshape(-1)

    return residual


def main() -> None:
    args = parse_args(__doc__)
    k = 30 if args.quick else 100
    residual = bratu_residual(k)
    u = jnp.zeros(k * k)

    pattern = sparsity.jacobian_pattern(residual, u)
    colors = sparsity.color(pattern, "column")
    print(f"n = {k * k}, nonzeros = {pattern.nnz}, colours = {colors.max() + 1}")

    prepared = sparsity.prepare_jacobian(residual, u)
    J = prepared(u)  # a BCOO of shape (k², k²)
    jax.block_until_ready(J)
    start = time.perf_counter()
    jax.block_until_ready(prepared(u))
    print(f"{prepared.num_colors} passes ({prepared.mode}), evaluation "
          f"{(time.perf_counter() - start) * 1e3:.2f} ms")
    if k <= 40:  # the dense reference fits easily at this size
        dense = jachess.jacobian(residual, u)
        print("max |sparse - dense| =", float(jnp.max(jnp.abs(J.todense() - dense))))

    # Newton's method with the sparse Jacobian and a sparse direct solve.
    for step in range(6):
        F = residual(u)
        norm = float(jnp.linalg.norm(F))
        print(f"Newton step {step}: |F| = {norm:.3e}")
        if norm < 1e-9:
            break
        du = scipy.sparse.linalg.spsolve(sparsity.to_scipy(prepared(u)).tocsc(), -np.asarray(F))
        u = u + jnp.asarray(du)

    small = bratu_residual(12)
    small_pattern = sparsity.jacobian_pattern(small, jnp.zeros(144))
    figure = jachess.plot.spy(small_pattern, sparsity.color(small_pattern, "column"))
    figure.axes[0].set_title("Bratu 12 x 12: 5-point stencil, 5 column colours")
    figure.savefig(args.out / "sparse_bratu_pattern.png", dpi=110)


if __name__ == "__main__":
    main()
