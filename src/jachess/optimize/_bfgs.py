"""BFGS: a dense inverse-Hessian approximation updated from gradient differences.

H⁺ = (I - ρ s yᵀ) H (I - ρ y sᵀ) + ρ s sᵀ with ρ = 1/(yᵀs), skipped unless
yᵀs > 0 (the strong-Wolfe search makes that the rule); before the first update
H = (yᵀs / yᵀy)·I (Nocedal & Wright eq. 6.20). Cost per iteration: O(n²) plus the
line search's value-and-gradient evaluations (usually one).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jachess.optimize._descent import descent, first_alpha


def bfgs_solve(fun, x0, tol, max_iterations):
    value_and_grad = jax.value_and_grad(fun)
    n = x0.shape[0]
    eye = jnp.eye(n, dtype=x0.dtype)

    def direction(x, f, g, memory, reset):
        h, fresh = memory
        h = jnp.where(reset, eye, h)
        fresh = fresh | reset
        p = -h @ g
        alpha0 = jnp.where(fresh, first_alpha(g), 1.0).astype(x.dtype)
        return p, alpha0, (h, fresh), {}

    def update(memory, s, y, ok):
        h, fresh = memory
        sy = jnp.vdot(s, y)
        yy = jnp.vdot(y, y)
        good = ok & (sy > jnp.finfo(s.dtype).eps * jnp.linalg.norm(s) * jnp.linalg.norm(y))
        h0 = jnp.where(fresh, (sy / jnp.where(yy > 0, yy, 1.0)) * eye, h)
        rho = 1.0 / jnp.where(good, sy, 1.0)
        hy = h0 @ y
        new = (
            h0
            - rho * (jnp.outer(s, hy) + jnp.outer(hy, s))
            + (rho * rho * jnp.vdot(y, hy) + rho) * jnp.outer(s, s)
        )
        return jnp.where(good, new, h), fresh & ~good

    return descent(value_and_grad, x0, tol, max_iterations, direction, update, (eye, True))
