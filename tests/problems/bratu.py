"""The 2D Bratu problem -Δu = λeᵘ on the unit square, zero boundary, N x N interior grid.

Discretised with the 5-point stencil and scaled by h² (h = 1/(N+1)):
F(u) = A u - h²λ exp(u), A = 4 on the diagonal and -1 for each grid neighbour.
λ = 6 is below the fold at λ* ≈ 6.808, so the lower solution branch exists.
"""

from __future__ import annotations

import jax.numpy as jnp


def bratu_residual(N: int, lam: float = 6.0):
    h = 1.0 / (N + 1)

    def F(u):
        U = u.reshape(N, N)
        P = jnp.pad(U, 1)
        lap = 4 * U - P[:-2, 1:-1] - P[2:, 1:-1] - P[1:-1, :-2] - P[1:-1, 2:]
        return (lap - h * h * lam * jnp.exp(U)).reshape(-1)

    return F
